#version 450
// Portable flash attention (no matrix units): one workgroup computes BR query
// rows of one (batch, head) against the keys of one split, streaming key
// blocks of BC keys with an online softmax. Scores, running max/sum and the
// output accumulator are f32; the output is rounded once at the store.
//
// Defines: IN_DTYPE (0 f32, 1 f16, 2 bf16) of q/k/v, OUT_DTYPE of out.
// Specialization constants pick the head-dim bucket and the tiling; the host
// guarantees: BC % 16 == 0, BR % (WG/16) == 0, BR % (WG/8) == 0,
// WG % BR == 0, BC % (WG/BR) == 0, HDK % DC == 0, HDV % 8 == 0, BC % BV == 0,
// U_SIZE >= max((BR+BC)*(DC+1), BV*HDV, 2*WG).
//
// Reductions over a row go through shared memory in a fixed order (no
// subgroup operations), so results are bitwise deterministic and the shader
// runs with any subgroup size.
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

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HDK = 64;   // D rounded up to the bucket
layout(constant_id = 2) const uint HDV = 64;   // Dv rounded up to the bucket
layout(constant_id = 3) const uint BR = 64;    // query rows per workgroup
layout(constant_id = 4) const uint BC = 64;    // keys per block
layout(constant_id = 5) const uint DC = 16;    // head-dim chunk of the Q/K tiles
layout(constant_id = 6) const uint BV = 16;    // keys per V sub-tile
layout(constant_id = 7) const uint U_SIZE = 4096;  // floats in the union area

const uint WG = gl_WorkGroupSize.x;
// S = Q K^T: a TR x TC thread grid, each thread SM rows x SN keys (strided).
const uint TC = 16;
const uint TR = WG / TC;
const uint SM = BR / TR;
const uint SN = BC / TC;
// O += P V: an OTR x OTC thread grid, each thread OM rows x ON columns.
const uint OTC = 8;
const uint OTR = WG / OTC;
const uint OM = BR / OTR;
const uint ON = HDV / OTC;
// Row statistics: RT threads per row.
const uint RT = WG / BR;
const uint QS = DC + 1;  // padded row stride of the Q/K chunks
const uint PS = BC + 1;  // padded row stride of P

layout(set = 0, binding = 0, std140) uniform Params { AttnParams P; };
#if IN_DTYPE == 0
layout(set = 0, binding = 1, std430) readonly buffer Qb { float Q[]; };
layout(set = 0, binding = 2, std430) readonly buffer Kb { float K[]; };
layout(set = 0, binding = 3, std430) readonly buffer Vb { float V[]; };
#else
layout(set = 0, binding = 1, std430) readonly buffer Qb { uint16_t Q[]; };
layout(set = 0, binding = 2, std430) readonly buffer Kb { uint16_t K[]; };
layout(set = 0, binding = 3, std430) readonly buffer Vb { uint16_t V[]; };
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

shared float sP[BR * PS];
shared float sU[U_SIZE];  // Q/K chunks, row reductions, V sub-tiles (in turn)
shared float sM[BR], sL[BR], sA[BR];

#if IN_DTYPE == 0
#define LOAD(buf, i) buf[i]
#elif IN_DTYPE == 1
#define LOAD(buf, i) unpackHalf2x16(uint(buf[i])).x
#else
#define LOAD(buf, i) uintBitsToFloat(uint(buf[i]) << 16)
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

