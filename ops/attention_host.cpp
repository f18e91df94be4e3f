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

// One host call as the staging path sees it: the caller's arrays and views,
// and the desc the device computes (dense f16 in and out when converting).
struct HostCall {
    const vkattn_attention_desc &d;
    const void *q, *k, *v, *mask;
    void *out;
    float *lse;
    bool cvt;
    vkattn_attention_desc dd;
    int64_t B, Hq, Nq, D, Hkv, Nk, Dv, G;
    uint64_t es, oes, mes;  // caller's element sizes (mask: 0 without one)
    uint64_t des, does;     // the device's input and output element sizes
    bool has_mask, has_lse;

    HostCall(const vkattn_attention_desc &d_, const void *q_, const void *k_, const void *v_, const void *mask_,
             void *out_, float *lse_, bool cvt_)
        : d(d_), q(q_), k(k_), v(v_), mask(mask_), out(out_), lse(lse_), cvt(cvt_), dd(d_) {
        has_mask = d.mask_kind != VKATTN_MASK_NONE, has_lse = (d.flags & VKATTN_ATTENTION_LSE) != 0;
        const attn::Dims n = attn::dims(d);
        B = n.B, Hq = n.Hq, Nq = n.Nq, D = n.D, Hkv = n.Hkv, Nk = n.Nk, Dv = n.Dv, G = Hq / Hkv;
        es = vkattn_dtype_size(d.dtype), oes = vkattn_dtype_size(d.out_dtype);
        mes = has_mask ? vkattn_dtype_size(d.mask_dtype) : 0;
        dd.flags &= ~static_cast<uint32_t>(VKATTN_ATTENTION_F16_COMPUTE);
        if (cvt) dd.dtype = VKATTN_DTYPE_F16, dd.out_dtype = VKATTN_DTYPE_F16;
        des = cvt ? 2 : es, does = cvt ? 2 : oes;
    }

    // The device desc of a chunk of nb batches and nkh kv heads (dense views).
    vkattn_attention_desc dense_desc(int64_t nb, int64_t nkh) const {
        vkattn_attention_desc c = dd;
        const int64_t nh = nkh * G;
        c.q = dense(nb, nh, Nq, D);
        c.k = dense(nb, nkh, Nk, D);
        c.v = dense(nb, nkh, Nk, Dv);
        c.out = dense(nb, nh, Nq, Dv);
        if (has_lse) c.lse = dense(nb, nh, Nq, 1);
        if (has_mask)
            c.mask =
                dense(d.mask.shape[0] == 1 ? 1 : nb, d.mask.shape[1] == 1 ? 1 : nh, d.mask.shape[2], d.mask.shape[3]);
        return c;
    }

    // The staging sections of a chunk of nb batches and nkh kv heads.
    Layout layout_of(int64_t nb, int64_t nkh) const {
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
    }
};

