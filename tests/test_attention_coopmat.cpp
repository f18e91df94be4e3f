// Flash attention on NV cooperative matrices (ops/attention_coopmat.cpp,
// shaders/attention_coopmat.comp) against the double-precision reference,
// through the C ABI with desc.backend = VKATTN_BACKEND_COOPMAT and AUTO.
//
// Runs where the device has VK_NV_cooperative_matrix with a usable layout;
// elsewhere (lavapipe has no cooperative matrices) each test WARNs why and
// skips, after checking that BACKEND_COOPMAT answers UNSUPPORTED with a reason.
//
// Tolerances as in test_attention.cpp: f16 outputs within kTolLowp = 2 ulps of
// f16 at the row magnitude (max |ref| over the row); lse within
// 8 * (1 + log2(Nk)) ulps of f32 at max(|lse|, 1). The kernel accumulates
// q.k, the row max/sum and the output in f32; only P is f16 (in [0, 1], or
// [0, 2^8] for the _t8 variants).
//
// One exception, stated where it is used (Case::p_round): rounding P to f16
// adds up to 2^-11 * sum_j p_j |v_j| / sum_j p_j to an output, which exceeds
// 2 ulps of the row magnitude when the output cancels (|out| << |v|). D = 1
// with 77 keys does that (measured 2.5 ulps on an H200); that case is checked
// against 2 ulps plus this bound, computed by the reference on |v|.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "attention_check.h"
#include "attention_problem.h"
#include "attention_reference.h"
#include "test_util.h"
#include "vkattn.h"

