// Shape suites: JSON files under assets/suites/ listing the cases the bench
// runs (see tools/bench/README.md for the format).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vkattn.h"

namespace vkbench {

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

struct Case {
    std::string name;
    std::string op = "attention";
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
    double tol_ulps = -1;  // < 0: the bench default for the output dtype
    int reps = -1;         // < 0: the command line's --reps
    std::string note;      // free text from the suite ("model")
};

struct Suite {
    std::string path;
    std::string name;
    std::string description;
    std::vector<Case> cases;
};

// Load and check a suite. Unknown keys and bad values are errors naming the
// case and key, so typos in a suite do not silently change what is measured.
bool load_suite(const std::string &path, Suite *out, std::string *error);

const char *dtype_name(vkattn_dtype t);
bool parse_dtype(const std::string &s, vkattn_dtype *out);
const char *layout_name(Layout l);
const char *mask_name(vkattn_mask_kind m);
const char *mask_shape_name(MaskShape s);

// "2x8x4096x40", with /Hkv, Nk and Dv shown only where they differ.
std::string shape_string(const Case &c);

// Floating-point operations of one attention call: 2*B*Hq*pairs*(D+Dv), the
// q.k^T and p.v products over the (query, key) pairs computed: Nq*Nk, or under
// the causal mask only the pairs it keeps.
double case_flops(const Case &c);

}  // namespace vkbench
