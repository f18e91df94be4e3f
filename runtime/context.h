// A vkattn context: one Vulkan device, its queue, memory pools, pipelines and
// command stream. Everything an op needs goes through this object.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "memory.h"
#include "pipelines.h"
#include "settings.h"
#include "stream.h"
#include "transfer_lane.h"
#include "vk.h"

namespace vkattn {

struct CoopMatShape {
    uint32_t m, n, k;
    VkComponentTypeNV a, b, c, result;
};

// The capability record kernels choose variants from.
struct Caps {
    vkattn_device_info info{};
    VkPhysicalDeviceProperties props{};
    VkPhysicalDeviceMemoryProperties mem{};
    uint32_t compute_queue_family = 0;
    int32_t transfer_queue_family = -1;     // a transfer-only family (copy engines), -1: none
    uint32_t transfer_queue_count = 0;      // its queues
    bool subgroup_shuffle = false;          // the rest of the ops are in info.subgroup_ops
    bool subgroup_size_control = false;     // can require a size per pipeline
    std::vector<CoopMatShape> nv_coopmat;   // VK_NV_cooperative_matrix shapes
    bool pipeline_executable_info = false;  // VK_KHR_pipeline_executable_properties
    uint64_t max_buffer_range = 0;          // effective: min(device, option)
};

// Query a physical device's capabilities into `caps` (no logical device needed).
void query_caps(VkPhysicalDevice pd, uint32_t index, Caps *caps);
// Load the Vulkan loader through volk (once per process): NO_VULKAN if absent.
Status load_vulkan();
// A new instance (with the validation layer and a messenger that counts
// errors when asked). The caller destroys it.
Status create_instance(bool validation, VkInstance *out, VkDebugUtilsMessengerEXT *messenger);
// Vulkan 1.2+ physical devices in enumeration order (vkattn's device indices).
Status list_physical_devices(VkInstance inst, std::vector<VkPhysicalDevice> *out);
// Capabilities of every device, through a temporary instance.
Status enumerate_devices(std::vector<Caps> *out);
extern std::atomic<uint64_t> g_validation_errors;
// UNSUPPORTED in a fork()ed child of a process that used a driver which
// cannot be used again after fork() (NVIDIA's proprietary one: the child's
// first call fails or hangs), naming the way out; create_instance checks it
// before any call into a driver. Ok everywhere else (Mesa's drivers work in
// a child that creates its own context).
Status check_fork_safe_driver();

struct CallInfo {
    std::string path, variant;
    uint32_t dispatches = 0, submits = 0;
    double gpu_ms = -1;
    std::vector<double> dispatch_ms;  // per dispatch (stream timestamps)
};

class Context {
public:
    static Status create(const vkattn_context_options &options, std::unique_ptr<Context> *out);
    ~Context();
    Context(const Context &) = delete;
    Context &operator=(const Context &) = delete;

    VkDevice device() const { return device_; }
    VkPhysicalDevice physical() const { return physical_; }
    VkQueue queue() const { return queue_; }
    const Caps &caps() const { return caps_; }
    MemoryManager &memory() { return *memory_; }
    Pipelines &pipelines() { return *pipelines_; }
    // Two streams on the one queue: ops ping-pong between them so that host
    // work for one chunk overlaps the GPU work of the other. stream() is
    // the one ops record into (stream 0 unless a StreamScope says otherwise).
    CommandStream &stream() { return *streams_[current_stream_]; }
    CommandStream &stream(int i) { return *streams_[i & 1]; }
    void set_current_stream(int i) { current_stream_ = i & 1; }
    int current_stream() const { return current_stream_; }
    bool host_import_allowed() const { return host_import_; }
    // The transfer queue host calls overlap their bus copies with compute
    // on (transfer_lane.h); null without one.
    TransferLane *lane() { return lane_.get(); }
    // Queue families buffers are shared between (CONCURRENT sharing when
    // the lane's family differs from the compute family).
    const std::vector<uint32_t> &sharing_families() const { return sharing_families_; }
    // VKATTN_PIPELINE_STATS=1: every new pipeline's compiler statistics
    // (registers, spills, ...) go to stderr, where the driver reports them.
    bool pipeline_stats() const { return pipeline_stats_; }
    uint64_t next_submit_serial() { return ++submit_serial_; }
    // The environment as it was when the context was created (settings.h).
    const Settings &settings() const { return settings_; }
    // Kernel-tuning and test hooks (settings.h): tests and tools set them
    // here directly; calls read them under the context's lock.
    Tuning &tuning() { return tuning_; }
    const Tuning &tuning() const { return tuning_; }
    // The process that created the context. Vulkan objects do not survive
    // fork(): a child refuses every call on an inherited context.
    pid_t owner_pid() const { return owner_pid_; }

    std::recursive_mutex mutex;                  // taken by every ABI call on this context
    std::set<struct vkattn_tensor_s *> tensors;  // alive, freed at destruction
    CallInfo last_call;

private:
    Context() = default;
    Status init(const vkattn_context_options &options);

    pid_t owner_pid_ = ::getpid();
    Settings settings_;
    Tuning tuning_;
    VkInstance instance_ = VK_NULL_HANDLE;
    VkPhysicalDevice physical_ = VK_NULL_HANDLE;
    VkDevice device_ = VK_NULL_HANDLE;
    VkQueue queue_ = VK_NULL_HANDLE;
    Caps caps_;
    bool host_import_ = true;
    bool pipeline_stats_ = false;
    uint64_t submit_serial_ = 0;
    std::unique_ptr<MemoryManager> memory_;
    std::unique_ptr<Pipelines> pipelines_;
    std::unique_ptr<CommandStream> streams_[2];
    int current_stream_ = 0;
    std::unique_ptr<TransferLane> lane_;
    std::vector<uint32_t> sharing_families_;
    VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
};

// Makes stream(i) the one ops record into, for the scope's lifetime.
class StreamScope {
public:
    StreamScope(Context &ctx, int i) : ctx_(ctx), prev_(ctx.current_stream()) { ctx.set_current_stream(i); }
    ~StreamScope() { ctx_.set_current_stream(prev_); }
    StreamScope(const StreamScope &) = delete;
    StreamScope &operator=(const StreamScope &) = delete;

private:
    Context &ctx_;
    int prev_;
};

}  // namespace vkattn

// The object behind a vkattn_context handle.
struct vkattn_context_s {
    std::unique_ptr<vkattn::Context> ctx;
};
