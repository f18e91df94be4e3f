// Pools, reservation, budget, the artificial heap limit and out-of-memory
// recovery.
#include <vector>

#include "test_util.h"

namespace {
vkattn_memory_stats stats(vkattn_context c) {
    vkattn_memory_stats s = VKATTN_MEMORY_STATS_INIT;
    REQUIRE(vkattn_memory_get_stats(c, &s) == VKATTN_SUCCESS);
    return s;
}
vkattn_tensor make(vkattn_context c, int64_t n, vkattn_status *status = nullptr) {
    vkattn_tensor t = nullptr;
    vkattn_status s = vkattn_tensor_create(c, VKATTN_DTYPE_F32, 1, &n, &t);
    if (status)
        *status = s;
    else
        REQUIRE(s == VKATTN_SUCCESS);
    return t;
}
}  // namespace

TEST_CASE("tensors are sub-allocated from pooled blocks and reuse them", "[memory]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    auto s0 = stats(ctx);
    CHECK(s0.in_use == 0);
    CHECK(s0.allocation_count == 0);
    std::vector<vkattn_tensor> ts;
    for (int i = 0; i < 16; i++) ts.push_back(make(ctx, 1000 + i));
    auto s1 = stats(ctx);
    CHECK(s1.allocation_count == 16);
    CHECK(s1.block_count == 1);  // sixteen small tensors, one block: no allocation per tensor
    CHECK(s1.in_use >= 16 * 4000);
    CHECK(s1.peak >= s1.in_use);
    for (auto t : ts) vkattn_tensor_destroy(t);
    auto s2 = stats(ctx);
    CHECK(s2.in_use == 0);
    CHECK(s2.allocation_count == 0);
    CHECK(s2.block_count == s1.block_count);  // kept for reuse
    CHECK(s2.peak == s1.peak);
    vkattn_tensor t = make(ctx, 5000);
    CHECK(stats(ctx).block_count == s1.block_count);
    vkattn_tensor_destroy(t);
    VKA_CHECK_OK(vkattn_memory_reset_peak(ctx));
    CHECK(stats(ctx).peak == 0);
    VKA_CHECK_OK(vkattn_memory_trim(ctx));
    CHECK(stats(ctx).reserved == 0);
    CHECK(stats(ctx).block_count == 0);
}

TEST_CASE("reserve allocates up front so that later tensors allocate nothing", "[memory]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    const uint64_t want = 48ull << 20;
    VKA_CHECK_OK(vkattn_memory_reserve(ctx, want));
    auto s1 = stats(ctx);
    CHECK(s1.reserved >= want);
    CHECK(s1.in_use == 0);
    std::vector<vkattn_tensor> ts;
    for (int i = 0; i < 8; i++) ts.push_back(make(ctx, (5ll << 20) / 4 + 13 * i));  // 8 x ~5 MiB
    auto s2 = stats(ctx);
    CHECK(s2.block_count == s1.block_count);
    CHECK(s2.reserved == s1.reserved);
    for (auto t : ts) vkattn_tensor_destroy(t);
    VKA_CHECK_OK(vkattn_memory_trim(ctx));
    CHECK(stats(ctx).reserved == s1.reserved);           // reserved blocks are never trimmed
    VKA_CHECK_OK(vkattn_memory_reserve(ctx, want / 2));  // already there: nothing new
    CHECK(stats(ctx).reserved == s1.reserved);
}

TEST_CASE("the artificial heap limit sets the budget and out-of-memory recovers", "[memory]") {
    vkattn_context_options o = VKATTN_CONTEXT_OPTIONS_INIT;
    o.heap_limit = 24ull << 20;
    TestContext ctx(&o);
    VKA_REQUIRE_DEVICE(ctx.ctx);
    CHECK(stats(ctx).budget == o.heap_limit);

    SECTION("a reservation beyond the budget fails and keeps nothing") {
        CHECK(vkattn_memory_reserve(ctx, 64ull << 20) == VKATTN_ERROR_OUT_OF_DEVICE_MEMORY);
        CHECK(stats(ctx).reserved == 0);
    }
    SECTION("a tensor beyond the budget fails with a message, the context stays usable") {
        vkattn_status s;
        vkattn_tensor big = make(ctx, (32ll << 20) / 4, &s);
        CHECK(s == VKATTN_ERROR_OUT_OF_DEVICE_MEMORY);
        CHECK(big == nullptr);
        CHECK(std::string(vkattn_last_error()).find("budget") != std::string::npos);
        // Fill up to the limit, fail, free, succeed.
        std::vector<vkattn_tensor> ts;
        for (int i = 0; i < 64; i++) {
            vkattn_tensor t = make(ctx, (1ll << 20) / 4, &s);
            if (s != VKATTN_SUCCESS) break;
            ts.push_back(t);
        }
        CHECK(s == VKATTN_ERROR_OUT_OF_DEVICE_MEMORY);
        CHECK(ts.size() >= 12);
        CHECK(stats(ctx).reserved <= o.heap_limit);
        vkattn_tensor_destroy(ts.back());
        ts.pop_back();
        vkattn_tensor again = make(ctx, (1ll << 20) / 4, &s);
        CHECK(s == VKATTN_SUCCESS);
        std::vector<float> in(1 << 18, 3.5f), out(1 << 18);
        VKA_CHECK_OK(vkattn_tensor_upload(again, in.data(), in.size() * 4));
        VKA_CHECK_OK(vkattn_tensor_download(again, out.data(), out.size() * 4));
        CHECK(in == out);
        vkattn_tensor_destroy(again);
        for (auto t : ts) vkattn_tensor_destroy(t);
    }
}

TEST_CASE("VKATTN_HEAP_LIMIT sets the limit from the environment", "[memory]") {
    setenv("VKATTN_HEAP_LIMIT", "16M", 1);
    vkattn_context c = make_test_context();
    unsetenv("VKATTN_HEAP_LIMIT");
    VKA_REQUIRE_DEVICE(c);
    CHECK(stats(c).budget == (16ull << 20));
    vkattn_context_destroy(c);
}

TEST_CASE("memory calls reject bad arguments", "[memory][abi]") {
    vkattn_memory_stats s = VKATTN_MEMORY_STATS_INIT;
    CHECK(vkattn_memory_get_stats(nullptr, &s) == VKATTN_ERROR_NULL_POINTER);
    CHECK(vkattn_memory_reserve(nullptr, 1) == VKATTN_ERROR_NULL_POINTER);
    CHECK(vkattn_memory_trim(nullptr) == VKATTN_ERROR_NULL_POINTER);
    CHECK(vkattn_memory_reset_peak(nullptr) == VKATTN_ERROR_NULL_POINTER);
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    CHECK(vkattn_memory_get_stats(ctx, nullptr) == VKATTN_ERROR_NULL_POINTER);
    vkattn_memory_stats bad{};
    CHECK(vkattn_memory_get_stats(ctx, &bad) == VKATTN_ERROR_INVALID_ARGUMENT);
    CHECK(vkattn_memory_reserve(ctx, ~0ull) == VKATTN_ERROR_OUT_OF_DEVICE_MEMORY);
}
