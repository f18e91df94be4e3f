#include "test_util.h"

#include <cstdio>

static bool g_no_device = false;

bool no_vulkan_device() {
    return g_no_device;
}

vkattn_context make_test_context(const vkattn_context_options *options) {
    vkattn_context ctx = nullptr;
    vkattn_status s = vkattn_context_create(options, &ctx);
    if (s == VKATTN_ERROR_NO_VULKAN || s == VKATTN_ERROR_NO_DEVICE) {
        if (std::getenv("CI")) FAIL("CI must have a Vulkan device (lavapipe): " << vkattn_last_error());
        g_no_device = true;
        return nullptr;
    }
    INFO("vkattn_context_create: " << vkattn_status_string(s) << ": " << (s ? vkattn_last_error() : ""));
    REQUIRE(s == VKATTN_SUCCESS);
    return ctx;
}
