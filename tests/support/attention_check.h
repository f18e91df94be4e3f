// The check of an attention result against the double-precision reference,
// with the tolerances stated at the top of tests/test_attention.cpp (shared
// by the portable tests and the f32 matrix-unit tests, which must meet the
// same bound).
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "attention_problem.h"
#include "attention_reference.h"
#include "test_util.h"

namespace attn_test {

using vkattn::ref::ulp;

inline const char *dt_name(vkattn_dtype t) {
    return t == VKATTN_DTYPE_F32 ? "f32" : t == VKATTN_DTYPE_F16 ? "f16" : t == VKATTN_DTYPE_BF16 ? "bf16" : "bool";
}

// Conditioning of one output row: sabs = max_j scale * sum_d |q_d k_jd|
// (what f32 logit rounding is relative to), vmax = max |v| over the keys.
struct Cond {
    double sabs = 0, vmax = 0;
};
inline Cond conditioning(const Problem &p, int64_t b, int64_t h, int64_t i) {
    const vkattn_attention_desc &d = p.desc;
    const int64_t kvh = h / (d.q.shape[1] / d.k.shape[1]);
    const double scale = (d.flags & VKATTN_ATTENTION_SCALE) ? d.scale : 1.0 / std::sqrt(double(d.q.shape[3]));
    auto at = [](const vkattn_view &v, int64_t a, int64_t bb, int64_t c, int64_t e) {
        return v.offset + a * v.strides[0] + bb * v.strides[1] + c * v.strides[2] + e * v.strides[3];
    };
    Cond r;
    for (int64_t j = 0; j < d.k.shape[2]; j++) {
        double s = 0;
        for (int64_t e = 0; e < d.q.shape[3]; e++)
            s += std::fabs(p.q.get(at(d.q, b, h, i, e)) * p.k.get(at(d.k, b, kvh, j, e)));
        r.sabs = std::max(r.sabs, std::fabs(scale) * s);
        for (int64_t e = 0; e < d.v.shape[3]; e++) r.vmax = std::max(r.vmax, std::fabs(p.v.get(at(d.v, b, kvh, j, e))));
    }
    return r;
}

// One line naming a case, for INFO in the caller's scope (an INFO inside a
// helper ends with it).
inline std::string describe(const Case &c) {
    std::ostringstream o;
    o << dt_name(c.dtype) << "->" << dt_name(c.out_dtype) << " B " << c.B << " Hq " << c.Hq << " Hkv " << c.Hkv
      << " Nq " << c.Nq << " Nk " << c.Nk << " D " << c.D << " Dv " << c.Dv << " flags " << c.flags << " mask "
      << c.mask_kind << " qk x" << c.qk_mul << " v +" << c.v_add << (c.host ? " host" : " device") << " backend "
      << c.backend;
    return o.str();
}

// Runs p and requires success (the status and message on failure).
inline void run_ok(vkattn_context ctx, Problem &p) {
    const vkattn_status s = run(ctx, p);
    INFO("status " << vkattn_status_string(s) << ": " << (s ? vkattn_last_error() : ""));
    REQUIRE(s == VKATTN_SUCCESS);
}

// The lse of row i of (b, h) against the reference's `want`: -inf (with an
// all-zero output row, mag = 0) for a fully masked row, else within the f32
// tolerance after `slack` (absolute). Notes the error in *worst.
inline void check_lse(const Problem &p, int64_t b, int64_t h, int64_t i, double want, double mag, double slack,
                      double *worst) {
    const vkattn_attention_desc &d = p.desc;
    const int64_t at = d.lse.offset + b * d.lse.strides[0] + h * d.lse.strides[1] + i * d.lse.strides[2];
    const double got = p.lse.get(at);
    if (std::isinf(want)) {
        INFO("lse of a fully masked row, b " << b << " h " << h << " row " << i);
        REQUIRE((std::isinf(got) && got < 0));
        REQUIRE(mag == 0);
    } else {
        const double err =
            std::max(0.0, std::fabs(got - want) - slack) / ulp(VKATTN_DTYPE_F32, std::max(std::fabs(want), 1.0));
        INFO("lse b " << b << " h " << h << " row " << i << ": got " << got << " want " << want);
        REQUIRE(err <= tol_f32(p.cs.Nk));
        *worst = std::max(*worst, err);
    }
}

// Elements outside a sliced out view keep their sentinel.
inline void check_sentinels(const Problem &p) {
    if (p.cs.layout != Layout::Sliced) return;
    const uint8_t *o = p.out.bytes.data();
    const size_t es = vkattn_dtype_size(p.cs.out_dtype);
    REQUIRE(o[0] == 0x7b);
    REQUIRE(o[5 * es - 1] == 0x7b);
    REQUIRE(o[(5 + 1) * es] == 0x7b);  // the element between two view elements
}

// Compares out/lse with the reference; returns the largest error in ulps.
inline double check(Problem &p, Stats &stats) {
    const Case &c = p.cs;
    const vkattn_attention_desc &d = p.desc;
    const double tol = c.out_dtype == VKATTN_DTYPE_F32 ? tol_f32(c.Nk) : kTolLowp;
    const bool has_lse = d.flags & VKATTN_ATTENTION_LSE;
    double worst = 0, worst_lse = 0, worst_raw = 0;
    const std::vector<int64_t> rows = sample_rows(c.Nq, c.seed);
    std::vector<double> ro, rl;
    for (int64_t b = 0; b < c.B; b++)
        for (int64_t h = 0; h < c.Hq; h++) {
            vkattn::ref::attention_rows(d, p.q.bytes.data(), p.k.bytes.data(), p.v.bytes.data(),
                                        p.mask.bytes.empty() ? nullptr : p.mask.bytes.data(), b, h, rows, &ro, &rl);
            for (size_t r = 0; r < rows.size(); r++) {
                const int64_t i = rows[r];
                double mag = 0;
                for (int64_t j = 0; j < c.Dv; j++) mag = std::max(mag, std::fabs(ro[r * c.Dv + j]));
                const double u = ulp(c.out_dtype, mag);
                const Cond cond = conditioning(p, b, h, i);
                // f32: the rounding of each logit (~1 f32 ulp of scale * sum |q_d k_d|)
                // moves the output by up to that much times the spread of v.
                const double extra = c.out_dtype == VKATTN_DTYPE_F32 ? 0x1p-24 * cond.sabs * cond.vmax : 0.0;
                for (int64_t j = 0; j < c.Dv; j++) {
                    const int64_t at = d.out.offset + b * d.out.strides[0] + h * d.out.strides[1] +
                                       i * d.out.strides[2] + j * d.out.strides[3];
                    const double got = p.out.get(at), want = ro[r * c.Dv + j];
                    const double err = std::max(0.0, std::fabs(got - want) - extra) / u;
                    if (!(err <= tol)) {
                        INFO("b " << b << " h " << h << " row " << i << " col " << j << ": got " << got << " want "
                                  << want << " (" << err << " ulp of " << mag << ", tolerance " << tol << ")");
                        REQUIRE(err <= tol);
                    }
                    worst = std::max(worst, err);
                    worst_raw = std::max(worst_raw, std::fabs(got - want) / u);
                }
                if (has_lse) check_lse(p, b, h, i, rl[r], mag, 0x1p-24 * cond.sabs, &worst_lse);
            }
        }
    check_sentinels(p);
    stats.note(std::string(dt_name(c.dtype)) + "->" + dt_name(c.out_dtype), worst);
    stats.note(std::string(dt_name(c.dtype)) + "->" + dt_name(c.out_dtype) + " raw", worst_raw);
    if (has_lse) stats.note("lse", worst_lse);
    return worst;
}

// Runs c twice on fresh problems and requires the same bytes (determinism).
inline void check_deterministic(vkattn_context ctx, const Case &c) {
    Problem a, b;
    build(c, &a);
    build(c, &b);
    REQUIRE(run(ctx, a) == VKATTN_SUCCESS);
    REQUIRE(run(ctx, b) == VKATTN_SUCCESS);
    check_same_bytes(a, b);
}

// Requires that c is refused with UNSUPPORTED and a message containing needle.
inline void check_refused(vkattn_context ctx, const Case &c, const char *needle) {
    Problem p;
    build(c, &p);
    CHECK(run(ctx, p) == VKATTN_ERROR_UNSUPPORTED);
    const std::string msg = vkattn_last_error();
    INFO(msg);
    CHECK(msg.find(needle) != std::string::npos);
}

// True when the device serves `probe` (a small case forced onto a
// BACKEND_COOPMAT path); otherwise requires the UNSUPPORTED answer naming the
// backend, WARNs "skipped: <what> is unavailable on <device>: <why>" and
// returns false so that the caller can skip.
inline bool path_available(vkattn_context ctx, const Case &probe, const char *what) {
    Problem p;
    build(probe, &p);
    vkattn_status s = run(ctx, p);
    if (s == VKATTN_SUCCESS) return true;
    const std::string msg = vkattn_last_error();
    REQUIRE(s == VKATTN_ERROR_UNSUPPORTED);
    CHECK(msg.find("VKATTN_BACKEND_COOPMAT") != std::string::npos);
    vkattn_device_info info = VKATTN_DEVICE_INFO_INIT;
    VKA_CHECK_OK(vkattn_context_get_device_info(ctx, &info));
    WARN("skipped: " << what << " is unavailable on " << info.name << ": " << msg);
    return false;
}

}  // namespace attn_test
