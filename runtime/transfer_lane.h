// A second queue for the bus copies of host calls. On one queue the NVIDIA
// driver ran the uploads, the kernel and the downloads of a chunked host
// call one after another (measured on the H200); on a transfer-only family
// (the copy engines) they run beside the kernels. Order between the queues
// comes from two timeline semaphores: the lane signals `transfer` after each
// of its submissions, compute submissions signal `compute`; each side waits
// for the value it needs. Signal operations on a queue execute in
// submission order, so one value per submission orders everything before it.
//
// VKATTN_TRANSFER_QUEUE=0 turns the lane off; =same puts it on the compute
// queue itself (same semaphores and submissions, no overlap), which is how
// the tests exercise this route on devices without copy engines (lavapipe).
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

class TransferLane {
public:
    static Status create(Context &ctx, VkQueue queue, uint32_t family, std::unique_ptr<TransferLane> *out);
    ~TransferLane();
    TransferLane(const TransferLane &) = delete;
    TransferLane &operator=(const TransferLane &) = delete;

    // Records `copies` into one command buffer and submits it on the lane
    // after the compute timeline reaches `wait_compute` (0: no wait).
    // to_host: the copies land in host-visible memory the CPU reads once
    // wait_host() returns. *signaled: the transfer-timeline value that marks
    // its completion.
    Status submit(const std::vector<LaneCopy> &copies, uint64_t wait_compute, bool to_host, uint64_t *signaled);
    // Blocks the CPU until the transfer timeline reaches `value`.
    Status wait_host(uint64_t value);
    // Blocks until every submission of the lane and every compute signal
    // handed out so far has completed (after errors, before freeing buffers).
    Status drain();

    VkSemaphore transfer_timeline() const { return transfer_; }
    VkSemaphore compute_timeline() const { return compute_; }
    // The next value a compute submission signals on the compute timeline.
    uint64_t next_compute_value() { return ++compute_value_; }
    uint32_t family() const { return family_; }
    bool same_queue() const { return same_queue_; }

private:
    explicit TransferLane(Context &ctx) : ctx_(ctx) {}
    Status wait_value(VkSemaphore s, uint64_t v);

    struct Slot {
        VkCommandBuffer cmd = VK_NULL_HANDLE;
        uint64_t value = 0;  // transfer value of its last submission
    };
    Context &ctx_;
    VkQueue queue_ = VK_NULL_HANDLE;
    uint32_t family_ = 0;
    bool same_queue_ = false;
    VkCommandPool pool_ = VK_NULL_HANDLE;
    VkSemaphore transfer_ = VK_NULL_HANDLE, compute_ = VK_NULL_HANDLE;
    uint64_t transfer_value_ = 0, compute_value_ = 0;
    std::vector<Slot> slots_;
};

}  // namespace vkattn
