#version 450
// dst[dst_offset + i] = src[src_offset + i] + add, for i < count.
#extension GL_GOOGLE_include_directive : require
#include "util_params.h"

layout(local_size_x_id = 0) in;
layout(set = 0, binding = 0, std430) readonly buffer Src { uint src[]; };
layout(set = 0, binding = 1, std430) writeonly buffer Dst { uint dst[]; };
layout(push_constant) uniform Push { UtilCopyPush p; };

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    if (i < p.count) dst[p.dst_offset + i] = src[p.src_offset + i] + p.add;
}
