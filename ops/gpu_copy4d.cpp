#include "gpu_copy4d.h"

#include <algorithm>

#include "copy4d_params.h"
#include "shader_ids.h"

namespace vkattn::ops {
namespace {

constexpr uint32_t kLocal = 256;  // copy4d.comp local_size_x

uint64_t last_element(uint64_t offset, const int64_t strides[4], const int64_t ext[4]) {
    uint64_t e = offset;
    for (int i = 0; i < 4; i++) e += static_cast<uint64_t>(ext[i] - 1) * static_cast<uint64_t>(strides[i]);
    return e;
}

ShaderId shader_of(GpuCopy k) {
    switch (k) {
        case GpuCopy::U32: return ShaderId::copy4d_u32;
        case GpuCopy::U16: return ShaderId::copy4d_u16;
        case GpuCopy::F32ToF16: return ShaderId::copy4d_f32_f16;
        case GpuCopy::F16ToF32: return ShaderId::copy4d_f16_f32;
    }
    return ShaderId::copy4d_u32;
}

}  // namespace

bool gpu_copy4d_fits(Context &ctx, const Buffer &src, uint64_t src_offset, const int64_t src_strides[4],
                     const Buffer &dst, uint64_t dst_offset, const int64_t dst_strides[4], const int64_t ext[4]) {
    const uint64_t range = ctx.caps().max_buffer_range;
    if (src.size() > range || dst.size() > range) return false;
    uint64_t count = 1;
    for (int i = 0; i < 4; i++) {
        if (ext[i] < 1 || src_strides[i] < 0 || dst_strides[i] < 0) return false;
        count *= static_cast<uint64_t>(ext[i]);
        if (count > 0xffffffffull) return false;
    }
    // Strides below 2^32 keep the products below 2^64 (ext < 2^32 each).
    for (int i = 0; i < 4; i++)
        if (static_cast<uint64_t>(src_strides[i]) > 0xffffffffull ||
            static_cast<uint64_t>(dst_strides[i]) > 0xffffffffull)
            return false;
    return last_element(src_offset, src_strides, ext) <= 0xffffffffull &&
           last_element(dst_offset, dst_strides, ext) <= 0xffffffffull;
}

Status record_gpu_copy4d(Context &ctx, GpuCopy kind, Buffer *src, uint64_t src_offset, const int64_t src_strides[4],
                         Buffer *dst, uint64_t dst_offset, const int64_t dst_strides[4], const int64_t ext[4],
                         Buffer *flag, uint32_t *dispatches) {
    if (!gpu_copy4d_fits(ctx, *src, src_offset, src_strides, *dst, dst_offset, dst_strides, ext))
        return Error(VKATTN_ERROR_INTERNAL, "copy4d: box beyond 32-bit addressing");
    ShaderInterface iface;
    iface.bindings = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                      VK_DESCRIPTOR_TYPE_STORAGE_BUFFER};
    iface.push_constant_size = sizeof(Copy4dPush);
    Pipeline *pipe = nullptr;
    VKA_RETURN_IF_ERROR(ctx.pipelines().get(shader_of(kind), iface, {}, &pipe));

    Copy4dPush p{};
    uint64_t count = 1;
    for (int i = 0; i < 4; i++) {
        p.ext[i] = static_cast<uint32_t>(ext[i]);
        p.src_stride[i] = static_cast<uint32_t>(src_strides[i]);
        p.dst_stride[i] = static_cast<uint32_t>(dst_strides[i]);
        count *= static_cast<uint64_t>(ext[i]);
    }
    p.src_offset = static_cast<uint32_t>(src_offset);
    p.dst_offset = static_cast<uint32_t>(dst_offset);
    p.count = static_cast<uint32_t>(count);
    // A 2-D grid: x up to 32768 groups (the guaranteed limit is 65535), y the rest.
    const uint64_t groups = (count + kLocal - 1) / kLocal;
    const uint32_t gx = static_cast<uint32_t>(std::min<uint64_t>(groups, 32768));
    const uint32_t gy = static_cast<uint32_t>((groups + gx - 1) / gx);
    p.row_span = gx * kLocal;
    std::vector<Binding> b = {Binding{src, 0, src->size(), false}, Binding{dst, 0, dst->size(), true},
                              Binding{flag, 0, flag->size(), kind == GpuCopy::F32ToF16}};
    VKA_RETURN_IF_ERROR(ctx.stream().dispatch(*pipe, b, &p, sizeof(p), gx, gy));
    ++*dispatches;
    return Status::Ok();
}

}  // namespace vkattn::ops
