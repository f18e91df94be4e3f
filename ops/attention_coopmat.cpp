// Flash attention on NV cooperative matrices: probe and chooser. See
// ops/attention_coopmat.h and shaders/attention_coopmat.comp.
#include "attention_coopmat.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "arith.h"
#include "attention_coopmat_params.h"
#include "shader_ids.h"

namespace vkattn::ops::attn {
namespace {

constexpr uint32_t kMaxNarrow = 128;  // largest bucket of attention_coopmat.comp
constexpr uint32_t kMaxHead = 512;    // largest bucket of attention_coopmat_wide.comp
constexpr uint32_t kMaxSplit = 128;   // largest bucket of the f32 (SPLIT) variants
constexpr uint32_t kSplitBuckets[] = {48, 64, 80, 128};
// Buckets of the wide-head kernel (head dim split across warps).
constexpr uint32_t kWideBuckets[] = {160, 192, 256, 384, 512};

struct ProbeResult {
    uint32_t layout = VKA_CM_LAYOUT_NONE;
    std::string why;
};

// Per device UUID + driver version: the layout is a property of the driver's
// compiler, and probing costs a pipeline and a submission.
std::mutex g_probe_mutex;
std::map<std::string, ProbeResult> g_probe_cache;

bool has_f16_f32_shape(const Caps &caps) {
    for (const CoopMatShape &s : caps.nv_coopmat)
        if (s.m == 16 && s.n == 16 && s.k == 16 && s.a == VK_COMPONENT_TYPE_FLOAT16_NV &&
            s.b == VK_COMPONENT_TYPE_FLOAT16_NV && s.c == VK_COMPONENT_TYPE_FLOAT32_NV &&
            s.result == VK_COMPONENT_TYPE_FLOAT32_NV)
            return true;
    return false;
}

// Device-level requirements (independent of the case).
bool device_fits(const Caps &caps, std::string *why) {
    if (!caps.info.nv_cooperative_matrix || caps.nv_coopmat.empty()) {
        *why = "the device has no VK_NV_cooperative_matrix";
        return false;
    }
    if (!has_f16_f32_shape(caps)) {
        *why = "the device reports no 16x16x16 f16 x f16 -> f32 cooperative-matrix shape";
        return false;
    }
    if (caps.info.subgroup_size != 32) {
        *why = cat("the kernel needs subgroups of 32 (the device's are ", caps.info.subgroup_size, ")");
        return false;
    }
    if (!caps.subgroup_shuffle || !(caps.info.subgroup_ops & VK_SUBGROUP_FEATURE_VOTE_BIT) ||
        !(caps.info.subgroup_ops & VK_SUBGROUP_FEATURE_BASIC_BIT)) {
        *why = "the device lacks subgroup shuffle/vote in compute shaders";
        return false;
    }
    if (!caps.info.shader_float16 || !caps.info.storage_16bit) {
        *why = "the device lacks f16 arithmetic or 16-bit storage";
        return false;
    }
    return true;
}

// Which VKA_CM_LAYOUT_* the readback `elems` (element i of invocation l holds
// the value row * 16 + col at elems[l * 8 + i]) matches.
uint32_t match_layout(const float *elems) {
    for (uint32_t cand : {VKA_CM_LAYOUT_MMA, VKA_CM_LAYOUT_ALT}) {
        bool ok = true;
        for (uint32_t lane = 0; lane < 32 && ok; lane++)
            for (uint32_t i = 0; i < 8 && ok; i++) {
                const uint32_t slot = cand == VKA_CM_LAYOUT_MMA ? (i >> 1) & 1 : (i >> 2) & 1;
                const uint32_t half = cand == VKA_CM_LAYOUT_MMA ? i >> 2 : (i >> 1) & 1;
                const uint32_t row = lane / 4 + 8 * slot, col = 2 * (lane % 4) + (i % 2) + 8 * half;
                ok = elems[lane * 8 + i] == static_cast<float>(row * 16 + col);
            }
        if (ok) return cand;
    }
    return VKA_CM_LAYOUT_NONE;
}

Status run_probe(Context &ctx, ProbeResult *res) {
    std::unique_ptr<Buffer> in, out;
    VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Staging, VKA_CM_PROBE_IN * 4, &in));
    VKA_RETURN_IF_ERROR(Buffer::create(ctx, Pool::Staging, VKA_CM_PROBE_OUT * 4, &out));
    if (!in->mapped() || !out->mapped()) return Error(VKATTN_ERROR_INTERNAL, "coopmat probe: staging is not mapped");
    float *pin = static_cast<float *>(in->mapped());
    for (uint32_t r = 0; r < 16; r++)
        for (uint32_t c = 0; c < 16; c++) {
            pin[r * 16 + c] = static_cast<float>(r * 16 + c);
            pin[256 + r * 16 + c] = r == c ? 1.0f : 0.0f;
        }
    float *pout = static_cast<float *>(out->mapped());
    for (uint32_t i = 0; i < VKA_CM_PROBE_OUT; i++) pout[i] = -1.0f;

