/* Loads libvkattn with dlopen under an environment that hides every Vulkan
 * driver (ctest sets VK_ICD_FILENAMES to a missing file) and checks that the
 * library loads and that context creation reports NO_VULKAN or NO_DEVICE with
 * a message. Prints the closing line ctest reads and exits nonzero on failure. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "vkattn.h"

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: no_vulkan_check LIBVKATTN\n");
        return 2;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        printf("FAIL: dlopen: %s\n", dlerror());
        return 1;
    }
    vkattn_status (*create)(const vkattn_context_options *, vkattn_context *) =
        (vkattn_status(*)(const vkattn_context_options *, vkattn_context *))dlsym(lib, "vkattn_context_create");
    const char *(*last)(void) = (const char *(*)(void))dlsym(lib, "vkattn_last_error");
    vkattn_status (*count)(uint32_t *) = (vkattn_status(*)(uint32_t *))dlsym(lib, "vkattn_device_count");
    if (!create || !last || !count) {
        printf("FAIL: missing exports\n");
        return 1;
    }
    vkattn_context ctx = (vkattn_context)0x1;
    vkattn_status s = create(NULL, &ctx);
    const char *msg = last();
    printf("vkattn_context_create -> %d: %s\n", (int)s, msg);
    int ok = (s == VKATTN_ERROR_NO_VULKAN || s == VKATTN_ERROR_NO_DEVICE) && ctx == NULL && msg && strlen(msg) > 10;
    uint32_t n = 77;
    vkattn_status sc = count(&n);
    printf("vkattn_device_count -> %d, count %u\n", (int)sc, n);
    ok = ok && n == 0 && (sc == VKATTN_SUCCESS || sc == VKATTN_ERROR_NO_VULKAN);
    printf("%s\n", ok ? "1 passed, 0 failed" : "0 passed, 1 failed");
    return ok ? 0 : 1;
}
