#include "pipelines.h"

#include <spirv_cross/spirv_cross_c.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include "context.h"
#include "shader_ids.h"

namespace vkattn {

namespace {

// One stderr line per executable: the driver's compiler statistics
// (VK_KHR_pipeline_executable_properties), for tuning kernels on a device.
void print_statistics(VkDevice dev, VkPipeline pipeline, const std::string &key) {
    VkPipelineInfoKHR pi{VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR};
    pi.pipeline = pipeline;
    uint32_t n = 0;
    if (vkGetPipelineExecutablePropertiesKHR(dev, &pi, &n, nullptr) != VK_SUCCESS) return;
    for (uint32_t e = 0; e < n; e++) {
        VkPipelineExecutableInfoKHR ei{VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR};
        ei.pipeline = pipeline;
        ei.executableIndex = e;
        uint32_t ns = 0;
        if (vkGetPipelineExecutableStatisticsKHR(dev, &ei, &ns, nullptr) != VK_SUCCESS) continue;
        std::vector<VkPipelineExecutableStatisticKHR> st(ns, {VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR});
        if (vkGetPipelineExecutableStatisticsKHR(dev, &ei, &ns, st.data()) != VK_SUCCESS) continue;
        std::string line = cat("vkattn: pipeline ", key);
        for (uint32_t i = 0; i < ns; i++) {
            line += cat("; ", st[i].name, " = ");
            switch (st[i].format) {
                case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR:
                    line += st[i].value.b32 ? "true" : "false";
                    break;
                case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: line += cat(st[i].value.i64); break;
                case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: line += cat(st[i].value.u64); break;
                case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_FLOAT64_KHR: line += cat(st[i].value.f64); break;
                default: line += "?";
            }
        }
        std::fprintf(stderr, "%s\n", line.c_str());
    }
}

}  // namespace

std::string describe_want(std::string_view source, std::span<const DefineWant> wants) {
    std::string s = cat(source, " with");
    for (const DefineWant &w : wants)
        s += w.or_default ? cat(" ", w.key, "=", w.value, " (or undefined)") : cat(" ", w.key, "=", w.value);
    return s;
}

namespace {

const char *descriptor_name(VkDescriptorType t) {
    switch (t) {
        case VK_DESCRIPTOR_TYPE_STORAGE_BUFFER: return "storage buffer";
        case VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER: return "uniform buffer";
        default: return "other descriptor";
    }
}

struct SpvcContext {
    spvc_context ctx = nullptr;
    ~SpvcContext() {
        if (ctx) spvc_context_destroy(ctx);
    }
};

}  // namespace

// SPIRV-Cross as packaged by Debian 12 predates OpTypeCooperativeMatrixNV and
// refuses any module that declares it. Reflection reads declarations only, so
// it is given a copy where each such type is a 4-vector of its component type
// (the two spare words become OpNop); bindings, push constants and
// specialization constants are unchanged. The driver gets the original.
static std::vector<uint32_t> reflectable_copy(const uint32_t *words, size_t count) {
    constexpr uint32_t kOpNop = 0, kOpTypeVector = 23, kOpTypeCooperativeMatrixNV = 5358;
    std::vector<uint32_t> out(words, words + count);
    for (size_t i = 5; i < count;) {
        const uint32_t op = words[i] & 0xffffu, n = words[i] >> 16;
        if (n == 0 || i + n > count) break;  // malformed: let SPIRV-Cross report it
        if (op == kOpTypeCooperativeMatrixNV && n == 6) {
            out[i] = (4u << 16) | kOpTypeVector;  // result id and component type stay
            out[i + 3] = 4;
            out[i + 4] = out[i + 5] = (1u << 16) | kOpNop;
        }
        i += n;
    }
    return out;
}

Status Pipelines::check_interface(const std::string &name, const uint32_t *words_in, size_t count,
                                  const ShaderInterface &iface) {
    const std::vector<uint32_t> copy = reflectable_copy(words_in, count);
    const uint32_t *words = copy.data();
    SpvcContext c;
    if (spvc_context_create(&c.ctx) != SPVC_SUCCESS)
        return Error(VKATTN_ERROR_OUT_OF_HOST_MEMORY, "SPIRV-Cross context for shader ", name);
    spvc_parsed_ir ir = nullptr;
    spvc_compiler comp = nullptr;
    spvc_resources res = nullptr;
    if (spvc_context_parse_spirv(c.ctx, reinterpret_cast<const SpvId *>(words), count, &ir) != SPVC_SUCCESS ||
        spvc_context_create_compiler(c.ctx, SPVC_BACKEND_NONE, ir, SPVC_CAPTURE_MODE_TAKE_OWNERSHIP, &comp) !=
            SPVC_SUCCESS ||
        spvc_compiler_create_shader_resources(comp, &res) != SPVC_SUCCESS)
        return Error(VKATTN_ERROR_SHADER_INTERFACE, "shader ", name,
                     ": SPIR-V could not be reflected: ", spvc_context_get_last_error_string(c.ctx));

    std::map<uint32_t, VkDescriptorType> found;
    auto collect = [&](spvc_resource_type type, VkDescriptorType vk_type) -> Status {
        const spvc_reflected_resource *list = nullptr;
        size_t n = 0;
        spvc_resources_get_resource_list_for_type(res, type, &list, &n);
        for (size_t i = 0; i < n; i++) {
            uint32_t set = spvc_compiler_get_decoration(comp, list[i].id, SpvDecorationDescriptorSet);
            uint32_t binding = spvc_compiler_get_decoration(comp, list[i].id, SpvDecorationBinding);
            if (set != 0)
                return Error(VKATTN_ERROR_SHADER_INTERFACE, "shader ", name, ": resource ", list[i].name, " is in set ",
                             set, "; vkattn uses set 0 only");
            found[binding] = vk_type;
        }
        return Status::Ok();
    };
    VKA_RETURN_IF_ERROR(collect(SPVC_RESOURCE_TYPE_STORAGE_BUFFER, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER));
    VKA_RETURN_IF_ERROR(collect(SPVC_RESOURCE_TYPE_UNIFORM_BUFFER, VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER));
    for (auto t :
         {SPVC_RESOURCE_TYPE_SAMPLED_IMAGE, SPVC_RESOURCE_TYPE_STORAGE_IMAGE, SPVC_RESOURCE_TYPE_SEPARATE_IMAGE}) {
        const spvc_reflected_resource *list = nullptr;
        size_t n = 0;
        spvc_resources_get_resource_list_for_type(res, t, &list, &n);
        if (n) return Error(VKATTN_ERROR_SHADER_INTERFACE, "shader ", name, " uses images; vkattn binds buffers only");
    }
    for (uint32_t i = 0; i < iface.bindings.size(); i++) {
        auto it = found.find(i);
        if (it == found.end())
            return Error(VKATTN_ERROR_SHADER_INTERFACE, "shader ", name, ": the op binds a ",
                         descriptor_name(iface.bindings[i]), " at binding ", i,
                         " but the shader declares nothing there");
        if (it->second != iface.bindings[i])
            return Error(VKATTN_ERROR_SHADER_INTERFACE, "shader ", name, ": binding ", i, " is a ",
                         descriptor_name(it->second), " in the shader but a ", descriptor_name(iface.bindings[i]),
                         " in the op");
    }
    for (auto &[b, t] : found)
        if (b >= iface.bindings.size())
            return Error(VKATTN_ERROR_SHADER_INTERFACE, "shader ", name, " declares a ", descriptor_name(t),
                         " at binding ", b, " that the op (", iface.bindings.size(), " bindings) does not bind");

    size_t push = 0;
    {
        const spvc_reflected_resource *list = nullptr;
        size_t n = 0;
        spvc_resources_get_resource_list_for_type(res, SPVC_RESOURCE_TYPE_PUSH_CONSTANT, &list, &n);
        if (n)
            spvc_compiler_get_declared_struct_size(comp, spvc_compiler_get_type_handle(comp, list[0].base_type_id),
                                                   &push);
    }
    if (push != iface.push_constant_size)
        return Error(VKATTN_ERROR_SHADER_INTERFACE, "shader ", name, ": push constants are ", push,
                     " bytes in the shader but ", iface.push_constant_size,
                     " bytes in the op (shaders/common headers out of sync?)");

    const spvc_specialization_constant *consts = nullptr;
    size_t nc = 0;
    spvc_compiler_get_specialization_constants(comp, &consts, &nc);
    std::set<uint32_t> ids;
    for (size_t i = 0; i < nc; i++) ids.insert(consts[i].constant_id);
    for (uint32_t id : iface.spec_ids)
        if (!ids.count(id))
            return Error(VKATTN_ERROR_SHADER_INTERFACE, "shader ", name, " has no specialization constant ", id,
                         " that the op sets");
    return Status::Ok();
}

Pipelines::Pipelines(Context &ctx, std::string cache_dir, bool use_disk)
    : ctx_(ctx), use_disk_(use_disk && !cache_dir.empty()) {
    const auto &info = ctx.caps().info;
    char uuid[33];
    for (int i = 0; i < 16; i++) std::snprintf(uuid + 2 * i, 3, "%02x", ctx.caps().props.pipelineCacheUUID[i]);
    if (use_disk_)
        cache_file_ = cat(cache_dir, "/pipelines-", uuid, "-", info.vendor_id, "-", info.driver_version, ".bin");

    std::vector<char> data;
    if (use_disk_) {
        std::ifstream f(cache_file_, std::ios::binary);
        if (f) data.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
        // Only hand the driver a file whose header says it is ours; a corrupt
        // or foreign file is ignored (and overwritten at the next save).
        const auto &p = ctx.caps().props;
        bool good = data.size() >= 32;
        if (good) {
            uint32_t hdr[4];
            std::memcpy(hdr, data.data(), 16);
            good = hdr[0] >= 32 && hdr[0] <= data.size() && hdr[1] == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
                   hdr[2] == p.vendorID && hdr[3] == p.deviceID &&
                   std::memcmp(data.data() + 16, p.pipelineCacheUUID, VK_UUID_SIZE) == 0;
        }
        if (!good) data.clear();
    }
    VkPipelineCacheCreateInfo ci{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    ci.initialDataSize = data.size();
    ci.pInitialData = data.empty() ? nullptr : data.data();
    if (vkCreatePipelineCache(ctx.device(), &ci, nullptr, &cache_) != VK_SUCCESS) {
        ci.initialDataSize = 0;
        ci.pInitialData = nullptr;
        data.clear();
        if (vkCreatePipelineCache(ctx.device(), &ci, nullptr, &cache_) != VK_SUCCESS) cache_ = VK_NULL_HANDLE;
    }
    cache_loaded_ = !data.empty() && cache_;
}

Pipelines::~Pipelines() {
    for (auto &[k, p] : pipelines_) {
        if (p->pipeline) vkDestroyPipeline(ctx_.device(), p->pipeline, nullptr);
        if (p->layout) vkDestroyPipelineLayout(ctx_.device(), p->layout, nullptr);
        if (p->set_layout) vkDestroyDescriptorSetLayout(ctx_.device(), p->set_layout, nullptr);
    }
    if (cache_) vkDestroyPipelineCache(ctx_.device(), cache_, nullptr);
}

Status Pipelines::save_cache() {
    if (!use_disk_ || !cache_) return Status::Ok();
    size_t n = 0;
    VKA_VK(vkGetPipelineCacheData(ctx_.device(), cache_, &n, nullptr));
    std::vector<char> data(n);
    VKA_VK(vkGetPipelineCacheData(ctx_.device(), cache_, &n, data.data()));
    std::error_code ec;
    std::filesystem::path file(cache_file_);
    std::filesystem::create_directories(file.parent_path(), ec);
    std::string tmp = cache_file_ + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) return Error(VKATTN_ERROR_INVALID_ARGUMENT, "cannot write the pipeline cache ", tmp);
        f.write(data.data(), static_cast<std::streamsize>(n));
        if (!f) return Error(VKATTN_ERROR_INVALID_ARGUMENT, "cannot write the pipeline cache ", tmp);
    }
    std::filesystem::rename(tmp, file, ec);
    if (ec) return Error(VKATTN_ERROR_INVALID_ARGUMENT, "cannot rename ", tmp, ": ", ec.message());
    return Status::Ok();
}

