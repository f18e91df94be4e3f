#include "memory.h"

#include <algorithm>

#include "arith.h"
#include "context.h"

namespace vkattn {

namespace {
constexpr uint64_t kDeviceBlock = 256ull << 20;
constexpr uint64_t kStagingBlock = 64ull << 20;
}  // namespace

const char *pool_name(Pool p) {
    switch (p) {
        case Pool::Tensor: return "tensor";
        case Pool::Workspace: return "workspace";
        case Pool::Staging: return "staging";
        default: return "?";
    }
}

MemoryManager::MemoryManager(Context &ctx, uint64_t heap_limit) : ctx_(ctx), heap_limit_(heap_limit) {}

MemoryManager::~MemoryManager() {
    release_all();
}

void MemoryManager::release_all() {
    auto drop = [&](std::list<Block> &l) {
        for (auto &b : l) {
            if (b.mapped) vkUnmapMemory(ctx_.device(), b.memory);
            vkFreeMemory(ctx_.device(), b.memory, nullptr);
        }
        l.clear();
    };
    for (auto &l : blocks_) drop(l);
    drop(reserved_);
    device_bytes_ = staging_bytes_ = in_use_ = allocations_ = 0;
}

uint64_t MemoryManager::budget() const {
    const auto &caps = ctx_.caps();
    uint64_t b = caps.info.device_local_heap_size;
    if (caps.info.memory_budget_ext) {
        VkPhysicalDeviceMemoryProperties2 m2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2};
        VkPhysicalDeviceMemoryBudgetPropertiesEXT mb{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
        m2.pNext = &mb;
        vkGetPhysicalDeviceMemoryProperties2(ctx_.physical(), &m2);
        uint64_t best = 0;
        for (uint32_t h = 0; h < caps.mem.memoryHeapCount; h++)
            if (caps.mem.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
                best = std::max(best, mb.heapBudget[h]);
        if (best) b = best;
    }
    if (heap_limit_) b = std::min(b, heap_limit_);
    return b;
}

bool MemoryManager::is_device_local_type(uint32_t t) const {
    return ctx_.caps().mem.memoryTypes[t].propertyFlags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
}

uint32_t MemoryManager::pick_type(Pool pool, uint32_t bits) const {
    const auto &mem = ctx_.caps().mem;
    auto find = [&](VkMemoryPropertyFlags want) -> uint32_t {
        for (uint32_t i = 0; i < mem.memoryTypeCount; i++)
            if ((bits & (1u << i)) && (mem.memoryTypes[i].propertyFlags & want) == want) return i;
        return UINT32_MAX;
    };
    uint32_t t = UINT32_MAX;
    if (pool == Pool::Staging) {
        t = find(VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT |
                 VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
        if (t == UINT32_MAX) t = find(VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    } else {
        t = find(VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
        if (t == UINT32_MAX) t = find(0);
    }
    return t;
}

uint64_t MemoryManager::block_size_for(Pool pool, uint64_t request) const {
    uint64_t base = pool == Pool::Staging ? kStagingBlock : kDeviceBlock;
    if (pool != Pool::Staging) base = std::min(base, std::max<uint64_t>(budget() / 8, 1ull << 20));
    return request > base / 2 ? request : base;  // large requests get a block of their own
}

Status MemoryManager::new_block(std::list<Block> &list, Pool pool, uint32_t type, uint64_t size, bool reserved,
                                Block **out) {
    const bool device_local = is_device_local_type(type) && pool != Pool::Staging;
    if (device_local && device_bytes_ + size > budget())
        return Error(VKATTN_ERROR_OUT_OF_DEVICE_MEMORY, "out of device memory: ", size,
                     " more bytes would exceed the budget of ", budget(), " bytes (", device_bytes_, " held by vkattn",
                     heap_limit_ ? ", artificial heap limit set" : "", ")");
    VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    ai.allocationSize = size;
    ai.memoryTypeIndex = type;
    VkDeviceMemory mem = VK_NULL_HANDLE;
    VkResult r = vkAllocateMemory(ctx_.device(), &ai, nullptr, &mem);
    if (r != VK_SUCCESS) {
        Status s = vk_status(r, "vkAllocateMemory");
        return Status(s.code(), cat(s.message(), " allocating a ", size, "-byte ", pool_name(pool), " block"));
    }
    void *mapped = nullptr;
    if (pool == Pool::Staging) {
        r = vkMapMemory(ctx_.device(), mem, 0, VK_WHOLE_SIZE, 0, &mapped);
        if (r != VK_SUCCESS) {
            vkFreeMemory(ctx_.device(), mem, nullptr);
            return vk_status(r, "vkMapMemory");
        }
    }
    Block &b = list.emplace_back();
    b.memory = mem;
    b.size = size;
    b.type_index = type;
    b.reserved = reserved;
    b.mapped = mapped;
    b.free[0] = size;
    if (device_local)
        device_bytes_ += size;
    else
        staging_bytes_ += size;
    *out = &b;
    return Status::Ok();
}

bool MemoryManager::carve(Block &b, uint64_t size, uint64_t align, uint64_t *offset) {
    for (auto it = b.free.begin(); it != b.free.end(); ++it) {
        uint64_t start = round_up(it->first, align);
        uint64_t end = it->first + it->second;
        if (start + size > end) continue;
        uint64_t fstart = it->first;
        b.free.erase(it);
        if (start > fstart) b.free[fstart] = start - fstart;
        if (start + size < end) b.free[start + size] = end - (start + size);
        b.used += size;
        *offset = start;
        return true;
    }
    return false;
}

Status MemoryManager::allocate(Pool pool, const VkMemoryRequirements &req, Allocation *out) {
    *out = Allocation{};
    uint32_t type = pick_type(pool, req.memoryTypeBits);
    if (type == UINT32_MAX)
        return Error(VKATTN_ERROR_UNSUPPORTED, "no memory type suits a ", pool_name(pool), " buffer on this device");
    const uint64_t size = round_up(std::max<uint64_t>(req.size, 4), 4);
    const uint64_t align = std::max<uint64_t>(req.alignment, 16);
    auto try_list = [&](std::list<Block> &l) -> bool {
        for (auto &b : l) {
            uint64_t off = 0;
            if (b.type_index == type && carve(b, size, align, &off)) {
                *out = Allocation{&b, pool, off, size};
                return true;
            }
        }
        return false;
    };
    auto &own = blocks_[static_cast<int>(pool)];
    bool found = try_list(own) || (pool != Pool::Staging && try_list(reserved_));
    if (!found) {
        Block *b = nullptr;
        uint64_t bs = block_size_for(pool, size);
        Status s = new_block(own, pool, type, bs, false, &b);
        if (!s.ok() && bs > size) s = new_block(own, pool, type, size, false, &b);  // exact fit under a tight budget
        VKA_RETURN_IF_ERROR(s);
        uint64_t off = 0;
        if (!carve(*b, size, align, &off))
            return Error(VKATTN_ERROR_INTERNAL, "fresh block cannot hold its allocation");
        *out = Allocation{b, pool, off, size};
    }
    if (pool != Pool::Staging) {
        in_use_ += size;
        peak_ = std::max(peak_, in_use_);
    }
    allocations_++;
    return Status::Ok();
}

void MemoryManager::free(const Allocation &a) {
    if (!a.block) return;
    Block &b = *a.block;
    auto next = b.free.lower_bound(a.offset);
    uint64_t start = a.offset, size = a.size;
    if (next != b.free.end() && next->first == start + size) {  // merge with the range after
        size += next->second;
        next = b.free.erase(next);
    }
    if (next != b.free.begin()) {  // and the one before
        auto prev = std::prev(next);
        if (prev->first + prev->second == start) {
            start = prev->first;
            size += prev->second;
            b.free.erase(prev);
        }
    }
    b.free[start] = size;
    b.used -= a.size;
    if (a.pool != Pool::Staging) in_use_ -= a.size;
    allocations_--;
}

Status MemoryManager::reserve(uint64_t bytes) {
    uint32_t type = UINT32_MAX;
    {
        // Memory type bits of a storage buffer; every buffer vkattn makes has the same.
        VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
        bi.size = 4096;
        bi.usage =
            VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
        VkBuffer tmp;
        VKA_VK(vkCreateBuffer(ctx_.device(), &bi, nullptr, &tmp));
        VkMemoryRequirements req;
        vkGetBufferMemoryRequirements(ctx_.device(), tmp, &req);
        vkDestroyBuffer(ctx_.device(), tmp, nullptr);
        type = pick_type(Pool::Tensor, req.memoryTypeBits);
    }
    if (type == UINT32_MAX) return Error(VKATTN_ERROR_UNSUPPORTED, "no device memory type for storage buffers");
    uint64_t have = 0;
    for (auto &b : reserved_) have += b.size - b.used;
    if (have >= bytes) return Status::Ok();
    if (bytes - have > budget())
        return Error(VKATTN_ERROR_OUT_OF_DEVICE_MEMORY, "cannot reserve ", bytes, " bytes: the budget is ", budget(),
                     " bytes");
    uint64_t need = round_up(bytes - have, 1 << 16);
    if (device_bytes_ + need > budget())
        return Error(VKATTN_ERROR_OUT_OF_DEVICE_MEMORY, "cannot reserve ", bytes, " bytes: budget ", budget(), ", ",
                     device_bytes_, " already held");
    std::list<Block> fresh;
    uint64_t saved = device_bytes_;
    const uint64_t max_block = 1ull << 30;  // stay under maxMemoryAllocationSize everywhere
    while (need) {
        uint64_t s = std::min(need, max_block);
        Block *b = nullptr;
        Status st = new_block(fresh, Pool::Tensor, type, s, true, &b);
        if (!st.ok()) {  // keep nothing from a failed reservation
            for (auto &fb : fresh) vkFreeMemory(ctx_.device(), fb.memory, nullptr);
            device_bytes_ = saved;
            return st;
        }
        need -= s;
    }
    reserved_.splice(reserved_.end(), fresh);
    return Status::Ok();
}

void MemoryManager::trim() {
    for (auto &l : blocks_) {
        for (auto it = l.begin(); it != l.end();) {
            if (it->used == 0 && !it->reserved) {
                if (it->mapped) vkUnmapMemory(ctx_.device(), it->memory);
                vkFreeMemory(ctx_.device(), it->memory, nullptr);
                if (&l == &blocks_[static_cast<int>(Pool::Staging)] || !is_device_local_type(it->type_index))
                    staging_bytes_ -= it->size;
                else
                    device_bytes_ -= it->size;
                it = l.erase(it);
            } else {
                ++it;
            }
        }
    }
}

vkattn_memory_stats MemoryManager::stats() const {
    vkattn_memory_stats s{};
    s.struct_size = sizeof(s);
    s.reserved = device_bytes_;
    s.in_use = in_use_;
    s.peak = peak_;
    s.budget = budget();
    uint64_t blocks = reserved_.size();
    for (auto &l : blocks_) blocks += l.size();
    s.block_count = blocks;
    s.allocation_count = allocations_;
    s.staging_bytes = staging_bytes_;
    return s;
}

// ---------------------------------------------------------------------------

Status Buffer::create(Context &ctx, Pool pool, uint64_t size, std::unique_ptr<Buffer> *out) {
    std::unique_ptr<Buffer> b(new (std::nothrow) Buffer(ctx));
    if (!b) return Error(VKATTN_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = std::max<uint64_t>(round_up(size, 4), 4);
    bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    if (pool == Pool::Staging) bi.usage |= VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT;
    bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    const std::vector<uint32_t> &families = ctx.sharing_families();
    if (families.size() > 1) {  // the compute queue and the transfer lane both use it
        bi.sharingMode = VK_SHARING_MODE_CONCURRENT;
        bi.queueFamilyIndexCount = static_cast<uint32_t>(families.size());
        bi.pQueueFamilyIndices = families.data();
    }
    VKA_VK(vkCreateBuffer(ctx.device(), &bi, nullptr, &b->buffer_));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx.device(), b->buffer_, &req);
    VKA_RETURN_IF_ERROR(ctx.memory().allocate(pool, req, &b->alloc_));
    VKA_VK(vkBindBufferMemory(ctx.device(), b->buffer_, b->alloc_.block->memory, b->alloc_.offset));
    b->size_ = size;
    *out = std::move(b);
    return Status::Ok();
}

std::unique_ptr<Buffer> Buffer::adopt_import(Context &ctx, VkBuffer buffer, VkDeviceMemory memory, uint64_t size) {
    std::unique_ptr<Buffer> b(new (std::nothrow) Buffer(ctx));
    if (!b) {
        vkDestroyBuffer(ctx.device(), buffer, nullptr);
        vkFreeMemory(ctx.device(), memory, nullptr);
        return nullptr;
    }
    b->buffer_ = buffer;
    b->imported_memory_ = memory;
    b->size_ = size;
    return b;
}

Buffer::~Buffer() {
    if (buffer_) vkDestroyBuffer(ctx_.device(), buffer_, nullptr);
    if (imported_memory_) vkFreeMemory(ctx_.device(), imported_memory_, nullptr);
    ctx_.memory().free(alloc_);
}

void *Buffer::mapped() const {
    if (!alloc_.block || !alloc_.block->mapped) return nullptr;
    return static_cast<char *>(alloc_.block->mapped) + alloc_.offset;
}

}  // namespace vkattn
