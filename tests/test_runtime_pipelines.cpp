// Pipelines from embedded SPIR-V: interface checks against the op's
// declaration, the on-disk pipeline cache (corrupt and foreign files), and
// dispatch chains whose barriers the command stream derives.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "context.h"
#include "shader_ids.h"
#include "test_shader_ids.h"
#include "test_util.h"
#include "util_params.h"

using namespace vkattn;

namespace {
ShaderInterface copy_iface() {
    return ShaderInterface{
        {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER}, sizeof(UtilCopyPush), {0}};
}
Context &internal(vkattn_context c) {
    return *c->ctx;
}
const EmbeddedShader &util_copy() {
    return embedded_shader(TestShaderId::util_copy_u32);
}
}  // namespace

TEST_CASE("every embedded shader is valid SPIR-V with a reflectable interface", "[pipelines]") {
    const auto library = ShaderTable<ShaderId>::all();
    REQUIRE(library.size() == static_cast<size_t>(ShaderId::count));
    for (const auto &table : {library, ShaderTable<TestShaderId>::all()})
        for (size_t i = 0; i < table.size(); i++) {
            const EmbeddedShader &s = table[i];
            INFO(s.name);
            REQUIRE(s.word_count > 5);
            CHECK(s.words[0] == 0x07230203u);  // SPIR-V magic
            REQUIRE(s.variant != nullptr);
            CHECK(s.variant->id == i);
            CHECK(s.variant->name == s.name);
        }
    CHECK(Pipelines::check_interface("util_copy_u32", util_copy().words, util_copy().word_count, copy_iface()).ok());
}

TEST_CASE("libvkattn's shader table: defines, lookups, and no tool or test shaders", "[pipelines]") {
    // The tools' and the tests' shaders are theirs, not the library's.
    for (const EmbeddedShader &s : ShaderTable<ShaderId>::all()) {
        INFO(s.name);
        const std::string_view name = s.name;
        CHECK(name.rfind("coopmat_peak", 0) != 0);
        CHECK(name != "coopmat_sum_probe");
        CHECK(name != "util_copy_u32");
    }
    // Every define of a variant, parsed.
    constexpr const ShaderVariant &pipe = shader_variant(ShaderId::attention_coopmat_f16_d64_w8_ralw_pipe);
    static_assert(pipe.source == "attention_coopmat.comp");
    static_assert(pipe.value_or("HD", 0) == 64 && pipe.value_or("NW", 0) == 8 && pipe.value_or("BC", 0) == 64);
    static_assert(pipe.value_or("OSHARED", -1) == 0 && pipe.value_or("PIPE", 0) == 1 && pipe.value_or("QSH", -1) == -1);
    REQUIRE(pipe.define("RALW") != nullptr);
    CHECK(pipe.define("RALW")->text == "1");
    CHECK(pipe.define("RALW")->numeric);
    // Lookups by defines: the one match, or none when no variant or several match.
    static_assert(variant_where<ShaderId>("attention.comp", {{"IN_DTYPE", 1}, {"OUT_DTYPE", 0}}) ==
                  ShaderId::attention_f16_of32);
    static_assert(variant_where<ShaderId>("attention_combine.comp", {{"OUT_DTYPE", 2}}) ==
                  ShaderId::attention_combine_bf16);
    CHECK(find_variant<ShaderId>("attention_coopmat_wide.comp",
                                 {{"HD", 192}, {"DS", 2}, {"RG", 4}, {"BC", 16}, {"MT", 2}}) ==
          ShaderId::attention_coopmat_f16_d192_s2_w8_k16_m2);
    CHECK(find_variant<ShaderId>("attention_coopmat_wide.comp",
                                 {{"HD", 192}, {"DS", 2}, {"RG", 4}, {"BC", 32}, {"MT", 1, kOrDefault}}) ==
          ShaderId::attention_coopmat_f16_d192_s2_w8_k32);
    CHECK(!find_variant<ShaderId>("attention_coopmat_wide.comp",
                                  {{"HD", 192}, {"DS", 2}, {"RG", 4}, {"BC", 32}, {"MT", 1}}));  // MT undefined there
    CHECK(!find_variant<ShaderId>("attention.comp", {{"IN_DTYPE", 1}}));                         // two match
    CHECK(!find_variant<ShaderId>("attention.comp", {{"IN_DTYPE", 7}}));                         // none
    CHECK(!find_variant<ShaderId>("attention_fast.comp", {{"ABL", 1}}));  // tuning variants are never picked
    const DefineWant want[] = {{"HD", 64}, {"MT", 1, kOrDefault}};
    CHECK(describe_want("attention_coopmat.comp", want) == "attention_coopmat.comp with HD=64 MT=1 (or undefined)");
    // By name (the tuning overrides).
    CHECK(variant_named<ShaderId>("attention_f16") == ShaderId::attention_f16);
    CHECK(!variant_named<ShaderId>("no_such_shader"));
}

TEST_CASE("an interface mismatch is a SHADER_INTERFACE status naming the shader", "[pipelines]") {
    const EmbeddedShader *copy = &util_copy();
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
    Status s = internal(ctx).pipelines().get(util_copy(), i, {{0, 64}}, &p);
    CHECK(s.code() == VKATTN_ERROR_SHADER_INTERFACE);
    CHECK(p == nullptr);
    s = internal(ctx).pipelines().get(ShaderId::count, copy_iface(), {}, &p);
    CHECK(s.code() == VKATTN_ERROR_INTERNAL);
    CHECK(p == nullptr);
}

TEST_CASE("barriers derived from last access keep a chain of dependent dispatches correct", "[pipelines][stream]") {
    TestContext ctx;
    VKA_REQUIRE_DEVICE(ctx.ctx);
    Context &c = internal(ctx);
    Pipeline *p = nullptr;
    REQUIRE(c.pipelines().get(util_copy(), copy_iface(), {{0, 64}}, &p).ok());
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
        REQUIRE(internal(ctx).pipelines().get(util_copy(), copy_iface(), {{0, 64}}, &p).ok());
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
        REQUIRE(internal(ctx).pipelines().get(util_copy(), copy_iface(), {{0, 64}}, &p).ok());
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
    ctx.ctx->ctx->tuning().force_splitkv = 3;  // test hook (settings.h)
    const int64_t B = 1, H = 2, N = 77, D = 40;
    std::vector<uint16_t> q(B * H * N * D, 0x3c00), out(q.size());
    vkattn_attention_desc d = VKATTN_ATTENTION_DESC_INIT;
    d.dtype = d.out_dtype = VKATTN_DTYPE_F16;
    d.q = d.k = d.v = d.out = vkattn_view{{B, H, N, D}, {H * N * D, N * D, D, 1}, 0};
    vkattn_status s = vkattn_attention_host(ctx, &d, q.data(), q.data(), q.data(), nullptr, out.data(), nullptr);
    ctx.ctx->ctx->tuning().force_splitkv = 0;
    VKA_CHECK_OK(s);
    vkattn_tensor tq = nullptr, to = nullptr;
    const int64_t shape[4] = {B, H, N, D};
    VKA_CHECK_OK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F16, 4, shape, &tq));
    VKA_CHECK_OK(vkattn_tensor_create(ctx, VKATTN_DTYPE_F16, 4, shape, &to));
    VKA_CHECK_OK(vkattn_tensor_upload(tq, q.data(), q.size() * 2));
    ctx.ctx->ctx->tuning().force_splitkv = 3;
    s = vkattn_attention(ctx, &d, tq, tq, tq, nullptr, to, nullptr);
    ctx.ctx->ctx->tuning().force_splitkv = 0;
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
