// C ABI: statuses and their messages, versions, dtypes, validation counts and
// the list of devices (nothing here needs a context).
#include <vector>

#include "api_common.h"
#include "context.h"

using namespace vkattn;
using namespace vkattn::api;

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

VKATTN_API const char *vkattn_last_error(void) {
    return api::last_error();
}

VKATTN_API uint32_t vkattn_version(void) {
    return VKATTN_VERSION_MAJOR * 10000 + VKATTN_VERSION_MINOR * 100 + VKATTN_VERSION_PATCH;
}

VKATTN_API uint32_t vkattn_abi_version(void) {
    return VKATTN_ABI_VERSION;
}

VKATTN_API size_t vkattn_dtype_size(vkattn_dtype d) {
    switch (d) {
        case VKATTN_DTYPE_F32: return 4;
        case VKATTN_DTYPE_F16:
        case VKATTN_DTYPE_BF16: return 2;
        case VKATTN_DTYPE_BOOL: return 1;
        default: return 0;
    }
}

VKATTN_API uint64_t vkattn_validation_error_count(void) {
    return g_validation_errors.load();
}

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

}  // extern "C"
