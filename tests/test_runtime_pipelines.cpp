// Pipelines from embedded SPIR-V: interface checks against the op's
// declaration, the on-disk pipeline cache (corrupt and foreign files), and
// dispatch chains whose barriers the command stream derives.
#include <unistd.h>

#include <cstdlib>

#include <filesystem>
#include <fstream>
#include <vector>

#include "context.h"
#include "test_util.h"
#include "util_params.h"

using namespace vkattn;

namespace {
ShaderInterface copy_iface() {
    return ShaderInterface{{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER}, sizeof(UtilCopyPush), {0}};
}
Context &internal(vkattn_context c) { return *c->ctx; }
}  // namespace

TEST_CASE("every embedded shader is valid SPIR-V with a reflectable interface", "[pipelines]") {
    REQUIRE(!embedded_shaders().empty());
    for (const auto &s : embedded_shaders()) {
        INFO(s.name);
        REQUIRE(s.word_count > 5);
        CHECK(s.words[0] == 0x07230203u);  // SPIR-V magic
    }
    const EmbeddedShader *copy = find_embedded_shader("util_copy_u32");
    REQUIRE(copy != nullptr);
    CHECK(Pipelines::check_interface("util_copy_u32", copy->words, copy->word_count, copy_iface()).ok());
}

TEST_CASE("an interface mismatch is a SHADER_INTERFACE status naming the shader", "[pipelines]") {
    const EmbeddedShader *copy = find_embedded_shader("util_copy_u32");
    REQUIRE(copy != nullptr);
    auto expect_mismatch = [&](const ShaderInterface &iface, const char *fragment) {
        Status s = Pipelines::check_interface("util_copy_u32", copy->words, copy->word_count, iface);
        CHECK(s.code() == VKATTN_ERROR_SHADER_INTERFACE);
        CHECK(s.message().find("util_copy_u32") != std::string::npos);
        CHECK(s.message().find(fragment) != std::string::npos);
    };
    ShaderInterface i = copy_iface();
    i.push_constant_size = 20;
    expect_mismatch(i, "push constants are 16 bytes");
    i = copy_iface();
    i.bindings.pop_back();
    expect_mismatch(i, "binding 1");
    i = copy_iface();
    i.bindings.push_back(VK_DESCRIPTOR_TYPE_STORAGE_BUFFER);
    expect_mismatch(i, "binding 2");
    i = copy_iface();
    i.bindings[0] = VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER;
    expect_mismatch(i, "uniform buffer in the op");
    i = copy_iface();
    i.spec_ids.push_back(7);
    expect_mismatch(i, "specialization constant 7");

    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    Pipeline *p = nullptr;
    i = copy_iface();
    i.push_constant_size = 8;
    Status s = internal(ctx).pipelines().get("util_copy_u32", i, {{0, 64}}, &p);
    CHECK(s.code() == VKATTN_ERROR_SHADER_INTERFACE);
    CHECK(p == nullptr);
    s = internal(ctx).pipelines().get("no_such_shader", copy_iface(), {}, &p);
    CHECK(!s.ok());
}

TEST_CASE("barriers derived from last access keep a chain of dependent dispatches correct", "[pipelines][stream]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    Context &c = internal(ctx);
    Pipeline *p = nullptr;
    REQUIRE(c.pipelines().get("util_copy_u32", copy_iface(), {{0, 64}}, &p).ok());
    const uint32_t n = 100003;  // odd, several workgroups
    std::unique_ptr<Buffer> a, b, stage;
    REQUIRE(Buffer::create(c, Pool::Workspace, n * 4, &a).ok());
    REQUIRE(Buffer::create(c, Pool::Workspace, n * 4, &b).ok());
    REQUIRE(Buffer::create(c, Pool::Staging, n * 4, &stage).ok());
    auto *host = static_cast<uint32_t *>(stage->mapped());
    for (uint32_t i = 0; i < n; i++) host[i] = i;
    CommandStream &st = c.stream();
    REQUIRE(st.begin().ok());
    REQUIRE(st.copy(stage.get(), 0, a.get(), 0, n * 4).ok());
    // a -> b -> a ... 40 times, each adding 1: every step reads what the last wrote.
    for (int step = 0; step < 40; step++) {
        Buffer *src = step % 2 ? b.get() : a.get(), *dst = step % 2 ? a.get() : b.get();
        UtilCopyPush push{n, 0, 0, 1};
        REQUIRE(st.dispatch(*p, {{src, 0, VK_WHOLE_SIZE, false}, {dst, 0, VK_WHOLE_SIZE, true}}, &push, sizeof push,
                            (n + 63) / 64)
                    .ok());
    }
    REQUIRE(st.copy(a.get(), 0, stage.get(), 0, n * 4).ok());
    REQUIRE(st.submit(true).ok());
    CHECK(st.dispatch_count() == 40);
    for (uint32_t i = 0; i < n; i++) REQUIRE(host[i] == i + 40);
    vkattn_device_info info = VKATTN_DEVICE_INFO_INIT;
    REQUIRE(vkattn_context_get_device_info(ctx, &info) == VKATTN_SUCCESS);
    if (info.timestamps) CHECK(st.last_gpu_ms() >= 0);
}