void main() {
    const uint lid = gl_LocalInvocationID.x;
    const uint bh = gl_WorkGroupID.y;
    const uint hl = bh % pc.tile_h, bl = bh / pc.tile_h;
    const uint h = pc.h0 + hl;
    const uint kvh = h / P.group - pc.h0 / P.group;
    const uint row0 = gl_WorkGroupID.x * BR;  // inside the tile
    const uint qrows = min(pc.tile_q, P.nq - pc.q0);
    const bool causal = (P.flags & VKA_ATTN_CAUSAL) != 0u;
    const uint ks = pc.k0 + gl_WorkGroupID.z * P.split_len;
    uint ke = min(pc.k_end, ks + P.split_len);
    if (causal) ke = min(ke, pc.q0 + row0 + BR);  // keys past the last row's diagonal

    const uint qbase = pc.q_org + bl * P.q_sb + hl * P.q_sh;
    const uint kbase = pc.k_org + bl * P.k_sb + kvh * P.k_sh;
    const uint vbase = pc.v_org + bl * P.v_sb + kvh * P.v_sh;
    const uint mbase = pc.m_org + bl * P.m_sb + hl * P.m_sh;

    const uint tx = lid % TC, ty = lid / TC;
    const uint ox = lid % OTC, oy = lid / OTC;

    float o[OM * ON];
    [[unroll]] for (uint i = 0; i < OM * ON; ++i) o[i] = 0.0;
    for (uint r = lid; r < BR; r += WG) {
        sM[r] = VKA_NEG_INF;
        sL[r] = 0.0;
    }

    for (uint kb = ks; kb < ke; kb += BC) {
        // ---- S = Q K^T over head-dim chunks ----
        float s[SM * SN];
        [[unroll]] for (uint i = 0; i < SM * SN; ++i) s[i] = 0.0;
        for (uint d0 = 0; d0 < HDK; d0 += DC) {
            barrier();
            for (uint e = lid; e < BR * DC; e += WG) {
                uint r = e / DC, dd = e % DC, d = d0 + dd;
                float x = 0.0;
                if (row0 + r < qrows && d < P.d) x = LOAD(Q, qbase + (row0 + r) * P.q_sn + d * P.q_sd);
                sU[r * QS + dd] = x;
            }
            for (uint e = lid; e < BC * DC; e += WG) {
                uint c = e / DC, dd = e % DC, d = d0 + dd;
                float x = 0.0;
                if (kb + c < ke && d < P.d) x = LOAD(K, kbase + (kb + c - pc.k0) * P.k_sn + d * P.k_sd);
                sU[(BR + c) * QS + dd] = x;
            }
            barrier();
            [[unroll]] for (uint dd = 0; dd < DC; ++dd) {
                float qv[SM], kv[SN];
                [[unroll]] for (uint i = 0; i < SM; ++i) qv[i] = sU[(ty + i * TR) * QS + dd];
                [[unroll]] for (uint j = 0; j < SN; ++j) kv[j] = sU[(BR + tx + j * TC) * QS + dd];
                [[unroll]] for (uint i = 0; i < SM; ++i)
                    [[unroll]] for (uint j = 0; j < SN; ++j) s[i * SN + j] = fma(qv[i], kv[j], s[i * SN + j]);
            }
        }

        // ---- raw scores to shared; then per row (RT threads each, loops
        // kept rolled so CPU drivers compile fast): scale, mask, causal,
        // bounds, max, exp, sum ----
        barrier();  // everyone is done with the Q/K chunks (sP is free too)
        [[unroll]] for (uint i = 0; i < SM; ++i)
            [[unroll]] for (uint j = 0; j < SN; ++j) sP[(ty + i * TR) * PS + tx + j * TC] = s[i * SN + j];
        barrier();
        {
            const uint r = lid / RT, t = lid % RT;
            const uint row = row0 + r, gi = pc.q0 + row;
            const bool row_ok = row < qrows;
            const uint mrow = mbase + row * P.m_sn;
            float m = VKA_NEG_INF;
            for (uint c = t; c < BC; c += RT) {
                uint gj = kb + c;
                bool keep = row_ok && gj < ke && (!causal || gj <= gi);
                float x = sP[r * PS + c] * P.scale;
                if (keep && P.mask_kind != VKA_MASK_NONE) x += mask_value(mrow + (gj - pc.k0) * P.m_sd);
                x = keep ? x : VKA_NEG_INF;
                sP[r * PS + c] = x;
                m = max(m, x);
            }
            sU[lid] = m;
            barrier();
            m = sM[r];
            for (uint u = 0; u < RT; ++u) m = max(m, sU[r * RT + u]);
            const float mu = m == VKA_NEG_INF ? 0.0 : m;
            float sum = 0.0;
            for (uint c = t; c < BC; c += RT) {
                float p = exp_nonpos(sP[r * PS + c] - mu);
                sP[r * PS + c] = p;
                sum += p;
            }
            sU[WG + lid] = sum;
            barrier();
            if (t == 0u) {
                float tot = 0.0;
                for (uint u = 0; u < RT; ++u) tot += sU[WG + r * RT + u];
                float alpha = exp_nonpos(sM[r] - mu);
                sA[r] = alpha;
                sL[r] = sL[r] * alpha + tot;
                sM[r] = m;
            }
        }
        barrier();

        // ---- O = alpha O + P V over V sub-tiles ----
        [[unroll]] for (uint i = 0; i < OM; ++i) {
            float a = sA[oy + i * OTR];
            [[unroll]] for (uint j = 0; j < ON; ++j) o[i * ON + j] *= a;
        }
        for (uint jb = 0; jb < BC && kb + jb < ke; jb += BV) {
            barrier();
            for (uint e = lid; e < BV * HDV; e += WG) {
                uint jr = e / HDV, d = e % HDV;
                uint gj = kb + jb + jr;
                float x = 0.0;
                if (gj < ke && d < P.dv) x = LOAD(V, vbase + (gj - pc.k0) * P.v_sn + d * P.v_sd);
                sU[e] = x;
            }
            barrier();
            [[unroll]] for (uint jr = 0; jr < BV; ++jr) {
                float pv[OM];
                [[unroll]] for (uint i = 0; i < OM; ++i) pv[i] = sP[(oy + i * OTR) * PS + jb + jr];
                [[unroll]] for (uint j = 0; j < ON; ++j) {
                    float vv = sU[jr * HDV + ox + j * OTC];
                    [[unroll]] for (uint i = 0; i < OM; ++i) o[i * ON + j] = fma(pv[i], vv, o[i * ON + j]);
                }
            }
        }
    }
    barrier();

    // ---- store ----
    const bool partials = (P.flags & VKA_ATTN_PARTIALS) != 0u;
    [[unroll]] for (uint i = 0; i < OM; ++i) {
        uint r = oy + i * OTR;
        uint row = row0 + r;
        if (row >= qrows) continue;
        float m = sM[r], l = sL[r];
        if (partials) {
            uint cell = ((pc.part0 + gl_WorkGroupID.z) * pc.tile_bh + bh) * pc.tile_q + row;
            [[unroll]] for (uint j = 0; j < ON; ++j) {
                uint c = ox + j * OTC;
                if (c < P.dv) WS[cell * P.dv + c] = o[i * ON + j];
            }
            if (ox == 0u) {
                uint mlb = pc.n_parts * pc.tile_bh * pc.tile_q * P.dv;
                WS[mlb + 2u * cell] = m;
                WS[mlb + 2u * cell + 1u] = l;
            }
        } else {
            float inv = l > 0.0 ? recip_refined(l) : 0.0;
            uint obase = pc.o_org + bl * P.o_sb + hl * P.o_sh + row * P.o_sn;
            [[unroll]] for (uint j = 0; j < ON; ++j) {
                uint c = ox + j * OTC;
                if (c < P.dv) store_out(obase + c * P.o_sd, o[i * ON + j] * inv);
            }
            if (ox == 0u && (P.flags & VKA_ATTN_LSE) != 0u)
                LSE[pc.l_org + bl * P.l_sb + hl * P.l_sh + row * P.l_sn] = l > 0.0 ? m + log_ge1(l) : (l == 0.0 ? VKA_NEG_INF : l);
        }
    }
}
