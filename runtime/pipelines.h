// Compute pipelines from embedded SPIR-V: created lazily per (shader,
// specialization) and cached; a VkPipelineCache persisted on disk, keyed by
// device UUID and driver version. Each shader's interface is reflected with
// SPIRV-Cross and checked against what the op declares.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "vk.h"

namespace vkattn {

class Context;

// One compiled shader variant, embedded in the library (generated source).
struct EmbeddedShader {
    const char *name;       // e.g. "attention_f16"
    const uint32_t *words;  // SPIR-V
    size_t word_count;
};
const EmbeddedShader *find_embedded_shader(const std::string &name);
const std::vector<EmbeddedShader> &embedded_shaders();

// What an op expects of a shader. Bindings are set 0, binding i.
struct ShaderInterface {
    std::vector<VkDescriptorType> bindings;  // STORAGE_BUFFER or UNIFORM_BUFFER
    uint32_t push_constant_size = 0;         // bytes; 0 = none
    std::vector<uint32_t> spec_ids;          // specialization constant ids the op sets
};

// Values for specialization constants (id -> 32-bit value). Local size x is
// conventionally spec id 0 ("local_size_x_id = 0").
using SpecValues = std::vector<std::pair<uint32_t, uint32_t>>;

struct Pipeline {
    std::string name;  // shader name + spec values, for messages and profiling
    VkPipeline pipeline = VK_NULL_HANDLE;
    VkPipelineLayout layout = VK_NULL_HANDLE;
    VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
    ShaderInterface iface;
    uint32_t required_subgroup_size = 0;
};

class Pipelines {
public:
    Pipelines(Context &ctx, std::string cache_dir, bool use_disk_cache);
    ~Pipelines();

    // The pipeline of `shader` with `spec`, created on first use. A shader
    // whose reflected interface differs from `iface` gives SHADER_INTERFACE.
    // required_subgroup_size != 0 asks for that size (subgroup size control).
    Status get(const std::string &shader, const ShaderInterface &iface, const SpecValues &spec,
               Pipeline **out, uint32_t required_subgroup_size = 0);

    // Check a SPIR-V module's interface against `iface`; exposed for tests.
    static Status check_interface(const std::string &name, const uint32_t *words, size_t count,
                                  const ShaderInterface &iface);

    // Write the pipeline cache now (also done at destruction).
    Status save_cache();
    std::string cache_file() const { return cache_file_; }
    bool cache_loaded() const { return cache_loaded_; }

private:
    Context &ctx_;
    std::string cache_file_;
    bool use_disk_;
    bool cache_loaded_ = false;
    VkPipelineCache cache_ = VK_NULL_HANDLE;
    std::map<std::string, std::unique_ptr<Pipeline>> pipelines_;
    std::map<std::string, bool> checked_;  // shader name -> interface verified
};

}  // namespace vkattn
