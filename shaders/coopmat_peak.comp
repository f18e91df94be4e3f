#version 450
// Peak-rate microbenchmark for GL_NV_cooperative_matrix (tools/coopmat_peak.cpp):
// each subgroup runs ITERS rounds of NACC independent A x B + C products on
// register-resident matrices (no memory traffic in the loop), then stores the
// accumulators so nothing is eliminated. Defines: TN (N of the product,
// 16 or 8), ACC (accumulator bits, 32 or 16), NACC, WARPS, and MODE:
//   0 operands in registers; 1 B loaded from shared memory (uvec4 array)
//   column-major each product (as K in attention); 2 the same, row-major (as
//   V); 3 A converted from an f32 accumulator each round (as P); 4 as 2 from a
//   float16_t shared array; 5 as 1, each loaded B feeding two products with
//   different A (two 16-row m-tiles sharing a K fragment).
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require

#ifndef TN
#define TN 16
#endif
#ifndef ACC
#define ACC 32
#endif
#ifndef NACC
#define NACC 8
#endif
#ifndef WARPS
#define WARPS 4
#endif
#ifndef MODE
#define MODE 0
#endif
const uint RS = 17u;  // shared row stride in uvec4 (128 halves + padding)
shared uvec4 sMem[64u * RS];
shared float16_t sH[64u * RS * 8u];

layout(local_size_x = WARPS * 32) in;
layout(set = 0, binding = 0, std430) buffer Bb { float BUF[]; };
layout(push_constant) uniform Push { uint iters; } pc;

void main() {
    fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a;
    fcoopmatNV<16, gl_ScopeSubgroup, 16, TN> b;
    fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a1;
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> af;
    fcoopmatNV<32, gl_ScopeSubgroup, 16, TN> bf;
    coopMatLoadNV(af, BUF, 0u, 16u, false);
    coopMatLoadNV(bf, BUF, 256u, 16u, false);
    a = fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>(af);
    b = fcoopmatNV<16, gl_ScopeSubgroup, 16, TN>(bf);
    a1 = fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>(af * 0.5);
    for (uint e = gl_LocalInvocationID.x; e < 64u * RS; e += WARPS * 32u) {
        sMem[e] = uvec4(e, e * 3u, e * 5u, e * 7u) & 0x3bff3bffu;
        [[unroll]] for (uint h = 0; h < 8u; ++h) sH[e * 8u + h] = float16_t(float(e % 13u) * 0.01);
    }
    barrier();
    fcoopmatNV<ACC, gl_ScopeSubgroup, 16, TN> c[NACC];
    [[unroll]] for (uint i = 0; i < NACC; ++i) c[i] = fcoopmatNV<ACC, gl_ScopeSubgroup, 16, TN>(float(i));
    for (uint it = 0; it < pc.iters; ++it) {
#if MODE == 3
        fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> a2 = fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>(af);
        af = af * 0.5;
#endif
        fcoopmatNV<16, gl_ScopeSubgroup, 16, TN> bl5;
        [[unroll]] for (uint i = 0; i < NACC; ++i) {
            const uint off = ((i + it) % 4u) * 16u * RS + (i % 8u) * 2u;
#if MODE == 1
            fcoopmatNV<16, gl_ScopeSubgroup, 16, TN> bl;
            coopMatLoadNV(bl, sMem, off, RS, true);
            c[i] = coopMatMulAddNV(a, bl, c[i]);
#elif MODE == 2
            fcoopmatNV<16, gl_ScopeSubgroup, 16, TN> bl;
            coopMatLoadNV(bl, sMem, off, RS, false);
            c[i] = coopMatMulAddNV(a, bl, c[i]);
#elif MODE == 5
            if ((i & 1u) == 0u) {
                coopMatLoadNV(bl5, sMem, off, RS, true);
                c[i] = coopMatMulAddNV(a, bl5, c[i]);
            } else {
                c[i] = coopMatMulAddNV(a1, bl5, c[i]);
            }
#elif MODE == 4
            fcoopmatNV<16, gl_ScopeSubgroup, 16, TN> bl;
            coopMatLoadNV(bl, sH, off * 8u, RS * 8u, false);
            c[i] = coopMatMulAddNV(a, bl, c[i]);
#elif MODE == 3
            c[i] = coopMatMulAddNV(a2, b, c[i]);
#else
            c[i] = coopMatMulAddNV(a, b, c[i]);
#endif
        }
    }
    fcoopmatNV<32, gl_ScopeSubgroup, 16, TN> s = fcoopmatNV<32, gl_ScopeSubgroup, 16, TN>(0.0);
    [[unroll]] for (uint i = 0; i < NACC; ++i) s = s + fcoopmatNV<32, gl_ScopeSubgroup, 16, TN>(c[i]);
    if (gl_WorkGroupID.x == 0u && gl_SubgroupID == 0u) coopMatStoreNV(s, BUF, 512u, 16u, false);
}
