// f32 <-> f16 conversion of the host f16-compute mode (ops/half_convert.h),
// against the reference conversions of tests/reference: every f16 value,
// the rounding boundaries, random f32 bit patterns, both the F16C and the
// scalar routes (strided rows take the scalar one), and overflow detection.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "attention_reference.h"
#include "half_convert.h"

using namespace vkattn::ops;

namespace {

float f_of(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
bool same_f16(uint16_t a, uint16_t b) {
    const bool nan_a = (a & 0x7c00u) == 0x7c00u && (a & 0x3ffu), nan_b = (b & 0x7c00u) == 0x7c00u && (b & 0x3ffu);
    return nan_a || nan_b ? nan_a == nan_b : a == b;
}

}  // namespace

TEST_CASE("half convert: every f16 value widens exactly and narrows back", "[half]") {
    std::vector<uint16_t> h(65536), back(65536);
    std::vector<float> f(65536), fs(65536);
    for (uint32_t i = 0; i < 65536; i++) h[i] = static_cast<uint16_t>(i);
    f16_to_f32_row(h.data(), 1, f.data(), 1, 65536);  // F16C route where present
    f16_to_f32_row(h.data(), 2, fs.data(), 2, 32768);  // scalar route (even values)
    for (uint32_t i = 0; i < 65536; i++) {
        const float r = vkattn::ref::f16_to_f32(h[i]);
        if (std::isnan(r)) {
            CHECK(std::isnan(f[i]));
        } else {
            CHECK(f[i] == r);
            CHECK(std::signbit(f[i]) == std::signbit(r));
            CHECK(f16_bits_to_f32(h[i]) == r);
        }
        if (i % 2 == 0 && !std::isnan(r)) CHECK(fs[i] == r);  // element i/2 of the stride-2 rows
    }
    CHECK(f32_to_f16_row(f.data(), 1, back.data(), 1, 65536));
    for (uint32_t i = 0; i < 65536; i++) CHECK(same_f16(back[i], h[i]));
}

TEST_CASE("half convert: rounding matches the reference on boundaries and random bits", "[half]") {
    std::vector<float> x;
    // Midpoints and their neighbours between consecutive f16 values, all exponents.
    for (uint32_t i = 0; i < 0x7c00u; i += 7) {
        const double a = vkattn::ref::f16_to_f32(static_cast<uint16_t>(i));
        const double b = vkattn::ref::f16_to_f32(static_cast<uint16_t>(i + 1));
        const float mid = static_cast<float>((a + b) / 2);
        x.push_back(mid);
        x.push_back(std::nextafter(mid, 0.0f));
        x.push_back(std::nextafter(mid, 1e30f));
        x.push_back(-mid);
    }
    for (float v : {0.0f, -0.0f, 65504.0f, 65519.99f, 65520.0f, 1e-8f, 2.9802322e-8f, 2.9802326e-8f, 6.1035156e-5f,
                    6.1e-5f, 1e30f, -1e30f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()})
        x.push_back(v);
    std::mt19937 rng(7);
    for (int i = 0; i < 200000; i++) {
        const float v = f_of(rng());
        if (!std::isnan(v)) x.push_back(v);
    }
    const int64_t n = static_cast<int64_t>(x.size());
    std::vector<uint16_t> fast(x.size()), slow(x.size());
    (void)f32_to_f16_row(x.data(), 1, fast.data(), 1, n);
    for (int64_t i = 0; i < n; i++) slow[i] = f32_to_f16_bits(x[i]);
    int bad = 0;
    for (int64_t i = 0; i < n && bad < 10; i++) {
        const uint16_t r = vkattn::ref::f32_to_f16(x[i]);
        if (!same_f16(fast[i], r) || !same_f16(slow[i], r)) {
            bad++;
            UNSCOPED_INFO("x = " << x[i] << " ref 0x" << std::hex << r << " fast 0x" << fast[i] << " scalar 0x" << slow[i]);
        }
    }
    CHECK(bad == 0);
}

TEST_CASE("half convert: finite values beyond f16 are reported", "[half]") {
    for (int64_t stride : {1, 3}) {
        std::vector<float> x(40 * stride, 1.0f);
        std::vector<uint16_t> h(40 * stride);
        CHECK(f32_to_f16_row(x.data(), stride, h.data(), stride, 40));
        x[37 * stride] = std::numeric_limits<float>::infinity();  // not an overflow: stays inf
        CHECK(f32_to_f16_row(x.data(), stride, h.data(), stride, 40));
        x[5 * stride] = 65504.0f;  // the largest f16
        CHECK(f32_to_f16_row(x.data(), stride, h.data(), stride, 40));
        for (int64_t at : {int64_t(3), int64_t(38)}) {  // inside the vector body and in the tail
            std::vector<float> y = x;
            y[at * stride] = -70000.0f;
            CHECK_FALSE(f32_to_f16_row(y.data(), stride, h.data(), stride, 40));
            CHECK(h[at * stride] == 0xfc00u);
        }
    }
}
