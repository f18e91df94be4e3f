// Attention on host arrays. Where the device imports the caller's memory,
// attention_host_direct.cpp serves the call with no CPU copies. Otherwise
// the problem is cut into chunks over (batch, kv
// heads); each chunk is packed densely into one of two staging buffers,
// copied to device scratch, computed and copied back. Packing chunk i+1 and
// unpacking chunk i-1 on the CPU overlap the GPU work of chunk i.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "arith.h"
#include "attention.h"
#include "attention_host_direct.h"
#include "half_convert.h"
#include "host_profile.h"
#include "worker_pool.h"

namespace vkattn::ops {
namespace {

// What a copy does to the elements.
enum class Cvt { None, F32ToF16, F16ToF32 };

// Copy rows [r0, r1) of a 4-D box between strided arrays (strides in
// elements); a row is one (a, b, c) index, its ext[3] elements the run. `es`
// is the source element size. Returns false when a finite value overflowed an
// f32 -> f16 conversion.
bool copy4d_rows(const char *src, const int64_t ss[4], char *dst, const int64_t ds[4], const int64_t ext[4], size_t es,
                 Cvt cvt, int64_t r0, int64_t r1) {
    const int64_t e = static_cast<int64_t>(es);
    const int64_t de = cvt == Cvt::None ? e : (cvt == Cvt::F32ToF16 ? 2 : 4);
    bool fine = true;
    if (ss[3] == 1 && ds[3] == 1) {
        // Contiguous rows: rows that continue each other in both arrays merge
        // into one run (a contiguous box is a single run per thread), which
        // the row routines convert or copy with streaming stores.
        const char *run_s = nullptr;
        char *run_d = nullptr;
        int64_t run_n = 0;
        auto flush = [&] {
            if (cvt == Cvt::F32ToF16)
                fine &= f32_to_f16_row(reinterpret_cast<const float *>(run_s), 1, reinterpret_cast<uint16_t *>(run_d),
                                       1, run_n);
            else if (cvt == Cvt::F16ToF32)
                f16_to_f32_row(reinterpret_cast<const uint16_t *>(run_s), 1, reinterpret_cast<float *>(run_d), 1,
                               run_n);
            else
                copy_bytes(run_d, run_s, static_cast<size_t>(run_n) * es);
        };
        for (int64_t r = r0; r < r1; r++) {
            const int64_t c = r % ext[2], b = (r / ext[2]) % ext[1], a = r / (ext[2] * ext[1]);
            const char *s = src + (a * ss[0] + b * ss[1] + c * ss[2]) * e;
            char *d = dst + (a * ds[0] + b * ds[1] + c * ds[2]) * de;
            if (run_n && s == run_s + run_n * e && d == run_d + run_n * de) {
                run_n += ext[3];
                continue;
            }
            if (run_n) flush();
            run_s = s, run_d = d, run_n = ext[3];
        }
        if (run_n) flush();
        return fine;
    }
    for (int64_t r = r0; r < r1; r++) {
        const int64_t c = r % ext[2], b = (r / ext[2]) % ext[1], a = r / (ext[2] * ext[1]);
        const char *s = src + (a * ss[0] + b * ss[1] + c * ss[2]) * e;
        char *d = dst + (a * ds[0] + b * ds[1] + c * ds[2]) * de;
        if (cvt == Cvt::F32ToF16) {
            fine &= f32_to_f16_row(reinterpret_cast<const float *>(s), ss[3], reinterpret_cast<uint16_t *>(d), ds[3],
                                   ext[3]);
        } else if (cvt == Cvt::F16ToF32) {
            f16_to_f32_row(reinterpret_cast<const uint16_t *>(s), ss[3], reinterpret_cast<float *>(d), ds[3], ext[3]);
        } else if (es == 2) {
            for (int64_t i = 0; i < ext[3]; i++) std::memcpy(d + i * ds[3] * 2, s + i * ss[3] * 2, 2);
        } else if (es == 4) {
            for (int64_t i = 0; i < ext[3]; i++) std::memcpy(d + i * ds[3] * 4, s + i * ss[3] * 4, 4);
        } else {
            for (int64_t i = 0; i < ext[3]; i++) std::memcpy(d + i * ds[3] * e, s + i * ss[3] * e, es);
        }
    }
    return fine;
}

// Ask for transparent huge pages under a large output that has not been
// touched yet (MADV_HUGEPAGE on the 2 MiB-aligned interior of its span): a
// fresh output array (torch.empty) otherwise takes a page fault per 4 KiB
// inside the unpack, which on the H200 machine cost more than the copy of a
// 53 MB Flux output. Only how the pages are backed changes, never their
// contents; pages already present stay as they are. Tuning::host_hugepage
// (VKATTN_HOST_HUGEPAGE=0) turns it off.
void advise_huge_pages(void *p, uint64_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    constexpr uintptr_t huge = 2u << 20;
    const uintptr_t a = (reinterpret_cast<uintptr_t>(p) + huge - 1) & ~(huge - 1);
    const uintptr_t b = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(huge - 1);
    if (b > a) (void)madvise(reinterpret_cast<void *>(a), b - a, MADV_HUGEPAGE);
#else
    (void)p, (void)bytes;
#endif
}

// Copy a 4-D box between strided arrays. One thread copies about 5-10 GB/s,
// well below what PCIe and the GPU take, so large boxes are split over rows
// between the pool's threads (disjoint destinations: the result does not depend on it).
// Returns false when a finite value overflowed an f32 -> f16 conversion.
bool copy4d(const char *src, const int64_t ss[4], char *dst, const int64_t ds[4], const int64_t ext[4], size_t es,
            Cvt cvt = Cvt::None) {
    const int64_t rows = ext[0] * ext[1] * ext[2];
    const uint64_t bytes = static_cast<uint64_t>(rows * ext[3]) * es;
    unsigned n = host_threads();
    n = static_cast<unsigned>(std::min<uint64_t>(n, bytes / (512ull << 10)));  // >= 512 KiB a thread
    n = static_cast<unsigned>(std::min<int64_t>(n, rows));
    if (n <= 1) return copy4d_rows(src, ss, dst, ds, ext, es, cvt, 0, rows);
    // Part t covers rows [rows*t/n, rows*(t+1)/n); each writes its own flag.
    std::vector<char> ok(n, 1);
    parallel_parts(
        n, [&](unsigned t) { ok[t] = copy4d_rows(src, ss, dst, ds, ext, es, cvt, rows * t / n, rows * (t + 1) / n); });
    return std::all_of(ok.begin(), ok.end(), [](char c) { return c != 0; });
}

vkattn_view dense(int64_t a, int64_t b, int64_t c, int64_t d) {
    vkattn_view v{};
    v.shape[0] = a, v.shape[1] = b, v.shape[2] = c, v.shape[3] = d;
    v.strides[3] = 1, v.strides[2] = d, v.strides[1] = c * d, v.strides[0] = b * c * d;
    v.offset = 0;
    return v;
}

const char *at(const void *base, const vkattn_view &v, const int64_t start[4], size_t es) {
    int64_t e = v.offset;
    for (int i = 0; i < 4; i++) e += start[i] * v.strides[i];
    return static_cast<const char *>(base) + e * static_cast<int64_t>(es);
}

struct Chunk {
    int64_t b0, nb, kh0, nkh;
    vkattn_attention_desc desc;  // dense device views
    attn::Plan plan;
};

// Byte offsets of the sections of a staging buffer / scratch set.
struct Layout {
    uint64_t q = 0, k = 0, v = 0, mask = 0, out = 0, lse = 0, total = 0;
    uint64_t q_bytes = 0, k_bytes = 0, v_bytes = 0, mask_bytes = 0, out_bytes = 0, lse_bytes = 0;
};

}  // namespace

namespace {

// One pass over the chunks. cvt: f32 inputs are rounded to f16 while packing
// and the f16 result widened while unpacking (VKATTN_ATTENTION_F16_COMPUTE);
// if a finite input overflows f16, *overflow is set and the pass stops (out
// may hold earlier chunks; the caller's second pass rewrites all of it).
Status attention_host_run(Context &ctx, const vkattn_attention_desc &d, const void *q, const void *k, const void *v,
                          const void *mask, void *out, float *lse, bool cvt, bool *overflow) {
    HostProfile prof("staging", ctx.tuning().host_profile);
    const bool has_mask = d.mask_kind != VKATTN_MASK_NONE, has_lse = (d.flags & VKATTN_ATTENTION_LSE) != 0;

    const auto [B, Hq, Nq, D, Hkv, Nk, Dv] = attn::dims(d);
    const int64_t G = Hq / Hkv;
    const uint64_t es = vkattn_dtype_size(d.dtype), oes = vkattn_dtype_size(d.out_dtype);
    const uint64_t mes = has_mask ? vkattn_dtype_size(d.mask_dtype) : 0;
    // What the device sees: dense f16 in and out when converting.
    vkattn_attention_desc dd = d;
    dd.flags &= ~static_cast<uint32_t>(VKATTN_ATTENTION_F16_COMPUTE);
    if (cvt) dd.dtype = VKATTN_DTYPE_F16, dd.out_dtype = VKATTN_DTYPE_F16;
    const uint64_t des = cvt ? 2 : es, does = cvt ? 2 : oes;

    auto layout_of = [&](int64_t nb, int64_t nkh) {
        Layout L;
        const uint64_t nh = static_cast<uint64_t>(nkh * G), ub = static_cast<uint64_t>(nb);
        L.q_bytes = ub * nh * Nq * D * des;
        L.k_bytes = ub * nkh * Nk * D * des;
        L.v_bytes = ub * nkh * Nk * Dv * des;
        if (has_mask)
            L.mask_bytes = (d.mask.shape[0] == 1 ? 1 : ub) * (d.mask.shape[1] == 1 ? 1 : nh) * d.mask.shape[2] *
                           d.mask.shape[3] * mes;
        L.out_bytes = ub * nh * Nq * Dv * does;
        L.lse_bytes = has_lse ? ub * nh * Nq * 4 : 0;
        uint64_t o = 0;
        auto put = [&](uint64_t &at_, uint64_t bytes) {
            at_ = o;
            o = round_up(o + bytes, 256);
        };
        put(L.q, L.q_bytes), put(L.k, L.k_bytes), put(L.v, L.v_bytes), put(L.mask, L.mask_bytes);
        put(L.out, L.out_bytes), put(L.lse, L.lse_bytes);
        L.total = o;
        return L;
    };

    // Chunk size: a few chunks so packing and the bus copies overlap
    // compute, each 12-64 MiB. The first chunk's packing and upload and the
    // last one's download are not hidden, so chunks are smaller where the
    // kernel is slow next to the copies: 8 on the portable path, 4 on
    // matrix units. Each chunk also costs a fixed 0.2-0.5 ms (submissions,
    // semaphore hops, waking the host), hence the 12 MiB floor. On the H200
    // (docs/results/2026-11-22-h200-f-*): Flux f32 (portable) 13.3 ms in 8
    // chunks against 15.8 in 4; Flux f16 (coopmat) 7.0 ms in 4, 8.2 in 8;
    // SD1.5 f32 4.7 ms in 4 chunks of 10.5 MB, 6.3 in 8 of 5 MB; SD1.5
    // cross-attention f32 1.3 ms in 2, 2.0 in 4.
    // VKATTN_HOST_CHUNKS=n asks for about n chunks instead, for tuning.
    const uint64_t whole = layout_of(B, Hkv).total;
    unsigned divisor = 4;
    {
        vkattn_attention_desc wd = dd;
        wd.q = dense(B, Hq, Nq, D), wd.k = dense(B, Hkv, Nk, D), wd.v = dense(B, Hkv, Nk, Dv);
        wd.out = dense(B, Hq, Nq, Dv);
        if (has_lse) wd.lse = dense(B, Hq, Nq, 1);
        if (has_mask) wd.mask = dense(d.mask.shape[0], d.mask.shape[1], d.mask.shape[2], d.mask.shape[3]);
        attn::Plan wp;
        if (attn::make_plan(ctx, wd, &wp).ok() && attn::plan_path(wp, false) == "portable") divisor = 8;
    }
    const uint64_t budget = std::clamp<uint64_t>(whole / divisor, 12ull << 20, 64ull << 20);
    int64_t nb = 1, nkh = Hkv;
    const int64_t want = ctx.tuning().host_chunks;  // tuning hook: 0 = chosen
    if (want >= 1) {                                // batches split first, then kv heads
        if (want <= B)
            nb = (B + want - 1) / want;
        else
            nkh = std::clamp<int64_t>((Hkv + (want + B - 1) / B - 1) / ((want + B - 1) / B), 1, Hkv);
    } else if (const uint64_t per_batch = layout_of(1, Hkv).total; per_batch <= budget) {
        nb = std::clamp<int64_t>(static_cast<int64_t>(budget / per_batch), 1, B);
    } else {
        const uint64_t per_head = layout_of(1, 1).total;
        nkh = std::clamp<int64_t>(static_cast<int64_t>(budget / per_head), 1, Hkv);
    }

    std::vector<Chunk> chunks;
    for (int64_t b0 = 0; b0 < B; b0 += nb)
        for (int64_t kh0 = 0; kh0 < Hkv; kh0 += nkh) {
            Chunk c;
            c.b0 = b0, c.nb = std::min(nb, B - b0), c.kh0 = kh0, c.nkh = std::min(nkh, Hkv - kh0);
            c.desc = dd;
            const int64_t nh = c.nkh * G;
            c.desc.q = dense(c.nb, nh, Nq, D);
            c.desc.k = dense(c.nb, c.nkh, Nk, D);
            c.desc.v = dense(c.nb, c.nkh, Nk, Dv);
            c.desc.out = dense(c.nb, nh, Nq, Dv);
            if (has_lse) c.desc.lse = dense(c.nb, nh, Nq, 1);
            if (has_mask)
                c.desc.mask = dense(d.mask.shape[0] == 1 ? 1 : c.nb, d.mask.shape[1] == 1 ? 1 : nh, d.mask.shape[2],
                                    d.mask.shape[3]);
            VKA_RETURN_IF_ERROR(attn::make_plan(ctx, c.desc, &c.plan));
            chunks.push_back(c);
        }

    const Layout L = layout_of(std::min(nb, B), std::min(nkh, Hkv));
    uint64_t ws_bytes = 0;
    for (const Chunk &c : chunks) ws_bytes = std::max(ws_bytes, c.plan.workspace);

    // Device buffers: one set, or two where the transfer lane lets chunk
    // i+1 upload while chunk i computes.
    TransferLane *lane = chunks.size() > 1 ? ctx.lane() : nullptr;
    const size_t nsets = lane ? 2 : 1;
    struct DevSet {
        std::unique_ptr<Buffer> q, k, v, m, out, lse, ws, dummy;
        attn::Buffers bufs;
    } sets[2];
    for (size_t i = 0; i < nsets; i++) {
        DevSet &S = sets[i];
        VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, L.q_bytes, &S.q));
        VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, L.k_bytes, &S.k));
        VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, L.v_bytes, &S.v));
        if (has_mask) VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, L.mask_bytes, &S.m));
        VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, L.out_bytes, &S.out));
        if (has_lse) VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, L.lse_bytes, &S.lse));
        if (ws_bytes) VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, ws_bytes, &S.ws));
        VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, 16, &S.dummy));
        S.bufs.q = S.q.get(), S.bufs.k = S.k.get(), S.bufs.v = S.v.get(), S.bufs.mask = S.m.get();
        S.bufs.out = S.out.get(), S.bufs.lse = S.lse.get(), S.bufs.workspace = S.ws.get(), S.bufs.dummy = S.dummy.get();
    }
    std::unique_ptr<Buffer> staging[2];
    const size_t nstage = chunks.size() > 1 ? 2 : 1;
    for (size_t i = 0; i < nstage; i++) {
        VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Staging, L.total, &staging[i]));
        if (!staging[i]->mapped()) return Error(VKATTN_ERROR_INTERNAL, "staging buffer is not mapped");
    }
    const attn::Buffers &bufs = sets[0].bufs;
    Buffer *dq = sets[0].q.get(), *dk = sets[0].k.get(), *dv = sets[0].v.get(), *dm = sets[0].m.get();
    Buffer *dout = sets[0].out.get(), *dlse = sets[0].lse.get();

    auto pack = [&](const Chunk &c, char *st) {
        const int64_t nh = c.nkh * G;
        const int64_t sq[4] = {c.b0, c.kh0 * G, 0, 0}, sk[4] = {c.b0, c.kh0, 0, 0};
        const int64_t eq[4] = {c.nb, nh, Nq, D}, ek[4] = {c.nb, c.nkh, Nk, D}, ev[4] = {c.nb, c.nkh, Nk, Dv};
        const Cvt in_cvt = cvt ? Cvt::F32ToF16 : Cvt::None;
        bool fine = copy4d(at(q, d.q, sq, es), d.q.strides, st + L.q, c.desc.q.strides, eq, es, in_cvt);
        fine &= copy4d(at(k, d.k, sk, es), d.k.strides, st + L.k, c.desc.k.strides, ek, es, in_cvt);
        fine &= copy4d(at(v, d.v, sk, es), d.v.strides, st + L.v, c.desc.v.strides, ev, es, in_cvt);
        if (has_mask) {
            const int64_t sm[4] = {d.mask.shape[0] == 1 ? 0 : c.b0, d.mask.shape[1] == 1 ? 0 : c.kh0 * G, 0, 0};
            copy4d(at(mask, d.mask, sm, mes), d.mask.strides, st + L.mask, c.desc.mask.strides, c.desc.mask.shape, mes);
        }
        return fine;
    };
    auto unpack = [&](const Chunk &c, const char *st) {
        const int64_t nh = c.nkh * G;
        const int64_t so[4] = {c.b0, c.kh0 * G, 0, 0};
        const int64_t eo[4] = {c.nb, nh, Nq, Dv}, el[4] = {c.nb, nh, Nq, 1};
        copy4d(st + L.out, c.desc.out.strides, const_cast<char *>(at(out, d.out, so, oes)), d.out.strides, eo, does,
               cvt ? Cvt::F16ToF32 : Cvt::None);
        if (has_lse)
            copy4d(st + L.lse, c.desc.lse.strides, const_cast<char *>(at(lse, d.lse, so, 4)), d.lse.strides, el, 4);
    };
    auto chunk_bytes = [&](const Chunk &c, uint64_t full, int64_t units_b, int64_t units_h) {
        return full / static_cast<uint64_t>(units_b * units_h) * static_cast<uint64_t>(c.nb * c.nkh);
    };
    const int64_t Lnb = std::min(nb, B), Lnkh = std::min(nkh, Hkv);
    // The mask may be shared by all chunks (broadcast), so its size is the
    // chunk's own, not a fraction of the full layout.
    auto chunk_mask_bytes = [&](const Chunk &c) {
        uint64_t mb = mes;
        for (int j = 0; j < 4; j++) mb *= static_cast<uint64_t>(c.desc.mask.shape[j]);
        return mb;
    };

    // Whatever way this function is left (an error, an exception from a
    // copy), no GPU work may still use the buffers above when they are freed:
    // recordings in progress are dropped, submitted work is waited for.
    // A call that completes has waited for all of it already (done = true).
    struct Quiesce {
        Context &ctx;
        bool done = false;
        ~Quiesce() {
            if (done) return;
            for (int j = 0; j < 2; j++) ctx.stream(j).abandon();
            if (ctx.lane()) (void)ctx.lane()->drain();
            for (int j = 0; j < 2; j++) (void)ctx.stream(j).wait();
        }
    } quiesce{ctx};
    CommandStream &stream = ctx.stream();
    uint32_t dispatches = 0;
    double gpu_ms = 0;
    bool gpu_known = true;
    auto note_time = [&](const CommandStream &cs) {
        const double t = cs.last_gpu_ms();
        if (t < 0)
            gpu_known = false;
        else
            gpu_ms += t;
    };
    {
        int64_t last = 0;
        VKA_RETURN_IF_ERROR(view_last(d.out, "out", &last));
        const uint64_t span = static_cast<uint64_t>(last - d.out.offset + 1) * oes;
        if (span >= (4ull << 20) && ctx.tuning().host_hugepage)
            advise_huge_pages(static_cast<char *>(out) + d.out.offset * static_cast<int64_t>(oes), span);
    }

    bool split = false;
    prof.mark("plan+alloc");
    if (lane) {
        // Uploads and downloads on the transfer lane, kernels on the two
        // compute streams; chunk i uses device set and staging buffer i % 2.
        // Semaphore waits: up i after kernel i-2 (its device set), kernel i
        // after up i and after down i-2 (its output buffer), down i after
        // kernel i. The CPU unpacks chunk i after down i and only then packs
        // chunk i+2 into the same staging buffer. Down i is queued as soon
        // as kernel i is, unless uploads and downloads share one transfer
        // queue (late_downloads): there it would hold up every later upload
        // until kernel i ends, so it is queued after up i+1 instead.
        const size_t n = chunks.size();
        const bool late = lane->late_downloads();
        std::vector<uint64_t> up(n), comp(n), down(n);
        auto pack_upload = [&](size_t i, bool *packed) -> Status {
            const Chunk &c = chunks[i];
            Buffer *st = staging[i % 2].get();
            *packed = pack(c, static_cast<char *>(st->mapped()));
            prof.mark("pack");
            if (!*packed) return Status::Ok();
            const DevSet &S = sets[i % 2];
            std::vector<LaneCopy> copies = {{st, L.q, S.q.get(), 0, chunk_bytes(c, L.q_bytes, Lnb, Lnkh)},
                                            {st, L.k, S.k.get(), 0, chunk_bytes(c, L.k_bytes, Lnb, Lnkh)},
                                            {st, L.v, S.v.get(), 0, chunk_bytes(c, L.v_bytes, Lnb, Lnkh)}};
            if (has_mask) copies.push_back({st, L.mask, S.m.get(), 0, chunk_mask_bytes(c)});
            return lane->submit(Channel::Up, copies, i >= 2 ? comp[i - 2] : 0, false, &up[i]);
        };
        auto download = [&](size_t i) -> Status {
            const Chunk &c = chunks[i];
            Buffer *st = staging[i % 2].get();
            const DevSet &S = sets[i % 2];
            std::vector<LaneCopy> copies = {{S.out.get(), 0, st, L.out, chunk_bytes(c, L.out_bytes, Lnb, Lnkh)}};
            if (has_lse) copies.push_back({S.lse.get(), 0, st, L.lse, chunk_bytes(c, L.lse_bytes, Lnb, Lnkh)});
            return lane->submit(Channel::Down, copies, comp[i], true, &down[i]);
        };
        auto compute = [&](size_t i) -> Status {
            StreamScope scope(ctx, static_cast<int>(i & 1));
            CommandStream &cs = ctx.stream();
            VKA_RETURN_IF_ERROR(cs.begin(false));  // waits for chunk i-2's kernel on this stream
            if (i >= 2) note_time(cs);
            VKA_RETURN_IF_ERROR(attn::record(ctx, chunks[i].desc, chunks[i].plan, sets[i % 2].bufs, &dispatches));
            comp[i] = lane->next_compute_value();
            VKA_RETURN_IF_ERROR(cs.submit_timeline(
                {{lane->timeline(Channel::Up), up[i]}, {lane->timeline(Channel::Down), i >= 2 ? down[i - 2] : 0}},
                lane->compute_timeline(), comp[i]));
            split = split || chunks[i].plan.parts > 1;
            return late ? Status::Ok() : download(i);
        };
        bool packed = true;
        Status s = pack_upload(0, &packed);
        if (s.ok() && packed) s = compute(0);
        for (size_t i = 0; s.ok() && packed && i < n; i++) {
            if (i + 1 < n) {
                s = pack_upload(i + 1, &packed);
                if (s.ok() && packed) s = compute(i + 1);
                if (!s.ok() || !packed) break;
            }
            prof.mark("record");
            if (late) s = download(i);
            if (s.ok()) s = lane->wait_host(Channel::Down, down[i]);
            prof.mark("gpu wait");
            if (s.ok()) unpack(chunks[i], static_cast<const char *>(staging[i % 2]->mapped()));
            prof.mark("unpack");
        }
        if (!s.ok()) return s;  // quiesce waits for what was submitted
        if (!packed) {
            *overflow = true;  // the caller runs the call again without converting
            return Status::Ok();
        }
        for (size_t i = n >= 2 ? n - 2 : 0; i < n; i++) {  // the last kernel of each stream
            CommandStream &cs = ctx.stream(static_cast<int>(i & 1));
            VKA_RETURN_IF_ERROR(cs.wait());
            note_time(cs);
        }
    }
    for (size_t i = 0; !lane && i < chunks.size(); i++) {
        const Chunk &c = chunks[i];
        Buffer *st = staging[i % nstage].get();
        const bool packed = pack(c, static_cast<char *>(st->mapped()));
        prof.mark("pack");
        if (!packed) {
            *overflow = true;      // the caller runs the call again without converting
            return stream.wait();  // packing precedes begin(): nothing is being recorded
        }
        Status s = stream.begin();  // waits for chunk i-1
        prof.mark("gpu wait");
        if (!s.ok()) return s;
        if (i > 0) note_time(stream);
        const uint64_t qb = chunk_bytes(c, L.q_bytes, Lnb, Lnkh), kb = chunk_bytes(c, L.k_bytes, Lnb, Lnkh),
                       vb = chunk_bytes(c, L.v_bytes, Lnb, Lnkh), ob = chunk_bytes(c, L.out_bytes, Lnb, Lnkh),
                       lb = chunk_bytes(c, L.lse_bytes, Lnb, Lnkh);
        const uint64_t mb = has_mask ? chunk_mask_bytes(c) : 0;
        s = stream.copy(st, L.q, dq, 0, qb);
        if (s.ok()) s = stream.copy(st, L.k, dk, 0, kb);
        if (s.ok()) s = stream.copy(st, L.v, dv, 0, vb);
        if (s.ok() && has_mask) s = stream.copy(st, L.mask, dm, 0, mb);
        if (s.ok()) s = attn::record(ctx, c.desc, c.plan, bufs, &dispatches);
        if (s.ok()) s = stream.copy(dout, 0, st, L.out, ob);
        if (s.ok() && has_lse) s = stream.copy(dlse, 0, st, L.lse, lb);
        if (s.ok()) s = stream.submit(false);
        if (!s.ok()) return s;
        split = split || c.plan.parts > 1;
        prof.mark("record");
        if (i > 0) unpack(chunks[i - 1], static_cast<const char *>(staging[(i - 1) % nstage]->mapped()));
        prof.mark("unpack");
    }
    if (!lane) {
        Status s = stream.wait();
        prof.mark("gpu wait");
        if (!s.ok()) return s;
        note_time(stream);
        unpack(chunks.back(), static_cast<const char *>(staging[(chunks.size() - 1) % nstage]->mapped()));
        prof.mark("unpack");
    }

    const attn::Plan &p0 = chunks.front().plan;
    ctx.last_call.path = attn::plan_path(p0, split);
    ctx.last_call.variant = cat(attn::plan_variant(p0), " host chunks ", chunks.size(), cvt ? " f16 compute" : "",
                                lane ? (lane->same_queue() ? " lane on compute queue" : " transfer queue") : "",
                                lane && lane->late_downloads() ? " (late downloads)" : "");
    ctx.last_call.dispatches = dispatches;
    ctx.last_call.submits = static_cast<uint32_t>(chunks.size());
    ctx.last_call.gpu_ms = gpu_known ? gpu_ms : -1;
    quiesce.done = true;
    ctx.last_call.dispatch_ms.clear();  // chunks ran on two streams: only the total is meaningful
    return Status::Ok();
}

}  // namespace

