#version 450
// Flash attention on NV cooperative matrices for wide heads (bucket above 128,
// up to 512: the VAE mid-block's D = 512). Same interface as
// attention_coopmat.comp and attention.comp (AttnParams uniform, AttnPush push
// constants, bindings 0..7, specialization ids 1..7), same numerics: f32 Q.K^T
// accumulators, f32 row max and sum, f32 O accumulator; only P (in [0, 1]) is
// f16.
//
// The O accumulator of one 16-row m-tile at D = 512 is 256 f32 per invocation,
// beyond the register file, so the head dim is split across warps. A
// workgroup has RG row groups of DS warps; the DS warps of a group share its
// 16 query rows and own one slice of HS = HD / DS head-dim columns each:
//   partial S   each warp multiplies the Q and K columns of its slice
//               (Q fragments stay in registers) and stores its 16 x BC
//               partial product to shared memory;
//   S           every warp of the group adds the DS partials in slice order
//               (the same additions in the same order in each warp, so all
//               of them hold bit-identical S, m and l: deterministic);
//   softmax     in registers, as attention_coopmat.comp (probed layout);
//   O += P V    each warp multiplies P with the V columns of its slice.
// K and V take turns in one shared tile of BC keys x HD (K for the partial
// products, then V for P V). With PREF = 1 each tile's global loads are
// issued into registers one phase ahead (V during the partial products, the
// next K during P V), so their latency hides behind matrix work.
//
// Defines: HD (multiple of 16 * DS), DS (head-dim slices), RG (row groups),
// MT (16-row m-tiles per row group: each K and V fragment a warp loads then
// feeds MT products), BC (keys per block), TAU (as attention_coopmat.comp: with TAU > 0, O is
// rescaled only when a row's reference maximum grows by more than 2^TAU), PREF.
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
#define HD 512
#endif
#ifndef DS
#define DS 4
#endif
#ifndef RG
#define RG 1
#endif
#ifndef BC
#define BC 32
#endif
#ifndef TAU
#define TAU 0
#endif
#ifndef MT
#define MT 1
#endif
#ifndef PREF
#define PREF 1
#endif
#if (HD % (16 * DS)) != 0
#error HD must be a multiple of 16 * DS
#endif

const uint NW = DS * RG;
const uint WG = NW * 32u;
const uint BR = RG * MT * 16u;
const uint HS = HD / DS;       // head-dim columns per warp
const uint NFS = HS / 16u;     // 16-wide fragments per slice
const uint NJ = BC / 16u;
const uint RS = HD / 8u + 1u;  // shared row stride in uvec4 (8 halves), padded
const uint CH = HD / 8u;
const uint NLD = (BC * CH + WG - 1u) / WG;
const uint STILE = (BC > 16u ? BC : 16u) * RS;  // Q staging (16 rows at a time) aliases the K/V tile

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
layout(set = 0, binding = 5, std430) writeonly buffer Ob { uint16_t OUT[]; };
layout(set = 0, binding = 6, std430) writeonly buffer Lb { float LSE[]; };
layout(set = 0, binding = 7, std430) writeonly buffer Wb { float WS[]; };
layout(push_constant) uniform Push { AttnPush pc; };

shared uvec4 sT[STILE];
shared float sS[NW * MT * NJ * 256u];  // partial S: warp, m-tile, key fragment, 16x16 row-major

#include "attention_coopmat_common.glsl"

// Stores this invocation's chunks of a K or V tile into shared memory.
void put_tile(uvec4 x[NLD]) {
    [[unroll]] for (uint u = 0; u < NLD; ++u) {
        const uint e = gl_LocalInvocationID.x + u * WG;
        if (e < BC * CH) sT[(e / CH) * RS + e % CH] = x[u];
    }
}

