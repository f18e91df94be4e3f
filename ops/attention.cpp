// Flash attention, portable path: validate -> plan (variant, split-KV,
// windows) -> record -> submit. See shaders/attention.comp for the kernel.
#include "attention.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "attention_coopmat.h"
#include "attention_params.h"
#include "op_common.h"
#include "pipelines.h"
#include "shader_ids.h"

namespace vkattn::ops {
namespace attn {
namespace {

uint64_t esize(vkattn_dtype t) {
    return vkattn_dtype_size(t);
}

// Mask strides as the kernel sees them: 0 along broadcast dims.
int64_t mask_stride(const vkattn_attention_desc &d, int i) {
    return d.mask.shape[i] == 1 ? 0 : d.mask.strides[i];
}

Config choose_config(const Context &ctx, int64_t D, int64_t Dv) {
    Config c;
    c.wg = 128;
    c.hdk = static_cast<uint32_t>(round_up(static_cast<uint64_t>(D), 8));
    c.hdv = static_cast<uint32_t>(round_up(static_cast<uint64_t>(Dv), 8));
    // Measured on an H200 (f16, SDXL/Flux/VAE shapes): 32 x 32 tiles beat
    // 64 x 64 by ~1.7x (fewer registers, more resident workgroups); Dv = 512
    // prefers 64 keys per block.
    c.br = 32;
    c.bc = c.hdv > 256 ? 64 : 32;
    if (ctx.caps().info.device_type == VKATTN_DEVICE_CPU) {
        // CPU drivers (lavapipe) JIT every pipeline with LLVM: smaller
        // register tiles compile several times faster and run as fast there.
        c.bc = 32;
        c.br = c.hdv <= 128 ? 32 : 16;
    }
    auto fix = [&] {
        c.dc = (c.hdk % 32 == 0 && c.hdv <= 256) ? 32 : (c.hdk % 16 == 0 ? 16 : 8);
        c.bv = 1;
        while (c.bv * 2 <= c.bc && c.bv * 2 * c.hdv <= 2048) c.bv *= 2;
        c.u_size = std::max({(c.br + c.bc) * (c.dc + 1), c.bv * c.hdv, 2 * c.wg});
    };
    fix();
    // Tuning hook: Tuning::attn_tile = "br,bc,dc" (each a power of two; checked below).
    if (const std::string &tile = ctx.tuning().attn_tile; !tile.empty()) {
        const char *e = tile.c_str();
        unsigned br = 0, bc = 0, dc = 0;
        auto pow2 = [](unsigned x, unsigned lo, unsigned hi) { return x >= lo && x <= hi && (x & (x - 1)) == 0; };
        if (std::sscanf(e, "%u,%u,%u", &br, &bc, &dc) == 3 && pow2(br, 16, 128) && pow2(bc, 16, 128) &&
            pow2(dc, 8, 64)) {
            c.br = br, c.bc = bc;
            fix();
            if (dc && c.hdk % dc == 0) {
                c.dc = dc;
                c.u_size = std::max({(c.br + c.bc) * (c.dc + 1), c.bv * c.hdv, 2 * c.wg});
            }
        }
    }
    const uint32_t limit = ctx.caps().info.max_shared_memory ? ctx.caps().info.max_shared_memory : 16384;
    // Devices with little shared memory get narrower tiles (16 rows stays
    // legal for the 128-thread grids).
    while (c.shared_bytes() > limit && (c.br > 16 || c.bc > 16)) {
        if (c.br > 16)
            c.br /= 2;
        else
            c.bc /= 2;
        fix();
    }
    return c;
}

// ---- contiguous-head-dim fast variant (shaders/attention_fast.comp) ----

// q, k, v have stride_d == 1, D and Dv are multiples of 4 and every row
// start (offset, batch/head/row strides) is a multiple of 4 elements, so
// the kernel can load 4 elements at a time from any window the plan makes.
bool fast_eligible(const vkattn_attention_desc &d) {
    if (d.q.shape[3] % 4 != 0 || d.v.shape[3] % 4 != 0) return false;
    for (const vkattn_view *v : {&d.q, &d.k, &d.v}) {
        if (v->strides[3] != 1 || v->offset % 4 != 0) return false;
        for (int i = 0; i < 3; i++)
            if (v->strides[i] % 4 != 0) return false;
    }
    return true;
}

// Shared bytes the fast kernel really uses.
uint32_t fast_shared_bytes(const Config &c) {
    const uint32_t ps4 = (c.bc / 4) | 1u, tc = (c.bv >> 8) & 0xffu;
    return 16u * c.br * ps4 + 4u * c.u_size + 4u * c.br * tc;  // sP, sU, sR
}

// Fills in dc, bv (packed with tc, otc; the caller adds PREF), u_size, hdk, hdv for a tiling
// (wg, br, bc). Returns false when the tiling cannot work.
bool fast_fix(Config &c, int64_t D, int64_t Dv, uint32_t tc, uint32_t otc, uint32_t dc_want) {
    c.hdk = static_cast<uint32_t>(round_up(static_cast<uint64_t>(D), 4));
    if (c.bc % 4 != 0) return false;
    // bv, tc and otc travel in 8-bit fields of one specialization constant.
    if (tc == 0 || tc > 255 || otc > 255) return false;
    if (c.wg % tc != 0 || c.bc % tc != 0 || c.br % (c.wg / tc) != 0) return false;
    if (otc == 0 || c.wg % otc != 0 || c.br % (c.wg / otc) != 0) return false;
    c.hdv = static_cast<uint32_t>(round_up(static_cast<uint64_t>(Dv), 4 * otc));
    c.dc = 0;
    if (dc_want && dc_want % 4 == 0 && c.hdk % dc_want == 0) c.dc = dc_want;
    for (uint32_t dc : {32u, 40u, 24u, 48u, 16u, 8u, 4u})
        if (!c.dc && c.hdk % dc == 0) c.dc = dc;
    const uint32_t qk = (c.br + c.bc) * 4u * ((c.dc / 4) | 1u);
    uint32_t bv = 4;
    while (bv * 2 <= c.bc && bv * 2 <= 128 && c.bc % (bv * 2) == 0 && bv * 2 * c.hdv <= std::max(qk, 4096u)) bv *= 2;
    if (c.bc % bv != 0) return false;
    c.bv = bv | (tc << 8) | (otc << 16);
    c.u_size = std::max(qk, bv * c.hdv);
    return true;
}

// Threads along Dv: the fewest that keep every row group busy, then as many
// as keep the register tile roughly square.
uint32_t fast_otc(const Config &c, int64_t Dv) {
    const uint32_t hdv4 = static_cast<uint32_t>(div_up(static_cast<uint64_t>(Dv), 4));
    uint32_t best = 0;
    double best_cost = 1e30;
    for (uint32_t otc = 1; otc <= c.wg; otc *= 2) {
        if (c.br % (c.wg / otc) != 0) continue;
        const uint32_t om = c.br * otc / c.wg;
        const uint32_t on4 = static_cast<uint32_t>(div_up(hdv4, otc));
        const double waste = static_cast<double>(on4 * otc) / hdv4;
        const double cost = waste * (1.0 + 4.0 * (1.0 / (16.0 * on4) + 1.0 / (4.0 * om)));
        if (cost < best_cost) best_cost = cost, best = otc;
    }
    return best;
}

// Returns false when no fast tiling fits the device.
bool choose_fast_config(const Context &ctx, int64_t D, int64_t Dv, Config *out) {
    Config c;
    const bool cpu = ctx.caps().info.device_type == VKATTN_DEVICE_CPU;
    c.wg = 128;
    if (cpu) {
        // lavapipe JITs every pipeline with LLVM: small register tiles
        // (4 scores per thread) keep compile times low.
        c.br = 16;
        c.bc = 32;
    } else {
        // Measured on an H200 (f16; SD1.5/SDXL/SD3/Flux/VAE shapes): 256
        // threads with 64 x 64 tiles beat 128 threads (1.1-1.3x) and
        // 128-row or 32-key tiles.
        c.wg = 256;
        c.br = 64;
        c.bc = 64;
    }
    uint32_t tc = 16, dc = 0, otc = 0;
    // Tuning hook: Tuning::attn_fast = "wg,br,bc,tc,otc,dc" (0 = default).
    if (const std::string &fast = ctx.tuning().attn_fast; !fast.empty()) {
        const char *e = fast.c_str();
        unsigned v[6] = {0, 0, 0, 0, 0, 0};
        std::sscanf(e, "%u,%u,%u,%u,%u,%u", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]);
        auto pow2 = [](unsigned x, unsigned lo, unsigned hi) { return x >= lo && x <= hi && (x & (x - 1)) == 0; };
        if (pow2(v[0], 32, 512)) c.wg = v[0];
        if (pow2(v[1], 8, 256)) c.br = v[1];
        if (pow2(v[2], 8, 256)) c.bc = v[2];
        if (pow2(v[3], 1, 256)) tc = v[3];
        if (pow2(v[4], 1, 256)) otc = v[4];
        dc = v[5];
    }
    const uint32_t limit = ctx.caps().info.max_shared_memory ? ctx.caps().info.max_shared_memory : 16384;
    for (int guard = 0; guard < 16; guard++) {
        if (c.br > c.wg) c.br = c.wg;
        uint32_t t = std::min(tc, c.bc);
        while (t < c.wg && c.br % (c.wg / t) != 0) t *= 2;
        if (t > c.bc || c.wg % t != 0 || c.br % (c.wg / t) != 0) t = 0;
        const uint32_t o = otc ? otc : fast_otc(c, Dv);
        Config f = c;
        if (t && o && fast_fix(f, D, Dv, t, o, dc) && fast_shared_bytes(f) <= limit) {
            // Global loads one phase ahead (attention_fast.comp PREF); Tuning::attn_prefetch turns it off.
            if (ctx.tuning().attn_prefetch) f.bv |= 1u << 24;
            *out = f;
            return true;
        }
        if (c.bc > 16)
            c.bc /= 2;
        else if (c.br > 8)
            c.br /= 2;
        else
            return false;
    }
    return false;
}

}  // namespace

namespace {

// The portable variants of each dtype pair validate_desc admits, found by
// their defines (shaders/attention_variants.cmake; IN_DTYPE and OUT_DTYPE are
// vkattn_dtype values) when this file compiles: a pair without its variants
// does not build.
struct DtypeVariants {
    vkattn_dtype in, out;
    ShaderId portable, fast;
};
consteval DtypeVariants dtype_variants(vkattn_dtype in, vkattn_dtype out) {
    return {in, out, variant_where<ShaderId>("attention.comp", {{"IN_DTYPE", in}, {"OUT_DTYPE", out}}),
            variant_where<ShaderId>("attention_fast.comp", {{"IN_DTYPE", in}, {"OUT_DTYPE", out}})};
}
constexpr DtypeVariants kDtypeVariants[] = {
    dtype_variants(VKATTN_DTYPE_F32, VKATTN_DTYPE_F32),  dtype_variants(VKATTN_DTYPE_F16, VKATTN_DTYPE_F16),
    dtype_variants(VKATTN_DTYPE_F16, VKATTN_DTYPE_F32),  dtype_variants(VKATTN_DTYPE_BF16, VKATTN_DTYPE_BF16),
    dtype_variants(VKATTN_DTYPE_BF16, VKATTN_DTYPE_F32),
};
// The split-KV reduction, by output dtype.
struct CombineVariant {
    vkattn_dtype out;
    ShaderId id;
};
consteval CombineVariant combine_variant(vkattn_dtype out) {
    return {out, variant_where<ShaderId>("attention_combine.comp", {{"OUT_DTYPE", out}})};
}
constexpr CombineVariant kCombineVariants[] = {combine_variant(VKATTN_DTYPE_F32), combine_variant(VKATTN_DTYPE_F16),
                                               combine_variant(VKATTN_DTYPE_BF16)};

}  // namespace

std::string plan_path(const Plan &plan, bool split) {
    return cat(plan.split.on           ? "coopmat_nv_f32"
               : plan_is_coopmat(plan) ? "coopmat_nv"
                                       : "portable",
               split ? "+splitkv" : "");
}

std::string plan_variant(const Plan &plan) {
    return cat(shader_variant(plan.shader).name, "_d", plan.cfg.hdk,
               plan.cfg.hdv != plan.cfg.hdk ? cat("v", plan.cfg.hdv) : "", " br", plan.cfg.br, " bc", plan.cfg.bc);
}

Status validate_desc(const vkattn_attention_desc &d) {
    if (!is_float_dtype(d.dtype))
        return Error(VKATTN_ERROR_INVALID_DTYPE, "desc->dtype = ", static_cast<int>(d.dtype), " (", dtype_name(d.dtype),
                     ") must be F32, F16 or BF16");
    if (d.out_dtype != d.dtype && d.out_dtype != VKATTN_DTYPE_F32)
        return Error(VKATTN_ERROR_INVALID_DTYPE, "desc->out_dtype = ", static_cast<int>(d.out_dtype), " (",
                     dtype_name(d.out_dtype), ") must be desc->dtype (", dtype_name(d.dtype), ") or F32");
    const uint32_t known =
        VKATTN_ATTENTION_SCALE | VKATTN_ATTENTION_CAUSAL | VKATTN_ATTENTION_LSE | VKATTN_ATTENTION_F16_COMPUTE;
    if (d.flags & ~known)
        return Error(VKATTN_ERROR_INVALID_ARGUMENT, "desc->flags = 0x", std::hex, d.flags, " has unknown bits 0x",
                     d.flags & ~known);
    if ((d.flags & VKATTN_ATTENTION_SCALE) && !std::isfinite(d.scale))
        return Error(VKATTN_ERROR_INVALID_ARGUMENT, "desc->scale = ", d.scale, " must be finite");
    if (d.backend != VKATTN_BACKEND_AUTO && d.backend != VKATTN_BACKEND_PORTABLE && d.backend != VKATTN_BACKEND_COOPMAT)
        return Error(VKATTN_ERROR_INVALID_ARGUMENT, "desc->backend = ", static_cast<int>(d.backend), " is unknown");
    if (d.mask_kind != VKATTN_MASK_NONE && d.mask_kind != VKATTN_MASK_ADDITIVE && d.mask_kind != VKATTN_MASK_BOOL)
        return Error(VKATTN_ERROR_INVALID_ARGUMENT, "desc->mask_kind = ", static_cast<int>(d.mask_kind), " is unknown");
    if (d.mask_kind == VKATTN_MASK_ADDITIVE && d.mask_dtype != VKATTN_DTYPE_F32 && d.mask_dtype != VKATTN_DTYPE_F16)
        return Error(VKATTN_ERROR_INVALID_DTYPE, "desc->mask_dtype = ", dtype_name(d.mask_dtype),
                     ": an additive mask is F32 or F16");
    if (d.mask_kind == VKATTN_MASK_BOOL && d.mask_dtype != VKATTN_DTYPE_BOOL)
        return Error(VKATTN_ERROR_INVALID_DTYPE, "desc->mask_dtype = ", dtype_name(d.mask_dtype),
                     ": a bool mask is BOOL");

    const uint64_t es = esize(d.dtype), oes = esize(d.out_dtype);
    VKA_RETURN_IF_ERROR(check_view(d.q, "q", es, false));
    VKA_RETURN_IF_ERROR(check_view(d.k, "k", es, false));
    VKA_RETURN_IF_ERROR(check_view(d.v, "v", es, false));
    VKA_RETURN_IF_ERROR(check_view(d.out, "out", oes, true));
    const auto [B, Hq, Nq, D, Hkv, Nk, Dv] = dims(d);
    VKA_RETURN_IF_ERROR(expect_dim(d.k, "k", 0, B, "B", "desc->q.shape[0]"));
    VKA_RETURN_IF_ERROR(expect_dim(d.k, "k", 3, D, "D", "desc->q.shape[3]"));
    VKA_RETURN_IF_ERROR(expect_dim(d.v, "v", 0, B, "B", "desc->q.shape[0]"));
    VKA_RETURN_IF_ERROR(expect_dim(d.v, "v", 1, Hkv, "Hkv", "desc->k.shape[1]"));
    VKA_RETURN_IF_ERROR(expect_dim(d.v, "v", 2, Nk, "Nk", "desc->k.shape[2]"));
    if (Hq % Hkv != 0)
        return Error(VKATTN_ERROR_SHAPE_MISMATCH, "desc->k.shape[1] (Hkv = ", Hkv,
                     ") does not divide desc->q.shape[1] (Hq = ", Hq, ")");
    VKA_RETURN_IF_ERROR(expect_dim(d.out, "out", 0, B, "B", "desc->q.shape[0]"));
    VKA_RETURN_IF_ERROR(expect_dim(d.out, "out", 1, Hq, "Hq", "desc->q.shape[1]"));
    VKA_RETURN_IF_ERROR(expect_dim(d.out, "out", 2, Nq, "Nq", "desc->q.shape[2]"));
    VKA_RETURN_IF_ERROR(expect_dim(d.out, "out", 3, Dv, "Dv", "desc->v.shape[3]"));
    if (D > 512) return Error(VKATTN_ERROR_INVALID_SHAPE, "desc->q.shape[3] (D = ", D, ") must be <= 512");
    if (Dv > 512) return Error(VKATTN_ERROR_INVALID_SHAPE, "desc->v.shape[3] (Dv = ", Dv, ") must be <= 512");
    int64_t t;
    if (__builtin_mul_overflow(B, Hq, &t) || __builtin_mul_overflow(t, Nq, &t) || __builtin_mul_overflow(t, Nk, &t) ||
        __builtin_mul_overflow(t, std::max<int64_t>(D, Dv), &t))
        return Error(VKATTN_ERROR_SIZE_OVERFLOW, "B * Hq * Nq * Nk * max(D, Dv) (", B, " * ", Hq, " * ", Nq, " * ", Nk,
                     " * ", std::max(D, Dv), ") does not fit in 63 bits");
    if (d.mask_kind != VKATTN_MASK_NONE) {
        VKA_RETURN_IF_ERROR(check_view(d.mask, "mask", esize(d.mask_dtype), false));
        const int64_t full[4] = {B, Hq, Nq, Nk};
        const char *names[4] = {"B", "Hq", "Nq", "Nk"};
        for (int i = 0; i < 4; i++)
            if (d.mask.shape[i] != 1 && d.mask.shape[i] != full[i])
                return Error(VKATTN_ERROR_SHAPE_MISMATCH, "desc->mask.shape[", i, "] = ", d.mask.shape[i],
                             " must be 1 or ", names[i], " = ", full[i]);
    }
    if (d.flags & VKATTN_ATTENTION_LSE) {
        VKA_RETURN_IF_ERROR(check_view(d.lse, "lse", 4, true));
        VKA_RETURN_IF_ERROR(expect_dim(d.lse, "lse", 0, B, "B", "desc->q.shape[0]"));
        VKA_RETURN_IF_ERROR(expect_dim(d.lse, "lse", 1, Hq, "Hq", "desc->q.shape[1]"));
        VKA_RETURN_IF_ERROR(expect_dim(d.lse, "lse", 2, Nq, "Nq", "desc->q.shape[2]"));
        VKA_RETURN_IF_ERROR(expect_dim(d.lse, "lse", 3, 1, "1", "the lse layout [B, Hq, Nq, 1]"));
    }
    return Status::Ok();
}

Status make_plan(Context &ctx, const vkattn_attention_desc &d, Plan *plan) {
    const Caps &caps = ctx.caps();
    Plan p;
    const auto [B, Hq, Nq, D, Hkv, Nk, Dv] = dims(d);
    const int64_t G = Hq / Hkv;
    p.cfg = choose_config(ctx, D, Dv);
    const DtypeVariants *dv = nullptr;
    for (const DtypeVariants &v : kDtypeVariants)
        if (v.in == d.dtype && v.out == d.out_dtype) dv = &v;
    const CombineVariant *cv = nullptr;
    for (const CombineVariant &v : kCombineVariants)
        if (v.out == d.out_dtype) cv = &v;
    if (!dv || !cv)
        return Error(VKATTN_ERROR_INTERNAL, "attention: no variant for ", dtype_name(d.dtype), " inputs and ",
                     dtype_name(d.out_dtype), " outputs");
    p.shader = dv->portable;
    // Contiguous head dims take the vectorised variant (Tuning::attn_generic
    // forces the generic-stride kernel, for comparison).
    bool fast = false;
    if (!ctx.tuning().attn_generic && fast_eligible(d)) {
        Config f;
        if (choose_fast_config(ctx, D, Dv, &f)) {  // checks its own shared memory use
            fast = true;
            p.cfg = f;
            p.shader = dv->fast;
#ifdef VKATTN_TUNING_VARIANTS
            // Tuning builds: Tuning::attn_fast_variant = abl<N> runs an ablation (wrong results on purpose, timing
            // only).
            if (const std::string &abl = ctx.tuning().attn_fast_variant; !abl.empty()) {
                if (auto v = variant_named<ShaderId>(cat(shader_variant(p.shader).name, "_", abl))) p.shader = *v;
            }
#endif
        }
    }
    p.combine_shader = cv->id;
    // The matrix-unit kernel shares this interface and tiling logic; it
    // replaces shader and cfg where the device and the case allow it.
    bool coopmat = false;
    if (d.backend != VKATTN_BACKEND_PORTABLE) VKA_RETURN_IF_ERROR(choose_coopmat(ctx, d, &p, &coopmat));
    const Config &c = p.cfg;
    if (!coopmat && !fast && c.shared_bytes() > caps.info.max_shared_memory)
        return Error(VKATTN_ERROR_UNSUPPORTED, "attention needs ", c.shared_bytes(),
                     " bytes of shared memory; the device has ", caps.info.max_shared_memory);

    // Split-KV: when (batch x heads x query blocks) cannot fill the device,
    // split the keys too and merge the partial results in a second pass.
    const uint64_t nkb = div_up(static_cast<uint64_t>(Nk), c.bc);
    const uint64_t units = static_cast<uint64_t>(B * Hq) * div_up(static_cast<uint64_t>(Nq), c.br);
    uint64_t splits = std::min<uint32_t>(ctx.tuning().force_splitkv, 1024);  // test hook: 0 = chosen
    if (splits == 0) {
        const uint64_t target = caps.info.device_type == VKATTN_DEVICE_CPU ? 8 : 1024;
        splits = 1;
        if (units * 4 < target) splits = std::min<uint64_t>(div_up(target, units), std::max<uint64_t>(1, nkb / 4));
        splits = std::min<uint64_t>(splits, 64);
    }
    splits = std::max<uint64_t>(1, std::min<uint64_t>(splits, nkb));

    // Tiles: everything, shrunk until every binding window fits the max
    // buffer range and the grid fits the workgroup-count limits.
    const uint64_t range = caps.max_buffer_range ? caps.max_buffer_range : caps.info.max_storage_buffer_range;
    const uint64_t align = std::max<uint64_t>(caps.info.min_storage_buffer_offset_alignment, 16);
    const auto &lim = caps.props.limits.maxComputeWorkGroupCount;
    const uint64_t es = esize(d.dtype), oes = esize(d.out_dtype);
    const bool has_mask = d.mask_kind != VKATTN_MASK_NONE, has_lse = (d.flags & VKATTN_ATTENTION_LSE) != 0;
    int64_t mstr[4] = {0, 0, 0, 0};
    if (has_mask)
        for (int i = 0; i < 4; i++) mstr[i] = mask_stride(d, i);
    int64_t tb = B, th = Hq, tq = Nq, tk = Nk;
    uint64_t split_len = 0, parts = 1, ws = 0;
    auto update = [&] {
        const uint64_t kb_chunk = div_up(static_cast<uint64_t>(tk), c.bc);
        const uint64_t s = std::min<uint64_t>(splits, kb_chunk);
        split_len = div_up(kb_chunk, s) * c.bc;
        const uint64_t per_chunk = div_up(static_cast<uint64_t>(tk), split_len);
        parts = div_up(static_cast<uint64_t>(Nk), static_cast<uint64_t>(tk)) * per_chunk;
        ws = parts > 1 ? parts * static_cast<uint64_t>(tb * th * tq) * static_cast<uint64_t>(Dv + 2) * 4 : 0;
    };
    auto fits_q = [&] {
        const int64_t eq[4] = {tb, th, tq, D}, eo[4] = {tb, th, tq, Dv}, el[4] = {tb, th, tq, 1};
        return window_need(d.q.strides, eq, es, align) <= range &&
               window_need(d.out.strides, eo, oes, align) <= range &&
               (!has_lse || window_need(d.lse.strides, el, 4, align) <= range);
    };
    auto fits_k = [&] {
        // kv heads that th consecutive query heads can touch
        const int64_t kvh = std::min<int64_t>(Hkv, th % G == 0 ? th / G : (th + G - 2) / G + 1);
        const int64_t ek[4] = {tb, kvh, tk, D}, ev[4] = {tb, kvh, tk, Dv};
        return window_need(d.k.strides, ek, es, align) <= range && window_need(d.v.strides, ev, es, align) <= range;
    };
    auto fits_m = [&] {
        if (!has_mask) return true;
        const int64_t em[4] = {tb, th, tq, tk};
        return window_need(mstr, em, esize(d.mask_dtype), align) <= range;
    };
    auto fits_ws = [&] { return ws + 16 <= range; };
    auto fits_grid = [&] {
        return div_up(static_cast<uint64_t>(tq), c.br) <= lim[0] && static_cast<uint64_t>(tb * th) <= lim[1] &&
               (parts <= 1 || static_cast<uint64_t>(tq) <= lim[0]);
    };
    update();
    auto halve = [](int64_t &x) { x = (x + 1) / 2; };
    for (int guard = 0; guard < 256; guard++) {
        const bool q_ok = fits_q(), k_ok = fits_k(), m_ok = fits_m(), ws_ok = fits_ws(), g_ok = fits_grid();
        if (q_ok && k_ok && m_ok && ws_ok && g_ok) break;
        if (tb > 1)
            halve(tb);
        else if (th > 1)
            halve(th);
        else if ((!q_ok || !g_ok) && tq > 1)
            halve(tq);
        else if (!k_ok && tk > 1) {
            // Whole key blocks per chunk while possible.
            tk = tk > static_cast<int64_t>(c.bc) ? static_cast<int64_t>(round_up(div_up(tk, 2), c.bc)) : (tk + 1) / 2;
        } else if (!m_ok && (tq > 1 || tk > 1)) {
            if (mstr[2] != 0 && tq > 1 && (tq >= tk || mstr[3] == 0 || tk == 1))
                halve(tq);
            else if (tk > 1)
                halve(tk);
            else
                halve(tq);
        } else if (!ws_ok && tq > 1)
            halve(tq);
        else
            return Error(VKATTN_ERROR_UNSUPPORTED, "attention: one query row (D = ", D, ", Dv = ", Dv,
                         ") does not fit the max buffer range of ", range, " bytes with these strides");
        update();
    }
    if (!(fits_q() && fits_k() && fits_m() && fits_ws() && fits_grid()))
        return Error(VKATTN_ERROR_INTERNAL, "attention: no tiling fits the max buffer range");
    const bool windowed = tb < B || th < Hq || tq < Nq || tk < Nk;
    if (coopmat && d.dtype == VKATTN_DTYPE_F32) {
        // f32 on the matrix units: the f16 pairs of q, k and v follow the
        // partials in the workspace. The split kernel reads whole tensors:
        // calls that need windows go to the portable path.
        plan_split(d, c.hdk, ws, &p.split);
        // (batch x heads within the workgroup-count limit: fits_grid.)
        const char *why = windowed                             ? "the call needs windows over its tensors"
                          : split_max_binding(p.split) > range ? "a split copy exceeds the max buffer range"
                                                               : nullptr;
        if (why) {
            if (d.backend == VKATTN_BACKEND_COOPMAT)
                return Error(VKATTN_ERROR_UNSUPPORTED,
                             "desc->backend = VKATTN_BACKEND_COOPMAT: f32 inputs on the "
                             "matrix units need whole tensors in one binding, and ",
                             why);
            vkattn_attention_desc dd = d;
            dd.backend = VKATTN_BACKEND_PORTABLE;
            return make_plan(ctx, dd, plan);
        }
        ws = p.split.total;
    }
    p.splits = static_cast<uint32_t>(std::min<uint64_t>(splits, div_up(static_cast<uint64_t>(tk), split_len)));
    p.split_len = split_len;
    p.tb = tb, p.th = th, p.tq = tq, p.tk = tk;
    p.parts = static_cast<uint32_t>(parts);
    p.workspace = ws;
    p.windowed = windowed;
    *plan = p;
    return Status::Ok();
}

Status record(Context &ctx, const vkattn_attention_desc &d, const Plan &p, const Buffers &bufs, uint32_t *dispatches) {
    const Caps &caps = ctx.caps();
    const Config &c = p.cfg;
    const auto [B, Hq, Nq, D, Hkv, Nk, Dv] = dims(d);
    const int64_t G = Hq / Hkv;
    const uint64_t align = std::max<uint64_t>(caps.info.min_storage_buffer_offset_alignment, 16);
    const uint64_t es = esize(d.dtype), oes = esize(d.out_dtype);
    const bool has_mask = d.mask_kind != VKATTN_MASK_NONE, has_lse = (d.flags & VKATTN_ATTENTION_LSE) != 0;
    const bool partials = p.parts > 1;

    ShaderInterface iface;
    iface.bindings = {VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER};
    for (int i = 0; i < 7; i++) iface.bindings.push_back(VK_DESCRIPTOR_TYPE_STORAGE_BUFFER);
    iface.push_constant_size = sizeof(AttnPush);
    iface.spec_ids = {1, 2, 3, 4, 5, 6, 7};
    const SpecValues spec = {{0, c.wg}, {1, c.hdk}, {2, c.hdv}, {3, c.br},
                             {4, c.bc}, {5, c.dc},  {6, c.bv},  {7, c.u_size}};
    Pipeline *main = nullptr, *combine = nullptr;
    VKA_RETURN_IF_ERROR(ctx.pipelines().get(p.shader, iface, spec, &main));
    if (partials) {
        ShaderInterface ci;
        ci.bindings = {VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                       VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER};
        ci.push_constant_size = sizeof(AttnPush);
        VKA_RETURN_IF_ERROR(ctx.pipelines().get(p.combine_shader, ci, {{0, 64}}, &combine));
        if (!bufs.workspace || bufs.workspace->size() < p.workspace)
            return Error(VKATTN_ERROR_INTERNAL, "attention: workspace of ", p.workspace, " bytes missing");
    }

    AttnParams prm{};
    prm.nq = static_cast<uint32_t>(Nq);
    prm.nk = static_cast<uint32_t>(Nk);
    prm.d = static_cast<uint32_t>(D);
    prm.dv = static_cast<uint32_t>(Dv);
    prm.group = static_cast<uint32_t>(G);
    prm.flags = ((d.flags & VKATTN_ATTENTION_CAUSAL) ? VKA_ATTN_CAUSAL : 0u) | (has_lse ? VKA_ATTN_LSE : 0u);
    prm.mask_kind = !has_mask                          ? VKA_MASK_NONE
                    : d.mask_kind == VKATTN_MASK_BOOL  ? VKA_MASK_BOOL
                    : d.mask_dtype == VKATTN_DTYPE_F16 ? VKA_MASK_F16
                                                       : VKA_MASK_F32;
    prm.scale =
        (d.flags & VKATTN_ATTENTION_SCALE) ? d.scale : static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
    prm.split_len = static_cast<uint32_t>(p.split_len);
    auto u = [](int64_t s) { return static_cast<uint32_t>(static_cast<uint64_t>(s)); };  // mod 2^32
    prm.q_sb = u(d.q.strides[0]), prm.q_sh = u(d.q.strides[1]), prm.q_sn = u(d.q.strides[2]),
    prm.q_sd = u(d.q.strides[3]);
    prm.k_sb = u(d.k.strides[0]), prm.k_sh = u(d.k.strides[1]), prm.k_sn = u(d.k.strides[2]),
    prm.k_sd = u(d.k.strides[3]);
    prm.v_sb = u(d.v.strides[0]), prm.v_sh = u(d.v.strides[1]), prm.v_sn = u(d.v.strides[2]),
    prm.v_sd = u(d.v.strides[3]);
    prm.o_sb = u(d.out.strides[0]), prm.o_sh = u(d.out.strides[1]), prm.o_sn = u(d.out.strides[2]),
    prm.o_sd = u(d.out.strides[3]);
    int64_t mstr[4] = {0, 0, 0, 0};
    if (has_mask)
        for (int i = 0; i < 4; i++) mstr[i] = mask_stride(d, i);
    prm.m_sb = u(mstr[0]), prm.m_sh = u(mstr[1]), prm.m_sn = u(mstr[2]), prm.m_sd = u(mstr[3]);
    if (has_lse) prm.l_sb = u(d.lse.strides[0]), prm.l_sh = u(d.lse.strides[1]), prm.l_sn = u(d.lse.strides[2]);
    if (p.split.on) {
        // The kernel reads the split copies: dense rows of hi then lo (2 * hd
        // halves), the exponent table after the q copy.
        if (p.windowed || !bufs.workspace || bufs.workspace->size() < p.split.total)
            return Error(VKATTN_ERROR_INTERNAL, "attention: split plan without its workspace or with windows");
        const uint32_t row = 2 * p.split.hd;
        prm.q_sn = row, prm.q_sh = u(Nq) * row, prm.q_sb = u(Hq) * u(Nq) * row, prm.q_sd = 1;
        prm.k_sn = row, prm.k_sh = u(Nk) * row, prm.k_sb = u(Hkv) * u(Nk) * row, prm.k_sd = 1;
        prm.v_sn = row, prm.v_sh = u(Nk) * row, prm.v_sb = u(Hkv) * u(Nk) * row, prm.v_sd = 1;
        prm.pad0 = p.split.tab_index;
        const int64_t z[4] = {0, 0, 0, 0};
        SplitSource src[3];
        Buffer *in[3] = {bufs.q, bufs.k, bufs.v};
        const vkattn_view *views[3] = {&d.q, &d.k, &d.v};
        for (int t = 0; t < 3; t++) {
            const Window w = window(*views[t], views[t]->strides, z, views[t]->shape, es, in[t]->size(), align);
            src[t].buf = in[t], src[t].offset = w.offset, src[t].range = w.range, src[t].org = w.org;
            src[t].view = views[t];
        }
        VKA_RETURN_IF_ERROR(record_split(ctx, p.split, src, bufs.workspace, dispatches));
    }
    AttnParams prm_partial = prm;
    if (partials) prm_partial.flags |= VKA_ATTN_PARTIALS;

    Binding ub_main, ub_comb;
    VKA_RETURN_IF_ERROR(ctx.stream().uniform(&prm_partial, sizeof prm_partial, &ub_main));
    if (partials) VKA_RETURN_IF_ERROR(ctx.stream().uniform(&prm, sizeof prm, &ub_comb));

    const uint64_t dummy_size = bufs.dummy->size();
    const Binding dummy_r{bufs.dummy, 0, round_up(dummy_size, 4), false};
    const Binding dummy_w{bufs.dummy, 0, round_up(dummy_size, 4), true};
    const uint64_t part_bytes = round_up(p.split.on ? p.split.partials : p.workspace, 4);
    const Binding ws_bind = partials ? Binding{bufs.workspace, 0, part_bytes, true} : dummy_w;
    const Binding ws_read = partials ? Binding{bufs.workspace, 0, part_bytes, false} : dummy_r;

    uint32_t count = 0;
    for (int64_t b0 = 0; b0 < B; b0 += p.tb)
        for (int64_t h0 = 0; h0 < Hq; h0 += p.th)
            for (int64_t q0 = 0; q0 < Nq; q0 += p.tq) {
                const int64_t nb = std::min(p.tb, B - b0), nh = std::min(p.th, Hq - h0), nq = std::min(p.tq, Nq - q0);
                const int64_t kh0 = h0 / G, nkh = (h0 + nh - 1) / G - kh0 + 1;
                AttnPush push{};
                push.h0 = static_cast<uint32_t>(h0);
                push.q0 = static_cast<uint32_t>(q0);
                push.tile_h = static_cast<uint32_t>(nh);
                push.tile_bh = static_cast<uint32_t>(nb * nh);
                push.tile_q = static_cast<uint32_t>(nq);
                push.n_parts = p.parts;
                const int64_t sq[4] = {b0, h0, q0, 0};
                const int64_t eq[4] = {nb, nh, nq, D}, eo[4] = {nb, nh, nq, Dv}, el[4] = {nb, nh, nq, 1};
                const Window wq = window(d.q, d.q.strides, sq, eq, es, bufs.q->size(), align);
                const Window wo = window(d.out, d.out.strides, sq, eo, oes, bufs.out->size(), align);
                Window wl;
                if (has_lse) wl = window(d.lse, d.lse.strides, sq, el, 4, bufs.lse->size(), align);
                push.q_org = wq.org, push.o_org = wo.org, push.l_org = wl.org;
                const Binding bo{bufs.out, wo.offset, wo.range, true};
                const Binding bl = has_lse ? Binding{bufs.lse, wl.offset, wl.range, true} : dummy_w;
                uint32_t chunk = 0;
                for (int64_t k0 = 0; k0 < Nk; k0 += p.tk, chunk++) {
                    const int64_t nk = std::min(p.tk, Nk - k0);
                    const int64_t sk[4] = {b0, kh0, k0, 0};
                    const int64_t ek[4] = {nb, nkh, nk, D}, ev[4] = {nb, nkh, nk, Dv};
                    const Window wk = window(d.k, d.k.strides, sk, ek, es, bufs.k->size(), align);
                    const Window wv = window(d.v, d.v.strides, sk, ev, es, bufs.v->size(), align);
                    Binding bm = dummy_r;
                    push.m_org = 0;
                    if (has_mask) {
                        const int64_t sm[4] = {b0, h0, q0, k0}, em[4] = {nb, nh, nq, nk};
                        const Window wm = window(d.mask, mstr, sm, em, esize(d.mask_dtype), bufs.mask->size(), align);
                        bm = Binding{bufs.mask, wm.offset, wm.range, false};
                        push.m_org = wm.org;
                    }
                    push.k_org = wk.org, push.v_org = wv.org;
                    push.k0 = static_cast<uint32_t>(k0);
                    push.k_end = static_cast<uint32_t>(k0 + nk);
                    const uint32_t per_chunk = static_cast<uint32_t>(div_up(static_cast<uint64_t>(p.tk), p.split_len));
                    push.part0 = chunk * per_chunk;
                    if (p.split.on) push.q_org = push.k_org = push.v_org = 0;
                    const SplitPlan &sp = p.split;
                    const std::vector<Binding> binds = {ub_main,
                                                        sp.on ? Binding{bufs.workspace, sp.q_off, sp.q_bytes, false}
                                                              : Binding{bufs.q, wq.offset, wq.range, false},
                                                        sp.on ? Binding{bufs.workspace, sp.k_off, sp.k_bytes, false}
                                                              : Binding{bufs.k, wk.offset, wk.range, false},
                                                        sp.on ? Binding{bufs.workspace, sp.v_off, sp.v_bytes, false}
                                                              : Binding{bufs.v, wv.offset, wv.range, false},
                                                        bm,
                                                        partials ? Binding{bufs.out, wo.offset, wo.range, false} : bo,
                                                        partials ? dummy_w : bl,
                                                        ws_bind};
                    const uint32_t gx = static_cast<uint32_t>(div_up(static_cast<uint64_t>(nq), c.br));
                    VKA_RETURN_IF_ERROR(ctx.stream().dispatch(*main, binds, &push, sizeof push, gx,
                                                              static_cast<uint32_t>(nb * nh), per_chunk));
                    count++;
                }
                if (partials) {
                    const std::vector<Binding> binds = {ub_comb, ws_read, bo, bl};
                    VKA_RETURN_IF_ERROR(ctx.stream().dispatch(*combine, binds, &push, sizeof push,
                                                              static_cast<uint32_t>(nq),
                                                              static_cast<uint32_t>(nb * nh)));
                    count++;
                }
            }
    *dispatches += count;
    return Status::Ok();
}

}  // namespace attn

