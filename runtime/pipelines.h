// Compute pipelines from embedded SPIR-V: created lazily per (shader,
// specialization) and cached; a VkPipelineCache persisted on disk, keyed by
// device UUID and driver version. Each shader's interface is reflected with
// SPIRV-Cross and checked against what the op declares.
//
// Shader variants come from generated tables (cmake/shaders.cmake): libvkattn's
// in shader_ids.h (enum class ShaderId), a tool's or a test's in its own
// header. Code names a variant by its enum value, so a misspelled or missing
// variant does not compile, and picks among variants by their defines
// (find_variant, variant_where); names serve messages, profiling, the
// pipeline cache key and the tuning overrides (variant_named).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vk.h"

namespace vkattn {

class Context;

// libvkattn's shader ids; the enumerators are in the generated shader_ids.h.
enum class ShaderId : uint32_t;

// One -DKEY=VALUE a variant is compiled with: the text and, where the text is
// an integer, its value.
struct ShaderDefine {
    std::string_view key, text;
    int64_t value = 0;
    bool numeric = false;
};

// A variant as its vkattn_shader() call declares it.
struct ShaderVariant {
    uint32_t id;                            // its value in the registry's enum
    std::string_view name;                  // e.g. "attention_f16"
    std::string_view source;                // under shaders/, e.g. "attention.comp"
    std::span<const ShaderDefine> defines;  // all of them
    bool tuning = false;                    // tuning builds only: reached by name (variant_named), never by a lookup

    // The index of the define of `key`, or -1. (Indices, not pointers, in
    // what runs at compile time: with -fsanitize=undefined GCC 12 does not
    // take a pointer's comparison with null as a constant expression.)
    constexpr ptrdiff_t define_index(std::string_view key) const {
        for (size_t i = 0; i < defines.size(); i++)
            if (defines[i].key == key) return static_cast<ptrdiff_t>(i);
        return -1;
    }
    constexpr const ShaderDefine *define(std::string_view key) const {
        const ptrdiff_t i = define_index(key);
        return i < 0 ? nullptr : &defines[static_cast<size_t>(i)];
    }
    // The define's value, or `fallback` (the shader's own default) where the
    // variant does not define it.
    constexpr int64_t value_or(std::string_view key, int64_t fallback) const {
        const ptrdiff_t i = define_index(key);
        return i < 0 ? fallback : defines[static_cast<size_t>(i)].value;
    }
};

// The SPIR-V of one variant, as Pipelines::get takes it.
struct EmbeddedShader {
    const char *name;  // the variant's name
    const uint32_t *words;
    size_t word_count;
    const ShaderVariant *variant;
};

// Each registry's generated header specializes ShaderTable<Id> for its enum:
//   static constexpr ShaderVariant variants[];       in enum order
//   static const EmbeddedShader &embedded(Id);
//   static std::span<const EmbeddedShader> all();
template <class Id>
struct ShaderTable;

template <class Id>
constexpr const ShaderVariant &shader_variant(Id id) {
    return ShaderTable<Id>::variants[static_cast<uint32_t>(id)];
}
template <class Id>
const EmbeddedShader &embedded_shader(Id id) {
    return ShaderTable<Id>::embedded(id);
}

// What a lookup asks of one define: KEY = value. With or_default, a variant
// that leaves KEY undefined matches too (value is the shader's own default).
struct DefineWant {
    std::string_view key;
    int64_t value;
    bool or_default = false;
};
constexpr bool kOrDefault = true;

constexpr bool variant_matches(const ShaderVariant &v, std::string_view source, std::span<const DefineWant> wants) {
    if (v.tuning || v.source != source) return false;
    for (const DefineWant &w : wants) {
        const ptrdiff_t i = v.define_index(w.key);
        if (i < 0) {
            if (!w.or_default) return false;
            continue;
        }
        const ShaderDefine &d = v.defines[static_cast<size_t>(i)];
        if (!d.numeric || d.value != w.value) return false;
    }
    return true;
}

// The one variant of `source` whose defines match every want (tuning variants
// are never picked), or nullopt when none or several do.
template <class Id>
constexpr std::optional<Id> find_variant(std::string_view source, std::span<const DefineWant> wants) {
    std::optional<Id> found;
    for (const ShaderVariant &v : ShaderTable<Id>::variants)
        if (variant_matches(v, source, wants)) {
            if (found) return std::nullopt;
            found = static_cast<Id>(v.id);
        }
    return found;
}
template <class Id>
constexpr std::optional<Id> find_variant(std::string_view source, std::initializer_list<DefineWant> wants) {
    return find_variant<Id>(source, std::span<const DefineWant>(wants.begin(), wants.size()));
}

// Called where a compile-time lookup fails: not constexpr, so the call is the
// compile error ("call to non-'constexpr' function ... no_single_variant_matches").
void no_single_variant_matches();

// find_variant at compile time: no match, or several, do not compile.
template <class Id>
consteval Id variant_where(std::string_view source, std::initializer_list<DefineWant> wants) {
    const std::optional<Id> id = find_variant<Id>(source, wants);
    if (!id) no_single_variant_matches();
    return *id;
}

// A variant by name, tuning variants included (the tuning overrides).
template <class Id>
constexpr std::optional<Id> variant_named(std::string_view name) {
    for (const ShaderVariant &v : ShaderTable<Id>::variants)
        if (v.name == name) return static_cast<Id>(v.id);
    return std::nullopt;
}

// "attention.comp with IN_DTYPE=1 OUT_DTYPE=0", for messages.
std::string describe_want(std::string_view source, std::span<const DefineWant> wants);

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
    // Pipelines are keyed by shader name, unique across libvkattn's, the
    // tools' and the tests' tables (cmake/shaders.cmake checks it).
    Status get(const EmbeddedShader &shader, const ShaderInterface &iface, const SpecValues &spec, Pipeline **out,
               uint32_t required_subgroup_size = 0);
    // The same for one of libvkattn's shaders.
    Status get(ShaderId shader, const ShaderInterface &iface, const SpecValues &spec, Pipeline **out,
               uint32_t required_subgroup_size = 0);

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
