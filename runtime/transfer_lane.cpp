#include "transfer_lane.h"

#include "context.h"

namespace vkattn {

Status TransferLane::create(Context &ctx, VkQueue queue, uint32_t family, std::unique_ptr<TransferLane> *out) {
    std::unique_ptr<TransferLane> l(new (std::nothrow) TransferLane(ctx));
    if (!l) return Error(VKATTN_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    VkDevice dev = ctx.device();
    l->queue_ = queue;
    l->family_ = family;
    l->same_queue_ = queue == ctx.queue();
    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pci.queueFamilyIndex = family;
    VKA_VK(vkCreateCommandPool(dev, &pci, nullptr, &l->pool_));
    VkSemaphoreTypeCreateInfo ti{VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO};
    ti.semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE;
    ti.initialValue = 0;
    VkSemaphoreCreateInfo si{VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    si.pNext = &ti;
    VKA_VK(vkCreateSemaphore(dev, &si, nullptr, &l->transfer_));
    VKA_VK(vkCreateSemaphore(dev, &si, nullptr, &l->compute_));
    *out = std::move(l);
    return Status::Ok();
}

TransferLane::~TransferLane() {
    VkDevice dev = ctx_.device();
    (void)drain();
    if (transfer_) vkDestroySemaphore(dev, transfer_, nullptr);
    if (compute_) vkDestroySemaphore(dev, compute_, nullptr);
    if (pool_) vkDestroyCommandPool(dev, pool_, nullptr);  // frees the slots' command buffers
}

Status TransferLane::wait_value(VkSemaphore s, uint64_t v) {
    if (v == 0) return Status::Ok();
    VkSemaphoreWaitInfo wi{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
    wi.semaphoreCount = 1;
    wi.pSemaphores = &s;
    wi.pValues = &v;
    const VkResult r = vkWaitSemaphores(ctx_.device(), &wi, UINT64_MAX);
    if (r != VK_SUCCESS) return vk_status(r, "vkWaitSemaphores");
    return Status::Ok();
}

Status TransferLane::wait_host(uint64_t value) { return wait_value(transfer_, value); }

Status TransferLane::drain() {
    VKA_RETURN_IF_ERROR(wait_value(transfer_, transfer_value_));
    // Compute values handed out but never submitted (an error between
    // next_compute_value() and the submit) would never arrive: wait only for
    // what the semaphore can reach, i.e. the compute queue going idle.
    const VkResult r = vkQueueWaitIdle(ctx_.queue());
    if (r != VK_SUCCESS) return vk_status(r, "vkQueueWaitIdle");
    return Status::Ok();
}

Status TransferLane::submit(const std::vector<LaneCopy> &copies, uint64_t wait_compute, bool to_host,
                            uint64_t *signaled) {
    VkDevice dev = ctx_.device();
    // A command buffer whose last submission has completed, else a new one.
    uint64_t done = 0;
    VKA_VK(vkGetSemaphoreCounterValue(dev, transfer_, &done));
    Slot *slot = nullptr;
    for (Slot &s : slots_)
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
        slots_.push_back(s);
        slot = &slots_.back();
    }
    VKA_VK(vkResetCommandBuffer(slot->cmd, 0));
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VKA_VK(vkBeginCommandBuffer(slot->cmd, &bi));
    for (const LaneCopy &c : copies) {
        if (!c.size) continue;
        VkBufferCopy region{c.src_offset, c.dst_offset, c.size};
        vkCmdCopyBuffer(slot->cmd, c.src->handle(), c.dst->handle(), 1, &region);
    }
    if (to_host) {  // the CPU reads what the copies wrote
        VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
        mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
        mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
        vkCmdPipelineBarrier(slot->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0,
                             nullptr, 0, nullptr);
    }
    VKA_VK(vkEndCommandBuffer(slot->cmd));

    const uint64_t value = transfer_value_ + 1;
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
    si.pSignalSemaphores = &transfer_;
    ts.signalSemaphoreValueCount = 1;
    ts.pSignalSemaphoreValues = &value;
    si.commandBufferCount = 1;
    si.pCommandBuffers = &slot->cmd;
    VKA_VK(vkQueueSubmit(queue_, 1, &si, VK_NULL_HANDLE));
    transfer_value_ = value;
    slot->value = value;
    *signaled = value;
    return Status::Ok();
}

}  // namespace vkattn
