// f32 attention on the matrix units (ops/attention_split.cpp, the SPLIT
// variants of shaders/attention_coopmat.comp): q, k and v as scaled f16
// pairs, three products per f16 product, f32 out. Checked against the
// double-precision reference with the portable path's f32 tolerance
// (tests/support/attention_check.h, stated at the top of test_attention.cpp):
// 8 (1 + log2 Nk) ulps of the row magnitude plus one f32 ulp of each logit's
// absolute sum. The split passes themselves are checked bit for bit on every
// device in test_attention_split.cpp.
//
// Runs where the device has VK_NV_cooperative_matrix with a usable layout;
// elsewhere (lavapipe) each test WARNs why and skips.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "attention_check.h"
#include "attention_problem.h"
#include "context.h"
#include "pipelines.h"
#include "stream.h"
#include "test_shader_ids.h"
#include "test_util.h"
#include "transfer.h"
#include "vkattn.h"

namespace {

using namespace attn_test;

Stats g_stats{"attention coopmat f32", 9, {}};

Case f32_case() {
    Case c;
    c.dtype = VKATTN_DTYPE_F32;
    c.backend = VKATTN_BACKEND_COOPMAT;
    c.seed = 11;
    return c;
}

std::string run_and_check(vkattn_context ctx, const Case &c) {
    Problem p;
    build(c, &p);
    INFO(describe(p.cs));
    run_ok(ctx, p);
    check(p, g_stats);
    return last_call(ctx).path;
}

// Runs a forced case and requires that the f32 matrix-unit kernel ran.
void split(vkattn_context ctx, const Case &c) {
    const std::string path = run_and_check(ctx, c);
    INFO("path " << path);
    CHECK(path.rfind("coopmat_nv_f32", 0) == 0);
}

bool available(vkattn_context ctx) {
    Case c = f32_case();
    c.Nq = 5, c.Nk = 9, c.D = 16;
    return path_available(ctx, c, "f32 attention on the matrix units");
}

#define VKA_REQUIRE_SPLIT(ctx)       \
    do {                             \
        VKA_REQUIRE_DEVICE(ctx);     \
        if (!available(ctx)) return; \
    } while (0)

}  // namespace

TEST_CASE("attention coopmat f32: head dims and lengths", "[attention][coopmat][f32]") {
    TestContext ctx;
    VKA_REQUIRE_SPLIT(ctx.ctx);
    for (int64_t D : {1, 8, 16, 40, 48, 64, 72, 80, 96, 112, 128}) {
        Case c = f32_case();
        c.D = D, c.Nq = 37, c.Nk = 77;
        split(ctx, c);
    }
    for (int64_t n : {1, 7, 63, 65, 127, 1000}) {
        Case c = f32_case();
        c.Nq = c.Nk = n, c.D = 80;
        split(ctx, c);
    }
    Case c = f32_case();
    c.Hq = 1, c.Nq = c.Nk = 4097, c.D = 128;
    split(ctx, c);
}

TEST_CASE("attention coopmat f32: cross attention, GQA, layouts, host tensors", "[attention][coopmat][f32]") {
    TestContext ctx;
    VKA_REQUIRE_SPLIT(ctx.ctx);
    Case c = f32_case();
    c.Nq = 300, c.Nk = 77, c.D = 40;
    split(ctx, c);
    c.Nq = 5, c.Nk = 1000, c.D = 64;
    split(ctx, c);
    c.Nq = 70, c.Nk = 130, c.D = 40, c.Dv = 72;
    split(ctx, c);
    c.D = 128, c.Dv = 8;
    split(ctx, c);
    c = f32_case();
    c.B = 2, c.Hq = 8, c.Hkv = 2, c.Nq = 33, c.Nk = 90;
    split(ctx, c);
    c.Hq = 4, c.Hkv = 1, c.layout = Layout::BNHD;
    split(ctx, c);
    c.layout = Layout::Sliced, c.D = 40;
    split(ctx, c);
    c.host = true;
    split(ctx, c);
    c.D = 128, c.Nq = c.Nk = 600;  // host path in chunks
    split(ctx, c);
}

