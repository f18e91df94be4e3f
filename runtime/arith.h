// Integer arithmetic every layer uses (sizes, alignments, tile counts).
#pragma once

#include <cstdint>

namespace vkattn {

// v / a rounded up (a > 0).
constexpr uint64_t div_up(uint64_t v, uint64_t a) {
    return (v + a - 1) / a;
}
// v rounded up to a multiple of a (a > 0).
constexpr uint64_t round_up(uint64_t v, uint64_t a) {
    return div_up(v, a) * a;
}

}  // namespace vkattn
