// Environment variables: read once, when a context is created (settings.h),
// with one on/off convention and a clear error for a bad value; tuning
// hooks set on a live context by tests and tools.
#include <string>

#include "context.h"
#include "settings.h"
#include "test_util.h"

using namespace vkattn;

namespace {

// Context creation with the environment as it is: the status and message.
vkattn_status create(std::string *message) {
    vkattn_context c = nullptr;
    const vkattn_status s = vkattn_context_create(nullptr, &c);
    *message = s ? vkattn_last_error() : "";
    vkattn_context_destroy(c);
    return s;
}

}  // namespace

TEST_CASE("settings: one on/off convention", "[runtime][settings]") {
    for (const char *on : {"1", "on", "ON", "true", "Yes"}) {
        bool v = false;
        CHECK(parse_flag(on, &v));
        CHECK(v);
    }
    for (const char *off : {"0", "off", "False", "no"}) {
        bool v = true;
        CHECK(parse_flag(off, &v));
        CHECK_FALSE(v);
    }
    for (const char *bad : {"", "2", "enabled", "o n", "-1"}) {
        bool v = false;
        CHECK_FALSE(parse_flag(bad, &v));
    }
}

TEST_CASE("settings: byte counts", "[runtime][settings]") {
    uint64_t v = 0;
    CHECK((parse_bytes("123", &v) && v == 123));
    CHECK((parse_bytes("64K", &v) && v == 64u << 10));
    CHECK((parse_bytes("512M", &v) && v == 512u << 20));
    CHECK((parse_bytes("2GiB", &v) && v == 2ull << 30));
    for (const char *bad : {"", "-1", " 5", "5X", "12 parsecs", "99999999999999999999", "17179869184G"})
        CHECK_FALSE(parse_bytes(bad, &v));
}

TEST_CASE("settings: a bad value fails context creation, naming the variable", "[runtime][settings]") {
    {
        TestContext probe;
        VKA_REQUIRE_DEVICE(probe.ctx);
    }
    struct Bad {
        const char *name, *value;
    };
    for (const Bad &b :
         {Bad{"VKATTN_VALIDATION", "maybe"}, Bad{"VKATTN_NO_HOST_IMPORT", "2"}, Bad{"VKATTN_HOST_DIRECT", "auto"},
          Bad{"VKATTN_TRANSFER_QUEUE", "fast"}, Bad{"VKATTN_HEAP_LIMIT", "-5"}, Bad{"VKATTN_FORCE_SPLITKV", "three"},
          Bad{"VKATTN_HOST_CHUNKS", "-2"}, Bad{"VKATTN_COOPMAT", "nope"}}) {
        EnvVar e(b.name, b.value);
        std::string msg;
        INFO(b.name << "=" << b.value);
        CHECK(create(&msg) == VKATTN_ERROR_INVALID_ARGUMENT);
        CHECK(msg.find(std::string(b.name) + "=\"" + b.value + "\"") != std::string::npos);
    }
    // Accepted spellings of the same convention.
    EnvVar on("VKATTN_NO_HOST_IMPORT", "yes"), chunks("VKATTN_HOST_CHUNKS", "3"), tq("VKATTN_TRANSFER_QUEUE", "off");
    std::string msg;
    CHECK(create(&msg) == VKATTN_SUCCESS);
}

TEST_CASE("settings: read once, at context creation", "[runtime][settings]") {
    vkattn_context c = nullptr;
    {
        EnvVar split("VKATTN_FORCE_SPLITKV", "3"), prof("VKATTN_HOST_PROFILE", "off");
        if (vkattn_context_create(nullptr, &c) != VKATTN_SUCCESS) {
            WARN("skipped: no Vulkan device");
            return;
        }
    }
    EnvVar later("VKATTN_FORCE_SPLITKV", "7");  // set after creation: not seen
    CHECK(c->ctx->tuning().force_splitkv == 3);
    CHECK_FALSE(c->ctx->tuning().host_profile);
    vkattn_context_destroy(c);
}

TEST_CASE("settings: tuning hooks set on a live context", "[runtime][settings]") {
    Tuning t;
    REQUIRE(set_tuning(&t, "VKATTN_FORCE_SPLITKV", "5").ok());
    CHECK(t.force_splitkv == 5);
    REQUIRE(set_tuning(&t, "VKATTN_COOPMAT", "0").ok());
    CHECK_FALSE(t.coopmat);
    REQUIRE(set_tuning(&t, "VKATTN_COOPMAT_TILE", "w8_ralw").ok());
    CHECK(t.coopmat_tile == "w8_ralw");
    // "" (or null) sets a hook back to its default.
    REQUIRE(set_tuning(&t, "VKATTN_COOPMAT", "").ok());
    CHECK(t.coopmat);
    REQUIRE(set_tuning(&t, "VKATTN_FORCE_SPLITKV", nullptr).ok());
    CHECK(t.force_splitkv == 0);
    const Status s = set_tuning(&t, "VKATTN_NO_SUCH_HOOK", "1");
    CHECK(s.code() == VKATTN_ERROR_INVALID_ARGUMENT);
    CHECK(s.message().find("VKATTN_NO_SUCH_HOOK") != std::string::npos);
    CHECK(set_tuning(&t, "VKATTN_HOST_CHUNKS", "many").code() == VKATTN_ERROR_INVALID_ARGUMENT);
#ifndef VKATTN_TUNING_VARIANTS
    // The ablation kernels (wrong results on purpose) exist only in tuning builds.
    CHECK(set_tuning(&t, "VKATTN_ATTN_FAST_VARIANT", "abl1").code() == VKATTN_ERROR_INVALID_ARGUMENT);
#endif
}