Status attention_workspace_size(Context &ctx, const vkattn_attention_desc &d, uint64_t *bytes) {
    *bytes = 0;
    VKA_RETURN_IF_ERROR(attn::validate_desc(d));
    attn::Plan plan;
    VKA_RETURN_IF_ERROR(attn::make_plan(ctx, d, &plan));
    *bytes = plan.workspace;
    return Status::Ok();
}

Status attention(Context &ctx, const vkattn_attention_desc &d, Tensor *q, Tensor *k, Tensor *v, Tensor *mask,
                 Tensor *out, Tensor *lse) {
    VKA_RETURN_IF_ERROR(attn::validate_desc(d));
    if (d.flags & VKATTN_ATTENTION_F16_COMPUTE)
        return Error(VKATTN_ERROR_INVALID_ARGUMENT,
                     "desc->flags has VKATTN_ATTENTION_F16_COMPUTE, which only vkattn_attention_host serves");
    const bool has_mask = d.mask_kind != VKATTN_MASK_NONE, has_lse = (d.flags & VKATTN_ATTENTION_LSE) != 0;
    VKA_RETURN_IF_ERROR(check_tensor_view(ctx, q, "q", d.dtype, "desc->dtype", d.q));
    VKA_RETURN_IF_ERROR(check_tensor_view(ctx, k, "k", d.dtype, "desc->dtype", d.k));
    VKA_RETURN_IF_ERROR(check_tensor_view(ctx, v, "v", d.dtype, "desc->dtype", d.v));
    VKA_RETURN_IF_ERROR(check_tensor_view(ctx, out, "out", d.out_dtype, "desc->out_dtype", d.out));
    if (has_mask) VKA_RETURN_IF_ERROR(check_tensor_view(ctx, mask, "mask", d.mask_dtype, "desc->mask_dtype", d.mask));
    if (has_lse) VKA_RETURN_IF_ERROR(check_tensor_view(ctx, lse, "lse", VKATTN_DTYPE_F32, "the lse dtype", d.lse));

    // Outputs must not overlap inputs or each other.
    struct Span {
        Tensor *t;
        const vkattn_view *v;
        uint64_t es;
        const char *name;
    };
    const uint64_t es = vkattn_dtype_size(d.dtype);
    std::vector<Span> ins = {{q, &d.q, es, "q"}, {k, &d.k, es, "k"}, {v, &d.v, es, "v"}};
    if (has_mask) ins.push_back({mask, &d.mask, vkattn_dtype_size(d.mask_dtype), "mask"});
    std::vector<Span> outs = {{out, &d.out, vkattn_dtype_size(d.out_dtype), "out"}};
    if (has_lse) outs.push_back({lse, &d.lse, 4, "lse"});
    for (size_t i = 0; i < outs.size(); i++) {
        std::vector<Span> others = ins;
        for (size_t j = 0; j < i; j++) others.push_back(outs[j]);
        for (const Span &o : others) {
            if (o.t != outs[i].t) continue;
            uint64_t a0, a1, b0, b1;
            view_bytes(*outs[i].v, outs[i].es, &a0, &a1);
            view_bytes(*o.v, o.es, &b0, &b1);
            if (a0 <= b1 && b0 <= a1)
                return Error(VKATTN_ERROR_INVALID_ARGUMENT, "desc->", outs[i].name, " overlaps desc->", o.name,
                             " in the same tensor");
        }
    }

    attn::Plan plan;
    VKA_RETURN_IF_ERROR(attn::make_plan(ctx, d, &plan));
    std::unique_ptr<Buffer> ws, dummy;
    if (plan.workspace) {
        Status s = Buffer::create(ctx, Pool::Workspace, plan.workspace, &ws);
        if (!s.ok() && s.code() == VKATTN_ERROR_OUT_OF_DEVICE_MEMORY && plan.split.on &&
            d.backend == VKATTN_BACKEND_AUTO) {
            // The f16-pair copies did not fit: the portable path needs none.
            vkattn_attention_desc dd = d;
            dd.backend = VKATTN_BACKEND_PORTABLE;
            VKA_RETURN_IF_ERROR(attn::make_plan(ctx, dd, &plan));
            s = plan.workspace ? Buffer::create(ctx, Pool::Workspace, plan.workspace, &ws) : Status::Ok();
        }
        VKA_RETURN_IF_ERROR(s);
    }
    VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Workspace, 16, &dummy));
    attn::Buffers bufs;
    bufs.q = q->buffer.get(), bufs.k = k->buffer.get(), bufs.v = v->buffer.get();
    bufs.mask = has_mask ? mask->buffer.get() : nullptr;
    bufs.out = out->buffer.get();
    bufs.lse = has_lse ? lse->buffer.get() : nullptr;
    bufs.workspace = ws.get();
    bufs.dummy = dummy.get();

    CommandStream &stream = ctx.stream();
    VKA_RETURN_IF_ERROR(stream.begin());
    uint32_t dispatches = 0;
    Status s = attn::record(ctx, d, plan, bufs, &dispatches);
    if (!s.ok()) {
        (void)stream.submit(true);  // drop the partial recording cleanly
        return s;
    }
    VKA_RETURN_IF_ERROR(stream.submit(true));
    ctx.last_call.path = attn::plan_path(plan, plan.parts > 1);
    ctx.last_call.variant = cat(attn::plan_variant(plan), plan.parts > 1 ? cat(" parts", plan.parts) : "",
                                plan.windowed ? " windowed" : "");
    ctx.last_call.dispatches = dispatches;
    ctx.last_call.submits = 1;
    ctx.last_call.gpu_ms = stream.last_gpu_ms();
    ctx.last_call.dispatch_ms = stream.last_dispatch_ms();
    return Status::Ok();
}

}  // namespace vkattn::ops
