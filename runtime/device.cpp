// Vulkan loading, instances, physical-device enumeration and the capability
// record kernels choose their variants from.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "context.h"

namespace vkattn {

std::atomic<uint64_t> g_validation_errors{0};

// The process that first saw a driver which cannot be used again in a
// fork()ed child (0: none yet). A child inherits the value, which then names
// another process than its own.
std::atomic<int> g_fork_unsafe_driver_pid{0};

Status check_fork_safe_driver() {
    const int user = g_fork_unsafe_driver_pid.load();
    if (user == 0 || user == static_cast<int>(::getpid())) return Status::Ok();
    return Error(VKATTN_ERROR_UNSUPPORTED, "this process (", ::getpid(), ") is a fork()ed child of process ", user,
                 ", which used NVIDIA's proprietary Vulkan driver; that driver cannot be used again in a forked child "
                 "(its first call fails or hangs). Start worker processes with multiprocessing's 'spawn' or "
                 "'forkserver' method, or use vkattn only in the children");
}

namespace {

std::once_flag g_volk_once;
VkResult g_volk_result = VK_ERROR_INITIALIZATION_FAILED;

VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                              VkDebugUtilsMessageTypeFlagsEXT,
                                              const VkDebugUtilsMessengerCallbackDataEXT *data, void *) {
    if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
        g_validation_errors.fetch_add(1);
        std::fprintf(stderr, "vkattn: validation error: %s\n", data && data->pMessage ? data->pMessage : "?");
    } else if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        std::fprintf(stderr, "vkattn: validation warning: %s\n", data && data->pMessage ? data->pMessage : "?");
    }
    return VK_FALSE;
}

bool has_extension(const std::vector<VkExtensionProperties> &exts, const char *name) {
    for (const auto &e : exts)
        if (std::strcmp(e.extensionName, name) == 0) return true;
    return false;
}

}  // namespace

Status load_vulkan() {
    std::call_once(g_volk_once, [] { g_volk_result = volkInitialize(); });
    if (g_volk_result != VK_SUCCESS)
        return Error(VKATTN_ERROR_NO_VULKAN, "no Vulkan loader found (libvulkan.so.1 could not be loaded): ",
                     "install the Vulkan loader (Debian: libvulkan1) and a driver (mesa-vulkan-drivers for lavapipe)");
    return Status::Ok();
}