// Chunk size: a few chunks so packing and the bus copies overlap compute,
// each 12-64 MiB. The first chunk's packing and upload and the last one's
// download are not hidden, so chunks are smaller where the kernel is slow
// next to the copies: 8 on the portable path, 4 on matrix units. Each chunk
// also costs a fixed 0.2-0.5 ms (submissions, semaphore hops, waking the
// host), hence the 12 MiB floor. On the H200 (docs/results/2026-11-22-h200-f-*):
// Flux f32 (portable) 13.3 ms in 8 chunks against 15.8 in 4; Flux f16
// (coopmat) 7.0 ms in 4, 8.2 in 8; SD1.5 f32 4.7 ms in 4 chunks of 10.5 MB,
// 6.3 in 8 of 5 MB; SD1.5 cross-attention f32 1.3 ms in 2, 2.0 in 4.
// VKATTN_HOST_CHUNKS=n asks for about n chunks instead, for tuning.
// Sets the batches (*nb) and kv heads (*nkh) of a chunk.
void chunk_extent(Context &ctx, const HostCall &h, int64_t *nb, int64_t *nkh) {
    const uint64_t whole = h.layout_of(h.B, h.Hkv).total;
    unsigned divisor = 4;
    {
        vkattn_attention_desc wd = h.dense_desc(h.B, h.Hkv);
        if (h.has_mask) wd.mask = dense(h.d.mask.shape[0], h.d.mask.shape[1], h.d.mask.shape[2], h.d.mask.shape[3]);
        attn::Plan wp;
        if (attn::make_plan(ctx, wd, &wp).ok() && attn::plan_path(wp, false) == "portable") divisor = 8;
    }
    const uint64_t budget = std::clamp<uint64_t>(whole / divisor, 12ull << 20, 64ull << 20);
    const int64_t B = h.B, Hkv = h.Hkv;
    *nb = 1, *nkh = Hkv;
    const int64_t want = ctx.tuning().host_chunks;  // tuning hook: 0 = chosen
    if (want >= 1) {                                // batches split first, then kv heads
        if (want <= B)
            *nb = (B + want - 1) / want;
        else
            *nkh = std::clamp<int64_t>((Hkv + (want + B - 1) / B - 1) / ((want + B - 1) / B), 1, Hkv);
    } else if (const uint64_t per_batch = h.layout_of(1, Hkv).total; per_batch <= budget) {
        *nb = std::clamp<int64_t>(static_cast<int64_t>(budget / per_batch), 1, B);
    } else {
        const uint64_t per_head = h.layout_of(1, 1).total;
        *nkh = std::clamp<int64_t>(static_cast<int64_t>(budget / per_head), 1, Hkv);
    }
}

// The chunks of nb batches and nkh kv heads, each with its plan.
Status make_chunks(Context &ctx, const HostCall &h, int64_t nb, int64_t nkh, std::vector<Chunk> *chunks) {
    for (int64_t b0 = 0; b0 < h.B; b0 += nb)
        for (int64_t kh0 = 0; kh0 < h.Hkv; kh0 += nkh) {
            Chunk c;
            c.b0 = b0, c.nb = std::min(nb, h.B - b0), c.kh0 = kh0, c.nkh = std::min(nkh, h.Hkv - kh0);
            c.desc = h.dense_desc(c.nb, c.nkh);
            VKA_RETURN_IF_ERROR(attn::make_plan(ctx, c.desc, &c.plan));
            chunks->push_back(c);
        }
    return Status::Ok();
}

// A chunk's device buffers.
struct DevSet {
    std::unique_ptr<Buffer> q, k, v, m, out, lse, ws, dummy;
    attn::Buffers bufs;
};

Status alloc_dev_set(Context &ctx, const HostCall &h, const Layout &L, uint64_t ws_bytes, DevSet *S) {
    VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, L.q_bytes, &S->q));
    VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, L.k_bytes, &S->k));
    VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, L.v_bytes, &S->v));
    if (h.has_mask) VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, L.mask_bytes, &S->m));
    VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, L.out_bytes, &S->out));
    if (h.has_lse) VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, L.lse_bytes, &S->lse));
    if (ws_bytes) VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, ws_bytes, &S->ws));
    VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, 16, &S->dummy));
    S->bufs.q = S->q.get(), S->bufs.k = S->k.get(), S->bufs.v = S->v.get(), S->bufs.mask = S->m.get();
    S->bufs.out = S->out.get(), S->bufs.lse = S->lse.get(), S->bufs.workspace = S->ws.get();
    S->bufs.dummy = S->dummy.get();
    return Status::Ok();
}

// Huge pages under a large output (advise_huge_pages).
Status advise_output_pages(Context &ctx, const HostCall &h) {
    int64_t last = 0;
    VKA_RETURN_IF_ERROR(view_last(h.d.out, "out", &last));
    const uint64_t span = static_cast<uint64_t>(last - h.d.out.offset + 1) * h.oes;
    if (span >= (4ull << 20) && ctx.tuning().host_hugepage)
        advise_huge_pages(static_cast<char *>(h.out) + h.d.out.offset * static_cast<int64_t>(h.oes), span);
    return Status::Ok();
}

