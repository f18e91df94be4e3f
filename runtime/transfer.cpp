#include "transfer.h"

#include <algorithm>
#include <cstring>
#include <functional>

namespace vkattn {

namespace {

constexpr uint64_t kChunk = 16ull << 20;  // staging chunk; a multiple of every element size

// Moves `bytes` between host and `dev` in chunks through two staging buffers
// on the context's two streams, so the host-side work on one chunk (memcpy,
// packing) overlaps the GPU copy of the other. For uploads `host` fills the
// staging memory of [pos, pos+len); for downloads it drains it.
Status staged(Context &ctx, Buffer *dev, uint64_t dev_off, uint64_t bytes, bool up,
              const std::function<void(void *staging, uint64_t pos, uint64_t len)> &host) {
    if (bytes == 0) return Status::Ok();
    const uint64_t chunk = std::min(bytes, kChunk);
    const uint64_t n = (bytes + chunk - 1) / chunk;
    std::unique_ptr<Buffer> stage[2];
    for (uint64_t s = 0; s < std::min<uint64_t>(n, 2); s++)
        VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Staging, chunk, &stage[s]));
    struct Pending {
        bool active = false;
        uint64_t pos = 0, len = 0;
    } pend[2];
    // Whatever happens, no staging buffer is freed while the GPU may read it.
    struct Drain {
        Context &c;
        ~Drain() { (void)c.stream(0).wait(), (void)c.stream(1).wait(); }
    } guard{ctx};
    for (uint64_t i = 0; i < n; i++) {
        const int s = static_cast<int>(i & 1);
        CommandStream &st = ctx.stream(s);
        VKA_RETURN_IF_ERROR(st.wait());
        if (!up && pend[s].active) host(stage[s]->mapped(), pend[s].pos, pend[s].len);
        const uint64_t pos = i * chunk, len = std::min(chunk, bytes - pos);
        if (up) host(stage[s]->mapped(), pos, len);
        VKA_RETURN_IF_ERROR(st.begin());
        if (up)
            VKA_RETURN_IF_ERROR(st.copy(stage[s].get(), 0, dev, dev_off + pos, len));
        else
            VKA_RETURN_IF_ERROR(st.copy(dev, dev_off + pos, stage[s].get(), 0, len));
        VKA_RETURN_IF_ERROR(st.submit(false));
        pend[s] = {true, pos, len};
    }
    for (int s = 0; s < 2; s++) {
        VKA_RETURN_IF_ERROR(ctx.stream(s).wait());
        if (!up && pend[s].active) host(stage[s]->mapped(), pend[s].pos, pend[s].len);
    }
    return Status::Ok();
}

// Copies dense elements [first, first+count) between a dense buffer `dense`
// (starting at element `first`) and the strided host array.
void strided_copy(int32_t ndim, const int64_t *shape, const int64_t *strides, size_t es, char *host, char *dense,
                  uint64_t first, uint64_t count, bool to_dense) {
    int64_t idx[VKATTN_MAX_DIMS];
    uint64_t rem = first;
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = static_cast<int64_t>(rem % static_cast<uint64_t>(shape[d]));
        rem /= static_cast<uint64_t>(shape[d]);
    }
    const int64_t inner = shape[ndim - 1];
    const bool contiguous_inner = strides[ndim - 1] == 1;
    uint64_t done = 0;
    while (done < count) {
        int64_t off = 0;
        for (int d = 0; d < ndim; d++) off += idx[d] * strides[d];
        // One run along the innermost dimension.
        const uint64_t run = std::min<uint64_t>(count - done, static_cast<uint64_t>(inner - idx[ndim - 1]));
        char *h = host + off * static_cast<int64_t>(es);
        char *dd = dense + done * es;
        if (contiguous_inner) {
            if (to_dense)
                std::memcpy(dd, h, run * es);
            else
                std::memcpy(h, dd, run * es);
        } else {
            const int64_t step = strides[ndim - 1] * static_cast<int64_t>(es);
            for (uint64_t j = 0; j < run; j++) {
                if (to_dense)
                    std::memcpy(dd + j * es, h + static_cast<int64_t>(j) * step, es);
                else
                    std::memcpy(h + static_cast<int64_t>(j) * step, dd + j * es, es);
            }
        }
        done += run;
        idx[ndim - 1] += static_cast<int64_t>(run);
        for (int d = ndim - 1; d > 0 && idx[d] >= shape[d]; d--) {
            idx[d] = 0;
            idx[d - 1]++;
        }
    }
}

}  // namespace

