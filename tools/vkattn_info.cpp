// vkattn-info: lists Vulkan devices and the capabilities vkattn's kernels use.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "vkattn.h"

namespace {

const char *type_name(uint32_t t) {
    switch (t) {
        case VKATTN_DEVICE_DISCRETE_GPU: return "discrete GPU";
        case VKATTN_DEVICE_INTEGRATED_GPU: return "integrated GPU";
        case VKATTN_DEVICE_VIRTUAL_GPU: return "virtual GPU";
        case VKATTN_DEVICE_CPU: return "CPU";
        default: return "other";
    }
}

std::string mib(uint64_t b) {
    char s[64];
    std::snprintf(s, sizeof s, "%.1f MiB", static_cast<double>(b) / (1 << 20));
    return s;
}

void print(const vkattn_device_info &d, bool chosen) {
    std::printf("[%u] %s%s\n", d.index, d.name, chosen ? "  (default)" : "");
    std::printf("    type                  %s, vendor 0x%04x device 0x%04x\n", type_name(d.device_type), d.vendor_id,
                d.device_id);
    std::printf("    Vulkan                %u.%u.%u, driver %s (%s)\n", d.api_version >> 22,
                (d.api_version >> 12) & 0x3ff, d.api_version & 0xfff, d.driver_name, d.driver_info);
    std::printf("    subgroup size         %u (min %u, max %u, size control %s, ops 0x%x)\n", d.subgroup_size,
                d.min_subgroup_size, d.max_subgroup_size, d.subgroup_size_control ? "yes" : "no", d.subgroup_ops);
    std::printf("    shared memory         %u bytes\n", d.max_shared_memory);
    std::printf("    workgroup invocations %u, push constants %u bytes\n", d.max_workgroup_invocations,
                d.max_push_constants);
    std::printf("    maxStorageBufferRange %" PRIu64 " bytes (%s), offset alignment %" PRIu64 "\n",
                d.max_storage_buffer_range, mib(d.max_storage_buffer_range).c_str(),
                d.min_storage_buffer_offset_alignment);
    std::printf("    f16 arithmetic        %s, 16-bit storage %s, int64 %s\n", d.shader_float16 ? "yes" : "no",
                d.storage_16bit ? "yes" : "no", d.shader_int64 ? "yes" : "no");
    std::printf("    cooperative matrix    NV %s, KHR %s\n", d.nv_cooperative_matrix ? "yes" : "no",
                d.khr_cooperative_matrix ? "yes" : "no");
    std::printf("    device-local memory   heap %s, budget %s (%s)\n", mib(d.device_local_heap_size).c_str(),
                mib(d.device_local_budget).c_str(), d.memory_budget_ext ? "VK_EXT_memory_budget" : "heap size");
    std::printf("    host memory import    %s (alignment %" PRIu64 ")\n", d.external_memory_host ? "yes" : "no",
                d.min_imported_host_pointer_alignment);
    std::printf("    timestamps            %s (%.3f ns per tick)\n", d.timestamps ? "yes" : "no",
                d.timestamp_period_ns);
}

}  // namespace

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help")) {
            std::printf(
                "usage: vkattn-info\nLists Vulkan devices and their capabilities; the default device is the one\n"
                "a context picks (VKATTN_DEVICE=index|name overrides).\n"
                "Exit status: 0 when every step succeeded; 1 when an error was reported (no\n"
                "Vulkan, no device, a VKATTN_DEVICE that names no device, no context); 2 on\n"
                "a bad argument.\n");
            return 0;
        }
        std::fprintf(stderr, "vkattn-info: unknown argument %s (try --help)\n", argv[i]);
        return 2;
    }
    std::printf("vkattn %u.%u.%u (ABI %u)\n", vkattn_version() / 10000, vkattn_version() / 100 % 100,
                vkattn_version() % 100, vkattn_abi_version());
    uint32_t n = 0;
    vkattn_status s = vkattn_device_count(&n);
    if (s != VKATTN_SUCCESS) {
        std::fprintf(stderr, "vkattn-info: %s\n", vkattn_last_error());
        return 1;
    }
    if (n == 0) {
        std::fprintf(stderr, "vkattn-info: no Vulkan 1.2 device found\n");
        return 1;
    }
    // Which device would a context choose? An error here (a VKATTN_DEVICE
    // that names no device, a failed context creation) is reported and makes
    // the exit status 1, but the devices are still listed.
    int rc = 0;
    int chosen = -1;
    vkattn_context ctx = nullptr;
    if (vkattn_context_create(nullptr, &ctx) == VKATTN_SUCCESS) {
        vkattn_device_info info = VKATTN_DEVICE_INFO_INIT;
        if (vkattn_context_get_device_info(ctx, &info) == VKATTN_SUCCESS) {
            chosen = static_cast<int>(info.index);
        } else {
            std::fprintf(stderr, "vkattn-info: the context's device is unknown: %s\n", vkattn_last_error());
            rc = 1;
        }
        vkattn_context_destroy(ctx);
    } else {
        const char *env = std::getenv("VKATTN_DEVICE");
        std::string err = vkattn_last_error();
        // The library names VKATTN_DEVICE when it is the cause; say it otherwise
        // too, since a device choice may be why no context could be made.
        if (env && *env && err.find("VKATTN_DEVICE") == std::string::npos)
            err += std::string(" (VKATTN_DEVICE=") + env + ")";
        std::fprintf(stderr, "vkattn-info: a context cannot be created: %s\n", err.c_str());
        rc = 1;
    }
    for (uint32_t i = 0; i < n; i++) {
        vkattn_device_info info = VKATTN_DEVICE_INFO_INIT;
        if (vkattn_device_get_info(i, &info) != VKATTN_SUCCESS) {
            std::fprintf(stderr, "vkattn-info: device %u: %s\n", i, vkattn_last_error());
            rc = 1;
            continue;
        }
        print(info, static_cast<int>(i) == chosen);
    }
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
        std::fprintf(stderr, "vkattn-info: cannot write the device list to the standard output\n");
        rc = 1;
    }
    return rc;
}