// Whatever way the call is left (an error, an exception from a copy), no
// GPU work may still use its buffers when they are freed: recordings in
// progress are dropped, submitted work is waited for. A call that completes
// has waited for all of it already (done = true).
struct Quiesce {
    Context &ctx;
    bool done = false;
    ~Quiesce() {
        if (done) return;
        for (int j = 0; j < 2; j++) ctx.stream(j).abandon();
        if (ctx.lane()) (void)ctx.lane()->drain();
        for (int j = 0; j < 2; j++) (void)ctx.stream(j).wait();
    }
};

// The chunk pipeline: start(i) packs chunk i into staging buffer i % 2,
// uploads it, runs its kernel and queues its download; finish(i) waits for
// chunk i and unpacks it. run() interleaves them, start(i + 1) before
// finish(i), so the CPU packs and unpacks while the GPU computes.
//
// With a transfer lane (`lane`): uploads and downloads on the lane, kernels
// on the two compute streams; chunk i uses device set and staging buffer
// i % 2. Semaphore waits: up i after kernel i-2 (its device set), kernel i
// after up i and after down i-2 (its output buffer), down i after kernel i.
// The CPU unpacks chunk i after down i and only then packs chunk i+2 into
// the same staging buffer. Down i is queued as soon as kernel i is, unless
// uploads and downloads share one transfer queue (late_downloads): there it
// would hold up every later upload until kernel i ends, so it is queued
// after up i+1 instead.
//
// Without one: one device set; the copies and the kernel of chunk i are
// one submission on the compute stream, whose begin() waits for chunk i-1.
class StagingPipeline {
public:
    StagingPipeline(Context &ctx, const HostCall &h, const std::vector<Chunk> &chunks, const Layout &L, DevSet *sets,
                    size_t nsets, std::unique_ptr<Buffer> *staging, size_t nstage, TransferLane *lane,
                    HostProfile &prof)
        : ctx_(ctx),
          h_(h),
          chunks_(chunks),
          L_(L),
          sets_(sets),
          nsets_(nsets),
          staging_(staging),
          nstage_(nstage),
          lane_(lane),
          late_(lane && lane->late_downloads()),
          prof_(prof),
          n_(chunks.size()),
          up_(n_),
          comp_(n_),
          down_(n_) {
        Lnb_ = std::min(chunks.front().nb, h.B), Lnkh_ = std::min(chunks.front().nkh, h.Hkv);
    }

    // Runs every chunk; sets *overflow (and stops) where a finite input
    // overflows f16 while packing.
    Status run(bool *overflow) {
        bool packed = true;
        Status s = start(0, &packed);
        for (size_t i = 0; s.ok() && packed && i < n_; i++) {
            if (i + 1 < n_) {
                s = start(i + 1, &packed);
                if (!s.ok() || !packed) break;
            }
            s = finish(i);
        }
        if (!s.ok()) return s;  // quiesce waits for what was submitted
        if (!packed) {
            *overflow = true;
            // Without the lane, packing precedes begin(): nothing is being recorded.
            return lane_ ? Status::Ok() : ctx_.stream().wait();
        }
        return Status::Ok();
    }

    uint32_t dispatches() const { return dispatches_; }
    bool split() const { return split_; }
    double gpu_ms() const { return gpu_known_ ? gpu_ms_ : -1; }

private:
    char *staging(size_t i) const { return static_cast<char *>(staging_[i % nstage_]->mapped()); }
    const DevSet &set(size_t i) const { return sets_[i % nsets_]; }

    // Packs chunk i; uploads it and records its kernel (and, unless late,
    // its download) where it packed.
    Status start(size_t i, bool *packed) {
        *packed = pack(chunks_[i], staging(i));
        prof_.mark("pack");
        if (!*packed) return Status::Ok();
        if (!lane_) return submit_on_stream(i);
        VKA_RETURN_IF_ERROR(upload_on_lane(i));
        return compute_on_lane(i);
    }

