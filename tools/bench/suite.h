// Shape suites: JSON files under assets/suites/ listing the cases the bench
// runs (see tools/bench/README.md for the format). The keys of every case
// (name, op, tol_ulps, reps, ...) are read here, the others by the case's op
// (op.h), with a FieldReader.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "json.h"
#include "vkattn.h"

namespace vkbench {

class BenchOp;

struct Case {
    std::string name;
    std::string op = "attention";
    std::shared_ptr<const BenchOp> impl;  // the op's fields and behaviour; set by load_suite
    double tol_ulps = -1;                 // < 0: the op's default for the output dtype
    int reps = -1;                        // < 0: the command line's --reps
    std::string note;                     // free text from the suite ("model")
};

struct Suite {
    std::string path;
    std::string name;
    std::string description;
    std::vector<Case> cases;
};

// Load and check a suite. Unknown keys, unknown ops and bad values are errors
// naming the case and key, so typos in a suite do not silently change what is
// measured.
bool load_suite(const std::string &path, Suite *out, std::string *error);

// Typed values of a case's keys. A failure sets the error, naming the case
// (or the defaults) and the key, and returns false.
class FieldReader {
public:
    FieldReader(std::string where, std::string *error) : where_(std::move(where)), error_(error) {}

    bool fail(const std::string &key, const std::string &what);
    bool get_int(const std::string &key, const Json &v, int64_t *out, int64_t lo);
    bool get_num(const std::string &key, const Json &v, double *out);  // finite
    bool get_str(const std::string &key, const Json &v, std::string *out);
    bool get_bool(const std::string &key, const Json &v, bool *out);
    bool get_dtype(const std::string &key, const Json &v, vkattn_dtype *out);  // f16, bf16, f32

private:
    std::string where_;
    std::string *error_;
};

}  // namespace vkbench