    ShaderInterface iface;
    iface.bindings = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER};
    Pipeline *pipe = nullptr;
    VKA_RETURN_IF_ERROR(ctx.pipelines().get(ShaderId::attention_coopmat_probe, iface, {}, &pipe));
    CommandStream &s = ctx.stream();
    VKA_RETURN_IF_ERROR(s.begin());
    Status st = s.dispatch(
        *pipe, {{in.get(), 0, VKA_CM_PROBE_IN * 4, false}, {out.get(), 0, VKA_CM_PROBE_OUT * 4, true}}, nullptr, 0, 1);
    if (!st.ok()) {
        (void)s.submit(true);
        return st;
    }
    VKA_RETURN_IF_ERROR(s.submit(true));

    if (pout[256] != 8.0f) {
        res->why = cat("the f32 16x16 accumulator has ", pout[256], " elements per invocation (the kernel needs 8)");
        return Status::Ok();
    }
    res->layout = match_layout(pout);
    if (res->layout == VKA_CM_LAYOUT_NONE) {
        std::string seen;
        for (uint32_t i = 0; i < 16; i++) seen += cat(i ? " " : "", pout[i]);
        res->why =
            cat("the probe found an accumulator layout the kernel cannot address in registers (invocations 0-1 "
                "hold row*16+col = ",
                seen, ")");
        return Status::Ok();
    }
    for (uint32_t i = 0; i < 256; i++)
        if (pout[512 + i] != static_cast<float>(i)) {
            res->layout = VKA_CM_LAYOUT_NONE;
            res->why = "f16(accumulator) used as the A operand did not keep its values in the probe";
            return Status::Ok();
        }
    return Status::Ok();
}

}  // namespace

Status coopmat_layout(Context &ctx, uint32_t *layout, std::string *why) {
    *layout = VKA_CM_LAYOUT_NONE;
    const Caps &caps = ctx.caps();
    if (!device_fits(caps, why)) return Status::Ok();
    char key[64];
    for (int i = 0; i < 16; i++) std::snprintf(key + 2 * i, 3, "%02x", caps.info.device_uuid[i]);
    const std::string k = cat(key, ":", caps.info.driver_version);
    std::lock_guard<std::mutex> lock(g_probe_mutex);
    auto it = g_probe_cache.find(k);
    if (it == g_probe_cache.end()) {
        ProbeResult r;
        Status s = run_probe(ctx, &r);
        if (!s.ok()) {
            // Not cached: a transient failure (out of memory) may pass later.
            *why = cat("the layout probe failed: ", s.message());
            return s.code() == VKATTN_ERROR_DEVICE_LOST ? s : Status::Ok();
        }
        it = g_probe_cache.emplace(k, r).first;
    }
    *layout = it->second.layout;
    *why = it->second.why;
    return Status::Ok();
}

bool coopmat_fits(Context &ctx, const vkattn_attention_desc &d, std::string *why) {
    if (d.backend == VKATTN_BACKEND_PORTABLE) {
        *why = "desc->backend is PORTABLE";
        return false;
    }
    if (!device_fits(ctx.caps(), why)) return false;
    const int64_t hd = std::max(d.q.shape[3], d.v.shape[3]);
    if (d.dtype == VKATTN_DTYPE_F32) {
        // f32 q, k, v (and out) as scaled f16 pairs, three products each.
        if (!ctx.tuning().coopmat_f32) {
            *why = "f32 inputs are served by the portable path (tuning: VKATTN_COOPMAT_F32=0)";
            return false;
        }
        if (hd > kMaxSplit) {
            *why = cat("f32 inputs with head dims above ", kMaxSplit, " (D = ", d.q.shape[3], ", Dv = ", d.v.shape[3],
                       ") are served by the portable path");
            return false;
        }
        return true;
    }
    if (d.dtype != VKATTN_DTYPE_F16) {
        *why = "bf16 inputs are served by the portable path";
        return false;
    }
    if (d.out_dtype != VKATTN_DTYPE_F16) {
        *why = "f32 outputs of f16 inputs are served by the portable path (P is rounded to f16 on this path)";
        return false;
    }
    if (hd > kMaxHead) {
        *why = cat("head dims above ", kMaxHead, " (D = ", d.q.shape[3], ", Dv = ", d.v.shape[3],
                   ") are served by the portable path");
        return false;
    }
    return true;
}

