// Test scaffolding shared by the attention tests (portable and coopmat): a
// case description, host arrays in any dtype, views in several layouts,
// deterministic inputs, and running a case through the device or host API.
// Each test file keeps its own check() (tolerances differ per path).
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "attention_reference.h"
#include "context.h"
#include "test_util.h"
#include "vkattn.h"

namespace attn_test {

// Tolerances in ulps of the output dtype at the row magnitude; the reasoning
// behind them is at the top of test_attention.cpp.
constexpr double kTolLowp = 2.0;  // f16 / bf16 outputs
inline double tol_f32(int64_t nk) {
    return 8.0 * (1.0 + std::log2(static_cast<double>(nk)));
}

// Largest error seen per key (output dtype, lse, ...), printed at exit.
struct Stats {
    const char *label;
    int width;
    std::map<std::string, double> worst;
    ~Stats() {
        for (auto &[k, v] : worst) std::printf("%s max error %-*s %.3f ulp\n", label, width, k.c_str(), v);
    }
    void note(const std::string &k, double v) { worst[k] = std::max(worst[k], v); }
};

enum class Layout { BHND, BNHD, Sliced };

struct Case {
    vkattn_dtype dtype = VKATTN_DTYPE_F16;
    vkattn_dtype out_dtype = VKATTN_DTYPE_COUNT_;  // COUNT_: same as dtype
    vkattn_backend backend = VKATTN_BACKEND_AUTO;
    int64_t B = 1, Hq = 2, Hkv = 0, Nq = 77, Nk = 0, D = 64, Dv = 0;  // 0: same as Hq / Nq / D
    uint32_t flags = VKATTN_ATTENTION_LSE;
    float scale = 0;
    Layout layout = Layout::BHND;
    vkattn_mask_kind mask_kind = VKATTN_MASK_NONE;
    vkattn_dtype mask_dtype = VKATTN_DTYPE_F32;
    int64_t mask_shape[4] = {0, 0, 0, 0};  // 0: full size, 1: broadcast
    bool mask_stride0 = false;             // broadcast by full shape + stride 0 instead of shape 1
    bool mask_neg_inf = false;             // scatter -inf (or false) entries, rows 1 and 3 fully masked
    float qk_mul = 1, v_add = 0;
    bool host = false;
    bool p_round = false;  // coopmat: add the f16-P rounding bound (see test_attention_coopmat.cpp)
    uint32_t seed = 1;
};

struct Array {
    vkattn_dtype dt = VKATTN_DTYPE_F32;
    int64_t n = 0;
    std::vector<uint8_t> bytes;
    void alloc(vkattn_dtype t, int64_t count) {
        dt = t, n = count;
        bytes.assign(static_cast<size_t>(count * static_cast<int64_t>(vkattn_dtype_size(t))), 0);
    }
    void set(int64_t i, double x) {
        const float f = static_cast<float>(x);
        if (dt == VKATTN_DTYPE_F32) {
            std::memcpy(&bytes[i * 4], &f, 4);
        } else if (dt == VKATTN_DTYPE_F16 || dt == VKATTN_DTYPE_BF16) {
            const uint16_t h = dt == VKATTN_DTYPE_F16 ? vkattn::ref::f32_to_f16(f) : vkattn::ref::f32_to_bf16(f);
            std::memcpy(&bytes[i * 2], &h, 2);
        } else {
            bytes[i] = x != 0 ? 1 : 0;
        }
    }
    double get(int64_t i) const { return vkattn::ref::load(bytes.data(), dt, i); }
};

// A view of shape [a, b, c, d] in the given layout and the elements its array needs.
inline vkattn_view make_view(Layout l, int64_t a, int64_t b, int64_t c, int64_t d, int64_t *elems) {
    vkattn_view v{};
    v.shape[0] = a, v.shape[1] = b, v.shape[2] = c, v.shape[3] = d;
    switch (l) {
        case Layout::BHND:
            v.strides[3] = 1, v.strides[2] = d, v.strides[1] = c * d, v.strides[0] = b * c * d;
            *elems = a * b * c * d;
            break;
        case Layout::BNHD:  // [B, N, H, D] memory
            v.strides[3] = 1, v.strides[1] = d, v.strides[2] = b * d, v.strides[0] = c * b * d;
            *elems = a * b * c * d;
            break;
        case Layout::Sliced: {  // every other element of a wider row, past an offset: the gather path
            const int64_t row = 2 * d + 3;
            v.offset = 5;
            v.strides[3] = 2, v.strides[2] = row, v.strides[1] = c * row, v.strides[0] = b * c * row;
            *elems = a * b * c * row + 5;
            break;
        }
    }
    return v;
}

struct Problem {
    Case cs;
    vkattn_attention_desc desc = VKATTN_ATTENTION_DESC_INIT;
    Array q, k, v, mask, out, lse;
};

// Fills the descriptor and deterministic inputs of a case (q, k ~ N(0,1) *
// qk_mul, v ~ N(0,1) + v_add); out is pre-filled with the sentinel 0x7b.
inline void build(const Case &c0, Problem *p) {
    Case c = c0;
    if (!c.Hkv) c.Hkv = c.Hq;
    if (!c.Nk) c.Nk = c.Nq;
    if (!c.Dv) c.Dv = c.D;
    if (c.out_dtype == VKATTN_DTYPE_COUNT_) c.out_dtype = c.dtype;
    p->cs = c;
    vkattn_attention_desc &d = p->desc;
    d = VKATTN_ATTENTION_DESC_INIT;
    d.dtype = c.dtype, d.out_dtype = c.out_dtype, d.flags = c.flags, d.backend = c.backend;
    if (c.scale != 0) d.flags |= VKATTN_ATTENTION_SCALE, d.scale = c.scale;
    d.mask_kind = c.mask_kind;
    d.mask_dtype = c.mask_kind == VKATTN_MASK_BOOL ? VKATTN_DTYPE_BOOL : c.mask_dtype;
    int64_t n = 0;
    std::mt19937 rng(c.seed);
    std::normal_distribution<double> nd(0.0, 1.0);
    d.q = make_view(c.layout, c.B, c.Hq, c.Nq, c.D, &n);
    p->q.alloc(c.dtype, n);
    for (int64_t i = 0; i < n; i++) p->q.set(i, nd(rng) * c.qk_mul);
    d.k = make_view(c.layout, c.B, c.Hkv, c.Nk, c.D, &n);
    p->k.alloc(c.dtype, n);
    for (int64_t i = 0; i < n; i++) p->k.set(i, nd(rng) * c.qk_mul);
    d.v = make_view(c.layout, c.B, c.Hkv, c.Nk, c.Dv, &n);
    p->v.alloc(c.dtype, n);
    for (int64_t i = 0; i < n; i++) p->v.set(i, nd(rng) + c.v_add);
    d.out = make_view(c.layout, c.B, c.Hq, c.Nq, c.Dv, &n);
    p->out.alloc(c.out_dtype, n);
    std::fill(p->out.bytes.begin(), p->out.bytes.end(), 0x7b);  // sentinel: untouched outside the view
    if (c.flags & VKATTN_ATTENTION_LSE) {
        d.lse = make_view(Layout::BHND, c.B, c.Hq, c.Nq, 1, &n);
        p->lse.alloc(VKATTN_DTYPE_F32, n);
    }
    if (c.mask_kind != VKATTN_MASK_NONE) {
        const int64_t full[4] = {c.B, c.Hq, c.Nq, c.Nk};
        int64_t ms[4];
        for (int i = 0; i < 4; i++) ms[i] = c.mask_shape[i] == 1 ? 1 : full[i];
        d.mask = make_view(Layout::BHND, ms[0], ms[1], ms[2], ms[3], &n);
        if (c.mask_stride0)
            for (int i = 0; i < 4; i++)
                if (ms[i] == 1) d.mask.shape[i] = full[i], d.mask.strides[i] = 0;
        p->mask.alloc(d.mask_dtype, n);
        std::uniform_real_distribution<double> ud(0.0, 1.0);
        for (int64_t i = 0; i < n; i++) {
            const bool drop = c.mask_neg_inf && ud(rng) < 0.3;
            if (c.mask_kind == VKATTN_MASK_BOOL)
                p->mask.set(i, drop ? 0 : 1);
            else
                p->mask.set(i, drop ? -std::numeric_limits<double>::infinity() : nd(rng) * 2);
        }
        if (c.mask_neg_inf && ms[2] > 1 && ms[3] > 1) {  // rows 1 and 3 of each (b, h) fully masked
            for (int64_t a = 0; a < ms[0]; a++)
                for (int64_t b = 0; b < ms[1]; b++)
                    for (int64_t r : {int64_t(1), int64_t(3)})
                        if (r < ms[2])
                            for (int64_t j = 0; j < ms[3]; j++)
                                p->mask.set(((a * ms[1] + b) * ms[2] + r) * ms[3] + j,
                                            c.mask_kind == VKATTN_MASK_BOOL ? 0 : -INFINITY);
        }
    }
}

// Device tensors of one run, destroyed with it.
struct Tensors {
    std::vector<vkattn_tensor> all;
    ~Tensors() {
        for (auto t : all) vkattn_tensor_destroy(t);
    }
    vkattn_tensor make(vkattn_context ctx, const Array &a) {
        vkattn_tensor t = nullptr;
        const int64_t n = a.n;
        VKA_CHECK_OK(vkattn_tensor_create(ctx, a.dt, 1, &n, &t));
        all.push_back(t);
        VKA_CHECK_OK(vkattn_tensor_upload(t, a.bytes.data(), a.bytes.size()));
        return t;
    }
};

// Runs a built case through vkattn_attention_host (cs.host) or device tensors.
inline vkattn_status run(vkattn_context ctx, Problem &p) {
    const bool has_mask = p.desc.mask_kind != VKATTN_MASK_NONE, has_lse = p.desc.flags & VKATTN_ATTENTION_LSE;
    if (p.cs.host)
        return vkattn_attention_host(ctx, &p.desc, p.q.bytes.data(), p.k.bytes.data(), p.v.bytes.data(),
                                     has_mask ? p.mask.bytes.data() : nullptr, p.out.bytes.data(),
                                     has_lse ? reinterpret_cast<float *>(p.lse.bytes.data()) : nullptr);
    Tensors ts;
    vkattn_tensor tq = ts.make(ctx, p.q), tk = ts.make(ctx, p.k), tv = ts.make(ctx, p.v), to = ts.make(ctx, p.out);
    vkattn_tensor tm = has_mask ? ts.make(ctx, p.mask) : nullptr, tl = has_lse ? ts.make(ctx, p.lse) : nullptr;
    vkattn_status s = vkattn_attention(ctx, &p.desc, tq, tk, tv, tm, to, tl);
    if (s != VKATTN_SUCCESS) return s;
    VKA_CHECK_OK(vkattn_tensor_download(to, p.out.bytes.data(), p.out.bytes.size()));
    if (has_lse) VKA_CHECK_OK(vkattn_tensor_download(tl, p.lse.bytes.data(), p.lse.bytes.size()));
    return s;
}

// Rows to check against the reference: all of a short sequence; else the
// edges, 16-row tile boundaries, the middle and a few random ones.
inline std::vector<int64_t> sample_rows(int64_t n, uint32_t seed) {
    std::vector<int64_t> r;
    if (n <= 160) {
        for (int64_t i = 0; i < n; i++) r.push_back(i);
        return r;
    }
    for (int64_t i : {int64_t(0), int64_t(1), int64_t(2), int64_t(3), int64_t(15), int64_t(16), n / 2, n - 2, n - 1})
        r.push_back(i);
    std::mt19937 rng(seed);
    for (int i = 0; i < 9; i++) r.push_back(static_cast<int64_t>(rng() % static_cast<uint32_t>(n)));
    std::sort(r.begin(), r.end());
    r.erase(std::unique(r.begin(), r.end()), r.end());
    return r;
}

// What the context's last call reported.
struct LastCall {
    std::string path, variant;
    std::string both() const { return path + " | " + variant; }
};
inline LastCall last_call(vkattn_context ctx) {
    vkattn_call_info info = VKATTN_CALL_INFO_INIT;
    REQUIRE(vkattn_context_last_call(ctx, &info) == VKATTN_SUCCESS);
    return {info.path, info.variant};
}

// Two runs that must agree to the byte (determinism, the two host routes).
inline void check_same_bytes(const Problem &a, const Problem &b) {
    CHECK(a.out.bytes == b.out.bytes);
    CHECK(a.lse.bytes == b.lse.bytes);
}

// Options of a context whose host calls never import caller memory (the
// staging route).
inline vkattn_context_options staging_options() {
    vkattn_context_options o = VKATTN_CONTEXT_OPTIONS_INIT;
    o.flags |= VKATTN_CONTEXT_NO_HOST_IMPORT;
    return o;
}

// Runs host problem `a` on `direct` (imported memory: the caller sets
// VKATTN_HOST_DIRECT=1) and its copy `b` on `staged` (staging_options()).
// Each run must report its route, the direct one with `direct_tag` in its
// variant, and both must give the same bytes.
inline void run_both_host_routes(vkattn_context direct, vkattn_context staged, Problem &a, Problem &b,
                                 const char *direct_tag) {
    REQUIRE(run(direct, a) == VKATTN_SUCCESS);
    CHECK(last_call(direct).variant.find(direct_tag) != std::string::npos);
    REQUIRE(run(staged, b) == VKATTN_SUCCESS);
    CHECK(last_call(staged).variant.find("host chunks") != std::string::npos);
    check_same_bytes(a, b);
}

// Sets one tuning hook of a live context for a scope, by the name of the
// variable that would set it at context creation ("" = its default), and
// restores the context's hooks after.
class TuneGuard {
public:
    TuneGuard(vkattn_context ctx, const char *name, const char *value) : tuning_(ctx->ctx->tuning()), saved_(tuning_) {
        const vkattn::Status s = vkattn::set_tuning(&tuning_, name, value);
        INFO(name << "=" << value << ": " << s.message());
        REQUIRE(s.ok());
    }
    ~TuneGuard() { tuning_ = saved_; }
    TuneGuard(const TuneGuard &) = delete;
    TuneGuard &operator=(const TuneGuard &) = delete;

private:
    vkattn::Tuning &tuning_;
    vkattn::Tuning saved_;
};

// The two host routes side by side: `direct` takes the imported-memory route
// (VKATTN_HOST_DIRECT=1 for the object's lifetime; discrete GPUs take staging
// by default), `staged` never imports (staging_options()).
struct HostRoutes {
    EnvVar route{"VKATTN_HOST_DIRECT", "1"};
    TestContext direct;
    vkattn_context_options staged_options = staging_options();
    TestContext staged{&staged_options};
};

}  // namespace attn_test
