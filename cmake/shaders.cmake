# Shader build rules: one rule per variant. glslangValidator compiles the GLSL
# (tracking includes through --depfile), spirv-val checks the module, and the
# words land as a uint32_t array in a generated header under the build tree.
# Nothing generated goes into the source tree.
#
# OPTIMIZE: the module also goes through spirv-opt (-O with every loop marked
# [[unroll]] unrolled). glslang does not unroll; a driver that leaves a loop
# rolled must keep any array that loop indexes (cooperative matrices included)
# in local memory, which on NVIDIA cost the coopmat kernel most of its speed.
#
# Registries. Every variant belongs to one registry (REGISTRY, default vkattn:
# libvkattn; a tool's or a test's shaders are embedded in that tool or test
# only). vkattn_shader_registry() writes, for one registry, a header with
#   enum class <ENUM> : uint32_t { <name>, ..., count };
#   template <> struct ShaderTable<ENUM> { variants[]: id, name, source,
#                                          defines (key, text, value), tuning };
# and a source with the SPIR-V of each variant (runtime/pipelines.h). C++ names
# a variant by its enum value, so a misspelled or missing one does not compile,
# and picks among variants by their defines, never by parsing names.
#
# The naming rule, checked below when CMake configures: a name names exactly
# one kernel, and a kernel has one name.
#  - A name is a C identifier other than "count" (it becomes an enumerator),
#    unique across all registries (pipelines are cached by name).
#  - Each define is KEY=VALUE, KEY an identifier given once, VALUE an integer
#    or an identifier. The table records every define, so nothing a kernel is
#    compiled with hides behind its name.
#  - No two variants compile the same source with the same defines, target
#    environment and OPTIMIZE: a second name for one kernel means one of the
#    names claims what its defines do not.
# A name need not spell each define (attention_coopmat's OSHARED follows from
# the others); code that needs a define's value reads the table.
#
# Variants declared while VKATTN_SHADER_TUNING is true (the blocks under
# VKATTN_TUNING_VARIANTS) are tuning candidates: embedded and reachable by
# name through the tuning overrides (VKATTN_COOPMAT_TILE), never picked by a
# lookup over defines.
set(VKATTN_SHADER_OUT_DIR ${CMAKE_BINARY_DIR}/generated/shaders)
file(MAKE_DIRECTORY ${VKATTN_SHADER_OUT_DIR})

