// A second queue for the bus copies of host calls. On one queue the NVIDIA
// driver ran the uploads, the kernel and the downloads of a chunked host
// call one after another (measured on the H200); on a transfer-only family
// (the copy engines) they run beside the kernels. Order between the queues
// comes from timeline semaphores: each lane channel signals its own after
// each of its submissions, compute submissions signal `compute`; each side waits
// for the value it needs. Signal operations on a queue execute in
// submission order, so one value per submission orders everything before it
// (hence one semaphore per channel: the channels may be different queues).
//
// VKATTN_TRANSFER_QUEUE=0 turns the lane off; =same puts both channels on
// the compute queue itself (same semaphores and submissions, no overlap),
// =same-late does that with the submission order of a single transfer
// queue: how the tests exercise this route without copy engines (lavapipe).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "memory.h"
#include "vk.h"

namespace vkattn {

class Context;

struct LaneCopy {
    Buffer *src;
    uint64_t src_offset;
    Buffer *dst;
    uint64_t dst_offset;
    uint64_t size;
};

// Which of the lane's two channels a submission goes to. Each has its own
// timeline semaphore; on a device whose transfer family has two queues each
// has its own queue, so a download waiting for a kernel never holds up the
// next upload.
enum class Channel { Up = 0, Down = 1 };

class TransferLane {
public:
    // queues[0] carries uploads, queues[1] downloads (may be the same queue).
    static Status create(Context &ctx, VkQueue up, VkQueue down, uint32_t family, bool late_downloads,
                         std::unique_ptr<TransferLane> *out);
    ~TransferLane();
    TransferLane(const TransferLane &) = delete;
    TransferLane &operator=(const TransferLane &) = delete;

    // Records `copies` into one command buffer and submits it on channel
    // `ch` after the compute timeline reaches `wait_compute` (0: no wait).
    // to_host: the copies land in host-visible memory the CPU reads once
    // wait_host() returns. *signaled: the value of the channel's timeline
    // that marks its completion.
    Status submit(Channel ch, const std::vector<LaneCopy> &copies, uint64_t wait_compute, bool to_host,
                  uint64_t *signaled);
    // Blocks the CPU until channel `ch`'s timeline reaches `value`.
    Status wait_host(Channel ch, uint64_t value);
    // Blocks until every submission of the lane and of the compute queue
    // has completed (after errors, before freeing buffers).
    Status drain();

    VkSemaphore timeline(Channel ch) const { return ch_[static_cast<int>(ch)].sem; }
    VkSemaphore compute_timeline() const { return compute_; }
    // The next value a compute submission signals on the compute timeline.
    uint64_t next_compute_value() { return ++compute_value_; }
    bool same_queue() const { return same_queue_; }
    // True when both channels share one queue in hardware order: a download
    // queued there waits for its kernel in front of every later upload, so
    // callers queue the next upload before it.
    bool late_downloads() const { return late_downloads_; }

private:
    explicit TransferLane(Context &ctx) : ctx_(ctx) {}
    Status wait_value(VkSemaphore s, uint64_t v);

    struct Slot {
        VkCommandBuffer cmd = VK_NULL_HANDLE;
        uint64_t value = 0;  // channel value of its last submission
    };
    struct Chan {
        VkQueue queue = VK_NULL_HANDLE;
        VkSemaphore sem = VK_NULL_HANDLE;
        uint64_t value = 0;
        std::vector<Slot> slots;
    };
    Context &ctx_;
    bool same_queue_ = false, late_downloads_ = false;
    VkCommandPool pool_ = VK_NULL_HANDLE;
    Chan ch_[2];
    VkSemaphore compute_ = VK_NULL_HANDLE;
    uint64_t compute_value_ = 0;
};

}  // namespace vkattn
