#version 450
// Split-KV reduction: merges the unnormalised partials (O_p, m_p, l_p) of one
// dispatch tile in a fixed order and writes out (and lse). One workgroup per
// (query row, batch x head) of the tile; threads stride over Dv.
//   M = max_p m_p, L = sum_p l_p exp(m_p - M), out = sum_p O_p exp(m_p - M) / L
// Define OUT_DTYPE (0 f32, 1 f16, 2 bf16).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_16bit_storage : require
#include "attention_params.h"
#include "attention_math.glsl"

#ifndef OUT_DTYPE
#define OUT_DTYPE 0
#endif

layout(local_size_x_id = 0) in;

layout(set = 0, binding = 0, std140) uniform Params { AttnParams P; };
layout(set = 0, binding = 1, std430) readonly buffer Wb { float WS[]; };
#if OUT_DTYPE == 0
layout(set = 0, binding = 2, std430) writeonly buffer Ob { float OUT[]; };
#else
layout(set = 0, binding = 2, std430) writeonly buffer Ob { uint16_t OUT[]; };
#endif
layout(set = 0, binding = 3, std430) writeonly buffer Lb { float LSE[]; };
layout(push_constant) uniform Push { AttnPush pc; };

void main() {
    const uint row = gl_WorkGroupID.x;
    const uint bh = gl_WorkGroupID.y;
    const uint hl = bh % pc.tile_h, bl = bh / pc.tile_h;
    const uint cells = pc.tile_bh * pc.tile_q;
    const uint cell = bh * pc.tile_q + row;
    const uint mlb = pc.n_parts * cells * P.dv;

    float M = VKA_NEG_INF;
    for (uint p = 0; p < pc.n_parts; ++p) M = max(M, WS[mlb + 2u * (p * cells + cell)]);
    float L = 0.0;
    for (uint p = 0; p < pc.n_parts; ++p) {
        uint i = mlb + 2u * (p * cells + cell);
        // With M = -inf every part is empty (sum 0) or had only NaN logits
        // (sum NaN, max -inf): the row is zeros, or NaN.
        L += M != VKA_NEG_INF ? WS[i + 1u] * exp_nonpos(WS[i] - M) : WS[i + 1u];
    }
    float inv = L > 0.0 ? recip_refined(L) : 0.0;
    const uint obase = pc.o_org + bl * P.o_sb + hl * P.o_sh + row * P.o_sn;
    for (uint c = gl_LocalInvocationID.x; c < P.dv; c += gl_WorkGroupSize.x) {
        float acc = 0.0;
        if (!(L <= 0.0))  // a NaN sum (NaN or +inf logits) makes the row NaN
            for (uint p = 0; p < pc.n_parts; ++p) {
                float w = exp_nonpos(WS[mlb + 2u * (p * cells + cell)] - M);
                acc = fma(WS[(p * cells + cell) * P.dv + c], w, acc);
            }
        float x = acc * inv;
#if OUT_DTYPE == 0
        OUT[obase + c * P.o_sd] = x;
#elif OUT_DTYPE == 1
        OUT[obase + c * P.o_sd] = uint16_t(f32_to_f16_bits(x));
#else
        OUT[obase + c * P.o_sd] = uint16_t(f32_to_bf16_bits(x));
#endif
    }
    if (gl_LocalInvocationID.x == 0u && (P.flags & VKA_ATTN_LSE) != 0u)
        LSE[pc.l_org + bl * P.l_sb + hl * P.l_sh + row * P.l_sn] = L > 0.0 ? M + log_ge1(L) : (L == 0.0 ? VKA_NEG_INF : L);
}
