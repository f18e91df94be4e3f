// The host path on arrays large enough that packing and unpacking are split
// across threads (>= 1 MiB a thread): every head's chunk must match the f64
// reference on sampled rows. (The host and device paths may choose different
// plans, e.g. split-KV for small chunks on a big GPU, so they are not compared
// bit for bit.)
#include <cmath>
#include <random>
#include <vector>

#include "attention_reference.h"
#include "test_util.h"

TEST_CASE("attention: large strided host arrays are packed in parallel", "[attention][host]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    // f32 [B, N, H, D] (BNHD, as ComfyUI passes it): q/k/v of 8 MiB each, so every
    // copy is split over threads.
    const int64_t B = 1, H = 8, N = 2048, D = 128;
    const int64_t n = B * N * H * D;
    std::vector<float> q(n), k(n), v(n);
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto *a : {&q, &k, &v})
        for (auto &x : *a) x = u(rng);
    vkattn_attention_desc d = VKATTN_ATTENTION_DESC_INIT;
    d.dtype = d.out_dtype = VKATTN_DTYPE_F32;
    const vkattn_view bnhd{{B, H, N, D}, {N * H * D, D, H * D, 1}, 0};
    d.q = d.k = d.v = d.out = bnhd;
    std::vector<float> host_out(n, NAN);
    VKA_CHECK_OK(vkattn_attention_host(ctx, &d, q.data(), k.data(), v.data(), nullptr, host_out.data(), nullptr));

    // Sampled rows against the f64 reference. Tolerance: that of the f32
    // attention tests, 8 * (1 + log2 Nk) ulps at the row magnitude, plus the
    // rounding of each f32 logit (2^-24 * scale * sum |q.k| * max |v|).
    const std::vector<int64_t> rows = {0, 777, N - 1};
    for (int64_t h = 0; h < H; h++) {
        std::vector<double> ref, lse;
        vkattn::ref::attention_rows(d, q.data(), k.data(), v.data(), nullptr, 0, h, rows, &ref, &lse);
        for (size_t i = 0; i < rows.size(); i++) {
            double mag = 0, sabs = 0;
            for (int64_t c = 0; c < D; c++) mag = std::max(mag, std::fabs(ref[i * D + c]));
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t c = 0; c < D; c++)
                    s += std::fabs(double(q[(rows[i] * H + h) * D + c]) * k[(j * H + h) * D + c]);
                sabs = std::max(sabs, s / std::sqrt(double(D)));
            }
            const double tol = 8 * (1 + std::log2(double(N))) * vkattn::ref::ulp(VKATTN_DTYPE_F32, mag) +
                               std::ldexp(1.0, -24) * sabs * 1.0;
            for (int64_t c = 0; c < D; c++) {
                const double got = host_out[(rows[i] * H + h) * D + c];
                INFO("h " << h << " row " << rows[i] << " col " << c);
                REQUIRE(std::fabs(got - ref[i * D + c]) <= tol);
            }
        }
    }
}
