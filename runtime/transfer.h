// Host <-> device transfers: a staging path (chunked through host-visible
// buffers, CPU copy of one chunk overlapping the GPU copy of the previous)
// and direct import of caller memory through VK_EXT_external_memory_host
// where the device, pointer and size allow it.
#pragma once

#include <cstdint>

#include "context.h"

namespace vkattn {

// Copy `bytes` from host `src` into `dst` at `dst_offset`. Synchronous.
Status upload(Context &ctx, Buffer *dst, uint64_t dst_offset, const void *src, uint64_t bytes);
// Copy `bytes` of `src` at `src_offset` into host `dst`. Synchronous.
Status download(Context &ctx, Buffer *src, uint64_t src_offset, void *dst, uint64_t bytes);

// Strided copies of an n-d array between host memory (host_strides, elements)
// and a dense device buffer (row-major `shape`), elem_size bytes per element.
Status upload_strided(Context &ctx, Buffer *dst, int32_t ndim, const int64_t *shape, size_t elem_size, const void *src,
                      const int64_t *host_strides);
Status download_strided(Context &ctx, Buffer *src, int32_t ndim, const int64_t *shape, size_t elem_size, void *dst,
                        const int64_t *host_strides);

// Import [ptr, ptr+bytes) of caller memory as a buffer (pages rounded out to
// the import alignment). Returns a null buffer (and OK) when the device or
// the context does not allow it, or for fewer than `min_bytes` (small copies
// are cheaper through staging); `offset` receives ptr's offset inside it.
struct ImportedHostBuffer {
    VkBuffer buffer = VK_NULL_HANDLE;
    VkDeviceMemory memory = VK_NULL_HANDLE;
    uint64_t offset = 0, size = 0;
};
Status import_host(Context &ctx, const void *ptr, uint64_t bytes, ImportedHostBuffer *out,
                   uint64_t min_bytes = 1ull << 20);
void release_import(Context &ctx, ImportedHostBuffer *b);

}  // namespace vkattn
