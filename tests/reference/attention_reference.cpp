// Double-precision reference of vkattn_attention (see attention_reference.h).
#include "attention_reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace vkattn::ref {

uint16_t f32_to_f16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return static_cast<uint16_t>(sign | (ax > 0x7f800000u ? 0x7e00u : 0x7c00u));
    if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);
    if (ax < 0x38800000u) {
        if (ax <= 0x33000000u) return static_cast<uint16_t>(sign);
        const uint32_t e = ax >> 23, m = (ax & 0x007fffffu) | 0x00800000u, shift = 126u - e;
        uint32_t r = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return static_cast<uint16_t>(sign | r);
    }
    uint32_t r = ax - 0x38000000u;
    r = (r + 0x0fffu + ((r >> 13) & 1u)) >> 13;
    return static_cast<uint16_t>(sign | r);
}

float f16_to_f32(uint16_t h) {
    const uint32_t sign = (h & 0x8000u) ? 1 : 0;
    const int e = (h >> 10) & 0x1f;
    const uint32_t m = h & 0x3ffu;
    double v;
    if (e == 0)
        v = std::ldexp(static_cast<double>(m), -24);
    else if (e == 31)
        v = m ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
    else
        v = std::ldexp(static_cast<double>(m | 0x400u), e - 25);
    return static_cast<float>(sign ? -v : v);
}

uint16_t f32_to_bf16(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>(((x >> 16) & 0x8000u) | 0x7fc0u);
    return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float bf16_to_f32(uint16_t h) {
    const uint32_t x = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &x, 4);
    return f;
}

double load(const void *base, vkattn_dtype dtype, int64_t index) {
    switch (dtype) {
        case VKATTN_DTYPE_F32: return static_cast<const float *>(base)[index];
        case VKATTN_DTYPE_F16: return f16_to_f32(static_cast<const uint16_t *>(base)[index]);
        case VKATTN_DTYPE_BF16: return bf16_to_f32(static_cast<const uint16_t *>(base)[index]);
        case VKATTN_DTYPE_BOOL: return static_cast<const uint8_t *>(base)[index] ? 1.0 : 0.0;
        default: return std::numeric_limits<double>::quiet_NaN();
    }
}

namespace {
int64_t at(const vkattn_view &v, int64_t a, int64_t b, int64_t c, int64_t d) {
    return v.offset + a * v.strides[0] + b * v.strides[1] + c * v.strides[2] + d * v.strides[3];
}
}  // namespace

void attention_rows(const vkattn_attention_desc &desc, const void *q, const void *k, const void *v, const void *mask,
                    int64_t b, int64_t h, const std::vector<int64_t> &rows, std::vector<double> *out,
                    std::vector<double> *lse) {
    const int64_t Hq = desc.q.shape[1], D = desc.q.shape[3];
    const int64_t Hkv = desc.k.shape[1], Nk = desc.k.shape[2], Dv = desc.v.shape[3];
    const int64_t kvh = h / (Hq / Hkv);
    // The op applies its scale in f32: the reference uses the same f32 value.
    const double scale = (desc.flags & VKATTN_ATTENTION_SCALE)
                             ? static_cast<double>(desc.scale)
                             : static_cast<double>(static_cast<float>(1.0 / std::sqrt(static_cast<double>(D))));
    const bool causal = desc.flags & VKATTN_ATTENTION_CAUSAL;
    const double ninf = -std::numeric_limits<double>::infinity();
    out->assign(rows.size() * Dv, 0.0);
    lse->assign(rows.size(), ninf);
    std::vector<double> logit(Nk), qrow(D);
    const vkattn_view &mv = desc.mask;
    for (size_t r = 0; r < rows.size(); r++) {
        const int64_t i = rows[r];
        for (int64_t d = 0; d < D; d++) qrow[d] = load(q, desc.dtype, at(desc.q, b, h, i, d));
        double m = ninf;
        bool any_nan = false;
        for (int64_t j = 0; j < Nk; j++) {
            double x = ninf;
            if (!causal || j <= i) {
                double dot = 0;
                for (int64_t d = 0; d < D; d++) dot += qrow[d] * load(k, desc.dtype, at(desc.k, b, kvh, j, d));
                x = scale * dot;
                if (desc.mask_kind != VKATTN_MASK_NONE) {
                    const int64_t mi = at(mv, mv.shape[0] == 1 ? 0 : b, mv.shape[1] == 1 ? 0 : h,
                                          mv.shape[2] == 1 ? 0 : i, mv.shape[3] == 1 ? 0 : j);
                    const double mval = load(mask, desc.mask_dtype, mi);
                    if (desc.mask_kind == VKATTN_MASK_BOOL)
                        x = mval != 0 ? x : ninf;
                    else
                        x += mval;
                }
            }
            logit[j] = x;
            any_nan = any_nan || std::isnan(x);
            m = std::max(m, x);  // (NaN logits are skipped here, and make the sum NaN below)
        }
        if (m == ninf && any_nan) {  // every logit NaN or masked: NaN, as PyTorch's softmax
            std::fill(out->begin() + static_cast<int64_t>(r) * Dv, out->begin() + static_cast<int64_t>(r + 1) * Dv,
                      std::numeric_limits<double>::quiet_NaN());
            (*lse)[r] = std::numeric_limits<double>::quiet_NaN();
            continue;
        }
        if (m == ninf) continue;  // fully masked: zeros, lse = -inf
        double sum = 0;
        double *o = out->data() + r * Dv;
        for (int64_t j = 0; j < Nk; j++) {
            if (logit[j] == ninf) continue;
            const double w = std::exp(logit[j] - m);
            sum += w;
            for (int64_t c = 0; c < Dv; c++) o[c] += w * load(v, desc.dtype, at(desc.v, b, kvh, j, c));
        }
        for (int64_t c = 0; c < Dv; c++) o[c] /= sum;
        (*lse)[r] = m + std::log(sum);
    }
}

void attention(const vkattn_attention_desc &desc, const void *q, const void *k, const void *v, const void *mask,
               std::vector<double> *out, std::vector<double> *lse) {
    const int64_t B = desc.q.shape[0], Hq = desc.q.shape[1], Nq = desc.q.shape[2], Dv = desc.v.shape[3];
    out->assign(static_cast<size_t>(B * Hq * Nq * Dv), 0.0);
    lse->assign(static_cast<size_t>(B * Hq * Nq), 0.0);
    std::vector<int64_t> rows(Nq);
    for (int64_t i = 0; i < Nq; i++) rows[i] = i;
    std::vector<double> o, l;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++) {
            attention_rows(desc, q, k, v, mask, b, h, rows, &o, &l);
            std::copy(o.begin(), o.end(), out->begin() + ((b * Hq + h) * Nq) * Dv);
            std::copy(l.begin(), l.end(), lse->begin() + (b * Hq + h) * Nq);
        }
}

double ulp(vkattn_dtype dtype, double x) {
    int mant, emin;
    switch (dtype) {
        case VKATTN_DTYPE_F16: mant = 10, emin = -14; break;
        case VKATTN_DTYPE_BF16: mant = 7, emin = -126; break;
        default: mant = 23, emin = -126; break;
    }
    const double a = std::fabs(x);
    int e = emin;
    if (a > 0 && std::isfinite(a)) e = std::max(emin, std::ilogb(a));
    return std::ldexp(1.0, e - mant);
}

}  // namespace vkattn::ref
