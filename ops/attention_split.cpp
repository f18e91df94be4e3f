#include "attention_split.h"

#include <algorithm>

#include "attention_split_params.h"
#include "pipelines.h"
#include "shader_ids.h"
#include "stream.h"

namespace vkattn::ops::attn {
namespace {

uint64_t align256(uint64_t v) {
    return (v + 255) / 256 * 256;
}

// Bytes of the split copy of a [B, H, N, *] view at bucket hd.
uint64_t copy_bytes(const vkattn_view &v, uint32_t hd) {
    return static_cast<uint64_t>(v.shape[0] * v.shape[1]) * static_cast<uint64_t>(v.shape[2]) * hd * 4;
}

}  // namespace

void plan_split(const vkattn_attention_desc &d, uint32_t hd, uint64_t partials, SplitPlan *sp) {
    SplitPlan p;
    p.on = true;
    p.hd = hd;
    p.partials = partials;
    const uint64_t qh = static_cast<uint64_t>(d.q.shape[0] * d.q.shape[1]);
    const uint64_t kh = static_cast<uint64_t>(d.k.shape[0] * d.k.shape[1]);
    p.q_off = align256(partials);
    p.tab_off = p.q_off + align256(copy_bytes(d.q, hd));
    p.tab_bytes = (qh + 2 * kh) * 4;
    p.q_bytes = p.tab_off + p.tab_bytes - p.q_off;
    p.tab_index = static_cast<uint32_t>((p.tab_off - p.q_off) / 4);
    p.k_off = align256(p.tab_off + p.tab_bytes);
    p.k_bytes = copy_bytes(d.k, hd);
    p.v_off = align256(p.k_off + p.k_bytes);
    p.v_bytes = copy_bytes(d.v, hd);
    p.total = p.v_off + p.v_bytes;
    *sp = p;
}

uint64_t split_max_binding(const SplitPlan &sp) {
    return std::max({sp.q_bytes, sp.k_bytes, sp.v_bytes});
}

Status record_split(Context &ctx, const SplitPlan &sp, const SplitSource src[3], Buffer *ws, uint32_t *dispatches) {
    if (!sp.on || !ws || ws->size() < sp.total)
        return Error(VKATTN_ERROR_INTERNAL, "attention: the split workspace of ", sp.total, " bytes is missing");
    ShaderInterface iface;
    iface.bindings = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                      VK_DESCRIPTOR_TYPE_STORAGE_BUFFER};
    iface.push_constant_size = sizeof(SplitPush);
    Pipeline *pipe = nullptr;
    VKA_RETURN_IF_ERROR(ctx.pipelines().get(ShaderId::attention_split, iface, {}, &pipe));
    CommandStream &s = ctx.stream();
    VKA_RETURN_IF_ERROR(s.fill(ws, sp.tab_off, (sp.tab_bytes + 3) / 4 * 4, 0u));

    const uint64_t dst_off[3] = {sp.q_off, sp.k_off, sp.v_off};
    const uint64_t dst_bytes[3] = {sp.q_bytes - sp.tab_bytes, sp.k_bytes, sp.v_bytes};
    const uint32_t max_x = ctx.caps().props.limits.maxComputeWorkGroupCount[0];
    uint32_t tab_org = 0;
    SplitPush push[3]{};
    uint32_t gx[3]{}, gy[3]{};
    for (int t = 0; t < 3; t++) {
        const vkattn_view &v = *src[t].view;
        SplitPush &p = push[t];
        auto u = [](int64_t x) { return static_cast<uint32_t>(static_cast<uint64_t>(x)); };
        p.src_org = src[t].org;
        p.s_sb = u(v.strides[0]), p.s_sh = u(v.strides[1]), p.s_sn = u(v.strides[2]), p.s_sd = u(v.strides[3]);
        p.heads = u(v.shape[1]);
        p.n = u(v.shape[2]), p.d = u(v.shape[3]), p.hd = sp.hd;
        p.dst_org = 0;
        p.tab_org = tab_org;
        tab_org += u(v.shape[0] * v.shape[1]);
        const uint64_t pairs = static_cast<uint64_t>(v.shape[2]) * (sp.hd / 2);
        gx[t] = static_cast<uint32_t>(
            std::min<uint64_t>((pairs + VKA_SPLIT_LOCAL - 1) / VKA_SPLIT_LOCAL, std::min<uint32_t>(max_x, 4096)));
        gy[t] = u(v.shape[0] * v.shape[1]);
    }
    for (uint32_t mode : {VKA_SPLIT_MAX, VKA_SPLIT_CONVERT})
        for (int t = 0; t < 3; t++) {
            push[t].mode = mode;
            const std::vector<Binding> b = {Binding{src[t].buf, src[t].offset, src[t].range, false},
                                            Binding{ws, dst_off[t], dst_bytes[t], true},
                                            Binding{ws, sp.tab_off, (sp.tab_bytes + 3) / 4 * 4, true}};
            VKA_RETURN_IF_ERROR(s.dispatch(*pipe, b, &push[t], sizeof push[t], gx[t], gy[t]));
            ++*dispatches;
        }
    return Status::Ok();
}

}  // namespace vkattn::ops::attn
