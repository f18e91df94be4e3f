// Chunked host calls on the transfer lane (runtime/transfer_lane.h): uploads
// and downloads submitted to a second queue, kernels on the two compute
// streams, ordered by timeline semaphores. lavapipe has no copy-engine
// family, so VKATTN_TRANSFER_QUEUE=same puts the lane on the compute queue:
// the same submissions, semaphores and buffer rotation, with validation on.
// The lane changes only where copies run, never what the kernels compute, so
// every call must give the same bytes as the single-queue route
// (VKATTN_TRANSFER_QUEUE=0), whose results test_attention.cpp checks against
// the double reference at these shapes.
#include <catch2/catch.hpp>
#include <cstring>
#include <memory>
#include <string>

#include "attention_problem.h"
#include "test_util.h"

using namespace attn_test;

namespace {

// A staging-route context with the lane as `mode` sets it ("same" or "0").
std::unique_ptr<TestContext> lane_context(const char *mode) {
    EnvVar env("VKATTN_TRANSFER_QUEUE", mode);
    const vkattn_context_options o = staging_options();
    return std::make_unique<TestContext>(&o);
}

// Runs `c` on both contexts; both must succeed with the same bytes, the lane
// run reporting its route and `chunks` submissions.
void same_bytes_on_both(vkattn_context lane, vkattn_context plain, const Case &c, uint32_t chunks) {
    Problem a, b;
    build(c, &a);
    b = a;
    INFO("dtype " << c.dtype << " B " << c.B << " Hq " << c.Hq << " Hkv " << c.Hkv << " Nq " << c.Nq << " Nk " << c.Nk
                  << " D " << c.D << " Dv " << c.Dv << " mask " << c.mask_kind);
    vkattn_status s = run(lane, a);
    INFO("status " << vkattn_status_string(s) << ": " << (s ? vkattn_last_error() : ""));
    REQUIRE(s == VKATTN_SUCCESS);
    CHECK(last_call(lane).variant.find("lane on compute queue") != std::string::npos);
    vkattn_call_info info = VKATTN_CALL_INFO_INIT;
    REQUIRE(vkattn_context_last_call(lane, &info) == VKATTN_SUCCESS);
    CHECK(info.submits == chunks);
    REQUIRE(run(plain, b) == VKATTN_SUCCESS);
    CHECK(last_call(plain).variant.find("lane") == std::string::npos);
    check_same_bytes(a, b);
}

}  // namespace

TEST_CASE("host lane: chunked calls give the single-queue bytes", "[attention][host][lane]") {
    auto lane = lane_context("same");
    VKA_REQUIRE_DEVICE(lane->ctx);
    auto plain = lane_context("0");
    // One batch per chunk (about 2.7 MB each, VKATTN_HOST_CHUNKS=B): 2, 3
    // and 6 chunks rotate through both buffer sets; masks (shared and per
    // batch, -inf rows once) and lse ride along. Both submission orders:
    // downloads queued right after their kernel (two transfer queues), and
    // after the next upload (one transfer queue).
    auto late = lane_context("same-late");
    for (vkattn_context l : {lane->ctx, late->ctx}) {
        for (int64_t B : {2, 3, 6}) {
            TuneGuard chunks(l, "VKATTN_HOST_CHUNKS", std::to_string(B).c_str());
            TuneGuard plain_chunks(*plain, "VKATTN_HOST_CHUNKS", std::to_string(B).c_str());
            Case c;
            c.dtype = VKATTN_DTYPE_F32, c.B = B, c.Hq = 4, c.Nq = c.Nk = 600, c.D = 64, c.host = true;
            c.flags = VKATTN_ATTENTION_LSE;
            c.mask_kind = VKATTN_MASK_ADDITIVE, c.mask_shape[1] = 1, c.mask_neg_inf = B == 6;
            if (B == 3) c.mask_shape[0] = 1;
            same_bytes_on_both(l, *plain, c, static_cast<uint32_t>(B));
            CHECK((last_call(l).variant.find("late downloads") != std::string::npos) == (l == late->ctx));
        }
    }
    {  // f16, grouped-query heads, Dv != D, BNHD views: chunks over kv heads
        TuneGuard chunks(*lane, "VKATTN_HOST_CHUNKS", "4");
        TuneGuard plain_chunks(*plain, "VKATTN_HOST_CHUNKS", "4");
        Case c;
        c.dtype = VKATTN_DTYPE_F16, c.B = 1, c.Hq = 8, c.Hkv = 4, c.Nq = 1100, c.Nk = 1201, c.D = 72, c.Dv = 80;
        c.host = true, c.layout = Layout::BNHD;
        same_bytes_on_both(*lane, *plain, c, 4);
    }
    {  // bf16 with gaps between view elements (the out sentinel must survive), bool mask
        TuneGuard chunks(*lane, "VKATTN_HOST_CHUNKS", "6");  // one head per chunk
        TuneGuard plain_chunks(*plain, "VKATTN_HOST_CHUNKS", "6");
        Case c;
        c.dtype = VKATTN_DTYPE_BF16, c.B = 3, c.Hq = 2, c.Nq = 700, c.Nk = 650, c.D = 96;
        c.host = true, c.layout = Layout::Sliced;
        c.mask_kind = VKATTN_MASK_BOOL, c.mask_shape[1] = 1;
        same_bytes_on_both(*lane, *plain, c, 6);
    }
}

