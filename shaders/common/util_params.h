// Push constants of util_copy.comp, shared by GLSL and C++.
#ifndef VKATTN_UTIL_PARAMS_H
#define VKATTN_UTIL_PARAMS_H
#ifdef __cplusplus
#include <cstdint>
namespace vkattn {
typedef uint32_t uint;
#endif

struct UtilCopyPush {
    uint count;      // 32-bit words to copy
    uint src_offset; // in words, inside the bound window
    uint dst_offset;
    uint add;        // added to every word (lets tests chain dispatches)
};

#ifdef __cplusplus
static_assert(sizeof(UtilCopyPush) == 16, "UtilCopyPush layout");
}  // namespace vkattn
#endif
#endif
