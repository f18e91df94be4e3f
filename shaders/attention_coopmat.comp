#version 450
// Flash attention on NV cooperative matrices (GL_NV_cooperative_matrix,
// 16x16x16, f16 inputs, f32 accumulators). Same interface as attention.comp
// (AttnParams uniform, AttnPush push constants, bindings 0..7), so
// ops/attention.cpp records it like the portable kernel.
//
// A workgroup of NW warps handles BR = NW * MT * 16 query rows of one
// (batch, head); each warp owns MT m-tiles of 16 rows. Per key block of BC
// keys:
//   S = Q K^T            coopmat, f32 accumulators (Q fragments stay in
//                        registers for the whole key loop)
//   online softmax       in registers, f32, log2 domain (exp2 of the scaled
//                        score minus the row maximum): each invocation reads and writes its own
//                        accumulator elements. Which (row, column) element i
//                        of an invocation holds was measured on the device by
//                        attention_coopmat_probe.comp; the host only picks this
//                        shader when the probe matched LAYOUT. Row maxima and
//                        sums combine the 4 invocations that share a row with
//                        subgroup shuffles (fixed order: deterministic).
//   O = alpha O + P V    P is rounded to f16 (in [0, 2^TAU]); O stays f32. The
//                        rescale runs only when some row's reference maximum
//                        moved (TAU = 0: whenever the maximum grows; TAU = 8:
//                        only when it grows by more than 2^8, which makes the
//                        rescale rare). OSHARED = 0 scales O's elements in
//                        registers; OSHARED = 1 moves O through shared memory
//                        for the rescale and the final store, so that O's
//                        elements are never addressed in registers (the driver
//                        otherwise kept O in local memory at small head dims).
// K and V tiles live in shared memory (one buffer each, rows padded by 16
// bytes); the next tile's global loads are issued into registers before the
// matrix work of the current phase, so their latency hides behind it. Loads
// are 16 bytes wide when a tensor's d-stride is 1 and its row/head/batch
// strides and origin are multiples of 8 elements; element gathers otherwise.
//
// Defines (one variant each): HD (head-dim bucket, multiple of 16, for both
// D and Dv), NW (warps), MT (m-tiles per warp), BC (keys per block), TAU,
// OSHARED, RALW, PIPE, QSH, and SPLIT: f32 q, k, v read as scaled f16 pairs
// (ops/attention_split.h), each product done three times (hi x hi, hi x lo,
// lo x hi; P split the same way), f32 output; AttnParams.split_tab is then the
// index of the exponent table in the q binding. Specialization constants 1..7 mirror the portable kernel's ids: the
// host passes the values the variant was built with (a mismatch writes
// nothing) and LAYOUT (spec 5), the accumulator layout the probe found.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_KHR_shader_subgroup_vote : require
#include "attention_params.h"
#include "attention_math.glsl"
#include "attention_coopmat_params.h"

#ifndef HD
#define HD 64
#endif
#ifndef NW
#define NW 4
#endif
#ifndef MT
#define MT 1
#endif
#ifndef BC
#define BC 64
#endif
#ifndef TAU
#define TAU 0  // rescale O only when a row maximum grows by more than TAU (log2 units); P <= 2^TAU
#endif
#ifndef OSHARED
#define OSHARED 1  // 1: rescale and store O through shared memory (no register element access on O)
#endif
#ifndef RALW
#define RALW 0  // 1 (with OSHARED 0): O rescaled in registers every key block, without a branch
#endif
#ifndef PIPE
#define PIPE 0  // 1: S of block j+1 computed beside the softmax of block j (needs OSHARED 0, RALW 1)
#endif
#if PIPE && (OSHARED || !RALW || QSH || EXPT_NOSM || EXPT_NOSHLD || EXPT_NOGLOB)
#error PIPE needs OSHARED 0 and no QSH or ablation
#endif
#ifndef PINGPONG
#define PINGPONG 3  // PIPE: which warps take the softmax first: bit PINGPONG-1 of the warp id set (0: none)
#endif
#ifndef QSH
#define QSH 0  // 1: Q stays in shared memory and its fragments are reloaded per key block (fewer registers)
#endif
#ifndef SPLIT
#define SPLIT 0  // 1: f32 q, k, v as scaled f16 pairs (attention_split.comp), three products each, f32 out
#endif
#if SPLIT && (PIPE || OSHARED || QSH || TAU || EXPT_NOSM || EXPT_NOSHLD || EXPT_NOGLOB)
#error SPLIT needs PIPE 0, OSHARED 0, QSH 0, TAU 0 and no ablation
#endif

