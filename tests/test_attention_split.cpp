// The split passes of f32 attention on matrix units (ops/attention_split.cpp,
// shaders/attention_split.comp) on any device (lavapipe in CI): the
// exponent table and every hi/lo pair against the rules of
// shaders/common/attention_split_params.h, computed here on the CPU with the
// reference f16 conversion. The attention kernel that reads the pairs needs
// cooperative matrices; it is tested in test_attention_coopmat_f32.cpp.
//
// Exact checks: table entries are the largest finite |x| of each (batch,
// head) bit for bit; hi = f16(x 2^e) and lo = f16((x 2^e - hi) 2^11),
// both rounded to nearest even, bit for bit; zeros past the head dim; inf
// and NaN give hi = inf / NaN and lo = 0. And the property the kernel relies
// on: hi + 2^-11 lo is within 2^-22 |x 2^e| + 2^-35 of x 2^e (half an ulp
// of lo, 2^-11 below half an ulp of hi).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "attention.h"
#include "attention_reference.h"
#include "attention_split.h"
#include "attention_split_params.h"
#include "context.h"
#include "test_util.h"
#include "transfer.h"

using namespace vkattn;
using namespace vkattn::ops::attn;

namespace {

Context &internal(vkattn_context c) {
    return *c->ctx;
}

uint32_t bits_of(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

// One f32 tensor [B, H, N, D] stored with the given strides in `data`.
struct F32View {
    vkattn_view view{};
    std::vector<float> data;
    float at(int64_t b, int64_t h, int64_t n, int64_t d) const {
        return data[static_cast<size_t>(view.offset + b * view.strides[0] + h * view.strides[1] + n * view.strides[2] +
                                        d * view.strides[3])];
    }
};

// Head (b, h) gets magnitude scale[(b * H + h) % scale.size()].
F32View make_view(int64_t B, int64_t H, int64_t N, int64_t D, bool bnhd, const std::vector<double> &scale,
                  uint32_t seed) {
    F32View v;
    v.view.shape[0] = B, v.view.shape[1] = H, v.view.shape[2] = N, v.view.shape[3] = D;
    const int64_t pitch = D + 3;  // gaps between rows
    if (bnhd) {
        v.view.strides[3] = 1, v.view.strides[1] = pitch, v.view.strides[2] = H * pitch,
        v.view.strides[0] = N * H * pitch;
    } else {
        v.view.strides[3] = 1, v.view.strides[2] = pitch, v.view.strides[1] = N * pitch,
        v.view.strides[0] = H * N * pitch;
    }
    v.view.offset = 5;
    v.data.assign(static_cast<size_t>(5 + B * H * N * pitch), std::numeric_limits<float>::quiet_NaN());  // gaps: NaN
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t n = 0; n < N; n++)
                for (int64_t d = 0; d < D; d++)
                    v.data[static_cast<size_t>(v.view.offset + b * v.view.strides[0] + h * v.view.strides[1] +
                                               n * v.view.strides[2] + d * v.view.strides[3])] =
                        static_cast<float>(nd(rng) * scale[static_cast<size_t>(b * H + h) % scale.size()]);
    return v;
}

// Checks the copy of one tensor (`copy`: the workspace words of its region)
// and its table entries (`tab`).
void check_tensor(const F32View &v, uint32_t hd, const uint32_t *copy, const uint32_t *tab, const char *name) {
    const int64_t B = v.view.shape[0], H = v.view.shape[1], N = v.view.shape[2], D = v.view.shape[3];
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            const int64_t bh = b * H + h;
            uint32_t want = 0;
            for (int64_t n = 0; n < N; n++)
                for (int64_t d = 0; d < D; d++) {
                    const uint32_t a = bits_of(v.at(b, h, n, d)) & 0x7fffffffu;
                    if (a < 0x7f800000u) want = std::max(want, a);
                }
            INFO(name << " head " << bh);
            REQUIRE(tab[bh] == want);
            const int e = vka_split_exp(want);
            for (int64_t n = 0; n < N; n++)
                for (uint32_t d = 0; d < hd; d++) {
                    const uint32_t *row = copy + (bh * N + n) * hd;
                    const uint16_t hi = static_cast<uint16_t>(row[d / 2] >> (16 * (d % 2)));
                    const uint16_t lo = static_cast<uint16_t>(row[hd / 2 + d / 2] >> (16 * (d % 2)));
                    INFO("row " << n << " col " << d);
                    if (d >= D) {
                        REQUIRE(hi == 0);
                        REQUIRE(lo == 0);
                        continue;
                    }
                    const float y = std::ldexp(v.at(b, h, n, d), e);
                    if (!std::isfinite(y)) {
                        if (std::isnan(y))
                            REQUIRE(std::isnan(ref::f16_to_f32(hi)));
                        else
                            REQUIRE(ref::f16_to_f32(hi) == y);
                        REQUIRE(lo == 0);
                        continue;
                    }
                    REQUIRE(hi == ref::f32_to_f16(y));
                    const float r = (y - ref::f16_to_f32(hi)) * 2048.0f;  // exact in f32
                    REQUIRE(lo == ref::f32_to_f16(r));
                    const double back = double(ref::f16_to_f32(hi)) + std::ldexp(double(ref::f16_to_f32(lo)), -11);
                    REQUIRE(std::fabs(back - double(y)) <=
                            std::ldexp(std::fabs(double(y)), -22) + std::ldexp(1.0, -35));
                    REQUIRE(std::fabs(double(y)) < 32768.0);
                }
        }
}

