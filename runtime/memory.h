// Device memory: large blocks per pool, sub-allocated (no vkAllocateMemory per
// tensor), a budget (VK_EXT_memory_budget, else the heap size) capped by an
// optional artificial heap limit, up-front reservation and statistics.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <vector>

#include "vk.h"

namespace vkattn {

class Context;

enum class Pool : uint8_t {
    Tensor = 0,     // long-lived device tensors
    Workspace = 1,  // per-call scratch (split-KV partials, ...)
    Staging = 2,    // host-visible, for uploads/downloads and uniforms
    Count = 3
};
const char *pool_name(Pool p);

struct Block {
    VkDeviceMemory memory = VK_NULL_HANDLE;
    uint64_t size = 0;
    uint32_t type_index = 0;
    bool reserved = false;              // from reserve(): never trimmed
    void *mapped = nullptr;             // host-visible pools only
    std::map<uint64_t, uint64_t> free;  // offset -> size of free ranges
    uint64_t used = 0;
};

struct Allocation {
    Block *block = nullptr;
    Pool pool = Pool::Tensor;
    uint64_t offset = 0;
    uint64_t size = 0;
    explicit operator bool() const { return block != nullptr; }
};

class MemoryManager {
public:
    MemoryManager(Context &ctx, uint64_t heap_limit);
    ~MemoryManager();
    MemoryManager(const MemoryManager &) = delete;
    MemoryManager &operator=(const MemoryManager &) = delete;

    Status allocate(Pool pool, const VkMemoryRequirements &req, Allocation *out);
    void free(const Allocation &a);
    Status reserve(uint64_t bytes);
    void trim();
    vkattn_memory_stats stats() const;
    void reset_peak() { peak_ = in_use_; }
    uint64_t budget() const;  // device-local bytes vkattn may hold
    void release_all();

private:
    Status new_block(std::list<Block> &list, Pool pool, uint32_t type_index, uint64_t size, bool reserved, Block **out);
    static bool carve(Block &b, uint64_t size, uint64_t align, uint64_t *offset);
    uint64_t block_size_for(Pool pool, uint64_t request) const;
    uint32_t pick_type(Pool pool, uint32_t type_bits) const;
    bool is_device_local_type(uint32_t type_index) const;

    Context &ctx_;
    uint64_t heap_limit_;
    std::list<Block> blocks_[static_cast<int>(Pool::Count)];
    std::list<Block> reserved_;  // from reserve(): serve Tensor and Workspace
    uint64_t device_bytes_ = 0;  // device-local bytes in blocks
    uint64_t staging_bytes_ = 0;
    uint64_t in_use_ = 0, peak_ = 0, allocations_ = 0;
};

// A VkBuffer bound into a pool allocation. Tracks its last access so the
// command stream can derive barriers.
class Buffer {
public:
    ~Buffer();
    static Status create(Context &ctx, Pool pool, uint64_t size, std::unique_ptr<Buffer> *out);
    // Takes ownership of a buffer bound to memory imported from the caller
    // (transfer.h import_host): no pool allocation; the destructor frees
    // the import. Null when out of host memory (the handles are freed).
    static std::unique_ptr<Buffer> adopt_import(Context &ctx, VkBuffer buffer, VkDeviceMemory memory, uint64_t size);
    bool imported() const { return imported_memory_ != VK_NULL_HANDLE; }
    VkBuffer handle() const { return buffer_; }
    uint64_t size() const { return size_; }
    void *mapped() const;  // host-visible pools only, else nullptr
    Pool pool() const { return alloc_.pool; }

    // barrier tracking (command stream only)
    enum class Access : uint8_t { None, Read, Write };
    Access last_access = Access::None;
    uint64_t last_submit = 0;  // serial of the last submission that used it

private:
    Buffer(Context &ctx) : ctx_(ctx) {}
    Context &ctx_;
    VkBuffer buffer_ = VK_NULL_HANDLE;
    Allocation alloc_;
    VkDeviceMemory imported_memory_ = VK_NULL_HANDLE;
    uint64_t size_ = 0;
};

}  // namespace vkattn
