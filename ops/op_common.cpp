// Shared checks and windows of the ops (op_common.h).
#include "op_common.h"

#include <algorithm>

namespace vkattn::ops {

const char *dtype_name(vkattn_dtype t) {
    switch (t) {
        case VKATTN_DTYPE_F32: return "F32";
        case VKATTN_DTYPE_F16: return "F16";
        case VKATTN_DTYPE_BF16: return "BF16";
        case VKATTN_DTYPE_BOOL: return "BOOL";
        default: return "unknown";
    }
}

const char *dtype_tag(vkattn_dtype t) {
    return t == VKATTN_DTYPE_F32 ? "f32" : t == VKATTN_DTYPE_F16 ? "f16" : "bf16";
}

bool is_float_dtype(vkattn_dtype t) {
    return t == VKATTN_DTYPE_F32 || t == VKATTN_DTYPE_F16 || t == VKATTN_DTYPE_BF16;
}

Status view_last(const vkattn_view &v, const char *name, int64_t *last) {
    int64_t acc = v.offset;
    for (int i = 0; i < 4; i++) {
        int64_t t;
        if (__builtin_mul_overflow(v.shape[i] - 1, v.strides[i], &t) || __builtin_add_overflow(acc, t, &acc))
            return Error(VKATTN_ERROR_SIZE_OVERFLOW, "desc->", name, " reaches past 2^63 elements (offset ", v.offset,
                         ", shape[", i, "] = ", v.shape[i], ", strides[", i, "] = ", v.strides[i], ")");
    }
    *last = acc;
    return Status::Ok();
}

Status check_view(const vkattn_view &v, const char *name, uint64_t elem_size, bool writes) {
    for (int i = 0; i < 4; i++) {
        if (v.shape[i] < 1)
            return Error(VKATTN_ERROR_INVALID_SHAPE, "desc->", name, ".shape[", i, "] = ", v.shape[i], " must be >= 1");
        if (v.shape[i] > kMaxViewDim)
            return Error(VKATTN_ERROR_SIZE_OVERFLOW, "desc->", name, ".shape[", i, "] = ", v.shape[i],
                         " exceeds 2^31 - 1");
        if (v.strides[i] < 0)
            return Error(VKATTN_ERROR_INVALID_ARGUMENT, "desc->", name, ".strides[", i, "] = ", v.strides[i],
                         " must be >= 0");
        if (writes && v.strides[i] == 0 && v.shape[i] > 1)
            return Error(VKATTN_ERROR_INVALID_ARGUMENT, "desc->", name, ".strides[", i,
                         "] = 0 would write several results to one element");
    }
    if (v.offset < 0)
        return Error(VKATTN_ERROR_INVALID_ARGUMENT, "desc->", name, ".offset = ", v.offset, " must be >= 0");
    int64_t last = 0;
    VKA_RETURN_IF_ERROR(view_last(v, name, &last));
    int64_t bytes;
    if (__builtin_mul_overflow(last + 1, static_cast<int64_t>(elem_size), &bytes))
        return Error(VKATTN_ERROR_SIZE_OVERFLOW, "desc->", name, " reaches byte ", last, " * ", elem_size,
                     ", past 2^63");
    return Status::Ok();
}

Status expect_dim(const vkattn_view &v, const char *name, int i, int64_t want, const char *what, const char *ref) {
    if (v.shape[i] != want)
        return Error(VKATTN_ERROR_SHAPE_MISMATCH, "desc->", name, ".shape[", i, "] = ", v.shape[i], " but ", what,
                     " = ", want, " (from ", ref, ")");
    return Status::Ok();
}

Status check_tensor_view(Context &ctx, Tensor *t, const char *name, vkattn_dtype want, const char *want_from,
                         const vkattn_view &v) {
    if (!t) return Error(VKATTN_ERROR_NULL_POINTER, "tensor ", name, " is NULL");
    if (t->magic != kTensorMagic)
        return Error(VKATTN_ERROR_INVALID_ARGUMENT, "tensor ", name, " is not a live vkattn tensor");
    if (t->ctx != &ctx) return Error(VKATTN_ERROR_WRONG_CONTEXT, "tensor ", name, " belongs to another context");
    if (t->dtype != want)
        return Error(VKATTN_ERROR_INVALID_DTYPE, "tensor ", name, " is ", dtype_name(t->dtype), " but ", want_from,
                     " is ", dtype_name(want));
    int64_t last = v.offset;
    for (int i = 0; i < 4; i++) last += (v.shape[i] - 1) * v.strides[i];  // checked by check_view: no overflow
    if (static_cast<uint64_t>(last) >= t->elements)
        return Error(VKATTN_ERROR_OUT_OF_BOUNDS, "desc->", name, " reaches element ", last, " but tensor ", name,
                     " has ", t->elements, " elements");
    return Status::Ok();
}

void view_bytes(const vkattn_view &v, uint64_t elem_size, uint64_t *lo, uint64_t *hi) {
    int64_t last = v.offset;
    for (int i = 0; i < 4; i++) last += (v.shape[i] - 1) * v.strides[i];
    *lo = static_cast<uint64_t>(v.offset) * elem_size;
    *hi = static_cast<uint64_t>(last + 1) * elem_size - 1;
}

Window window(const vkattn_view &v, const int64_t strides[4], const int64_t start[4], const int64_t ext[4],
              uint64_t elem_size, uint64_t buf_size, uint64_t align) {
    int64_t first = v.offset;
    for (int i = 0; i < 4; i++) first += start[i] * strides[i];
    int64_t last = first;
    for (int i = 0; i < 4; i++) last += (ext[i] - 1) * strides[i];
    const uint64_t sb = static_cast<uint64_t>(first) * elem_size, eb = static_cast<uint64_t>(last + 1) * elem_size;
    Window w;
    w.offset = sb / align * align;
    const uint64_t end = std::min(round_up(eb, 4), round_up(buf_size, 4));
    w.range = end - w.offset;
    w.org = static_cast<uint32_t>((sb - w.offset) / elem_size);
    return w;
}

uint64_t window_need(const int64_t strides[4], const int64_t ext[4], uint64_t elem_size, uint64_t align) {
    uint64_t span = 1;
    for (int i = 0; i < 4; i++) span += static_cast<uint64_t>(ext[i] - 1) * static_cast<uint64_t>(strides[i]);
    return span * elem_size + align + 4;
}

}  // namespace vkattn::ops
