// The op interface of vkattn-bench. The suite reader, the runner (timing,
// warm-up, medians, backends) and the outputs (table, JSON, CSV, plot) know
// an op only through BenchOp and OpRun; attention_op.cpp is the first op.
// Adding one: a file with a BenchOp subclass and a line in op_registry.cpp
// (see README.md, "Adding an op").
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "json.h"
#include "vkattn.h"

namespace vkbench {

class FieldReader;  // suite.h

// An output compared with the f64 reference.
struct Check {
    int rows = 0;            // rows (output vectors) compared; 0: no reference
    double max_abs = 0;      // max |out - ref|
    double max_ulps = 0;     // max over rows of max |out - ref| / ulp(row magnitude) in the output dtype
    uint64_t nonfinite = 0;  // non-finite values in the whole output
};

// What the throughput column reports: FLOP/s (TFLOP/s) or bytes moved (GB/s).
enum class Throughput { Flops, Bytes };

// One case of an op prepared on a context: its inputs, device tensors and
// reference. Destroyed before the context.
class OpRun {
public:
    virtual ~OpRun() = default;

    // Generate the inputs, create the device tensors and upload them; with
    // verify_rows > 0 compute the reference (of up to that many rows, small
    // cases whole); with `host`, also make room for the host API's output.
    // On failure *error says what failed.
    virtual vkattn_status prepare(vkattn_context ctx, int verify_rows, bool host, std::string *error) = 0;

    // One call on the device with `backend` (recorded, submitted, waited for).
    // On success *info is what vkattn_context_last_call reports: path, variant,
    // dispatches and gpu_ms, the GPU time from timestamps (-1: none).
    virtual vkattn_status run(vkattn_backend backend, vkattn_call_info *info) = 0;

    // Download the output of the last run() and, if prepare() computed a
    // reference, compare: *out (rows == 0 when not compared).
    virtual vkattn_status check(Check *out, std::string *error) = 0;

    // The op's host API (host arrays in and out), for ops whose
    // BenchOp::host_call_name() is not null: one call, and its last output
    // compared with the reference.
    virtual vkattn_status run_host(vkattn_backend backend);
    virtual void check_host(Check *out);
};

// One suite case of an op: its own fields (attention: shape, dtypes, mask,
// causal, ...) and what the runner and the outputs need to know of it.
// Parsed once, then shared (immutable) by the results.
class BenchOp {
public:
    virtual ~BenchOp() = default;

    // ---- identity and suite parsing
    virtual const char *name() const = 0;                // the suite's "op" ("attention")
    virtual std::unique_ptr<BenchOp> clone() const = 0;  // the suite's defaults, copied into a case
    // One key of a case (or of the suite's "defaults") other than the keys of
    // every case (name, op, model, note, comment, tol_ulps, reps). An unknown
    // key or a bad value is an error: return r.fail(key, "what").
    virtual bool read_key(const std::string &key, const Json &value, FieldReader &r) = 0;
    // After all keys: fill the fields that follow others, check the case.
    virtual bool finish(FieldReader &r) = 0;

    // ---- description
    virtual std::string shape() const = 0;      // "2x8x4096x40": table, progress, JSON "shape", plot
    virtual std::string dtypes() const = 0;     // the table's dtype column ("f16", "f16>f32")
    virtual std::string list_line() const = 0;  // --list, the columns after the name and op
    virtual double flops() const = 0;           // floating-point operations of one call
    virtual double bytes() const = 0;           // bytes one call reads and writes (inputs, output)
    virtual double default_tol_ulps() const = 0;

    // ---- report
    virtual Throughput throughput() const { return Throughput::Flops; }
    virtual const char *rate_formula() const = 0;                   // JSON "flops_formula": "2*B*Hq*Nq*Nk*(D+Dv)"
    virtual const char *table_note() const = 0;                     // the line above the table: rate and error
    virtual const char *call_name() const = 0;                      // in messages: "vkattn_attention"
    virtual const char *host_call_name() const { return nullptr; }  // the host API (--host), or none
    // The case's columns (after "name" and "op"): CSV header names and this
    // case's values (CSV fields, in the same order); JSON members, each
    // written as `, "key": value`.
    virtual std::vector<std::string> csv_columns() const = 0;
    virtual std::vector<std::string> csv_values() const = 0;
    virtual void write_json(std::ostream &o) const = 0;

    // ---- run
    virtual std::unique_ptr<OpRun> start() const = 0;
};

// The registry (op_registry.cpp): one entry per op.
struct OpEntry {
    const char *name;
    std::unique_ptr<BenchOp> (*make)();  // a case with the op's defaults
};
const std::vector<OpEntry> &op_registry();
std::unique_ptr<BenchOp> make_op(const std::string &name);  // nullptr for an unknown op
std::string known_ops();                                    // "attention, groupnorm"

}  // namespace vkbench