namespace {

constexpr std::string_view kNarrowSource = "attention_coopmat.comp";     // buckets up to 128, and SPLIT
constexpr std::string_view kWideSource = "attention_coopmat_wide.comp";  // buckets 160..512

// The tiling of a coopmat variant: warps, 16-row m-tiles per warp (per row
// group on the wide kernel), keys per block, Q kept in shared memory, head-dim
// slices (warps per row group; 1 on the narrow kernel).
struct Tiling {
    uint32_t nw = 4, mt = 1, bc = 64, qsh = 0, ds = 1;
};

// The tiling a variant is compiled with, read from its defines (where one is
// not defined, the shader's own default).
Tiling tiling_of(const ShaderVariant &v) {
    auto get = [&](std::string_view key, int64_t fallback) { return static_cast<uint32_t>(v.value_or(key, fallback)); };
    Tiling t;
    if (v.source == kWideSource) {
        t.ds = get("DS", 4);
        t.nw = t.ds * get("RG", 1);
        t.mt = get("MT", 1);
        t.bc = get("BC", 32);
    } else {
        t.nw = get("NW", 4);
        t.mt = get("MT", 1);
        t.bc = get("BC", 64);
        t.qsh = get("QSH", 0);
    }
    return t;
}

// The defines that pick a variant: its source, its head-dim bucket and its
// tiling (a default value also matches a variant that leaves it undefined).
struct Want {
    std::string_view source;
    std::array<DefineWant, 5> defines;
};
constexpr Want f16_want(uint32_t hd, const Tiling &t) {
    if (t.ds > 1)
        return {kWideSource,
                {{{"HD", hd}, {"DS", t.ds}, {"RG", t.nw / t.ds}, {"BC", t.bc, t.bc == 32}, {"MT", t.mt, t.mt == 1}}}};
    return {kNarrowSource,
            {{{"HD", hd},
              {"NW", t.nw, t.nw == 4},
              {"MT", t.mt, t.mt == 1},
              {"BC", t.bc, t.bc == 64},
              {"SPLIT", 0, kOrDefault}}}};
}
constexpr Want split_want(uint32_t hd, const Tiling &t) {
    return {kNarrowSource,
            {{{"HD", hd}, {"NW", t.nw, t.nw == 4}, {"MT", 1, kOrDefault}, {"BC", t.bc, t.bc == 64}, {"SPLIT", 1}}}};
}
constexpr std::optional<ShaderId> lookup(const Want &w) {
    return find_variant<ShaderId>(w.source, w.defines);
}
Status no_variant(const Want &w) {
    return Error(VKATTN_ERROR_INTERNAL, "the coopmat chooser wants ", describe_want(w.source, w.defines),
                 ": no variant of shaders/attention_coopmat_variants.cmake matches, or several do");
}

// Tiling of the f16 variants (measured on an H200, driver 580, with
// scripts/gpu-tune.sh; TFLOP/s; a "unit" is a 128-row query tile of one
// (batch, head); the variant names in the comments):
//   48, 64 with fewer than 1024 keys and >= 256 units: 8 warps, pipelined
//     (S of the next key block beside this block's softmax), key blocks
//     of 32 (SD1.5 cross attention 17.0 against 10.7, SDXL cross 24.4
//     against 17.5);
//   48 with >= 512 units, 64 with >= 1024 units: 4 warps x two 16-row
//     m-tiles, key blocks of 64, lazy rescale (SD1.5 d40 103, SD3 119;
//     pipelined 84/118);
//   64 otherwise with >= 256 units: 8 warps, pipelined, key blocks of 64
//     (SDXL 124 against 112 with m-tile pairs, SDXL 2x20x1024 86 against 72);
//   48 otherwise with >= 256 units: 8 warps, key blocks of 128;
//   80: 8 warps, O rescaled in registers without a branch (SD1.5 d80 45
//     with split-KV; pipelined the same);
//   96..128 when the grid fills the device without split-KV: 8 warps,
//     pipelined, key blocks of 32 (Flux 125, WAN cross 100; not pipelined
//     110/93);
//   otherwise 4 warps x 64 keys;
//   wide heads (buckets 160..512): the head dim split over the warps of
//     a row group (attention_coopmat_wide.comp), s<slices>_w<warps>_k<keys>:
//     up to 256, 2 slices x 4 row groups, 32 keys (1x8x4096x256: 85);
//     at 192 and 256 with >= 256 units, two 16-row m-tiles per row group
//     and 16 keys instead (1x8x4096x192: 92.0 against 79.9, x256: 91.4
//     against 86.4; fewer units leave the device half empty);
//     384 and 512, 4 slices x 4 row groups, 16 keys, when there are >= 256
//     64-row units (VAE 1x1x16384x512: 75), else 4 x 2 (VAE at 512x512:
//     50 with split-KV, 9 with 4 row groups).
constexpr Tiling pick_f16(uint32_t hd, uint64_t units8, uint64_t units64, int64_t nk) {
    if (hd > kMaxNarrow) {
        if ((hd == 192 || hd == 256) && units8 >= 256) return {.nw = 8, .mt = 2, .bc = 16, .ds = 2};  // s2_w8_k16_m2
        if (hd < 384) return {.nw = 8, .bc = 32, .ds = 2};                                            // s2_w8_k32
        if (units64 >= 256) return {.nw = 16, .bc = 16, .ds = 4};                                     // s4_w16_k16
        return {.nw = 8, .bc = 16, .ds = 4};                                                          // s4_w8_k16
    }
    if ((hd == 48 || hd == 64) && units8 >= 256 && nk < 1024) return {.nw = 8, .bc = 32};  // w8_ralw_pipe_k32
    if ((hd == 48 && units8 >= 512) || (hd == 64 && units8 >= 1024)) return {.nw = 4, .mt = 2, .bc = 64};  // w4_m2_k64
    if ((hd == 48 || hd == 64) && units8 >= 256)
        return hd == 48 ? Tiling{.nw = 8, .bc = 128} : Tiling{.nw = 8, .bc = 64};  // w8_t8_k128, w8_ralw_pipe
    if (hd == 80) return {.nw = 8, .bc = 64};                                      // w8_ralw
    if (hd > 80 && units8 * 2 >= 1024) return {.nw = 8, .bc = 32};                 // w8_ralw_pipe_k32
    return {};                                                                     // 4 warps x 64 keys
}

// f32 inputs: the SPLIT variants (8 warps x 16 rows, O rescaled in registers
// every key block; key blocks of 64 up to bucket 80, 32 at 128, where 64
// would not fit 48 KiB of shared memory with hi and lo tiles).
constexpr Tiling pick_split(uint32_t hd) {
    return {.nw = 8, .bc = hd <= 80 ? 64u : 32u};
}

// Every tiling the chooser can pick has exactly one variant: checked when
// this file compiles (the unit and key counts cover each branch above).
consteval bool chooser_variants_exist() {
    for (uint32_t hd = 16; hd <= kMaxHead; hd += 16) {
        if (hd > kMaxNarrow &&
            std::find(std::begin(kWideBuckets), std::end(kWideBuckets), hd) == std::end(kWideBuckets))
            continue;
        for (uint64_t units8 : {0, 256, 512, 1024})
            for (uint64_t units64 : {0, 256})
                for (int64_t nk : {0, 1024})
                    if (!lookup(f16_want(hd, pick_f16(hd, units8, units64, nk)))) return false;
    }
    for (uint32_t hd : kSplitBuckets)
        if (!lookup(split_want(hd, pick_split(hd)))) return false;
    return true;
}
static_assert(
    chooser_variants_exist(),
    "a tiling the coopmat chooser picks has no variant, or several, in shaders/attention_coopmat_variants.cmake");

// Rounds a head dim up to the first of `buckets` that holds it (unchanged
// past the last).
template <size_t N>
uint32_t bucket_of(uint32_t hd, const uint32_t (&buckets)[N]) {
    for (uint32_t b : buckets)
        if (b >= hd) return b;
    return hd;
}

// A case the coopmat path does not serve: an error only where desc->backend
// requires the path, else the portable plan stays.
struct Decline {
    bool required = false;
    std::string why;
    Status operator()() const {
        if (required) return Error(VKATTN_ERROR_UNSUPPORTED, "desc->backend = VKATTN_BACKEND_COOPMAT: ", why);
        return Status::Ok();
    }
};

// The coopmat config of a chosen variant.
Config coopmat_config(uint32_t hd, uint32_t br, uint32_t bc, uint32_t layout, uint32_t warps, uint32_t m_tiles) {
    Config c;
    c.kernel = Kernel::Coopmat;
    c.wg = warps * 32, c.hdk = hd, c.hdv = hd, c.br = br, c.bc = bc;
    c.cm_layout = layout, c.warps = warps, c.m_tiles = m_tiles;
    return c;
}

// Whether the case may go to the matrix units at all: leaves *layout
// VKA_CM_LAYOUT_NONE where not (tuning, coopmat_fits, Dv < 8 under AUTO, the
// layout probe), else the accumulator layout the kernel addresses.
Status usable_layout(Context &ctx, const vkattn_attention_desc &d, Decline &decline, uint32_t *layout) {
    *layout = VKA_CM_LAYOUT_NONE;
    if (!ctx.tuning().coopmat && !decline.required) return Status::Ok();  // tuning: AUTO stays portable
    if (!coopmat_fits(ctx, d, &decline.why)) return decline();
    if (!decline.required && d.dtype == VKATTN_DTYPE_F16 && d.v.shape[3] < 8) {
        // Rounding P to f16 adds up to 2^-11 * sum p|v| / sum p to an output;
        // with one or a few output columns the row magnitude can sit far below
        // that (measured 2.5 ulps at Dv = 1). Nothing to gain there either.
        decline.why = "Dv < 8 goes to the portable path under AUTO";
        return Status::Ok();
    }
    uint32_t found = VKA_CM_LAYOUT_NONE;
    VKA_RETURN_IF_ERROR(coopmat_layout(ctx, &found, &decline.why));
    if (found == VKA_CM_LAYOUT_NONE) return decline();
    *layout = found;
    return Status::Ok();
}

// f32 inputs: the SPLIT variant of the head-dim bucket. Heads of 81..128
// share bucket 128 and 33..48 bucket 48 (zeros past the head dim).
Status choose_split(Context &ctx, uint32_t hd, uint32_t layout, Plan *plan, bool *chosen, Decline &decline) {
    hd = bucket_of(hd, kSplitBuckets);
    // Tuning::coopmat_tile = <suffix> forces attention_coopmat_f32s_d<hd>_<suffix> where it exists.
    std::optional<ShaderId> id;
    if (const std::string &tile = ctx.tuning().coopmat_tile; !tile.empty())
        id = variant_named<ShaderId>(cat("attention_coopmat_f32s_d", hd, "_", tile));
    if (!id) {
        const Want w = split_want(hd, pick_split(hd));
        id = lookup(w);
        if (!id) return no_variant(w);
    }
    const Tiling tl = tiling_of(shader_variant(*id));
    const uint32_t nw = tl.nw, bc = tl.bc;
    const uint32_t rs = hd / 8 + 1, br = nw * 16;
    const uint32_t smem = 16 * std::max(br * rs, 4 * bc * rs);  // Q staging aliases the K/V hi and lo tiles
    if (smem > ctx.caps().info.max_shared_memory) {
        decline.why = cat("the f32 coopmat kernel needs ", smem, " bytes of shared memory; the device has ",
                          ctx.caps().info.max_shared_memory);
        return decline();
    }
    plan->cfg = coopmat_config(hd, br, bc, layout, nw, 1);
    plan->shader = *id;
    *chosen = true;
    return Status::Ok();
}

// The f16 variant for head-dim bucket `hd`: the one Tuning::coopmat_tile
// names where it exists, else the one pick_f16 picks for the case's size.
Status f16_variant(Context &ctx, const vkattn_attention_desc &d, uint32_t hd, ShaderId *out) {
    const uint64_t units8 =
        static_cast<uint64_t>(d.q.shape[0] * d.q.shape[1]) * ((static_cast<uint64_t>(d.q.shape[2]) + 127) / 128);
    const uint64_t units64 =
        static_cast<uint64_t>(d.q.shape[0] * d.q.shape[1]) * ((static_cast<uint64_t>(d.q.shape[2]) + 63) / 64);
    // Tuning::coopmat_tile = <suffix> forces attention_coopmat_f16_d<hd>_<suffix>
    // where it exists ("w4": the 4-warp variant); its tiling is read from its
    // defines like any other.
    std::optional<ShaderId> id;
    if (const std::string &tile = ctx.tuning().coopmat_tile; !tile.empty())
        id = variant_named<ShaderId>(tile == "w4" ? cat("attention_coopmat_f16_d", hd)
                                                  : cat("attention_coopmat_f16_d", hd, "_", tile));
    if (!id) {
        const Want w = f16_want(hd, pick_f16(hd, units8, units64, d.k.shape[2]));
        id = lookup(w);
        if (!id) return no_variant(w);
    }
    *out = *id;
    return Status::Ok();
}

// Shared bytes of an f16 variant. Narrow: K/V tiles and Q (or its staging,
// aliasing them), one 16x16 f32 tile per warp, a float per row. Wide: one
// K/V tile (Q staging aliasing it, 16 rows at a time) and each warp's
// mt x 16 x bc partial S.
uint32_t f16_shared_bytes(const Tiling &tl, uint32_t hd, uint32_t br, bool wide) {
    const uint32_t rs = hd / 8 + 1;
    const uint32_t qrs = br * rs, kvrs = 2 * tl.bc * rs;
    return wide ? 16 * std::max(16u, tl.bc) * rs + 4 * tl.nw * tl.mt * tl.bc * 16
                : 16 * (tl.qsh ? qrs + kvrs : std::max(qrs, kvrs)) + 4 * tl.nw * 256 + 4 * tl.nw * tl.mt * 16;
}

// f16 inputs: the narrow kernel up to bucket 128, the wide one above.
Status choose_f16(Context &ctx, const vkattn_attention_desc &d, uint32_t hd, uint32_t layout, Plan *plan, bool *chosen,
                  Decline &decline) {
    const bool wide = hd > kMaxNarrow;
    if (wide) hd = bucket_of(hd, kWideBuckets);
    ShaderId id{};
    VKA_RETURN_IF_ERROR(f16_variant(ctx, d, hd, &id));
    const ShaderVariant &variant = shader_variant(id);
    const Tiling tl = tiling_of(variant);
    if (wide != (variant.source == kWideSource) || tl.nw % tl.ds != 0) {
        decline.why = cat("coopmat variant ", variant.name, " does not fit head-dim bucket ", hd);
        return decline();
    }
    const uint32_t br = tl.nw / tl.ds * tl.mt * 16;
    const uint32_t smem = f16_shared_bytes(tl, hd, br, wide);
    if (smem > ctx.caps().info.max_shared_memory) {
        decline.why = cat("the coopmat kernel needs ", smem, " bytes of shared memory; the device has ",
                          ctx.caps().info.max_shared_memory);
        return decline();
    }
    plan->cfg = coopmat_config(hd, br, tl.bc, layout, tl.nw, tl.mt);
    plan->shader = id;
    *chosen = true;
    return Status::Ok();
}

}  // namespace

Status choose_coopmat(Context &ctx, const vkattn_attention_desc &d, Plan *plan, bool *chosen) {
    *chosen = false;
    Decline decline;
    decline.required = d.backend == VKATTN_BACKEND_COOPMAT;
    uint32_t layout = VKA_CM_LAYOUT_NONE;
    VKA_RETURN_IF_ERROR(usable_layout(ctx, d, decline, &layout));
    if (layout == VKA_CM_LAYOUT_NONE) return Status::Ok();
    const uint32_t hd =
        static_cast<uint32_t>(round_up(static_cast<uint64_t>(std::max(d.q.shape[3], d.v.shape[3])), 16));
    if (d.dtype == VKATTN_DTYPE_F32) return choose_split(ctx, hd, layout, plan, chosen, decline);
    return choose_f16(ctx, d, hd, layout, plan, chosen, decline);
}

bool plan_is_coopmat(const Plan &plan) {
    const std::string_view source = shader_variant(plan.shader).source;
    return source == kNarrowSource || source == kWideSource;
}

}  // namespace vkattn::ops::attn
