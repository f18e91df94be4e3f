// Context lifecycle, device enumeration and selection, statuses and versions.
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {}  // namespace

TEST_CASE("versions and status strings", "[runtime]") {
    CHECK(vkattn_abi_version() == VKATTN_ABI_VERSION);
    CHECK(vkattn_version() == VKATTN_VERSION_MAJOR * 10000 + VKATTN_VERSION_MINOR * 100 + VKATTN_VERSION_PATCH);
    const vkattn_status all[] = {VKATTN_SUCCESS,
                                 VKATTN_ERROR_INVALID_ARGUMENT,
                                 VKATTN_ERROR_NULL_POINTER,
                                 VKATTN_ERROR_INVALID_SHAPE,
                                 VKATTN_ERROR_INVALID_DTYPE,
                                 VKATTN_ERROR_SIZE_OVERFLOW,
                                 VKATTN_ERROR_SHAPE_MISMATCH,
                                 VKATTN_ERROR_OUT_OF_BOUNDS,
                                 VKATTN_ERROR_WRONG_CONTEXT,
                                 VKATTN_ERROR_UNSUPPORTED,
                                 VKATTN_ERROR_NO_VULKAN,
                                 VKATTN_ERROR_NO_DEVICE,
                                 VKATTN_ERROR_FEATURE_MISSING,
                                 VKATTN_ERROR_OUT_OF_DEVICE_MEMORY,
                                 VKATTN_ERROR_OUT_OF_HOST_MEMORY,
                                 VKATTN_ERROR_VULKAN,
                                 VKATTN_ERROR_SHADER_INTERFACE,
                                 VKATTN_ERROR_DEVICE_LOST,
                                 VKATTN_ERROR_INTERNAL};
    for (auto s : all) {
        std::string name = vkattn_status_string(s);
        CHECK(name.rfind("VKATTN_", 0) == 0);
        CHECK(name != "VKATTN_ERROR_UNKNOWN_STATUS");
    }
    CHECK(std::string(vkattn_status_string(static_cast<vkattn_status>(12345))) == "VKATTN_ERROR_UNKNOWN_STATUS");
    CHECK(vkattn_dtype_size(VKATTN_DTYPE_F32) == 4);
    CHECK(vkattn_dtype_size(VKATTN_DTYPE_F16) == 2);
    CHECK(vkattn_dtype_size(VKATTN_DTYPE_BF16) == 2);
    CHECK(vkattn_dtype_size(VKATTN_DTYPE_BOOL) == 1);
    CHECK(vkattn_dtype_size(static_cast<vkattn_dtype>(9)) == 0);
}

TEST_CASE("context lifecycle", "[runtime]") {
    vkattn_context_destroy(nullptr);  // no-op
    for (int i = 0; i < 3; i++) {
        TestContext ctx;
        VKA_REQUIRE_DEVICE(ctx.ctx);
        vkattn_device_info info = VKATTN_DEVICE_INFO_INIT;
        VKA_CHECK_OK(vkattn_context_get_device_info(ctx, &info));
        CHECK(std::strlen(info.name) > 0);
        CHECK(info.storage_16bit == 1);
        CHECK(info.max_shared_memory >= 16384);
        CHECK(info.subgroup_size >= 1);
        CHECK(info.max_storage_buffer_range >= (1u << 27));
        uint64_t range = 0;
        VKA_CHECK_OK(vkattn_context_max_buffer_range(ctx, &range));
        CHECK(range <= info.max_storage_buffer_range);
        CHECK(range % 16 == 0);
    }
}

TEST_CASE("a destroyed context is refused, not dereferenced", "[runtime]") {
    vkattn_context ctx = make_test_context();
    VKA_REQUIRE_DEVICE(ctx);
    vkattn_context_destroy(ctx);
    vkattn_memory_stats st = VKATTN_MEMORY_STATS_INIT;
    CHECK(vkattn_memory_get_stats(ctx, &st) == VKATTN_ERROR_INVALID_ARGUMENT);
    CHECK(std::string(vkattn_last_error()).find("ctx") != std::string::npos);
    vkattn_context_destroy(ctx);  // a second destroy is ignored
}

TEST_CASE("devices are enumerated with their capabilities", "[runtime]") {
    uint32_t n = 0;
    vkattn_status s = vkattn_device_count(&n);
    if (s == VKATTN_ERROR_NO_VULKAN || n == 0) {
        WARN("skipped: no Vulkan device");
        return;
    }
    REQUIRE(s == VKATTN_SUCCESS);
    for (uint32_t i = 0; i < n; i++) {
        vkattn_device_info info = VKATTN_DEVICE_INFO_INIT;
        VKA_CHECK_OK(vkattn_device_get_info(i, &info));
        CHECK(info.index == i);
        CHECK(info.api_version >= (1u << 22 | 2u << 12));
        CHECK(info.device_local_heap_size > 0);
    }
    vkattn_device_info info = VKATTN_DEVICE_INFO_INIT;
    CHECK(vkattn_device_get_info(n, &info) == VKATTN_ERROR_NO_DEVICE);
    CHECK(vkattn_device_count(nullptr) == VKATTN_ERROR_NULL_POINTER);
    CHECK(vkattn_device_get_info(0, nullptr) == VKATTN_ERROR_NULL_POINTER);
    vkattn_device_info bad{};  // struct_size 0
    CHECK(vkattn_device_get_info(0, &bad) == VKATTN_ERROR_INVALID_ARGUMENT);
}