// Runs the split passes of q, k, v (GQA shapes: k and v have Hkv heads) and
// checks all three.
void run_split(vkattn_context handle, const F32View &q, const F32View &k, const F32View &v, uint32_t hd) {
    Context &ctx = internal(handle);
    vkattn_attention_desc d = VKATTN_ATTENTION_DESC_INIT;
    d.q = q.view, d.k = k.view, d.v = v.view;
    SplitPlan sp;
    plan_split(d, hd, 1000, &sp);  // after 1000 bytes of (pretend) partials
    REQUIRE(sp.q_off % 256 == 0);
    REQUIRE(sp.k_off % 256 == 0);
    REQUIRE(sp.v_off % 256 == 0);
    REQUIRE(sp.q_off >= 1000);
    std::unique_ptr<Buffer> bq, bk, bv, ws;
    const F32View *views[3] = {&q, &k, &v};
    Buffer *bufs[3];
    std::unique_ptr<Buffer> *owners[3] = {&bq, &bk, &bv};
    for (int t = 0; t < 3; t++) {
        REQUIRE(Buffer::create(ctx, Pool::Workspace, views[t]->data.size() * 4, owners[t]).ok());
        bufs[t] = owners[t]->get();
        REQUIRE(upload(ctx, bufs[t], 0, views[t]->data.data(), views[t]->data.size() * 4).ok());
    }
    REQUIRE(Buffer::create(ctx, Pool::Workspace, sp.total, &ws).ok());
    std::vector<uint32_t> junk(sp.total / 4, 0xdeadbeefu);  // the table must be zeroed by the passes
    REQUIRE(upload(ctx, ws.get(), 0, junk.data(), junk.size() * 4).ok());
    SplitSource src[3];
    for (int t = 0; t < 3; t++) {
        src[t].buf = bufs[t], src[t].offset = 0, src[t].range = views[t]->data.size() * 4;
        src[t].org = static_cast<uint32_t>(views[t]->view.offset);
        src[t].view = &views[t]->view;
    }
    uint32_t dispatches = 0;
    REQUIRE(ctx.stream().begin().ok());
    REQUIRE(record_split(ctx, sp, src, ws.get(), &dispatches).ok());
    REQUIRE(ctx.stream().submit(true).ok());
    CHECK(dispatches == 6);
    std::vector<uint32_t> w(sp.total / 4);
    REQUIRE(download(ctx, ws.get(), 0, w.data(), sp.total).ok());
    const uint32_t *tab = w.data() + sp.tab_off / 4;
    const int64_t nq = q.view.shape[0] * q.view.shape[1], nk = k.view.shape[0] * k.view.shape[1];
    check_tensor(q, hd, w.data() + sp.q_off / 4, tab, "q");
    check_tensor(k, hd, w.data() + sp.k_off / 4, tab + nq, "k");
    check_tensor(v, hd, w.data() + sp.v_off / 4, tab + nq + nk, "v");
    CHECK(w[0] == 0xdeadbeefu);  // the partials area is left alone
}

}  // namespace