namespace {

using namespace attn_test;

// This file's cases: forced onto the coopmat path, seed 7.
Case coop_case() {
    Case c;
    c.backend = VKATTN_BACKEND_COOPMAT;
    c.seed = 7;
    return c;
}

using vkattn::ref::ulp;

Stats g_stats{"attention coopmat", 6, {}};

void check(Problem &p) {
    const Case &c = p.cs;
    const vkattn_attention_desc &d = p.desc;
    const double tol = c.out_dtype == VKATTN_DTYPE_F32 ? tol_f32(c.Nk) : kTolLowp;
    const bool has_lse = d.flags & VKATTN_ATTENTION_LSE;
    double worst = 0, worst_lse = 0;
    const std::vector<int64_t> rows = sample_rows(c.Nq, c.seed);
    std::vector<double> ro, rl, rabs, rlabs;
    Array vabs = p.v;
    if (c.p_round)
        for (int64_t i = 0; i < vabs.n; i++) vabs.set(i, std::fabs(vabs.get(i)));
    for (int64_t b = 0; b < c.B; b++)
        for (int64_t h = 0; h < c.Hq; h++) {
            vkattn::ref::attention_rows(d, p.q.bytes.data(), p.k.bytes.data(), p.v.bytes.data(),
                                        p.mask.bytes.empty() ? nullptr : p.mask.bytes.data(), b, h, rows, &ro, &rl);
            if (c.p_round)
                vkattn::ref::attention_rows(d, p.q.bytes.data(), p.k.bytes.data(), vabs.bytes.data(),
                                            p.mask.bytes.empty() ? nullptr : p.mask.bytes.data(), b, h, rows, &rabs,
                                            &rlabs);
            for (size_t r = 0; r < rows.size(); r++) {
                const int64_t i = rows[r];
                double mag = 0;
                for (int64_t j = 0; j < c.Dv; j++) mag = std::max(mag, std::fabs(ro[r * c.Dv + j]));
                const double u = ulp(c.out_dtype, mag);
                for (int64_t j = 0; j < c.Dv; j++) {
                    const int64_t at = d.out.offset + b * d.out.strides[0] + h * d.out.strides[1] +
                                       i * d.out.strides[2] + j * d.out.strides[3];
                    const double got = p.out.get(at), want = ro[r * c.Dv + j];
                    double err = std::fabs(got - want) / u;
                    if (c.p_round) err = std::max(0.0, std::fabs(got - want) - std::ldexp(rabs[r * c.Dv + j], -11)) / u;
                    if (!(err <= tol)) {
                        INFO("b " << b << " h " << h << " row " << i << " col " << j << ": got " << got << " want "
                                  << want << " (" << err << " ulp of " << mag << ", tolerance " << tol << ")");
                        REQUIRE(err <= tol);
                    }
                    worst = std::max(worst, err);
                }
                if (has_lse) check_lse(p, b, h, i, rl[r], mag, 0.0, &worst_lse);
            }
        }
    check_sentinels(p);
    g_stats.note(c.out_dtype == VKATTN_DTYPE_F32 ? "f32" : c.out_dtype == VKATTN_DTYPE_F16 ? "f16" : "bf16", worst);
    if (has_lse) g_stats.note("lse", worst_lse);
}

std::string last_path(vkattn_context ctx) {
    return last_call(ctx).path;
}

// Runs the case, checks it against the reference and returns the path that ran.
std::string run_and_check(vkattn_context ctx, const Case &c) {
    Problem p;
    build(c, &p);
    INFO(describe(p.cs));
    run_ok(ctx, p);
    check(p);
    return last_path(ctx);
}

// Runs a forced-coopmat case and requires that the coopmat kernel ran.
void coop(vkattn_context ctx, const Case &c) {
    const std::string path = run_and_check(ctx, c);
    INFO("path " << path);
    CHECK(path.rfind("coopmat_nv", 0) == 0);
}

// True when this device serves BACKEND_COOPMAT; otherwise WARNs why (and
// checks the UNSUPPORTED answer) so that the caller can skip.
bool coopmat_available(vkattn_context ctx) {
    Case c = coop_case();
    c.Nq = 5, c.Nk = 9, c.D = 16;
    return path_available(ctx, c, "the coopmat attention path");
}

#define VKA_REQUIRE_COOPMAT(ctx)             \
    do {                                     \
        VKA_REQUIRE_DEVICE(ctx);             \
        if (!coopmat_available(ctx)) return; \
    } while (0)

// Tensors cut into windows: every binding limited to `range` bytes. GQA with
// a broadcast additive mask at head dim d_bhnd, then the BNHD layout with a
// broadcast bool mask at head dim d_bnhd.
void windowed(uint64_t range, int64_t d_bhnd, int64_t d_bnhd) {
    vkattn_context_options o = VKATTN_CONTEXT_OPTIONS_INIT;
    o.max_buffer_range = range;
    TestContext ctx(&o);
    VKA_REQUIRE_COOPMAT(ctx.ctx);
    Case c = coop_case();
    c.B = 2, c.Hq = 4, c.Hkv = 2, c.Nq = 300, c.Nk = 500, c.D = d_bhnd;
    c.mask_kind = VKATTN_MASK_ADDITIVE, c.mask_shape[1] = 1;
    coop(ctx, c);
    c.layout = Layout::BNHD, c.mask_kind = VKATTN_MASK_BOOL, c.D = d_bnhd;
    coop(ctx, c);
}

}  // namespace

TEST_CASE("attention coopmat: head dims", "[attention][coopmat]") {
    TestContext ctx;
    VKA_REQUIRE_COOPMAT(ctx.ctx);
    for (int64_t D : {1, 8, 16, 40, 64, 72, 80, 96, 112, 128, 136, 160, 200, 256, 320, 500, 512}) {
        Case c = coop_case();
        c.D = D, c.Nq = 37, c.Nk = 77;
        c.p_round = D == 1;  // outputs far below |v| (see the top of the file)
        coop(ctx, c);
    }
}

TEST_CASE("attention coopmat: sequence lengths", "[attention][coopmat]") {
    TestContext ctx;
    VKA_REQUIRE_COOPMAT(ctx.ctx);
    for (int64_t n : {1, 7, 16, 63, 65, 127, 1000}) {
        Case c = coop_case();
        c.Nq = c.Nk = n;
        coop(ctx, c);
    }
    Case c = coop_case();
    c.Hq = 1, c.Nq = c.Nk = 4097, c.D = 64;
    coop(ctx, c);
}