Status Pipelines::get(ShaderId shader, const ShaderInterface &iface, const SpecValues &spec, Pipeline **out,
                      uint32_t required_subgroup_size) {
    if (static_cast<uint32_t>(shader) >= static_cast<uint32_t>(ShaderId::count)) {
        *out = nullptr;
        return Error(VKATTN_ERROR_INTERNAL, "no embedded shader with id ", static_cast<uint32_t>(shader));
    }
    return get(embedded_shader(shader), iface, spec, out, required_subgroup_size);
}

Status Pipelines::get(const EmbeddedShader &es, const ShaderInterface &iface, const SpecValues &spec, Pipeline **out,
                      uint32_t required_subgroup_size) {
    *out = nullptr;
    const std::string shader = es.name;
    std::string key = shader;
    for (auto &[id, v] : spec) key += cat(":", id, "=", v);
    if (required_subgroup_size) key += cat(":sg", required_subgroup_size);
    if (auto it = pipelines_.find(key); it != pipelines_.end()) {
        *out = it->second.get();
        return Status::Ok();
    }
    if (!checked_[shader]) {
        VKA_RETURN_IF_ERROR(check_interface(shader, es.words, es.word_count, iface));
        checked_[shader] = true;
    }
    if (required_subgroup_size && !ctx_.caps().subgroup_size_control)
        return Error(VKATTN_ERROR_UNSUPPORTED, "shader ", shader, " asks for subgroup size ", required_subgroup_size,
                     " but the device has no subgroup size control");

    auto p = std::make_unique<Pipeline>();
    p->name = key;
    p->iface = iface;
    p->required_subgroup_size = required_subgroup_size;
    VkDevice dev = ctx_.device();
    std::vector<VkDescriptorSetLayoutBinding> binds(iface.bindings.size());
    for (uint32_t i = 0; i < binds.size(); i++)
        binds[i] = {i, iface.bindings[i], 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
    VkDescriptorSetLayoutCreateInfo dl{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    dl.bindingCount = static_cast<uint32_t>(binds.size());
    dl.pBindings = binds.data();
    VkShaderModule module = VK_NULL_HANDLE;
    auto cleanup = [&](Status s) {
        if (module) vkDestroyShaderModule(dev, module, nullptr);
        if (p->layout) vkDestroyPipelineLayout(dev, p->layout, nullptr);
        if (p->set_layout) vkDestroyDescriptorSetLayout(dev, p->set_layout, nullptr);
        return s;
    };
    VkResult r = vkCreateDescriptorSetLayout(dev, &dl, nullptr, &p->set_layout);
    if (r != VK_SUCCESS) return cleanup(vk_status(r, "vkCreateDescriptorSetLayout"));
    VkPushConstantRange pr{VK_SHADER_STAGE_COMPUTE_BIT, 0, iface.push_constant_size};
    VkPipelineLayoutCreateInfo pl{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    pl.setLayoutCount = 1;
    pl.pSetLayouts = &p->set_layout;
    pl.pushConstantRangeCount = iface.push_constant_size ? 1 : 0;
    pl.pPushConstantRanges = &pr;
    r = vkCreatePipelineLayout(dev, &pl, nullptr, &p->layout);
    if (r != VK_SUCCESS) return cleanup(vk_status(r, "vkCreatePipelineLayout"));
    VkShaderModuleCreateInfo sm{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    sm.codeSize = es.word_count * 4;
    sm.pCode = es.words;
    r = vkCreateShaderModule(dev, &sm, nullptr, &module);
    if (r != VK_SUCCESS) return cleanup(vk_status(r, "vkCreateShaderModule"));

    std::vector<VkSpecializationMapEntry> entries;
    std::vector<uint32_t> values;
    for (auto &[id, v] : spec) {
        entries.push_back({id, static_cast<uint32_t>(values.size() * 4), 4});
        values.push_back(v);
    }
    VkSpecializationInfo si{static_cast<uint32_t>(entries.size()), entries.data(), values.size() * 4, values.data()};
    VkPipelineShaderStageRequiredSubgroupSizeCreateInfoEXT rs{
        VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_REQUIRED_SUBGROUP_SIZE_CREATE_INFO_EXT};
    rs.requiredSubgroupSize = required_subgroup_size;
    VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    ci.stage = {VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO};
    ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    ci.stage.module = module;
    ci.stage.pName = "main";
    ci.stage.pSpecializationInfo = entries.empty() ? nullptr : &si;
    if (required_subgroup_size) {
        ci.stage.pNext = &rs;
        ci.stage.flags = VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT_EXT;
    }
    ci.layout = p->layout;
    if (ctx_.pipeline_stats()) ci.flags |= VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR;
    r = vkCreateComputePipelines(dev, cache_, 1, &ci, nullptr, &p->pipeline);
    if (r != VK_SUCCESS) return cleanup(vk_status(r, cat("vkCreateComputePipelines(", key, ")").c_str()));
    if (ctx_.pipeline_stats()) print_statistics(dev, p->pipeline, key);
    vkDestroyShaderModule(dev, module, nullptr);
    *out = p.get();
    pipelines_[key] = std::move(p);
    return Status::Ok();
}

}  // namespace vkattn
