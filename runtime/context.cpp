#include "context.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace vkattn {

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

int type_rank(uint32_t t) {
    switch (t) {
        case VKATTN_DEVICE_DISCRETE_GPU: return 4;
        case VKATTN_DEVICE_INTEGRATED_GPU: return 3;
        case VKATTN_DEVICE_VIRTUAL_GPU: return 2;
        case VKATTN_DEVICE_CPU: return 1;
        default: return 0;
    }
}

std::string device_list(const std::vector<Caps> &caps) {
    std::string s;
    for (size_t i = 0; i < caps.size(); i++) s += cat(i ? ", " : "", i, ": ", caps[i].info.name);
    return s.empty() ? "none" : s;
}

Status select_device(const vkattn_context_options &o, const std::string &env_device, const std::vector<Caps> &caps,
                     uint32_t *index) {
    if (caps.empty())
        return Error(VKATTN_ERROR_NO_DEVICE,
                     "no Vulkan 1.2 device found (install a driver; lavapipe: mesa-vulkan-drivers)");
    auto by_name = [&](const std::string &needle, const char *what) -> Status {
        for (size_t i = 0; i < caps.size(); i++)
            if (lower(caps[i].info.name).find(lower(needle)) != std::string::npos) {
                *index = static_cast<uint32_t>(i);
                return Status::Ok();
            }
        return Error(VKATTN_ERROR_NO_DEVICE, what, " \"", needle, "\" matches no device (devices: ", device_list(caps),
                     ")");
    };
    auto by_index = [&](long long i, const char *what) -> Status {
        if (i < 0 || static_cast<size_t>(i) >= caps.size())
            return Error(VKATTN_ERROR_NO_DEVICE, what, " = ", i, " is not a device index (devices: ", device_list(caps),
                         ")");
        *index = static_cast<uint32_t>(i);
        return Status::Ok();
    };
    if (o.device_index >= 0) return by_index(o.device_index, "options->device_index");
    if (o.device_name) return by_name(o.device_name, "options->device_name");
    if (!env_device.empty()) {
        const char *env = env_device.c_str();
        char *end = nullptr;
        long long v = std::strtoll(env, &end, 10);
        if (end != env && *end == 0) return by_index(v, "VKATTN_DEVICE");
        return by_name(env, "VKATTN_DEVICE");
    }
    uint32_t best = 0;
    for (uint32_t i = 1; i < caps.size(); i++)
        if (type_rank(caps[i].info.device_type) > type_rank(caps[best].info.device_type)) best = i;
    *index = best;
    return Status::Ok();
}

}  // namespace

Status Context::create(const vkattn_context_options &options, std::unique_ptr<Context> *out) {
    std::unique_ptr<Context> ctx(new (std::nothrow) Context());
    if (!ctx) return Error(VKATTN_ERROR_OUT_OF_HOST_MEMORY, "out of host memory creating a context");
    VKA_RETURN_IF_ERROR(ctx->init(options));
    *out = std::move(ctx);
    return Status::Ok();
}

