// f32 attention on f16 matrix units (ops/attention_split.cpp): the layout of
// the split copies and the push constants of attention_split.comp, shared by
// GLSL and C++.
//
// Each f32 element x of q, k and v is scaled by 2^e (e per (batch, head) and
// tensor, from the largest finite |x| there: vka_split_exp) and written as
// two f16 values, hi = f16(x 2^e) and lo = f16((x 2^e - hi) 2^11), both
// rounded to nearest even. hi + lo 2^-11 equals x 2^e within 2^-22
// relatively (22 of f32's 24 significant bits; within 2^-35 absolutely below
// the f16 normal range, far under the head's largest value). Products of
// pairs, hi.hi + 2^-11 (hi.lo + lo.hi), drop lo.lo (2^-24 of the product).
//
// Split copy of a tensor with H heads, N rows and bucket HD (a multiple of
// 16): dense rows of HD uints, row n of head bh at uint bh * N * HD + n * HD:
// the HD halves of hi, then the HD halves of lo, zero past the head dim.
// The exponent table (one uint per (batch, head): the largest finite |x| as
// f32 bits, 0 when none) follows the q copy: [q heads][k heads][v heads].
#ifndef VKATTN_ATTENTION_SPLIT_PARAMS_H
#define VKATTN_ATTENTION_SPLIT_PARAMS_H
#ifdef __cplusplus
#include <cstdint>
namespace vkattn {
typedef uint32_t uint;
#define VKA_SPLIT_FN inline
#else
#define VKA_SPLIT_FN
#endif

#define VKA_SPLIT_MAX 0u      // mode: the table entry of each head gets max |x|
#define VKA_SPLIT_CONVERT 1u  // mode: hi and lo rows from x and the table
#define VKA_SPLIT_LOCAL 256u  // attention_split.comp local size

// The exponent e of a head whose largest finite |x| has f32 bits m: that
// |x| 2^e lies in [2^14, 2^15) (f16 holds up to 65504). Heads whose largest
// value is an f32 subnormal get 126, so that 2^e is a normal f32 number
// (their pairs then hold less than 22 bits, all far below f32 resolution of
// any sum they join).
VKA_SPLIT_FN int vka_split_exp(uint m) {
    if (m == 0u) return 0;
    int k = 14 - (int(m >> 23u) - 127);
    return k > 126 ? 126 : k;
}

struct SplitPush {
    uint src_org;                 // element index of (0, 0, 0, 0) in the bound source window
    uint s_sb, s_sh, s_sn, s_sd;  // source strides in elements (mod 2^32)
    uint heads;                   // H: the table and copy index of (b, h) is b * H + h
    uint n, d, hd;                // rows, head dim, bucket
    uint dst_org;                 // uint index of the copy in the bound destination
    uint tab_org;                 // uint index of this tensor's first table entry
    uint mode;                    // VKA_SPLIT_*
};

#ifdef __cplusplus
static_assert(sizeof(SplitPush) == 48, "SplitPush layout");
}  // namespace vkattn
#endif
#endif
