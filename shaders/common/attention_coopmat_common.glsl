// Pieces shared by the NV cooperative-matrix attention kernels
// (attention_coopmat.comp, attention_coopmat_wide.comp): accumulator element
// addressing, mask reads, 8-wide K/V/Q loads, and the online softmax of one
// key block in registers. Included after the kernel's bindings, constants
// (WG, CH, BC, NJ, MT, TAU) and specialization constants (LAYOUT).

#ifndef VKA_OUT_F32
#define VKA_OUT_F32 0  // 1: OUT is f32 (the split f32 kernel)
#endif

#define ACC fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define HALF fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>

const float LOG2E = 1.44269504088896341;
const float LN2 = 0.693147180559945309;

float mask_value(uint i) {
    if (P.mask_kind == VKA_MASK_F32) return uintBitsToFloat(MASK[i]);
    if (P.mask_kind == VKA_MASK_F16) {
        uint w = MASK[i >> 1];
        return unpackHalf2x16((i & 1u) != 0u ? (w >> 16) : (w & 0xffffu)).x;
    }
    uint w = MASK[i >> 2];
    return ((w >> ((i & 3u) * 8u)) & 0xffu) != 0u ? 0.0 : VKA_NEG_INF;
}

// Row (0..15) and column (0..15) of accumulator element i of this invocation.
uint elem_row(uint lane, uint i) {
    return (lane >> 2) + 8u * (LAYOUT == VKA_CM_LAYOUT_MMA ? ((i >> 1) & 1u) : ((i >> 2) & 1u));
}
uint elem_col(uint lane, uint i) {
    return 2u * (lane & 3u) + (i & 1u) + 8u * (LAYOUT == VKA_CM_LAYOUT_MMA ? (i >> 2) : ((i >> 1) & 1u));
}
// Which of the invocation's two rows element i belongs to.
uint elem_slot(uint i) { return LAYOUT == VKA_CM_LAYOUT_MMA ? ((i >> 1) & 1u) : ((i >> 2) & 1u); }

// NAME(fast, rbase, c, ncols, sd): 8 consecutive head-dim elements
// [c*8, c*8+8) of the row whose d = 0 element is `rbase`, zero past `ncols`.
// Fast: one 16-byte load from B8; else element gathers from B16 with d-stride sd.
#define VKA_DEFINE_LOAD8(NAME, B16, B8)                                                          \
    uvec4 NAME(bool fast, uint rbase, uint c, uint ncols, uint sd) {                             \
        uint d0 = c * 8u;                                                                        \
        if (d0 >= ncols) return uvec4(0u);                                                       \
        if (fast) return B8[(rbase + d0) >> 3];                                                  \
        uint h[8];                                                                               \
        [[unroll]] for (uint e = 0; e < 8u; ++e)                                                 \
            h[e] = d0 + e < ncols ? uint(B16[rbase + (d0 + e) * sd]) : 0u;                       \
        return uvec4(h[0] | (h[1] << 16), h[2] | (h[3] << 16), h[4] | (h[5] << 16), h[6] | (h[7] << 16)); \
    }
VKA_DEFINE_LOAD8(load_q, Q, Q8)
VKA_DEFINE_LOAD8(load_k, K, K8)
VKA_DEFINE_LOAD8(load_v, V, V8)

// NAME(u, kb, ke, fast, base): this invocation's chunk u of the K (or V) tile
// of keys [kb, kb + BC), 8 head-dim values of one key, zero past `ke`.
#define VKA_DEFINE_CHUNK(NAME, LOAD, SN, NCOLS, SD)                              \
    uvec4 NAME(uint u, uint kb, uint ke, bool fast, uint base) {                \
        const uint e = gl_LocalInvocationID.x + u * WG;                         \
        const uint r = e / CH, c = e % CH;                                      \
        uvec4 x = uvec4(0u);                                                    \
        if (e < BC * CH && kb + r < ke) x = LOAD(fast, base + (kb + r - pc.k0) * P.SN, c, P.NCOLS, P.SD); \
        return x;                                                               \
    }
VKA_DEFINE_CHUNK(k_chunk, load_k, k_sn, d, k_sd)
VKA_DEFINE_CHUNK(v_chunk, load_v, v_sn, dv, v_sd)

