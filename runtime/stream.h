// Command streams: dispatches recorded into one command buffer with barriers
// derived from each buffer's last access (ops never write barriers), many
// dispatches per submit, a fence per submit, and GPU timestamps around each
// dispatch.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "memory.h"
#include "pipelines.h"

namespace vkattn {

class Context;

// A window of a buffer bound to one descriptor (range <= the context's
// max buffer range) and whether the dispatch writes it.
struct Binding {
    Buffer *buffer = nullptr;
    uint64_t offset = 0;
    uint64_t range = 0;  // VK_WHOLE_SIZE allowed
    bool write = false;
};

class CommandStream {
public:
    explicit CommandStream(Context &ctx);
    ~CommandStream();
    CommandStream(const CommandStream &) = delete;
    CommandStream &operator=(const CommandStream &) = delete;

    Status init();
    // Start recording (waits for the previous submission of this stream).
    // after_queue: the recording starts with a barrier after everything
    // submitted earlier on the queue. Without it, only semaphores (submit()
    // with sync) order it against other work: the caller guarantees that
    // no earlier submission still in flight touches its buffers.
    Status begin(bool after_queue = true);
    // Record a dispatch. Bindings follow the pipeline's interface order. A
    // uniform binding may come from uniform().
    Status dispatch(const Pipeline &p, const std::vector<Binding> &bindings, const void *push, uint32_t push_size,
                    uint32_t gx, uint32_t gy = 1, uint32_t gz = 1);
    Status copy(Buffer *src, uint64_t src_offset, Buffer *dst, uint64_t dst_offset, uint64_t size);
    Status fill(Buffer *dst, uint64_t offset, uint64_t size, uint32_t value);
    // A copy where one side is a raw VkBuffer (imported host memory); the
    // tracked device-side Buffer (may be null) takes part in barriers.
    Status copy_raw(VkBuffer src, uint64_t src_offset, VkBuffer dst, uint64_t dst_offset, uint64_t size,
                    Buffer *tracked_src, Buffer *tracked_dst);
    // Copy `size` bytes into a host-visible uniform area that lives until this
    // stream's submission completes; returns a binding for it.
    Status uniform(const void *data, uint64_t size, Binding *out);
    // Submit what was recorded; wait == true blocks until it completes.
    Status submit(bool wait);
    // Ends a recording without submitting it (after an error part-way).
    void abandon();
    // Submit once each timeline semaphore of `waits` reaches its value
    // (entries with a null semaphore or value 0 are skipped), signalling
    // `signal_sem` = signal_value on completion (may be VK_NULL_HANDLE).
    struct TimelineWait {
        VkSemaphore sem;
        uint64_t value;
    };
    Status submit_timeline(std::initializer_list<TimelineWait> waits, VkSemaphore signal_sem, uint64_t signal_value);
    Status wait();
    bool recording() const { return recording_; }

    // GPU time of the dispatches of the last completed submission (ms), or
    // -1 without timestamp support.
    double last_gpu_ms() const { return last_gpu_ms_; }
    // GPU time of each dispatch of the last completed submission, in order
    // (from the end of the previous dispatch to the end of this one; empty
    // without timestamp support).
    const std::vector<double> &last_dispatch_ms() const { return last_dispatch_ms_; }
    uint32_t dispatch_count() const { return dispatches_; }

private:
    void note_access(Buffer *b, bool write);
    void full_barrier(VkPipelineStageFlags dst_stage, VkAccessFlags dst_access);
    Status allocate_set(VkDescriptorSetLayout layout, VkDescriptorSet *out);

    Context &ctx_;
    VkCommandPool pool_ = VK_NULL_HANDLE;
    VkCommandBuffer cmd_ = VK_NULL_HANDLE;
    VkFence fence_ = VK_NULL_HANDLE;
    VkQueryPool queries_ = VK_NULL_HANDLE;
    uint32_t query_capacity_ = 0, queries_used_ = 0;
    std::vector<VkDescriptorPool> desc_pools_;
    size_t desc_pool_current_ = 0;
    std::vector<std::unique_ptr<Buffer>> uniform_buffers_;
    uint64_t uniform_used_ = 0;
    uint64_t epoch_ = 0;  // buffers whose last_submit != epoch_ have no hazard here
    bool recording_ = false, pending_ = false, need_barrier_ = false;
    uint32_t dispatches_ = 0;
    double last_gpu_ms_ = -1;
    std::vector<double> last_dispatch_ms_;
};

}  // namespace vkattn