TEST_CASE("device selection by environment, index and name", "[runtime]") {
    uint32_t n = 0;
    if (vkattn_device_count(&n) != VKATTN_SUCCESS || n == 0) {
        WARN("skipped: no Vulkan device");
        return;
    }
    vkattn_device_info first = VKATTN_DEVICE_INFO_INIT;
    VKA_CHECK_OK(vkattn_device_get_info(n - 1, &first));
    std::string name = first.name;
    std::string needle = name.substr(0, std::min<size_t>(name.size(), 6));
    for (auto &c : needle) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));  // case-insensitive

    SECTION("VKATTN_DEVICE as an index") {
        EnvVar e("VKATTN_DEVICE", std::to_string(n - 1).c_str());
        TestContext ctx;
        vkattn_device_info info = VKATTN_DEVICE_INFO_INIT;
        VKA_CHECK_OK(vkattn_context_get_device_info(ctx, &info));
        CHECK(info.index == n - 1);
    }
    SECTION("VKATTN_DEVICE as a name substring") {
        EnvVar e("VKATTN_DEVICE", needle.c_str());
        TestContext ctx;
        vkattn_device_info info = VKATTN_DEVICE_INFO_INIT;
        VKA_CHECK_OK(vkattn_context_get_device_info(ctx, &info));
        CHECK(std::string(info.name).substr(0, needle.size()).size() == needle.size());
    }
    SECTION("no device matches") {
        EnvVar e("VKATTN_DEVICE", "no-such-device-xyz");
        vkattn_context ctx = nullptr;
        CHECK(vkattn_context_create(nullptr, &ctx) == VKATTN_ERROR_NO_DEVICE);
        CHECK(ctx == nullptr);
        CHECK(std::string(vkattn_last_error()).find("VKATTN_DEVICE") != std::string::npos);
        EnvVar e2("VKATTN_DEVICE", "99");
        CHECK(vkattn_context_create(nullptr, &ctx) == VKATTN_ERROR_NO_DEVICE);
    }
    SECTION("explicit options win over the environment") {
        EnvVar e("VKATTN_DEVICE", "no-such-device-xyz");
        vkattn_context_options o = VKATTN_CONTEXT_OPTIONS_INIT;
        o.device_index = 0;
        TestContext ctx(&o);
        REQUIRE(ctx.ctx != nullptr);
        o.device_index = -1;
        o.device_name = needle.c_str();
        TestContext ctx2(&o);
        REQUIRE(ctx2.ctx != nullptr);
        o.device_name = "no-such-device";
        vkattn_context c = nullptr;
        CHECK(vkattn_context_create(&o, &c) == VKATTN_ERROR_NO_DEVICE);
        CHECK(std::string(vkattn_last_error()).find("options->device_name") != std::string::npos);
        o.device_name = nullptr;
        o.device_index = 1000;
        CHECK(vkattn_context_create(&o, &c) == VKATTN_ERROR_NO_DEVICE);
        CHECK(std::string(vkattn_last_error()).find("options->device_index") != std::string::npos);
    }
}

TEST_CASE("context options are checked", "[runtime][abi]") {
    vkattn_context c = reinterpret_cast<vkattn_context>(0x1);
    CHECK(vkattn_context_create(nullptr, nullptr) == VKATTN_ERROR_NULL_POINTER);
    vkattn_context_options o = VKATTN_CONTEXT_OPTIONS_INIT;
    o.struct_size = 0;
    CHECK(vkattn_context_create(&o, &c) == VKATTN_ERROR_INVALID_ARGUMENT);
    CHECK(c == nullptr);
    CHECK(std::string(vkattn_last_error()).find("options->struct_size") != std::string::npos);
    o = VKATTN_CONTEXT_OPTIONS_INIT;
    o.struct_size = sizeof(o) + 8;
    CHECK(vkattn_context_create(&o, &c) == VKATTN_ERROR_INVALID_ARGUMENT);
    o = VKATTN_CONTEXT_OPTIONS_INIT;
    o.flags = 1u << 30;
    CHECK(vkattn_context_create(&o, &c) == VKATTN_ERROR_INVALID_ARGUMENT);
    o = VKATTN_CONTEXT_OPTIONS_INIT;
    o.max_buffer_range = 100;  // below 4096
    vkattn_status s = vkattn_context_create(&o, &c);
    if (s != VKATTN_ERROR_NO_VULKAN && s != VKATTN_ERROR_NO_DEVICE) CHECK(s == VKATTN_ERROR_INVALID_ARGUMENT);
    {
        EnvVar e("VKATTN_HEAP_LIMIT", "12 parsecs");
        s = vkattn_context_create(nullptr, &c);
        if (s != VKATTN_ERROR_NO_VULKAN && s != VKATTN_ERROR_NO_DEVICE) {
            CHECK(s == VKATTN_ERROR_INVALID_ARGUMENT);
            CHECK(std::string(vkattn_last_error()).find("VKATTN_HEAP_LIMIT") != std::string::npos);
        }
    }
}

TEST_CASE("the context is usable from several threads", "[runtime]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 4; t++) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 5; i++) {
                const int64_t shape[1] = {1000 + t * 7 + i};
                vkattn_tensor x = nullptr;
                if (vkattn_tensor_create(ctx, VKATTN_DTYPE_F32, 1, shape, &x) != VKATTN_SUCCESS) {
                    failures++;
                    continue;
                }
                std::vector<float> in(static_cast<size_t>(shape[0])), out(in.size());
                for (size_t j = 0; j < in.size(); j++)
                    in[j] = static_cast<float>(t * 100000 + i * 1000 + static_cast<int>(j));
                if (vkattn_tensor_upload(x, in.data(), in.size() * 4) != VKATTN_SUCCESS ||
                    vkattn_tensor_download(x, out.data(), out.size() * 4) != VKATTN_SUCCESS || in != out)
                    failures++;
                vkattn_tensor_destroy(x);
            }
        });
    }
    for (auto &th : threads) th.join();
    CHECK(failures == 0);
}