const uint WG = NW * 32u;
const uint BR = NW * MT * 16u;
const uint NF = HD / 16u;      // 16-wide fragments along the head dim
const uint NJ = BC / 16u;      // 16-wide fragments along the keys
const uint RS = HD / 8u + 1u;  // shared row stride in uvec4 (8 halves), padded
const uint CH = HD / 8u;       // uvec4 chunks per row
const uint NLD = (BC * CH + WG - 1u) / WG;  // chunks per invocation per K/V tile
const uint SQ = BR * RS;                    // Q (staging only, aliasing K and V, unless QSH)
#if SPLIT
const uint SKV = 4u * BC * RS;  // K hi, K lo, V hi, V lo
const uint NLD2 = (BC * 2u * CH + WG - 1u) / WG;  // chunks per invocation per K (or V) hi+lo tile
#else
const uint SKV = 2u * BC * RS;
#endif
#if QSH
const uint SMEM = SQ + SKV;
const uint KV0 = SQ;
#else
const uint SMEM = SQ > SKV ? SQ : SKV;
const uint KV0 = 0u;
#endif

layout(local_size_x = WG) in;
layout(constant_id = 1) const uint S_HDK = HD;
layout(constant_id = 2) const uint S_HDV = HD;
layout(constant_id = 3) const uint S_BR = BR;
layout(constant_id = 4) const uint S_BC = BC;
layout(constant_id = 5) const uint LAYOUT = VKA_CM_LAYOUT_MMA;
layout(constant_id = 6) const uint S_NW = NW;
layout(constant_id = 7) const uint S_MT = MT;

layout(set = 0, binding = 0, std140) uniform Params { AttnParams P; };
layout(set = 0, binding = 1, std430) readonly buffer Qb { uint16_t Q[]; };
layout(set = 0, binding = 1, std430) readonly buffer Qv { uvec4 Q8[]; };
layout(set = 0, binding = 2, std430) readonly buffer Kb { uint16_t K[]; };
layout(set = 0, binding = 2, std430) readonly buffer Kv { uvec4 K8[]; };
layout(set = 0, binding = 3, std430) readonly buffer Vb { uint16_t V[]; };
layout(set = 0, binding = 3, std430) readonly buffer Vv { uvec4 V8[]; };
layout(set = 0, binding = 4, std430) readonly buffer Mb { uint MASK[]; };
#if SPLIT
layout(set = 0, binding = 1, std430) readonly buffer Qw { uint QW[]; };  // the exponent table
layout(set = 0, binding = 5, std430) writeonly buffer Ob { float OUT[]; };
#define VKA_OUT_F32 1
#else
layout(set = 0, binding = 5, std430) writeonly buffer Ob { uint16_t OUT[]; };
#endif
layout(set = 0, binding = 6, std430) writeonly buffer Lb { float LSE[]; };
layout(set = 0, binding = 7, std430) writeonly buffer Wb { float WS[]; };
layout(push_constant) uniform Push { AttnPush pc; };

shared uvec4 sMem[SMEM];
#if OSHARED
shared float sO[NW * 256u];  // one 16x16 f32 tile per warp
shared float sRow[BR];       // a per-row factor of each warp's rows
#endif
const uint K_OFF = KV0;
#if SPLIT
const uint KL_OFF = KV0 + BC * RS;
const uint V_OFF = KV0 + 2u * BC * RS;
const uint VL_OFF = KV0 + 3u * BC * RS;
#include "attention_split_params.h"
#else
const uint V_OFF = KV0 + BC * RS;
#endif

#include "attention_coopmat_common.glsl"

#if QSH
#define VKA_QF_PARAM
#define VKA_QF_ARG
#else
#define VKA_QF_PARAM , HALF qf[MT][NF]
#define VKA_QF_ARG , qf
#endif

