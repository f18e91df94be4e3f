// Flash attention on NV cooperative matrices: the chooser that swaps the
// portable kernel for shaders/attention_coopmat.comp where the device and the
// case allow it, and the accumulator-layout probe it depends on.
//
// The coopmat kernel has the portable kernel's interface (AttnParams,
// AttnPush, bindings 0..7), so attn::make_plan/record dispatch it unchanged:
// choose_coopmat only replaces plan->shader and plan->cfg (a Kernel::Coopmat
// config): wg = warps * 32, hdk = hdv = head-dim bucket, br = rows per
// workgroup, bc = keys per block, and cm_layout, warps, m_tiles, which travel
// as specialization constants 5, 6 and 7 (LAYOUT, NW, MT).
#pragma once

#include <cstdint>
#include <string>

#include "attention.h"
#include "context.h"
#include "status.h"
#include "vkattn.h"

namespace vkattn::ops::attn {

// The accumulator layout of 16x16 f32 NV cooperative matrices on this
// context's device (VKA_CM_LAYOUT_*), measured once per device and driver by
// shaders/attention_coopmat_probe.comp and cached for the process.
// VKA_CM_LAYOUT_NONE when the device has no usable NV cooperative matrix or the
// probe found a layout the kernel cannot address; `why` says which.
Status coopmat_layout(Context &ctx, uint32_t *layout, std::string *why);

// Whether the coopmat kernel can serve `d` on this device; `why` says why not.
// Rules: desc->backend AUTO or COOPMAT (and VKATTN_COOPMAT=0 not set for
// AUTO); f16 inputs and f16 output (P is rounded to f16, so f32 outputs of
// f16 inputs would lose their f32 error bound; bf16 goes to the portable
// path), max(D, Dv) <= 512 (above 128, shaders/attention_coopmat_wide.comp
// splits the head dim across warps, since one warp's output accumulators
// would not fit the register file); or f32 inputs and output with
// max(D, Dv) <= 128 (the SPLIT variants, ops/attention_split.h; not with
// VKATTN_COOPMAT_F32=0); a 16x16x16 f16 x f16 -> f32 shape; subgroups of 32
// with shuffle and vote; the probe proved the accumulator layout.
// Under AUTO, f16 with Dv < 8 also stays portable (see choose_coopmat).
// Masks, causal, GQA, cross attention, any strides, LSE, split-KV and
// windowed tensors are all served (same dispatch tiling as the portable
// path), except that f32 calls needing windows go to the portable path.
bool coopmat_fits(Context &ctx, const vkattn_attention_desc &d, std::string *why);

// Called by make_plan after the portable config is set: when the case fits,
// replaces plan->shader and plan->cfg with the coopmat variant and sets
// *chosen. Never fails for a case it cannot serve (the portable plan stays);
// returns UNSUPPORTED only for desc->backend == VKATTN_BACKEND_COOPMAT.
Status choose_coopmat(Context &ctx, const vkattn_attention_desc &d, Plan *plan, bool *chosen);

// True when `plan` runs the coopmat kernel (for vkattn_call_info.path).
bool plan_is_coopmat(const Plan &plan);

}  // namespace vkattn::ops::attn