TEST_CASE("attention coopmat f32: masks, causal, split-KV", "[attention][coopmat][f32]") {
    TestContext ctx;
    VKA_REQUIRE_SPLIT(ctx.ctx);
    Case c = f32_case();
    c.B = 2, c.Hq = 2, c.Nq = 45, c.Nk = 83;
    c.mask_kind = VKATTN_MASK_ADDITIVE;
    split(ctx, c);
    c.mask_neg_inf = true;
    split(ctx, c);
    c.mask_dtype = VKATTN_DTYPE_F16, c.mask_shape[0] = 1, c.mask_shape[1] = 1;
    split(ctx, c);
    c.mask_kind = VKATTN_MASK_BOOL, c.mask_shape[1] = 0, c.mask_shape[2] = 1;
    split(ctx, c);
    c.Nk = 1000, c.D = 128;
    std::fill(c.mask_shape, c.mask_shape + 4, 0);
    split(ctx, c);
    c = f32_case();
    c.flags |= VKATTN_ATTENTION_CAUSAL;
    for (auto [nq, nk] : {std::pair<int64_t, int64_t>{130, 130}, {100, 60}, {60, 200}, {1, 1}}) {
        c.Nq = nq, c.Nk = nk;
        split(ctx, c);
    }
    TuneGuard env(ctx, "VKATTN_FORCE_SPLITKV", "5");
    c = f32_case();
    c.Nq = 3, c.Nk = 1000, c.D = 128;
    split(ctx, c);
    CHECK(last_call(ctx).path.find("splitkv") != std::string::npos);
    c.Nq = 70, c.Nk = 700, c.D = 64, c.flags |= VKATTN_ATTENTION_CAUSAL;
    c.mask_kind = VKATTN_MASK_BOOL, c.mask_neg_inf = true;
    split(ctx, c);
}

TEST_CASE("attention coopmat f32: magnitudes and stress inputs", "[attention][coopmat][f32]") {
    TestContext ctx;
    VKA_REQUIRE_SPLIT(ctx.ctx);
    for (int64_t D : {64, 128}) {
        Case c = f32_case();
        c.Hq = 1, c.Nq = 64, c.Nk = 4096, c.D = D;
        c.qk_mul = 24;  // logits far beyond the f16 range
        split(ctx, c);
        c.qk_mul = 1, c.v_add = 20;  // a large common offset in v
        split(ctx, c);
    }
    // Far outside the f16 range both ways: the per-head exponents carry it.
    for (float mul : {1e-12f, 1e-6f, 3e5f, 1e15f}) {
        Case c = f32_case();
        c.Nq = 50, c.Nk = 300, c.D = 64, c.qk_mul = mul, c.v_add = mul > 1 ? 1e6f : 0.0f;
        split(ctx, c);
    }
}

// Infinite values in v: the same non-finite outputs as the portable path (an
// infinite hi product must not meet a lo of 0 as inf * 0 = NaN), and the
// other outputs within 1e-5 of each other. (Infinite or NaN logits are not
// compared: the portable kernel's exp maps NaN to 0, so its rows with +inf or
// NaN logits come out finite or zero, where this path and the reference give
// NaN.)
TEST_CASE("attention coopmat f32: infinite values give the portable path's results", "[attention][coopmat][f32]") {
    TestContext ctx;
    VKA_REQUIRE_SPLIT(ctx.ctx);
    const double inf = std::numeric_limits<double>::infinity();
    Case c = f32_case();
    c.Hq = 2, c.Nq = 40, c.Nk = 100, c.D = 64;
    const int64_t D = c.D, Nk = c.Nk;
    // BHND: element (h, n, d) of v at (h * Nk + n) * D + d.
    struct Poke {
        int64_t at;
        double x;
    };
    const Poke pokes[] = {{(0 * Nk + 5) * D + 3, inf}, {(1 * Nk + 7) * D + 0, -inf}, {(1 * Nk + 60) * D + 63, inf}};
    Problem a, b;
    build(c, &a);
    Case cp = c;
    cp.backend = VKATTN_BACKEND_PORTABLE;
    build(cp, &b);
    for (const Poke &p : pokes)
        for (Problem *pr : {&a, &b}) pr->v.set(p.at, p.x);
    REQUIRE(run(ctx, a) == VKATTN_SUCCESS);
    CHECK(last_call(ctx).path.rfind("coopmat_nv_f32", 0) == 0);
    REQUIRE(run(ctx, b) == VKATTN_SUCCESS);
    CHECK(last_call(ctx).path.rfind("portable", 0) == 0);
    int64_t nonfinite = 0;
    for (int64_t i = 0; i < a.out.n; i++) {
        const double x = a.out.get(i), y = b.out.get(i);
        INFO("output element " << i << ": coopmat_nv_f32 " << x << ", portable " << y);
        REQUIRE(std::isnan(x) == std::isnan(y));
        if (std::isnan(y)) {
            nonfinite++;
            continue;
        }
        if (std::isinf(y)) {
            nonfinite++;
            REQUIRE(x == y);
            continue;
        }
        REQUIRE(std::fabs(x - y) <= 1e-5 * std::max(1.0, std::fabs(y)));
    }
    CHECK(nonfinite > 0);
}

TEST_CASE("attention coopmat f32: AUTO, fallbacks and determinism", "[attention][coopmat][f32]") {
    TestContext ctx;
    VKA_REQUIRE_SPLIT(ctx.ctx);
    Case c = f32_case();
    c.backend = VKATTN_BACKEND_AUTO;
    c.Nq = 100, c.Nk = 300;
    CHECK(run_and_check(ctx, c) == "coopmat_nv_f32");
    {
        TuneGuard env(ctx, "VKATTN_COOPMAT_F32", "0");
        CHECK(run_and_check(ctx, c).rfind("portable", 0) == 0);
    }
    // Heads above 128: portable under AUTO, refused under COOPMAT.
    c.D = 160;
    CHECK(run_and_check(ctx, c).rfind("portable", 0) == 0);
    c.backend = VKATTN_BACKEND_COOPMAT;
    check_refused(ctx, c, "f32 inputs with head dims above 128");
    // Same inputs, same bits.
    c = f32_case();
    c.Nq = 200, c.Nk = 500, c.D = 128;
    check_deterministic(ctx, c);
}

