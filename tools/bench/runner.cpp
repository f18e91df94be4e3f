#include "runner.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <new>

#include "op.h"

namespace vkbench {

using Clock = std::chrono::steady_clock;

const char *backend_name(vkattn_backend b) {
    switch (b) {
        case VKATTN_BACKEND_AUTO: return "auto";
        case VKATTN_BACKEND_PORTABLE: return "portable";
        case VKATTN_BACKEND_COOPMAT: return "coopmat";
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

namespace {

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

// One backend on an already prepared case.
void run_backend(const Case &c, const RunOptions &opt, OpRun &op, Result *r) {
    const BenchOp &bop = *c.impl;
    const std::string call = bop.call_name();
    const double flops = bop.flops(), bytes = bop.bytes();
    const bool verifying = opt.verify_rows > 0;

    vkattn_call_info info = VKATTN_CALL_INFO_INIT;
    vkattn_status s = op.run(r->backend, &info);
    if (s != VKATTN_SUCCESS) return fail(r, s, call + ": " + status_message(s));
    r->path = info.path;
    r->variant = info.variant;
    r->dispatches = info.dispatches;
    r->submits = info.submits;
    Check check;
    std::string what;
    if ((s = op.check(&check, &what)) != VKATTN_SUCCESS) return fail(r, s, what);

    bool pass = true;
    if (verifying) {
        r->rows_checked = check.rows;
        r->max_abs_err = check.max_abs;
        r->max_err_ulps = check.max_ulps;
        r->nonfinite = check.nonfinite;
        pass = check.max_ulps <= r->tol_ulps && check.nonfinite == 0;
    }

    const int reps = opt.reps > 0 ? opt.reps : (c.reps > 0 ? c.reps : kDefaultReps);
    // At least opt.warmup calls, and (when warming up at all) at least
    // kWarmupMs of them: after the CPU reference the GPU has idled and its
    // clocks are down, and a few calls of a short kernel do not bring them
    // back (measured on the H200: VAE 1x1x16384x512 at 7.3 ms per call gave
    // a median of 13-31 ms over 10 reps after 2 warm-up calls).
    const auto w0 = Clock::now();
    for (int i = 0; i < opt.warmup || (opt.warmup > 0 && i < kMaxWarmup && ms_since(w0) < kWarmupMs); ++i) {
        if ((s = op.run(r->backend, &info)) != VKATTN_SUCCESS)
            return fail(r, s, call + " (warm-up): " + status_message(s));
    }
    std::vector<double> gpu, wall;
    bool timestamps = true;
    for (int i = 0; i < reps; ++i) {
        vkattn_call_info ci = VKATTN_CALL_INFO_INIT;
        auto t0 = Clock::now();
        s = op.run(r->backend, &ci);
        double w = ms_since(t0);
        if (s != VKATTN_SUCCESS) return fail(r, s, call + " (timed): " + status_message(s));
        if (ci.gpu_ms < 0) timestamps = false;
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
        if (r->gpu_ms_median > 0) r->gbps = bytes / r->gpu_ms_median / 1e6;
        if (r->gpu_ms_min > 0) r->gbps_peak = bytes / r->gpu_ms_min / 1e6;
    }

    const char *host_call = bop.host_call_name();
    if (opt.host && host_call) {
        std::vector<double> ht;
        for (int i = 0; i < opt.warmup + reps; ++i) {
            auto t0 = Clock::now();
            s = op.run_host(r->backend);
            double w = ms_since(t0);
            if (s != VKATTN_SUCCESS) return fail(r, s, std::string(host_call) + ": " + status_message(s));
            if (i == 0 && verifying) {
                Check hk;
                op.check_host(&hk);
                r->host_max_err_ulps = hk.max_ulps;
                if (hk.max_ulps > r->tol_ulps || hk.nonfinite != 0) pass = false;
            }
            if (i >= opt.warmup) ht.push_back(w);
        }
        r->host_ms_median = median(ht);
        r->host_ms_min = *std::min_element(ht.begin(), ht.end());
        if (r->host_ms_median > 0) r->host_tflops = flops / r->host_ms_median / 1e9;
        if (r->host_ms_median > 0) r->host_gbps = bytes / r->host_ms_median / 1e6;
    }
    r->outcome = !verifying ? "skipped" : (pass ? "ok" : "FAIL");
    if (!verifying) {
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
            std::snprintf(buf, sizeof buf, "; %s: max error %.3g ulps", host_call, r->host_max_err_ulps);
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
        r.tol_ulps =
            opt.tol_ulps > 0 ? opt.tol_ulps : (c.tol_ulps > 0 ? c.tol_ulps : (c.impl ? c.impl->default_tol_ulps() : 0));
        results.push_back(std::move(r));
    }
    auto fail_all = [&](vkattn_status s, const std::string &m) {
        for (Result &r : results) fail(&r, s, m);
        return results;
    };
    if (!c.impl) return fail_all(VKATTN_ERROR_UNSUPPORTED, "op \"" + c.op + "\" is not supported by vkattn-bench");

    auto t0 = Clock::now();
    vkattn_context_options o = context_options(opt);
    vkattn_context raw = nullptr;
    vkattn_status s = vkattn_context_create(&o, &raw);
    if (s != VKATTN_SUCCESS) return fail_all(s, "vkattn_context_create: " + status_message(s));
    ContextPtr ctx(raw);

    // Declared after the context: its tensors go first (the ABI asks for it).
    std::unique_ptr<OpRun> op = c.impl->start();
    std::string what;
    try {
        s = op->prepare(raw, opt.verify_rows, opt.host && c.impl->host_call_name(), &what);
    } catch (const std::bad_alloc &) {
        s = VKATTN_ERROR_OUT_OF_HOST_MEMORY;
        what = "out of host memory preparing the case";
    }
    if (s != VKATTN_SUCCESS) return fail_all(s, what);
    double setup_s = std::chrono::duration<double>(Clock::now() - t0).count();

    for (Result &r : results) {
        r.setup_s = setup_s;
        run_backend(c, opt, *op, &r);
    }
    op.reset();
    return results;
}

}  // namespace vkbench
