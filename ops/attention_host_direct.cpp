// Attention on host arrays without CPU copies. The caller's arrays are
// imported as device-visible memory (VK_EXT_external_memory_host); the GPU
// gathers q, k and v over the bus into dense device buffers (rounding f32 to
// f16 on the way under VKATTN_ATTENTION_F16_COMPUTE), runs attention there,
// and scatters the result straight into the caller's out and lse. No CPU
// pass touches the data, so the bus and the GPU set the pace.
//
// Declines (done = false, nothing written) whenever something does not fit:
// a discrete GPU (see direct_wanted), no import support, memory the driver will not import, a call under 1 MiB,
// addresses beyond 32 bits, or device memory short of the dense copies. The
// chunked staging path (attention_host.cpp) then serves the call.
#include "attention_host_direct.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>

#include "attention.h"
#include "gpu_copy4d.h"
#include "host_profile.h"
#include "transfer.h"

namespace vkattn::ops {
namespace {

// Smaller calls are cheaper through staging than through pinning pages.
constexpr uint64_t kDirectMinBytes = 1ull << 20;

uint64_t numel(const vkattn_view &v) {
    uint64_t n = 1;
    for (int i = 0; i < 4; i++) n *= static_cast<uint64_t>(v.shape[i]);
    return n;
}

// A caller array imported whole: element [0,0,0,0] of the view sits at
// element `first` of the buffer (views have non-negative strides, so it is
// the lowest address).
struct Imported {
    std::unique_ptr<Buffer> buf;
    uint64_t first = 0;
};

Status import_view(Context &ctx, const void *base, const vkattn_view &v, const char *name, uint64_t es, Imported *out) {
    int64_t last = 0;
    VKA_RETURN_IF_ERROR(view_last(v, name, &last));
    const char *p = static_cast<const char *>(base) + v.offset * static_cast<int64_t>(es);
    const uint64_t bytes = static_cast<uint64_t>(last - v.offset + 1) * es;
    ImportedHostBuffer h;
    VKA_RETURN_IF_ERROR(import_host(ctx, p, bytes, &h, 0));
    if (!h.buffer) return Status::Ok();
    if (h.offset % es != 0) {  // not element-aligned: the shader could not address it
        release_import(ctx, &h);
        return Status::Ok();
    }
    out->buf = Buffer::adopt_import(ctx, h.buffer, h.memory, h.size);
    if (!out->buf) return Error(VKATTN_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    out->first = h.offset / es;
    return Status::Ok();
}

// The dense device copy of an input view. Dimensions the view broadcasts
// with stride 0 hold one element there and keep stride 0 in the device view.
struct DenseIn {
    int64_t ext[4], strides[4];
    uint64_t count = 1;
};

DenseIn dense_in(const vkattn_view &v) {
    DenseIn r;
    for (int i = 0; i < 4; i++) r.ext[i] = v.strides[i] == 0 ? 1 : v.shape[i];
    int64_t s = 1;
    for (int i = 3; i >= 0; i--) {
        r.strides[i] = v.strides[i] == 0 ? 0 : s;
        s *= r.ext[i];
    }
    r.count = static_cast<uint64_t>(s);
    return r;
}

vkattn_view device_view(const vkattn_view &v, const int64_t strides[4]) {
    vkattn_view r{};
    for (int i = 0; i < 4; i++) r.shape[i] = v.shape[i], r.strides[i] = strides[i];
    r.offset = 0;
    return r;
}

// Importing pins the caller's pages, and on a discrete GPU that costs more
// than copying them: on the H200, importing the 213 MB of a Flux call took
// 18 ms plus 4.5 ms to release, against 13 ms of CPU copies on the staging
// route. So by default only devices that share the host's memory
// (integrated GPUs, CPU devices) take this route; VKATTN_HOST_DIRECT=1
// forces it, VKATTN_HOST_DIRECT=0 turns it off.
bool direct_wanted(Context &ctx) {
    if (ctx.settings().host_direct >= 0) return ctx.settings().host_direct == 1;
    const uint32_t t = ctx.caps().info.device_type;
    return t == VKATTN_DEVICE_INTEGRATED_GPU || t == VKATTN_DEVICE_CPU;
}

bool is_oom(const Status &s) {
    return s.code() == VKATTN_ERROR_OUT_OF_DEVICE_MEMORY || s.code() == VKATTN_ERROR_OUT_OF_HOST_MEMORY;
}

}  // namespace

Status attention_host_direct(Context &ctx, const vkattn_attention_desc &d, const void *q, const void *k, const void *v,
                             const void *mask, void *out, float *lse, bool cvt, bool *done, bool *overflow) {
    *done = false;
    if (!ctx.host_import_allowed() || !direct_wanted(ctx)) return Status::Ok();
    const bool has_mask = d.mask_kind != VKATTN_MASK_NONE, has_lse = (d.flags & VKATTN_ATTENTION_LSE) != 0;
    const uint64_t es = vkattn_dtype_size(d.dtype), oes = vkattn_dtype_size(d.out_dtype);
    const uint64_t mes = has_mask ? vkattn_dtype_size(d.mask_dtype) : 0;
    const uint64_t total = (numel(d.q) + numel(d.k) + numel(d.v)) * es + numel(d.out) * oes;
    if (total < kDirectMinBytes) return Status::Ok();

    // What the device computes: dense copies; f16 in and out when converting.
    vkattn_attention_desc dd = d;
    dd.flags &= ~static_cast<uint32_t>(VKATTN_ATTENTION_F16_COMPUTE);
    if (cvt) dd.dtype = VKATTN_DTYPE_F16, dd.out_dtype = VKATTN_DTYPE_F16;
    const uint64_t des = cvt ? 2 : es, does = cvt ? 2 : oes;
    const DenseIn iq = dense_in(d.q), ik = dense_in(d.k), iv = dense_in(d.v);
    const DenseIn io = dense_in(d.out), il = has_lse ? dense_in(d.lse) : DenseIn{};
    dd.q = device_view(d.q, iq.strides), dd.k = device_view(d.k, ik.strides), dd.v = device_view(d.v, iv.strides);
    dd.out = device_view(d.out, io.strides);
    if (has_lse) dd.lse = device_view(d.lse, il.strides);
    if (has_mask) dd.mask = device_view(d.mask, d.mask.strides);  // the mask's span is copied as it is

    HostProfile prof("direct", ctx.tuning().host_profile);
    Imported hq, hk, hv, hm, ho, hl;
    VKA_RETURN_IF_ERROR(import_view(ctx, q, d.q, "q", es, &hq));
    if (hq.buf) VKA_RETURN_IF_ERROR(import_view(ctx, k, d.k, "k", es, &hk));
    if (hk.buf) VKA_RETURN_IF_ERROR(import_view(ctx, v, d.v, "v", es, &hv));
    if (hv.buf && has_mask) VKA_RETURN_IF_ERROR(import_view(ctx, mask, d.mask, "mask", mes, &hm));
    if (hv.buf && (!has_mask || hm.buf)) VKA_RETURN_IF_ERROR(import_view(ctx, out, d.out, "out", oes, &ho));
    if (ho.buf && has_lse) VKA_RETURN_IF_ERROR(import_view(ctx, lse, d.lse, "lse", 4, &hl));
    if (!ho.buf || (has_lse && !hl.buf)) return Status::Ok();
    prof.mark("import");

    attn::Plan plan;
    VKA_RETURN_IF_ERROR(attn::make_plan(ctx, dd, &plan));

    // Device buffers; short of memory, the staging path (bounded chunks) runs instead.
    std::unique_ptr<Buffer> dq, dk, dv, dm, dout, dlse, ws, dummy, flag;
    uint64_t mask_bytes = 0;
    if (has_mask) {
        int64_t last = 0;
        VKA_RETURN_IF_ERROR(view_last(d.mask, "mask", &last));
        mask_bytes = static_cast<uint64_t>(last - d.mask.offset + 1) * mes;
    }
    Status s = Buffer::create(ctx, Pool::Workspace, iq.count * des, &dq);
    if (s.ok()) s = Buffer::create(ctx, Pool::Workspace, ik.count * des, &dk);
    if (s.ok()) s = Buffer::create(ctx, Pool::Workspace, iv.count * des, &dv);
    if (s.ok() && has_mask) s = Buffer::create(ctx, Pool::Workspace, mask_bytes, &dm);
    if (s.ok()) s = Buffer::create(ctx, Pool::Workspace, io.count * does, &dout);
    if (s.ok() && has_lse) s = Buffer::create(ctx, Pool::Workspace, il.count * 4, &dlse);
    if (s.ok() && plan.workspace) s = Buffer::create(ctx, Pool::Workspace, plan.workspace, &ws);
    if (s.ok()) s = Buffer::create(ctx, Pool::Workspace, 16, &dummy);
    if (s.ok()) s = Buffer::create(ctx, Pool::Staging, 16, &flag);
    if (is_oom(s)) return Status::Ok();
    VKA_RETURN_IF_ERROR(s);
    if (!flag->mapped()) return Error(VKATTN_ERROR_INTERNAL, "staging buffer is not mapped");
    std::memset(flag->mapped(), 0, 16);
    prof.mark("plan+alloc");

    // Every copy must fit the shader's 32-bit addressing and one binding.
    const GpuCopy in_kind = cvt ? GpuCopy::F32ToF16 : (es == 4 ? GpuCopy::U32 : GpuCopy::U16);
    const GpuCopy out_kind = cvt ? GpuCopy::F16ToF32 : (oes == 4 ? GpuCopy::U32 : GpuCopy::U16);
    struct Move {
        GpuCopy kind;
        Buffer *src;
        uint64_t src_first;
        const int64_t *src_strides;
        Buffer *dst;
        uint64_t dst_first;
        const int64_t *dst_strides;
        const int64_t *ext;
    };
    const Move gathers[3] = {{in_kind, hq.buf.get(), hq.first, d.q.strides, dq.get(), 0, iq.strides, iq.ext},
                             {in_kind, hk.buf.get(), hk.first, d.k.strides, dk.get(), 0, ik.strides, ik.ext},
                             {in_kind, hv.buf.get(), hv.first, d.v.strides, dv.get(), 0, iv.strides, iv.ext}};
    std::vector<Move> scatters = {{out_kind, dout.get(), 0, io.strides, ho.buf.get(), ho.first, d.out.strides, io.ext}};
    if (has_lse)
        scatters.push_back({GpuCopy::U32, dlse.get(), 0, il.strides, hl.buf.get(), hl.first, d.lse.strides, il.ext});
    auto fits = [&](const Move &m) {
        return gpu_copy4d_fits(ctx, *m.src, m.src_first, m.src_strides, *m.dst, m.dst_first, m.dst_strides, m.ext);
    };
    if (!std::all_of(std::begin(gathers), std::end(gathers), fits) ||
        !std::all_of(scatters.begin(), scatters.end(), fits))
        return Status::Ok();

    attn::Buffers bufs;
    bufs.q = dq.get(), bufs.k = dk.get(), bufs.v = dv.get(), bufs.mask = dm.get();
    bufs.out = dout.get(), bufs.lse = dlse.get(), bufs.workspace = ws.get(), bufs.dummy = dummy.get();

    CommandStream &stream = ctx.stream();
    uint32_t dispatches = 0;
    auto move = [&](const Move &m) {
        if (s.ok())
            s = record_gpu_copy4d(ctx, m.kind, m.src, m.src_first, m.src_strides, m.dst, m.dst_first, m.dst_strides,
                                  m.ext, flag.get(), &dispatches);
    };
    s = stream.begin();
    for (const Move &m : gathers) move(m);
    if (s.ok() && has_mask) s = stream.copy(hm.buf.get(), hm.first * mes, dm.get(), 0, mask_bytes);
    if (s.ok()) s = attn::record(ctx, dd, plan, bufs, &dispatches);
    for (const Move &m : scatters) move(m);
    prof.mark("record");
    if (s.ok()) s = stream.submit(true);
    prof.mark("gpu wait");
    if (!s.ok()) {
        if (stream.recording())
            (void)stream.submit(true);
        else
            (void)stream.wait();
        return s;
    }
    *done = true;
    if (cvt && *static_cast<const volatile uint32_t *>(flag->mapped()) != 0) {
        *overflow = true;  // out holds values from infinities: the caller reruns exactly
        return Status::Ok();
    }

    ctx.last_call.path = attn::plan_path(plan, plan.parts > 1);
    ctx.last_call.variant = cat(attn::plan_variant(plan), " host direct", cvt ? " f16 compute" : "");
    ctx.last_call.dispatches = dispatches;
    ctx.last_call.submits = 1;
    ctx.last_call.gpu_ms = stream.last_gpu_ms();
    ctx.last_call.dispatch_ms = stream.last_dispatch_ms();
    hq = {}, hk = {}, hv = {}, hm = {}, ho = {}, hl = {};
    prof.mark("release");
    return Status::Ok();
}

}  // namespace vkattn::ops
