#version 450
// Portable flash attention, contiguous-head-dim variant (no matrix units).
// Same interface, numerics and algorithm as attention.comp, for q/k/v whose
// head dim is contiguous (stride_d == 1), D and Dv multiples of 4 and every
// row start a multiple of 4 elements (the host checks): global loads are
// 4-element vectors, shared tiles are f32 vec4 rows, and each thread keeps a
// larger register micro-tile (vec4 operand reads along D and along keys).
//
// Every q.k product and sum, the running max/sum and the output accumulator
// are f32; the output is rounded once at the store. The softmax stays in
// registers: the TC threads that share a row exchange their maxima through
// shared memory once per key block, and each keeps its own part of the row
// sum, added up in lane order at the end. Fixed-order reductions, no
// subgroup operations: bitwise deterministic, any subgroup size.
//
// Specialization constants: HDK/HDV (multiples of DC / 4*OTC), BR, BC, DC
// (head-dim chunk, multiple of 4), PACK = BV | TC << 8 | OTC << 16 | PREF << 24 and
// U_SIZE (floats in the union area). The host guarantees: WG % TC == 0,
// BR % (WG/TC) == 0, BC % TC == 0, WG % OTC == 0, BR % (WG/OTC) == 0,
// HDV % (4*OTC) == 0, BC % 4 == 0, BV % 4 == 0, BC % BV == 0,
// HDK % DC == 0, U_SIZE >= max((BR+BC)*4*(DC/4|1), BV*HDV).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_control_flow_attributes : require
#include "attention_params.h"
#include "attention_math.glsl"

#ifndef IN_DTYPE
#define IN_DTYPE 1
#endif
#ifndef OUT_DTYPE
#define OUT_DTYPE IN_DTYPE
#endif
// Ablations for timing only (tuning builds; results are wrong on purpose):
// ABL 1 drops the softmax arithmetic (P = raw scores), 2 the global loads of
// q, k and v (zeros are staged), 3 the Q.K^T products, 4 the P.V products.
#ifndef ABL
#define ABL 0
#endif

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HDK = 64;
layout(constant_id = 2) const uint HDV = 64;
layout(constant_id = 3) const uint BR = 64;
layout(constant_id = 4) const uint BC = 64;
layout(constant_id = 5) const uint DC = 32;
layout(constant_id = 6) const uint PACK = 16u | (16u << 8) | (8u << 16);
layout(constant_id = 7) const uint U_SIZE = 4608;

const uint WG = gl_WorkGroupSize.x;
const uint BV = PACK & 0xffu;          // keys per V sub-tile
const uint TC = (PACK >> 8) & 0xffu;   // S: threads along keys
const uint OTC = (PACK >> 16) & 0xffu; // O: threads along Dv (vec4 groups)
const uint PREF = (PACK >> 24) & 1u;    // global loads of the next tile issued before the products
const uint TR = WG / TC;
const uint SM = BR / TR;
const uint SN = BC / TC;
const uint DC4 = DC / 4;
const uint QS4 = DC4 | 1u;  // odd vec4 row stride: conflict-free vec4 reads
const uint BC4 = BC / 4;
const uint PS4 = BC4 | 1u;
const uint HDV4 = HDV / 4;
const uint QKN = ((BR + BC) * DC4 + WG - 1) / WG;  // Q/K chunk elements per thread
const uint VN = (BV * HDV4 + WG - 1) / WG;          // V sub-tile elements per thread
const uint OTR = WG / OTC;
const uint OM = BR / OTR;
const uint ON4 = HDV4 / OTC;

