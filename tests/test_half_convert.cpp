// f32 <-> f16 conversion of the host f16-compute mode (ops/half_convert.h),
// against the reference conversions of tests/reference: every f16 value,
// the rounding boundaries, random f32 bit patterns, both the F16C and the
// scalar routes (strided rows take the scalar one), and overflow detection.
// The GPU conversions of copy4d.comp (host calls on imported memory) must
// agree with them bit for bit, so both host routes give the same results.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "attention_reference.h"
#include "context.h"
#include "gpu_copy4d.h"
#include "half_convert.h"
#include "test_util.h"
#include "transfer.h"

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

// The f32 values whose rounding the tests check: midpoints between f16
// neighbours (and their neighbours), the edges of the range, random bits.
std::vector<float> rounding_inputs() {
    std::vector<float> x;
    for (uint32_t i = 0; i < 0x7c00u; i += 7) {
        const double a = vkattn::ref::f16_to_f32(static_cast<uint16_t>(i));
        const double b = vkattn::ref::f16_to_f32(static_cast<uint16_t>(i + 1));
        const float mid = static_cast<float>((a + b) / 2);
        x.push_back(mid);
        x.push_back(std::nextafter(mid, 0.0f));
        x.push_back(std::nextafter(mid, 1e30f));
        x.push_back(-mid);
    }
    for (float v :
         {0.0f, -0.0f, 65504.0f, 65519.99f, 65520.0f, 1e-8f, 2.9802322e-8f, 2.9802326e-8f, 6.1035156e-5f, 6.1e-5f,
          1e30f, -1e30f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()})
        x.push_back(v);
    std::mt19937 rng(7);
    for (int i = 0; i < 200000; i++) {
        const float v = f_of(rng());
        if (!std::isnan(v)) x.push_back(v);
    }
    return x;
}

vkattn::Context &internal(vkattn_context c) {
    return *c->ctx;
}

// Runs one copy4d conversion of `n` elements on the GPU: src rows of `cols`
// elements at a padded stride of cols + 3, dst dense. Returns the flag word.
uint32_t gpu_convert(vkattn_context handle, GpuCopy kind, const void *src, size_t src_es, void *dst, size_t dst_es,
                     int64_t n) {
    using namespace vkattn;
    Context &ctx = internal(handle);
    const int64_t cols = 1000, rows = (n + cols - 1) / cols, pitch = cols + 3;
    std::vector<uint8_t> padded(static_cast<size_t>(rows * pitch) * src_es, 0);
    for (int64_t i = 0; i < n; i++)
        std::memcpy(&padded[static_cast<size_t>((i / cols) * pitch + i % cols) * src_es],
                    static_cast<const uint8_t *>(src) + i * src_es, src_es);
    std::unique_ptr<Buffer> s, d, flag;
    REQUIRE(Buffer::create(ctx, Pool::Workspace, padded.size(), &s).ok());
    REQUIRE(Buffer::create(ctx, Pool::Workspace, static_cast<uint64_t>(rows * cols) * dst_es, &d).ok());
    REQUIRE(Buffer::create(ctx, Pool::Workspace, 4, &flag).ok());
    REQUIRE(upload(ctx, s.get(), 0, padded.data(), padded.size()).ok());
    const uint32_t zero = 0;
    REQUIRE(upload(ctx, flag.get(), 0, &zero, 4).ok());
    const int64_t ext[4] = {1, 1, rows, cols}, ss[4] = {0, 0, pitch, 1}, ds[4] = {0, 0, cols, 1};
    REQUIRE(gpu_copy4d_fits(ctx, *s, 0, ss, *d, 0, ds, ext));
    uint32_t dispatches = 0;
    REQUIRE(ctx.stream().begin().ok());
    REQUIRE(record_gpu_copy4d(ctx, kind, s.get(), 0, ss, d.get(), 0, ds, ext, flag.get(), &dispatches).ok());
    REQUIRE(ctx.stream().submit(true).ok());
    REQUIRE(download(ctx, d.get(), 0, dst, static_cast<uint64_t>(n) * dst_es).ok());
    uint32_t f = 0;
    REQUIRE(download(ctx, flag.get(), 0, &f, 4).ok());
    return f;
}

}  // namespace