Status attention_host(Context &ctx, const vkattn_attention_desc &d, const void *q, const void *k, const void *v,
                      const void *mask, void *out, float *lse) {
    VKA_RETURN_IF_ERROR(attn::validate_desc(d));
    if (!q) return Error(VKATTN_ERROR_NULL_POINTER, "q is NULL");
    if (!k) return Error(VKATTN_ERROR_NULL_POINTER, "k is NULL");
    if (!v) return Error(VKATTN_ERROR_NULL_POINTER, "v is NULL");
    if (!out) return Error(VKATTN_ERROR_NULL_POINTER, "out is NULL");
    if (d.mask_kind != VKATTN_MASK_NONE && !mask)
        return Error(VKATTN_ERROR_NULL_POINTER, "mask is NULL but desc->mask_kind is not NONE");
    if ((d.flags & VKATTN_ATTENTION_LSE) && !lse)
        return Error(VKATTN_ERROR_NULL_POINTER, "lse is NULL but desc->flags has VKATTN_ATTENTION_LSE");
    const bool cvt = (d.flags & VKATTN_ATTENTION_F16_COMPUTE) && d.dtype == VKATTN_DTYPE_F32;
    // Directly on the caller's memory where the device imports it, else
    // through staging.
    auto run = [&](bool c, bool *ovf) {
        bool done = false;
        VKA_RETURN_IF_ERROR(attention_host_direct(ctx, d, q, k, v, mask, out, lse, c, &done, ovf));
        if (done) return Status::Ok();
        return attention_host_run(ctx, d, q, k, v, mask, out, lse, c, ovf);
    };
    bool overflow = false;
    VKA_RETURN_IF_ERROR(run(cvt, &overflow));
    if (!overflow) return Status::Ok();
    // A finite input beyond 65504: the exact f32 pass instead.
    VKA_RETURN_IF_ERROR(run(false, &overflow));
    ctx.last_call.variant += " f16 compute declined: input beyond f16";
    return Status::Ok();
}

}  // namespace vkattn::ops
