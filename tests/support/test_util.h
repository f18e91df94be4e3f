// Shared test helpers: contexts on the test device, validation checks.
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "vkattn.h"

// A context on the default device with validation (VKATTN_VALIDATION=1 is set
// by ctest). Skips the test (SKIP-style warning + early return is the
// caller's job) if no Vulkan device exists: returns nullptr then.
vkattn_context make_test_context(const vkattn_context_options *options = nullptr);

// True once make_test_context found no Vulkan device (the test may skip).
bool no_vulkan_device();

// Owns a context for one test.
// Checks at the end that the validation layer stayed silent meanwhile.
struct TestContext {
    uint64_t validation_before = vkattn_validation_error_count();
    vkattn_context ctx = nullptr;
    explicit TestContext(const vkattn_context_options *o = nullptr) : ctx(make_test_context(o)) {}
    ~TestContext() {
        vkattn_context_destroy(ctx);
        CHECK(vkattn_validation_error_count() == validation_before);
    }
    TestContext(const TestContext &) = delete;
    TestContext &operator=(const TestContext &) = delete;
    operator vkattn_context() const { return ctx; }
};

// Sets (or, with v = NULL, unsets) an environment variable for a scope and
// puts back what was there. Settings are read when a context is created
// (runtime/settings.h): set them before creating it.
struct EnvVar {
    std::string name;
    std::string old;
    bool had;
    EnvVar(const char *n, const char *v) : name(n) {
        const char *o = std::getenv(n);
        had = o != nullptr;
        if (o) old = o;
        if (v)
            setenv(n, v, 1);
        else
            unsetenv(n);
    }
    ~EnvVar() {
        if (had)
            setenv(name.c_str(), old.c_str(), 1);
        else
            unsetenv(name.c_str());
    }
};

// Skip the rest of a test case when there is no Vulkan device at all. CI has
// lavapipe, so nothing skips there.
#define VKA_REQUIRE_DEVICE(ctx)                                \
    do {                                                       \
        if (!(ctx)) {                                          \
            WARN("skipped: no Vulkan device on this machine"); \
            return;                                            \
        }                                                      \
    } while (0)

#define VKA_CHECK_OK(expr)                                                                                    \
    do {                                                                                                      \
        vkattn_status vka_s_ = (expr);                                                                        \
        INFO(#expr << " -> " << vkattn_status_string(vka_s_) << ": " << (vka_s_ ? vkattn_last_error() : "")); \
        REQUIRE(vka_s_ == VKATTN_SUCCESS);                                                                    \
    } while (0)
