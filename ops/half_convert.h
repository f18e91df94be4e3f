// f32 <-> f16 conversion of strided rows on the CPU, for the host attention
// path's f16-compute mode (VKATTN_ATTENTION_F16_COMPUTE). Round to nearest
// even, like the GPU's conversions; F16C instructions where the CPU has them,
// with streaming stores on long runs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vkattn::ops {

uint16_t f32_to_f16_bits(float f);
float f16_bits_to_f32(uint16_t h);

// n elements from src (stride ss elements) to dst (stride ds elements).
// Returns false when a finite input was too large for f16 (it became inf).
bool f32_to_f16_row(const float *src, int64_t ss, uint16_t *dst, int64_t ds, int64_t n);
void f16_to_f32_row(const uint16_t *src, int64_t ss, float *dst, int64_t ds, int64_t n);
// memcpy for the host path's bulk copies. Long contiguous runs (rows of a
// contiguous box merged) use streaming stores there, as the conversions do:
// the destination is read next by the GPU's copy engine or by the caller,
// from memory, so reading it into the cache first only costs bandwidth.
void copy_bytes(void *dst, const void *src, size_t bytes);

}  // namespace vkattn::ops
