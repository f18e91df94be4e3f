#version 450
// Probe of the NV cooperative-matrix accumulator layout (one subgroup of 32).
// Loads a 16x16 f32 matrix whose elements encode (row, column) and writes
// every invocation's elements out, so the host learns which element of which
// invocation holds which (row, column). Also converts it to f16 and multiplies
// by the identity as the A operand: the host checks that the conversion keeps
// matrix semantics, which the attention kernel's P = f16(S) relies on.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_shader_subgroup_basic : require
#include "attention_coopmat_params.h"

layout(local_size_x = 32) in;
layout(set = 0, binding = 0, std430) readonly buffer Ib { float IN[]; };
layout(set = 0, binding = 1, std430) writeonly buffer Ob { float OUT[]; };

void main() {
    const uint lane = gl_SubgroupInvocationID;
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> a;
    coopMatLoadNV(a, IN, 0u, 16u, false);
    for (int i = 0; i < a.length(); ++i)
        if (lane * 8u + uint(i) < 256u) OUT[lane * 8u + uint(i)] = a[i];
    if (lane == 0u) OUT[256] = float(a.length());
    fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> h = fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>(a);
    fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> id;
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> idf;
    coopMatLoadNV(idf, IN, 256u, 16u, false);
    id = fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>(idf);
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> r = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
    r = coopMatMulAddNV(h, id, r);
    coopMatStoreNV(r, OUT, 512u, 16u, false);
}
