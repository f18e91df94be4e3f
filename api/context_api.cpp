// C ABI: contexts (creation, destruction, also in a fork()ed child), their
// device, memory pools and what the last op call did.
#include <cstdio>
#include <memory>
#include <mutex>

#include "api_common.h"
#include "context.h"
#include "tensor.h"

using namespace vkattn;
using namespace vkattn::api;

extern "C" {

VKATTN_API vkattn_status vkattn_context_create(const vkattn_context_options *options, vkattn_context *out) {
    return guarded([&]() -> Status {
        if (!out) return Error(VKATTN_ERROR_NULL_POINTER, "out is NULL");
        *out = nullptr;
        vkattn_context_options o = VKATTN_CONTEXT_OPTIONS_INIT;
        if (options) VKA_RETURN_IF_ERROR(read_struct(options, &o, "options"));
        if (o.flags &
            ~uint32_t(VKATTN_CONTEXT_VALIDATION | VKATTN_CONTEXT_NO_PIPELINE_CACHE | VKATTN_CONTEXT_NO_HOST_IMPORT))
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
