// Double-precision CPU reference of vkattn_attention, used by the tests and by
// vkattn-bench to verify results. It reads host arrays described by a
// vkattn_attention_desc exactly as vkattn_attention_host does (views, strides,
// broadcast masks, causal, GQA) and computes every product and sum in double.
#pragma once

#include <cstdint>
#include <vector>

#include "vkattn.h"

namespace vkattn::ref {

// dtype conversions (round to nearest even), shared by tests and the bench.
uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
float bf16_to_f32(uint16_t h);
// Read element `index` of a host array of `dtype` as double.
double load(const void *base, vkattn_dtype dtype, int64_t index);

// Attention for query rows `rows` (indices into Nq) of (batch b, query head h).
// out receives rows.size() * Dv values (row-major), lse rows.size() values
// (-inf for a fully masked row). Rows that are fully masked give zeros.
void attention_rows(const vkattn_attention_desc &desc, const void *q, const void *k, const void *v, const void *mask,
                    int64_t b, int64_t h, const std::vector<int64_t> &rows, std::vector<double> *out,
                    std::vector<double> *lse);

// Whole tensor: out is dense [B, Hq, Nq, Dv], lse dense [B, Hq, Nq].
void attention(const vkattn_attention_desc &desc, const void *q, const void *k, const void *v, const void *mask,
               std::vector<double> *out, std::vector<double> *lse);

// One unit in the last place of `dtype` at magnitude |x| (for x == 0, at the
// smallest normal). Tolerances are stated as multiples of this.
double ulp(vkattn_dtype dtype, double x);

}  // namespace vkattn::ref