TEST_CASE("attention coopmat: cross attention and Dv != D", "[attention][coopmat]") {
    TestContext ctx;
    VKA_REQUIRE_COOPMAT(ctx.ctx);
    Case c = coop_case();
    c.Nq = 300, c.Nk = 77;
    coop(ctx, c);
    c.Nq = 5, c.Nk = 1000;
    coop(ctx, c);
    c.Nq = 70, c.Nk = 130, c.D = 40, c.Dv = 72;
    coop(ctx, c);
    c.D = 128, c.Dv = 8;
    coop(ctx, c);
}

TEST_CASE("attention coopmat: grouped-query, layouts and strides", "[attention][coopmat]") {
    TestContext ctx;
    VKA_REQUIRE_COOPMAT(ctx.ctx);
    Case c = coop_case();
    c.B = 2, c.Hq = 8, c.Hkv = 2, c.Nq = 33, c.Nk = 90;
    coop(ctx, c);
    c.Hq = 4, c.Hkv = 1, c.layout = Layout::BNHD;
    coop(ctx, c);
    c.layout = Layout::Sliced, c.D = 40;  // element-wise gathers
    coop(ctx, c);
    c.host = true;
    coop(ctx, c);
}

TEST_CASE("attention coopmat: masks", "[attention][coopmat]") {
    TestContext ctx;
    VKA_REQUIRE_COOPMAT(ctx.ctx);
    Case c = coop_case();
    c.B = 2, c.Hq = 2, c.Nq = 45, c.Nk = 83;
    c.mask_kind = VKATTN_MASK_ADDITIVE, c.mask_dtype = VKATTN_DTYPE_F32;
    coop(ctx, c);
    c.mask_neg_inf = true;
    coop(ctx, c);
    c.mask_dtype = VKATTN_DTYPE_F16;
    const int64_t shapes[][4] = {{1, 1, 0, 0}, {0, 1, 1, 0}, {1, 0, 0, 1}};
    for (auto &s : shapes) {
        std::copy(s, s + 4, c.mask_shape);
        coop(ctx, c);
    }
    c.mask_kind = VKATTN_MASK_BOOL;
    for (auto &s : shapes) {
        std::copy(s, s + 4, c.mask_shape);
        coop(ctx, c);
    }
    c.Nk = 1000;  // several key blocks, fully masked rows among them
    std::fill(c.mask_shape, c.mask_shape + 4, 0);
    coop(ctx, c);
}

TEST_CASE("attention coopmat: causal", "[attention][coopmat]") {
    TestContext ctx;
    VKA_REQUIRE_COOPMAT(ctx.ctx);
    Case c = coop_case();
    c.flags |= VKATTN_ATTENTION_CAUSAL;
    for (auto [nq, nk] : {std::pair<int64_t, int64_t>{130, 130}, {100, 60}, {60, 200}, {1, 1}, {300, 300}}) {
        c.Nq = nq, c.Nk = nk;
        coop(ctx, c);
    }
    c.Nq = c.Nk = 150, c.scale = 0.3f;
    c.mask_kind = VKATTN_MASK_ADDITIVE, c.mask_shape[0] = c.mask_shape[1] = 1;
    coop(ctx, c);
}

TEST_CASE("attention coopmat: split-KV and windows", "[attention][coopmat]") {
    {
        TestContext ctx;
        VKA_REQUIRE_COOPMAT(ctx.ctx);
        TuneGuard env(ctx, "VKATTN_FORCE_SPLITKV", "5");
        Case c = coop_case();
        c.Nq = 3, c.Nk = 1000;
        coop(ctx, c);
        CHECK(last_path(ctx).find("splitkv") != std::string::npos);
        c.Nq = 70, c.Nk = 700, c.flags |= VKATTN_ATTENTION_CAUSAL;
        c.mask_kind = VKATTN_MASK_BOOL, c.mask_neg_inf = true;
        coop(ctx, c);
    }
    windowed(64 * 1024, 64, 64);
}

