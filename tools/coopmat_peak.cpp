// vkattn-coopmat-peak: how fast the device's GL_NV_cooperative_matrix products
// run when nothing else is in the way (operands in registers, no memory
// traffic). The ceiling any coopmat kernel of this toolchain can reach on the
// device; compare it with the attention kernel's rate and the chip's peak.
// Modes (the _m suffix): 0 operands in registers, 1 B from shared memory
// column-major, 2 row-major, 3 A converted from an accumulator each round,
// 4 B row-major from a float16_t shared array, 5 as 1 with each loaded B
// feeding two products (two m-tiles).
//   vkattn-coopmat-peak [iterations]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "context.h"
#include "memory.h"
#include "peak_shader_ids.h"
#include "pipelines.h"
#include "stream.h"

using namespace vkattn;

int main(int argc, char **argv) {
    const uint32_t iters = argc > 1 ? static_cast<uint32_t>(std::strtoul(argv[1], nullptr, 10)) : 4096;
    vkattn_context_options o = VKATTN_CONTEXT_OPTIONS_INIT;
    std::unique_ptr<Context> ctx;
    Status st = Context::create(o, &ctx);
    if (!st.ok()) {
        std::fprintf(stderr, "vkattn-coopmat-peak: %s\n", st.message().c_str());
        return 1;
    }
    const vkattn_device_info &info = ctx->caps().info;
    std::printf("device: %s (%s)\n", info.name, info.driver_info);
    if (!info.nv_cooperative_matrix || ctx->caps().nv_coopmat.empty()) {
        std::printf("no VK_NV_cooperative_matrix: nothing to measure\n");
        return 0;
    }
    for (const CoopMatShape &s : ctx->caps().nv_coopmat)
        std::printf("  shape %ux%ux%u  A %d B %d C %d R %d\n", s.m, s.n, s.k, s.a, s.b, s.c, s.result);
    std::unique_ptr<Buffer> buf;
    st = Buffer::create(*ctx, Pool::Staging, 4096 * 4, &buf);
    if (!st.ok() || !buf->mapped()) {
        std::fprintf(stderr, "vkattn-coopmat-peak: buffer: %s\n", st.message().c_str());
        return 1;
    }
    float *p = static_cast<float *>(buf->mapped());
    for (int i = 0; i < 1024; i++) p[i] = (i % 17) * 1e-3f;
    ShaderInterface iface;
    iface.bindings = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER};
    iface.push_constant_size = 4;
    const uint32_t groups = 132 * 16;
    std::printf("%-34s %10s %10s\n", "variant", "ms", "TFLOP/s");
    for (const EmbeddedShader &es : ShaderTable<PeakShaderId>::all()) {
        const std::string name = es.name;
        const ShaderVariant &v = *es.variant;
        const double tn = static_cast<double>(v.value_or("TN", 16)), nacc = static_cast<double>(v.value_or("NACC", 8)),
                     warps = static_cast<double>(v.value_or("WARPS", 4));
        Pipeline *pipe = nullptr;
        st = ctx->pipelines().get(es, iface, {}, &pipe);
        if (!st.ok()) {
            std::printf("%-34s %s\n", name.c_str(), st.message().c_str());
            continue;
        }
        double best = 1e30;
        for (int rep = 0; rep < 4; rep++) {
            CommandStream &s = ctx->stream();
            if (!(st = s.begin()).ok() ||
                !(st = s.dispatch(*pipe, {{buf.get(), 0, 4096 * 4, true}}, &iters, 4, groups)).ok() ||
                !(st = s.submit(true)).ok()) {
                std::printf("%-34s %s\n", name.c_str(), st.message().c_str());
                break;
            }
            if (!s.last_dispatch_ms().empty()) best = std::min(best, s.last_dispatch_ms().front());
        }
        const double flop = 2.0 * 16 * tn * 16 * nacc * static_cast<double>(iters) * warps * groups;
        std::printf("%-34s %10.3f %10.1f\n", name.c_str(), best, flop / best / 1e9);
    }
    return 0;
}
