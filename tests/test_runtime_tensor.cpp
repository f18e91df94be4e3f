// Device tensors: creation checks, upload/download round trips (odd sizes,
// every dtype, buffers larger than maxStorageBufferRange, imported and staged
// host memory) and strided host layouts.
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "test_util.h"

namespace {
std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
    std::vector<uint8_t> v(n);
    std::mt19937 rng(seed);
    for (auto &b : v) b = static_cast<uint8_t>(rng());
    return v;
}
}  // namespace

TEST_CASE("upload/download round trips of odd sizes and every dtype", "[tensor]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    for (vkattn_dtype dt : {VKATTN_DTYPE_F32, VKATTN_DTYPE_F16, VKATTN_DTYPE_BF16, VKATTN_DTYPE_BOOL}) {
        for (int64_t n : {1, 7, 127, 4097, 1000003}) {
            vkattn_tensor t = nullptr;
            VKA_CHECK_OK(vkattn_tensor_create(ctx, dt, 1, &n, &t));
            size_t bytes = static_cast<size_t>(n) * vkattn_dtype_size(dt);
            auto in = random_bytes(bytes, static_cast<uint32_t>(n));
            std::vector<uint8_t> out(bytes, 0xcd);
            VKA_CHECK_OK(vkattn_tensor_upload(t, in.data(), bytes));
            VKA_CHECK_OK(vkattn_tensor_download(t, out.data(), bytes));
            CHECK(in == out);
            vkattn_dtype got = VKATTN_DTYPE_COUNT_;
            int32_t nd = 0;
            int64_t shape[VKATTN_MAX_DIMS] = {};
            uint64_t b = 0;
            VKA_CHECK_OK(vkattn_tensor_get_info(t, &got, &nd, shape, &b));
            CHECK(got == dt);
            CHECK(nd == 1);
            CHECK(shape[0] == n);
            CHECK(b == bytes);
            vkattn_tensor_destroy(t);
        }
    }
}

TEST_CASE("tensors larger than maxStorageBufferRange round-trip", "[tensor]") {
    for (uint32_t flags : {0u, static_cast<uint32_t>(VKATTN_CONTEXT_NO_HOST_IMPORT)}) {
        vkattn_context_options o = VKATTN_CONTEXT_OPTIONS_INIT;
        o.flags = flags;
        TestContext ctx(&o);
        VKA_REQUIRE_DEVICE(ctx.ctx);
        vkattn_device_info info = VKATTN_DEVICE_INFO_INIT;
        VKA_CHECK_OK(vkattn_context_get_device_info(ctx, &info));
        if (info.max_storage_buffer_range > (512ull << 20)) {
            WARN("maxStorageBufferRange is " << info.max_storage_buffer_range << ": testing 129 MiB only");
        }
        const int64_t n = static_cast<int64_t>(
            (std::min<uint64_t>(info.max_storage_buffer_range, 128ull << 20) + (1 << 20) + 4) / 2 + 3);
        vkattn_tensor t = nullptr;
        VKA_CHECK_OK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F16, 1, &n, &t));
        std::vector<uint16_t> in(static_cast<size_t>(n)), out(in.size(), 0);
        std::iota(in.begin(), in.end(), uint16_t(7));
        // An aligned buffer so that import is possible where allowed.
        void *aligned = nullptr;
        REQUIRE(posix_memalign(&aligned, 65536, in.size() * 2) == 0);
        std::memcpy(aligned, in.data(), in.size() * 2);
        VKA_CHECK_OK(vkattn_tensor_upload(t, aligned, in.size() * 2));
        std::memset(aligned, 0, in.size() * 2);
        VKA_CHECK_OK(vkattn_tensor_download(t, aligned, in.size() * 2));
        CHECK(std::memcmp(aligned, in.data(), in.size() * 2) == 0);
        // And an unaligned one (staging path).
        VKA_CHECK_OK(vkattn_tensor_download(t, out.data(), out.size() * 2));
        CHECK(in == out);
        std::free(aligned);
        vkattn_tensor_destroy(t);
    }
}