TEST_CASE("host lane: many calls in a row reuse its command buffers", "[attention][host][lane]") {
    auto lane = lane_context("same");
    VKA_REQUIRE_DEVICE(lane->ctx);
    auto plain = lane_context("0");
    TuneGuard chunks(*lane, "VKATTN_HOST_CHUNKS", "4");
    TuneGuard plain_chunks(*plain, "VKATTN_HOST_CHUNKS", "4");
    Case c;
    c.dtype = VKATTN_DTYPE_F16, c.B = 4, c.Hq = 2, c.Nq = c.Nk = 900, c.D = 64, c.host = true;
    Problem ref;
    build(c, &ref);
    REQUIRE(run(*plain, ref) == VKATTN_SUCCESS);
    bool all_same = true;
    for (int i = 0; i < 12; i++) {
        Problem p;
        build(c, &p);
        REQUIRE(run(*lane, p) == VKATTN_SUCCESS);
        all_same = all_same && p.out.bytes == ref.out.bytes;
    }
    CHECK(all_same);
}

TEST_CASE("host lane: f16 compute overflowing in a later chunk reruns exactly", "[attention][host][lane]") {
    auto lane = lane_context("same");
    VKA_REQUIRE_DEVICE(lane->ctx);
    TuneGuard chunks(*lane, "VKATTN_HOST_CHUNKS", "4");
    Case c;
    c.dtype = VKATTN_DTYPE_F32, c.B = 4, c.Hq = 4, c.Nq = c.Nk = 600, c.D = 64, c.host = true;
    c.flags = VKATTN_ATTENTION_LSE;
    Problem exact, fast;
    build(c, &exact);
    const float big = 7.0e4f;  // finite, beyond 65504, in the last batch: chunks before it are in flight
    std::memcpy(&exact.k.bytes[exact.k.bytes.size() - 4 * 64 * 3], &big, 4);
    fast = exact;
    fast.desc.flags |= VKATTN_ATTENTION_F16_COMPUTE;
    REQUIRE(run(*lane, exact) == VKATTN_SUCCESS);
    REQUIRE(run(*lane, fast) == VKATTN_SUCCESS);
    CHECK(last_call(*lane).variant.find("declined") != std::string::npos);
    check_same_bytes(fast, exact);
}

TEST_CASE("host lane: a device with copy engines uses them by default", "[attention][host][lane]") {
    const vkattn_context_options o = staging_options();
    TestContext ctx(&o);
    VKA_REQUIRE_DEVICE(ctx.ctx);
    TuneGuard chunks(ctx, "VKATTN_HOST_CHUNKS", "3");
    Case c;
    c.dtype = VKATTN_DTYPE_F16, c.B = 3, c.Hq = 2, c.Nq = c.Nk = 900, c.D = 64, c.host = true;
    Problem p;
    build(c, &p);
    REQUIRE(run(ctx, p) == VKATTN_SUCCESS);
    const std::string v = last_call(ctx).variant;
    if (v.find("transfer queue") == std::string::npos) {
        WARN("skipped: this device has no transfer-only queue family (" << v << ")");
        return;
    }
    auto plain = lane_context("0");
    Problem b;
    build(c, &b);
    REQUIRE(run(*plain, b) == VKATTN_SUCCESS);
    check_same_bytes(p, b);
}
