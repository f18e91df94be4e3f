// Vulkan through volk: the library links no libvulkan and loads the loader at
// run time, so it loads on machines without Vulkan.
#pragma once
#ifndef VK_NO_PROTOTYPES
#define VK_NO_PROTOTYPES
#endif
#include <volk.h>

#include "status.h"

namespace vkattn {
// Map a failed VkResult to a Status: OOM -> OUT_OF_DEVICE/HOST_MEMORY,
// DEVICE_LOST -> DEVICE_LOST, the rest -> VULKAN. `what` names the call.
Status vk_status(VkResult r, const char *what);
const char *vk_result_name(VkResult r);
}  // namespace vkattn

#define VKA_VK(call)                                                         \
    do {                                                                     \
        VkResult vka_r_ = (call);                                            \
        if (vka_r_ != VK_SUCCESS) return ::vkattn::vk_status(vka_r_, #call); \
    } while (0)
