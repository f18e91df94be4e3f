// The helpers every op shares (ops/op_common.h): dtype names, view checks
// naming the descriptor field, tensor-against-view checks and binding
// windows, and the integer arithmetic of runtime/arith.h.
#include <cstring>
#include <string>

#include "op_common.h"
#include "test_util.h"

using namespace vkattn;
using namespace vkattn::ops;

namespace {

vkattn_view dense(int64_t a, int64_t b, int64_t c, int64_t d, int64_t offset = 0) {
    return vkattn_view{{a, b, c, d}, {b * c * d, c * d, d, 1}, offset};
}

bool says(const Status &s, vkattn_status code, const char *text) {
    return s.code() == code && s.message().find(text) != std::string::npos;
}

}  // namespace

TEST_CASE("op helpers: integer arithmetic", "[ops]") {
    static_assert(div_up(0, 4) == 0 && div_up(1, 4) == 1 && div_up(8, 4) == 2 && div_up(9, 4) == 3);
    static_assert(round_up(0, 8) == 0 && round_up(1, 8) == 8 && round_up(16, 8) == 16 && round_up(17, 8) == 24);
    for (uint64_t a : {1u, 3u, 4u, 256u, 65536u})
        for (uint64_t v : {0ull, 1ull, 5ull, 255ull, 256ull, 257ull, 1ull << 40}) {
            CHECK(round_up(v, a) % a == 0);
            CHECK(round_up(v, a) >= v);
            CHECK(round_up(v, a) - v < a);
            CHECK(div_up(v, a) * a == round_up(v, a));
        }
}

TEST_CASE("op helpers: dtype names", "[ops]") {
    CHECK(std::string(dtype_name(VKATTN_DTYPE_F32)) == "F32");
    CHECK(std::string(dtype_name(VKATTN_DTYPE_BF16)) == "BF16");
    CHECK(std::string(dtype_name(VKATTN_DTYPE_BOOL)) == "BOOL");
    CHECK(std::string(dtype_name(static_cast<vkattn_dtype>(77))) == "unknown");
    CHECK(std::string(dtype_tag(VKATTN_DTYPE_F16)) == "f16");
    CHECK(is_float_dtype(VKATTN_DTYPE_BF16));
    CHECK_FALSE(is_float_dtype(VKATTN_DTYPE_BOOL));
    CHECK_FALSE(is_float_dtype(static_cast<vkattn_dtype>(-1)));
}

TEST_CASE("op helpers: view checks name the field", "[ops]") {
    CHECK(check_view(dense(2, 3, 5, 7), "q", 4, true).ok());
    vkattn_view v = dense(2, 3, 5, 7);
    v.shape[2] = 0;
    CHECK(says(check_view(v, "k", 4, false), VKATTN_ERROR_INVALID_SHAPE, "desc->k.shape[2] = 0"));
    v = dense(1, 1, 1, 1);
    v.shape[3] = int64_t(1) << 31;
    CHECK(says(check_view(v, "v", 2, false), VKATTN_ERROR_SIZE_OVERFLOW, "desc->v.shape[3]"));
    v = dense(2, 3, 5, 7);
    v.strides[1] = -1;
    CHECK(says(check_view(v, "mask", 1, false), VKATTN_ERROR_INVALID_ARGUMENT, "desc->mask.strides[1] = -1"));
    v = dense(2, 3, 5, 7);
    v.strides[0] = 0;  // broadcast: fine to read, not to write
    CHECK(check_view(v, "k", 4, false).ok());
    CHECK(says(check_view(v, "out", 4, true), VKATTN_ERROR_INVALID_ARGUMENT, "desc->out.strides[0] = 0"));
    v = dense(2, 3, 5, 7, -3);
    CHECK(says(check_view(v, "q", 4, false), VKATTN_ERROR_INVALID_ARGUMENT, "desc->q.offset = -3"));
    v = dense(2, 2, 2, 2);
    v.strides[0] = INT64_MAX / 2 + 1;  // (shape-1) * stride overflows nothing, the sum does
    v.strides[1] = INT64_MAX / 2 + 1;
    CHECK(says(check_view(v, "lse", 4, false), VKATTN_ERROR_SIZE_OVERFLOW, "desc->lse reaches past 2^63"));
    v = dense(1, 1, 1, 1, INT64_MAX / 2);  // last element fine, its last byte is not
    CHECK(says(check_view(v, "q", 4, false), VKATTN_ERROR_SIZE_OVERFLOW, "past 2^63"));
    int64_t last = -1;
    REQUIRE(view_last(dense(2, 3, 5, 7, 11), "q", &last).ok());
    CHECK(last == 11 + 2 * 3 * 5 * 7 - 1);
    uint64_t lo = 0, hi = 0;
    view_bytes(dense(2, 3, 5, 7, 11), 2, &lo, &hi);
    CHECK(lo == 22);
    CHECK(hi == 2 * (11 + 210) - 1);
}

