#version 450
// f32 q, k or v split into scaled f16 pairs for the matrix-unit attention
// kernel (layout and rounding: common/attention_split_params.h). Two passes
// over one tensor, one workgroup row (gl_WorkGroupID.y) per (batch, head):
//   VKA_SPLIT_MAX:     the table entry of the head = max over its finite |x|
//                      (f32 bits, which order like the values; the entry is
//                      zeroed before), a workgroup maximum then one atomic;
//   VKA_SPLIT_CONVERT: hi and lo of every element, zeros past the head dim.
// inf and NaN keep hi = inf / NaN and lo = 0; the kernel then uses the hi
// products alone wherever they are not finite (no inf * 0 from the lo terms),
// so non-finite inputs give the results of the portable path (tested). Rounding is done on the bits (round to
// nearest even on every device).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_memory_scope_semantics : require
#include "attention_split_params.h"
#include "attention_math.glsl"

layout(local_size_x = VKA_SPLIT_LOCAL) in;
layout(set = 0, binding = 0, std430) readonly buffer Src { float SRC[]; };
layout(set = 0, binding = 1, std430) writeonly buffer Dst { uint DST[]; };
layout(set = 0, binding = 2, std430) buffer Tab { uint TAB[]; };
layout(push_constant) uniform Push { SplitPush p; };

shared uint s_max;

float src_at(uint bh, uint row, uint col) {
    const uint b = bh / p.heads, h = bh % p.heads;
    return SRC[p.src_org + b * p.s_sb + h * p.s_sh + row * p.s_sn + col * p.s_sd];
}

void main() {
    const uint bh = gl_WorkGroupID.y;
    const uint half_hd = p.hd / 2u;
    const uint pairs = p.n * half_hd;
    const uint stride = gl_NumWorkGroups.x * VKA_SPLIT_LOCAL;
    if (p.mode == VKA_SPLIT_MAX) {
        if (gl_LocalInvocationID.x == 0u) s_max = 0u;
        barrier();
        uint m = 0u;
        for (uint i = gl_GlobalInvocationID.x; i < pairs; i += stride) {
            const uint row = i / half_hd, col = 2u * (i % half_hd);
            [[unroll]] for (uint e = 0; e < 2u; ++e)
                if (col + e < p.d) {
                    const uint a = floatBitsToUint(src_at(bh, row, col + e)) & 0x7fffffffu;
                    if (a < 0x7f800000u) m = max(m, a);  // finite only
                }
        }
        atomicMax(s_max, m, gl_ScopeWorkgroup, gl_StorageSemanticsNone, gl_SemanticsRelaxed);
        barrier();
        // Queue-family scope: devices with the memory model but without its
        // device scope (lavapipe) allow no Device-scope atomics.
        if (gl_LocalInvocationID.x == 0u && s_max != 0u)
            atomicMax(TAB[p.tab_org + bh], s_max, gl_ScopeQueueFamily, gl_StorageSemanticsNone, gl_SemanticsRelaxed);
        return;
    }
    const int k = vka_split_exp(TAB[p.tab_org + bh]);
    const float scale = uintBitsToFloat(uint(k + 127) << 23);  // 2^k, exact
    for (uint i = gl_GlobalInvocationID.x; i < pairs; i += stride) {
        const uint row = i / half_hd, col = 2u * (i % half_hd);
        uint hi[2], lo[2];
        [[unroll]] for (uint e = 0; e < 2u; ++e) {
            const float y = col + e < p.d ? src_at(bh, row, col + e) * scale : 0.0;
            hi[e] = f32_to_f16_bits(y);
            const bool finite = (floatBitsToUint(y) & 0x7fffffffu) < 0x7f800000u;
            // y - hi is exact (hi is y rounded to 11 bits); times 2^11 exact.
            lo[e] = finite ? f32_to_f16_bits((y - unpackHalf2x16(hi[e]).x) * 2048.0) : 0u;
        }
        const uint at = p.dst_org + (bh * p.n + row) * p.hd + col / 2u;
        DST[at] = hi[0] | (hi[1] << 16);
        DST[at + half_hd] = lo[0] | (lo[1] << 16);
    }
}