void main() {
    if (S_HDK != HD || S_HDV != HD || S_BR != BR || S_BC != BC || S_NW != NW || S_MT != MT) return;

    const uint lid = gl_LocalInvocationID.x;
    const uint lane = gl_SubgroupInvocationID;
    const uint warp = gl_SubgroupID;
    const uint grp = warp / DS, sl = warp % DS;
    const uint bh = gl_WorkGroupID.y;
    const uint hl = bh % pc.tile_h, bl = bh / pc.tile_h;
    const uint h = pc.h0 + hl;
    const uint kvh = h / P.group - pc.h0 / P.group;
    const uint row0 = gl_WorkGroupID.x * BR;  // inside the tile
    const uint rt = row0 + grp * MT * 16u;    // this group's first row (m-tile t: rt + 16 t)
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
    const float c2 = P.scale * LOG2E;

    // ---- Q: staged through shared memory one row group at a time; each
    // warp keeps the fragments of its slice in registers ----
    HALF qf[MT][NFS];
    for (uint g = 0; g < RG; ++g)
        [[unroll]] for (uint t = 0; t < MT; ++t) {
            for (uint e = lid; e < 16u * CH; e += WG) {
                uint r = row0 + (g * MT + t) * 16u + e / CH, c = e % CH;
                uvec4 x = uvec4(0u);
                if (r < qrows) x = load_q(fq, qbase + r * P.q_sn, c, P.d, P.q_sd);
                sT[(e / CH) * RS + c] = x;
            }
            barrier();
            if (grp == g)
                [[unroll]] for (uint f = 0; f < NFS; ++f)
                    coopMatLoadNV(qf[t][f], sT, (sl * NFS + f) * 2u, RS, false);
            barrier();
        }

    ACC o[MT][NFS];
    float m[MT][2], l[MT][2];
    [[unroll]] for (uint t = 0; t < MT; ++t) {
        [[unroll]] for (uint f = 0; f < NFS; ++f) o[t][f] = ACC(0.0);
        m[t][0] = m[t][1] = VKA_NEG_INF;
        l[t][0] = l[t][1] = 0.0;
    }

    uvec4 pre[NLD];
#if PREF
    [[unroll]] for (uint u = 0; u < NLD; ++u) pre[u] = k_chunk(u, ks, ke, fk, kbase);
#endif
    for (uint kb = ks; kb < ke; kb += BC) {
        // ---- K tile ----
#if !PREF
        [[unroll]] for (uint u = 0; u < NLD; ++u) pre[u] = k_chunk(u, kb, ke, fk, kbase);
#endif
        put_tile(pre);
        barrier();
#if PREF
        [[unroll]] for (uint u = 0; u < NLD; ++u) pre[u] = v_chunk(u, kb, ke, fv, vbase);
#endif

        // ---- partial S over this warp's head-dim slice ----
        ACC sp[MT][NJ];
        [[unroll]] for (uint t = 0; t < MT; ++t)
            [[unroll]] for (uint j = 0; j < NJ; ++j) sp[t][j] = ACC(0.0);
        [[unroll]] for (uint f = 0; f < NFS; ++f)
            [[unroll]] for (uint j = 0; j < NJ; ++j) {
                HALF kf;
                coopMatLoadNV(kf, sT, (j * 16u) * RS + (sl * NFS + f) * 2u, RS, true);
                [[unroll]] for (uint t = 0; t < MT; ++t) sp[t][j] = coopMatMulAddNV(qf[t][f], kf, sp[t][j]);
            }
        [[unroll]] for (uint t = 0; t < MT; ++t)
            [[unroll]] for (uint j = 0; j < NJ; ++j)
                coopMatStoreNV(sp[t][j], sS, ((warp * MT + t) * NJ + j) * 256u, 16u, false);
        barrier();  // partials visible; every warp is done with the K tile

        // ---- V tile (its loads were issued before the partial products) ----
#if !PREF
        [[unroll]] for (uint u = 0; u < NLD; ++u) pre[u] = v_chunk(u, kb, ke, fv, vbase);
#endif
        put_tile(pre);

        // ---- S: the group's partials added in slice order (all of them
        // from shared memory: keeping the warp's own one in registers was
        // measured slower, 68 against 75 TFLOP/s at D = 512, from spills) ----
        ACC s[MT][NJ];
        [[unroll]] for (uint t = 0; t < MT; ++t)
            [[unroll]] for (uint j = 0; j < NJ; ++j) {
                coopMatLoadNV(s[t][j], sS, (((grp * DS) * MT + t) * NJ + j) * 256u, 16u, false);
                [[unroll]] for (uint d = 1; d < DS; ++d) {
                    ACC x;
                    coopMatLoadNV(x, sS, (((grp * DS + d) * MT + t) * NJ + j) * 256u, 16u, false);
                    // Element-wise (the probe proved 8 elements per invocation);
                    // spirv-opt's folder crashes on a whole-matrix OpFAdd.
                    [[unroll]] for (uint i = 0; i < 8u; ++i) s[t][j][i] += x[i];
                }
            }
        float alpha[MT][2];
        const bool moved = online_softmax(s, m, l, alpha, kb, ke, row0, rt, lane, qrows, causal, has_mask, mbase, c2);
        // TAU = 0: O rescaled every block (alpha = 1 where no maximum moved),
        // without a branch; TAU > 0: only when a reference maximum moved.
        if (TAU == 0 || subgroupAny(moved))
            [[unroll]] for (uint t = 0; t < MT; ++t)
                [[unroll]] for (uint f = 0; f < NFS; ++f)
                    [[unroll]] for (uint i = 0; i < 8u; ++i) o[t][f][i] *= alpha[t][elem_slot(i)];
        HALF pf[MT][NJ];
        [[unroll]] for (uint t = 0; t < MT; ++t)
            [[unroll]] for (uint j = 0; j < NJ; ++j) pf[t][j] = HALF(s[t][j]);
        barrier();  // V tile visible; every warp has read the partials
#if PREF
        [[unroll]] for (uint u = 0; u < NLD; ++u) pre[u] = k_chunk(u, kb + BC, ke, fk, kbase);
#endif

        // ---- O += P V over this warp's slice ----
        [[unroll]] for (uint j = 0; j < NJ; ++j)
            [[unroll]] for (uint f = 0; f < NFS; ++f) {
                HALF vf;
                coopMatLoadNV(vf, sT, (j * 16u) * RS + (sl * NFS + f) * 2u, RS, false);
                [[unroll]] for (uint t = 0; t < MT; ++t) o[t][f] = coopMatMulAddNV(pf[t][j], vf, o[t][f]);
            }
        barrier();  // every warp is done with the V tile
    }

    // ---- store: each warp its columns; slice 0 the row statistics ----
    const bool partials = (P.flags & VKA_ATTN_PARTIALS) != 0u;
    const bool want_lse = (P.flags & VKA_ATTN_LSE) != 0u;
    [[unroll]] for (uint t = 0; t < MT; ++t) {
        float lt[2], inv[2];
        row_totals(l[t], lt, inv);
        [[unroll]] for (uint f = 0; f < NFS; ++f)
            [[unroll]] for (uint i = 0; i < 8u; ++i) {
                const uint row = rt + t * 16u + elem_row(lane, i);
                const uint col = (sl * NFS + f) * 16u + elem_col(lane, i);
                if (row < qrows && col < P.dv)
                    store_out(row, col, partials ? o[t][f][i] : o[t][f][i] * inv[elem_slot(i)], partials, bh, bl, hl);
            }
        if (sl == 0u) store_row_stats(m[t], lt, rt + t * 16u, lane, qrows, partials, want_lse, bh, bl, hl);
    }
}
