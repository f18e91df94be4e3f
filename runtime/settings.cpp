// Environment variables, parsed once per context (settings.h).
#include "settings.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace vkattn {
namespace {

std::string lower(const char *s) {
    std::string out(s);
    for (char &c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// The variable's text, or null when unset or empty.
const char *env(const char *name) {
    const char *e = std::getenv(name);
    return e && *e ? e : nullptr;
}

Status bad(const char *name, const char *value, const char *want) {
    return Error(VKATTN_ERROR_INVALID_ARGUMENT, name, "=\"", value, "\" is not ", want);
}

// One on/off value of variable `name`; "" gives `def`.
Status flag_value(const char *name, const char *v, bool def, bool *out) {
    if (!*v) {
        *out = def;
        return Status::Ok();
    }
    if (!parse_flag(v, out)) return bad(name, v, "on or off (1/0, on/off, true/false, yes/no)");
    return Status::Ok();
}

// The variable, when set, as an on/off value into *out (kept when unset).
Status read_flag(const char *name, bool *out) {
    const char *e = env(name);
    return e ? flag_value(name, e, *out, out) : Status::Ok();
}

Status read_bytes(const char *name, uint64_t *out) {
    const char *e = env(name);
    if (e && !parse_bytes(e, out)) return bad(name, e, "a byte count (e.g. 512M, 2G)");
    return Status::Ok();
}

void read_text(const char *name, std::string *out) {
    if (const char *e = env(name)) *out = e;
}

}  // namespace

bool parse_bytes(const char *text, uint64_t *out) {
    if (!text || !std::isdigit(static_cast<unsigned char>(*text))) return false;
    char *end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(text, &end, 10);
    if (errno || end == text) return false;
    uint64_t mul = 1;
    if (*end) {
        switch (std::toupper(static_cast<unsigned char>(*end))) {
            case 'K': mul = 1ull << 10; break;
            case 'M': mul = 1ull << 20; break;
            case 'G': mul = 1ull << 30; break;
            default: return false;
        }
        ++end;
        if (*end == 'i' || *end == 'I') ++end;
        if (*end == 'B' || *end == 'b') ++end;
        if (*end) return false;
    }
    if (v > UINT64_MAX / mul) return false;
    *out = v * mul;
    return true;
}

bool parse_flag(const char *text, bool *out) {
    const std::string t = lower(text);
    if (t == "1" || t == "on" || t == "true" || t == "yes") {
        *out = true;
        return true;
    }
    if (t == "0" || t == "off" || t == "false" || t == "no") {
        *out = false;
        return true;
    }
    return false;
}

Status read_settings(Settings *s) {
    *s = Settings{};
    read_text("VKATTN_DEVICE", &s->device);
    VKA_RETURN_IF_ERROR(read_flag("VKATTN_VALIDATION", &s->validation));
    VKA_RETURN_IF_ERROR(read_bytes("VKATTN_HEAP_LIMIT", &s->heap_limit));
    VKA_RETURN_IF_ERROR(read_bytes("VKATTN_MAX_BUFFER_RANGE", &s->max_buffer_range));
    if (const char *e = env("VKATTN_CACHE_DIR"))
        s->cache_dir = e;
    else if (const char *x = env("XDG_CACHE_HOME"))
        s->cache_dir = std::string(x) + "/vkattn";
    else if (const char *h = env("HOME"))
        s->cache_dir = std::string(h) + "/.cache/vkattn";
    VKA_RETURN_IF_ERROR(read_flag("VKATTN_NO_HOST_IMPORT", &s->no_host_import));
    if (env("VKATTN_HOST_DIRECT")) {
        bool on = false;
        VKA_RETURN_IF_ERROR(read_flag("VKATTN_HOST_DIRECT", &on));
        s->host_direct = on ? 1 : 0;
    }
    VKA_RETURN_IF_ERROR(read_flag("VKATTN_PIPELINE_STATS", &s->pipeline_stats));
    if (const char *e = env("VKATTN_TRANSFER_QUEUE")) {
        const std::string t = lower(e);
        bool on = true;
        if (t == "same")
            s->transfer_queue = TransferQueue::Same;
        else if (t == "same-late")
            s->transfer_queue = TransferQueue::SameLate;
        else if (parse_flag(e, &on))
            s->transfer_queue = on ? TransferQueue::Auto : TransferQueue::Off;
        else
            return bad("VKATTN_TRANSFER_QUEUE", e, "0, 1, same or same-late");
    }
    return Status::Ok();
}

namespace {

Status count_value(const char *name, const char *v, uint32_t lo, uint32_t hi, uint32_t *out) {
    if (!*v) {
        *out = 0;
        return Status::Ok();
    }
    char *end = nullptr;
    errno = 0;
    const long long n = std::strtoll(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        return Error(VKATTN_ERROR_INVALID_ARGUMENT, name, "=\"", v, "\" is not a whole number from ", lo, " to ", hi);
    *out = static_cast<uint32_t>(n);
    return Status::Ok();
}

// Every tuning hook: its variable and how a value sets it.
struct TuningVar {
    const char *name;
    Status (*set)(Tuning &t, const char *name, const char *v);
};

const TuningVar kTuningVars[] = {
    {"VKATTN_FORCE_SPLITKV",
     [](Tuning &t, const char *n, const char *v) { return count_value(n, v, 0, 4096, &t.force_splitkv); }},
    {"VKATTN_COOPMAT", [](Tuning &t, const char *n, const char *v) { return flag_value(n, v, true, &t.coopmat); }},
    {"VKATTN_COOPMAT_F32",
     [](Tuning &t, const char *n, const char *v) { return flag_value(n, v, true, &t.coopmat_f32); }},
    {"VKATTN_COOPMAT_TILE",
     [](Tuning &t, const char *, const char *v) {
         t.coopmat_tile = v;
         return Status::Ok();
     }},
    {"VKATTN_ATTN_TILE",
     [](Tuning &t, const char *, const char *v) {
         t.attn_tile = v;
         return Status::Ok();
     }},
    {"VKATTN_ATTN_FAST",
     [](Tuning &t, const char *, const char *v) {
         t.attn_fast = v;
         return Status::Ok();
     }},
    {"VKATTN_ATTN_PREF",
     [](Tuning &t, const char *n, const char *v) { return flag_value(n, v, true, &t.attn_prefetch); }},
    {"VKATTN_ATTN_GENERIC",
     [](Tuning &t, const char *n, const char *v) { return flag_value(n, v, false, &t.attn_generic); }},
    {"VKATTN_ATTN_FAST_VARIANT",
     [](Tuning &t, const char *n, const char *v) -> Status {
#ifndef VKATTN_TUNING_VARIANTS
         if (*v)
             return Error(VKATTN_ERROR_INVALID_ARGUMENT, n, "=\"", v,
                          "\": the ablation kernels are built only with -DVKATTN_TUNING_VARIANTS=ON");
#endif
         (void)n;
         t.attn_fast_variant = v;
         return Status::Ok();
     }},
    {"VKATTN_HOST_CHUNKS",
     [](Tuning &t, const char *n, const char *v) { return count_value(n, v, 0, 1 << 20, &t.host_chunks); }},
    {"VKATTN_HOST_HUGEPAGE",
     [](Tuning &t, const char *n, const char *v) { return flag_value(n, v, true, &t.host_hugepage); }},
    {"VKATTN_HOST_PROFILE",
     [](Tuning &t, const char *n, const char *v) { return flag_value(n, v, false, &t.host_profile); }},
};

}  // namespace

Status set_tuning(Tuning *t, const char *name, const char *value) {
    for (const TuningVar &var : kTuningVars)
        if (std::strcmp(var.name, name) == 0) return var.set(*t, name, value ? value : "");
    return Error(VKATTN_ERROR_INVALID_ARGUMENT, "\"", name, "\" is not a tuning hook");
}

Status read_tuning(Tuning *t) {
    *t = Tuning{};
    for (const TuningVar &var : kTuningVars)
        if (const char *e = env(var.name)) VKA_RETURN_IF_ERROR(var.set(*t, var.name, e));
    return Status::Ok();
}

}  // namespace vkattn
