// VKATTN_ATTENTION_F16_COMPUTE on vkattn_attention_host: f32 inputs rounded to
// f16 while packing, computed as f16 inputs, widened back to f32. Checked
// against the double reference run on the f16-rounded inputs (2 f16 ulps at
// the row magnitude, the f16 tolerance), plus the fallbacks: an input beyond
// the f16 range reruns exactly, f16 inputs ignore the flag, device tensors
// refuse it.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "attention_problem.h"
#include "attention_reference.h"
#include "test_util.h"

using namespace attn_test;

namespace {

// The problem's f32 inputs rounded to f16 (still stored as f32).
Array rounded(const Array &a) {
    Array r = a;
    for (int64_t i = 0; i < a.n; i++) {
        float f;
        std::memcpy(&f, &a.bytes[i * 4], 4);
        f = vkattn::ref::f16_to_f32(vkattn::ref::f32_to_f16(f));
        std::memcpy(&r.bytes[i * 4], &f, 4);
    }
    return r;
}

std::string last_variant(vkattn_context ctx) {
    return last_call(ctx).variant;
}

}  // namespace

TEST_CASE("attention f16 compute: f32 host inputs against the reference on rounded inputs", "[attention][host]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    for (Layout layout : {Layout::BHND, Layout::BNHD, Layout::Sliced}) {
        Case c;
        c.dtype = VKATTN_DTYPE_F32, c.host = true, c.layout = layout;
        c.B = 2, c.Hq = 4, c.Hkv = 2, c.Nq = 77, c.Nk = 130, c.D = 64, c.Dv = 40;
        c.flags = VKATTN_ATTENTION_LSE | VKATTN_ATTENTION_F16_COMPUTE;
        c.mask_kind = VKATTN_MASK_ADDITIVE, c.mask_neg_inf = true, c.mask_shape[1] = 1;
        Problem p;
        build(c, &p);
        REQUIRE(run(ctx.ctx, p) == VKATTN_SUCCESS);
        CHECK(last_variant(ctx.ctx).find("f16 compute") != std::string::npos);

        const Array q = rounded(p.q), k = rounded(p.k), v = rounded(p.v);
        std::vector<double> ref, ref_lse;
        vkattn::ref::attention(p.desc, q.bytes.data(), k.bytes.data(), v.bytes.data(), p.mask.bytes.data(), &ref,
                               &ref_lse);
        double worst = 0, worst_lse = 0;
        for (int64_t b = 0; b < c.B; b++)
            for (int64_t h = 0; h < c.Hq; h++)
                for (int64_t r = 0; r < c.Nq; r++) {
                    const int64_t row = (b * c.Hq + h) * c.Nq + r;
                    double mag = 0;
                    for (int64_t j = 0; j < c.Dv; j++) mag = std::max(mag, std::fabs(ref[row * c.Dv + j]));
                    for (int64_t j = 0; j < c.Dv; j++) {
                        const int64_t at = p.desc.out.offset + b * p.desc.out.strides[0] + h * p.desc.out.strides[1] +
                                           r * p.desc.out.strides[2] + j * p.desc.out.strides[3];
                        const double got = vkattn::ref::load(p.out.bytes.data(), VKATTN_DTYPE_F32, at);
                        worst = std::max(
                            worst, std::fabs(got - ref[row * c.Dv + j]) / vkattn::ref::ulp(VKATTN_DTYPE_F16, mag));
                    }
                    const double lr = ref_lse[row], lg = vkattn::ref::load(p.lse.bytes.data(), VKATTN_DTYPE_F32, row);
                    if (std::isinf(lr))
                        CHECK(lg == lr);
                    else
                        worst_lse = std::max(worst_lse, std::fabs(lg - lr) / std::max(1.0, std::fabs(lr)));
                }
        INFO("layout " << static_cast<int>(layout));
        CHECK(worst <= 2.0);       // f16 ulps at the row magnitude
        CHECK(worst_lse <= 1e-5);  // relative (f32 logits of f16 inputs)
    }
}