# vkattn_shader(NAME SOURCE [DEFINES K1=V1 ...] [TARGET_ENV vulkan1.2] [OPTIMIZE]
#               [REGISTRY vkattn])
# SOURCE is a file under shaders/.
function(vkattn_shader name source)
  cmake_parse_arguments(ARG "OPTIMIZE" "TARGET_ENV;REGISTRY" "DEFINES" ${ARGN})
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "vkattn_shader(${name}): unexpected arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_TARGET_ENV)
    set(ARG_TARGET_ENV vulkan1.2)
  endif()
  if(NOT ARG_REGISTRY)
    set(ARG_REGISTRY vkattn)
  endif()
  # The naming rule (top of this file).
  if(NOT name MATCHES "^[A-Za-z_][A-Za-z0-9_]*$" OR name STREQUAL "count")
    message(FATAL_ERROR "vkattn_shader(${name}): a variant name must be a C identifier other than 'count' "
                        "(it becomes an enumerator of the registry's shader ids)")
  endif()
  get_property(twin GLOBAL PROPERTY VKATTN_SHADER_${name}_REGISTRY)
  if(twin)
    message(FATAL_ERROR "vkattn_shader(${name}): the name is declared twice (registries ${twin} and "
                        "${ARG_REGISTRY}); a name must name one kernel")
  endif()
  set(keys "")
  foreach(d IN LISTS ARG_DEFINES)
    if(NOT d MATCHES "^([A-Za-z_][A-Za-z0-9_]*)=(-?[0-9]+|[A-Za-z_][A-Za-z0-9_]*)$")
      message(FATAL_ERROR "vkattn_shader(${name}): define '${d}' is not KEY=VALUE with an integer or identifier "
                          "VALUE")
    endif()
    if(CMAKE_MATCH_1 IN_LIST keys)
      message(FATAL_ERROR "vkattn_shader(${name}): ${CMAKE_MATCH_1} is defined twice")
    endif()
    list(APPEND keys ${CMAKE_MATCH_1})
  endforeach()
  set(sorted ${ARG_DEFINES})
  list(SORT sorted)
  list(JOIN sorted " " sorted)
  if(ARG_OPTIMIZE)
    set(kernel "${source} ${sorted} (${ARG_TARGET_ENV}, OPTIMIZE)")
  else()
    set(kernel "${source} ${sorted} (${ARG_TARGET_ENV})")
  endif()
  string(MD5 kernel_key "${kernel}")
  get_property(twin GLOBAL PROPERTY VKATTN_SHADER_KERNEL_${kernel_key})
  if(twin)
    message(FATAL_ERROR "vkattn_shader(${name}): compiles the same kernel as ${twin}: ${kernel}. One kernel, "
                        "one name: drop one of them, or give it the define its name claims")
  endif()
  set_property(GLOBAL PROPERTY VKATTN_SHADER_KERNEL_${kernel_key} ${name})
  set_property(GLOBAL PROPERTY VKATTN_SHADER_${name}_REGISTRY ${ARG_REGISTRY})
  set_property(GLOBAL PROPERTY VKATTN_SHADER_${name}_SOURCE ${source})
  set_property(GLOBAL PROPERTY VKATTN_SHADER_${name}_DEFINES ${ARG_DEFINES})
  if(VKATTN_SHADER_TUNING)
    set_property(GLOBAL PROPERTY VKATTN_SHADER_${name}_TUNING true)
  else()
    set_property(GLOBAL PROPERTY VKATTN_SHADER_${name}_TUNING false)
  endif()

  set(src ${PROJECT_SOURCE_DIR}/shaders/${source})
  set(spv ${VKATTN_SHADER_OUT_DIR}/${name}.spv)
  set(hdr ${VKATTN_SHADER_OUT_DIR}/${name}.spv.h)
  set(dep ${VKATTN_SHADER_OUT_DIR}/${name}.d)
  set(defs "")
  foreach(d IN LISTS ARG_DEFINES)
    list(APPEND defs "-D${d}")
  endforeach()
  if(ARG_OPTIMIZE)
    set(opt ${VKATTN_SHADER_OUT_DIR}/${name}.opt.spv)
    set(steps
      COMMAND ${GLSLANG_VALIDATOR} -V --quiet --target-env ${ARG_TARGET_ENV} -I${CMAKE_SOURCE_DIR}/shaders
              -I${CMAKE_SOURCE_DIR}/shaders/common ${defs} --depfile ${dep} -o ${spv} ${src}
      COMMAND ${SPIRV_VAL} --target-env ${ARG_TARGET_ENV} ${spv}
      COMMAND ${SPIRV_OPT} --target-env=${ARG_TARGET_ENV} --merge-return -O --loop-unroll -O ${spv} -o ${opt}
      COMMAND ${SPIRV_VAL} --target-env ${ARG_TARGET_ENV} ${opt}
      COMMAND ${CMAKE_COMMAND} -DIN=${opt} -DOUT=${hdr} -DNAME=vkattn_spv_${name}
              -P ${CMAKE_SOURCE_DIR}/cmake/spv_to_header.cmake)
  else()
    set(steps
      COMMAND ${GLSLANG_VALIDATOR} -V --quiet --target-env ${ARG_TARGET_ENV} -I${CMAKE_SOURCE_DIR}/shaders
              -I${CMAKE_SOURCE_DIR}/shaders/common ${defs} --depfile ${dep} -o ${spv} ${src}
      COMMAND ${SPIRV_VAL} --target-env ${ARG_TARGET_ENV} ${spv}
      COMMAND ${GLSLANG_VALIDATOR} -V --quiet --target-env ${ARG_TARGET_ENV} -I${CMAKE_SOURCE_DIR}/shaders
              -I${CMAKE_SOURCE_DIR}/shaders/common ${defs} --vn vkattn_spv_${name} -o ${hdr} ${src})
  endif()
  add_custom_command(
    OUTPUT ${hdr}
    ${steps}
    DEPENDS ${src} ${CMAKE_SOURCE_DIR}/cmake/spv_to_header.cmake
    DEPFILE ${dep}
    COMMENT "SPIR-V ${name}"
    VERBATIM)
  set_property(GLOBAL APPEND PROPERTY VKATTN_SHADERS_${ARG_REGISTRY} ${name})
  set_property(GLOBAL APPEND PROPERTY VKATTN_SHADER_HEADERS_${ARG_REGISTRY} ${hdr})
endfunction()