// S = Q K^T against the K tile in shared memory (this warp's rows).
void s_product(out ACC s[MT][NJ], uint warp VKA_QF_PARAM) {
    [[unroll]] for (uint j = 0; j < NJ; ++j)
        [[unroll]] for (uint t = 0; t < MT; ++t) s[t][j] = ACC(0.0);
    // Consecutive products go to different accumulators (no dependency chain).
    [[unroll]] for (uint f = 0; f < NF; ++f) {
#if QSH
        HALF qa[MT];
        [[unroll]] for (uint t = 0; t < MT; ++t)
            coopMatLoadNV(qa[t], sMem, ((warp * MT + t) * 16u) * RS + f * 2u, RS, false);
#endif
        [[unroll]] for (uint j = 0; j < NJ; ++j) {
#if EXPT_NOSHLD && !QSH
            HALF kf = qf[0][(f + j) % NF];
#else
            HALF kf;
            coopMatLoadNV(kf, sMem, K_OFF + (j * 16u) * RS + f * 2u, RS, true);
#endif
#if QSH
            [[unroll]] for (uint t = 0; t < MT; ++t) s[t][j] = coopMatMulAddNV(qa[t], kf, s[t][j]);
#else
            [[unroll]] for (uint t = 0; t < MT; ++t) s[t][j] = coopMatMulAddNV(qf[t][f], kf, s[t][j]);
#endif
        }
    }

}

// O += P V against the V tile in shared memory.
void pv_product(inout ACC o[MT][NF], HALF pf[MT][NJ]) {
    [[unroll]] for (uint j = 0; j < NJ; ++j)
        [[unroll]] for (uint f = 0; f < NF; ++f) {
            HALF vf;
            coopMatLoadNV(vf, sMem, V_OFF + (j * 16u) * RS + f * 2u, RS, false);
            [[unroll]] for (uint t = 0; t < MT; ++t) o[t][f] = coopMatMulAddNV(pf[t][j], vf, o[t][f]);
        }
}

#if SPLIT
// 2^e for e in [-126, 127].
float pow2i(int e) { return uintBitsToFloat(uint(e + 127) << 23); }
bool vka_finite(float x) { return (floatBitsToUint(x) & 0x7fffffffu) < 0x7f800000u; }

// Chunk u (16 bytes) of this invocation in the hi+lo K (or V) tile of keys
// [kb, kb + BC): a split row is 2 * CH chunks, hi then lo; zero past ke.
#define VKA_DEFINE_SPLIT_CHUNK(NAME, B8, SN)                                                     \
    uvec4 NAME(uint u, uint kb, uint ke, uint base) {                                          \
        const uint e = gl_LocalInvocationID.x + u * WG;                                        \
        const uint r = e / (2u * CH), c = e % (2u * CH);                                       \
        uvec4 x = uvec4(0u);                                                                   \
        if (e < BC * 2u * CH && kb + r < ke) x = B8[(base + (kb + r - pc.k0) * P.SN + c * 8u) >> 3]; \
        return x;                                                                              \
    }
VKA_DEFINE_SPLIT_CHUNK(ks_chunk, K8, k_sn)
VKA_DEFINE_SPLIT_CHUNK(vs_chunk, V8, v_sn)
// Stores chunk u of this invocation into the hi tile at `hi` / lo tile at `lo`.
void split_store(uint u, uvec4 x, uint hi, uint lo) {
    const uint e = gl_LocalInvocationID.x + u * WG;
    if (e >= BC * 2u * CH) return;
    const uint r = e / (2u * CH), c = e % (2u * CH);
    sMem[(c < CH ? hi + c : lo + c - CH) + r * RS] = x;
}