TEST_CASE("the pipeline cache survives corrupt and foreign files", "[pipelines]") {
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / ("vkattn-cache-test-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    vkattn_context_options o = VKATTN_CONTEXT_OPTIONS_INIT;
    std::string d = dir.string();
    o.cache_dir = d.c_str();
    std::string file;
    {
        TestContext ctx(&o);
        VKA_REQUIRE_DEVICE(ctx.ctx);
        Pipeline *p = nullptr;
        REQUIRE(internal(ctx).pipelines().get("util_copy_u32", copy_iface(), {{0, 64}}, &p).ok());
        file = internal(ctx).pipelines().cache_file();
        CHECK(!internal(ctx).pipelines().cache_loaded());
    }
    REQUIRE(fs::exists(file));
    {
        TestContext ctx(&o);  // a good file is loaded
        CHECK(internal(ctx).pipelines().cache_loaded());
    }
    auto size = fs::file_size(file);
    for (int variant = 0; variant < 3; variant++) {
        {
            std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
            if (variant == 0) {  // garbage throughout
                std::vector<char> junk(size, '\x5a');
                f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
            } else if (variant == 1) {  // a foreign device's header
                f.seekp(16);
                const char other[16] = "not-this-device";
                f.write(other, 16);
            } else {  // truncated
                f.close();
                fs::resize_file(file, 7);
            }
        }
        TestContext ctx(&o);
        VKA_REQUIRE_DEVICE(ctx.ctx);
        CHECK(!internal(ctx).pipelines().cache_loaded());
        Pipeline *p = nullptr;
        REQUIRE(internal(ctx).pipelines().get("util_copy_u32", copy_iface(), {{0, 64}}, &p).ok());
    }
    {
        TestContext ctx(&o);  // rewritten good at the last destroy
        CHECK(internal(ctx).pipelines().cache_loaded());
    }
    vkattn_context_options no = o;
    no.flags = VKATTN_CONTEXT_NO_PIPELINE_CACHE;
    {
        TestContext ctx(&no);
        CHECK(!internal(ctx).pipelines().cache_loaded());
    }
    fs::remove_all(dir);
}

TEST_CASE("the validation layer is live and its errors are counted", "[runtime]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    if (!std::getenv("VKATTN_VALIDATION")) {
        WARN("skipped: VKATTN_VALIDATION is not set (ctest sets it)");
        return;
    }
    // Provoke one error on purpose: a buffer of size 0 is invalid usage.
    uint64_t before = g_validation_errors.load();
    VkBufferCreateInfo bi{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    bi.size = 0;
    bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
    VkBuffer b = VK_NULL_HANDLE;
    VkResult r = vkCreateBuffer(internal(ctx).device(), &bi, nullptr, &b);
    if (r == VK_SUCCESS && b) vkDestroyBuffer(internal(ctx).device(), b, nullptr);
    CHECK(g_validation_errors.load() > before);
    g_validation_errors.store(before);  // this one was intended
    ctx.validation_before = before;
}

TEST_CASE("per-dispatch GPU times of the last call", "[runtime][abi]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    uint32_t count = 99;
    CHECK(vkattn_context_last_dispatch_times(ctx, nullptr, 0, nullptr) == VKATTN_ERROR_NULL_POINTER);
    CHECK(vkattn_context_last_dispatch_times(nullptr, nullptr, 0, &count) == VKATTN_ERROR_NULL_POINTER);
    CHECK(count == 0);
    CHECK(vkattn_context_last_dispatch_times(ctx, nullptr, 4, &count) == VKATTN_ERROR_NULL_POINTER);
    VKA_CHECK_OK(vkattn_context_last_dispatch_times(ctx, nullptr, 0, &count));
    CHECK(count == 0);  // no call yet
    // One attention call with a forced split-KV: the main pass and the combine pass.
    setenv("VKATTN_FORCE_SPLITKV", "3", 1);
    const int64_t B = 1, H = 2, N = 77, D = 40;
    std::vector<uint16_t> q(B * H * N * D, 0x3c00), out(q.size());
    vkattn_attention_desc d = VKATTN_ATTENTION_DESC_INIT;
    d.dtype = d.out_dtype = VKATTN_DTYPE_F16;
    d.q = d.k = d.v = d.out = vkattn_view{{B, H, N, D}, {H * N * D, N * D, D, 1}, 0};
    vkattn_status s = vkattn_attention_host(ctx, &d, q.data(), q.data(), q.data(), nullptr, out.data(), nullptr);
    unsetenv("VKATTN_FORCE_SPLITKV");
    VKA_CHECK_OK(s);
    vkattn_tensor tq = nullptr, to = nullptr;
    const int64_t shape[4] = {B, H, N, D};
    VKA_CHECK_OK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F16, 4, shape, &tq));
    VKA_CHECK_OK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F16, 4, shape, &to));
    VKA_CHECK_OK(vkattn_tensor_upload(tq, q.data(), q.size() * 2));
    setenv("VKATTN_FORCE_SPLITKV", "3", 1);
    s = vkattn_attention(ctx, &d, tq, tq, tq, nullptr, to, nullptr);
    unsetenv("VKATTN_FORCE_SPLITKV");
    VKA_CHECK_OK(s);
    vkattn_call_info info = VKATTN_CALL_INFO_INIT;
    VKA_CHECK_OK(vkattn_context_last_call(ctx, &info));
    vkattn_device_info dev = VKATTN_DEVICE_INFO_INIT;
    VKA_CHECK_OK(vkattn_context_get_device_info(ctx, &dev));
    double ms[8] = {};
    VKA_CHECK_OK(vkattn_context_last_dispatch_times(ctx, ms, 8, &count));
    if (dev.timestamps) {
        CHECK(count == info.dispatches);
        double sum = 0;
        for (uint32_t i = 0; i < count && i < 8; i++) {
            CHECK(ms[i] >= 0);
            sum += ms[i];
        }
        CHECK(sum == Approx(info.gpu_ms).epsilon(1e-6));
    } else {
        CHECK(count == 0);
    }
    vkattn_tensor_destroy(tq);
    vkattn_tensor_destroy(to);
}