    // Waits for chunk i's results and unpacks them (after the last chunk,
    // waits for every kernel).
    Status finish(size_t i) {
        const bool last = i + 1 == n_;
        if (!lane_) {
            if (last) {  // earlier chunks were waited for by the next begin()
                Status s = ctx_.stream().wait();
                prof_.mark("gpu wait");
                if (!s.ok()) return s;
                note_time(ctx_.stream());
            }
            unpack(chunks_[i], staging(i));
            prof_.mark("unpack");
            return Status::Ok();
        }
        prof_.mark("record");
        Status s = late_ ? download_on_lane(i) : Status::Ok();
        if (s.ok()) s = lane_->wait_host(Channel::Down, down_[i]);
        prof_.mark("gpu wait");
        if (s.ok()) unpack(chunks_[i], staging(i));
        prof_.mark("unpack");
        if (!s.ok() || !last) return s;
        for (size_t j = n_ >= 2 ? n_ - 2 : 0; j < n_; j++) {  // the last kernel of each stream
            CommandStream &cs = ctx_.stream(static_cast<int>(j & 1));
            VKA_RETURN_IF_ERROR(cs.wait());
            note_time(cs);
        }
        return Status::Ok();
    }

    // Without the lane: upload, kernel and download of chunk i in one
    // submission on the compute stream.
    Status submit_on_stream(size_t i) {
        const Chunk &c = chunks_[i];
        Buffer *st = staging_[i % nstage_].get();
        const DevSet &S = set(i);
        CommandStream &stream = ctx_.stream();
        Status s = stream.begin();  // waits for chunk i-1
        prof_.mark("gpu wait");
        if (!s.ok()) return s;
        if (i > 0) note_time(stream);
        s = stream.copy(st, L_.q, S.q.get(), 0, chunk_bytes(c, L_.q_bytes));
        if (s.ok()) s = stream.copy(st, L_.k, S.k.get(), 0, chunk_bytes(c, L_.k_bytes));
        if (s.ok()) s = stream.copy(st, L_.v, S.v.get(), 0, chunk_bytes(c, L_.v_bytes));
        if (s.ok() && h_.has_mask) s = stream.copy(st, L_.mask, S.m.get(), 0, chunk_mask_bytes(c));
        if (s.ok()) s = attn::record(ctx_, c.desc, c.plan, S.bufs, &dispatches_);
        if (s.ok()) s = stream.copy(S.out.get(), 0, st, L_.out, chunk_bytes(c, L_.out_bytes));
        if (s.ok() && h_.has_lse) s = stream.copy(S.lse.get(), 0, st, L_.lse, chunk_bytes(c, L_.lse_bytes));
        if (s.ok()) s = stream.submit(false);
        if (!s.ok()) return s;
        split_ = split_ || c.plan.parts > 1;
        prof_.mark("record");
        return Status::Ok();
    }

    Status upload_on_lane(size_t i) {
        const Chunk &c = chunks_[i];
        Buffer *st = staging_[i % nstage_].get();
        const DevSet &S = set(i);
        std::vector<LaneCopy> copies = {{st, L_.q, S.q.get(), 0, chunk_bytes(c, L_.q_bytes)},
                                        {st, L_.k, S.k.get(), 0, chunk_bytes(c, L_.k_bytes)},
                                        {st, L_.v, S.v.get(), 0, chunk_bytes(c, L_.v_bytes)}};
        if (h_.has_mask) copies.push_back({st, L_.mask, S.m.get(), 0, chunk_mask_bytes(c)});
        return lane_->submit(Channel::Up, copies, i >= 2 ? comp_[i - 2] : 0, false, &up_[i]);
    }

    Status compute_on_lane(size_t i) {
        StreamScope scope(ctx_, static_cast<int>(i & 1));
        CommandStream &cs = ctx_.stream();
        VKA_RETURN_IF_ERROR(cs.begin(false));  // waits for chunk i-2's kernel on this stream
        if (i >= 2) note_time(cs);
        VKA_RETURN_IF_ERROR(attn::record(ctx_, chunks_[i].desc, chunks_[i].plan, set(i).bufs, &dispatches_));
        comp_[i] = lane_->next_compute_value();
        VKA_RETURN_IF_ERROR(cs.submit_timeline(
            {{lane_->timeline(Channel::Up), up_[i]}, {lane_->timeline(Channel::Down), i >= 2 ? down_[i - 2] : 0}},
            lane_->compute_timeline(), comp_[i]));
        split_ = split_ || chunks_[i].plan.parts > 1;
        return late_ ? Status::Ok() : download_on_lane(i);
    }

