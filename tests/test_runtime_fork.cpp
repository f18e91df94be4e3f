// fork(): a child never uses (or waits on) the parent's Vulkan objects. Every
// call on an inherited context or tensor is refused at once with
// WRONG_CONTEXT, destroying them touches nothing of the parent's, and a
// context the child creates itself works (Mesa's drivers, lavapipe in CI) or,
// under NVIDIA's proprietary driver, which cannot be used again in a forked
// child, is refused at once with UNSUPPORTED naming 'spawn'. A child that
// hangs is killed after 120 s and fails the test.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "test_util.h"

namespace {

constexpr int64_t B = 1, H = 2, N = 19, D = 8;

vkattn_attention_desc f32_desc() {
    vkattn_attention_desc d = VKATTN_ATTENTION_DESC_INIT;
    d.dtype = d.out_dtype = VKATTN_DTYPE_F32;
    d.q = d.k = d.v = d.out = vkattn_view{{B, H, N, D}, {H * N * D, N * D, D, 1}, 0};
    return d;
}

std::vector<float> inputs() {
    std::vector<float> x(B * H * N * D);
    for (size_t i = 0; i < x.size(); i++) x[i] = float((i * 37 % 101) - 50) / 17.0f;
    return x;
}

// One host attention call; its status, and its output in *out.
vkattn_status run(vkattn_context ctx, std::vector<float> *out) {
    const std::vector<float> x = inputs();
    out->assign(x.size(), -1.0f);
    const vkattn_attention_desc d = f32_desc();
    return vkattn_attention_host(ctx, &d, x.data(), x.data(), x.data(), nullptr, out->data(), nullptr);
}

bool refused_as_inherited(vkattn_status s) {
    return s == VKATTN_ERROR_WRONG_CONTEXT && std::strstr(vkattn_last_error(), "fork") != nullptr;
}

// What the child checks; the exit code has one bit per failed check.
int child(vkattn_context inherited, vkattn_tensor inherited_tensor, const std::vector<float> &expected,
          bool fork_unsafe_driver) {
    alarm(120);  // a hang is a failure, never a stuck test run
    int failed = 0;
    const uint64_t validation_before = vkattn_validation_error_count();
    std::vector<float> out;
    if (!refused_as_inherited(run(inherited, &out))) failed |= 1;
    const int64_t shape[1] = {4};
    vkattn_tensor t = nullptr;
    if (!refused_as_inherited(vkattn_tensor_create(inherited, VKATTN_DTYPE_F32, 1, shape, &t)) || t) failed |= 2;
    float host[16] = {};
    if (!refused_as_inherited(vkattn_tensor_download(inherited_tensor, host, sizeof host))) failed |= 4;
    vkattn_memory_stats st = VKATTN_MEMORY_STATS_INIT;
    if (!refused_as_inherited(vkattn_memory_get_stats(inherited, &st))) failed |= 8;
    vkattn_tensor_destroy(inherited_tensor);  // releases the handle only
    vkattn_context_destroy(inherited);
    // A context of the child's own works, and computes what the parent did.
    vkattn_context own = nullptr;
    const vkattn_status created = vkattn_context_create(nullptr, &own);
    if (fork_unsafe_driver) {
        // NVIDIA's proprietary driver cannot be used again in a forked child:
        // refused at once, naming the way out, never a call into the driver.
        if (created != VKATTN_ERROR_UNSUPPORTED || !std::strstr(vkattn_last_error(), "spawn")) failed |= 16;
        vkattn_context_destroy(own);
        return failed;
    }
    if (created != VKATTN_SUCCESS) return failed | 16;
    if (run(own, &out) != VKATTN_SUCCESS || out != expected) failed |= 32;
    vkattn_context_destroy(own);
    if (vkattn_validation_error_count() != validation_before) failed |= 64;
    return failed;
}

// Waits for pid at most `seconds`; kills it after that. The exit code, or
// -1 for a child killed by a signal (its alarm included).
int wait_for(pid_t pid, int seconds) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("fork: a child refuses the inherited context and works with its own", "[runtime][fork]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    std::vector<float> expected;
    VKA_CHECK_OK(run(ctx, &expected));  // the parent has used the device before forking
    const int64_t shape[1] = {16};
    vkattn_tensor t = nullptr;
    VKA_CHECK_OK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F32, 1, shape, &t));
    float host[16];
    for (int i = 0; i < 16; i++) host[i] = float(i);
    VKA_CHECK_OK(vkattn_tensor_upload(t, host, sizeof host));
    vkattn_device_info info = VKATTN_DEVICE_INFO_INIT;
    VKA_CHECK_OK(vkattn_context_get_device_info(ctx, &info));
    const bool nvidia = std::strcmp(info.driver_name, "NVIDIA") == 0;  // the proprietary driver

    for (int round = 0; round < 2; round++) {
        const pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) _exit(child(ctx, t, expected, nvidia));
        const int code = wait_for(pid, 150);
        INFO("round " << round << ": child exit code " << code
                      << " (-1: hung or killed; bits: 1 call, 2 tensor_create, 4 download, 8 stats, "
                         "16 own context, 32 own result, 64 validation)");
        CHECK(code == 0);
        // The parent's context and tensor are untouched by the child.
        std::vector<float> again;
        VKA_CHECK_OK(run(ctx, &again));
        CHECK(again == expected);
        float back[16] = {};
        VKA_CHECK_OK(vkattn_tensor_download(t, back, sizeof back));
        CHECK(std::memcmp(back, host, sizeof host) == 0);
    }
    vkattn_tensor_destroy(t);
}
