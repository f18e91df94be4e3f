#include "suite.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "json.h"

namespace vkbench {

const char *dtype_name(vkattn_dtype t) {
    switch (t) {
        case VKATTN_DTYPE_F32:
            return "f32";
        case VKATTN_DTYPE_F16:
            return "f16";
        case VKATTN_DTYPE_BF16:
            return "bf16";
        case VKATTN_DTYPE_BOOL:
            return "bool";
        default:
            return "?";
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

const char *layout_name(Layout l) {
    return l == Layout::BHND ? "bhnd" : "bnhd";
}

const char *mask_name(vkattn_mask_kind m) {
    switch (m) {
        case VKATTN_MASK_NONE:
            return "none";
        case VKATTN_MASK_ADDITIVE:
            return "additive";
        case VKATTN_MASK_BOOL:
            return "bool";
    }
    return "?";
}

const char *mask_shape_name(MaskShape s) {
    switch (s) {
        case MaskShape::Key:
            return "key";
        case MaskShape::QueryKey:
            return "query_key";
        case MaskShape::Full:
            return "full";
    }
    return "?";
}

std::string shape_string(const Case &c) {
    // Appends only: GCC 12 warns (-Wrestrict, falsely) on "x" + std::string.
    std::string s = std::to_string(c.B);
    auto dim = [&s](char sep, int64_t v) {
        s += sep;
        s += std::to_string(v);
    };
    dim('x', c.Hq);
    if (c.Hkv != c.Hq) dim('/', c.Hkv);
    dim('x', c.Nq);
    if (c.Nk != c.Nq) dim('/', c.Nk);
    dim('x', c.D);
    if (c.Dv != c.D) dim('/', c.Dv);
    return s;
}

double case_flops(const Case &c) {
    // (query, key) pairs computed: all of them, or under the causal mask
    // (upper-left aligned: query i sees keys 0..i) sum_i min(i + 1, Nk).
    double pairs = static_cast<double>(c.Nq) * static_cast<double>(c.Nk);
    if (c.causal) {
        const double nq = static_cast<double>(c.Nq), nk = static_cast<double>(c.Nk);
        const double tri = std::min(nq, nk);  // rows i < Nk see i + 1 keys
        pairs = tri * (tri + 1) / 2 + std::max(0.0, nq - nk) * nk;
    }
    return 2.0 * static_cast<double>(c.B) * static_cast<double>(c.Hq) * pairs * static_cast<double>(c.D + c.Dv);
}

namespace {

// Which of the optional fields a case (or the defaults) set explicitly, so
// that Hkv/Nk/Dv/out_dtype can follow Hq/Nq/D/dtype otherwise.
struct Seen {
    bool hkv = false, nk = false, dv = false, out_dtype = false, name = false;
};

class CaseReader {
public:
    CaseReader(std::string where, std::string *error) : where_(std::move(where)), error_(error) {}

    bool apply(const Json &obj, Case *c, Seen *seen) {
        if (!obj.is_object()) return fail("", "must be an object");
        for (const auto &[key, v] : obj.members()) {
            if (!member(key, v, c, seen)) return false;
        }
        return true;
    }

private:
    std::string where_;
    std::string *error_;

    bool fail(const std::string &key, const std::string &what) {
        *error_ = where_ + (key.empty() ? "" : ", key \"" + key + "\"") + ": " + what;
        return false;
    }

    bool get_int(const std::string &key, const Json &v, int64_t *out, int64_t lo) {
        if (!v.is_number()) return fail(key, std::string("expected an integer, got ") + Json::type_name(v.type()));
        double d = v.as_number();
        if (d != std::floor(d) || d < static_cast<double>(lo) || d > 9.0e15)
            return fail(key, "expected an integer >= " + std::to_string(lo) + ", got " + json_number(d));
        *out = static_cast<int64_t>(d);
        return true;
    }

    bool get_num(const std::string &key, const Json &v, double *out) {
        if (!v.is_number() || !std::isfinite(v.as_number()))
            return fail(key, std::string("expected a number, got ") + Json::type_name(v.type()));
        *out = v.as_number();
        return true;
    }

    bool get_str(const std::string &key, const Json &v, std::string *out) {
        if (!v.is_string()) return fail(key, std::string("expected a string, got ") + Json::type_name(v.type()));
        *out = v.as_string();
        return true;
    }

    bool get_dtype(const std::string &key, const Json &v, vkattn_dtype *out) {
        std::string s;
        if (!get_str(key, v, &s)) return false;
        if (!parse_dtype(s, out) || *out == VKATTN_DTYPE_BOOL)
            return fail(key, "unknown dtype \"" + s + "\" (f16, bf16, f32)");
        return true;
    }

    bool inputs(const Json &v, InputGen *g) {
        if (!v.is_object()) return fail("inputs", "must be an object");
        for (const auto &[key, x] : v.members()) {
            std::string k = "inputs." + key;
            if (key == "seed") {
                int64_t s;
                if (!get_int(k, x, &s, 0)) return false;
                g->seed = static_cast<uint64_t>(s);
            } else if (key == "qk_scale") {
                if (!get_num(k, x, &g->qk_scale)) return false;
            } else if (key == "v_shift") {
                if (!get_num(k, x, &g->v_shift)) return false;
            } else if (key == "mask_drop") {
                if (!get_num(k, x, &g->mask_drop)) return false;
                if (g->mask_drop < 0 || g->mask_drop > 1) return fail(k, "must lie in [0, 1]");
            } else {
                return fail(k, "unknown key (seed, qk_scale, v_shift, mask_drop)");
            }
        }
        return true;
    }

    bool member(const std::string &key, const Json &v, Case *c, Seen *seen) {
        if (key == "name") {
            seen->name = true;
            return get_str(key, v, &c->name);
        }
        if (key == "op") return get_str(key, v, &c->op);
        if (key == "model" || key == "note") return get_str(key, v, &c->note);
        if (key == "comment") return true;
        if (key == "B") return get_int(key, v, &c->B, 1);
        if (key == "H") {  // shorthand: Hq = Hkv = H
            seen->hkv = true;
            if (!get_int(key, v, &c->Hq, 1)) return false;
            c->Hkv = c->Hq;
            return true;
        }
        if (key == "Hq") return get_int(key, v, &c->Hq, 1);
        if (key == "Hkv") {
            seen->hkv = true;
            return get_int(key, v, &c->Hkv, 1);
        }
        if (key == "N") {  // shorthand: Nq = Nk = N
            seen->nk = true;
            if (!get_int(key, v, &c->Nq, 1)) return false;
            c->Nk = c->Nq;
            return true;
        }
        if (key == "Nq") return get_int(key, v, &c->Nq, 1);
        if (key == "Nk") {
            seen->nk = true;
            return get_int(key, v, &c->Nk, 1);
        }
        if (key == "D") return get_int(key, v, &c->D, 1);
        if (key == "Dv") {
            seen->dv = true;
            return get_int(key, v, &c->Dv, 1);
        }
        if (key == "dtype") return get_dtype(key, v, &c->dtype);
        if (key == "out_dtype") {
            seen->out_dtype = true;
            return get_dtype(key, v, &c->out_dtype);
        }
        if (key == "layout") {
            std::string s;
            if (!get_str(key, v, &s)) return false;
            if (s == "bhnd")
                c->layout = Layout::BHND;
            else if (s == "bnhd")
                c->layout = Layout::BNHD;
            else
                return fail(key, "unknown layout \"" + s + "\" (bhnd, bnhd)");
            return true;
        }
        if (key == "mask") {
            std::string s;
            if (!get_str(key, v, &s)) return false;
            if (s == "none")
                c->mask = VKATTN_MASK_NONE;
            else if (s == "additive")
                c->mask = VKATTN_MASK_ADDITIVE;
            else if (s == "bool")
                c->mask = VKATTN_MASK_BOOL;
            else
                return fail(key, "unknown mask kind \"" + s + "\" (none, additive, bool)");
            return true;
        }
        if (key == "mask_dtype") {
            if (!get_dtype(key, v, &c->mask_dtype)) return false;
            if (c->mask_dtype == VKATTN_DTYPE_BF16) return fail(key, "an additive mask is f32 or f16");
            return true;
        }
        if (key == "mask_shape") {
            std::string s;
            if (!get_str(key, v, &s)) return false;
            if (s == "key")
                c->mask_shape = MaskShape::Key;
            else if (s == "query_key")
                c->mask_shape = MaskShape::QueryKey;
            else if (s == "full")
                c->mask_shape = MaskShape::Full;
            else
                return fail(key, "unknown mask shape \"" + s + "\" (key, query_key, full)");
            return true;
        }
        if (key == "causal") {
            if (!v.is_bool()) return fail(key, "expected true or false");
            c->causal = v.as_bool();
            return true;
        }
        if (key == "scale") {
            double s;
            if (!get_num(key, v, &s)) return false;
            c->has_scale = true;
            c->scale = static_cast<float>(s);
            return true;
        }
        if (key == "inputs") return inputs(v, &c->inputs);
        if (key == "tol_ulps") {
            if (!get_num(key, v, &c->tol_ulps)) return false;
            if (c->tol_ulps <= 0) return fail(key, "must be > 0");
            return true;
        }
        if (key == "reps") {
            int64_t r;
            if (!get_int(key, v, &r, 1)) return false;
            c->reps = static_cast<int>(r);
            return true;
        }
        return fail(key, "unknown key");
    }
};

}  // namespace

bool load_suite(const std::string &path, Suite *out, std::string *error) {
    Json doc;
    if (!parse_json_file(path, &doc, error)) return false;
    *out = Suite{};
    out->path = path;

    const Json *cases = nullptr;
    const Json *defaults = nullptr;
    if (doc.is_array()) {
        cases = &doc;
    } else if (doc.is_object()) {
        for (const auto &[key, v] : doc.members()) {
            if (key == "name" && v.is_string())
                out->name = v.as_string();
            else if (key == "description" && v.is_string())
                out->description = v.as_string();
            else if (key == "cases")
                cases = &v;
            else if (key == "defaults")
                defaults = &v;
            else if (key == "comment")
                continue;
            else {
                *error = path + ": unknown top-level key \"" + key + "\" (name, description, defaults, cases)";
                return false;
            }
        }
    }
    if (!cases || !cases->is_array()) {
        *error = path + ": expected an array of cases, or an object with a \"cases\" array";
        return false;
    }

    Case base;
    Seen base_seen;
    if (defaults) {
        CaseReader r(path + ": defaults", error);
        if (!r.apply(*defaults, &base, &base_seen)) return false;
        if (base_seen.name) {
            *error = path + ": defaults may not set \"name\"";
            return false;
        }
    }

    std::set<std::string> names;
    int index = 0;
    for (const Json &item : cases->items()) {
        ++index;
        Case c = base;
        Seen seen = base_seen;
        std::string where = path + ": case " + std::to_string(index);
        if (item.is_object()) {
            if (const Json *n = item.find("name"); n && n->is_string()) where += " (\"" + n->as_string() + "\")";
        }
        CaseReader r(where, error);
        if (!r.apply(item, &c, &seen)) return false;
        if (!seen.name || c.name.empty()) {
            *error = where + ": missing \"name\"";
            return false;
        }
        if (!names.insert(c.name).second) {
            *error = where + ": duplicate case name \"" + c.name + "\"";
            return false;
        }
        if (!seen.hkv) c.Hkv = c.Hq;
        if (!seen.nk) c.Nk = c.Nq;
        if (!seen.dv) c.Dv = c.D;
        if (!seen.out_dtype) c.out_dtype = c.dtype;
        if (c.mask == VKATTN_MASK_BOOL) c.mask_dtype = VKATTN_DTYPE_BOOL;
        out->cases.push_back(std::move(c));
    }
    return true;
}

}  // namespace vkbench