TEST_CASE("attention coopmat: stress inputs", "[attention][coopmat]") {
    TestContext ctx;
    VKA_REQUIRE_COOPMAT(ctx.ctx);
    for (int64_t D : {64, 128}) {
        Case c = coop_case();
        c.Hq = 1, c.Nq = 64, c.Nk = 4096, c.D = D;
        c.qk_mul = 24;  // logits far beyond the f16 range
        coop(ctx, c);
        c.qk_mul = 1, c.v_add = 20;  // a large common offset in v
        coop(ctx, c);
    }
}

TEST_CASE("attention coopmat: AUTO picks the path, COOPMAT refuses what it cannot serve", "[attention][coopmat]") {
    TestContext ctx;
    VKA_REQUIRE_COOPMAT(ctx.ctx);
    Case c = coop_case();
    c.backend = VKATTN_BACKEND_AUTO;
    c.Nq = 100, c.Nk = 300;
    CHECK(run_and_check(ctx, c) == "coopmat_nv");
    c.host = true;
    CHECK(run_and_check(ctx, c) == "coopmat_nv");
    c.host = false;
    // Served by the portable path under AUTO, refused under COOPMAT.
    struct Out {
        vkattn_dtype dt, odt;
        int64_t D;
        const char *needle;
    };
    // (f32 inputs have their own kernel: test_attention_coopmat_f32.cpp.)
    for (const Out &x : {Out{VKATTN_DTYPE_BF16, VKATTN_DTYPE_BF16, 64, "bf16"},
                         Out{VKATTN_DTYPE_F16, VKATTN_DTYPE_F32, 64, "f32 outputs"}}) {
        Case a = c;
        a.dtype = x.dt, a.out_dtype = x.odt, a.D = x.D;
        a.backend = VKATTN_BACKEND_AUTO;
        CHECK(run_and_check(ctx, a).rfind("portable", 0) == 0);
        a.backend = VKATTN_BACKEND_COOPMAT;
        check_refused(ctx, a, x.needle);
    }
    c.backend = VKATTN_BACKEND_PORTABLE;  // "portable" or "portable+splitkv", whichever fills the device
    CHECK(run_and_check(ctx, c).rfind("portable", 0) == 0);
}