    Status download_on_lane(size_t i) {
        const Chunk &c = chunks_[i];
        Buffer *st = staging_[i % nstage_].get();
        const DevSet &S = set(i);
        std::vector<LaneCopy> copies = {{S.out.get(), 0, st, L_.out, chunk_bytes(c, L_.out_bytes)}};
        if (h_.has_lse) copies.push_back({S.lse.get(), 0, st, L_.lse, chunk_bytes(c, L_.lse_bytes)});
        return lane_->submit(Channel::Down, copies, comp_[i], true, &down_[i]);
    }

    // Packs chunk c's q, k, v (and mask) densely into staging `st`; false
    // when a finite input overflowed f16.
    bool pack(const Chunk &c, char *st) const {
        const HostCall &h = h_;
        const int64_t nh = c.nkh * h.G;
        const int64_t sq[4] = {c.b0, c.kh0 * h.G, 0, 0}, sk[4] = {c.b0, c.kh0, 0, 0};
        const int64_t eq[4] = {c.nb, nh, h.Nq, h.D}, ek[4] = {c.nb, c.nkh, h.Nk, h.D},
                      ev[4] = {c.nb, c.nkh, h.Nk, h.Dv};
        const Cvt in_cvt = h.cvt ? Cvt::F32ToF16 : Cvt::None;
        const vkattn_attention_desc &d = h.d;
        bool fine = copy4d(at(h.q, d.q, sq, h.es), d.q.strides, st + L_.q, c.desc.q.strides, eq, h.es, in_cvt);
        fine &= copy4d(at(h.k, d.k, sk, h.es), d.k.strides, st + L_.k, c.desc.k.strides, ek, h.es, in_cvt);
        fine &= copy4d(at(h.v, d.v, sk, h.es), d.v.strides, st + L_.v, c.desc.v.strides, ev, h.es, in_cvt);
        if (h.has_mask) {
            const int64_t sm[4] = {d.mask.shape[0] == 1 ? 0 : c.b0, d.mask.shape[1] == 1 ? 0 : c.kh0 * h.G, 0, 0};
            copy4d(at(h.mask, d.mask, sm, h.mes), d.mask.strides, st + L_.mask, c.desc.mask.strides, c.desc.mask.shape,
                   h.mes);
        }
        return fine;
    }

    // Copies chunk c's out (and lse) from staging `st` to the caller's arrays.
    void unpack(const Chunk &c, const char *st) const {
        const HostCall &h = h_;
        const vkattn_attention_desc &d = h.d;
        const int64_t nh = c.nkh * h.G;
        const int64_t so[4] = {c.b0, c.kh0 * h.G, 0, 0};
        const int64_t eo[4] = {c.nb, nh, h.Nq, h.Dv}, el[4] = {c.nb, nh, h.Nq, 1};
        copy4d(st + L_.out, c.desc.out.strides, const_cast<char *>(at(h.out, d.out, so, h.oes)), d.out.strides, eo,
               h.does, h.cvt ? Cvt::F16ToF32 : Cvt::None);
        if (h.has_lse)
            copy4d(st + L_.lse, c.desc.lse.strides, const_cast<char *>(at(h.lse, d.lse, so, 4)), d.lse.strides, el, 4);
    }

    // A section's bytes for chunk c (the layout is the first, largest chunk's).
    uint64_t chunk_bytes(const Chunk &c, uint64_t full) const {
        return full / static_cast<uint64_t>(Lnb_ * Lnkh_) * static_cast<uint64_t>(c.nb * c.nkh);
    }
    // The mask may be shared by all chunks (broadcast), so its size is the
    // chunk's own, not a fraction of the full layout.
    uint64_t chunk_mask_bytes(const Chunk &c) const {
        uint64_t mb = h_.mes;
        for (int j = 0; j < 4; j++) mb *= static_cast<uint64_t>(c.desc.mask.shape[j]);
        return mb;
    }

