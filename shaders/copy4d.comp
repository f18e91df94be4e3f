#version 450
// Strided 4-D copy of one element per invocation, with the conversions that
// host calls need. It reads or writes caller memory imported with
// VK_EXT_external_memory_host (attention on host arrays), so the CPU never
// touches the data.
//
// CVT 0: 32-bit elements copied as they are; 1: 16-bit elements as they are;
// 2: f32 -> f16, rounded to nearest even on the bits (every device rounds
//    alike, and like the CPU's half_convert); a finite value that rounds
//    beyond the f16 range becomes inf and sets flag[0];
// 3: f16 -> f32 (exact).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_16bit_storage : require
#include "copy4d_params.h"

#ifndef CVT
#define CVT 0
#endif

layout(local_size_x = 256) in;
#if CVT == 0 || CVT == 2
layout(set = 0, binding = 0, std430) readonly buffer Src { uint src[]; };
#else
layout(set = 0, binding = 0, std430) readonly buffer Src { uint16_t src[]; };
#endif
#if CVT == 0 || CVT == 3
layout(set = 0, binding = 1, std430) writeonly buffer Dst { uint dst[]; };
#else
layout(set = 0, binding = 1, std430) writeonly buffer Dst { uint16_t dst[]; };
#endif
layout(set = 0, binding = 2, std430) buffer Flag { uint flag[]; };
layout(push_constant) uniform Push { Copy4dPush p; };

// f32 bits -> f16 bits, round to nearest even. `over` is set when a finite
// value rounds to infinity.
uint f32_to_f16(uint x, inout bool over) {
    const uint sign = (x >> 16) & 0x8000u;
    const uint a = x & 0x7fffffffu;
    if (a >= 0x7f800000u)  // inf stays inf; NaN stays a quiet NaN with its top payload bits
        return sign | 0x7c00u | (a > 0x7f800000u ? 0x200u | ((a >> 13) & 0x3ffu) : 0u);
    if (a >= 0x477ff000u) {  // >= 65520: rounds to inf
        over = true;
        return sign | 0x7c00u;
    }
    if (a >= 0x38800000u) {  // normal in f16: rebias the exponent by 127 - 15
        const uint m = a - 0x38000000u;
        return sign | ((m + 0x0fffu + ((m >> 13) & 1u)) >> 13);
    }
    if (a < 0x33000000u) return sign;  // below half the smallest subnormal
    // Subnormal: the value in units of 2^-24 is mant * 2^(e - 126), shift 14..24.
    const uint e = a >> 23;
    const uint mant = (a & 0x7fffffu) | 0x800000u;
    const uint shift = 126u - e;
    uint q = mant >> shift;
    const uint rem = mant & ((1u << shift) - 1u), half_ = 1u << (shift - 1u);
    if (rem > half_ || (rem == half_ && (q & 1u) != 0u)) q++;
    return sign | q;
}

// f16 bits -> f32 bits, exact.
uint f16_to_f32(uint h) {
    const uint sign = (h & 0x8000u) << 16;
    const uint e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1fu) return sign | 0x7f800000u | (m << 13);
    if (e != 0u) return sign | ((e + 112u) << 23) | (m << 13);
    return sign | floatBitsToUint(float(m) * 5.9604644775390625e-8);  // m * 2^-24, exact
}

void main() {
    const uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * p.row_span;
    if (i >= p.count) return;
    uint t = i;
    const uint i3 = t % p.ext[3];
    t /= p.ext[3];
    const uint i2 = t % p.ext[2];
    t /= p.ext[2];
    const uint i1 = t % p.ext[1];
    const uint i0 = t / p.ext[1];
    const uint s = p.src_offset + i0 * p.src_stride[0] + i1 * p.src_stride[1] + i2 * p.src_stride[2] +
                   i3 * p.src_stride[3];
    const uint d = p.dst_offset + i0 * p.dst_stride[0] + i1 * p.dst_stride[1] + i2 * p.dst_stride[2] +
                   i3 * p.dst_stride[3];
#if CVT == 2
    bool over = false;
    dst[d] = uint16_t(f32_to_f16(src[s], over));
    if (over) flag[0] = 1u;
#elif CVT == 3
    dst[d] = f16_to_f32(uint(src[s]));
#else
    dst[d] = src[s];
#endif
}
