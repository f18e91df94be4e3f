// C ABI: device tensors, and copies between them and host memory (dense or
// strided).
#include <cstdint>
#include <memory>
#include <mutex>

#include "api_common.h"
#include "tensor.h"
#include "transfer.h"

using namespace vkattn;
using namespace vkattn::api;

namespace {

Status check_strides(vkattn_tensor t, const int64_t *s, bool allow_zero) {
    if (!s) return Error(VKATTN_ERROR_NULL_POINTER, "host_strides is NULL");
    for (int32_t d = 0; d < t->ndim; d++) {
        if (s[d] == 0 && !allow_zero && t->shape[d] > 1)
            return Error(VKATTN_ERROR_INVALID_ARGUMENT, "host_strides[", d, "] = 0: a download cannot broadcast");
        // The farthest element must be addressable: |stride| * (shape-1) summed stays in range.
        if (s[d] > INT64_MAX / 16 || s[d] < -INT64_MAX / 16 ||
            (t->shape[d] > 1 && (s[d] > 0 ? s[d] : -s[d]) > INT64_MAX / 16 / (t->shape[d] - 1)))
            return Error(VKATTN_ERROR_SIZE_OVERFLOW, "host_strides[", d, "] = ", s[d],
                         " overflows the addressable range");
    }
    return Status::Ok();
}

}  // namespace

extern "C" {

VKATTN_API vkattn_status vkattn_tensor_create(vkattn_context c, vkattn_dtype dtype, int32_t ndim, const int64_t *shape,
                                              vkattn_tensor *out) {
    return guarded([&]() -> Status {
        if (!out) return Error(VKATTN_ERROR_NULL_POINTER, "out is NULL");
        *out = nullptr;
        VKA_RETURN_IF_ERROR(check_context(c));
        std::lock_guard<std::recursive_mutex> l(c->ctx->mutex);
        std::unique_ptr<Tensor> t;
        VKA_RETURN_IF_ERROR(tensor_create(*c->ctx, dtype, ndim, shape, &t));
        c->ctx->tensors.insert(t.get());
        *out = t.release();
        register_handle(*out);
        return Status::Ok();
    });
}

VKATTN_API void vkattn_tensor_destroy(vkattn_tensor t) {
    if (!t || !live(t)) return;
    try {
        Context *ctx = t->ctx;
        if (inherited(*ctx)) {  // see vkattn_context_destroy
            unregister_handle(t);
            return;
        }
        std::lock_guard<std::recursive_mutex> l(ctx->mutex);
        unregister_handle(t);
        (void)ctx->stream(0).wait();
        (void)ctx->stream(1).wait();
        ctx->tensors.erase(t);
        delete t;
    } catch (...) {
    }
}

VKATTN_API vkattn_status vkattn_tensor_get_info(vkattn_tensor t, vkattn_dtype *dtype, int32_t *ndim, int64_t *shape,
                                                uint64_t *bytes) {
    return guarded([&]() -> Status {
        VKA_RETURN_IF_ERROR(check_tensor(t, "tensor"));
        if (dtype) *dtype = t->dtype;
        if (ndim) *ndim = t->ndim;
        if (shape)
            for (int32_t d = 0; d < t->ndim; d++) shape[d] = t->shape[d];
        if (bytes) *bytes = t->bytes;
        return Status::Ok();
    });
}

VKATTN_API vkattn_status vkattn_tensor_upload(vkattn_tensor t, const void *src, uint64_t bytes) {
    return guarded([&]() -> Status {
        VKA_RETURN_IF_ERROR(check_tensor(t, "tensor"));
        if (!src) return Error(VKATTN_ERROR_NULL_POINTER, "src is NULL");
        if (bytes != t->bytes)
            return Error(VKATTN_ERROR_SHAPE_MISMATCH, "bytes = ", bytes, " but the tensor holds ", t->bytes, " bytes");
        std::lock_guard<std::recursive_mutex> l(t->ctx->mutex);
        return upload(*t->ctx, t->buffer.get(), 0, src, bytes);
    });
}

VKATTN_API vkattn_status vkattn_tensor_download(vkattn_tensor t, void *dst, uint64_t bytes) {
    return guarded([&]() -> Status {
        VKA_RETURN_IF_ERROR(check_tensor(t, "tensor"));
        if (!dst) return Error(VKATTN_ERROR_NULL_POINTER, "dst is NULL");
        if (bytes != t->bytes)
            return Error(VKATTN_ERROR_SHAPE_MISMATCH, "bytes = ", bytes, " but the tensor holds ", t->bytes, " bytes");
        std::lock_guard<std::recursive_mutex> l(t->ctx->mutex);
        return download(*t->ctx, t->buffer.get(), 0, dst, bytes);
    });
}

VKATTN_API vkattn_status vkattn_tensor_upload_strided(vkattn_tensor t, const void *src, const int64_t *host_strides) {
    return guarded([&]() -> Status {
        VKA_RETURN_IF_ERROR(check_tensor(t, "tensor"));
        if (!src) return Error(VKATTN_ERROR_NULL_POINTER, "src is NULL");
        VKA_RETURN_IF_ERROR(check_strides(t, host_strides, true));
        std::lock_guard<std::recursive_mutex> l(t->ctx->mutex);
        return upload_strided(*t->ctx, t->buffer.get(), t->ndim, t->shape, vkattn_dtype_size(t->dtype), src,
                              host_strides);
    });
}

VKATTN_API vkattn_status vkattn_tensor_download_strided(vkattn_tensor t, void *dst, const int64_t *host_strides) {
    return guarded([&]() -> Status {
        VKA_RETURN_IF_ERROR(check_tensor(t, "tensor"));
        if (!dst) return Error(VKATTN_ERROR_NULL_POINTER, "dst is NULL");
        VKA_RETURN_IF_ERROR(check_strides(t, host_strides, false));
        std::lock_guard<std::recursive_mutex> l(t->ctx->mutex);
        return download_strided(*t->ctx, t->buffer.get(), t->ndim, t->shape, vkattn_dtype_size(t->dtype), dst,
                                host_strides);
    });
}

}  // extern "C"
