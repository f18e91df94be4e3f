#include "tensor.h"

#include <new>

namespace vkattn {

Status check_shape(vkattn_dtype dtype, int32_t ndim, const int64_t *shape, const char *what, uint64_t *elements,
                   uint64_t *bytes) {
    const size_t es = vkattn_dtype_size(dtype);
    if (!es) return Error(VKATTN_ERROR_INVALID_DTYPE, "dtype = ", static_cast<int>(dtype), " is not a vkattn_dtype");
    if (ndim < 1 || ndim > VKATTN_MAX_DIMS)
        return Error(VKATTN_ERROR_INVALID_SHAPE, "ndim = ", ndim, " is outside 1..", VKATTN_MAX_DIMS);
    if (!shape) return Error(VKATTN_ERROR_NULL_POINTER, what, " is NULL");
    uint64_t n = 1;
    for (int32_t d = 0; d < ndim; d++) {
        if (shape[d] < 1)
            return Error(VKATTN_ERROR_INVALID_SHAPE, what, "[", d, "] = ", shape[d], " (dimensions must be >= 1)");
        if (n > UINT64_MAX / static_cast<uint64_t>(shape[d]))
            return Error(VKATTN_ERROR_SIZE_OVERFLOW, what, ": the element count overflows 64 bits at dimension ", d);
        n *= static_cast<uint64_t>(shape[d]);
    }
    if (n > UINT64_MAX / es) return Error(VKATTN_ERROR_SIZE_OVERFLOW, what, ": the byte size overflows 64 bits");
    *elements = n;
    *bytes = n * es;
    return Status::Ok();
}

Status tensor_create(Context &ctx, vkattn_dtype dtype, int32_t ndim, const int64_t *shape,
                     std::unique_ptr<Tensor> *out) {
    uint64_t n = 0, bytes = 0;
    VKA_RETURN_IF_ERROR(check_shape(dtype, ndim, shape, "shape", &n, &bytes));
    if (bytes > (uint64_t(1) << 62))
        return Error(VKATTN_ERROR_SIZE_OVERFLOW, "shape: ", bytes, " bytes is beyond any device");
    std::unique_ptr<Tensor> t(new (std::nothrow) Tensor());
    if (!t) return Error(VKATTN_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    t->ctx = &ctx;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int32_t d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->elements = n;
    t->bytes = bytes;
    Status s = Buffer::create(ctx, Pool::Tensor, bytes, &t->buffer);
    if (!s.ok()) return Status(s.code(), cat(s.message(), " (tensor of ", bytes, " bytes)"));
    *out = std::move(t);
    return Status::Ok();
}

}  // namespace vkattn