TEST_CASE("strided uploads and downloads", "[tensor]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    // Device tensor [3, 5, 7]; host holds it transposed as [7, 5, 3] with padding.
    const int64_t shape[3] = {3, 5, 7};
    vkattn_tensor t = nullptr;
    VKA_CHECK_OK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F32, 3, shape, &t));
    std::vector<float> host(8 * 6 * 4, -1.0f);  // padded [7+1][5+1][3+1]
    const int64_t hs[3] = {1, 4, 24};           // element (i,j,k) at i + 4j + 24k
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++)
            for (int k = 0; k < 7; k++) host[i + 4 * j + 24 * k] = static_cast<float>(100 * i + 10 * j + k);
    VKA_CHECK_OK(vkattn_tensor_upload_strided(t, host.data(), hs));
    std::vector<float> dense(3 * 5 * 7);
    VKA_CHECK_OK(vkattn_tensor_download(t, dense.data(), dense.size() * 4));
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++)
            for (int k = 0; k < 7; k++) REQUIRE(dense[(i * 5 + j) * 7 + k] == static_cast<float>(100 * i + 10 * j + k));

    SECTION("negative strides (a reversed view) and download into a strided array") {
        std::vector<float> rev(3 * 5 * 7, 0.0f);
        const int64_t rs[3] = {-35, -7, -1};  // reversed everything, base at the last element
        VKA_CHECK_OK(vkattn_tensor_download_strided(t, rev.data() + rev.size() - 1, rs));
        for (size_t e = 0; e < rev.size(); e++) REQUIRE(rev[rev.size() - 1 - e] == dense[e]);
    }
    SECTION("broadcast (stride 0) upload, refused for download") {
        std::vector<float> row(7);
        for (int k = 0; k < 7; k++) row[k] = static_cast<float>(k) * 0.5f;
        const int64_t bs[3] = {0, 0, 1};
        VKA_CHECK_OK(vkattn_tensor_upload_strided(t, row.data(), bs));
        VKA_CHECK_OK(vkattn_tensor_download(t, dense.data(), dense.size() * 4));
        for (size_t e = 0; e < dense.size(); e++) REQUIRE(dense[e] == row[e % 7]);
        CHECK(vkattn_tensor_download_strided(t, row.data(), bs) == VKATTN_ERROR_INVALID_ARGUMENT);
        CHECK(std::string(vkattn_last_error()).find("host_strides[0]") != std::string::npos);
    }
    vkattn_tensor_destroy(t);
}

