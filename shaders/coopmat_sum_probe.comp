#version 450
// Probe of the sums inside one NV cooperative-matrix product (16x16x16,
// f16 x f16 + f32): D = A B + C with A, B (f16) and C (f32) given as f32
// row-major matrices, D written row-major. The host crafts inputs whose
// exact results need every f32 bit (tests/test_attention_coopmat_f32.cpp),
// to learn how much of f32 the unit keeps in its sums.
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_NV_cooperative_matrix : require

layout(local_size_x = 32) in;
layout(set = 0, binding = 0, std430) readonly buffer Ib { float IN[]; };  // A, B, C: 256 floats each
layout(set = 0, binding = 1, std430) writeonly buffer Ob { float OUT[]; };

void main() {
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> af, bf, c;
    coopMatLoadNV(af, IN, 0u, 16u, false);
    coopMatLoadNV(bf, IN, 256u, 16u, false);
    coopMatLoadNV(c, IN, 512u, 16u, false);
    fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a = fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>(af);
    fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> b = fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>(bf);
    c = coopMatMulAddNV(a, b, c);
    coopMatStoreNV(c, OUT, 0u, 16u, false);
}
