#include "transfer_lane.h"

#include "context.h"

namespace vkattn {

namespace {
Status timeline_semaphore(VkDevice dev, VkSemaphore *out) {
    VkSemaphoreTypeCreateInfo ti{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
    ti.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    ti.initialValue = 0;
    VkSemaphoreCreateInfo si{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    si.pNext = &ti;
    VKA_VK(vkCreateSemaphore(dev, &si, nullptr, out));
    return Status::Ok();
}
}  // namespace

Status TransferLane::create(Context &ctx, VkQueue up, VkQueue down, uint32_t family, bool late_downloads,
                            std::unique_ptr<TransferLane> *out) {
    std::unique_ptr<TransferLane> l(new (std::nothrow) TransferLane(ctx));
    if (!l) return Error(VKATTN_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    VkDevice dev = ctx.device();
    l->ch_[0].queue = up;
    l->ch_[1].queue = down;
    l->same_queue_ = up == ctx.queue();
    l->late_downloads_ = late_downloads;
    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pci.queueFamilyIndex = family;
    VKA_VK(vkCreateCommandPool(dev, &pci, nullptr, &l->pool_));
    for (Chan &c : l->ch_) VKA_RETURN_IF_ERROR(timeline_semaphore(dev, &c.sem));
    VKA_RETURN_IF_ERROR(timeline_semaphore(dev, &l->compute_));
    *out = std::move(l);
    return Status::Ok();
}

TransferLane::~TransferLane() {
    VkDevice dev = ctx_.device();
    (void)drain();
    for (Chan &c : ch_)
        if (c.sem) vkDestroySemaphore(dev, c.sem, nullptr);
    if (compute_) vkDestroySemaphore(dev, compute_, nullptr);
    if (pool_) vkDestroyCommandPool(dev, pool_, nullptr);  // frees the slots' command buffers
}

Status TransferLane::wait_value(VkSemaphore s, uint64_t v) {
    if (v == 0 || !s) return Status::Ok();
    VkSemaphoreWaitInfo wi{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
    wi.semaphoreCount = 1;
    wi.pSemaphores = &s;
    wi.pValues = &v;
    const VkResult r = vkWaitSemaphores(ctx_.device(), &wi, UINT64_MAX);
    if (r != VK_SUCCESS) return vk_status(r, "vkWaitSemaphores");
    return Status::Ok();
}

Status TransferLane::wait_host(Channel ch, uint64_t value) {
    return wait_value(timeline(ch), value);
}

Status TransferLane::drain() {
    // Every lane submission waits only for compute values already submitted,
    // so each channel's last value arrives; then the compute queue idles
    // (compute values handed out but never submitted are not waited for).
    Status first = Status::Ok();
    for (Chan &c : ch_) {
        Status s = wait_value(c.sem, c.value);
        if (!s.ok() && first.ok()) first = s;
    }
    const VkResult r = vkQueueWaitIdle(ctx_.queue());
    if (r != VK_SUCCESS && first.ok()) first = vk_status(r, "vkQueueWaitIdle");
    return first;
}

Status TransferLane::submit(Channel ch, const std::vector<LaneCopy> &copies, uint64_t wait_compute, bool to_host,
                            uint64_t *signaled) {
    VkDevice dev = ctx_.device();
    Chan &c = ch_[static_cast<int>(ch)];
    // A command buffer of this channel whose last submission has completed,
    // else a new one.
    uint64_t done = 0;
    VKA_VK(vkGetSemaphoreCounterValue(dev, c.sem, &done));
    Slot *slot = nullptr;
    for (Slot &s : c.slots)
        if (s.value <= done) {
            slot = &s;
            break;
        }
    if (!slot) {
        Slot s;
        VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
        ai.commandPool = pool_;
        ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
        ai.commandBufferCount = 1;
        VKA_VK(vkAllocateCommandBuffers(dev, &ai, &s.cmd));
        c.slots.push_back(s);
        slot = &c.slots.back();
    }
    VKA_VK(vkResetCommandBuffer(slot->cmd, 0));
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VKA_VK(vkBeginCommandBuffer(slot->cmd, &bi));
    for (const LaneCopy &cp : copies) {
        if (!cp.size) continue;
        VkBufferCopy region{cp.src_offset, cp.dst_offset, cp.size};
        vkCmdCopyBuffer(slot->cmd, cp.src->handle(), cp.dst->handle(), 1, &region);
    }
    if (to_host) {  // the CPU reads what the copies wrote
        VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
        mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
        mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
        vkCmdPipelineBarrier(slot->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0,
                             nullptr, 0, nullptr);
    }
    VKA_VK(vkEndCommandBuffer(slot->cmd));

    const uint64_t value = c.value + 1;
    VkTimelineSemaphoreSubmitInfo ts{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
    const VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.pNext = &ts;
    if (wait_compute) {
        si.waitSemaphoreCount = 1;
        si.pWaitSemaphores = &compute_;
        si.pWaitDstStageMask = &wait_stage;
        ts.waitSemaphoreValueCount = 1;
        ts.pWaitSemaphoreValues = &wait_compute;
    }
    si.signalSemaphoreCount = 1;
    si.pSignalSemaphores = &c.sem;
    ts.signalSemaphoreValueCount = 1;
    ts.pSignalSemaphoreValues = &value;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &slot->cmd;
    VKA_VK(vkQueueSubmit(c.queue, 1, &si, VK_NULL_HANDLE));
    c.value = value;
    slot->value = value;
    *signaled = value;
    return Status::Ok();
}

}  // namespace vkattn
