// f32 attention on f16 matrix units: q, k and v split into scaled f16 pairs
// on the GPU (shaders/attention_split.comp) in the call's workspace, read by
// the SPLIT variants of shaders/attention_coopmat.comp. Layout and rounding
// of the copies: shaders/common/attention_split_params.h.
//
// attn::make_plan chooses this route (through choose_coopmat) for f32 inputs
// and outputs with head dims up to 128 on devices with NV cooperative
// matrices, when the call needs no windows; attn::record runs the split
// passes before the attention dispatch.
#pragma once

#include <cstdint>

#include "context.h"
#include "memory.h"
#include "status.h"
#include "vkattn.h"

namespace vkattn::ops::attn {

// Where the split copies sit in the call's workspace (bytes), after the
// split-KV partials (offset 0, `partials` bytes). Regions start on 256-byte
// boundaries; the exponent table follows the q copy inside its binding.
struct SplitPlan {
    bool on = false;
    uint32_t hd = 0;                  // bucket: row length of hi and of lo, in halves
    uint64_t partials = 0;            // bytes of split-KV partials at offset 0
    uint64_t q_off = 0, q_bytes = 0;  // q copy and the exponent table
    uint64_t tab_off = 0, tab_bytes = 0;
    uint64_t k_off = 0, k_bytes = 0;
    uint64_t v_off = 0, v_bytes = 0;
    uint32_t tab_index = 0;  // uint index of the table in the q binding
    uint64_t total = 0;      // workspace bytes in all
};

// Lays out the copies of d's q, k, v at bucket hd after `partials` bytes.
void plan_split(const vkattn_attention_desc &d, uint32_t hd, uint64_t partials, SplitPlan *sp);

// The largest region a split plan binds (what must fit the max buffer range).
uint64_t split_max_binding(const SplitPlan &sp);

// One f32 source tensor of the split passes: its bound window and the
// window-relative index of its element (0, 0, 0, 0).
struct SplitSource {
    Buffer *buf = nullptr;
    uint64_t offset = 0, range = 0;
    uint32_t org = 0;
    const vkattn_view *view = nullptr;
};

// Records, into ctx.stream(): the table zeroed, the maximum pass of q, k and
// v, then their conversion pass, into `ws` (at least sp.total bytes).
// src: q, k, v. Adds the dispatches to *dispatches.
Status record_split(Context &ctx, const SplitPlan &sp, const SplitSource src[3], Buffer *ws, uint32_t *dispatches);

}  // namespace vkattn::ops::attn
