// The object behind a vkattn_tensor handle: a dense device tensor in the
// context's tensor pool.
#pragma once

#include <cstdint>
#include <memory>

#include "context.h"
#include "memory.h"

struct vkattn_tensor_s {
    vkattn::Context *ctx = nullptr;
    vkattn_dtype dtype = VKATTN_DTYPE_F32;
    int32_t ndim = 0;
    int64_t shape[VKATTN_MAX_DIMS] = {};
    uint64_t elements = 0;
    uint64_t bytes = 0;
    std::unique_ptr<vkattn::Buffer> buffer;
    uint32_t magic = 0x7e45041d;  // catches use after destroy / foreign pointers
};

namespace vkattn {
using Tensor = vkattn_tensor_s;
constexpr uint32_t kTensorMagic = 0x7e45041d;

// Checks the dtype, rank and shape and computes elements/bytes with
// overflow checks. `what` names the argument in messages.
Status check_shape(vkattn_dtype dtype, int32_t ndim, const int64_t *shape, const char *what, uint64_t *elements,
                   uint64_t *bytes);
Status tensor_create(Context &ctx, vkattn_dtype dtype, int32_t ndim, const int64_t *shape,
                     std::unique_ptr<Tensor> *out);
}  // namespace vkattn