    void note_time(const CommandStream &cs) {
        const double t = cs.last_gpu_ms();
        if (t < 0)
            gpu_known_ = false;
        else
            gpu_ms_ += t;
    }

    Context &ctx_;
    const HostCall &h_;
    const std::vector<Chunk> &chunks_;
    const Layout &L_;
    DevSet *sets_;
    size_t nsets_;
    std::unique_ptr<Buffer> *staging_;
    size_t nstage_;
    TransferLane *lane_;
    bool late_;
    HostProfile &prof_;
    size_t n_;
    std::vector<uint64_t> up_, comp_, down_;  // timeline values of each chunk's upload, kernel, download
    int64_t Lnb_ = 1, Lnkh_ = 1;
    uint32_t dispatches_ = 0;
    double gpu_ms_ = 0;
    bool gpu_known_ = true, split_ = false;
};

// One pass over the chunks. cvt: f32 inputs are rounded to f16 while packing
// and the f16 result widened while unpacking (VKATTN_ATTENTION_F16_COMPUTE);
// if a finite input overflows f16, *overflow is set and the pass stops (out
// may hold earlier chunks; the caller's second pass rewrites all of it).
Status attention_host_run(Context &ctx, const vkattn_attention_desc &d, const void *q, const void *k, const void *v,
                          const void *mask, void *out, float *lse, bool cvt, bool *overflow) {
    HostProfile prof("staging", ctx.tuning().host_profile);
    const HostCall h(d, q, k, v, mask, out, lse, cvt);
    int64_t nb = 1, nkh = h.Hkv;
    chunk_extent(ctx, h, &nb, &nkh);
    std::vector<Chunk> chunks;
    VKA_RETURN_IF_ERROR(make_chunks(ctx, h, nb, nkh, &chunks));
    const Layout L = h.layout_of(std::min(nb, h.B), std::min(nkh, h.Hkv));
    uint64_t ws_bytes = 0;
    for (const Chunk &c : chunks) ws_bytes = std::max(ws_bytes, c.plan.workspace);

    // Device buffers: one set, or two where the transfer lane lets chunk
    // i+1 upload while chunk i computes; staging: two buffers for two chunks or more.
    TransferLane *lane = chunks.size() > 1 ? ctx.lane() : nullptr;
    const size_t nsets = lane ? 2 : 1;
    DevSet sets[2];
    for (size_t i = 0; i < nsets; i++) VKA_RETURN_IF_ERROR(alloc_dev_set(ctx, h, L, ws_bytes, &sets[i]));
    std::unique_ptr<Buffer> staging[2];
    const size_t nstage = chunks.size() > 1 ? 2 : 1;
    for (size_t i = 0; i < nstage; i++) {
        VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Staging, L.total, &staging[i]));
        if (!staging[i]->mapped()) return Error(VKATTN_ERROR_INTERNAL, "staging buffer is not mapped");
    }

    Quiesce quiesce{ctx};
    VKA_RETURN_IF_ERROR(advise_output_pages(ctx, h));
    prof.mark("plan+alloc");
    StagingPipeline pipeline(ctx, h, chunks, L, sets, nsets, staging, nstage, lane, prof);
    bool overflowed = false;
    const Status s = pipeline.run(&overflowed);
    if (overflowed) *overflow = true;  // the caller runs the call again without converting
    VKA_RETURN_IF_ERROR(s);
    if (overflowed) return Status::Ok();

    const attn::Plan &p0 = chunks.front().plan;
    ctx.last_call.path = attn::plan_path(p0, pipeline.split());
    ctx.last_call.variant = cat(attn::plan_variant(p0), " host chunks ", chunks.size(), cvt ? " f16 compute" : "",
                                lane ? (lane->same_queue() ? " lane on compute queue" : " transfer queue") : "",
                                lane && lane->late_downloads() ? " (late downloads)" : "");
    ctx.last_call.dispatches = pipeline.dispatches();
    ctx.last_call.submits = static_cast<uint32_t>(chunks.size());
    ctx.last_call.gpu_ms = pipeline.gpu_ms();
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
