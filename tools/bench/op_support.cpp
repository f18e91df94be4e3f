#include "op_support.h"

#include "attention_reference.h"

namespace vkbench {

namespace ref = vkattn::ref;

const char *dtype_name(vkattn_dtype t) {
    switch (t) {
        case VKATTN_DTYPE_F32: return "f32";
        case VKATTN_DTYPE_F16: return "f16";
        case VKATTN_DTYPE_BF16: return "bf16";
        case VKATTN_DTYPE_BOOL: return "bool";
        default: return "?";
    }
}

bool parse_dtype(const std::string &s, vkattn_dtype *out) {
    if (s == "f32" || s == "float32")
        *out = VKATTN_DTYPE_F32;
    else if (s == "f16" || s == "float16")
        *out = VKATTN_DTYPE_F16;
    else if (s == "bf16" || s == "bfloat16")
        *out = VKATTN_DTYPE_BF16;
    else if (s == "bool")
        *out = VKATTN_DTYPE_BOOL;
    else
        return false;
    return true;
}

std::string status_message(vkattn_status s) {
    std::string name = vkattn_status_string(s), msg = vkattn_last_error();
    if (msg.empty()) return name;
    if (msg.rfind(name, 0) == 0) return msg;  // the library already names the status
    return name + ": " + msg;
}

void store(void *base, vkattn_dtype dtype, size_t i, float x) {
    switch (dtype) {
        case VKATTN_DTYPE_F32: static_cast<float *>(base)[i] = x; break;
        case VKATTN_DTYPE_F16: static_cast<uint16_t *>(base)[i] = ref::f32_to_f16(x); break;
        case VKATTN_DTYPE_BF16: static_cast<uint16_t *>(base)[i] = ref::f32_to_bf16(x); break;
        case VKATTN_DTYPE_BOOL: static_cast<uint8_t *>(base)[i] = x != 0.0f ? 1 : 0; break;
        default: break;
    }
}

int64_t product(const std::vector<int64_t> &s) {
    int64_t p = 1;
    for (int64_t d : s) p *= d;
    return p;
}

uint64_t count_nonfinite(const HostArray &a) {
    uint64_t bad = 0;
    size_t n = a.elements();
    if (a.dtype == VKATTN_DTYPE_F32) {
        const uint32_t *p = reinterpret_cast<const uint32_t *>(a.data());
        for (size_t i = 0; i < n; ++i) bad += (p[i] & 0x7F800000u) == 0x7F800000u;
    } else if (a.dtype == VKATTN_DTYPE_F16) {
        const uint16_t *p = static_cast<const uint16_t *>(a.data());
        for (size_t i = 0; i < n; ++i) bad += (p[i] & 0x7C00u) == 0x7C00u;
    } else if (a.dtype == VKATTN_DTYPE_BF16) {
        const uint16_t *p = static_cast<const uint16_t *>(a.data());
        for (size_t i = 0; i < n; ++i) bad += (p[i] & 0x7F80u) == 0x7F80u;
    }
    return bad;
}

vkattn_status create_tensor(vkattn_context ctx, const HostArray &a, bool upload, const char *name, TensorPtr *out,
                            std::string *error) {
    vkattn_tensor t = nullptr;
    vkattn_status s = vkattn_tensor_create(ctx, a.dtype, static_cast<int32_t>(a.shape.size()), a.shape.data(), &t);
    if (s != VKATTN_SUCCESS) {
        *error = std::string("creating tensor ") + name + ": " + status_message(s);
        return s;
    }
    out->reset(t);
    if (!upload || a.bytes.empty()) return VKATTN_SUCCESS;
    s = vkattn_tensor_upload(t, a.data(), a.bytes.size());
    if (s != VKATTN_SUCCESS) *error = std::string("uploading ") + name + ": " + status_message(s);
    return s;
}

}  // namespace vkbench
