#include "stream.h"

#include <algorithm>
#include <cstring>

#include "context.h"

namespace vkattn {

namespace {
constexpr uint32_t kSetsPerPool = 256;
constexpr uint64_t kUniformChunk = 64 * 1024;
constexpr VkPipelineStageFlags kWork = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
constexpr VkAccessFlags kAllWrites = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
constexpr VkAccessFlags kAllAccess = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                                     VK_ACCESS_UNIFORM_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                                     VK_ACCESS_TRANSFER_WRITE_BIT;
}  // namespace

CommandStream::CommandStream(Context &ctx) : ctx_(ctx) {}

CommandStream::~CommandStream() {
    VkDevice dev = ctx_.device();
    if (pending_) vkWaitForFences(dev, 1, &fence_, VK_TRUE, UINT64_MAX);
    uniform_buffers_.clear();
    for (auto p : desc_pools_) vkDestroyDescriptorPool(dev, p, nullptr);
    if (queries_) vkDestroyQueryPool(dev, queries_, nullptr);
    if (fence_) vkDestroyFence(dev, fence_, nullptr);
    if (pool_) vkDestroyCommandPool(dev, pool_, nullptr);
}

Status CommandStream::init() {
    VkDevice dev = ctx_.device();
    VkCommandPoolCreateInfo pci{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pci.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pci.queueFamilyIndex = ctx_.caps().compute_queue_family;
    VKA_VK(vkCreateCommandPool(dev, &pci, nullptr, &pool_));
    VkCommandBufferAllocateInfo ai{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = pool_;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VKA_VK(vkAllocateCommandBuffers(dev, &ai, &cmd_));
    VkFenceCreateInfo fci{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VKA_VK(vkCreateFence(dev, &fci, nullptr, &fence_));
    if (ctx_.caps().info.timestamps) {
        VkQueryPoolCreateInfo qci{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
        qci.queryType = VK_QUERY_TYPE_TIMESTAMP;
        qci.queryCount = query_capacity_ = 64;
        VKA_VK(vkCreateQueryPool(dev, &qci, nullptr, &queries_));
    }
    return Status::Ok();
}

// Timestamps: one before the first dispatch, one after each. A recording with
// more dispatches than the pool holds stops timing individual dispatches
// beyond it but keeps the total (the last query is rewritten at submit).

Status CommandStream::wait() {
    if (!pending_) return Status::Ok();
    VkResult r = vkWaitForFences(ctx_.device(), 1, &fence_, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS) return vk_status(r, "vkWaitForFences");
    pending_ = false;
    VKA_VK(vkResetFences(ctx_.device(), 1, &fence_));
    last_gpu_ms_ = -1;
    last_dispatch_ms_.clear();
    if (queries_ && queries_used_ >= 2) {
        std::vector<uint64_t> t(queries_used_);
        if (vkGetQueryPoolResults(ctx_.device(), queries_, 0, queries_used_, t.size() * 8, t.data(), sizeof(uint64_t),
                                  VK_QUERY_RESULT_64_BIT) == VK_SUCCESS) {
            const double ns = ctx_.caps().info.timestamp_period_ns * 1e-6;
            if (t.back() >= t.front()) last_gpu_ms_ = static_cast<double>(t.back() - t.front()) * ns;
            for (size_t i = 1; i < t.size(); i++)
                last_dispatch_ms_.push_back(t[i] >= t[i - 1] ? static_cast<double>(t[i] - t[i - 1]) * ns : 0.0);
        }
    }
    return Status::Ok();
}

Status CommandStream::begin(bool after_queue) {
    VKA_RETURN_IF_ERROR(wait());
    VKA_VK(vkResetCommandBuffer(cmd_, 0));  // also discards a recording an error abandoned
    recording_ = false;
    for (auto p : desc_pools_) VKA_VK(vkResetDescriptorPool(ctx_.device(), p, 0));
    desc_pool_current_ = 0;
    uniform_used_ = 0;
    dispatches_ = 0;
    queries_used_ = 0;
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    VKA_VK(vkBeginCommandBuffer(cmd_, &bi));
    recording_ = true;
    epoch_ = ctx_.next_submit_serial();
    if (queries_) vkCmdResetQueryPool(cmd_, queries_, 0, query_capacity_);
    // Order everything against earlier submissions on the queue (the other
    // stream's included); inside this recording, barriers are derived.
    if (after_queue)
        full_barrier(kWork, kAllAccess);
    else
        need_barrier_ = false;
    return Status::Ok();
}

void CommandStream::full_barrier(VkPipelineStageFlags dst_stage, VkAccessFlags dst_access) {
    VkMemoryBarrier mb{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    mb.srcAccessMask = kAllWrites;
    mb.dstAccessMask = dst_access;
    vkCmdPipelineBarrier(cmd_, kWork, dst_stage, 0, 1, &mb, 0, nullptr, 0, nullptr);
    // Everything recorded so far is now ordered before what follows.
    epoch_ = ctx_.next_submit_serial();
    need_barrier_ = false;
}

// A buffer touched earlier in this epoch needs a barrier if either access
// writes (RAW, WAR, WAW); reads after reads do not.
void CommandStream::note_access(Buffer *b, bool write) {
    if (!b) return;
    if (b->last_submit == epoch_) {
        if (b->last_access == Buffer::Access::Write || write) need_barrier_ = true;
    }
}

static void mark(Buffer *b, bool write, uint64_t epoch) {
    if (!b) return;
    if (b->last_submit != epoch || write) b->last_access = write ? Buffer::Access::Write : Buffer::Access::Read;
    b->last_submit = epoch;
}

Status CommandStream::allocate_set(VkDescriptorSetLayout layout, VkDescriptorSet *out) {
    VkDevice dev = ctx_.device();
    while (true) {
        if (desc_pool_current_ == desc_pools_.size()) {
            VkDescriptorPoolSize sizes[2] = {{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * 8},
                                             {VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER, kSetsPerPool}};
            VkDescriptorPoolCreateInfo pci{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
            pci.maxSets = kSetsPerPool;
            pci.poolSizeCount = 2;
            pci.pPoolSizes = sizes;
            VkDescriptorPool p;
            VKA_VK(vkCreateDescriptorPool(dev, &pci, nullptr, &p));
            desc_pools_.push_back(p);
        }
        VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
        ai.descriptorPool = desc_pools_[desc_pool_current_];
        ai.descriptorSetCount = 1;
        ai.pSetLayouts = &layout;
        VkResult r = vkAllocateDescriptorSets(dev, &ai, out);
        if (r == VK_SUCCESS) return Status::Ok();
        if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL)
            return vk_status(r, "vkAllocateDescriptorSets");
        desc_pool_current_++;
    }
}

Status CommandStream::uniform(const void *data, uint64_t size, Binding *out) {
    if (!recording_) return Error(VKATTN_ERROR_INTERNAL, "uniform() outside a recording");
    const uint64_t align = std::max<uint64_t>(ctx_.caps().props.limits.minUniformBufferOffsetAlignment, 16);
    if (size > kUniformChunk) return Error(VKATTN_ERROR_INTERNAL, "uniform block of ", size, " bytes is too large");
    uint64_t chunk = uniform_used_ / kUniformChunk;
    uint64_t off = (uniform_used_ + align - 1) / align * align;
    if (off / kUniformChunk != chunk || off + size > (chunk + 1) * kUniformChunk) off = (chunk + 1) * kUniformChunk;
    chunk = off / kUniformChunk;
    while (uniform_buffers_.size() <= chunk) {
        std::unique_ptr<Buffer> b;
        VKA_RETURN_IF_ERROR(Buffer::create(ctx_, Pool::Staging, kUniformChunk, &b));
        uniform_buffers_.push_back(std::move(b));
    }
    Buffer *b = uniform_buffers_[chunk].get();
    uint64_t local = off - chunk * kUniformChunk;
    std::memcpy(static_cast<char *>(b->mapped()) + local, data, size);
    uniform_used_ = off + size;
    *out = Binding{b, local, size, false};
    return Status::Ok();
}

Status CommandStream::dispatch(const Pipeline &p, const std::vector<Binding> &bindings, const void *push,
                               uint32_t push_size, uint32_t gx, uint32_t gy, uint32_t gz) {
    if (!recording_) return Error(VKATTN_ERROR_INTERNAL, "dispatch() outside a recording");
    if (bindings.size() != p.iface.bindings.size())
        return Error(VKATTN_ERROR_INTERNAL, p.name, ": ", bindings.size(), " bindings given, ", p.iface.bindings.size(),
                     " declared");
    if (push_size != p.iface.push_constant_size)
        return Error(VKATTN_ERROR_INTERNAL, p.name, ": ", push_size, " push-constant bytes given, ",
                     p.iface.push_constant_size, " declared");
    const auto &lim = ctx_.caps().props.limits;
    if (gx == 0 || gy == 0 || gz == 0) return Status::Ok();
    if (gx > lim.maxComputeWorkGroupCount[0] || gy > lim.maxComputeWorkGroupCount[1] ||
        gz > lim.maxComputeWorkGroupCount[2])
        return Error(VKATTN_ERROR_INTERNAL, p.name, ": grid ", gx, "x", gy, "x", gz,
                     " exceeds the device's workgroup count limit");
    VkDescriptorSet set;
    VKA_RETURN_IF_ERROR(allocate_set(p.set_layout, &set));
    std::vector<VkDescriptorBufferInfo> infos(bindings.size());
    std::vector<VkWriteDescriptorSet> writes(bindings.size());
    for (size_t i = 0; i < bindings.size(); i++) {
        const Binding &b = bindings[i];
        if (!b.buffer) return Error(VKATTN_ERROR_INTERNAL, p.name, ": binding ", i, " has no buffer");
        uint64_t range = b.range == VK_WHOLE_SIZE ? b.buffer->size() - b.offset : b.range;
        if (p.iface.bindings[i] == VK_DESCRIPTOR_TYPE_STORAGE_BUFFER &&
            range > ctx_.caps().info.max_storage_buffer_range)
            return Error(VKATTN_ERROR_INTERNAL, p.name, ": binding ", i, " window of ", range,
                         " bytes exceeds maxStorageBufferRange");
        infos[i] = {b.buffer->handle(), b.offset, b.range};
        writes[i] = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
        writes[i].dstSet = set;
        writes[i].dstBinding = static_cast<uint32_t>(i);
        writes[i].descriptorCount = 1;
        writes[i].descriptorType = p.iface.bindings[i];
        writes[i].pBufferInfo = &infos[i];
        note_access(b.buffer, b.write);
    }
    vkUpdateDescriptorSets(ctx_.device(), static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);
    if (need_barrier_) full_barrier(kWork, kAllAccess);
    for (const auto &b : bindings) mark(b.buffer, b.write, epoch_);
    if (queries_ && queries_used_ == 0) {
        vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, queries_, 0);
        queries_used_ = 1;
    }
    vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p.pipeline);
    vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, p.layout, 0, 1, &set, 0, nullptr);
    if (push_size) vkCmdPushConstants(cmd_, p.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
    vkCmdDispatch(cmd_, gx, gy, gz);
    dispatches_++;
    if (queries_ && queries_used_ < query_capacity_ - 1)  // the last slot is kept for submit()
        vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, queries_, queries_used_++);
    return Status::Ok();
}

Status CommandStream::copy_raw(VkBuffer src, uint64_t src_offset, VkBuffer dst, uint64_t dst_offset, uint64_t size,
                               Buffer *tracked_src, Buffer *tracked_dst) {
    if (!recording_) return Error(VKATTN_ERROR_INTERNAL, "copy outside a recording");
    if (size == 0) return Status::Ok();
    note_access(tracked_src, false);
    note_access(tracked_dst, true);
    if (need_barrier_) full_barrier(kWork, kAllAccess);
    mark(tracked_src, false, epoch_);
    mark(tracked_dst, true, epoch_);
    VkBufferCopy region{src_offset, dst_offset, size};
    vkCmdCopyBuffer(cmd_, src, dst, 1, &region);
    return Status::Ok();
}

Status CommandStream::copy(Buffer *src, uint64_t src_offset, Buffer *dst, uint64_t dst_offset, uint64_t size) {
    return copy_raw(src->handle(), src_offset, dst->handle(), dst_offset, size, src, dst);
}

Status CommandStream::fill(Buffer *dst, uint64_t offset, uint64_t size, uint32_t value) {
    if (!recording_) return Error(VKATTN_ERROR_INTERNAL, "fill outside a recording");
    note_access(dst, true);
    if (need_barrier_) full_barrier(kWork, kAllAccess);
    mark(dst, true, epoch_);
    vkCmdFillBuffer(cmd_, dst->handle(), offset, size, value);
    return Status::Ok();
}

void CommandStream::abandon() {
    if (!recording_) return;
    (void)vkEndCommandBuffer(cmd_);  // begin() resets it
    recording_ = false;
}

Status CommandStream::submit(bool wait_now) {
    VKA_RETURN_IF_ERROR(submit_timeline({}, VK_NULL_HANDLE, 0));
    if (wait_now) return wait();
    return Status::Ok();
}

Status CommandStream::submit_timeline(std::initializer_list<TimelineWait> waits, VkSemaphore signal_sem,
                                      uint64_t signal_value) {
    if (!recording_) return Error(VKATTN_ERROR_INTERNAL, "submit() without begin()");
    if (queries_ && queries_used_ == query_capacity_ - 1) {  // more dispatches than slots: close the total
        vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, queries_, queries_used_++);
    }
    // Make device writes visible to the host (downloads read mapped memory).
    full_barrier(VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    recording_ = false;
    VKA_VK(vkEndCommandBuffer(cmd_));
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd_;
    VkTimelineSemaphoreSubmitInfo ts{VK_STRUCTURE_TYPE_TIMELINE_SEMAPHORE_SUBMIT_INFO};
    std::vector<VkSemaphore> wsem;
    std::vector<uint64_t> wval;
    for (const TimelineWait &w : waits)
        if (w.sem && w.value) wsem.push_back(w.sem), wval.push_back(w.value);
    const std::vector<VkPipelineStageFlags> wstage(wsem.size(), kWork);
    if (!wsem.empty() || signal_sem) si.pNext = &ts;
    if (!wsem.empty()) {
        si.waitSemaphoreCount = static_cast<uint32_t>(wsem.size());
        si.pWaitSemaphores = wsem.data();
        si.pWaitDstStageMask = wstage.data();
        ts.waitSemaphoreValueCount = static_cast<uint32_t>(wval.size());
        ts.pWaitSemaphoreValues = wval.data();
    }
    if (signal_sem) {
        si.signalSemaphoreCount = 1;
        si.pSignalSemaphores = &signal_sem;
        ts.signalSemaphoreValueCount = 1;
        ts.pSignalSemaphoreValues = &signal_value;
    }
    VKA_VK(vkQueueSubmit(ctx_.queue(), 1, &si, fence_));
    pending_ = true;
    return Status::Ok();
}

}  // namespace vkattn