TEST_CASE("attention coopmat f32: windowed calls go to the portable path", "[attention][coopmat][f32]") {
    vkattn_context_options o = VKATTN_CONTEXT_OPTIONS_INIT;
    o.max_buffer_range = 64 * 1024;
    TestContext ctx(&o);
    VKA_REQUIRE_SPLIT(ctx.ctx);
    Case c = f32_case();
    c.B = 2, c.Hq = 4, c.Hkv = 2, c.Nq = 300, c.Nk = 500, c.D = 64;
    c.backend = VKATTN_BACKEND_AUTO;
    CHECK(run_and_check(ctx, c).rfind("portable", 0) == 0);
    c.backend = VKATTN_BACKEND_COOPMAT;
    check_refused(ctx, c, "windows");
}

// How much of f32 the matrix unit keeps in the sums of one product (D = A B
// + C, coopmat_sum_probe.comp). Row r < 14 of D is 1 + 2^-(r + 8) (one large
// and one small product: the small term 2^-8 .. 2^-21), also with the 1
// coming from C instead of a product (columns 8..15).
// Every exact result is an f32 number; the split kernel's error bound
// assumes sums within a few f32 ulps. Prints what the unit returned.
TEST_CASE("attention coopmat f32: the matrix unit's sums keep f32 precision", "[attention][coopmat][f32]") {
    TestContext ctx;
    VKA_REQUIRE_SPLIT(ctx.ctx);
    using namespace vkattn;
    Context &c = *ctx.ctx->ctx;
    std::vector<float> in(768, 0.0f);  // A, B, C
    float *A = in.data(), *Bm = in.data() + 256, *C = in.data() + 512;
    // Columns 0..7: the 1 is the product A[r][0] B[0][n]; columns 8..15: it
    // is C. The small term of row r < 14 is A[r][2 + r] B[2 + r][n] =
    // 2^-(r + 8), both factors normal f16 numbers.
    for (int r = 0; r < 16; r++) {
        A[r * 16 + 0] = 1.0f;
        for (int n = 0; n < 16; n++) C[r * 16 + n] = n < 8 ? 0.0f : 1.0f;
    }
    for (int n = 0; n < 16; n++) Bm[n] = n < 8 ? 1.0f : 0.0f;
    for (int r = 0; r < 14; r++) {
        const float a = std::ldexp(1.0f, -(r + 4) / 2);
        A[r * 16 + 2 + r] = a;
        for (int n = 0; n < 16; n++) Bm[(2 + r) * 16 + n] = std::ldexp(1.0f, -(r + 8)) / a;
    }
    std::unique_ptr<Buffer> bi, bo;
    REQUIRE(Buffer::create(c, Pool::Workspace, 768 * 4, &bi).ok());
    REQUIRE(Buffer::create(c, Pool::Workspace, 256 * 4, &bo).ok());
    REQUIRE(upload(c, bi.get(), 0, in.data(), 768 * 4).ok());
    ShaderInterface iface;
    iface.bindings = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER};
    Pipeline *pipe = nullptr;
    REQUIRE(c.pipelines().get(embedded_shader(TestShaderId::coopmat_sum_probe), iface, {}, &pipe).ok());
    REQUIRE(c.stream().begin().ok());
    REQUIRE(
        c.stream().dispatch(*pipe, {{bi.get(), 0, 768 * 4, false}, {bo.get(), 0, 256 * 4, true}}, nullptr, 0, 1).ok());
    REQUIRE(c.stream().submit(true).ok());
    std::vector<float> out(256);
    REQUIRE(download(c, bo.get(), 0, out.data(), 256 * 4).ok());
    std::string report;
    int kept_prod = 0, kept_acc = 0;
    for (int r = 0; r < 14; r++) {
        const double want = 1.0 + std::ldexp(1.0, -(r + 8));
        const double p = out[r * 16 + 0], a = out[r * 16 + 8];
        report += cat("2^-", r + 8, ": product ", p - 1.0, ", accumulator ", a - 1.0, "\n");
        if (p == want) kept_prod = r + 8;
        if (a == want) kept_acc = r + 8;
    }
    WARN("matrix-unit sums of 1 + 2^-k (k = 8..21):\n"
         << report << "small terms kept down to 2^-" << kept_prod << " beside a product, 2^-" << kept_acc
         << " beside the accumulator");
    CHECK(kept_prod >= 21);
    CHECK(kept_acc >= 21);
}
