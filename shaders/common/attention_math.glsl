// Numerics shared by the attention shaders: an exp() and log() accurate to
// about 1 ulp (GLSL's are allowed 3+ ulp on Vulkan, and vary by driver), and
// round-to-nearest-even conversions to f16/bf16 bits (OpFConvert's rounding
// mode is implementation-defined).
#ifndef VKATTN_ATTENTION_MATH_GLSL
#define VKATTN_ATTENTION_MATH_GLSL

#define VKA_NEG_INF uintBitsToFloat(0xff800000u)

// exp(x) for x <= 0 (or -inf). Results below 2^-125 are returned as 0: every
// softmax weight here is relative to a row maximum of weight 1, so they are
// far below f32 resolution of the sums they join. NaN gives NaN (a NaN or
// +inf logit makes its row NaN, as in the reference and PyTorch).
float exp_nonpos(float x) {
    if (x < -86.5) return 0.0;  // also -inf; NaN goes on and stays NaN
    float n = roundEven(x * 1.44269504088896341);
    // Cody-Waite: LN2_HI has 12 trailing zero bits, so n * LN2_HI is exact.
    float r = (x - n * 0.693145751953125) - n * 1.42860682030941723212e-6;
    // Taylor to degree 7 on |r| <= 0.347: truncation < 6e-9 relative.
    float p = 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    return p * uintBitsToFloat(uint(int(n) + 127) << 23);
}

// Natural log of x >= 1 (a softmax denominator).
float log_ge1(float x) {
    uint bits = floatBitsToUint(x);
    int e = int(bits >> 23) - 127;
    float f = uintBitsToFloat((bits & 0x007fffffu) | 0x3f800000u);  // [1, 2)
    if (f > 1.41421356) { f *= 0.5; e += 1; }
    float s = (f - 1.0) / (f + 1.0);  // |s| <= 0.1716
    float s2 = s * s;
    float t = 1.0 / 11.0;
    t = t * s2 + 1.0 / 9.0;
    t = t * s2 + 1.0 / 7.0;
    t = t * s2 + 1.0 / 5.0;
    t = t * s2 + 1.0 / 3.0;
    t = t * s2 + 1.0;
    return float(e) * 0.693147180559945309 + 2.0 * s * t;
}

// 1/x refined by one Newton step (division is 2.5 ulp on Vulkan).
float recip_refined(float x) {
    float r = 1.0 / x;
    float e = fma(-x, r, 1.0);
    return fma(r, e, r);
}

uint f32_to_f16_bits(float f) {
    uint x = floatBitsToUint(f);
    uint sign = (x >> 16) & 0x8000u;
    uint ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return sign | (ax > 0x7f800000u ? 0x7e00u : 0x7c00u);
    if (ax >= 0x477ff000u) return sign | 0x7c00u;  // rounds to infinity
    if (ax < 0x38800000u) {                          // f16 subnormal range
        if (ax <= 0x33000000u) return sign;          // <= 2^-25: ties to even 0
        uint e = ax >> 23;
        uint m = (ax & 0x007fffffu) | 0x00800000u;
        uint shift = 126u - e;
        uint r = m >> shift;
        uint rem = m & ((1u << shift) - 1u);
        uint half_ = 1u << (shift - 1u);
        if (rem > half_ || (rem == half_ && (r & 1u) != 0u)) r += 1u;
        return sign | r;
    }
    uint r = ax - 0x38000000u;
    r = (r + 0x0fffu + ((r >> 13) & 1u)) >> 13;
    return sign | r;
}

uint f32_to_bf16_bits(float f) {
    uint x = floatBitsToUint(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return ((x >> 16) & 0x8000u) | 0x7fc0u;
    return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
}

#endif