TEST_CASE("attention split: exponents per head and exact f16 pairs", "[attention][split]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    // Magnitudes from tiny to far beyond f16, per head; GQA; odd sizes.
    const std::vector<double> qs = {1.0, 1e-3, 3e5, 1e-30}, ks = {7.0, 1e12}, vs = {2e-6, 50.0};
    F32View q = make_view(2, 4, 37, 40, false, qs, 1);
    F32View k = make_view(2, 2, 53, 40, true, ks, 2);
    F32View v = make_view(2, 2, 53, 40, false, vs, 3);
    run_split(ctx, q, k, v, 48);
}

TEST_CASE("attention split: zeros, inf, NaN and the largest f32", "[attention][split]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    F32View q = make_view(1, 3, 9, 70, false, {1.0}, 4);
    F32View k = make_view(1, 3, 11, 70, false, {1.0}, 5);
    F32View v = make_view(1, 3, 11, 70, true, {1.0}, 6);
    // q head 0 all zeros (exponent 0); head 1 has inf, -inf and NaN among
    // ordinary values (the exponent comes from the finite ones); head 2 has
    // the largest finite f32 and an f32 subnormal.
    auto set = [](F32View &t, int64_t h, int64_t n, int64_t d, float x) {
        t.data[static_cast<size_t>(t.view.offset + h * t.view.strides[1] + n * t.view.strides[2] +
                                   d * t.view.strides[3])] = x;
    };
    for (int64_t n = 0; n < 9; n++)
        for (int64_t d = 0; d < 70; d++) set(q, 0, n, d, 0.0f);
    set(q, 1, 0, 0, std::numeric_limits<float>::infinity());
    set(q, 1, 3, 69, -std::numeric_limits<float>::infinity());
    set(q, 1, 8, 5, std::numeric_limits<float>::quiet_NaN());
    set(q, 2, 4, 4, std::numeric_limits<float>::max());
    set(q, 2, 4, 5, std::numeric_limits<float>::denorm_min());
    set(k, 1, 10, 69, -0.0f);
    set(v, 2, 0, 0, 65504.0f * 4);
    run_split(ctx, q, k, v, 80);
}

TEST_CASE("attention split: the exponent rule", "[attention][split]") {
    CHECK(vka_split_exp(0) == 0);
    CHECK(vka_split_exp(bits_of(1.0f)) == 14);
    CHECK(vka_split_exp(bits_of(1.999f)) == 14);
    CHECK(vka_split_exp(bits_of(2.0f)) == 13);
    CHECK(vka_split_exp(bits_of(32767.0f)) == 0);
    CHECK(vka_split_exp(bits_of(65504.0f)) == -1);
    CHECK(vka_split_exp(bits_of(std::numeric_limits<float>::max())) == -113);
    CHECK(vka_split_exp(bits_of(std::numeric_limits<float>::min())) == 126 - 14 + 14);  // 2^-126: 140, clamped
    CHECK(vka_split_exp(bits_of(std::numeric_limits<float>::denorm_min())) == 126);
    // max |x| 2^e in [2^14, 2^15) for every normal max down to 2^-112.
    for (int p = -112; p <= 127; p++)
        for (float m : {1.0f, 1.5f, 1.99999988f}) {
            const float x = std::ldexp(m, p);
            CHECK(std::ldexp(double(x), vka_split_exp(bits_of(x))) < 32768.0);
            CHECK(std::ldexp(double(x), vka_split_exp(bits_of(x))) >= 16384.0);
        }
}
