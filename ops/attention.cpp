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

// The portable kernel's dc, bv and u_size for a tiling (wg, br, bc, hdk, hdv).
void fill_portable(Config &c) {
    c.dc = (c.hdk % 32 == 0 && c.hdv <= 256) ? 32 : (c.hdk % 16 == 0 ? 16 : 8);
    c.bv = 1;
    while (c.bv * 2 <= c.bc && c.bv * 2 * c.hdv <= 2048) c.bv *= 2;
    c.u_size = std::max({(c.br + c.bc) * (c.dc + 1), c.bv * c.hdv, 2 * c.wg});
}

bool pow2_in(unsigned x, unsigned lo, unsigned hi) {
    return x >= lo && x <= hi && (x & (x - 1)) == 0;
}

// Tuning hook: Tuning::attn_tile = "br,bc,dc" (each a power of two; ignored
// unless all three are in range).
void apply_tile_tuning(const Context &ctx, Config &c) {
    const std::string &tile = ctx.tuning().attn_tile;
    if (tile.empty()) return;
    unsigned br = 0, bc = 0, dc = 0;
    if (std::sscanf(tile.c_str(), "%u,%u,%u", &br, &bc, &dc) != 3 || !pow2_in(br, 16, 128) || !pow2_in(bc, 16, 128) ||
        !pow2_in(dc, 8, 64))
        return;
    c.br = br, c.bc = bc;
    fill_portable(c);
    if (dc && c.hdk % dc == 0) {
        c.dc = dc;
        c.u_size = std::max({(c.br + c.bc) * (c.dc + 1), c.bv * c.hdv, 2 * c.wg});
    }
}

