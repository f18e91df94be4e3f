// The attention op of vkattn-bench: vkattn_attention (and, with --host,
// vkattn_attention_host) on generated q, k, v and an optional mask, verified
// against the f64 reference vkattn::ref::attention_rows.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <limits>
#include <new>
#include <ostream>
#include <string>
#include <vector>

#include "attention_reference.h"
#include "op.h"
#include "op_support.h"
#include "suite.h"

namespace vkbench {

namespace {

namespace ref = vkattn::ref;

enum class Layout { BHND, BNHD };  // [B, H, N, D] or [B, N, H, D] host/device arrays

enum class MaskShape {
    Key,       // [B, 1, 1, Nk]: a key-padding mask, broadcast over heads and queries
    QueryKey,  // [1, 1, Nq, Nk]: broadcast over batch and heads
    Full       // [B, Hq, Nq, Nk]
};

// How a case's inputs are generated: uniform in [-1, 1), q and k scaled by
// qk_scale, v shifted by v_shift; mask entries dropped with mask_drop.
struct InputGen {
    uint64_t seed = 1;
    double qk_scale = 1.0;
    double v_shift = 0.0;
    double mask_drop = 0.1;
};

// The fields of an attention case.
struct AttentionCase {
    int64_t B = 1, Hq = 1, Hkv = 1, Nq = 1, Nk = 1, D = 1, Dv = 1;
    vkattn_dtype dtype = VKATTN_DTYPE_F16;
    vkattn_dtype out_dtype = VKATTN_DTYPE_F16;
    Layout layout = Layout::BHND;
    vkattn_mask_kind mask = VKATTN_MASK_NONE;
    vkattn_dtype mask_dtype = VKATTN_DTYPE_F32;  // additive: F32 or F16
    MaskShape mask_shape = MaskShape::Key;
    bool causal = false;
    bool has_scale = false;
    float scale = 0.0f;
    InputGen inputs;
};

const char *layout_name(Layout l) {
    return l == Layout::BHND ? "bhnd" : "bnhd";
}

const char *mask_name(vkattn_mask_kind m) {
    switch (m) {
        case VKATTN_MASK_NONE: return "none";
        case VKATTN_MASK_ADDITIVE: return "additive";
        case VKATTN_MASK_BOOL: return "bool";
    }
    return "?";
}

const char *mask_shape_name(MaskShape s) {
    switch (s) {
        case MaskShape::Key: return "key";
        case MaskShape::QueryKey: return "query_key";
        case MaskShape::Full: return "full";
    }
    return "?";
}

// ---------------------------------------------------------------- inputs

struct Inputs {
    HostArray q, k, v, mask, out;
    vkattn_attention_desc desc = VKATTN_ATTENTION_DESC_INIT;
};

// A q/k/v/out array of `heads` x `n` rows of `d` in the case's layout, and
// its [B, H, N, D] view.
HostArray make_array(const AttentionCase &c, int64_t heads, int64_t n, int64_t d, vkattn_dtype dtype) {
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
    a.allocate();
    return a;
}

HostArray make_mask(const AttentionCase &c) {
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
    a.allocate();
    return a;
}

void generate(const AttentionCase &c, Inputs *in) {
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
    fill_parallel(in->q.elements(), g.seed, 1, uniform(&in->q, amp, 0.0f));
    fill_parallel(in->k.elements(), g.seed, 2, uniform(&in->k, amp, 0.0f));
    fill_parallel(in->v.elements(), g.seed, 3, uniform(&in->v, 1.0f, shift));
    if (c.mask != VKATTN_MASK_NONE) {
        in->mask = make_mask(c);
        HostArray *m = &in->mask;
        const float drop = static_cast<float>(g.mask_drop);
        const bool additive = c.mask == VKATTN_MASK_ADDITIVE;
        fill_parallel(m->elements(), g.seed, 4, [m, drop, additive](size_t i, uint64_t *st) {
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

// ---------------------------------------------------------- verification

// Reference rows: a few (b, h) pairs (first, last, middle) and rows spread
// evenly over Nq, first and last included.
struct RefRows {
    int64_t b = 0, h = 0;
    std::vector<int64_t> rows;
    std::vector<double> out;  // rows.size() * Dv
};

std::vector<RefRows> reference_rows(const AttentionCase &c, const Inputs &in, int total_rows) {
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

// Error of `out` against the reference rows, in ulps of the output dtype at
// each row's magnitude (max |ref| over the row), and its non-finite values.
Check compare(const AttentionCase &c, const std::vector<RefRows> &refs, const HostArray &out) {
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
    k.nonfinite = count_nonfinite(out);
    return k;
}

// ------------------------------------------------------------------- run

class AttentionRun final : public OpRun {
public:
    explicit AttentionRun(const AttentionCase &c) : c_(c) {}

    vkattn_status prepare(vkattn_context ctx, int verify_rows, bool host, std::string *error) override {
        ctx_ = ctx;
        try {
            generate(c_, &in_);
        } catch (const std::bad_alloc &) {
            *error = "out of host memory generating the inputs";
            return VKATTN_ERROR_OUT_OF_HOST_MEMORY;
        }
        vkattn_status s;
        if ((s = create_tensor(ctx, in_.q, true, "q", &q_, error)) != VKATTN_SUCCESS ||
            (s = create_tensor(ctx, in_.k, true, "k", &k_, error)) != VKATTN_SUCCESS ||
            (s = create_tensor(ctx, in_.v, true, "v", &v_, error)) != VKATTN_SUCCESS ||
            (c_.mask != VKATTN_MASK_NONE &&
             (s = create_tensor(ctx, in_.mask, true, "mask", &mask_, error)) != VKATTN_SUCCESS) ||
            (s = create_tensor(ctx, in_.out, false, "out", &out_, error)) != VKATTN_SUCCESS)
            return s;
        if (verify_rows > 0) refs_ = reference_rows(c_, in_, verify_rows);
        if (host) host_out_ = in_.out;
        return VKATTN_SUCCESS;
    }

    vkattn_status run(vkattn_backend backend, vkattn_call_info *info) override {
        vkattn_attention_desc desc = in_.desc;
        desc.backend = backend;
        vkattn_status s = vkattn_attention(ctx_, &desc, q_.get(), k_.get(), v_.get(), mask_.get(), out_.get(), nullptr);
        if (s != VKATTN_SUCCESS) return s;
        *info = vkattn_call_info VKATTN_CALL_INFO_INIT;
        if (vkattn_context_last_call(ctx_, info) != VKATTN_SUCCESS) {
            *info = vkattn_call_info VKATTN_CALL_INFO_INIT;
            info->gpu_ms = -1;
        }
        return s;
    }

    vkattn_status check(Check *out, std::string *error) override {
        std::fill(in_.out.bytes.begin(), in_.out.bytes.end(), uint8_t{0});
        vkattn_status s = vkattn_tensor_download(out_.get(), in_.out.data(), in_.out.bytes.size());
        if (s != VKATTN_SUCCESS) {
            *error = "downloading the output: " + status_message(s);
            return s;
        }
        *out = refs_.empty() ? Check{} : compare(c_, refs_, in_.out);
        return VKATTN_SUCCESS;
    }

    vkattn_status run_host(vkattn_backend backend) override {
        vkattn_attention_desc desc = in_.desc;
        desc.backend = backend;
        const void *m = c_.mask == VKATTN_MASK_NONE ? nullptr : in_.mask.data();
        return vkattn_attention_host(ctx_, &desc, in_.q.data(), in_.k.data(), in_.v.data(), m, host_out_.data(),
                                     nullptr);
    }

    void check_host(Check *out) override { *out = refs_.empty() ? Check{} : compare(c_, refs_, host_out_); }

private:
    const AttentionCase &c_;
    vkattn_context ctx_ = nullptr;
    Inputs in_;
    HostArray host_out_;  // vkattn_attention_host's output (--host)
    std::vector<RefRows> refs_;
    TensorPtr q_, k_, v_, mask_, out_;
};

// ------------------------------------------------------------------ case

class AttentionOp final : public BenchOp {
public:
    const char *name() const override { return "attention"; }
    std::unique_ptr<BenchOp> clone() const override { return std::make_unique<AttentionOp>(*this); }

    bool read_key(const std::string &key, const Json &v, FieldReader &r) override;

    bool finish(FieldReader &) override {
        if (!seen_hkv_) c_.Hkv = c_.Hq;
        if (!seen_nk_) c_.Nk = c_.Nq;
        if (!seen_dv_) c_.Dv = c_.D;
        if (!seen_out_dtype_) c_.out_dtype = c_.dtype;
        if (c_.mask == VKATTN_MASK_BOOL) c_.mask_dtype = VKATTN_DTYPE_BOOL;
        return true;
    }

    // "2x8x4096x40", with /Hkv, Nk and Dv shown only where they differ.
    std::string shape() const override {
        // Appends only: GCC 12 warns (-Wrestrict, falsely) on "x" + std::string.
        std::string s = std::to_string(c_.B);
        auto dim = [&s](char sep, int64_t v) {
            s += sep;
            s += std::to_string(v);
        };
        dim('x', c_.Hq);
        if (c_.Hkv != c_.Hq) dim('/', c_.Hkv);
        dim('x', c_.Nq);
        if (c_.Nk != c_.Nq) dim('/', c_.Nk);
        dim('x', c_.D);
        if (c_.Dv != c_.D) dim('/', c_.Dv);
        return s;
    }

    std::string dtypes() const override {
        std::string s = dtype_name(c_.dtype);
        if (c_.out_dtype != c_.dtype) s += std::string(">") + dtype_name(c_.out_dtype);
        return s;
    }

    std::string list_line() const override {
        char buf[256];
        std::snprintf(buf, sizeof buf, "%-20s %-8s %s%s%s", shape().c_str(), dtype_name(c_.dtype),
                      layout_name(c_.layout),
                      c_.mask != VKATTN_MASK_NONE ? (std::string(" mask=") + mask_name(c_.mask)).c_str() : "",
                      c_.causal ? " causal" : "");
        return buf;
    }

    // 2*B*Hq*pairs*(D+Dv): the q.k^T and p.v products over the (query, key)
    // pairs computed: Nq*Nk, or under the causal mask only the pairs it keeps.
    double flops() const override {
        // Causal (upper-left aligned: query i sees keys 0..i): sum_i min(i + 1, Nk).
        double pairs = static_cast<double>(c_.Nq) * static_cast<double>(c_.Nk);
        if (c_.causal) {
            const double nq = static_cast<double>(c_.Nq), nk = static_cast<double>(c_.Nk);
            const double tri = std::min(nq, nk);  // rows i < Nk see i + 1 keys
            pairs = tri * (tri + 1) / 2 + std::max(0.0, nq - nk) * nk;
        }
        return 2.0 * static_cast<double>(c_.B) * static_cast<double>(c_.Hq) * pairs * static_cast<double>(c_.D + c_.Dv);
    }

    // q, k, v and the mask read once, the output written once.
    double bytes() const override {
        auto n = [](std::initializer_list<int64_t> dims, vkattn_dtype t) {
            double p = static_cast<double>(vkattn_dtype_size(t));
            for (int64_t d : dims) p *= static_cast<double>(d);
            return p;
        };
        double b = n({c_.B, c_.Hq, c_.Nq, c_.D}, c_.dtype) + n({c_.B, c_.Hkv, c_.Nk, c_.D + c_.Dv}, c_.dtype) +
                   n({c_.B, c_.Hq, c_.Nq, c_.Dv}, c_.out_dtype);
        if (c_.mask != VKATTN_MASK_NONE) {
            const vkattn_dtype mt = c_.mask == VKATTN_MASK_BOOL ? VKATTN_DTYPE_BOOL : c_.mask_dtype;
            if (c_.mask_shape == MaskShape::Key) b += n({c_.B, c_.Nk}, mt);
            if (c_.mask_shape == MaskShape::QueryKey) b += n({c_.Nq, c_.Nk}, mt);
            if (c_.mask_shape == MaskShape::Full) b += n({c_.B, c_.Hq, c_.Nq, c_.Nk}, mt);
        }
        return b;
    }

    double default_tol_ulps() const override {
        // f16/bf16: the final rounding (0.5 ulp) plus f32 accumulation noise.
        // f32: the output ulp is as fine as the accumulator's, so sums over
        // thousands of keys and the shader's exp() approximation show up.
        return c_.out_dtype == VKATTN_DTYPE_F32 ? 256.0 : 2.0;
    }

    const char *rate_formula() const override { return "2*B*Hq*Nq*Nk*(D+Dv)"; }
    const char *table_note() const override {
        return "TFLOP/s = 2*B*Hq*Nq*Nk*(D+Dv) (causal: kept pairs only) / median GPU time; err = max |out - ref| in "
               "output ulps at the row magnitude";
    }
    const char *call_name() const override { return "vkattn_attention"; }
    const char *host_call_name() const override { return "vkattn_attention_host"; }

    std::vector<std::string> csv_columns() const override {
        return {"B", "Hq", "Hkv", "Nq", "Nk", "D", "Dv", "dtype", "out_dtype", "layout", "mask", "causal"};
    }
    std::vector<std::string> csv_values() const override {
        auto i = [](int64_t x) { return std::to_string(x); };
        return {i(c_.B),
                i(c_.Hq),
                i(c_.Hkv),
                i(c_.Nq),
                i(c_.Nk),
                i(c_.D),
                i(c_.Dv),
                dtype_name(c_.dtype),
                dtype_name(c_.out_dtype),
                layout_name(c_.layout),
                mask_name(c_.mask),
                c_.causal ? "1" : "0"};
    }

    void write_json(std::ostream &o) const override {
        o << ", \"shape\": " << json_quote(shape()) << ", \"B\": " << c_.B << ", \"Hq\": " << c_.Hq
          << ", \"Hkv\": " << c_.Hkv << ", \"Nq\": " << c_.Nq << ", \"Nk\": " << c_.Nk << ", \"D\": " << c_.D
          << ", \"Dv\": " << c_.Dv << ", \"dtype\": \"" << dtype_name(c_.dtype) << "\", \"out_dtype\": \""
          << dtype_name(c_.out_dtype) << "\", \"layout\": \"" << layout_name(c_.layout) << "\", \"mask\": \""
          << mask_name(c_.mask) << "\"";
        if (c_.mask != VKATTN_MASK_NONE)
            o << ", \"mask_shape\": \"" << mask_shape_name(c_.mask_shape) << "\", \"mask_dtype\": \""
              << dtype_name(c_.mask_dtype) << "\"";
        o << ", \"causal\": " << (c_.causal ? "true" : "false") << ", \"inputs\": {\"seed\": " << c_.inputs.seed
          << ", \"qk_scale\": " << json_number(c_.inputs.qk_scale)
          << ", \"v_shift\": " << json_number(c_.inputs.v_shift) << "}";
    }

    std::unique_ptr<OpRun> start() const override { return std::make_unique<AttentionRun>(c_); }

private:
    AttentionCase c_;
    // Which optional fields were set (by the case or the defaults), so that
    // Hkv/Nk/Dv/out_dtype follow Hq/Nq/D/dtype otherwise.
    bool seen_hkv_ = false, seen_nk_ = false, seen_dv_ = false, seen_out_dtype_ = false;

    bool read_inputs(const Json &v, FieldReader &r);
};

bool AttentionOp::read_inputs(const Json &v, FieldReader &r) {
    if (!v.is_object()) return r.fail("inputs", "must be an object");
    InputGen &g = c_.inputs;
    for (const auto &[key, x] : v.members()) {
        std::string k = "inputs." + key;
        if (key == "seed") {
            int64_t s;
            if (!r.get_int(k, x, &s, 0)) return false;
            g.seed = static_cast<uint64_t>(s);
        } else if (key == "qk_scale") {
            if (!r.get_num(k, x, &g.qk_scale)) return false;
        } else if (key == "v_shift") {
            if (!r.get_num(k, x, &g.v_shift)) return false;
        } else if (key == "mask_drop") {
            if (!r.get_num(k, x, &g.mask_drop)) return false;
            if (g.mask_drop < 0 || g.mask_drop > 1) return r.fail(k, "must lie in [0, 1]");
        } else {
            return r.fail(k, "unknown key (seed, qk_scale, v_shift, mask_drop)");
        }
    }
    return true;
}

bool AttentionOp::read_key(const std::string &key, const Json &v, FieldReader &r) {
    AttentionCase &c = c_;
    if (key == "B") return r.get_int(key, v, &c.B, 1);
    if (key == "H") {  // shorthand: Hq = Hkv = H
        seen_hkv_ = true;
        if (!r.get_int(key, v, &c.Hq, 1)) return false;
        c.Hkv = c.Hq;
        return true;
    }
    if (key == "Hq") return r.get_int(key, v, &c.Hq, 1);
    if (key == "Hkv") {
        seen_hkv_ = true;
        return r.get_int(key, v, &c.Hkv, 1);
    }
    if (key == "N") {  // shorthand: Nq = Nk = N
        seen_nk_ = true;
        if (!r.get_int(key, v, &c.Nq, 1)) return false;
        c.Nk = c.Nq;
        return true;
    }
    if (key == "Nq") return r.get_int(key, v, &c.Nq, 1);
    if (key == "Nk") {
        seen_nk_ = true;
        return r.get_int(key, v, &c.Nk, 1);
    }
    if (key == "D") return r.get_int(key, v, &c.D, 1);
    if (key == "Dv") {
        seen_dv_ = true;
        return r.get_int(key, v, &c.Dv, 1);
    }
    if (key == "dtype") return r.get_dtype(key, v, &c.dtype);
    if (key == "out_dtype") {
        seen_out_dtype_ = true;
        return r.get_dtype(key, v, &c.out_dtype);
    }
    std::string s;
    if (key == "layout") {
        if (!r.get_str(key, v, &s)) return false;
        if (s == "bhnd")
            c.layout = Layout::BHND;
        else if (s == "bnhd")
            c.layout = Layout::BNHD;
        else
            return r.fail(key, "unknown layout \"" + s + "\" (bhnd, bnhd)");
        return true;
    }
    if (key == "mask") {
        if (!r.get_str(key, v, &s)) return false;
        if (s == "none")
            c.mask = VKATTN_MASK_NONE;
        else if (s == "additive")
            c.mask = VKATTN_MASK_ADDITIVE;
        else if (s == "bool")
            c.mask = VKATTN_MASK_BOOL;
        else
            return r.fail(key, "unknown mask kind \"" + s + "\" (none, additive, bool)");
        return true;
    }
    if (key == "mask_dtype") {
        if (!r.get_dtype(key, v, &c.mask_dtype)) return false;
        if (c.mask_dtype == VKATTN_DTYPE_BF16) return r.fail(key, "an additive mask is f32 or f16");
        return true;
    }
    if (key == "mask_shape") {
        if (!r.get_str(key, v, &s)) return false;
        if (s == "key")
            c.mask_shape = MaskShape::Key;
        else if (s == "query_key")
            c.mask_shape = MaskShape::QueryKey;
        else if (s == "full")
            c.mask_shape = MaskShape::Full;
        else
            return r.fail(key, "unknown mask shape \"" + s + "\" (key, query_key, full)");
        return true;
    }
    if (key == "causal") return r.get_bool(key, v, &c.causal);
    if (key == "scale") {
        double x;
        if (!r.get_num(key, v, &x)) return false;
        c.has_scale = true;
        c.scale = static_cast<float>(x);
        return true;
    }
    if (key == "inputs") return read_inputs(v, r);
    return r.fail(key, "unknown key");
}

}  // namespace

std::unique_ptr<BenchOp> make_attention_op() {
    return std::make_unique<AttentionOp>();
}

}  // namespace vkbench
