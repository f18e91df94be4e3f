#include "suite.h"

#include <cmath>
#include <set>

#include "op.h"
#include "op_support.h"

namespace vkbench {

bool FieldReader::fail(const std::string &key, const std::string &what) {
    *error_ = where_ + (key.empty() ? "" : ", key \"" + key + "\"") + ": " + what;
    return false;
}

bool FieldReader::get_int(const std::string &key, const Json &v, int64_t *out, int64_t lo) {
    if (!v.is_number()) return fail(key, std::string("expected an integer, got ") + Json::type_name(v.type()));
    double d = v.as_number();
    if (d != std::floor(d) || d < static_cast<double>(lo) || d > 9.0e15)
        return fail(key, "expected an integer >= " + std::to_string(lo) + ", got " + json_number(d));
    *out = static_cast<int64_t>(d);
    return true;
}

bool FieldReader::get_num(const std::string &key, const Json &v, double *out) {
    if (!v.is_number() || !std::isfinite(v.as_number()))
        return fail(key, std::string("expected a number, got ") + Json::type_name(v.type()));
    *out = v.as_number();
    return true;
}

bool FieldReader::get_str(const std::string &key, const Json &v, std::string *out) {
    if (!v.is_string()) return fail(key, std::string("expected a string, got ") + Json::type_name(v.type()));
    *out = v.as_string();
    return true;
}

bool FieldReader::get_bool(const std::string &key, const Json &v, bool *out) {
    if (!v.is_bool()) return fail(key, "expected true or false");
    *out = v.as_bool();
    return true;
}

bool FieldReader::get_dtype(const std::string &key, const Json &v, vkattn_dtype *out) {
    std::string s;
    if (!get_str(key, v, &s)) return false;
    if (!parse_dtype(s, out) || *out == VKATTN_DTYPE_BOOL)
        return fail(key, "unknown dtype \"" + s + "\" (f16, bf16, f32)");
    return true;
}

namespace {

// Keys every case has, whatever its op.
bool is_common_key(const std::string &key) {
    return key == "name" || key == "op" || key == "model" || key == "note" || key == "comment" || key == "tol_ulps" ||
           key == "reps";
}

// The op an object (a case or the defaults) names: its "op", else `fallback`.
// Unknown ops are errors naming the known ones.
std::unique_ptr<BenchOp> op_of(const Json &obj, const std::string &fallback, FieldReader &r, std::string *name) {
    *name = fallback;
    if (const Json *v = obj.find("op"); v && !r.get_str("op", *v, name)) return nullptr;
    std::unique_ptr<BenchOp> op = make_op(*name);
    if (!op) r.fail("op", "unknown op \"" + *name + "\" (known ops: " + known_ops() + ")");
    return op;
}

// The keys of `obj` in file order: the common ones into *c, the others to
// the op. *named: "name" was given.
bool read_case(const Json &obj, FieldReader &r, Case *c, BenchOp *op, bool *named) {
    for (const auto &[key, v] : obj.members()) {
        if (key == "name") {
            *named = true;
            if (!r.get_str(key, v, &c->name)) return false;
        } else if (key == "op" || key == "comment") {
            continue;  // "op" was read by op_of
        } else if (key == "model" || key == "note") {
            if (!r.get_str(key, v, &c->note)) return false;
        } else if (key == "tol_ulps") {
            if (!r.get_num(key, v, &c->tol_ulps)) return false;
            if (c->tol_ulps <= 0) return r.fail(key, "must be > 0");
        } else if (key == "reps") {
            int64_t n;
            if (!r.get_int(key, v, &n, 1)) return false;
            c->reps = static_cast<int>(n);
        } else if (!op->read_key(key, v, r)) {
            return false;
        }
    }
    return true;
}

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

    // The defaults, read by their op ("op" in the defaults, else attention).
    Case base;
    std::unique_ptr<BenchOp> base_op;
    if (defaults) {
        FieldReader r(path + ": defaults", error);
        if (!defaults->is_object()) return r.fail("", "must be an object");
        const std::string fallback = base.op;
        if (!(base_op = op_of(*defaults, fallback, r, &base.op))) return false;
        bool named = false;
        if (!read_case(*defaults, r, &base, base_op.get(), &named)) return false;
        if (named) {
            *error = path + ": defaults may not set \"name\"";
            return false;
        }
    }

    std::set<std::string> names;
    int index = 0;
    for (const Json &item : cases->items()) {
        ++index;
        Case c = base;
        std::string where = path + ": case " + std::to_string(index);
        if (item.is_object()) {
            if (const Json *n = item.find("name"); n && n->is_string()) where += " (\"" + n->as_string() + "\")";
        }
        FieldReader r(where, error);
        if (!item.is_object()) return r.fail("", "must be an object");
        std::unique_ptr<BenchOp> op = op_of(item, base.op, r, &c.op);
        if (!op) return false;
        if (base_op && c.op == base.op) {
            op = base_op->clone();
        } else if (defaults) {  // a case of another op than the defaults': they apply to it too
            FieldReader dr(path + ": defaults (for " + c.op + " case " + std::to_string(index) + ")", error);
            for (const auto &[key, v] : defaults->members())
                if (!is_common_key(key) && !op->read_key(key, v, dr)) return false;
        }
        bool named = false;
        if (!read_case(item, r, &c, op.get(), &named)) return false;
        if (!named || c.name.empty()) {
            *error = where + ": missing \"name\"";
            return false;
        }
        if (!names.insert(c.name).second) {
            *error = where + ": duplicate case name \"" + c.name + "\"";
            return false;
        }
        if (!op->finish(r)) return false;
        c.impl = std::move(op);
        out->cases.push_back(std::move(c));
    }
    return true;
}

}  // namespace vkbench
