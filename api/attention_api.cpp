// C ABI: flash attention on device tensors and on host arrays.
#include <mutex>

#include "api_common.h"
#include "attention.h"

using namespace vkattn;
using namespace vkattn::api;

extern "C" {

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
        if (d.mask_kind != VKATTN_MASK_NONE)
            VKA_RETURN_IF_ERROR(check_tensor(mask, "mask"));
        else
            mask = nullptr;
        if (d.flags & VKATTN_ATTENTION_LSE)
            VKA_RETURN_IF_ERROR(check_tensor(lse, "lse"));
        else
            lse = nullptr;
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

}  // extern "C"