TEST_CASE("tensor calls reject bad arguments and write nothing", "[tensor][abi]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    vkattn_tensor t = reinterpret_cast<vkattn_tensor>(0x1);
    const int64_t good[2] = {4, 5};
    SECTION("creation") {
        CHECK(vkattn_tensor_create(nullptr, VKATTN_DTYPE_F32, 2, good, &t) == VKATTN_ERROR_NULL_POINTER);
        CHECK(t == nullptr);
        CHECK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F32, 2, good, nullptr) == VKATTN_ERROR_NULL_POINTER);
        CHECK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F32, 2, nullptr, &t) == VKATTN_ERROR_NULL_POINTER);
        CHECK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F32, 0, good, &t) == VKATTN_ERROR_INVALID_SHAPE);
        CHECK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F32, 9, good, &t) == VKATTN_ERROR_INVALID_SHAPE);
        CHECK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F32, -1, good, &t) == VKATTN_ERROR_INVALID_SHAPE);
        const int64_t zero[2] = {4, 0}, neg[2] = {-3, 5};
        CHECK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F32, 2, zero, &t) == VKATTN_ERROR_INVALID_SHAPE);
        CHECK(std::string(vkattn_last_error()).find("shape[1]") != std::string::npos);
        CHECK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F32, 2, neg, &t) == VKATTN_ERROR_INVALID_SHAPE);
        const int64_t huge[3] = {int64_t(1) << 40, int64_t(1) << 40, 1 << 10};
        CHECK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F32, 3, huge, &t) == VKATTN_ERROR_SIZE_OVERFLOW);
        const int64_t bytes_overflow[2] = {int64_t(1) << 62, 2};  // elements fit, bytes do not
        CHECK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F32, 2, bytes_overflow, &t) == VKATTN_ERROR_SIZE_OVERFLOW);
        CHECK(vkattn_tensor_create(ctx, static_cast<vkattn_dtype>(7), 2, good, &t) == VKATTN_ERROR_INVALID_DTYPE);
        CHECK(t == nullptr);
        vkattn_memory_stats s = VKATTN_MEMORY_STATS_INIT;
        VKA_CHECK_OK(vkattn_memory_get_stats(ctx, &s));
        CHECK(s.allocation_count == 0);
    }
    SECTION("transfers") {
        VKA_CHECK_OK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F32, 2, good, &t));
        std::vector<float> buf(20, 1.0f), keep(20);
        for (int i = 0; i < 20; i++) keep[i] = buf[i] = static_cast<float>(i);
        VKA_CHECK_OK(vkattn_tensor_upload(t, buf.data(), 80));
        CHECK(vkattn_tensor_upload(nullptr, buf.data(), 80) == VKATTN_ERROR_NULL_POINTER);
        CHECK(vkattn_tensor_upload(t, nullptr, 80) == VKATTN_ERROR_NULL_POINTER);
        CHECK(vkattn_tensor_upload(t, buf.data(), 79) == VKATTN_ERROR_SHAPE_MISMATCH);
        CHECK(vkattn_tensor_download(t, buf.data(), 81) == VKATTN_ERROR_SHAPE_MISMATCH);
        CHECK(buf == keep);  // nothing written on failure
        CHECK(vkattn_tensor_download(t, nullptr, 80) == VKATTN_ERROR_NULL_POINTER);
        CHECK(vkattn_tensor_upload_strided(t, buf.data(), nullptr) == VKATTN_ERROR_NULL_POINTER);
        const int64_t overflow[2] = {INT64_MAX / 2, 1};
        CHECK(vkattn_tensor_upload_strided(t, buf.data(), overflow) == VKATTN_ERROR_SIZE_OVERFLOW);
        CHECK(vkattn_tensor_get_info(nullptr, nullptr, nullptr, nullptr, nullptr) == VKATTN_ERROR_NULL_POINTER);
        VKA_CHECK_OK(vkattn_tensor_get_info(t, nullptr, nullptr, nullptr, nullptr));
        vkattn_tensor_destroy(t);
        // A destroyed tensor is refused, not dereferenced.
        CHECK(vkattn_tensor_upload(t, buf.data(), 80) == VKATTN_ERROR_INVALID_ARGUMENT);
        CHECK(std::string(vkattn_last_error()).find("tensor") != std::string::npos);
        vkattn_tensor_destroy(t);  // ignored
        vkattn_tensor_destroy(nullptr);
    }
}

TEST_CASE("tensors left alive are freed with their context", "[tensor]") {
    vkattn_context c = make_test_context();
    VKA_REQUIRE_DEVICE(c);
    const int64_t n = 1000;
    vkattn_tensor a = nullptr, b = nullptr;
    VKA_CHECK_OK(vkattn_tensor_create(c, VKATTN_DTYPE_F16, 1, &n, &a));
    VKA_CHECK_OK(vkattn_tensor_create(c, VKATTN_DTYPE_F16, 1, &n, &b));
    vkattn_tensor_destroy(a);
    vkattn_context_destroy(c);  // frees b
    CHECK(vkattn_tensor_get_info(b, nullptr, nullptr, nullptr, nullptr) == VKATTN_ERROR_INVALID_ARGUMENT);
}