Status import_host(Context &ctx, const void *ptr, uint64_t bytes, ImportedHostBuffer *out, uint64_t min_bytes) {
    *out = ImportedHostBuffer{};
    if (!ctx.host_import_allowed() || !ptr || bytes < min_bytes || bytes == 0 || !vkGetMemoryHostPointerPropertiesEXT)
        return Status::Ok();
    const uint64_t align = ctx.caps().info.min_imported_host_pointer_alignment;
    if (!align) return Status::Ok();
    const uintptr_t p = reinterpret_cast<uintptr_t>(ptr);
    const uintptr_t base = p & ~(uintptr_t(align) - 1);  // whole pages around the caller's bytes
    const uint64_t size = (p + bytes - base + align - 1) / align * align;
    VkDevice dev = ctx.device();
    VkMemoryHostPointerPropertiesEXT hp{VK_STRUCTURE_TYPE_MEMORY_HOST_POINTER_PROPERTIES_EXT};
    if (vkGetMemoryHostPointerPropertiesEXT(dev, VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT,
                                            reinterpret_cast<void *>(base), &hp) != VK_SUCCESS ||
        !hp.memoryTypeBits)
        return Status::Ok();  // not importable (e.g. read-only mapping): use staging
    VkExternalMemoryBufferCreateInfo ext{VK_STRUCTURE_TYPE_EXTERNAL_MEMORY_BUFFER_CREATE_INFO};
    ext.handleTypes = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
    VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.pNext = &ext;
    bi.size = size;
    bi.usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
    VkBuffer buf = VK_NULL_HANDLE;
    if (vkCreateBuffer(dev, &bi, nullptr, &buf) != VK_SUCCESS) return Status::Ok();
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(dev, buf, &req);
    // A host-coherent type where there is one: the caller's memory is never
    // mapped by vkattn, so nothing could flush or invalidate it.
    uint32_t bits = req.memoryTypeBits & hp.memoryTypeBits, type = UINT32_MAX;
    const VkPhysicalDeviceMemoryProperties &mp = ctx.caps().mem;
    for (uint32_t i = 0; i < mp.memoryTypeCount && type == UINT32_MAX; i++)
        if ((bits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)) type = i;
    for (uint32_t i = 0; i < 32 && type == UINT32_MAX; i++)
        if (bits & (1u << i)) type = i;
    VkImportMemoryHostPointerInfoEXT imp{VK_STRUCTURE_TYPE_IMPORT_MEMORY_HOST_POINTER_INFO_EXT};
    imp.handleType = VK_EXTERNAL_MEMORY_HANDLE_TYPE_HOST_ALLOCATION_BIT_EXT;
    imp.pHostPointer = reinterpret_cast<void *>(base);
    VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
    ai.pNext = &imp;
    ai.allocationSize = size;
    ai.memoryTypeIndex = type;
    VkDeviceMemory mem = VK_NULL_HANDLE;
    if (type == UINT32_MAX || vkAllocateMemory(dev, &ai, nullptr, &mem) != VK_SUCCESS) {
        vkDestroyBuffer(dev, buf, nullptr);
        return Status::Ok();
    }
    if (vkBindBufferMemory(dev, buf, mem, 0) != VK_SUCCESS) {
        vkDestroyBuffer(dev, buf, nullptr);
        vkFreeMemory(dev, mem, nullptr);
        return Status::Ok();
    }
    *out = ImportedHostBuffer{buf, mem, p - base, size};
    return Status::Ok();
}

void release_import(Context &ctx, ImportedHostBuffer *b) {
    if (b->buffer) vkDestroyBuffer(ctx.device(), b->buffer, nullptr);
    if (b->memory) vkFreeMemory(ctx.device(), b->memory, nullptr);
    *b = ImportedHostBuffer{};
}

namespace {
Status direct(Context &ctx, Buffer *dev, uint64_t dev_off, const void *host, uint64_t bytes, bool up, bool *done) {
    *done = false;
    ImportedHostBuffer imp;
    VKA_RETURN_IF_ERROR(import_host(ctx, host, bytes, &imp));
    if (!imp.buffer) return Status::Ok();
    CommandStream &st = ctx.stream(0);
    Status s = st.begin();
    if (s.ok())
        s = up ? st.copy_raw(imp.buffer, imp.offset, dev->handle(), dev_off, bytes, nullptr, dev)
               : st.copy_raw(dev->handle(), dev_off, imp.buffer, imp.offset, bytes, dev, nullptr);
    if (s.ok()) s = st.submit(true);
    if (!s.ok()) (void)st.wait();
    release_import(ctx, &imp);
    *done = s.ok();
    return s;
}
}  // namespace

Status upload(Context &ctx, Buffer *dst, uint64_t dst_offset, const void *src, uint64_t bytes) {
    bool done = false;
    VKA_RETURN_IF_ERROR(direct(ctx, dst, dst_offset, src, bytes, true, &done));
    if (done) return Status::Ok();
    const char *s = static_cast<const char *>(src);
    return staged(ctx, dst, dst_offset, bytes, true,
                  [&](void *st, uint64_t pos, uint64_t len) { std::memcpy(st, s + pos, len); });
}

Status download(Context &ctx, Buffer *src, uint64_t src_offset, void *dst, uint64_t bytes) {
    bool done = false;
    VKA_RETURN_IF_ERROR(direct(ctx, src, src_offset, dst, bytes, false, &done));
    if (done) return Status::Ok();
    char *d = static_cast<char *>(dst);
    return staged(ctx, src, src_offset, bytes, false,
                  [&](void *st, uint64_t pos, uint64_t len) { std::memcpy(d + pos, st, len); });
}

Status upload_strided(Context &ctx, Buffer *dst, int32_t ndim, const int64_t *shape, size_t es, const void *src,
                      const int64_t *strides) {
    uint64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= static_cast<uint64_t>(shape[d]);
    char *h = const_cast<char *>(static_cast<const char *>(src));  // only read (to_dense)
    return staged(ctx, dst, 0, n * es, true, [&](void *st, uint64_t pos, uint64_t len) {
        strided_copy(ndim, shape, strides, es, h, static_cast<char *>(st), pos / es, len / es, true);
    });
}

Status download_strided(Context &ctx, Buffer *src, int32_t ndim, const int64_t *shape, size_t es, void *dst,
                        const int64_t *strides) {
    uint64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= static_cast<uint64_t>(shape[d]);
    return staged(ctx, src, 0, n * es, false, [&](void *st, uint64_t pos, uint64_t len) {
        strided_copy(ndim, shape, strides, es, static_cast<char *>(dst), static_cast<char *>(st), pos / es, len / es,
                     false);
    });
}

}  // namespace vkattn
