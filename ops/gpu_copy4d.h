// Strided 4-D copies on the GPU (copy4d.comp): between imported caller
// memory and dense device buffers, with f32 <-> f16 conversion.
#pragma once

#include <cstdint>

#include "context.h"

namespace vkattn::ops {

enum class GpuCopy : uint8_t {
    U32,       // 4-byte elements as they are
    U16,       // 2-byte elements as they are
    F32ToF16,  // round to nearest even; a finite value beyond f16 sets flag[0] = 1
    F16ToF32,  // exact
};

// True if a box `ext` at these strides and element offsets addresses only
// elements below 2^32 of its buffers (the shader's addresses are 32-bit)
// and both buffers fit in one binding.
bool gpu_copy4d_fits(Context &ctx, const Buffer &src, uint64_t src_offset, const int64_t src_strides[4],
                     const Buffer &dst, uint64_t dst_offset, const int64_t dst_strides[4], const int64_t ext[4]);

// Records into ctx.stream() (begun): dst[dst_offset + sum(i * dst_strides)] =
// convert(src[src_offset + sum(i * src_strides)]) for every i in the box
// `ext`. Offsets and strides are in elements of the respective dtypes.
// `flag` (>= 4 bytes) is bound for F32ToF16; any buffer for the others.
// Call gpu_copy4d_fits first.
Status record_gpu_copy4d(Context &ctx, GpuCopy kind, Buffer *src, uint64_t src_offset, const int64_t src_strides[4],
                         Buffer *dst, uint64_t dst_offset, const int64_t dst_strides[4], const int64_t ext[4],
                         Buffer *flag, uint32_t *dispatches);

}  // namespace vkattn::ops