// Online softmax of one key block in registers (log2 domain): s becomes P,
// m and l move, alpha gets each row's rescale factor for O. Returns whether
// a reference maximum moved in a row of this invocation. row0: the
// workgroup's first row in the tile; rtile: this warp's first row (m-tile t
// starts at rtile + 16 t).
bool online_softmax(inout ACC s[MT][NJ], inout float m[MT][2], inout float l[MT][2], out float alpha[MT][2],
                    uint kb, uint ke, uint row0, uint rtile, uint lane, uint qrows, bool causal, bool has_mask,
                    uint mbase, float c2) {
    const bool edge = kb + BC > ke || has_mask || (causal && kb + BC - 1u > pc.q0 + row0);
    bool moved = false;
    [[unroll]] for (uint t = 0; t < MT; ++t) {
        const uint rt = rtile + t * 16u;  // first row of the m-tile, in the tile
        float mx[2] = {VKA_NEG_INF, VKA_NEG_INF};
        if (edge) {
            [[unroll]] for (uint j = 0; j < NJ; ++j)
                [[unroll]] for (uint i = 0; i < 8u; ++i) {
                    uint r = rt + elem_row(lane, i);
                    uint gj = kb + j * 16u + elem_col(lane, i);
                    bool keep = gj < ke && (!causal || gj <= pc.q0 + r);
                    precise float y = s[t][j][i] * c2;
                    if (keep && has_mask && r < qrows)
                        y = fma(mask_value(mbase + r * P.m_sn + (gj - pc.k0) * P.m_sd), LOG2E, y);
                    y = keep ? y : VKA_NEG_INF;
                    s[t][j][i] = y;
                    mx[elem_slot(i)] = max(mx[elem_slot(i)], y);
                }
        } else {
            // The scaled scores themselves, rounded (precise: no fusing into
            // the subtraction below): exp2 of an fma(s, c2, -max) would see
            // the product's rounding error, up to half an ulp of the maximum,
            // which for logits beyond 2^30 overflows exp2 (measured: inf,
            // then NaN rows, with f32 inputs x 3e5).
            [[unroll]] for (uint j = 0; j < NJ; ++j)
                [[unroll]] for (uint i = 0; i < 8u; ++i) {
                    precise float y = s[t][j][i] * c2;
                    s[t][j][i] = y;
                    mx[elem_slot(i)] = max(mx[elem_slot(i)], y);
                }
        }
        float mu[2];
        [[unroll]] for (uint q = 0; q < 2u; ++q) {
            float x = max(mx[q], subgroupShuffleXor(mx[q], 1u));
            x = max(x, subgroupShuffleXor(x, 2u));
            // m is the reference maximum P is taken against; it moves
            // when the row maximum passes it by more than TAU.
            const float mo = m[t][q];
            const bool up = mo == VKA_NEG_INF ? x > mo : x > mo + float(TAU);
            const float mn = up ? x : mo;
            moved = moved || (up && mo != VKA_NEG_INF);  // O is still 0 otherwise
            mu[q] = mn == VKA_NEG_INF ? 0.0 : mn;
            alpha[t][q] = up ? exp2(mo - mu[q]) : 1.0;
            m[t][q] = mn;
        }
        float sum[2] = {0.0, 0.0};
        [[unroll]] for (uint j = 0; j < NJ; ++j)
            [[unroll]] for (uint i = 0; i < 8u; ++i) {
                uint q = elem_slot(i);
                float p = exp2(s[t][j][i] - mu[q]);
                s[t][j][i] = p;
                sum[q] += p;
            }
        [[unroll]] for (uint q = 0; q < 2u; ++q) l[t][q] = fma(l[t][q], alpha[t][q], sum[q]);
    }
    return moved;
}

// One output element of row `row` (in the tile), column `col`: the f32 partial
// of this split-KV part, or the result (f16, or f32 with VKA_OUT_F32).
void store_out(uint row, uint col, float x, bool partials, uint bh, uint bl, uint hl) {
    if (partials) {
        uint cell = ((pc.part0 + gl_WorkGroupID.z) * pc.tile_bh + bh) * pc.tile_q + row;
        WS[cell * P.dv + col] = x;
    } else {
#if VKA_OUT_F32
        OUT[pc.o_org + bl * P.o_sb + hl * P.o_sh + row * P.o_sn + col * P.o_sd] = x;
#else
        OUT[pc.o_org + bl * P.o_sb + hl * P.o_sh + row * P.o_sn + col * P.o_sd] = uint16_t(f32_to_f16_bits(x));
#endif
    }
}

// Row statistics of the m-tile whose first row is rt, written by the
// invocations with lane % 4 == 0 (rows rt + lane / 4 and rt + lane / 4 + 8):
// the split-KV part's max and sum, or the log-sum-exp. m in log2 units, lt
// the row sums.
void store_row_stats(float mrow[2], float lt[2], uint rt, uint lane, uint qrows, bool partials, bool want_lse,
                     uint bh, uint bl, uint hl) {
    if ((lane & 3u) != 0u) return;
    [[unroll]] for (uint q = 0; q < 2u; ++q) {
        uint row = rt + (lane >> 2) + 8u * q;
        float mn = mrow[q] * LN2;  // natural-log units, as the portable kernel
        if (row < qrows && partials) {
            uint cell = ((pc.part0 + gl_WorkGroupID.z) * pc.tile_bh + bh) * pc.tile_q + row;
            uint mlb = pc.n_parts * pc.tile_bh * pc.tile_q * P.dv;
            WS[mlb + 2u * cell] = mn;
            WS[mlb + 2u * cell + 1u] = lt[q];
        } else if (row < qrows && want_lse) {
            LSE[pc.l_org + bl * P.l_sb + hl * P.l_sh + row * P.l_sn] =
                lt[q] > 0.0 ? mn + log_ge1(lt[q]) : (lt[q] == 0.0 ? VKA_NEG_INF : lt[q]);
        }
    }
}

// Each row's sum over the 4 invocations that share it (fixed order), and its
// reciprocal (0 for an empty row).
void row_totals(float lrow[2], out float lt[2], out float inv[2]) {
    [[unroll]] for (uint q = 0; q < 2u; ++q) {
        float x = lrow[q] + subgroupShuffleXor(lrow[q], 1u);
        x += subgroupShuffleXor(x, 2u);
        lt[q] = x;
        inv[q] = x > 0.0 ? recip_refined(x) : 0.0;
    }
}
