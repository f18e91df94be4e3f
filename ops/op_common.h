// What every op needs before it records a dispatch, and nothing
// op-specific: dtype names, checks of the C ABI's 4-D views (with the
// descriptor field named in every message), checks of a device tensor
// against the view that reads it, and the binding windows that let one
// dispatch see part of a tensor larger than the device's storage-buffer
// range. Attention uses it today; GroupNorm, conv2d and Taylor attention
// use it next.
#pragma once

#include <cstdint>

#include "arith.h"
#include "context.h"
#include "status.h"
#include "tensor.h"
#include "vkattn.h"

namespace vkattn::ops {

// The largest extent of one view dimension (shaders index with 32 bits).
constexpr int64_t kMaxViewDim = INT32_MAX;

// "F32", "F16", "BF16", "BOOL" (messages), or "unknown".
const char *dtype_name(vkattn_dtype t);
// "f32", "f16", "bf16" (variant and shader names).
const char *dtype_tag(vkattn_dtype t);
// f32, f16 or bf16.
bool is_float_dtype(vkattn_dtype t);

// Highest element index a view reaches (offset included), with overflow
// checks. `name` is the descriptor field ("q" -> "desc->q ...").
Status view_last(const vkattn_view &v, const char *name, int64_t *last);

// A view on its own: every extent in [1, kMaxViewDim], strides and offset
// >= 0, no stride 0 along an extent > 1 when the op writes through it, and
// its last byte addressable in 63 bits.
Status check_view(const vkattn_view &v, const char *name, uint64_t elem_size, bool writes);

// desc->name.shape[i] must equal `want`, which is `what` taken from `ref`.
Status expect_dim(const vkattn_view &v, const char *name, int i, int64_t want, const char *what, const char *ref);

// A device tensor bound to a (checked) view: live, of this context, of the
// dtype `want` (which `want_from` dictates), and holding every element the
// view reaches.
Status check_tensor_view(Context &ctx, Tensor *t, const char *name, vkattn_dtype want, const char *want_from,
                         const vkattn_view &v);

// The byte interval [*lo, *hi] a (checked) view touches.
void view_bytes(const vkattn_view &v, uint64_t elem_size, uint64_t *lo, uint64_t *hi);

// One storage-buffer binding of a dispatch tile: the byte window bound and
// the window-relative element index of the tile's first element.
struct Window {
    uint64_t offset = 0, range = 0;
    uint32_t org = 0;
};

// The window covering the box start[] + [0, ext[]) of view v read with
// `strides` (which may differ from v's: 0 along broadcast dims), its start
// aligned down to `align`, its end rounded up to 4 bytes and clamped to the
// buffer's (buf_size) end.
Window window(const vkattn_view &v, const int64_t strides[4], const int64_t start[4], const int64_t ext[4],
              uint64_t elem_size, uint64_t buf_size, uint64_t align);

// The bytes a window of a box of extents ext[] needs at worst alignment.
uint64_t window_need(const int64_t strides[4], const int64_t ext[4], uint64_t elem_size, uint64_t align);

}  // namespace vkattn::ops
