// Attention on host arrays through imported caller memory (no CPU copies);
// see attention_host_direct.cpp.
#pragma once

#include "context.h"
#include "vkattn.h"

namespace vkattn::ops {

// Runs a validated host call directly on the caller's memory when the device
// and the arrays allow it (*done = true), else leaves everything untouched
// (*done = false) for the staging path. cvt: f32 inputs are rounded to f16
// on the GPU and the f16 result widened into out; *overflow is set when a
// finite input rounded beyond f16 (out then holds garbage: rerun exactly).
Status attention_host_direct(Context &ctx, const vkattn_attention_desc &d, const void *q, const void *k, const void *v,
                             const void *mask, void *out, float *lse, bool cvt, bool *done, bool *overflow);

}  // namespace vkattn::ops