Status create_instance(bool validation, VkInstance *out, VkDebugUtilsMessengerEXT *messenger) {
    *out = VK_NULL_HANDLE;
    if (messenger) *messenger = VK_NULL_HANDLE;
    VKA_RETURN_IF_ERROR(check_fork_safe_driver());  // before any call into a driver
    VKA_RETURN_IF_ERROR(load_vulkan());
    uint32_t loader_version = VK_API_VERSION_1_0;
    if (vkEnumerateInstanceVersion) vkEnumerateInstanceVersion(&loader_version);
    if (loader_version < VK_API_VERSION_1_2)
        return Error(VKATTN_ERROR_NO_VULKAN, "the Vulkan loader supports version ",
                     VK_API_VERSION_MAJOR(loader_version), ".", VK_API_VERSION_MINOR(loader_version),
                     "; vkattn needs 1.2");

    std::vector<const char *> layers, exts;
    if (validation) {
        uint32_t n = 0;
        vkEnumerateInstanceLayerProperties(&n, nullptr);
        std::vector<VkLayerProperties> props(n);
        vkEnumerateInstanceLayerProperties(&n, props.data());
        bool found = false;
        for (auto &p : props) found |= std::strcmp(p.layerName, "VK_LAYER_KHRONOS_validation") == 0;
        if (!found)
            return Error(VKATTN_ERROR_FEATURE_MISSING,
                         "validation was requested (VKATTN_VALIDATION or VKATTN_CONTEXT_VALIDATION) but "
                         "VK_LAYER_KHRONOS_validation is not installed (Debian: vulkan-validationlayers)");
        layers.push_back("VK_LAYER_KHRONOS_validation");
        exts.push_back(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    }
    VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "vkattn";
    app.pEngineName = "vkattn";
    app.engineVersion = VK_MAKE_API_VERSION(0, VKATTN_VERSION_MAJOR, VKATTN_VERSION_MINOR, VKATTN_VERSION_PATCH);
    app.apiVersion = loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2;
    VkInstanceCreateInfo ci{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ci.pApplicationInfo = &app;
    ci.enabledLayerCount = static_cast<uint32_t>(layers.size());
    ci.ppEnabledLayerNames = layers.data();
    ci.enabledExtensionCount = static_cast<uint32_t>(exts.size());
    ci.ppEnabledExtensionNames = exts.data();
    VkDebugUtilsMessengerCreateInfoEXT dbg{VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    dbg.messageSeverity =
        VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT;
    dbg.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                      VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    dbg.pfnUserCallback = debug_callback;
    if (validation) ci.pNext = &dbg;
    VkInstance inst = VK_NULL_HANDLE;
    VkResult r = vkCreateInstance(&ci, nullptr, &inst);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER || r == VK_ERROR_INITIALIZATION_FAILED)
        return Error(VKATTN_ERROR_NO_VULKAN, "vkCreateInstance failed (", vk_result_name(r),
                     "): no usable Vulkan driver is installed");
    if (r != VK_SUCCESS) return vk_status(r, "vkCreateInstance");
    {
        // Loader trampolines: valid for every instance and device, so one
        // global table serves all contexts.
        static std::mutex m;
        std::lock_guard<std::mutex> lock(m);
        volkLoadInstance(inst);
    }
    if (validation && messenger && vkCreateDebugUtilsMessengerEXT) {
        r = vkCreateDebugUtilsMessengerEXT(inst, &dbg, nullptr, messenger);
        if (r != VK_SUCCESS) {
            vkDestroyInstance(inst, nullptr);
            return vk_status(r, "vkCreateDebugUtilsMessengerEXT");
        }
    }
    *out = inst;
    return Status::Ok();
}

Status list_physical_devices(VkInstance inst, std::vector<VkPhysicalDevice> *out) {
    uint32_t n = 0;
    VKA_VK(vkEnumeratePhysicalDevices(inst, &n, nullptr));
    std::vector<VkPhysicalDevice> all(n);
    if (n) VKA_VK(vkEnumeratePhysicalDevices(inst, &n, all.data()));
    all.resize(n);
    out->clear();
    for (auto pd : all) {  // vkattn needs Vulkan 1.2 devices
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pd, &p);
        if (p.apiVersion >= VK_API_VERSION_1_2) out->push_back(pd);
    }
    return Status::Ok();
}

void query_caps(VkPhysicalDevice pd, uint32_t index, Caps *caps) {
    Caps &c = *caps;
    c = Caps{};
    vkattn_device_info &info = c.info;
    info.struct_size = sizeof(info);
    info.index = index;

    uint32_t n = 0;
    vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, nullptr);
    std::vector<VkExtensionProperties> exts(n);
    vkEnumerateDeviceExtensionProperties(pd, nullptr, &n, exts.data());

    vkGetPhysicalDeviceProperties(pd, &c.props);
    const bool v13 = c.props.apiVersion >= VK_API_VERSION_1_3;
    const bool has_budget = has_extension(exts, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    const bool has_host = has_extension(exts, VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
    const bool has_sgsc = v13 || has_extension(exts, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);

    VkPhysicalDeviceProperties2 p2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    VkPhysicalDeviceSubgroupProperties sg{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceSubgroupSizeControlPropertiesEXT sgsc{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES_EXT};
    VkPhysicalDeviceExternalMemoryHostPropertiesEXT hostp{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_EXTERNAL_MEMORY_HOST_PROPERTIES_EXT};
    VkPhysicalDeviceDriverProperties drv{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceIDProperties idp{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES};
    p2.pNext = &sg;
    sg.pNext = &drv;
    drv.pNext = &idp;
    void **tail = &idp.pNext;
    if (has_sgsc) {
        *tail = &sgsc;
        tail = &sgsc.pNext;
    }
    if (has_host) {
        *tail = &hostp;
        tail = &hostp.pNext;
    }
    vkGetPhysicalDeviceProperties2(pd, &p2);

    VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceSubgroupSizeControlFeaturesEXT fsg{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT};
    f2.pNext = &f11;
    f11.pNext = &f12;
    if (has_sgsc) f12.pNext = &fsg;
    vkGetPhysicalDeviceFeatures2(pd, &f2);

    std::snprintf(info.name, sizeof info.name, "%s", c.props.deviceName);
    if (drv.driverID == VK_DRIVER_ID_NVIDIA_PROPRIETARY) {
        int none = 0;
        g_fork_unsafe_driver_pid.compare_exchange_strong(none, static_cast<int>(::getpid()));
    }
    std::snprintf(info.driver_name, sizeof info.driver_name, "%s", drv.driverName);
    std::snprintf(info.driver_info, sizeof info.driver_info, "%s", drv.driverInfo);
    info.vendor_id = c.props.vendorID;
    info.device_id = c.props.deviceID;
    switch (c.props.deviceType) {
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: info.device_type = VKATTN_DEVICE_INTEGRATED_GPU; break;
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: info.device_type = VKATTN_DEVICE_DISCRETE_GPU; break;
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: info.device_type = VKATTN_DEVICE_VIRTUAL_GPU; break;
        case VK_PHYSICAL_DEVICE_TYPE_CPU: info.device_type = VKATTN_DEVICE_CPU; break;
        default: info.device_type = VKATTN_DEVICE_OTHER;
    }
    info.api_version = c.props.apiVersion;
    info.driver_version = c.props.driverVersion;
    std::memcpy(info.device_uuid, idp.deviceUUID, 16);

    info.subgroup_size = sg.subgroupSize;
    info.subgroup_ops = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) ? sg.supportedOperations : 0;
    c.subgroup_shuffle = info.subgroup_ops & VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
    c.subgroup_size_control = has_sgsc && fsg.subgroupSizeControl && fsg.computeFullSubgroups &&
                              (sgsc.requiredSubgroupSizeStages & VK_SHADER_STAGE_COMPUTE_BIT);
    info.subgroup_size_control = c.subgroup_size_control ? 1 : 0;
    info.min_subgroup_size = c.subgroup_size_control ? sgsc.minSubgroupSize : sg.subgroupSize;
    info.max_subgroup_size = c.subgroup_size_control ? sgsc.maxSubgroupSize : sg.subgroupSize;

    info.max_shared_memory = c.props.limits.maxComputeSharedMemorySize;
    info.max_workgroup_invocations = c.props.limits.maxComputeWorkGroupInvocations;
    info.max_push_constants = c.props.limits.maxPushConstantsSize;
    info.max_storage_buffer_range = c.props.limits.maxStorageBufferRange;
    info.min_storage_buffer_offset_alignment = c.props.limits.minStorageBufferOffsetAlignment;

    info.shader_float16 = f12.shaderFloat16;
    info.storage_16bit = f11.storageBuffer16BitAccess;
    info.shader_int64 = f2.features.shaderInt64;
    info.nv_cooperative_matrix = has_extension(exts, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
    info.khr_cooperative_matrix = has_extension(exts, "VK_KHR_cooperative_matrix");
    c.pipeline_executable_info = has_extension(exts, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
    info.memory_budget_ext = has_budget;
    info.external_memory_host = has_host;
    info.min_imported_host_pointer_alignment = has_host ? hostp.minImportedHostPointerAlignment : 0;

    VkPhysicalDeviceMemoryProperties2 m2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
    VkPhysicalDeviceMemoryBudgetPropertiesEXT budget{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
    if (has_budget) m2.pNext = &budget;
    vkGetPhysicalDeviceMemoryProperties2(pd, &m2);
    c.mem = m2.memoryProperties;
    uint32_t best_heap = 0;
    for (uint32_t h = 0; h < c.mem.memoryHeapCount; h++) {
        if ((c.mem.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            c.mem.memoryHeaps[h].size > info.device_local_heap_size) {
            info.device_local_heap_size = c.mem.memoryHeaps[h].size;
            best_heap = h;
        }
    }
    info.device_local_budget = has_budget ? budget.heapBudget[best_heap] : info.device_local_heap_size;

    uint32_t qn = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &qn, nullptr);
    std::vector<VkQueueFamilyProperties> qf(qn);
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &qn, qf.data());
    int chosen = -1;
    for (uint32_t i = 0; i < qn; i++) {  // prefer a compute family with timestamps
        if (!(qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
        if (chosen < 0 || (qf[i].timestampValidBits && !qf[chosen].timestampValidBits)) chosen = static_cast<int>(i);
    }
    c.compute_queue_family = chosen < 0 ? 0 : static_cast<uint32_t>(chosen);
    for (uint32_t i = 0; i < qn; i++) {  // copy engines: transfer without graphics or compute
        const VkQueueFlags f = qf[i].queueFlags;
        if ((f & VK_QUEUE_TRANSFER_BIT) && !(f & (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT)) &&
            qf[i].queueCount > 0) {
            c.transfer_queue_family = static_cast<int32_t>(i);
            c.transfer_queue_count = qf[i].queueCount;
            break;
        }
    }
    info.timestamps = chosen >= 0 && qf[chosen].timestampValidBits > 0 && c.props.limits.timestampPeriod > 0;
    info.timestamp_period_ns = c.props.limits.timestampPeriod;

    if (info.nv_cooperative_matrix && vkGetPhysicalDeviceCooperativeMatrixPropertiesNV) {
        uint32_t cn = 0;
        vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(pd, &cn, nullptr);
        std::vector<VkCooperativeMatrixPropertiesNV> cm(cn, {VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV});
        vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(pd, &cn, cm.data());
        for (uint32_t i = 0; i < cn; i++)
            if (cm[i].scope == VK_SCOPE_SUBGROUP_NV)
                c.nv_coopmat.push_back(
                    {cm[i].MSize, cm[i].NSize, cm[i].KSize, cm[i].AType, cm[i].BType, cm[i].CType, cm[i].DType});
    }
    c.max_buffer_range = info.max_storage_buffer_range;
}

Status enumerate_devices(std::vector<Caps> *out) {
    VkInstance inst = VK_NULL_HANDLE;
    VKA_RETURN_IF_ERROR(create_instance(false, &inst, nullptr));
    std::vector<VkPhysicalDevice> pds;
    Status s = list_physical_devices(inst, &pds);
    if (s.ok()) {
        out->resize(pds.size());
        for (size_t i = 0; i < pds.size(); i++) query_caps(pds[i], static_cast<uint32_t>(i), &(*out)[i]);
    }
    vkDestroyInstance(inst, nullptr);
    return s;
}

}  // namespace vkattn