Config choose_config(const Context &ctx, int64_t D, int64_t Dv) {
    Config c;
    c.kernel = Kernel::Portable;
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
    fill_portable(c);
    apply_tile_tuning(ctx, c);
    const uint32_t limit = ctx.caps().info.max_shared_memory ? ctx.caps().info.max_shared_memory : 16384;
    // Devices with little shared memory get narrower tiles (16 rows stays
    // legal for the 128-thread grids).
    while (c.shared_bytes() > limit && (c.br > 16 || c.bc > 16)) {
        if (c.br > 16)
            c.br /= 2;
        else
            c.bc /= 2;
        fill_portable(c);
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
    const uint32_t ps4 = (c.bc / 4) | 1u;
    return 16u * c.br * ps4 + 4u * c.u_size + 4u * c.br * c.tc;  // sP, sU, sR
}

// Fills in dc, bv, tc, otc, u_size, hdk, hdv for a tiling (wg, br, bc); the
// caller sets prefetch. Returns false when the tiling cannot work.
bool fast_fix(Config &c, int64_t D, int64_t Dv, uint32_t tc, uint32_t otc, uint32_t dc_want) {
    c.kernel = Kernel::Fast;
    c.hdk = static_cast<uint32_t>(round_up(static_cast<uint64_t>(D), 4));
    if (c.bc % 4 != 0) return false;
    // bv, tc and otc travel in 8-bit fields of one specialization constant (PACK).
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
    c.bv = bv, c.tc = tc, c.otc = otc;
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

// What the fast chooser starts from: the tiling (wg, br, bc) and the thread
// split it asks for (tc; otc and dc 0 = chosen).
struct FastStart {
    Config c;
    uint32_t tc = 16, otc = 0, dc = 0;
};

FastStart fast_start(const Context &ctx) {
    FastStart s;
    s.c.wg = 128;
    if (ctx.caps().info.device_type == VKATTN_DEVICE_CPU) {
        // lavapipe JITs every pipeline with LLVM: small register tiles
        // (4 scores per thread) keep compile times low.
        s.c.br = 16;
        s.c.bc = 32;
    } else {
        // Measured on an H200 (f16; SD1.5/SDXL/SD3/Flux/VAE shapes): 256
        // threads with 64 x 64 tiles beat 128 threads (1.1-1.3x) and
        // 128-row or 32-key tiles.
        s.c.wg = 256;
        s.c.br = 64;
        s.c.bc = 64;
    }
    // Tuning hook: Tuning::attn_fast = "wg,br,bc,tc,otc,dc" (0 = default).
    if (const std::string &fast = ctx.tuning().attn_fast; !fast.empty()) {
        unsigned v[6] = {0, 0, 0, 0, 0, 0};
        std::sscanf(fast.c_str(), "%u,%u,%u,%u,%u,%u", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]);
        if (pow2_in(v[0], 32, 512)) s.c.wg = v[0];
        if (pow2_in(v[1], 8, 256)) s.c.br = v[1];
        if (pow2_in(v[2], 8, 256)) s.c.bc = v[2];
        if (pow2_in(v[3], 1, 256)) s.tc = v[3];
        if (pow2_in(v[4], 1, 256)) s.otc = v[4];
        s.dc = v[5];
    }
    return s;
}

// Returns false when no fast tiling fits the device: from the start tiling,
// halves the keys per block, then the rows, until one does.
bool choose_fast_config(const Context &ctx, int64_t D, int64_t Dv, Config *out) {
    FastStart s = fast_start(ctx);
    Config &c = s.c;
    const uint32_t limit = ctx.caps().info.max_shared_memory ? ctx.caps().info.max_shared_memory : 16384;
    for (int guard = 0; guard < 16; guard++) {
        if (c.br > c.wg) c.br = c.wg;
        uint32_t t = std::min(s.tc, c.bc);
        while (t < c.wg && c.br % (c.wg / t) != 0) t *= 2;
        if (t > c.bc || c.wg % t != 0 || c.br % (c.wg / t) != 0) t = 0;
        const uint32_t o = s.otc ? s.otc : fast_otc(c, Dv);
        Config f = c;
        if (t && o && fast_fix(f, D, Dv, t, o, s.dc) && fast_shared_bytes(f) <= limit) {
            // Global loads one phase ahead (attention_fast.comp PREF); Tuning::attn_prefetch turns it off.
            f.prefetch = ctx.tuning().attn_prefetch;
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

// The specialization constants of a config: 0..4 on every kernel, 5..7 by
// kernel (Kernel).
SpecValues spec_values(const Config &c) {
    uint32_t s5 = c.dc, s6 = c.bv, s7 = c.u_size;
    switch (c.kernel) {
        case Kernel::Portable: break;
        case Kernel::Fast: s6 = c.bv | (c.tc << 8) | (c.otc << 16) | ((c.prefetch ? 1u : 0u) << 24); break;
        case Kernel::Coopmat: s5 = c.cm_layout, s6 = c.warps, s7 = c.m_tiles; break;
    }
    return {{0, c.wg}, {1, c.hdk}, {2, c.hdv}, {3, c.br}, {4, c.bc}, {5, s5}, {6, s6}, {7, s7}};
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

namespace {

// The portable and combine variants of the call's dtypes.
Status find_dtype_variants(const vkattn_attention_desc &d, const DtypeVariants **dv, const CombineVariant **cv) {
    *dv = nullptr, *cv = nullptr;
    for (const DtypeVariants &v : kDtypeVariants)
        if (v.in == d.dtype && v.out == d.out_dtype) *dv = &v;
    for (const CombineVariant &v : kCombineVariants)
        if (v.out == d.out_dtype) *cv = &v;
    if (!*dv || !*cv)
        return Error(VKATTN_ERROR_INTERNAL, "attention: no variant for ", dtype_name(d.dtype), " inputs and ",
                     dtype_name(d.out_dtype), " outputs");
    return Status::Ok();
}

// The kernel and its tiling: the portable kernel, its vectorised variant
// where the head dims are contiguous, the matrix units (when allowed) where
// the device and the case allow it. Sets *coopmat when the matrix units serve.
Status choose_kernel(Context &ctx, const vkattn_attention_desc &d, bool allow_coopmat, Plan *p, bool *coopmat) {
    const auto [B, Hq, Nq, D, Hkv, Nk, Dv] = dims(d);
    const DtypeVariants *dv = nullptr;
    const CombineVariant *cv = nullptr;
    VKA_RETURN_IF_ERROR(find_dtype_variants(d, &dv, &cv));
    p->cfg = choose_config(ctx, D, Dv);
    p->shader = dv->portable;
    // Contiguous head dims take the vectorised variant (Tuning::attn_generic
    // forces the generic-stride kernel, for comparison).
    Config f;
    if (!ctx.tuning().attn_generic && fast_eligible(d) &&
        choose_fast_config(ctx, D, Dv, &f)) {  // checks its own shared memory use
        p->cfg = f;
        p->shader = dv->fast;
#ifdef VKATTN_TUNING_VARIANTS
        // Tuning builds: Tuning::attn_fast_variant = abl<N> runs an ablation (wrong results on purpose, timing
        // only).
        if (const std::string &abl = ctx.tuning().attn_fast_variant; !abl.empty()) {
            if (auto v = variant_named<ShaderId>(cat(shader_variant(p->shader).name, "_", abl))) p->shader = *v;
        }
#endif
    }
    p->combine_shader = cv->id;
    // The matrix-unit kernel shares this interface and tiling logic; it
    // replaces shader and cfg where the device and the case allow it.
    *coopmat = false;
    if (allow_coopmat) VKA_RETURN_IF_ERROR(choose_coopmat(ctx, d, p, coopmat));
    const Config &c = p->cfg;
    const Caps &caps = ctx.caps();
    if (c.kernel == Kernel::Portable && c.shared_bytes() > caps.info.max_shared_memory)
        return Error(VKATTN_ERROR_UNSUPPORTED, "attention needs ", c.shared_bytes(),
                     " bytes of shared memory; the device has ", caps.info.max_shared_memory);
    return Status::Ok();
}

// Split-KV: when (batch x heads x query blocks) cannot fill the device,
// split the keys too and merge the partial results in a second pass.
uint64_t choose_splits(const Context &ctx, const vkattn_attention_desc &d, const Config &c) {
    const auto [B, Hq, Nq, D, Hkv, Nk, Dv] = dims(d);
    const uint64_t nkb = div_up(static_cast<uint64_t>(Nk), c.bc);
    const uint64_t units = static_cast<uint64_t>(B * Hq) * div_up(static_cast<uint64_t>(Nq), c.br);
    uint64_t splits = std::min<uint32_t>(ctx.tuning().force_splitkv, 1024);  // test hook: 0 = chosen
    if (splits == 0) {
        const uint64_t target = ctx.caps().info.device_type == VKATTN_DEVICE_CPU ? 8 : 1024;
        splits = 1;
        if (units * 4 < target) splits = std::min<uint64_t>(div_up(target, units), std::max<uint64_t>(1, nkb / 4));
        splits = std::min<uint64_t>(splits, 64);
    }
    return std::max<uint64_t>(1, std::min<uint64_t>(splits, nkb));
}

// The dispatch tile (batches, query heads, query rows, keys) and what it
// implies: keys per split, partials per tile, workspace bytes.
struct Tiles {
    int64_t tb = 1, th = 1, tq = 1, tk = 1;
    uint64_t split_len = 0, parts = 1, ws = 0;
};

// Finds the tile: everything, shrunk until every binding window fits the
// max buffer range and the grid fits the workgroup-count limits.
class TileSearch {
public:
    TileSearch(const Caps &caps, const vkattn_attention_desc &d, const Config &c, uint64_t splits, uint64_t range)
        : d_(d), c_(c), splits_(splits), range_(range), n_(dims(d)) {
        align_ = std::max<uint64_t>(caps.info.min_storage_buffer_offset_alignment, 16);
        lim_ = caps.props.limits.maxComputeWorkGroupCount;
        es_ = esize(d.dtype), oes_ = esize(d.out_dtype);
        has_mask_ = d.mask_kind != VKATTN_MASK_NONE, has_lse_ = (d.flags & VKATTN_ATTENTION_LSE) != 0;
        if (has_mask_)
            for (int i = 0; i < 4; i++) mstr_[i] = mask_stride(d, i);
        t_.tb = n_.B, t_.th = n_.Hq, t_.tq = n_.Nq, t_.tk = n_.Nk;
    }

    Status run(Tiles *out) {
        update();
        for (int guard = 0; guard < 256 && !fits(); guard++) {
            VKA_RETURN_IF_ERROR(shrink());
            update();
        }
        if (!fits()) return Error(VKATTN_ERROR_INTERNAL, "attention: no tiling fits the max buffer range");
        *out = t_;
        return Status::Ok();
    }

private:
    // Keys per split, partials and workspace of the current tile.
    void update() {
        const uint64_t kb_chunk = div_up(static_cast<uint64_t>(t_.tk), c_.bc);
        const uint64_t s = std::min<uint64_t>(splits_, kb_chunk);
        t_.split_len = div_up(kb_chunk, s) * c_.bc;
        const uint64_t per_chunk = div_up(static_cast<uint64_t>(t_.tk), t_.split_len);
        t_.parts = div_up(static_cast<uint64_t>(n_.Nk), static_cast<uint64_t>(t_.tk)) * per_chunk;
        t_.ws = t_.parts > 1
                    ? t_.parts * static_cast<uint64_t>(t_.tb * t_.th * t_.tq) * static_cast<uint64_t>(n_.Dv + 2) * 4
                    : 0;
    }
    bool fits_q() const {
        const int64_t eq[4] = {t_.tb, t_.th, t_.tq, n_.D}, eo[4] = {t_.tb, t_.th, t_.tq, n_.Dv},
                      el[4] = {t_.tb, t_.th, t_.tq, 1};
        return window_need(d_.q.strides, eq, es_, align_) <= range_ &&
               window_need(d_.out.strides, eo, oes_, align_) <= range_ &&
               (!has_lse_ || window_need(d_.lse.strides, el, 4, align_) <= range_);
    }
    bool fits_k() const {
        // kv heads that th consecutive query heads can touch
        const int64_t G = n_.Hq / n_.Hkv, th = t_.th;
        const int64_t kvh = std::min<int64_t>(n_.Hkv, th % G == 0 ? th / G : (th + G - 2) / G + 1);
        const int64_t ek[4] = {t_.tb, kvh, t_.tk, n_.D}, ev[4] = {t_.tb, kvh, t_.tk, n_.Dv};
        return window_need(d_.k.strides, ek, es_, align_) <= range_ &&
               window_need(d_.v.strides, ev, es_, align_) <= range_;
    }
    bool fits_m() const {
        if (!has_mask_) return true;
        const int64_t em[4] = {t_.tb, t_.th, t_.tq, t_.tk};
        return window_need(mstr_, em, esize(d_.mask_dtype), align_) <= range_;
    }
    bool fits_ws() const { return t_.ws + 16 <= range_; }
    bool fits_grid() const {
        return div_up(static_cast<uint64_t>(t_.tq), c_.br) <= lim_[0] &&
               static_cast<uint64_t>(t_.tb * t_.th) <= lim_[1] &&
               (t_.parts <= 1 || static_cast<uint64_t>(t_.tq) <= lim_[0]);
    }
    bool fits() const { return fits_q() && fits_k() && fits_m() && fits_ws() && fits_grid(); }

    // Halves one extent of the tile: batches, then heads, then the query rows
    // or keys whose windows do not fit.
    Status shrink() {
        const bool q_ok = fits_q(), k_ok = fits_k(), m_ok = fits_m(), ws_ok = fits_ws(), g_ok = fits_grid();
        auto halve = [](int64_t &x) { x = (x + 1) / 2; };
        int64_t &tb = t_.tb, &th = t_.th, &tq = t_.tq, &tk = t_.tk;
        if (tb > 1)
            halve(tb);
        else if (th > 1)
            halve(th);
        else if ((!q_ok || !g_ok) && tq > 1)
            halve(tq);
        else if (!k_ok && tk > 1) {
            // Whole key blocks per chunk while possible.
            tk = tk > static_cast<int64_t>(c_.bc) ? static_cast<int64_t>(round_up(div_up(tk, 2), c_.bc)) : (tk + 1) / 2;
        } else if (!m_ok && (tq > 1 || tk > 1)) {
            if (mstr_[2] != 0 && tq > 1 && (tq >= tk || mstr_[3] == 0 || tk == 1))
                halve(tq);
            else if (tk > 1)
                halve(tk);
            else
                halve(tq);
        } else if (!ws_ok && tq > 1)
            halve(tq);
        else
            return Error(VKATTN_ERROR_UNSUPPORTED, "attention: one query row (D = ", n_.D, ", Dv = ", n_.Dv,
                         ") does not fit the max buffer range of ", range_, " bytes with these strides");
        return Status::Ok();
    }

    const vkattn_attention_desc &d_;
    const Config &c_;
    uint64_t splits_, range_, align_ = 16, es_ = 0, oes_ = 0;
    const uint32_t *lim_ = nullptr;  // maxComputeWorkGroupCount
    Dims n_;
    bool has_mask_ = false, has_lse_ = false;
    int64_t mstr_[4] = {0, 0, 0, 0};
    Tiles t_;
};

// f32 on the matrix units: the f16 pairs of q, k and v follow the partials
// in the workspace. The split kernel reads whole tensors: returns why the
// call cannot have them (then the portable path serves it), or nullptr.
const char *place_split_copies(const vkattn_attention_desc &d, const Config &c, const Tiles &t, bool windowed,
                               uint64_t range, SplitPlan *split) {
    plan_split(d, c.hdk, t.ws, split);
    // (batch x heads within the workgroup-count limit: fits_grid.)
    return windowed                            ? "the call needs windows over its tensors"
           : split_max_binding(*split) > range ? "a split copy exceeds the max buffer range"
                                               : nullptr;
}

// The plan of `d` with the matrix units allowed or not. Where f32 on the
// matrix units cannot have whole tensors and desc->backend lets the portable
// path serve the call, sets *needs_portable and leaves *plan as it was.
Status plan_call(Context &ctx, const vkattn_attention_desc &d, bool allow_coopmat, Plan *plan, bool *needs_portable) {
    const Caps &caps = ctx.caps();
    const auto [B, Hq, Nq, D, Hkv, Nk, Dv] = dims(d);
    Plan p;
    bool coopmat = false;
    VKA_RETURN_IF_ERROR(choose_kernel(ctx, d, allow_coopmat, &p, &coopmat));
    const Config &c = p.cfg;
    const uint64_t splits = choose_splits(ctx, d, c);
    const uint64_t range = caps.max_buffer_range ? caps.max_buffer_range : caps.info.max_storage_buffer_range;
    Tiles t;
    VKA_RETURN_IF_ERROR(TileSearch(caps, d, c, splits, range).run(&t));
    const bool windowed = t.tb < B || t.th < Hq || t.tq < Nq || t.tk < Nk;
    uint64_t ws = t.ws;
    if (coopmat && d.dtype == VKATTN_DTYPE_F32) {
        if (const char *why = place_split_copies(d, c, t, windowed, range, &p.split)) {
            if (d.backend == VKATTN_BACKEND_COOPMAT)
                return Error(VKATTN_ERROR_UNSUPPORTED,
                             "desc->backend = VKATTN_BACKEND_COOPMAT: f32 inputs on the "
                             "matrix units need whole tensors in one binding, and ",
                             why);
            *needs_portable = true;
            return Status::Ok();
        }
        ws = p.split.total;
    }
    p.splits = static_cast<uint32_t>(std::min<uint64_t>(splits, div_up(static_cast<uint64_t>(t.tk), t.split_len)));
    p.split_len = t.split_len;
    p.tb = t.tb, p.th = t.th, p.tq = t.tq, p.tk = t.tk;
    p.parts = static_cast<uint32_t>(t.parts);
    p.workspace = ws;
    p.windowed = windowed;
    *plan = p;
    return Status::Ok();
}

}  // namespace

Status make_plan(Context &ctx, const vkattn_attention_desc &d, Plan *plan) {
    bool needs_portable = false;
    VKA_RETURN_IF_ERROR(plan_call(ctx, d, d.backend != VKATTN_BACKEND_PORTABLE, plan, &needs_portable));
    return needs_portable ? make_portable_plan(ctx, d, plan) : Status::Ok();
}

Status make_portable_plan(Context &ctx, const vkattn_attention_desc &d, Plan *plan) {
    bool needs_portable = false;  // only the matrix units set it
    return plan_call(ctx, d, false, plan, &needs_portable);
}

namespace {

// The main kernel's pipeline and, when the tiles have partials, the combine
// pass's (which also needs the workspace).
Status get_pipelines(Context &ctx, const Plan &p, const Buffers &bufs, Pipeline **main, Pipeline **combine) {
    ShaderInterface iface;
    iface.bindings = {VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER};
    for (int i = 0; i < 7; i++) iface.bindings.push_back(VK_DESCRIPTOR_TYPE_STORAGE_BUFFER);
    iface.push_constant_size = sizeof(AttnPush);
    iface.spec_ids = {1, 2, 3, 4, 5, 6, 7};
    VKA_RETURN_IF_ERROR(ctx.pipelines().get(p.shader, iface, spec_values(p.cfg), main));
    if (p.parts > 1) {
        ShaderInterface ci;
        ci.bindings = {VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                       VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER};
        ci.push_constant_size = sizeof(AttnPush);
        VKA_RETURN_IF_ERROR(ctx.pipelines().get(p.combine_shader, ci, {{0, 64}}, combine));
        if (!bufs.workspace || bufs.workspace->size() < p.workspace)
            return Error(VKATTN_ERROR_INTERNAL, "attention: workspace of ", p.workspace, " bytes missing");
    }
    return Status::Ok();
}

uint32_t mod32(int64_t s) {  // strides travel modulo 2^32
    return static_cast<uint32_t>(static_cast<uint64_t>(s));
}

// The call's uniform: sizes, flags, scale and the tensors' strides.
AttnParams call_params(const vkattn_attention_desc &d, const Plan &p) {
    const auto [B, Hq, Nq, D, Hkv, Nk, Dv] = dims(d);
    const bool has_mask = d.mask_kind != VKATTN_MASK_NONE, has_lse = (d.flags & VKATTN_ATTENTION_LSE) != 0;
    AttnParams prm{};
    prm.nq = static_cast<uint32_t>(Nq);
    prm.nk = static_cast<uint32_t>(Nk);
    prm.d = static_cast<uint32_t>(D);
    prm.dv = static_cast<uint32_t>(Dv);
    prm.group = static_cast<uint32_t>(Hq / Hkv);
    prm.flags = ((d.flags & VKATTN_ATTENTION_CAUSAL) ? VKA_ATTN_CAUSAL : 0u) | (has_lse ? VKA_ATTN_LSE : 0u);
    prm.mask_kind = !has_mask                          ? VKA_MASK_NONE
                    : d.mask_kind == VKATTN_MASK_BOOL  ? VKA_MASK_BOOL
                    : d.mask_dtype == VKATTN_DTYPE_F16 ? VKA_MASK_F16
                                                       : VKA_MASK_F32;
    prm.scale =
        (d.flags & VKATTN_ATTENTION_SCALE) ? d.scale : static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
    prm.split_len = static_cast<uint32_t>(p.split_len);
    const auto u = mod32;
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
    return prm;
}

// f32 on the matrix units: records the f16-pair copies of q, k and v into
// the workspace and points the uniform at them (dense rows of hi then lo,
// 2 * hd halves; the exponent table after the q copy).
Status record_split_copies(Context &ctx, const vkattn_attention_desc &d, const Plan &p, const Buffers &bufs,
                           AttnParams *prm, uint32_t *dispatches) {
    const auto [B, Hq, Nq, D, Hkv, Nk, Dv] = dims(d);
    if (p.windowed || !bufs.workspace || bufs.workspace->size() < p.split.total)
        return Error(VKATTN_ERROR_INTERNAL, "attention: split plan without its workspace or with windows");
    const auto u = mod32;
    const uint32_t row = 2 * p.split.hd;
    prm->q_sn = row, prm->q_sh = u(Nq) * row, prm->q_sb = u(Hq) * u(Nq) * row, prm->q_sd = 1;
    prm->k_sn = row, prm->k_sh = u(Nk) * row, prm->k_sb = u(Hkv) * u(Nk) * row, prm->k_sd = 1;
    prm->v_sn = row, prm->v_sh = u(Nk) * row, prm->v_sb = u(Hkv) * u(Nk) * row, prm->v_sd = 1;
    prm->split_tab = p.split.tab_index;
    const Caps &caps = ctx.caps();
    const uint64_t align = std::max<uint64_t>(caps.info.min_storage_buffer_offset_alignment, 16);
    const uint64_t es = esize(d.dtype);
    const int64_t z[4] = {0, 0, 0, 0};
    SplitSource src[3];
    Buffer *in[3] = {bufs.q, bufs.k, bufs.v};
    const vkattn_view *views[3] = {&d.q, &d.k, &d.v};
    for (int t = 0; t < 3; t++) {
        const Window w = window(*views[t], views[t]->strides, z, views[t]->shape, es, in[t]->size(), align);
        src[t].buf = in[t], src[t].offset = w.offset, src[t].range = w.range, src[t].org = w.org;
        src[t].view = views[t];
    }
    return record_split(ctx, p.split, src, bufs.workspace, dispatches);
}

// One dispatch tile of (batches, query heads, query rows): its origin, size,
// the kv heads it reads, and its q, out and lse windows.
struct Tile {
    int64_t b0, h0, q0, nb, nh, nq, kh0, nkh;
    Window wq, wo, wl;
    Binding bo, bl;
};

// Records the dispatches of a call, tile by tile: one main dispatch per key
// chunk, then, where the tile has partials, the combine pass.
class TileRecorder {
public:
    TileRecorder(Context &ctx, const vkattn_attention_desc &d, const Plan &p, const Buffers &bufs, Pipeline *main,
                 Pipeline *combine)
        : ctx_(ctx), d_(d), p_(p), bufs_(bufs), main_(main), combine_(combine), n_(dims(d)) {
        align_ = std::max<uint64_t>(ctx.caps().info.min_storage_buffer_offset_alignment, 16);
        es_ = esize(d.dtype), oes_ = esize(d.out_dtype);
        has_mask_ = d.mask_kind != VKATTN_MASK_NONE, has_lse_ = (d.flags & VKATTN_ATTENTION_LSE) != 0;
        partials_ = p.parts > 1;
        if (has_mask_)
            for (int i = 0; i < 4; i++) mstr_[i] = mask_stride(d, i);
        const uint64_t dummy_size = bufs.dummy->size();
        dummy_r_ = Binding{bufs.dummy, 0, round_up(dummy_size, 4), false};
        dummy_w_ = Binding{bufs.dummy, 0, round_up(dummy_size, 4), true};
        const uint64_t part_bytes = round_up(p.split.on ? p.split.partials : p.workspace, 4);
        ws_bind_ = partials_ ? Binding{bufs.workspace, 0, part_bytes, true} : dummy_w_;
        ws_read_ = partials_ ? Binding{bufs.workspace, 0, part_bytes, false} : dummy_r_;
    }

    // The uniforms: the main kernel's (writing partials where there are
    // any) and the combine pass's.
    Status upload_params(const AttnParams &prm) {
        AttnParams prm_partial = prm;
        if (partials_) prm_partial.flags |= VKA_ATTN_PARTIALS;
        VKA_RETURN_IF_ERROR(ctx_.stream().uniform(&prm_partial, sizeof prm_partial, &ub_main_));
        if (partials_) VKA_RETURN_IF_ERROR(ctx_.stream().uniform(&prm, sizeof prm, &ub_comb_));
        return Status::Ok();
    }

    Status record_all() {
        for (int64_t b0 = 0; b0 < n_.B; b0 += p_.tb)
            for (int64_t h0 = 0; h0 < n_.Hq; h0 += p_.th)
                for (int64_t q0 = 0; q0 < n_.Nq; q0 += p_.tq) VKA_RETURN_IF_ERROR(record_tile(b0, h0, q0));
        return Status::Ok();
    }

    uint32_t count() const { return count_; }

private:
    Tile make_tile(int64_t b0, int64_t h0, int64_t q0) const {
        const int64_t G = n_.Hq / n_.Hkv;
        Tile t{};
        t.b0 = b0, t.h0 = h0, t.q0 = q0;
        t.nb = std::min(p_.tb, n_.B - b0), t.nh = std::min(p_.th, n_.Hq - h0), t.nq = std::min(p_.tq, n_.Nq - q0);
        t.kh0 = h0 / G, t.nkh = (h0 + t.nh - 1) / G - t.kh0 + 1;
        const int64_t sq[4] = {b0, h0, q0, 0};
        const int64_t eq[4] = {t.nb, t.nh, t.nq, n_.D}, eo[4] = {t.nb, t.nh, t.nq, n_.Dv},
                      el[4] = {t.nb, t.nh, t.nq, 1};
        t.wq = window(d_.q, d_.q.strides, sq, eq, es_, bufs_.q->size(), align_);
        t.wo = window(d_.out, d_.out.strides, sq, eo, oes_, bufs_.out->size(), align_);
        if (has_lse_) t.wl = window(d_.lse, d_.lse.strides, sq, el, 4, bufs_.lse->size(), align_);
        t.bo = Binding{bufs_.out, t.wo.offset, t.wo.range, true};
        t.bl = has_lse_ ? Binding{bufs_.lse, t.wl.offset, t.wl.range, true} : dummy_w_;
        return t;
    }

    Status record_tile(int64_t b0, int64_t h0, int64_t q0) {
        const Tile t = make_tile(b0, h0, q0);
        AttnPush push{};
        push.h0 = static_cast<uint32_t>(h0);
        push.q0 = static_cast<uint32_t>(q0);
        push.tile_h = static_cast<uint32_t>(t.nh);
        push.tile_bh = static_cast<uint32_t>(t.nb * t.nh);
        push.tile_q = static_cast<uint32_t>(t.nq);
        push.n_parts = p_.parts;
        push.q_org = t.wq.org, push.o_org = t.wo.org, push.l_org = t.wl.org;
        uint32_t chunk = 0;
        for (int64_t k0 = 0; k0 < n_.Nk; k0 += p_.tk, chunk++)
            VKA_RETURN_IF_ERROR(record_key_chunk(t, k0, chunk, push));
        if (partials_) {
            const std::vector<Binding> binds = {ub_comb_, ws_read_, t.bo, t.bl};
            VKA_RETURN_IF_ERROR(ctx_.stream().dispatch(
                *combine_, binds, &push, sizeof push, static_cast<uint32_t>(t.nq), static_cast<uint32_t>(t.nb * t.nh)));
            count_++;
        }
        return Status::Ok();
    }

    // The main kernel over keys [k0, k0 + tk) of tile `t` (`push` keeps what
    // it sets for the combine pass).
    Status record_key_chunk(const Tile &t, int64_t k0, uint32_t chunk, AttnPush &push) {
        const int64_t nk = std::min(p_.tk, n_.Nk - k0);
        const int64_t sk[4] = {t.b0, t.kh0, k0, 0};
        const int64_t ek[4] = {t.nb, t.nkh, nk, n_.D}, ev[4] = {t.nb, t.nkh, nk, n_.Dv};
        const Window wk = window(d_.k, d_.k.strides, sk, ek, es_, bufs_.k->size(), align_);
        const Window wv = window(d_.v, d_.v.strides, sk, ev, es_, bufs_.v->size(), align_);
        Binding bm = dummy_r_;
        push.m_org = 0;
        if (has_mask_) {
            const int64_t sm[4] = {t.b0, t.h0, t.q0, k0}, em[4] = {t.nb, t.nh, t.nq, nk};
            const Window wm = window(d_.mask, mstr_, sm, em, esize(d_.mask_dtype), bufs_.mask->size(), align_);
            bm = Binding{bufs_.mask, wm.offset, wm.range, false};
            push.m_org = wm.org;
        }
        push.k_org = wk.org, push.v_org = wv.org;
        push.k0 = static_cast<uint32_t>(k0);
        push.k_end = static_cast<uint32_t>(k0 + nk);
        const uint32_t per_chunk = static_cast<uint32_t>(div_up(static_cast<uint64_t>(p_.tk), p_.split_len));
        push.part0 = chunk * per_chunk;
        const SplitPlan &sp = p_.split;
        if (sp.on) push.q_org = push.k_org = push.v_org = 0;
        const std::vector<Binding> binds = {ub_main_,
                                            sp.on ? Binding{bufs_.workspace, sp.q_off, sp.q_bytes, false}
                                                  : Binding{bufs_.q, t.wq.offset, t.wq.range, false},
                                            sp.on ? Binding{bufs_.workspace, sp.k_off, sp.k_bytes, false}
                                                  : Binding{bufs_.k, wk.offset, wk.range, false},
                                            sp.on ? Binding{bufs_.workspace, sp.v_off, sp.v_bytes, false}
                                                  : Binding{bufs_.v, wv.offset, wv.range, false},
                                            bm,
                                            partials_ ? Binding{bufs_.out, t.wo.offset, t.wo.range, false} : t.bo,
                                            partials_ ? dummy_w_ : t.bl,
                                            ws_bind_};
        const uint32_t gx = static_cast<uint32_t>(div_up(static_cast<uint64_t>(t.nq), p_.cfg.br));
        VKA_RETURN_IF_ERROR(ctx_.stream().dispatch(*main_, binds, &push, sizeof push, gx,
                                                   static_cast<uint32_t>(t.nb * t.nh), per_chunk));
        count_++;
        return Status::Ok();
    }

    Context &ctx_;
    const vkattn_attention_desc &d_;
    const Plan &p_;
    const Buffers &bufs_;
    Pipeline *main_, *combine_;
    Dims n_;
    uint64_t align_ = 16, es_ = 0, oes_ = 0;
    bool has_mask_ = false, has_lse_ = false, partials_ = false;
    int64_t mstr_[4] = {0, 0, 0, 0};
    Binding ub_main_, ub_comb_, dummy_r_, dummy_w_, ws_bind_, ws_read_;
    uint32_t count_ = 0;
};

}  // namespace

Status record(Context &ctx, const vkattn_attention_desc &d, const Plan &p, const Buffers &bufs, uint32_t *dispatches) {
    Pipeline *main = nullptr, *combine = nullptr;
    VKA_RETURN_IF_ERROR(get_pipelines(ctx, p, bufs, &main, &combine));
    AttnParams prm = call_params(d, p);
    if (p.split.on) VKA_RETURN_IF_ERROR(record_split_copies(ctx, d, p, bufs, &prm, dispatches));
    TileRecorder rec(ctx, d, p, bufs, main, combine);
    VKA_RETURN_IF_ERROR(rec.upload_params(prm));
    VKA_RETURN_IF_ERROR(rec.record_all());
    *dispatches += rec.count();
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
            VKA_RETURN_IF_ERROR(attn::make_portable_plan(ctx, d, &plan));
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