// S = Qh Kh^T + 2^-11 (Qh Kl^T + Ql Kh^T): the hi products and the small
// cross terms in separate accumulators (each chain's rounding is relative to
// its own magnitude), added in f32 at the end.
void s_product_split(out ACC s[MT][NJ], HALF qh[MT][NF], HALF ql[MT][NF], float sd1, float sd2) {
    ACC c[MT][NJ];
    [[unroll]] for (uint j = 0; j < NJ; ++j)
        [[unroll]] for (uint t = 0; t < MT; ++t) {
            s[t][j] = ACC(0.0);
            c[t][j] = ACC(0.0);
        }
    [[unroll]] for (uint f = 0; f < NF; ++f)
        [[unroll]] for (uint j = 0; j < NJ; ++j) {
            HALF kh, kl;
            coopMatLoadNV(kh, sMem, K_OFF + (j * 16u) * RS + f * 2u, RS, true);
            coopMatLoadNV(kl, sMem, KL_OFF + (j * 16u) * RS + f * 2u, RS, true);
            [[unroll]] for (uint t = 0; t < MT; ++t) {
                s[t][j] = coopMatMulAddNV(qh[t][f], kh, s[t][j]);
                c[t][j] = coopMatMulAddNV(qh[t][f], kl, c[t][j]);
                c[t][j] = coopMatMulAddNV(ql[t][f], kh, c[t][j]);
            }
        }
    // Then undo the copies' scaling 2^(eq + ek) in two exact steps (each
    // factor a normal f32 power of two), so that S is the true q.k: only a
    // true product beyond the f32 range overflows. (Element-wise:
    // spirv-opt's instruction simplifier crashes on a cooperative matrix
    // times a scalar.)
    // An infinite hi sum stands alone: its cross terms may be inf * 0 = NaN
    // (an infinite input's lo is 0, and so is an exact partner's).
    [[unroll]] for (uint j = 0; j < NJ; ++j)
        [[unroll]] for (uint t = 0; t < MT; ++t)
            [[unroll]] for (uint i = 0; i < 8u; ++i) {
                const float h = s[t][j][i];
                s[t][j][i] = (vka_finite(h) ? fma(c[t][j][i], 1.0 / 2048.0, h) : h) * sd1 * sd2;
            }
}

// O = alpha O + (Ph Vh + 2^-11 (Ph Vl + Pl Vh)) for this key block: the
// block's products start from zero in the matrix unit and join O in f32 on
// the ALUs, so no rounding of the matrix unit's accumulation is relative to
// the whole row's sum.
void pv_product_split(inout ACC o[MT][NF], HALF ph[MT][NJ], HALF pl[MT][NJ], float alpha[MT][2]) {
    [[unroll]] for (uint f = 0; f < NF; ++f) {
        ACC a[MT], c[MT];
        [[unroll]] for (uint t = 0; t < MT; ++t) {
            a[t] = ACC(0.0);
            c[t] = ACC(0.0);
        }
        [[unroll]] for (uint j = 0; j < NJ; ++j) {
            HALF vh, vl;
            coopMatLoadNV(vh, sMem, V_OFF + (j * 16u) * RS + f * 2u, RS, false);
            coopMatLoadNV(vl, sMem, VL_OFF + (j * 16u) * RS + f * 2u, RS, false);
            [[unroll]] for (uint t = 0; t < MT; ++t) {
                a[t] = coopMatMulAddNV(ph[t][j], vh, a[t]);
                c[t] = coopMatMulAddNV(ph[t][j], vl, c[t]);
                c[t] = coopMatMulAddNV(pl[t][j], vh, c[t]);
            }
        }
        [[unroll]] for (uint t = 0; t < MT; ++t)
            [[unroll]] for (uint i = 0; i < 8u; ++i) {
                const float h = a[t][i];
                o[t][f][i] = fma(o[t][f][i], alpha[t][elem_slot(i)], vka_finite(h) ? fma(c[t][i], 1.0 / 2048.0, h) : h);
            }
    }
}

#endif