TEST_CASE("half convert: every f16 value widens exactly and narrows back", "[half]") {
    std::vector<uint16_t> h(65536), back(65536);
    std::vector<float> f(65536), fs(65536);
    for (uint32_t i = 0; i < 65536; i++) h[i] = static_cast<uint16_t>(i);
    f16_to_f32_row(h.data(), 1, f.data(), 1, 65536);   // F16C route where present
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
    const std::vector<float> x = rounding_inputs();
    const int64_t n = static_cast<int64_t>(x.size());
    std::vector<uint16_t> fast(x.size()), slow(x.size());
    (void)f32_to_f16_row(x.data(), 1, fast.data(), 1, n);
    for (int64_t i = 0; i < n; i++) slow[i] = f32_to_f16_bits(x[i]);
    int bad = 0;
    for (int64_t i = 0; i < n && bad < 10; i++) {
        const uint16_t r = vkattn::ref::f32_to_f16(x[i]);
        if (!same_f16(fast[i], r) || !same_f16(slow[i], r)) {
            bad++;
            UNSCOPED_INFO("x = " << x[i] << " ref 0x" << std::hex << r << " fast 0x" << fast[i] << " scalar 0x"
                                 << slow[i]);
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

TEST_CASE("half convert: long runs (streaming stores) at every alignment, and copy_bytes", "[half]") {
    const std::vector<float> x = rounding_inputs();
    const int64_t n = 40000;  // above the streaming threshold
    std::vector<uint16_t> ref(n);
    for (int64_t i = 0; i < n; i++) ref[i] = vkattn::ref::f32_to_f16(x[i]);
    for (int64_t shift = 0; shift < 9; shift++) {
        INFO("destination shifted by " << shift << " elements");
        std::vector<uint16_t> h(n + 16, 0xabcd);
        (void)f32_to_f16_row(x.data(), 1, h.data() + shift, 1, n);
        int bad = 0;
        for (int64_t i = 0; i < n; i++) bad += !same_f16(h[shift + i], ref[i]);
        CHECK(bad == 0);
        CHECK(h[n + shift] == 0xabcd);  // nothing past the run
        if (shift) CHECK(h[shift - 1] == 0xabcd);
        std::vector<float> f(n + 16, -7.0f);
        f16_to_f32_row(ref.data(), 1, f.data() + shift, 1, n);
        bad = 0;
        for (int64_t i = 0; i < n; i++) {
            const float r = vkattn::ref::f16_to_f32(ref[i]);
            bad += std::isnan(r) ? !std::isnan(f[shift + i]) : !(f[shift + i] == r);
        }
        CHECK(bad == 0);
        CHECK(f[n + shift] == -7.0f);
    }
    std::vector<uint8_t> src(200100), dst(200100);  // room for the offsets below
    for (size_t i = 0; i < src.size(); i++) src[i] = static_cast<uint8_t>(i * 131 + 7);
    for (size_t off : {0, 1, 5, 31, 32, 33}) {
        for (size_t len : {size_t(100), size_t(32767), size_t(32768), size_t(199999)}) {
            std::fill(dst.begin(), dst.end(), 0x5a);
            copy_bytes(dst.data() + off, src.data() + (off * 3) % 7, len);
            INFO("offset " << off << " length " << len);
            CHECK(std::memcmp(dst.data() + off, src.data() + (off * 3) % 7, len) == 0);
            CHECK(dst[off + len] == 0x5a);
            if (off) CHECK(dst[off - 1] == 0x5a);
        }
    }
}

TEST_CASE("half convert: the GPU conversions (copy4d.comp) match the CPU bit for bit", "[half][gpu]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    // f32 -> f16 on the rounding inputs, NaNs included.
    std::vector<float> x = rounding_inputs();
    x.push_back(std::numeric_limits<float>::quiet_NaN());
    x.push_back(-std::numeric_limits<float>::quiet_NaN());
    const int64_t n = static_cast<int64_t>(x.size());
    std::vector<uint16_t> gpu(x.size()), cpu(x.size());
    const bool cpu_fine = f32_to_f16_row(x.data(), 1, cpu.data(), 1, n);
    CHECK_FALSE(cpu_fine);  // 65520, 1e30 and random bits overflow
    CHECK(gpu_convert(ctx.ctx, GpuCopy::F32ToF16, x.data(), 4, gpu.data(), 2, n) == 1u);
    int bad = 0;
    for (int64_t i = 0; i < n && bad < 10; i++)
        if (!same_f16(gpu[i], cpu[i])) {
            bad++;
            UNSCOPED_INFO("x = " << x[i] << " cpu 0x" << std::hex << cpu[i] << " gpu 0x" << gpu[i]);
        }
    CHECK(bad == 0);

    // Values inside the f16 range leave the flag alone; inf is not an overflow.
    std::vector<float> in_range = {1.0f, -65504.0f, 65519.99f, 3e-8f, std::numeric_limits<float>::infinity()};
    std::vector<uint16_t> h(in_range.size());
    CHECK(gpu_convert(ctx.ctx, GpuCopy::F32ToF16, in_range.data(), 4, h.data(), 2,
                      static_cast<int64_t>(in_range.size())) == 0u);
    CHECK(h[2] == 0x7bffu);  // rounds down to 65504
    CHECK(h[4] == 0x7c00u);

    // f16 -> f32 on every f16 value.
    std::vector<uint16_t> all(65536);
    for (uint32_t i = 0; i < 65536; i++) all[i] = static_cast<uint16_t>(i);
    std::vector<float> wide(65536);
    CHECK(gpu_convert(ctx.ctx, GpuCopy::F16ToF32, all.data(), 2, wide.data(), 4, 65536) == 0u);
    bad = 0;
    for (uint32_t i = 0; i < 65536 && bad < 10; i++) {
        const float r = vkattn::ref::f16_to_f32(all[i]);
        uint32_t gb, rb;
        std::memcpy(&gb, &wide[i], 4);
        std::memcpy(&rb, &r, 4);
        if (std::isnan(r) ? !std::isnan(wide[i]) : gb != rb) {
            bad++;
            UNSCOPED_INFO("f16 0x" << std::hex << i << " gpu 0x" << gb << " ref 0x" << rb);
        }
    }
    CHECK(bad == 0);
}
