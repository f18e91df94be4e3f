#include "runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <thread>

#include "attention_reference.h"

namespace vkbench {

namespace ref = vkattn::ref;
using Clock = std::chrono::steady_clock;

const char *backend_name(vkattn_backend b) {
    switch (b) {
        case VKATTN_BACKEND_AUTO:
            return "auto";
        case VKATTN_BACKEND_PORTABLE:
            return "portable";
        case VKATTN_BACKEND_COOPMAT:
            return "coopmat";
    }
    return "?";
}

bool parse_backend(const std::string &s, vkattn_backend *out) {
    if (s == "auto")
        *out = VKATTN_BACKEND_AUTO;
    else if (s == "portable")
        *out = VKATTN_BACKEND_PORTABLE;
    else if (s == "coopmat")
        *out = VKATTN_BACKEND_COOPMAT;
    else
        return false;
    return true;
}

double default_tol_ulps(vkattn_dtype out_dtype) {
    // f16/bf16: the final rounding (0.5 ulp) plus f32 accumulation noise.
    // f32: the output ulp is as fine as the accumulator's, so sums over
    // thousands of keys and the shader's exp() approximation show up.
    return out_dtype == VKATTN_DTYPE_F32 ? 256.0 : 2.0;
}

std::string status_message(vkattn_status s) {
    std::string name = vkattn_status_string(s), msg = vkattn_last_error();
    if (msg.empty()) return name;
    if (msg.rfind(name, 0) == 0) return msg;  // the library already names the status
    return name + ": " + msg;
}

namespace {

// ---------------------------------------------------------------- inputs

uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 bits, so the value is exact in f32.
inline float unit(uint64_t *state) {
    return static_cast<float>(splitmix64(state) >> 40) * (1.0f / 16777216.0f);
}

void store(void *base, vkattn_dtype dtype, size_t i, float x) {
    switch (dtype) {
        case VKATTN_DTYPE_F32:
            static_cast<float *>(base)[i] = x;
            break;
        case VKATTN_DTYPE_F16:
            static_cast<uint16_t *>(base)[i] = ref::f32_to_f16(x);
            break;
        case VKATTN_DTYPE_BF16:
            static_cast<uint16_t *>(base)[i] = ref::f32_to_bf16(x);
            break;
        case VKATTN_DTYPE_BOOL:
            static_cast<uint8_t *>(base)[i] = x != 0.0f ? 1 : 0;
            break;
        default:
            break;
    }
}

// Fill n elements in parallel. Each chunk of 64Ki elements has its own
// generator seeded from (seed, stream, chunk), so the values do not depend
// on the number of threads.
template <class F>
void fill_parallel(size_t n, uint64_t seed, uint64_t stream, F &&gen) {
    const size_t chunk = size_t{1} << 16;
    const size_t chunks = (n + chunk - 1) / chunk;
    unsigned threads = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
    if (chunks < 4) threads = 1;
    auto work = [&](unsigned t) {
        for (size_t c = t; c < chunks; c += threads) {
            uint64_t st = seed * 0x2545F4914F6CDD1Dull ^ (stream << 48) ^ c;
            splitmix64(&st);
            size_t end = std::min(n, (c + 1) * chunk);
            for (size_t i = c * chunk; i < end; ++i) gen(i, &st);
        }
    };
    if (threads == 1) {
        work(0);
        return;
    }
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work, t);
    for (auto &th : pool) th.join();
}

struct HostArray {
    std::vector<uint8_t> bytes;
    std::vector<int64_t> shape;  // dense array / device tensor shape
    vkattn_dtype dtype = VKATTN_DTYPE_F32;
    vkattn_view view{};
    void *data() { return bytes.data(); }
    const void *data() const { return bytes.data(); }
};

int64_t product(const std::vector<int64_t> &s) {
    int64_t p = 1;
    for (int64_t d : s) p *= d;
    return p;
}

// A q/k/v/out array of `heads` x `n` rows of `d` in the case's layout, and
// its [B, H, N, D] view.
HostArray make_array(const Case &c, int64_t heads, int64_t n, int64_t d, vkattn_dtype dtype) {
    HostArray a;
    a.dtype = dtype;
    a.view.shape[0] = c.B;
    a.view.shape[1] = heads;
    a.view.shape[2] = n;
    a.view.shape[3] = d;
    if (c.layout == Layout::BHND) {
        a.shape = {c.B, heads, n, d};
        a.view.strides[0] = heads * n * d;
        a.view.strides[1] = n * d;
        a.view.strides[2] = d;
    } else {
        a.shape = {c.B, n, heads, d};
        a.view.strides[0] = n * heads * d;
        a.view.strides[1] = d;
        a.view.strides[2] = heads * d;
    }
    a.view.strides[3] = 1;
    a.bytes.resize(static_cast<size_t>(product(a.shape)) * vkattn_dtype_size(dtype));
    return a;
}

HostArray make_mask(const Case &c) {
    HostArray a;
    a.dtype = c.mask == VKATTN_MASK_BOOL ? VKATTN_DTYPE_BOOL : c.mask_dtype;
    switch (c.mask_shape) {
        case MaskShape::Key:
            a.shape = {c.B, 1, 1, c.Nk};
            a.view = {{c.B, 1, 1, c.Nk}, {c.Nk, 0, 0, 1}, 0};
            break;
        case MaskShape::QueryKey:
            a.shape = {1, 1, c.Nq, c.Nk};
            a.view = {{1, 1, c.Nq, c.Nk}, {0, 0, c.Nk, 1}, 0};
            break;
        case MaskShape::Full:
            a.shape = {c.B, c.Hq, c.Nq, c.Nk};
            a.view = {{c.B, c.Hq, c.Nq, c.Nk}, {c.Hq * c.Nq * c.Nk, c.Nq * c.Nk, c.Nk, 1}, 0};
            break;
    }
    a.bytes.resize(static_cast<size_t>(product(a.shape)) * vkattn_dtype_size(a.dtype));
    return a;
}

struct Inputs {
    HostArray q, k, v, mask, out;
    vkattn_attention_desc desc = VKATTN_ATTENTION_DESC_INIT;
};

void generate(const Case &c, Inputs *in) {
    in->q = make_array(c, c.Hq, c.Nq, c.D, c.dtype);
    in->k = make_array(c, c.Hkv, c.Nk, c.D, c.dtype);
    in->v = make_array(c, c.Hkv, c.Nk, c.Dv, c.dtype);
    in->out = make_array(c, c.Hq, c.Nq, c.Dv, c.out_dtype);
    const InputGen &g = c.inputs;
    const float amp = static_cast<float>(g.qk_scale), shift = static_cast<float>(g.v_shift);
    auto uniform = [](HostArray *a, float scale, float offset) {
        return [a, scale, offset](size_t i, uint64_t *st) {
            store(a->data(), a->dtype, i, offset + scale * (2.0f * unit(st) - 1.0f));
        };
    };
    fill_parallel(in->q.bytes.size() / vkattn_dtype_size(c.dtype), g.seed, 1, uniform(&in->q, amp, 0.0f));
    fill_parallel(in->k.bytes.size() / vkattn_dtype_size(c.dtype), g.seed, 2, uniform(&in->k, amp, 0.0f));
    fill_parallel(in->v.bytes.size() / vkattn_dtype_size(c.dtype), g.seed, 3, uniform(&in->v, 1.0f, shift));
    if (c.mask != VKATTN_MASK_NONE) {
        in->mask = make_mask(c);
        HostArray *m = &in->mask;
        const float drop = static_cast<float>(g.mask_drop);
        const bool additive = c.mask == VKATTN_MASK_ADDITIVE;
        size_t n = m->bytes.size() / vkattn_dtype_size(m->dtype);
        fill_parallel(n, g.seed, 4, [m, drop, additive](size_t i, uint64_t *st) {
            bool keep = unit(st) >= drop;
            float bias = 2.0f * unit(st) - 1.0f;
            if (!additive)
                store(m->data(), m->dtype, i, keep ? 1.0f : 0.0f);
            else
                store(m->data(), m->dtype, i, keep ? bias : -std::numeric_limits<float>::infinity());
        });
    }

    vkattn_attention_desc &d = in->desc;
    d = vkattn_attention_desc VKATTN_ATTENTION_DESC_INIT;
    d.dtype = c.dtype;
    d.out_dtype = c.out_dtype;
    d.flags = 0;
    if (c.causal) d.flags |= VKATTN_ATTENTION_CAUSAL;
    if (c.has_scale) d.flags |= VKATTN_ATTENTION_SCALE;
    d.scale = c.scale;
    d.mask_kind = c.mask;
    d.mask_dtype = c.mask == VKATTN_MASK_NONE ? VKATTN_DTYPE_F32 : in->mask.dtype;
    d.q = in->q.view;
    d.k = in->k.view;
    d.v = in->v.view;
    d.out = in->out.view;
    if (c.mask != VKATTN_MASK_NONE) d.mask = in->mask.view;
}

// Count non-finite values by their bit patterns (fast over big outputs).
uint64_t count_nonfinite(const HostArray &a) {
    uint64_t bad = 0;
    size_t n = a.bytes.size() / vkattn_dtype_size(a.dtype);
    if (a.dtype == VKATTN_DTYPE_F32) {
        const uint32_t *p = reinterpret_cast<const uint32_t *>(a.data());
        for (size_t i = 0; i < n; ++i) bad += (p[i] & 0x7F800000u) == 0x7F800000u;
    } else if (a.dtype == VKATTN_DTYPE_F16) {
        const uint16_t *p = static_cast<const uint16_t *>(a.data());
        for (size_t i = 0; i < n; ++i) bad += (p[i] & 0x7C00u) == 0x7C00u;
    } else if (a.dtype == VKATTN_DTYPE_BF16) {
        const uint16_t *p = static_cast<const uint16_t *>(a.data());
        for (size_t i = 0; i < n; ++i) bad += (p[i] & 0x7F80u) == 0x7F80u;
    }
    return bad;
}

// ---------------------------------------------------------- verification

// Reference rows: a few (b, h) pairs (first, last, middle) and rows spread
// evenly over Nq, first and last included.
struct RefRows {
    int64_t b = 0, h = 0;
    std::vector<int64_t> rows;
    std::vector<double> out;  // rows.size() * Dv
};

std::vector<RefRows> reference_rows(const Case &c, const Inputs &in, int total_rows) {
    std::vector<std::pair<int64_t, int64_t>> pairs;
    int64_t per_pair = 0;
    // Small cases are checked whole (every head, every row); big ones on a
    // sample, because the f64 reference costs Nk*(D+Dv) per row.
    const double all_rows_cost = static_cast<double>(c.B * c.Hq * c.Nq) * static_cast<double>(c.Nk * (c.D + c.Dv));
    if (all_rows_cost <= 4.0e7 && c.B * c.Hq <= 64) {
        for (int64_t b = 0; b < c.B; ++b)
            for (int64_t h = 0; h < c.Hq; ++h) pairs.push_back({b, h});
        per_pair = c.Nq;
    } else {
        pairs = {{0, 0}, {c.B - 1, c.Hq - 1}, {c.B / 2, c.Hq / 2}};
        std::sort(pairs.begin(), pairs.end());
        pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
        const int64_t np = static_cast<int64_t>(pairs.size());
        per_pair = std::min<int64_t>(c.Nq, std::max<int64_t>(1, (total_rows + np - 1) / np));
    }
    std::vector<RefRows> out;
    for (auto [b, h] : pairs) {
        RefRows r;
        r.b = b;
        r.h = h;
        const int64_t k = per_pair;
        for (int64_t i = 0; i < k; ++i) {
            int64_t row = k == 1 ? 0 : (i * (c.Nq - 1) + (k - 1) / 2) / (k - 1);
            if (r.rows.empty() || r.rows.back() != row) r.rows.push_back(row);
        }
        std::vector<double> lse;
        ref::attention_rows(in.desc, in.q.data(), in.k.data(), in.v.data(),
                            c.mask == VKATTN_MASK_NONE ? nullptr : in.mask.data(), b, h, r.rows, &r.out, &lse);
        out.push_back(std::move(r));
    }
    return out;
}

struct Check {
    int rows = 0;
    double max_abs = 0, max_ulps = 0;
};

Check compare(const Case &c, const std::vector<RefRows> &refs, const HostArray &out) {
    Check k;
    const vkattn_view &v = out.view;
    for (const RefRows &r : refs) {
        for (size_t i = 0; i < r.rows.size(); ++i) {
            double mag = 0, err = 0;
            for (int64_t d = 0; d < c.Dv; ++d) {
                double want = r.out[i * static_cast<size_t>(c.Dv) + static_cast<size_t>(d)];
                int64_t idx =
                    v.offset + r.b * v.strides[0] + r.h * v.strides[1] + r.rows[i] * v.strides[2] + d * v.strides[3];
                double got = ref::load(out.data(), out.dtype, idx);
                double e = std::fabs(got - want);
                if (!(e <= err)) err = std::isnan(e) ? std::numeric_limits<double>::infinity() : e;
                mag = std::max(mag, std::fabs(want));
            }
            k.max_abs = std::max(k.max_abs, err);
            k.max_ulps = std::max(k.max_ulps, err / ref::ulp(c.out_dtype, mag));
            ++k.rows;
        }
    }
    return k;
}

// ----------------------------------------------------------------- device

struct TensorDeleter {
    void operator()(vkattn_tensor_s *t) const { vkattn_tensor_destroy(t); }
};
using TensorPtr = std::unique_ptr<vkattn_tensor_s, TensorDeleter>;
struct ContextDeleter {
    void operator()(vkattn_context_s *c) const { vkattn_context_destroy(c); }
};
using ContextPtr = std::unique_ptr<vkattn_context_s, ContextDeleter>;

vkattn_context_options context_options(const RunOptions &opt) {
    vkattn_context_options o = VKATTN_CONTEXT_OPTIONS_INIT;
    o.device_index = opt.device_index;
    o.device_name = opt.device_name.empty() ? nullptr : opt.device_name.c_str();
    o.flags = 0;
    if (opt.validation) o.flags |= VKATTN_CONTEXT_VALIDATION;
    return o;
}

vkattn_status upload(vkattn_context ctx, const HostArray &a, TensorPtr *out, std::string *what, const char *name) {
    vkattn_tensor t = nullptr;
    vkattn_status s = vkattn_tensor_create(ctx, a.dtype, static_cast<int32_t>(a.shape.size()), a.shape.data(), &t);
    if (s != VKATTN_SUCCESS) {
        *what = std::string("creating tensor ") + name + ": " + status_message(s);
        return s;
    }
    out->reset(t);
    if (a.bytes.empty()) return VKATTN_SUCCESS;
    s = vkattn_tensor_upload(t, a.data(), a.bytes.size());
    if (s != VKATTN_SUCCESS) *what = std::string("uploading ") + name + ": " + status_message(s);
    return s;
}

double median(std::vector<double> v) {
    if (v.empty()) return -1;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

bool is_unsupported(vkattn_status s) {
    return s == VKATTN_ERROR_UNSUPPORTED || s == VKATTN_ERROR_FEATURE_MISSING;
}

void fail(Result *r, vkattn_status s, std::string message) {
    r->status = s;
    r->outcome = (is_unsupported(s) && r->backend == VKATTN_BACKEND_COOPMAT) ? "unsupported" : "error";
    r->message = std::move(message);
}

// One backend on an already uploaded case.
void run_backend(const Case &c, const RunOptions &opt, vkattn_context ctx, Inputs &in, const std::vector<RefRows> &refs,
                 vkattn_tensor q, vkattn_tensor k, vkattn_tensor v, vkattn_tensor mask, vkattn_tensor out, Result *r) {
    vkattn_attention_desc desc = in.desc;
    desc.backend = r->backend;
    const double flops = case_flops(c);

    vkattn_status s = vkattn_attention(ctx, &desc, q, k, v, mask, out, nullptr);
    if (s != VKATTN_SUCCESS) return fail(r, s, "vkattn_attention: " + status_message(s));
    vkattn_call_info info = VKATTN_CALL_INFO_INIT;
    if ((s = vkattn_context_last_call(ctx, &info)) == VKATTN_SUCCESS) {
        r->path = info.path;
        r->variant = info.variant;
        r->dispatches = info.dispatches;
        r->submits = info.submits;
    }
    std::fill(in.out.bytes.begin(), in.out.bytes.end(), uint8_t{0});
    s = vkattn_tensor_download(out, in.out.data(), in.out.bytes.size());
    if (s != VKATTN_SUCCESS) return fail(r, s, "downloading the output: " + status_message(s));

    bool pass = true;
    if (!refs.empty()) {
        Check k2 = compare(c, refs, in.out);
        r->rows_checked = k2.rows;
        r->max_abs_err = k2.max_abs;
        r->max_err_ulps = k2.max_ulps;
        r->nonfinite = count_nonfinite(in.out);
        pass = k2.max_ulps <= r->tol_ulps && r->nonfinite == 0;
    }

    const int reps = opt.reps > 0 ? opt.reps : (c.reps > 0 ? c.reps : kDefaultReps);
    // At least opt.warmup calls, and (when warming up at all) at least
    // kWarmupMs of them: after the CPU reference the GPU has idled and its
    // clocks are down, and a few calls of a short kernel do not bring them
    // back (measured on the H200: VAE 1x1x16384x512 at 7.3 ms per call gave
    // a median of 13-31 ms over 10 reps after 2 warm-up calls).
    const auto w0 = Clock::now();
    for (int i = 0; i < opt.warmup || (opt.warmup > 0 && i < kMaxWarmup && ms_since(w0) < kWarmupMs); ++i) {
        if ((s = vkattn_attention(ctx, &desc, q, k, v, mask, out, nullptr)) != VKATTN_SUCCESS)
            return fail(r, s, "vkattn_attention (warm-up): " + status_message(s));
    }
    std::vector<double> gpu, wall;
    bool timestamps = true;
    for (int i = 0; i < reps; ++i) {
        auto t0 = Clock::now();
        s = vkattn_attention(ctx, &desc, q, k, v, mask, out, nullptr);
        double w = ms_since(t0);
        if (s != VKATTN_SUCCESS) return fail(r, s, "vkattn_attention (timed): " + status_message(s));
        vkattn_call_info ci = VKATTN_CALL_INFO_INIT;
        if (vkattn_context_last_call(ctx, &ci) != VKATTN_SUCCESS || ci.gpu_ms < 0) timestamps = false;
        gpu.push_back(ci.gpu_ms);
        wall.push_back(w);
    }
    r->reps = reps;
    r->gpu_timed = timestamps;
    r->wall_ms_median = median(wall);
    const std::vector<double> &t = timestamps ? gpu : wall;
    if (!t.empty()) {
        r->gpu_ms_median = median(t);
        r->gpu_ms_min = *std::min_element(t.begin(), t.end());
        if (r->gpu_ms_median > 0) r->tflops = flops / r->gpu_ms_median / 1e9;
        if (r->gpu_ms_min > 0) r->tflops_peak = flops / r->gpu_ms_min / 1e9;
    }

    if (opt.host) {
        HostArray hout = in.out;
        const void *m = c.mask == VKATTN_MASK_NONE ? nullptr : in.mask.data();
        std::vector<double> ht;
        for (int i = 0; i < opt.warmup + reps; ++i) {
            auto t0 = Clock::now();
            s = vkattn_attention_host(ctx, &desc, in.q.data(), in.k.data(), in.v.data(), m, hout.data(), nullptr);
            double w = ms_since(t0);
            if (s != VKATTN_SUCCESS) return fail(r, s, "vkattn_attention_host: " + status_message(s));
            if (i == 0 && !refs.empty()) {
                Check hk = compare(c, refs, hout);
                r->host_max_err_ulps = hk.max_ulps;
                if (hk.max_ulps > r->tol_ulps || count_nonfinite(hout) != 0) pass = false;
            }
            if (i >= opt.warmup) ht.push_back(w);
        }
        r->host_ms_median = median(ht);
        r->host_ms_min = *std::min_element(ht.begin(), ht.end());
        if (r->host_ms_median > 0) r->host_tflops = flops / r->host_ms_median / 1e9;
    }
    r->outcome = refs.empty() ? "skipped" : (pass ? "ok" : "FAIL");
    if (refs.empty()) {
        r->message = "not verified (--verify-rows 0)";
    } else if (!pass) {
        char buf[256];
        std::snprintf(buf, sizeof buf,
                      "verification failed: max error %.3g ulps (%.3g abs) over %d rows, tolerance %.3g ulps; "
                      "%llu non-finite outputs",
                      r->max_err_ulps, r->max_abs_err, r->rows_checked, r->tol_ulps,
                      static_cast<unsigned long long>(r->nonfinite));
        r->message = buf;
        if (r->host_max_err_ulps > r->tol_ulps) {
            std::snprintf(buf, sizeof buf, "; vkattn_attention_host: max error %.3g ulps", r->host_max_err_ulps);
            r->message += buf;
        }
    }
}

}  // namespace

bool probe_device(const RunOptions &opt, vkattn_device_info *out, std::string *error) {
    vkattn_context_options o = context_options(opt);
    vkattn_context ctx = nullptr;
    vkattn_status s = vkattn_context_create(&o, &ctx);
    if (s != VKATTN_SUCCESS) {
        *error = "vkattn_context_create: " + status_message(s);
        return false;
    }
    ContextPtr hold(ctx);
    *out = vkattn_device_info VKATTN_DEVICE_INFO_INIT;
    s = vkattn_context_get_device_info(ctx, out);
    if (s != VKATTN_SUCCESS) {
        *error = "vkattn_context_get_device_info: " + status_message(s);
        return false;
    }
    return true;
}

std::vector<Result> run_case(const Case &c, const RunOptions &opt) {
    std::vector<Result> results;
    for (vkattn_backend b : opt.backends) {
        Result r;
        r.c = c;
        r.backend = b;
        r.tol_ulps = opt.tol_ulps > 0 ? opt.tol_ulps : (c.tol_ulps > 0 ? c.tol_ulps : default_tol_ulps(c.out_dtype));
        results.push_back(std::move(r));
    }
    auto fail_all = [&](vkattn_status s, const std::string &m) {
        for (Result &r : results) fail(&r, s, m);
        return results;
    };
    if (c.op != "attention")
        return fail_all(VKATTN_ERROR_UNSUPPORTED, "op \"" + c.op + "\" is not supported by vkattn-bench");

    auto t0 = Clock::now();
    Inputs in;
    try {
        generate(c, &in);
    } catch (const std::bad_alloc &) {
        return fail_all(VKATTN_ERROR_OUT_OF_HOST_MEMORY, "out of host memory generating the inputs");
    }

    vkattn_context_options o = context_options(opt);
    vkattn_context raw = nullptr;
    vkattn_status s = vkattn_context_create(&o, &raw);
    if (s != VKATTN_SUCCESS) return fail_all(s, "vkattn_context_create: " + status_message(s));
    ContextPtr ctx(raw);

    TensorPtr q, k, v, mask, out;
    std::string what;
    if ((s = upload(raw, in.q, &q, &what, "q")) != VKATTN_SUCCESS ||
        (s = upload(raw, in.k, &k, &what, "k")) != VKATTN_SUCCESS ||
        (s = upload(raw, in.v, &v, &what, "v")) != VKATTN_SUCCESS ||
        (c.mask != VKATTN_MASK_NONE && (s = upload(raw, in.mask, &mask, &what, "mask")) != VKATTN_SUCCESS))
        return fail_all(s, what);
    {
        vkattn_tensor t = nullptr;
        const HostArray &a = in.out;
        s = vkattn_tensor_create(raw, a.dtype, static_cast<int32_t>(a.shape.size()), a.shape.data(), &t);
        if (s != VKATTN_SUCCESS) return fail_all(s, "creating tensor out: " + status_message(s));
        out.reset(t);
    }

    std::vector<RefRows> refs;
    if (opt.verify_rows > 0) refs = reference_rows(c, in, opt.verify_rows);
    double setup_s = std::chrono::duration<double>(Clock::now() - t0).count();

    for (Result &r : results) {
        r.setup_s = setup_s;
        run_backend(c, opt, raw, in, refs, q.get(), k.get(), v.get(), mask.get(), out.get(), &r);
    }
    // Tensors before the context (the ABI asks for it).
    q.reset();
    k.reset();
    v.reset();
    mask.reset();
    out.reset();
    return results;
}

}  // namespace vkbench