void main() {
    // The host passes the values this variant was built with.
    if (S_HDK != HD || S_HDV != HD || S_BR != BR || S_BC != BC || S_NW != NW || S_MT != MT) return;

    const uint lid = gl_LocalInvocationID.x;
    const uint lane = gl_SubgroupInvocationID;
    const uint warp = gl_SubgroupID;
    const uint bh = gl_WorkGroupID.y;
    const uint hl = bh % pc.tile_h, bl = bh / pc.tile_h;
    const uint h = pc.h0 + hl;
    const uint kvh = h / P.group - pc.h0 / P.group;
    const uint row0 = gl_WorkGroupID.x * BR;  // inside the tile
    const uint qrows = min(pc.tile_q, P.nq - pc.q0);
    const bool causal = (P.flags & VKA_ATTN_CAUSAL) != 0u;
    const bool has_mask = P.mask_kind != VKA_MASK_NONE;
    const uint ks = pc.k0 + gl_WorkGroupID.z * P.split_len;
    uint ke = min(pc.k_end, ks + P.split_len);
    if (causal) ke = min(ke, pc.q0 + row0 + BR);

    const uint qbase = pc.q_org + bl * P.q_sb + hl * P.q_sh;
    const uint kbase = pc.k_org + bl * P.k_sb + kvh * P.k_sh;
    const uint vbase = pc.v_org + bl * P.v_sb + kvh * P.v_sh;
    const uint mbase = pc.m_org + bl * P.m_sb + hl * P.m_sh;
    const bool fq = P.q_sd == 1u && ((P.q_sn | P.q_sh | P.q_sb | pc.q_org | P.d) & 7u) == 0u;
    const bool fk = P.k_sd == 1u && ((P.k_sn | P.k_sh | P.k_sb | pc.k_org | P.d) & 7u) == 0u;
    const bool fv = P.v_sd == 1u && ((P.v_sn | P.v_sh | P.v_sb | pc.v_org | P.dv) & 7u) == 0u;
#if SPLIT
    // Exponents of this head's q, k and v copies (table after the q copy:
    // [B x Hq][B x Hkv][B x Hkv]; split calls are never windowed, so the tile
    // is the whole problem). The products come out scaled by 2^(eq + ek)
    // (S, undone in s_product_split) and 2^ev (O, undone at the store).
    const uint hkv = pc.tile_h / P.group;
    const int eq = vka_split_exp(QW[P.split_tab + bl * pc.tile_h + hl]);
    const int ek = vka_split_exp(QW[P.split_tab + pc.tile_bh + bl * hkv + kvh]);
    const int ev = vka_split_exp(QW[P.split_tab + pc.tile_bh + pc.tile_bh / P.group + bl * hkv + kvh]);
    const int es1 = -(eq + ek) / 2, es2 = -(eq + ek) - es1;  // each within [-126, 113]
    const float sd1 = pow2i(es1), sd2 = pow2i(es2);
    const float c2 = P.scale * LOG2E;
    const float vs = pow2i(-ev);
#else
    const float c2 = P.scale * LOG2E;
    const float vs = 1.0;
#endif

#if SPLIT
    // ---- Q: hi then lo rows through shared memory into fragments ----
    HALF qf[MT][NF], ql[MT][NF];
    [[unroll]] for (uint part = 0; part < 2u; ++part) {
        for (uint e = lid; e < BR * CH; e += WG) {
            uint r = e / CH, c = e % CH;
            uvec4 x = uvec4(0u);
            if (row0 + r < qrows) x = Q8[(qbase + (row0 + r) * P.q_sn + part * HD + c * 8u) >> 3];
            sMem[r * RS + c] = x;
        }
        barrier();
        [[unroll]] for (uint t = 0; t < MT; ++t)
            [[unroll]] for (uint f = 0; f < NF; ++f) {
                if (part == 0u) coopMatLoadNV(qf[t][f], sMem, ((warp * MT + t) * 16u) * RS + f * 2u, RS, false);
                else coopMatLoadNV(ql[t][f], sMem, ((warp * MT + t) * 16u) * RS + f * 2u, RS, false);
            }
        barrier();
    }
#else
    // ---- Q: stage through shared memory, keep the fragments in registers ----
    for (uint e = lid; e < BR * CH; e += WG) {
        uint r = e / CH, c = e % CH;
        uvec4 x = uvec4(0u);
        if (row0 + r < qrows) x = load_q(fq, qbase + (row0 + r) * P.q_sn, c, P.d, P.q_sd);
        sMem[r * RS + c] = x;
    }
    barrier();
#if !QSH
    HALF qf[MT][NF];
    [[unroll]] for (uint t = 0; t < MT; ++t)
        [[unroll]] for (uint f = 0; f < NF; ++f)
            coopMatLoadNV(qf[t][f], sMem, ((warp * MT + t) * 16u) * RS + f * 2u, RS, false);
    barrier();
#endif
#endif  // SPLIT

    ACC o[MT][NF];
    [[unroll]] for (uint t = 0; t < MT; ++t)
        [[unroll]] for (uint f = 0; f < NF; ++f) o[t][f] = ACC(0.0);
    float m[MT][2], l[MT][2];
    [[unroll]] for (uint t = 0; t < MT; ++t) {
        m[t][0] = m[t][1] = VKA_NEG_INF;
        l[t][0] = l[t][1] = 0.0;
    }

#if SPLIT
    if (ks < ke)
        [[unroll]] for (uint u = 0; u < NLD2; ++u) split_store(u, ks_chunk(u, ks, ke, kbase), K_OFF, KL_OFF);
    barrier();
    uvec4 pre[NLD2];
    for (uint kb = ks; kb < ke; kb += BC) {
        // V (hi, lo) in flight during S and the softmax.
        [[unroll]] for (uint u = 0; u < NLD2; ++u) pre[u] = vs_chunk(u, kb, ke, vbase);
        ACC s[MT][NJ];
        s_product_split(s, qf, ql, sd1, sd2);
        float alpha[MT][2];
        online_softmax(s, m, l, alpha, kb, ke, row0, row0 + warp * MT * 16u, lane, qrows, causal, has_mask, mbase, c2);
        // P in [0, 1] as hi + 2^-11 lo. hi is P rounded to 11 bits on the
        // integer bits (0 below 2^-14, so hi is a normal f16 number or 0 and
        // its conversion exact, whatever the device does with f16
        // subnormals); the residual is exact in f32. (Measured on the H200:
        // f32(f16(P)) taken on cooperative matrices came back as P itself,
        // the round trip folded away, so lo was 0 and the results 2^-17 off.)
        HALF ph[MT][NJ], pl[MT][NJ];
        [[unroll]] for (uint t = 0; t < MT; ++t)
            [[unroll]] for (uint j = 0; j < NJ; ++j) {
                ACC r = s[t][j];
                [[unroll]] for (uint i = 0; i < 8u; ++i) {
                    const float p = s[t][j][i];
                    const uint b = floatBitsToUint(p);
                    const float hs = p >= 6.103515625e-05 ? uintBitsToFloat((b + 0xfffu + ((b >> 13) & 1u)) & 0xffffe000u) : 0.0;
                    s[t][j][i] = hs;
                    r[i] = (p - hs) * 2048.0;
                }
                ph[t][j] = HALF(s[t][j]);
                pl[t][j] = HALF(r);
            }
        const uint kn = kb + BC;
        [[unroll]] for (uint u = 0; u < NLD2; ++u) split_store(u, pre[u], V_OFF, VL_OFF);
        barrier();
        // Next K (hi, lo) in flight during P V.
        [[unroll]] for (uint u = 0; u < NLD2; ++u) pre[u] = ks_chunk(u, kn, ke, kbase);
        pv_product_split(o, ph, pl, alpha);
        if (kn < ke)
            [[unroll]] for (uint u = 0; u < NLD2; ++u) split_store(u, pre[u], K_OFF, KL_OFF);
        barrier();
    }
#else
    // First K tile (and V without prefetching) straight into shared memory.
    if (ks < ke) {
        for (uint e = lid; e < BC * CH; e += WG) {
            uint r = e / CH, c = e % CH;
            uvec4 x = uvec4(0u);
            if (ks + r < ke) x = load_k(fk, kbase + (ks + r - pc.k0) * P.k_sn, c, P.d, P.k_sd);
            sMem[K_OFF + r * RS + c] = x;
        }
    }
    barrier();

#if PIPE
    // Software-pipelined: the product S of block j+1 runs in the same phase as
    // the softmax of block j, so the matrix units and the ALUs are busy at
    // the same time. With PINGPONG the two halves of the warps take opposite
    // orders (S first / softmax first). K(j+1) and V(j) sit in shared memory
    // during that phase; their global loads were issued one phase earlier.
    ACC s[MT][NJ];
    s_product(s, warp VKA_QF_ARG);
    uvec4 preK[NLD], preV[NLD];
    [[unroll]] for (uint u = 0; u < NLD; ++u) {
        preV[u] = v_chunk(u, ks, ke, fv, vbase);
        preK[u] = k_chunk(u, ks + BC, ke, fk, kbase);
    }
    for (uint kb = ks; kb < ke; kb += BC) {
        const uint kn = kb + BC;
        barrier();  // every warp is done with K(kb) and V(kb - BC)
        [[unroll]] for (uint u = 0; u < NLD; ++u) {
            uint e = lid + u * WG;
            if (e < BC * CH) {
                sMem[V_OFF + (e / CH) * RS + e % CH] = preV[u];
                sMem[K_OFF + (e / CH) * RS + e % CH] = preK[u];
            }
        }
        barrier();
        [[unroll]] for (uint u = 0; u < NLD; ++u) {
            preV[u] = v_chunk(u, kn, ke, fv, vbase);
            preK[u] = k_chunk(u, kn + BC, ke, fk, kbase);
        }
        ACC sn[MT][NJ];
        float alpha[MT][2];
        bool moved;
        if (PINGPONG == 0u || ((warp >> (PINGPONG - 1u)) & 1u) == 0u) {
            s_product(sn, warp VKA_QF_ARG);
            moved = online_softmax(s, m, l, alpha, kb, ke, row0, row0 + warp * MT * 16u, lane, qrows, causal, has_mask, mbase, c2);
        } else {
            moved = online_softmax(s, m, l, alpha, kb, ke, row0, row0 + warp * MT * 16u, lane, qrows, causal, has_mask, mbase, c2);
            s_product(sn, warp VKA_QF_ARG);
        }
        // O rescaled in registers (alpha = 1 where no maximum moved).
        [[unroll]] for (uint t = 0; t < MT; ++t)
            [[unroll]] for (uint f = 0; f < NF; ++f)
                [[unroll]] for (uint i = 0; i < 8u; ++i) o[t][f][i] *= alpha[t][elem_slot(i)];
        HALF pf[MT][NJ];
        [[unroll]] for (uint t = 0; t < MT; ++t)
            [[unroll]] for (uint j = 0; j < NJ; ++j) pf[t][j] = HALF(s[t][j]);
        pv_product(o, pf);
        [[unroll]] for (uint t = 0; t < MT; ++t)
            [[unroll]] for (uint j = 0; j < NJ; ++j) s[t][j] = sn[t][j];
    }
#else
    uvec4 pre[NLD];
    for (uint kb = ks; kb < ke; kb += BC) {
        // Issue the V tile's loads; they land while S is computed.
        [[unroll]] for (uint u = 0; u < NLD; ++u) {
#if EXPT_NOGLOB
            pre[u] = uvec4(0u);
#else
            pre[u] = v_chunk(u, kb, ke, fv, vbase);
#endif
        }

        // ---- S = Q K^T ----
        ACC s[MT][NJ];
        s_product(s, warp VKA_QF_ARG);

#if !EXPT_NOSM
        // ---- online softmax in registers (log2 domain) ----
        float alpha[MT][2];
        const bool moved = online_softmax(s, m, l, alpha, kb, ke, row0, row0 + warp * MT * 16u, lane, qrows, causal, has_mask, mbase, c2);
        // RALW: rescale every block (alpha = 1 where no maximum moved), so the
        // condition folds away and no branch sits between the softmax and P V.
        if (RALW != 0 || subgroupAny(moved)) {
#if OSHARED
            // Through shared memory: the driver keeps O in registers only
            // while its elements are never addressed one by one.
            if ((lane & 3u) == 0u)
                [[unroll]] for (uint t = 0; t < MT; ++t) {
                    sRow[(warp * MT + t) * 16u + (lane >> 2)] = alpha[t][0];
                    sRow[(warp * MT + t) * 16u + (lane >> 2) + 8u] = alpha[t][1];
                }
            [[unroll]] for (uint t = 0; t < MT; ++t)
                [[unroll]] for (uint f = 0; f < NF; ++f) {
                    subgroupBarrier();
                    coopMatStoreNV(o[t][f], sO, warp * 256u, 16u, false);
                    subgroupBarrier();
                    const float a = sRow[(warp * MT + t) * 16u + (lane >> 1)];
                    [[unroll]] for (uint e = 0; e < 8u; ++e) sO[warp * 256u + lane * 8u + e] *= a;
                    subgroupBarrier();
                    coopMatLoadNV(o[t][f], sO, warp * 256u, 16u, false);
                }
            subgroupBarrier();
#else
            [[unroll]] for (uint t = 0; t < MT; ++t)
                [[unroll]] for (uint f = 0; f < NF; ++f)
                    [[unroll]] for (uint i = 0; i < 8u; ++i) o[t][f][i] *= alpha[t][elem_slot(i)];
#endif
        }
#endif
        HALF pf[MT][NJ];
        [[unroll]] for (uint t = 0; t < MT; ++t)
            [[unroll]] for (uint j = 0; j < NJ; ++j) pf[t][j] = HALF(s[t][j]);
        const uint kn = kb + BC;

        // V into shared memory (its previous readers finished at the last barrier).
        [[unroll]] for (uint u = 0; u < NLD; ++u) {
            uint e = lid + u * WG;
            if (e < BC * CH) sMem[V_OFF + (e / CH) * RS + e % CH] = pre[u];
        }
        barrier();

        // Next K tile's loads, in flight during P V.
        [[unroll]] for (uint u = 0; u < NLD; ++u) {
#if EXPT_NOGLOB
            pre[u] = uvec4(0u);
#else
            pre[u] = k_chunk(u, kn, ke, fk, kbase);
#endif
        }

        // ---- O += P V ----
        [[unroll]] for (uint j = 0; j < NJ; ++j)
            [[unroll]] for (uint f = 0; f < NF; ++f) {
#if EXPT_NOSHLD && !QSH
                HALF vf = qf[0][(f + j) % NF];
#else
                HALF vf;
                coopMatLoadNV(vf, sMem, V_OFF + (j * 16u) * RS + f * 2u, RS, false);
#endif
                [[unroll]] for (uint t = 0; t < MT; ++t) o[t][f] = coopMatMulAddNV(pf[t][j], vf, o[t][f]);
            }

        if (kn < ke) {
            [[unroll]] for (uint u = 0; u < NLD; ++u) {
                uint e = lid + u * WG;
                if (e < BC * CH) sMem[K_OFF + (e / CH) * RS + e % CH] = pre[u];
            }
        }
        barrier();
    }

#endif
#endif  // SPLIT

    // ---- store ----
    const bool partials = (P.flags & VKA_ATTN_PARTIALS) != 0u;
    const bool want_lse = (P.flags & VKA_ATTN_LSE) != 0u;
    [[unroll]] for (uint t = 0; t < MT; ++t) {
        const uint rt = row0 + (warp * MT + t) * 16u;
        float lt[2], inv[2];
        row_totals(l[t], lt, inv);
#if OSHARED
        if ((lane & 3u) == 0u) {
            sRow[(warp * MT + t) * 16u + (lane >> 2)] = partials ? 1.0 : inv[0];
            sRow[(warp * MT + t) * 16u + (lane >> 2) + 8u] = partials ? 1.0 : inv[1];
        }
        [[unroll]] for (uint f = 0; f < NF; ++f) {
            subgroupBarrier();
            coopMatStoreNV(o[t][f], sO, warp * 256u, 16u, false);
            subgroupBarrier();
            const uint r = lane >> 1, row = rt + r;
            const float sc = sRow[(warp * MT + t) * 16u + r];
            [[unroll]] for (uint e = 0; e < 8u; ++e) {
                const uint col = f * 16u + (lane & 1u) * 8u + e;
                // Guarded, not skipped: spirv-opt unrolls only loops without early exits.
                if (row < qrows && col < P.dv)
                    store_out(row, col, sO[warp * 256u + lane * 8u + e] * sc, partials, bh, bl, hl);
            }
        }
#else
        [[unroll]] for (uint f = 0; f < NF; ++f)
            [[unroll]] for (uint i = 0; i < 8u; ++i) {
                uint row = rt + elem_row(lane, i);
                uint col = f * 16u + elem_col(lane, i);
                if (row < qrows && col < P.dv)
                    // (o / l) first, then 2^-ev: inv * 2^-ev could be subnormal.
                    store_out(row, col, partials ? o[t][f][i] * vs : (o[t][f][i] * inv[elem_slot(i)]) * vs, partials,
                              bh, bl, hl);
            }
#endif
        store_row_stats(m[t], lt, rt, lane, qrows, partials, want_lse, bh, bl, hl);
    }
}
