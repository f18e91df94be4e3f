#include "status.h"

#include "vk.h"

namespace vkattn {

const char *vk_result_name(VkResult r) {
    switch (r) {
#define CASE(x) \
    case x: return #x;
        CASE(VK_SUCCESS)
        CASE(VK_NOT_READY)
        CASE(VK_TIMEOUT)
        CASE(VK_INCOMPLETE)
        CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
        CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
        CASE(VK_ERROR_INITIALIZATION_FAILED)
        CASE(VK_ERROR_DEVICE_LOST)
        CASE(VK_ERROR_MEMORY_MAP_FAILED)
        CASE(VK_ERROR_LAYER_NOT_PRESENT)
        CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
        CASE(VK_ERROR_FEATURE_NOT_PRESENT)
        CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
        CASE(VK_ERROR_TOO_MANY_OBJECTS)
        CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
        CASE(VK_ERROR_FRAGMENTED_POOL)
        CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
        CASE(VK_ERROR_INVALID_EXTERNAL_HANDLE)
        CASE(VK_ERROR_FRAGMENTATION)
        CASE(VK_ERROR_UNKNOWN)
#undef CASE
        default: return "VkResult(unknown)";
    }
}

Status vk_status(VkResult r, const char *what) {
    vkattn_status code = VKATTN_ERROR_VULKAN;
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY)
        code = VKATTN_ERROR_OUT_OF_DEVICE_MEMORY;
    else if (r == VK_ERROR_OUT_OF_HOST_MEMORY)
        code = VKATTN_ERROR_OUT_OF_HOST_MEMORY;
    else if (r == VK_ERROR_DEVICE_LOST)
        code = VKATTN_ERROR_DEVICE_LOST;
    return Error(code, what, " failed: ", vk_result_name(r), " (", static_cast<int>(r), ")");
}

}  // namespace vkattn