// Heads above 128 (attention_coopmat_wide.comp: the head dim split across
// the warps of a row group, partial products of S added in shared memory).
TEST_CASE("attention coopmat: wide heads", "[attention][coopmat]") {
    TestContext ctx;
    VKA_REQUIRE_COOPMAT(ctx.ctx);
    // The VAE mid-block (one head, D = 512) at a small token count, and the
    // other buckets with several key blocks and an odd tail.
    for (int64_t D : {512, 384, 256, 192, 160}) {
        Case c = coop_case();
        c.Hq = 1, c.Nq = 333, c.Nk = 301, c.D = D;
        coop(ctx, c);
    }
    Case c = coop_case();
    c.Nq = 70, c.Nk = 130, c.D = 512, c.Dv = 64;  // Dv != D both ways
    coop(ctx, c);
    c.D = 40, c.Dv = 512;
    coop(ctx, c);
    c.D = c.Dv = 512;
    c.B = 2, c.Hq = 4, c.Hkv = 2, c.layout = Layout::BNHD;  // GQA, interleaved heads
    coop(ctx, c);
    c.layout = Layout::Sliced, c.D = 300;  // element-wise gathers
    coop(ctx, c);
    c.host = true;
    coop(ctx, c);
    c = coop_case();
    c.D = 512, c.B = 2, c.Nq = 200, c.Nk = 333;
    c.mask_kind = VKATTN_MASK_BOOL, c.mask_neg_inf = true, c.mask_shape[1] = 1;
    coop(ctx, c);
    c.mask_kind = VKATTN_MASK_ADDITIVE, c.mask_dtype = VKATTN_DTYPE_F16;
    coop(ctx, c);
    c.mask_kind = VKATTN_MASK_NONE, c.flags |= VKATTN_ATTENTION_CAUSAL;
    coop(ctx, c);
    c.flags &= ~static_cast<uint32_t>(VKATTN_ATTENTION_CAUSAL);
    c.Nk = 20;  // less than one key block
    coop(ctx, c);
    {
        TuneGuard env(ctx, "VKATTN_FORCE_SPLITKV", "5");
        c.Nq = 3, c.Nk = 1000;
        coop(ctx, c);
        CHECK(last_path(ctx).find("splitkv") != std::string::npos);
    }
    windowed(256 * 1024, 512, 192);  // a D = 512 row is 1 KiB
    // Stress inputs: logits far beyond the f16 range, a large offset in v.
    c = coop_case();
    c.Hq = 1, c.Nq = 64, c.Nk = 4096, c.D = 512;
    c.qk_mul = 24;
    coop(ctx, c);
    c.qk_mul = 1, c.v_add = 20;
    coop(ctx, c);
    // Every wide tiling of this build (tuning builds have more; a suffix
    // without a variant at some bucket falls back to the default there).
    for (const char *tile : {"s4_w16_k16", "s4_w8_k16", "s2_w8_k32", "s2_w8_k16_m2", "s4_w4_k32", "s2_w4_k32",
                             "s4_w4_k32_p0", "s4_w16_k16_t8", "s8_w16_k16", "s2_w2_k32", "s4_w8_k16_m2"}) {
        TuneGuard env(ctx, "VKATTN_COOPMAT_TILE", tile);
        for (int64_t D : {160, 192, 256, 384, 512}) {
            Case t = coop_case();
            t.D = D, t.Nq = 100, t.Nk = 150;
            t.mask_kind = VKATTN_MASK_BOOL, t.mask_neg_inf = true, t.mask_shape[1] = 1;
            coop(ctx, t);
            t.mask_kind = VKATTN_MASK_NONE, t.Hq = 1, t.Nq = 130, t.Nk = 1500;
            t.qk_mul = 24;  // stress: the lazy rescale (t8) with logits beyond the f16 range
            coop(ctx, t);
        }
    }
}

TEST_CASE("attention coopmat: deterministic", "[attention][coopmat]") {
    TestContext ctx;
    VKA_REQUIRE_COOPMAT(ctx.ctx);
    Case c = coop_case();
    c.Nq = 200, c.Nk = 700;
    check_deterministic(ctx, c);
}

TEST_CASE("attention coopmat: tilings", "[attention][coopmat]") {
    TestContext ctx;
    VKA_REQUIRE_COOPMAT(ctx.ctx);
    // Every tiling the chooser can pick (a suffix without a variant at some
    // head dim falls back to the default there).
    for (const char *tile : {"w4", "w8_ralw", "w8_t8_k128", "w4_m2_k64", "w8_ralw_pipe", "w8_ralw_pipe_k32"}) {
        TuneGuard env(ctx, "VKATTN_COOPMAT_TILE", tile);
        for (int64_t D : {40, 64, 80, 112, 128}) {
            Case c = coop_case();
            c.D = D, c.B = 2, c.Nq = 200, c.Nk = 333;
            c.mask_kind = VKATTN_MASK_BOOL, c.mask_neg_inf = true, c.mask_shape[1] = 1;
            coop(ctx, c);
            c.mask_kind = VKATTN_MASK_NONE, c.flags |= VKATTN_ATTENTION_CAUSAL;
            coop(ctx, c);
            c.flags &= ~static_cast<uint32_t>(VKATTN_ATTENTION_CAUSAL);
            c.Nk = 20;  // less than one key block (the pipelined variants' prologue)
            coop(ctx, c);
            // Stress inputs: the lazy rescale (P up to 2^8) with logits far
            // beyond the f16 range and a large common offset in v.
            Case st = coop_case();
            st.Hq = 1, st.Nq = 130, st.Nk = 1500, st.D = D;
            st.qk_mul = 24;
            coop(ctx, st);
            st.qk_mul = 1, st.v_add = 20;
            coop(ctx, st);
        }
    }
}
