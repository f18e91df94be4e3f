// The C ABI: handle checks, struct-size checks, the thread-local last-error
// message, and a boundary no exception crosses.
#include <pthread.h>
#include <unistd.h>

#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_set>

#include "attention.h"
#include "context.h"
#include "tensor.h"
#include "transfer.h"

namespace vkattn {
namespace {

thread_local std::string t_last_error;

std::mutex g_handles_mutex;
std::unordered_set<const void *> g_handles;  // live contexts and tensors

// fork() while another thread holds the handle table's lock would leave the
// child's copy locked for good: hold it across the fork in both processes.
void lock_handles_for_fork() { g_handles_mutex.lock(); }
void unlock_handles_after_fork() { g_handles_mutex.unlock(); }
const int g_fork_handlers = ::pthread_atfork(lock_handles_for_fork, unlock_handles_after_fork,
                                             unlock_handles_after_fork);

// True in a fork()ed child of the process that created the context.
bool inherited(const Context &ctx) { return ctx.owner_pid() != ::getpid(); }

Status refuse_inherited(const Context &ctx, const char *what) {
    return Error(VKATTN_ERROR_WRONG_CONTEXT, what, " belongs to process ", ctx.owner_pid(), " and this is process ",
                 ::getpid(), " (a fork()ed child): Vulkan objects do not survive fork(), so an inherited context "
                 "and its tensors cannot be used; create a new context in this process");
}

void register_handle(const void *h) {
    std::lock_guard<std::mutex> l(g_handles_mutex);
    g_handles.insert(h);
}
void unregister_handle(const void *h) {
    std::lock_guard<std::mutex> l(g_handles_mutex);
    g_handles.erase(h);
}
bool live(const void *h) {
    std::lock_guard<std::mutex> l(g_handles_mutex);
    return g_handles.count(h) != 0;
}

vkattn_status finish(const Status &s) {
    if (!s.ok()) t_last_error = cat(vkattn_status_string(s.code()), ": ", s.message());
    return s.code();
}

// Runs `f` and turns whatever escapes into a status.
template <class F>
vkattn_status guarded(F &&f) {
    try {
        return finish(f());
    } catch (const std::bad_alloc &) {
        return finish(Error(VKATTN_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"));
    } catch (const std::exception &e) {
        return finish(Error(VKATTN_ERROR_INTERNAL, "unexpected exception: ", e.what()));
    } catch (...) {
        return finish(Error(VKATTN_ERROR_INTERNAL, "unexpected exception"));
    }
}

Status check_context(vkattn_context c, const char *what = "ctx") {
    if (!c) return Error(VKATTN_ERROR_NULL_POINTER, what, " is NULL");
    if (!live(c)) return Error(VKATTN_ERROR_INVALID_ARGUMENT, what, " is not a live vkattn_context (destroyed?)");
    if (inherited(*c->ctx)) return refuse_inherited(*c->ctx, what);
    return Status::Ok();
}

Status check_tensor(vkattn_tensor t, const char *what) {
    if (!t) return Error(VKATTN_ERROR_NULL_POINTER, what, " is NULL");
    if (!live(t)) return Error(VKATTN_ERROR_INVALID_ARGUMENT, what, " is not a live vkattn_tensor (destroyed?)");
    if (inherited(*t->ctx)) return refuse_inherited(*t->ctx, what);
    return Status::Ok();
}

// Copies a caller struct that starts with struct_size into a zeroed local,
// accepting older (smaller) versions.
template <class T>
Status read_struct(const T *in, T *out, const char *what) {
    std::memset(static_cast<void *>(out), 0, sizeof(T));
    uint32_t size = in->struct_size;
    if (size < sizeof(uint32_t) || size > sizeof(T))
        return Error(VKATTN_ERROR_INVALID_ARGUMENT, what, "->struct_size = ", size, " (expected ", sizeof(T),
                     "; use the *_INIT macro)");
    std::memcpy(static_cast<void *>(out), in, size);
    out->struct_size = sizeof(T);
    return Status::Ok();
}

template <class T>
Status write_struct(const T &value, T *out, const char *what) {
    if (!out) return Error(VKATTN_ERROR_NULL_POINTER, what, " is NULL");
    uint32_t size = out->struct_size;
    if (size < sizeof(uint32_t) || size > sizeof(T))
        return Error(VKATTN_ERROR_INVALID_ARGUMENT, what, "->struct_size = ", size, " (expected ", sizeof(T),
                     "; use the *_INIT macro)");
    std::memcpy(static_cast<void *>(out), &value, size);
    out->struct_size = size;
    return Status::Ok();
}

}  // namespace
}  // namespace vkattn

using namespace vkattn;

extern "C" {

VKATTN_API const char *vkattn_status_string(vkattn_status s) {
    switch (s) {
    case VKATTN_SUCCESS: return "VKATTN_SUCCESS";
    case VKATTN_ERROR_INVALID_ARGUMENT: return "VKATTN_ERROR_INVALID_ARGUMENT";
    case VKATTN_ERROR_NULL_POINTER: return "VKATTN_ERROR_NULL_POINTER";
    case VKATTN_ERROR_INVALID_SHAPE: return "VKATTN_ERROR_INVALID_SHAPE";
    case VKATTN_ERROR_INVALID_DTYPE: return "VKATTN_ERROR_INVALID_DTYPE";
    case VKATTN_ERROR_SIZE_OVERFLOW: return "VKATTN_ERROR_SIZE_OVERFLOW";
    case VKATTN_ERROR_SHAPE_MISMATCH: return "VKATTN_ERROR_SHAPE_MISMATCH";
    case VKATTN_ERROR_OUT_OF_BOUNDS: return "VKATTN_ERROR_OUT_OF_BOUNDS";
    case VKATTN_ERROR_WRONG_CONTEXT: return "VKATTN_ERROR_WRONG_CONTEXT";
    case VKATTN_ERROR_UNSUPPORTED: return "VKATTN_ERROR_UNSUPPORTED";
    case VKATTN_ERROR_NO_VULKAN: return "VKATTN_ERROR_NO_VULKAN";
    case VKATTN_ERROR_NO_DEVICE: return "VKATTN_ERROR_NO_DEVICE";
    case VKATTN_ERROR_FEATURE_MISSING: return "VKATTN_ERROR_FEATURE_MISSING";
    case VKATTN_ERROR_OUT_OF_DEVICE_MEMORY: return "VKATTN_ERROR_OUT_OF_DEVICE_MEMORY";
    case VKATTN_ERROR_OUT_OF_HOST_MEMORY: return "VKATTN_ERROR_OUT_OF_HOST_MEMORY";
    case VKATTN_ERROR_VULKAN: return "VKATTN_ERROR_VULKAN";
    case VKATTN_ERROR_SHADER_INTERFACE: return "VKATTN_ERROR_SHADER_INTERFACE";
    case VKATTN_ERROR_DEVICE_LOST: return "VKATTN_ERROR_DEVICE_LOST";
    case VKATTN_ERROR_INTERNAL: return "VKATTN_ERROR_INTERNAL";
    }
    return "VKATTN_ERROR_UNKNOWN_STATUS";
}

VKATTN_API const char *vkattn_last_error(void) { return t_last_error.c_str(); }
VKATTN_API uint32_t vkattn_version(void) {
    return VKATTN_VERSION_MAJOR * 10000 + VKATTN_VERSION_MINOR * 100 + VKATTN_VERSION_PATCH;
}
VKATTN_API uint32_t vkattn_abi_version(void) { return VKATTN_ABI_VERSION; }

VKATTN_API size_t vkattn_dtype_size(vkattn_dtype d) {
    switch (d) {
    case VKATTN_DTYPE_F32: return 4;
    case VKATTN_DTYPE_F16:
    case VKATTN_DTYPE_BF16: return 2;
    case VKATTN_DTYPE_BOOL: return 1;
    default: return 0;
    }
}

VKATTN_API uint64_t vkattn_validation_error_count(void) { return g_validation_errors.load(); }

VKATTN_API vkattn_status vkattn_device_count(uint32_t *count) {
    return guarded([&]() -> Status {
        if (!count) return Error(VKATTN_ERROR_NULL_POINTER, "count is NULL");
        *count = 0;
        std::vector<Caps> caps;
        VKA_RETURN_IF_ERROR(enumerate_devices(&caps));
        *count = static_cast<uint32_t>(caps.size());
        return Status::Ok();
    });
}

VKATTN_API vkattn_status vkattn_device_get_info(uint32_t index, vkattn_device_info *info) {
    return guarded([&]() -> Status {
        if (!info) return Error(VKATTN_ERROR_NULL_POINTER, "info is NULL");
        std::vector<Caps> caps;
        VKA_RETURN_IF_ERROR(enumerate_devices(&caps));
        if (index >= caps.size())
            return Error(VKATTN_ERROR_NO_DEVICE, "index = ", index, " but there are ", caps.size(), " devices");
        return write_struct(caps[index].info, info, "info");
    });
}

VKATTN_API vkattn_status vkattn_context_create(const vkattn_context_options *options, vkattn_context *out) {
    return guarded([&]() -> Status {
        if (!out) return Error(VKATTN_ERROR_NULL_POINTER, "out is NULL");
        *out = nullptr;
        vkattn_context_options o = VKATTN_CONTEXT_OPTIONS_INIT;
        if (options) VKA_RETURN_IF_ERROR(read_struct(options, &o, "options"));
        if (o.flags & ~uint32_t(VKATTN_CONTEXT_VALIDATION | VKATTN_CONTEXT_NO_PIPELINE_CACHE | VKATTN_CONTEXT_NO_HOST_IMPORT))
            return Error(VKATTN_ERROR_INVALID_ARGUMENT, "options->flags = ", o.flags, " has unknown bits");
        auto handle = std::make_unique<vkattn_context_s>();
        VKA_RETURN_IF_ERROR(Context::create(o, &handle->ctx));
        *out = handle.release();
        register_handle(*out);
        return Status::Ok();
    });
}

VKATTN_API void vkattn_context_destroy(vkattn_context c) {
    if (!c || !live(c)) return;
    try {
        if (inherited(*c->ctx)) {
            // A fork()ed child: the device, its memory and its threads belong
            // to the parent. Only the handle goes; the copies are left alone.
            unregister_handle(c);
            for (Tensor *t : c->ctx->tensors) unregister_handle(t);
            return;
        }
        unregister_handle(c);
        for (Tensor *t : c->ctx->tensors) {
            unregister_handle(t);
            delete t;
        }
        c->ctx->tensors.clear();
        delete c;
    } catch (...) {
    }
}

VKATTN_API vkattn_status vkattn_context_get_device_info(vkattn_context c, vkattn_device_info *info) {
    return guarded([&]() -> Status {
        VKA_RETURN_IF_ERROR(check_context(c));
        return write_struct(c->ctx->caps().info, info, "info");
    });
}

VKATTN_API vkattn_status vkattn_context_max_buffer_range(vkattn_context c, uint64_t *bytes) {
    return guarded([&]() -> Status {
        VKA_RETURN_IF_ERROR(check_context(c));
        if (!bytes) return Error(VKATTN_ERROR_NULL_POINTER, "bytes is NULL");
        *bytes = c->ctx->caps().max_buffer_range;
        return Status::Ok();
    });
}

VKATTN_API vkattn_status vkattn_memory_reserve(vkattn_context c, uint64_t bytes) {
    return guarded([&]() -> Status {
        VKA_RETURN_IF_ERROR(check_context(c));
        std::lock_guard<std::recursive_mutex> l(c->ctx->mutex);
        return c->ctx->memory().reserve(bytes);
    });
}

VKATTN_API vkattn_status vkattn_memory_trim(vkattn_context c) {
    return guarded([&]() -> Status {
        VKA_RETURN_IF_ERROR(check_context(c));
        std::lock_guard<std::recursive_mutex> l(c->ctx->mutex);
        c->ctx->memory().trim();
        return Status::Ok();
    });
}

VKATTN_API vkattn_status vkattn_memory_get_stats(vkattn_context c, vkattn_memory_stats *stats) {
    return guarded([&]() -> Status {
        VKA_RETURN_IF_ERROR(check_context(c));
        std::lock_guard<std::recursive_mutex> l(c->ctx->mutex);
        return write_struct(c->ctx->memory().stats(), stats, "stats");
    });
}

VKATTN_API vkattn_status vkattn_memory_reset_peak(vkattn_context c) {
    return guarded([&]() -> Status {
        VKA_RETURN_IF_ERROR(check_context(c));
        std::lock_guard<std::recursive_mutex> l(c->ctx->mutex);
        c->ctx->memory().reset_peak();
        return Status::Ok();
    });
}

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

static Status check_strides(vkattn_tensor t, const int64_t *s, bool allow_zero) {
    if (!s) return Error(VKATTN_ERROR_NULL_POINTER, "host_strides is NULL");
    for (int32_t d = 0; d < t->ndim; d++) {
        if (s[d] == 0 && !allow_zero && t->shape[d] > 1)
            return Error(VKATTN_ERROR_INVALID_ARGUMENT, "host_strides[", d, "] = 0: a download cannot broadcast");
        // The farthest element must be addressable: |stride| * (shape-1) summed stays in range.
        if (s[d] > INT64_MAX / 16 || s[d] < -INT64_MAX / 16 ||
            (t->shape[d] > 1 && (s[d] > 0 ? s[d] : -s[d]) > INT64_MAX / 16 / (t->shape[d] - 1)))
            return Error(VKATTN_ERROR_SIZE_OVERFLOW, "host_strides[", d, "] = ", s[d], " overflows the addressable range");
    }
    return Status::Ok();
}

VKATTN_API vkattn_status vkattn_tensor_upload_strided(vkattn_tensor t, const void *src, const int64_t *host_strides) {
    return guarded([&]() -> Status {
        VKA_RETURN_IF_ERROR(check_tensor(t, "tensor"));
        if (!src) return Error(VKATTN_ERROR_NULL_POINTER, "src is NULL");
        VKA_RETURN_IF_ERROR(check_strides(t, host_strides, true));
        std::lock_guard<std::recursive_mutex> l(t->ctx->mutex);
        return upload_strided(*t->ctx, t->buffer.get(), t->ndim, t->shape, vkattn_dtype_size(t->dtype), src, host_strides);
    });
}

VKATTN_API vkattn_status vkattn_tensor_download_strided(vkattn_tensor t, void *dst, const int64_t *host_strides) {
    return guarded([&]() -> Status {
        VKA_RETURN_IF_ERROR(check_tensor(t, "tensor"));
        if (!dst) return Error(VKATTN_ERROR_NULL_POINTER, "dst is NULL");
        VKA_RETURN_IF_ERROR(check_strides(t, host_strides, false));
        std::lock_guard<std::recursive_mutex> l(t->ctx->mutex);
        return download_strided(*t->ctx, t->buffer.get(), t->ndim, t->shape, vkattn_dtype_size(t->dtype), dst, host_strides);
    });
}

VKATTN_API vkattn_status vkattn_attention(vkattn_context c, const vkattn_attention_desc *desc, vkattn_tensor q,
                                         vkattn_tensor k, vkattn_tensor v, vkattn_tensor mask, vkattn_tensor out,
                                         vkattn_tensor lse) {
    return guarded([&]() -> Status {
        VKA_RETURN_IF_ERROR(check_context(c));
        if (!desc) return Error(VKATTN_ERROR_NULL_POINTER, "desc is NULL");
        vkattn_attention_desc d;
        VKA_RETURN_IF_ERROR(read_struct(desc, &d, "desc"));
        VKA_RETURN_IF_ERROR(check_tensor(q, "q"));
        VKA_RETURN_IF_ERROR(check_tensor(k, "k"));
        VKA_RETURN_IF_ERROR(check_tensor(v, "v"));
        VKA_RETURN_IF_ERROR(check_tensor(out, "out"));
        if (d.mask_kind != VKATTN_MASK_NONE) VKA_RETURN_IF_ERROR(check_tensor(mask, "mask"));
        else mask = nullptr;
        if (d.flags & VKATTN_ATTENTION_LSE) VKA_RETURN_IF_ERROR(check_tensor(lse, "lse"));
        else lse = nullptr;
        std::lock_guard<std::recursive_mutex> l(c->ctx->mutex);
        return ops::attention(*c->ctx, d, q, k, v, mask, out, lse);
    });
}

VKATTN_API vkattn_status vkattn_attention_host(vkattn_context c, const vkattn_attention_desc *desc, const void *q,
                                              const void *k, const void *v, const void *mask, void *out, float *lse) {
    return guarded([&]() -> Status {
        VKA_RETURN_IF_ERROR(check_context(c));
        if (!desc) return Error(VKATTN_ERROR_NULL_POINTER, "desc is NULL");
        vkattn_attention_desc d;
        VKA_RETURN_IF_ERROR(read_struct(desc, &d, "desc"));
        std::lock_guard<std::recursive_mutex> l(c->ctx->mutex);
        return ops::attention_host(*c->ctx, d, q, k, v, mask, out, lse);
    });
}

VKATTN_API vkattn_status vkattn_attention_workspace_size(vkattn_context c, const vkattn_attention_desc *desc,
                                                        uint64_t *bytes) {
    return guarded([&]() -> Status {
        if (!bytes) return Error(VKATTN_ERROR_NULL_POINTER, "bytes is NULL");
        *bytes = 0;
        VKA_RETURN_IF_ERROR(check_context(c));
        if (!desc) return Error(VKATTN_ERROR_NULL_POINTER, "desc is NULL");
        vkattn_attention_desc d;
        VKA_RETURN_IF_ERROR(read_struct(desc, &d, "desc"));
        std::lock_guard<std::recursive_mutex> l(c->ctx->mutex);
        return ops::attention_workspace_size(*c->ctx, d, bytes);
    });
}

VKATTN_API vkattn_status vkattn_context_last_call(vkattn_context c, vkattn_call_info *info) {
    return guarded([&]() -> Status {
        VKA_RETURN_IF_ERROR(check_context(c));
        std::lock_guard<std::recursive_mutex> l(c->ctx->mutex);
        const CallInfo &ci = c->ctx->last_call;
        vkattn_call_info v{};
        v.struct_size = sizeof(v);
        std::snprintf(v.path, sizeof v.path, "%s", ci.path.c_str());
        std::snprintf(v.variant, sizeof v.variant, "%s", ci.variant.c_str());
        v.dispatches = ci.dispatches;
        v.submits = ci.submits;
        v.gpu_ms = ci.gpu_ms;
        return write_struct(v, info, "info");
    });
}

VKATTN_API vkattn_status vkattn_context_last_dispatch_times(vkattn_context c, double *ms, uint32_t capacity,
                                                           uint32_t *count) {
    return guarded([&]() -> Status {
        if (!count) return Error(VKATTN_ERROR_NULL_POINTER, "count is NULL");
        *count = 0;
        VKA_RETURN_IF_ERROR(check_context(c));
        if (capacity && !ms) return Error(VKATTN_ERROR_NULL_POINTER, "ms is NULL with capacity = ", capacity);
        std::lock_guard<std::recursive_mutex> l(c->ctx->mutex);
        const auto &v = c->ctx->last_call.dispatch_ms;
        for (size_t i = 0; i < v.size() && i < capacity; i++) ms[i] = v[i];
        *count = static_cast<uint32_t>(v.size());
        return Status::Ok();
    });
}

}  // extern "C"
