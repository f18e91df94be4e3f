// Push constants of copy4d.comp, shared by GLSL and C++.
#ifndef VKATTN_COPY4D_PARAMS_H
#define VKATTN_COPY4D_PARAMS_H
#ifdef __cplusplus
#include <cstdint>
namespace vkattn {
typedef uint32_t uint;
#endif

// Element (i0, i1, i2, i3) of the box ext[] is read at
// src_offset + sum(i * src_stride) and written at dst_offset + sum(i *
// dst_stride), in elements of the bound windows. The host keeps every
// address below 2^32.
struct Copy4dPush {
    uint ext[4];
    uint src_stride[4];
    uint dst_stride[4];
    uint src_offset;
    uint dst_offset;
    uint count;     // ext[0] * ext[1] * ext[2] * ext[3]
    uint row_span;  // invocations per row of the dispatch grid (groups_x * local size)
};

#ifdef __cplusplus
static_assert(sizeof(Copy4dPush) == 64, "Copy4dPush layout");
}  // namespace vkattn
#endif
#endif
