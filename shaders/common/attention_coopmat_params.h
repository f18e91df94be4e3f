// Shared by attention_coopmat*.comp and ops/attention_coopmat.cpp.
#ifndef VKATTN_ATTENTION_COOPMAT_PARAMS_H
#define VKATTN_ATTENTION_COOPMAT_PARAMS_H

// Accumulator layouts (16x16 f32, 32 invocations, 8 elements each) that the
// kernel can address in registers. The probe decides which one a device has.
// Both: row = lane / 4 + 8 * slot(i), col = 2 * (lane % 4) + (i % 2) + 8 * half(i).
#define VKA_CM_LAYOUT_NONE 0u
#define VKA_CM_LAYOUT_MMA 1u  // slot(i) = (i >> 1) & 1, half(i) = i >> 2  (NVIDIA mma.m16n8k16)
#define VKA_CM_LAYOUT_ALT 2u  // slot(i) = i >> 2,        half(i) = (i >> 1) & 1

// Probe buffer layout (floats): in [0, 256) the matrix with value r * 16 + c,
// [256, 512) the identity. Out: [0, 256) element i of invocation l at l * 8 + i,
// [256] length(), [512, 768) conv(M) * I stored row-major (f32).
#define VKA_CM_PROBE_IN 512u
#define VKA_CM_PROBE_OUT 1024u

#endif
