// Interface of the portable attention shaders (attention.comp,
// attention_combine.comp), shared by GLSL and C++.
//
// Element addresses inside a bound window are 32-bit: every binding is a
// window of at most the context's max buffer range (<= 4 GiB), and `*_org`
// is the window-relative element index of the dispatch tile's first element.
// Strides are passed modulo 2^32; the shader's unsigned arithmetic wraps, and
// the true relative address lies in [0, 2^32), so the result is exact.
#ifndef VKATTN_ATTENTION_PARAMS_H
#define VKATTN_ATTENTION_PARAMS_H
#ifdef __cplusplus
#include <cstdint>
namespace vkattn {
typedef uint32_t uint;
#endif

// flags
#define VKA_ATTN_CAUSAL 1u
#define VKA_ATTN_LSE 2u
#define VKA_ATTN_PARTIALS 4u  // write unnormalised partials to the workspace

// mask kinds
#define VKA_MASK_NONE 0u
#define VKA_MASK_F32 1u
#define VKA_MASK_F16 2u
#define VKA_MASK_BOOL 3u

// Uniform (std140: scalars only, so C++ and GLSL agree byte for byte).
// One per call; it does not change between the dispatches of a call.
struct AttnParams {
    uint nq, nk, d, dv;
    uint group;      // Hq / Hkv
    uint flags;      // VKA_ATTN_*
    uint mask_kind;  // VKA_MASK_*
    float scale;
    uint split_len;  // keys per split (multiple of the key block)
    uint split_tab;  // f32 on matrix units (SPLIT): uint index of the exponent table in the q binding; else 0
    uint pad1, pad2;
    uint q_sb, q_sh, q_sn, q_sd;
    uint k_sb, k_sh, k_sn, k_sd;
    uint v_sb, v_sh, v_sn, v_sd;
    uint o_sb, o_sh, o_sn, o_sd;
    uint m_sb, m_sh, m_sn, m_sd;  // 0 along broadcast dims
    uint l_sb, l_sh, l_sn, l_pad;
};

// Push constants: the dispatch tile (a box of batches x heads x query rows x
// keys) and its window origins.
struct AttnPush {
    uint q_org, k_org, v_org, o_org, m_org, l_org;
    uint h0;       // first query head of the tile (GQA mapping)
    uint q0;       // first query row of the tile
    uint k0;       // first key of the tile's key chunk
    uint k_end;    // one past its last key
    uint tile_h;   // heads in the tile
    uint tile_bh;  // batches x heads in the tile
    uint tile_q;   // query rows in the tile
    uint part0;    // partial index of split 0 of this dispatch
    uint n_parts;  // partials per tile (combine pass)
    uint pad;
};

#ifdef __cplusplus
static_assert(sizeof(AttnParams) == 144, "AttnParams layout");
static_assert(sizeof(AttnParams) % 16 == 0, "std140 struct size");
static_assert(sizeof(AttnPush) == 64, "AttnPush layout");
}  // namespace vkattn
#endif
#endif