# vkattn_shader_registry(REGISTRY ENUM HEADER [SOURCE_VAR var] [INCLUDE_VAR var] [LIBRARY target])
# Writes REGISTRY's table: HEADER (enum ENUM and ShaderTable<ENUM>) and
# REGISTRY_registry.cpp (the SPIR-V), both in generated/shaders/REGISTRY/;
# the custom target REGISTRY_shaders builds the SPIR-V. SOURCE_VAR and
# INCLUDE_VAR receive the source and the header's folder (for libvkattn, whose
# layers list them); LIBRARY makes them a static library instead, linking
# vkattn_static (a tool's or a test's shaders).
function(vkattn_shader_registry registry)
  cmake_parse_arguments(ARG "" "ENUM;HEADER;SOURCE_VAR;INCLUDE_VAR;LIBRARY" "" ${ARGN})
  get_property(names GLOBAL PROPERTY VKATTN_SHADERS_${registry})
  get_property(headers GLOBAL PROPERTY VKATTN_SHADER_HEADERS_${registry})
  if(NOT names)
    message(FATAL_ERROR "vkattn_shader_registry(${registry}): no vkattn_shader() declares a variant of it")
  endif()
  set(E ${ARG_ENUM})
  set(dir ${VKATTN_SHADER_OUT_DIR}/${registry})
  file(MAKE_DIRECTORY ${dir})

  set(enum "")
  set(defs "")
  set(rows "")
  set(includes "")
  set(embedded "")
  set(id 0)
  foreach(n IN LISTS names)
    get_property(source GLOBAL PROPERTY VKATTN_SHADER_${n}_SOURCE)
    get_property(defines GLOBAL PROPERTY VKATTN_SHADER_${n}_DEFINES)
    get_property(tuning GLOBAL PROPERTY VKATTN_SHADER_${n}_TUNING)
    string(APPEND enum "    ${n},\n")
    if(defines)
      set(items "")
      foreach(d IN LISTS defines)
        string(REGEX MATCH "^([^=]*)=(.*)$" _ "${d}")
        set(key "${CMAKE_MATCH_1}")
        set(text "${CMAKE_MATCH_2}")
        if(text MATCHES "^-?[0-9]+$")
          math(EXPR value "${text}")  # decimal, whatever leading zeros the text has
          list(APPEND items "{\"${key}\", \"${text}\", ${value}, true}")
        else()
          list(APPEND items "{\"${key}\", \"${text}\", 0, false}")
        endif()
      endforeach()
      list(JOIN items ", " items)
      string(APPEND defs "inline constexpr ShaderDefine ${n}[] = {${items}};\n")
      set(span "shader_defines::${n}")
    else()
      set(span "{}")
    endif()
    string(APPEND rows "        {${id}, \"${n}\", \"${source}\", ${span}, ${tuning}},\n")
    string(APPEND includes "#include \"${n}.spv.h\"\n")
    string(APPEND embedded "    {\"${n}\", vkattn_spv_${n}, std::size(vkattn_spv_${n}), &T::variants[${id}]},\n")
    math(EXPR id "${id} + 1")
  endforeach()

  set(gen "// Generated by cmake/shaders.cmake from the vkattn_shader() calls of registry ${registry}. Do not edit.")
  set(body "${gen}\n#pragma once\n\n#include <cstdint>\n#include <iterator>\n\n#include \"pipelines.h\"\n\n")
  string(APPEND body "namespace vkattn {\n\nenum class ${E} : uint32_t {\n${enum}    count\n};\n\n")
  if(defs)
    string(APPEND body "namespace shader_defines {\n${defs}}  // namespace shader_defines\n\n")
  endif()
  string(APPEND body "template <>\nstruct ShaderTable<${E}> {\n    static constexpr ShaderVariant variants[] = {\n"
                     "${rows}    };\n    static const EmbeddedShader &embedded(${E} id);\n"
                     "    static std::span<const EmbeddedShader> all();\n};\n"
                     "static_assert(std::size(ShaderTable<${E}>::variants) == static_cast<size_t>(${E}::count));\n\n"
                     "}  // namespace vkattn\n")
  file(CONFIGURE OUTPUT ${dir}/${ARG_HEADER} CONTENT "${body}" @ONLY)

  set(body "${gen}\n#include <cstdint>\n#include <iterator>\n\n#include \"${ARG_HEADER}\"\n${includes}\n")
  string(APPEND body "namespace vkattn {\nnamespace {\nusing T = ShaderTable<${E}>;\n"
                     "const EmbeddedShader kEmbedded[] = {\n${embedded}};\n}  // namespace\n\n"
                     "const EmbeddedShader &T::embedded(${E} id) { return kEmbedded[static_cast<uint32_t>(id)]; }\n"
                     "std::span<const EmbeddedShader> T::all() { return kEmbedded; }\n\n}  // namespace vkattn\n")
  set(reg ${dir}/${registry}_registry.cpp)
  file(CONFIGURE OUTPUT ${reg} CONTENT "${body}" @ONLY)
  add_custom_target(${registry}_shaders DEPENDS ${headers})

  if(ARG_LIBRARY)
    add_library(${ARG_LIBRARY} STATIC ${reg})
    add_dependencies(${ARG_LIBRARY} ${registry}_shaders)
    target_include_directories(${ARG_LIBRARY} PUBLIC ${dir} PRIVATE ${VKATTN_SHADER_OUT_DIR})
    target_link_libraries(${ARG_LIBRARY} PUBLIC vkattn_static)
    target_compile_options(${ARG_LIBRARY} PRIVATE ${VKATTN_WARNINGS})
  endif()
  if(ARG_SOURCE_VAR)
    set(${ARG_SOURCE_VAR} ${reg} PARENT_SCOPE)
  endif()
  if(ARG_INCLUDE_VAR)
    set(${ARG_INCLUDE_VAR} ${dir} PARENT_SCOPE)
  endif()
endfunction()