Status Context::init(const vkattn_context_options &o) {
    VKA_RETURN_IF_ERROR(read_settings(&settings_));
    VKA_RETURN_IF_ERROR(read_tuning(&tuning_));
    const bool validation = (o.flags & VKATTN_CONTEXT_VALIDATION) || settings_.validation;
    VKA_RETURN_IF_ERROR(create_instance(validation, &instance_, &messenger_));
    std::vector<VkPhysicalDevice> pds;
    VKA_RETURN_IF_ERROR(list_physical_devices(instance_, &pds));
    std::vector<Caps> all(pds.size());
    for (size_t i = 0; i < pds.size(); i++) query_caps(pds[i], static_cast<uint32_t>(i), &all[i]);
    uint32_t index = 0;
    VKA_RETURN_IF_ERROR(select_device(o, settings_.device, all, &index));
    physical_ = pds[index];
    caps_ = all[index];
    const vkattn_device_info &info = caps_.info;
    if (!info.storage_16bit)
        return Error(VKATTN_ERROR_FEATURE_MISSING, "device \"", info.name,
                     "\" lacks storageBuffer16BitAccess, which every vkattn kernel needs");

    const uint64_t range = o.max_buffer_range ? o.max_buffer_range : settings_.max_buffer_range;
    if (range) {
        if (range < 4096)
            return Error(VKATTN_ERROR_INVALID_ARGUMENT, "options->max_buffer_range = ", range, " is below 4096 bytes");
        caps_.max_buffer_range = std::min<uint64_t>(range, info.max_storage_buffer_range);
    }
    // Keep windows a multiple of 16 bytes so vec4 loads stay inside them.
    caps_.max_buffer_range &= ~uint64_t(15);

    const uint64_t heap_limit = o.heap_limit ? o.heap_limit : settings_.heap_limit;
    host_import_ = !(o.flags & VKATTN_CONTEXT_NO_HOST_IMPORT) && !settings_.no_host_import && info.external_memory_host;

    // Features: what kernels may use, enabled only where present.
    const bool v13 = info.api_version >= VK_API_VERSION_1_3;
    VkPhysicalDeviceFeatures2 have2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    VkPhysicalDeviceVulkan11Features have11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceVulkan12Features have12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    have2.pNext = &have11;
    have11.pNext = &have12;
    vkGetPhysicalDeviceFeatures2(physical_, &have2);

    VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    VkPhysicalDeviceVulkan11Features f11{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceSubgroupSizeControlFeaturesEXT fsg{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES_EXT};
    VkPhysicalDeviceCooperativeMatrixFeaturesNV fcm{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR fpe{
        VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR};
    f2.pNext = &f11;
    f11.pNext = &f12;
    void **tail = &f12.pNext;
    f2.features.shaderInt64 = have2.features.shaderInt64;
    f11.storageBuffer16BitAccess = VK_TRUE;
    f11.uniformAndStorageBuffer16BitAccess = have11.uniformAndStorageBuffer16BitAccess;
    f12.shaderFloat16 = have12.shaderFloat16;
    f12.shaderInt8 = have12.shaderInt8;
    f12.storageBuffer8BitAccess = have12.storageBuffer8BitAccess;
    f12.hostQueryReset = have12.hostQueryReset;
    f12.timelineSemaphore = have12.timelineSemaphore;  // the transfer lane's ordering
    // glslang declares the VulkanMemoryModel capability in every
    // GL_NV_cooperative_matrix shader.
    f12.vulkanMemoryModel = have12.vulkanMemoryModel;

    std::vector<const char *> exts;
    if (info.memory_budget_ext) exts.push_back(VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    if (info.external_memory_host) exts.push_back(VK_EXT_EXTERNAL_MEMORY_HOST_EXTENSION_NAME);
    if (caps_.subgroup_size_control) {
        if (!v13) exts.push_back(VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);
        fsg.subgroupSizeControl = VK_TRUE;
        fsg.computeFullSubgroups = VK_TRUE;
        *tail = &fsg;
        tail = &fsg.pNext;
    }
    if (info.nv_cooperative_matrix && !caps_.nv_coopmat.empty()) {
        exts.push_back(VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
        fcm.cooperativeMatrix = VK_TRUE;
        *tail = &fcm;
        tail = &fcm.pNext;
    }
    if (settings_.pipeline_stats) {
        if (caps_.pipeline_executable_info) {
            exts.push_back(VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
            fpe.pipelineExecutableInfo = VK_TRUE;
            *tail = &fpe;
            tail = &fpe.pNext;
            pipeline_stats_ = true;
        } else {
            static std::once_flag once;
            std::call_once(once, [&] {
                std::fprintf(stderr, "vkattn: VKATTN_PIPELINE_STATS: %s has no VK_KHR_pipeline_executable_properties\n",
                             info.name);
            });
        }
    }

    // The transfer lane: a copy-engine queue where the device has one and
    // timeline semaphores (VKATTN_TRANSFER_QUEUE: 0 off, same = on the
    // compute queue, for tests).
    enum class LaneMode { Off, Own, Same } lane_mode = LaneMode::Off;
    bool same_late = false;
    if (have12.timelineSemaphore) {
        const TransferQueue tq = settings_.transfer_queue;
        if (tq == TransferQueue::Same || tq == TransferQueue::SameLate) {
            lane_mode = LaneMode::Same;
            same_late = tq == TransferQueue::SameLate;
        } else if (tq == TransferQueue::Auto && caps_.transfer_queue_family >= 0) {
            lane_mode = LaneMode::Own;
        }
    }
    // Two transfer queues where the family has them: uploads and downloads.
    const uint32_t lane_queues = lane_mode == LaneMode::Own ? std::min(2u, caps_.transfer_queue_count) : 0;
    const float prio[2] = {1.0f, 1.0f};
    VkDeviceQueueCreateInfo qci[2]{{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO},
                                   {VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO}};
    qci[0].queueFamilyIndex = caps_.compute_queue_family;
    qci[0].queueCount = 1;
    qci[0].pQueuePriorities = prio;
    qci[1] = qci[0];
    if (lane_mode == LaneMode::Own) {
        qci[1].queueFamilyIndex = static_cast<uint32_t>(caps_.transfer_queue_family);
        qci[1].queueCount = lane_queues;
    }
    VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    dci.pNext = &f2;
    dci.queueCreateInfoCount = lane_mode == LaneMode::Own ? 2 : 1;
    dci.pQueueCreateInfos = qci;
    dci.enabledExtensionCount = static_cast<uint32_t>(exts.size());
    dci.ppEnabledExtensionNames = exts.data();
    VKA_VK(vkCreateDevice(physical_, &dci, nullptr, &device_));
    vkGetDeviceQueue(device_, caps_.compute_queue_family, 0, &queue_);
    sharing_families_ = {caps_.compute_queue_family};
    if (lane_mode != LaneMode::Off) {
        VkQueue up = queue_, down = queue_;
        uint32_t family = caps_.compute_queue_family;
        bool late = same_late;
        if (lane_mode == LaneMode::Own) {
            family = static_cast<uint32_t>(caps_.transfer_queue_family);
            vkGetDeviceQueue(device_, family, 0, &up);
            vkGetDeviceQueue(device_, family, lane_queues - 1, &down);
            late = lane_queues < 2;
            sharing_families_.push_back(family);
        }
        VKA_RETURN_IF_ERROR(TransferLane::create(*this, up, down, family, late, &lane_));
    }

    memory_ = std::make_unique<MemoryManager>(*this, heap_limit);
    pipelines_ = std::make_unique<Pipelines>(*this, (o.cache_dir ? std::string(o.cache_dir) : settings_.cache_dir),
                                             !(o.flags & VKATTN_CONTEXT_NO_PIPELINE_CACHE));
    for (auto &s : streams_) {
        s = std::make_unique<CommandStream>(*this);
        VKA_RETURN_IF_ERROR(s->init());
    }
    return Status::Ok();
}

Context::~Context() {
    if (device_) vkDeviceWaitIdle(device_);
    lane_.reset();
    for (auto &s : streams_) s.reset();
    if (pipelines_) (void)pipelines_->save_cache();
    pipelines_.reset();
    if (memory_) memory_->release_all();
    memory_.reset();
    if (device_) vkDestroyDevice(device_, nullptr);
    if (messenger_ && vkDestroyDebugUtilsMessengerEXT) vkDestroyDebugUtilsMessengerEXT(instance_, messenger_, nullptr);
    if (instance_) vkDestroyInstance(instance_, nullptr);
}

}  // namespace vkattn
