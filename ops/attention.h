// Flash attention, portable path: validation, variant choice, splitting
// (split-KV over keys, windows over tensors larger than the context's max
// buffer range) and recording. The C ABI (api/attention_api.cpp) calls the three entry
// points after checking desc->struct_size and NULL handles.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attention_split.h"
#include "context.h"
#include "op_common.h"
#include "status.h"
#include "tensor.h"
#include "vkattn.h"

namespace vkattn::ops {

Status attention(Context &ctx, const vkattn_attention_desc &d, Tensor *q, Tensor *k, Tensor *v, Tensor *mask,
                 Tensor *out, Tensor *lse);
Status attention_host(Context &ctx, const vkattn_attention_desc &d, const void *q, const void *k, const void *v,
                      const void *mask, void *out, float *lse);
Status attention_workspace_size(Context &ctx, const vkattn_attention_desc &d, uint64_t *bytes);

namespace attn {

// Shared by the device and host paths (ops/attention.cpp).

// The sizes a descriptor's views carry: q [B, Hq, Nq, D], k [B, Hkv, Nk, D],
// v [B, Hkv, Nk, Dv]. Unpack with
// `const auto [B, Hq, Nq, D, Hkv, Nk, Dv] = dims(d);`.
struct Dims {
    int64_t B, Hq, Nq, D, Hkv, Nk, Dv;
};
inline Dims dims(const vkattn_attention_desc &d) {
    return {d.q.shape[0], d.q.shape[1], d.q.shape[2], d.q.shape[3], d.k.shape[1], d.k.shape[2], d.v.shape[3]};
}

// Checks everything a descriptor says on its own (dtypes, shapes, strides,
// broadcast, 64-bit extents). Names the offending field.
Status validate_desc(const vkattn_attention_desc &d);

// The kernel family a Config tiles: which of its fields apply, and how they
// become specialization constants 5..7 (spec_values in ops/attention.cpp).
enum class Kernel : uint8_t {
    Portable,  // attention.comp: DC, BV, U_SIZE
    Fast,      // attention_fast.comp: DC, PACK = BV | TC << 8 | OTC << 16 | PREF << 24, U_SIZE
    Coopmat,   // attention_coopmat*.comp: LAYOUT, NW, MT
};

// The tiling of an attention kernel (its specialization constants). Each
// field means one thing; the fields of other kernels keep their defaults.
struct Config {
    Kernel kernel = Kernel::Portable;
    // Every kernel (specialization constants 0..4).
    uint32_t wg = 128;  // threads per workgroup
    uint32_t hdk = 64;  // D rounded up to the bucket
    uint32_t hdv = 64;  // Dv rounded up to the bucket
    uint32_t br = 64;   // query rows per workgroup
    uint32_t bc = 64;   // keys per block
    // Portable and fast kernels.
    uint32_t dc = 16;     // head-dim chunk of the Q/K tiles
    uint32_t bv = 16;     // keys per V sub-tile
    uint32_t u_size = 0;  // floats in the shared union area
    // Fast kernel only.
    uint32_t tc = 0;        // threads along the keys of a score row
    uint32_t otc = 0;       // threads along Dv of an output row (vec4 groups)
    bool prefetch = false;  // global loads of the next tile issued before the products
    // Coopmat kernels only.
    uint32_t cm_layout = 0;  // accumulator layout the probe found (VKA_CM_LAYOUT_*)
    uint32_t warps = 0;      // warps per workgroup
    uint32_t m_tiles = 0;    // 16-row m-tiles per warp (per row group on the wide kernel)

    // Shared memory of the portable kernel.
    uint32_t shared_bytes() const { return 4u * (br * (bc + 1) + u_size + 3u * br); }
};

// Everything decided before recording.
struct Plan {
    Config cfg;
    ShaderId shader{}, combine_shader{};  // libvkattn variants (shader_ids.h)
    uint32_t splits = 1;                  // key splits per dispatch (gz)
    uint64_t split_len = 0;               // keys per split
    // dispatch tile: batches, query heads, query rows, keys
    int64_t tb = 1, th = 1, tq = 1, tk = 1;
    uint32_t parts = 1;      // partials per tile (chunks x splits); 1 = none
    uint64_t workspace = 0;  // workspace bytes: partials, then the split copies (0 without either)
    bool windowed = false;   // tiles are smaller than the problem
    SplitPlan split;         // f32 on the matrix units: where the f16 pairs go (split.on)
};

Status make_plan(Context &ctx, const vkattn_attention_desc &d, Plan *plan);
// The plan of `d` with desc->backend = PORTABLE (no matrix units).
Status make_portable_plan(Context &ctx, const vkattn_attention_desc &d, Plan *plan);

// What vkattn_context_last_call reports of a plan: the path ("portable" or
// "coopmat_nv", "+splitkv" when split) and the start of the variant (shader,
// head dims, tiling), to which callers append their own details.
std::string plan_path(const Plan &plan, bool split);
std::string plan_variant(const Plan &plan);

// Buffers of a call. mask/lse may be null when unused; `*_size` is each
// buffer's byte size (binding windows never pass it).
struct Buffers {
    Buffer *q = nullptr, *k = nullptr, *v = nullptr, *mask = nullptr, *out = nullptr, *lse = nullptr;
    Buffer *workspace = nullptr;  // plan.workspace bytes, or null
    Buffer *dummy = nullptr;      // >= 16 bytes, bound where a binding is unused
};

// Records the dispatches of `plan` into ctx.stream() (already begun).
// Adds the number of dispatches recorded to *dispatches.
Status record(Context &ctx, const vkattn_attention_desc &d, const Plan &plan, const Buffers &b, uint32_t *dispatches);

}  // namespace attn
}  // namespace vkattn::ops
