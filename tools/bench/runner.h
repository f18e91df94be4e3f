// Runs one suite case through its op (op.h) and the public vkattn C ABI:
// prepare (inputs, upload, reference), one verified call per backend, then
// warm-up and timed repetitions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "op_support.h"
#include "suite.h"
#include "vkattn.h"

namespace vkbench {

constexpr int kDefaultReps = 10;
constexpr double kWarmupMs = 250;  // minimum warm-up time per case (when --warmup > 0)
constexpr int kMaxWarmup = 100;    // most warm-up calls per case

struct RunOptions {
    int32_t device_index = -1;  // -1: not given
    std::string device_name;    // "": not given (then VKATTN_DEVICE or best)
    std::vector<vkattn_backend> backends{VKATTN_BACKEND_AUTO};
    int reps = -1;  // < 0: the case's reps, else kDefaultReps
    int warmup = 2;
    bool host = false;        // also time the op's host API (vkattn_attention_host)
    int verify_rows = 32;     // rows checked against the reference; 0 = no check
    double tol_ulps = -1;     // < 0: per case, else the op's default for the dtype
    bool validation = false;  // VKATTN_CONTEXT_VALIDATION
};

// Result of one case under one backend.
struct Result {
    Case c;
    vkattn_backend backend = VKATTN_BACKEND_AUTO;
    // "ok", "FAIL" (verification), "error" (the library or the bench failed),
    // "unsupported" (a forced backend the device lacks), "skipped".
    std::string outcome = "error";
    vkattn_status status = VKATTN_SUCCESS;
    std::string message;  // status string + the library's message
    std::string path, variant;
    uint32_t dispatches = 0, submits = 0;
    int reps = 0;
    bool gpu_timed = false;  // gpu_ms came from timestamps (else wall clock)
    double gpu_ms_median = -1, gpu_ms_min = -1;
    double wall_ms_median = -1;          // host wall clock around the op's call
    double tflops = 0, tflops_peak = 0;  // at the median and at the min time
    double gbps = 0, gbps_peak = 0;      // the op's bytes, same times
    double host_ms_median = -1, host_ms_min = -1, host_tflops = 0, host_gbps = 0;
    // verification
    int rows_checked = 0;
    double max_abs_err = 0;
    double max_err_ulps = 0;        // max over rows of max|err| / ulp(row magnitude)
    double host_max_err_ulps = -1;  // same for the host API's output
    double tol_ulps = 0;
    uint64_t nonfinite = 0;  // non-finite values in the whole output
    double setup_s = 0;      // input generation + upload + reference, seconds
};

const char *backend_name(vkattn_backend b);
bool parse_backend(const std::string &s, vkattn_backend *out);

// Run `c` under every backend of `opt` (one context for the case). Always
// returns one Result per backend; failures are recorded in them.
std::vector<Result> run_case(const Case &c, const RunOptions &opt);

// Fill *out with the device a context created with `opt` lands on.
bool probe_device(const RunOptions &opt, vkattn_device_info *out, std::string *error);

}  // namespace vkbench