layout(set = 0, binding = 0, std140) uniform Params { AttnParams P; };
#if IN_DTYPE == 0
layout(set = 0, binding = 1, std430) readonly buffer Qb { vec4 Q[]; };
layout(set = 0, binding = 2, std430) readonly buffer Kb { vec4 K[]; };
layout(set = 0, binding = 3, std430) readonly buffer Vb { vec4 V[]; };
#else
layout(set = 0, binding = 1, std430) readonly buffer Qb { uvec2 Q[]; };
layout(set = 0, binding = 2, std430) readonly buffer Kb { uvec2 K[]; };
layout(set = 0, binding = 3, std430) readonly buffer Vb { uvec2 V[]; };
#endif
layout(set = 0, binding = 4, std430) readonly buffer Mb { uint MASK[]; };
#if OUT_DTYPE == 0
layout(set = 0, binding = 5, std430) writeonly buffer Ob { float OUT[]; };
#else
layout(set = 0, binding = 5, std430) writeonly buffer Ob { uint16_t OUT[]; };
#endif
layout(set = 0, binding = 6, std430) writeonly buffer Lb { float LSE[]; };
layout(set = 0, binding = 7, std430) writeonly buffer Wb { float WS[]; };
layout(push_constant) uniform Push { AttnPush pc; };

shared vec4 sP[BR * PS4];
shared vec4 sU[U_SIZE / 4];  // Q/K chunks, then V sub-tiles
shared float sR[BR * TC];    // per row, one value per key lane: maxima, at the end sums

// 4 consecutive elements starting at element i (a multiple of 4).
#if IN_DTYPE == 0
#define LD4(buf, i) buf[(i) >> 2]
#elif IN_DTYPE == 1
vec4 cvt4(uvec2 w) { return vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y)); }
#define LD4(buf, i) cvt4(buf[(i) >> 2])
#else
vec4 cvt4(uvec2 w) {
    return vec4(uintBitsToFloat(w.x << 16), uintBitsToFloat(w.x & 0xffff0000u), uintBitsToFloat(w.y << 16),
                uintBitsToFloat(w.y & 0xffff0000u));
}
#define LD4(buf, i) cvt4(buf[(i) >> 2])
#endif

float mask_value(uint i) {
    if (P.mask_kind == VKA_MASK_F32) return uintBitsToFloat(MASK[i]);
    if (P.mask_kind == VKA_MASK_F16) {
        uint w = MASK[i >> 1];
        return unpackHalf2x16((i & 1u) != 0u ? (w >> 16) : (w & 0xffffu)).x;
    }
    uint w = MASK[i >> 2];
    return ((w >> ((i & 3u) * 8u)) & 0xffu) != 0u ? 0.0 : VKA_NEG_INF;
}

void store_out(uint i, float x) {
#if OUT_DTYPE == 0
    OUT[i] = x;
#elif OUT_DTYPE == 1
    OUT[i] = uint16_t(f32_to_f16_bits(x));
#else
    OUT[i] = uint16_t(f32_to_bf16_bits(x));
#endif
}

// Row r of the Q tile and row c of the K tile, 4 elements from head-dim
// index d (zeros outside the problem).
vec4 load_q(uint r, uint d, uint row0, uint qrows, uint qbase) {
    vec4 x = vec4(0.0);
#if ABL != 2
    if (row0 + r < qrows && d < P.d) x = LD4(Q, qbase + (row0 + r) * P.q_sn + d);
#endif
    return x;
}
vec4 load_k(uint c, uint d, uint kb, uint ke, uint kbase) {
    vec4 x = vec4(0.0);
#if ABL != 2
    if (kb + c < ke && d < P.d) x = LD4(K, kbase + (kb + c - pc.k0) * P.k_sn + d);
#endif
    return x;
}
// Element e of the Q/K staging of head-dim chunk d0 (Q rows 0..BR-1, then K
// rows) and of V sub-tile jb; its shared slot is qk_slot(e), resp. e.
vec4 fetch_qk(uint e, uint d0, uint kb, uint ke, uint row0, uint qrows, uint qbase, uint kbase) {
    const uint d = d0 + 4u * (e % DC4);
    if (e < BR * DC4) return load_q(e / DC4, d, row0, qrows, qbase);
    if (e < (BR + BC) * DC4) return load_k(e / DC4 - BR, d, kb, ke, kbase);
    return vec4(0.0);
}
uint qk_slot(uint e) { return (e / DC4) * QS4 + e % DC4; }
vec4 fetch_v(uint e, uint jb, uint kb, uint ke, uint vbase) {
    vec4 x = vec4(0.0);
#if ABL != 2
    const uint jr = e / HDV4, d = 4u * (e % HDV4), gj = kb + jb + jr;
    if (e < BV * HDV4 && gj < ke && d < P.dv) x = LD4(V, vbase + (gj - pc.k0) * P.v_sn + d);
#endif
    return x;
}