TEST_CASE("op helpers: expect_dim names both sides", "[ops]") {
    CHECK(expect_dim(dense(2, 3, 5, 7), "k", 3, 7, "D", "desc->q.shape[3]").ok());
    CHECK(says(expect_dim(dense(2, 3, 5, 8), "k", 3, 7, "D", "desc->q.shape[3]"), VKATTN_ERROR_SHAPE_MISMATCH,
               "desc->k.shape[3] = 8 but D = 7 (from desc->q.shape[3])"));
}

TEST_CASE("op helpers: binding windows", "[ops]") {
    // A [1, 1, 10, 8] f32 view at offset 3 in a 400-byte buffer; the box of
    // rows 4..5 starts at element 3 + 32 = 35 (byte 140) and ends at element
    // 3 + 47 = 50 (byte 203).
    const vkattn_view v = dense(1, 1, 10, 8, 3);
    const int64_t start[4] = {0, 0, 4, 0}, ext[4] = {1, 1, 2, 8};
    Window w = window(v, v.strides, start, ext, 4, 400, 64);
    CHECK(w.offset == 128);  // 140 aligned down to 64
    CHECK(w.offset + w.org * 4 == 140);
    CHECK(w.range == 204 - 128);  // end rounded up to 4 bytes
    CHECK(w.range <= window_need(v.strides, ext, 4, 64));
    // Clamped to the buffer's end.
    w = window(v, v.strides, start, ext, 4, 190, 64);
    CHECK(w.offset + w.range == 192);
    // Broadcast dims read with stride 0 stay in one place.
    const int64_t bstr[4] = {0, 0, 8, 1}, bstart[4] = {5, 7, 0, 0}, bext[4] = {3, 3, 1, 8};
    w = window(v, bstr, bstart, bext, 4, 400, 4);
    CHECK(w.offset == 12);
    CHECK(w.range == 32);
}

TEST_CASE("op helpers: a tensor against the view that reads it", "[ops]") {
    TestContext a, b;
    VKA_REQUIRE_DEVICE(a.ctx);
    VKA_REQUIRE_DEVICE(b.ctx);
    const int64_t shape[1] = {2 * 3 * 5 * 7};
    vkattn_tensor t = nullptr, other = nullptr;
    VKA_CHECK_OK(vkattn_tensor_create(a, VKATTN_DTYPE_F16, 1, shape, &t));
    VKA_CHECK_OK(vkattn_tensor_create(b, VKATTN_DTYPE_F16, 1, shape, &other));
    Context &ctx = *a.ctx->ctx;
    CHECK(check_tensor_view(ctx, t, "q", VKATTN_DTYPE_F16, "desc->dtype", dense(2, 3, 5, 7)).ok());
    CHECK(says(check_tensor_view(ctx, t, "q", VKATTN_DTYPE_F16, "desc->dtype", dense(2, 3, 5, 7, 1)),
               VKATTN_ERROR_OUT_OF_BOUNDS, "desc->q reaches element 210 but tensor q has 210 elements"));
    CHECK(says(check_tensor_view(ctx, t, "k", VKATTN_DTYPE_F32, "desc->dtype", dense(2, 3, 5, 7)),
               VKATTN_ERROR_INVALID_DTYPE, "tensor k is F16 but desc->dtype is F32"));
    CHECK(says(check_tensor_view(ctx, other, "v", VKATTN_DTYPE_F16, "desc->dtype", dense(2, 3, 5, 7)),
               VKATTN_ERROR_WRONG_CONTEXT, "tensor v belongs to another context"));
    CHECK(says(check_tensor_view(ctx, nullptr, "out", VKATTN_DTYPE_F16, "desc->dtype", dense(1, 1, 1, 1)),
               VKATTN_ERROR_NULL_POINTER, "tensor out is NULL"));
    vkattn_tensor_destroy(t);
    vkattn_tensor_destroy(other);
}