TEST_CASE("attention f16 compute: an input beyond f16 reruns exactly; f16 inputs ignore the flag",
          "[attention][host]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    Case c;
    c.dtype = VKATTN_DTYPE_F32, c.host = true, c.Hq = 3, c.Nq = 50, c.Nk = 90, c.D = 32;
    Problem exact, fast;
    build(c, &exact);
    const float big = 7.0e4f;                                      // finite, beyond 65504
    std::memcpy(&exact.k.bytes[(2 * 90 * 32 + 17) * 4], &big, 4);  // late: packing of a later chunk may see it
    fast = exact;
    fast.desc.flags |= VKATTN_ATTENTION_F16_COMPUTE;
    REQUIRE(run(ctx.ctx, exact) == VKATTN_SUCCESS);
    REQUIRE(run(ctx.ctx, fast) == VKATTN_SUCCESS);
    CHECK(last_variant(ctx.ctx).find("declined") != std::string::npos);
    check_same_bytes(fast, exact);

    Case h = c;
    h.dtype = VKATTN_DTYPE_F16;
    Problem a, b;
    build(h, &a);
    b = a;
    b.desc.flags |= VKATTN_ATTENTION_F16_COMPUTE;
    REQUIRE(run(ctx.ctx, a) == VKATTN_SUCCESS);
    REQUIRE(run(ctx.ctx, b) == VKATTN_SUCCESS);
    CHECK(a.out.bytes == b.out.bytes);
}

// Calls of 1 MiB and more run on imported caller memory, rounding on the GPU
// (copy4d.comp). The GPU rounds like the CPU packing, so both routes give the
// same bytes; an input beyond f16 reruns exactly there too.
TEST_CASE("attention f16 compute: imported memory matches the staging route", "[attention][host]") {
    HostRoutes r;
    VKA_REQUIRE_DEVICE(r.direct.ctx);
    for (Layout layout : {Layout::BNHD, Layout::Sliced}) {
        Case c;
        c.dtype = VKATTN_DTYPE_F32, c.host = true, c.layout = layout;
        c.B = 2, c.Hq = 4, c.Hkv = 2, c.Nq = 300, c.Nk = 257, c.D = 64;
        c.flags = VKATTN_ATTENTION_LSE | VKATTN_ATTENTION_F16_COMPUTE;
        c.mask_kind = VKATTN_MASK_ADDITIVE, c.mask_neg_inf = true, c.mask_shape[0] = 1;
        Problem a, b;
        build(c, &a);
        b = a;
        INFO("layout " << static_cast<int>(layout));
        run_both_host_routes(r.direct.ctx, r.staged.ctx, a, b, "host direct f16 compute");

        // One input beyond f16: the exact pass, still on imported memory.
        Problem e, f;
        build(c, &e);
        const float big = -9.0e4f;
        std::memcpy(&e.v.bytes[e.v.bytes.size() - 4 * 7], &big, 4);
        f = e;
        f.desc.flags &= ~static_cast<uint32_t>(VKATTN_ATTENTION_F16_COMPUTE);
        REQUIRE(run(r.direct.ctx, e) == VKATTN_SUCCESS);
        const std::string why = last_variant(r.direct.ctx);
        CHECK(why.find("host direct") != std::string::npos);
        CHECK(why.find("declined") != std::string::npos);
        REQUIRE(run(r.direct.ctx, f) == VKATTN_SUCCESS);
        check_same_bytes(e, f);
    }
}

TEST_CASE("attention f16 compute: device tensors refuse the flag", "[attention]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    Case c;
    c.dtype = VKATTN_DTYPE_F32, c.flags = VKATTN_ATTENTION_F16_COMPUTE;
    Problem p;
    build(c, &p);
    const std::vector<uint8_t> before = p.out.bytes;
    CHECK(run(ctx.ctx, p) == VKATTN_ERROR_INVALID_ARGUMENT);
    CHECK(std::string(vkattn_last_error()).find("F16_COMPUTE") != std::string::npos);
    CHECK(p.out.bytes == before);
}