void main() {
    const uint lid = gl_LocalInvocationID.x;
    const uint bh = gl_WorkGroupID.y;
    const uint hl = bh % pc.tile_h, bl = bh / pc.tile_h;
    const uint h = pc.h0 + hl;
    const uint kvh = h / P.group - pc.h0 / P.group;
    const uint row0 = gl_WorkGroupID.x * BR;
    const uint qrows = min(pc.tile_q, P.nq - pc.q0);
    const bool causal = (P.flags & VKA_ATTN_CAUSAL) != 0u;
    const uint ks = pc.k0 + gl_WorkGroupID.z * P.split_len;
    uint ke = min(pc.k_end, ks + P.split_len);
    if (causal) ke = min(ke, pc.q0 + row0 + BR);

    const uint qbase = pc.q_org + bl * P.q_sb + hl * P.q_sh;
    const uint kbase = pc.k_org + bl * P.k_sb + kvh * P.k_sh;
    const uint vbase = pc.v_org + bl * P.v_sb + kvh * P.v_sh;
    const uint mbase = pc.m_org + bl * P.m_sb + hl * P.m_sh;

    const uint tx = lid % TC, ty = lid / TC;
    const uint ox = lid % OTC, oy = lid / OTC;

    vec4 o[OM * ON4];
    [[unroll]] for (uint i = 0; i < OM * ON4; ++i) o[i] = vec4(0.0);
    float ms[SM], ls[SM], mo[OM];  // running max and this thread's part of the sum (S rows); max (O rows)
    [[unroll]] for (uint i = 0; i < SM; ++i) {
        ms[i] = VKA_NEG_INF;
        ls[i] = 0.0;
    }
    [[unroll]] for (uint i = 0; i < OM; ++i) mo[i] = VKA_NEG_INF;

    // With PREF, each tile's global loads go out one phase early into
    // registers (pq: the next Q/K chunk, pv4: the next V sub-tile) and are
    // stored to shared memory between the same two barriers as without.
    vec4 pq[QKN], pv4[VN];
    if (PREF != 0u && ks < ke)
        [[unroll]] for (uint t = 0; t < QKN; ++t) pq[t] = fetch_qk(lid + t * WG, 0u, ks, ke, row0, qrows, qbase, kbase);

    for (uint kb = ks; kb < ke; kb += BC) {
        // ---- S = Q K^T over head-dim chunks ----
        float s[SM * SN];
        [[unroll]] for (uint i = 0; i < SM * SN; ++i) s[i] = 0.0;
        for (uint d0 = 0; d0 < HDK; d0 += DC) {
            barrier();
            if (PREF != 0u) {
                [[unroll]] for (uint t = 0; t < QKN; ++t) {
                    const uint e = lid + t * WG;
                    if (e < (BR + BC) * DC4) sU[qk_slot(e)] = pq[t];
                }
            } else {
                for (uint e = lid; e < BR * DC4; e += WG)
                    sU[qk_slot(e)] = load_q(e / DC4, d0 + 4u * (e % DC4), row0, qrows, qbase);
                for (uint e = lid; e < BC * DC4; e += WG)
                    sU[qk_slot(BR * DC4 + e)] = load_k(e / DC4, d0 + 4u * (e % DC4), kb, ke, kbase);
            }
            barrier();
            if (PREF != 0u && d0 + DC < HDK)
                [[unroll]] for (uint t = 0; t < QKN; ++t)
                    pq[t] = fetch_qk(lid + t * WG, d0 + DC, kb, ke, row0, qrows, qbase, kbase);
#if ABL != 3
            [[unroll]] for (uint g = 0; g < DC4; ++g) {
                vec4 qv[SM], kv[SN];
                [[unroll]] for (uint i = 0; i < SM; ++i) qv[i] = sU[(ty + i * TR) * QS4 + g];
                [[unroll]] for (uint j = 0; j < SN; ++j) kv[j] = sU[(BR + tx + j * TC) * QS4 + g];
                [[unroll]] for (uint i = 0; i < SM; ++i)
                    [[unroll]] for (uint j = 0; j < SN; ++j) {
                        float a = s[i * SN + j];
                        a = fma(qv[i].x, kv[j].x, a);
                        a = fma(qv[i].y, kv[j].y, a);
                        a = fma(qv[i].z, kv[j].z, a);
                        a = fma(qv[i].w, kv[j].w, a);
                        s[i * SN + j] = a;
                    }
            }
#endif
        }
        if (PREF != 0u)
            [[unroll]] for (uint t = 0; t < VN; ++t) pv4[t] = fetch_v(lid + t * WG, 0u, kb, ke, vbase);

        // ---- softmax in registers: scale, mask, causal, bounds; each
        // thread's share of the row maxima goes through sR ----
        [[unroll]] for (uint i = 0; i < SM; ++i) {
            const uint r = ty + i * TR, row = row0 + r, gi = pc.q0 + row;
            const bool row_ok = row < qrows;
            const uint mrow = mbase + row * P.m_sn;
            float m = VKA_NEG_INF;
            [[unroll]] for (uint j = 0; j < SN; ++j) {
                const uint gj = kb + tx + j * TC;
                const bool keep = row_ok && gj < ke && (!causal || gj <= gi);
                float y = s[i * SN + j] * P.scale;
                if (keep && P.mask_kind != VKA_MASK_NONE) y += mask_value(mrow + (gj - pc.k0) * P.m_sd);
                y = keep ? y : VKA_NEG_INF;
                s[i * SN + j] = y;
                m = max(m, y);
            }
            sR[r * TC + tx] = m;
        }
        barrier();
        // New row maxima (every thread of a row reads the same TC values, so
        // all agree bit for bit); P to sP; this thread's part of the row sum.
        float alpha_s[SM];
        [[unroll]] for (uint i = 0; i < SM; ++i) {
            const uint r = ty + i * TR;
            float m = ms[i];
            [[unroll]] for (uint u = 0; u < TC; ++u) m = max(m, sR[r * TC + u]);
            const float mu = m == VKA_NEG_INF ? 0.0 : m;
            alpha_s[i] = exp_nonpos(ms[i] - mu);
            ms[i] = m;
            float sum = 0.0;
            [[unroll]] for (uint j = 0; j < SN; ++j) {
                const uint c = tx + j * TC;
#if ABL == 1
                const float p = s[i * SN + j];
#else
                const float p = exp_nonpos(s[i * SN + j] - mu);
#endif
                sP[r * PS4 + (c >> 2)][c & 3u] = p;
                sum += p;
            }
            ls[i] = ls[i] * alpha_s[i] + sum;
        }

        // ---- O = alpha O + P V over V sub-tiles ----
        // (O rows are the S rows when OTC == TC, and then OM == SM;
        // otherwise each thread derives its O rows' maxima from sR the same
        // way, and the alpha_s / ms reads below sit in branches never taken.)
        [[unroll]] for (uint i = 0; i < OM; ++i) {
            float a;
            if (OTC == TC) {
                a = alpha_s[i];
            } else {
                const uint r = oy + i * OTR;
                float m = mo[i];
                [[unroll]] for (uint u = 0; u < TC; ++u) m = max(m, sR[r * TC + u]);
                a = exp_nonpos(mo[i] - (m == VKA_NEG_INF ? 0.0 : m));
                mo[i] = m;
            }
            [[unroll]] for (uint j = 0; j < ON4; ++j) o[i * ON4 + j] *= a;
        }
        for (uint jb = 0; jb < BC && kb + jb < ke; jb += BV) {
            barrier();
            if (PREF != 0u) {
                [[unroll]] for (uint t = 0; t < VN; ++t) {
                    const uint e = lid + t * WG;
                    if (e < BV * HDV4) sU[e] = pv4[t];
                }
            } else {
                for (uint e = lid; e < BV * HDV4; e += WG) sU[e] = fetch_v(e, jb, kb, ke, vbase);
            }
            barrier();
            if (PREF != 0u) {
                if (jb + BV < BC && kb + jb + BV < ke) {
                    [[unroll]] for (uint t = 0; t < VN; ++t) pv4[t] = fetch_v(lid + t * WG, jb + BV, kb, ke, vbase);
                } else if (kb + BC < ke) {
                    [[unroll]] for (uint t = 0; t < QKN; ++t)
                        pq[t] = fetch_qk(lid + t * WG, 0u, kb + BC, ke, row0, qrows, qbase, kbase);
                }
            }
            [[unroll]] for (uint j4 = 0; j4 < BV / 4; ++j4) {
                vec4 pv[OM];
#if ABL == 4
                break;
#endif
                [[unroll]] for (uint i = 0; i < OM; ++i) pv[i] = sP[(oy + i * OTR) * PS4 + (jb >> 2) + j4];
                [[unroll]] for (uint u = 0; u < 4; ++u)
                    [[unroll]] for (uint j = 0; j < ON4; ++j) {
                        vec4 vv = sU[(4u * j4 + u) * HDV4 + ox + j * OTC];
                        [[unroll]] for (uint i = 0; i < OM; ++i) o[i * ON4 + j] = fma(vec4(pv[i][u]), vv, o[i * ON4 + j]);
                    }
            }
        }
    }
    // ---- row sums: the TC partial sums of each row, added in lane order ----
    barrier();
    [[unroll]] for (uint i = 0; i < SM; ++i) sR[(ty + i * TR) * TC + tx] = ls[i];
    barrier();

    // ---- store ----
    const bool partials = (P.flags & VKA_ATTN_PARTIALS) != 0u;
    [[unroll]] for (uint i = 0; i < OM; ++i) {
        uint r = oy + i * OTR;
        uint row = row0 + r;
        if (row >= qrows) continue;
        float m;
        if (OTC == TC) m = ms[i];  // OM == SM here
        else m = mo[i];
        float l = 0.0;
        [[unroll]] for (uint u = 0; u < TC; ++u) l += sR[r * TC + u];
        if (partials) {
            uint cell = ((pc.part0 + gl_WorkGroupID.z) * pc.tile_bh + bh) * pc.tile_q + row;
            [[unroll]] for (uint j = 0; j < ON4; ++j)
                [[unroll]] for (uint u = 0; u < 4; ++u) {
                    uint c = 4u * (ox + j * OTC) + u;
                    if (c < P.dv) WS[cell * P.dv + c] = o[i * ON4 + j][u];
                }
            if (ox == 0u) {
                uint mlb = pc.n_parts * pc.tile_bh * pc.tile_q * P.dv;
                WS[mlb + 2u * cell] = m;
                WS[mlb + 2u * cell + 1u] = l;
            }
        } else {
            float inv = l > 0.0 ? recip_refined(l) : 0.0;
            uint obase = pc.o_org + bl * P.o_sb + hl * P.o_sh + row * P.o_sn;
            [[unroll]] for (uint j = 0; j < ON4; ++j)
                [[unroll]] for (uint u = 0; u < 4; ++u) {
                    uint c = 4u * (ox + j * OTC) + u;
                    if (c < P.dv) store_out(obase + c * P.o_sd, o[i * ON4 + j][u] * inv);
                }
            if (ox == 0u && (P.flags & VKA_ATTN_LSE) != 0u)
                LSE[pc.l_org + bl * P.l_sb + hl * P.l_sh + row * P.l_sn] = l > 0.0 ? m + log_ge1(l) : (l == 0.0 ? VKA_NEG_INF : l);
        }
    }
}
