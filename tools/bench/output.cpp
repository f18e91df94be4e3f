#include "output.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>

#include "json.h"

namespace vkbench {

std::string utc_now_iso() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string device_summary(const vkattn_device_info &d) {
    char buf[600];
    uint32_t v = d.api_version;
    std::snprintf(buf, sizeof buf, "%s (%s, Vulkan %u.%u.%u)", d.name, d.driver_name[0] ? d.driver_name : "driver ?",
                  (v >> 22) & 0x7Fu, (v >> 12) & 0x3FFu, v & 0xFFFu);
    return buf;
}

namespace {

std::string fmt(const char *f, double x) {
    char buf[64];
    std::snprintf(buf, sizeof buf, f, x);
    return buf;
}

std::string ms_text(double ms, bool wall) {
    if (ms < 0) return "-";
    std::string s = ms >= 100 ? fmt("%.1f", ms) : ms >= 1 ? fmt("%.3f", ms) : fmt("%.4f", ms);
    return wall ? s + "*" : s;
}

std::string tf_text(double tf) {
    if (tf <= 0) return "-";
    return tf >= 100 ? fmt("%.0f", tf) : tf >= 1 ? fmt("%.1f", tf) : fmt("%.2g", tf);
}

bool verified(const Result &r) {
    return r.rows_checked > 0;
}

bool reports_bytes(const Result &r) {
    return r.c.impl && r.c.impl->throughput() == Throughput::Bytes;
}

// The rate formula of the ops in `results`: "F", or "op: F; op2: G".
std::string rate_formulas(const std::vector<Result> &results) {
    std::vector<std::string> ops, formulas;
    for (const Result &r : results) {
        if (!r.c.impl || std::find(ops.begin(), ops.end(), r.c.op) != ops.end()) continue;
        ops.push_back(r.c.op);
        formulas.push_back(r.c.impl->rate_formula());
    }
    if (ops.size() == 1) return formulas[0];
    std::string s;
    for (size_t i = 0; i < ops.size(); ++i) {
        if (i) s += "; ";
        s += ops[i];
        s += ": ";
        s += formulas[i];
    }
    return s;
}

}  // namespace

void TablePrinter::header(Throughput t) {
    throughput_ = t;
    const bool gb = t == Throughput::Bytes;
    std::fprintf(f_, "%-*s  %-20s %-8s %-8s %-20s %10s %10s %8s", static_cast<int>(name_w_), "case", "shape", "dtype",
                 "backend", "path", "gpu ms", "min ms", gb ? "GB/s" : "TFLOP/s");
    if (host_) std::fprintf(f_, " %10s %8s", "host ms", gb ? "host GB" : "host TF");
    std::fprintf(f_, " %9s  %-11s %s\n", "err ulps", "result", "variant");
    std::fflush(f_);
}

void TablePrinter::row(const Result &r) {
    const bool gb = reports_bytes(r);
    if ((gb ? Throughput::Bytes : Throughput::Flops) != throughput_) {
        std::fprintf(f_, "\n");
        header(gb ? Throughput::Bytes : Throughput::Flops);
    }
    const bool wall = !r.gpu_timed;
    std::string err = verified(r) ? (std::isfinite(r.max_err_ulps) ? fmt("%.2f", r.max_err_ulps) : "inf") : "-";
    if (r.host_max_err_ulps > r.max_err_ulps && r.host_max_err_ulps >= 0)
        err = std::isfinite(r.host_max_err_ulps) ? fmt("%.2f", r.host_max_err_ulps) : "inf";
    std::fprintf(f_, "%-*s  %-20s %-8s %-8s %-20s %10s %10s %8s", static_cast<int>(name_w_), r.c.name.c_str(),
                 r.c.impl->shape().c_str(), r.c.impl->dtypes().c_str(), backend_name(r.backend),
                 r.path.empty() ? "-" : r.path.c_str(), ms_text(r.gpu_ms_median, wall).c_str(),
                 ms_text(r.gpu_ms_min, wall).c_str(), tf_text(gb ? r.gbps : r.tflops).c_str());
    if (host_)
        std::fprintf(f_, " %10s %8s", ms_text(r.host_ms_median, false).c_str(),
                     tf_text(gb ? r.host_gbps : r.host_tflops).c_str());
    std::fprintf(f_, " %9s  %-11s %s\n", err.c_str(), r.outcome.c_str(), r.variant.c_str());
    if (r.outcome == "ok" || r.message.empty()) return void(std::fflush(f_));
    if (r.outcome == "unsupported") {  // the same reason for every case: say it once
        std::string key = std::string(backend_name(r.backend)) + r.message;
        if (std::find(shown_.begin(), shown_.end(), key) != shown_.end()) return void(std::fflush(f_));
        shown_.push_back(key);
    }
    std::fprintf(f_, "    -> %s\n", r.message.c_str());
    std::fflush(f_);
}

int print_summary(std::FILE *f, const std::vector<Result> &results) {
    int ok = 0, failed = 0, errors = 0, unsupported = 0, skipped = 0;
    bool wall = false;
    for (const Result &r : results) {
        if (r.outcome == "ok")
            ++ok;
        else if (r.outcome == "FAIL")
            ++failed;
        else if (r.outcome == "unsupported")
            ++unsupported;
        else if (r.outcome == "skipped")
            ++skipped;
        else
            ++errors;
        if (!r.gpu_timed && r.gpu_ms_median >= 0) wall = true;
    }
    std::fprintf(f, "\n%zu result(s): %d ok, %d failed verification, %d error(s), %d unsupported, %d not verified\n",
                 results.size(), ok, failed, errors, unsupported, skipped);
    if (wall) std::fprintf(f, "* no GPU timestamps on this device: times are host wall clock around the call\n");
    return failed + errors;
}

bool write_json(const std::string &path, const RunMeta &meta, const std::vector<Result> &results, std::string *error) {
    std::ofstream o(path);
    if (!o) {
        *error = path + ": cannot open for writing";
        return false;
    }
    const vkattn_device_info &d = meta.device;
    o << "{\n  \"tool\": \"vkattn-bench\",\n";
    o << "  \"library_version\": " << meta.library_version << ",\n";
    o << "  \"date\": " << json_quote(meta.date) << ",\n";
    o << "  \"suite\": " << json_quote(meta.suite_path) << ",\n";
    o << "  \"suite_name\": " << json_quote(meta.suite_name) << ",\n";
    o << "  \"device\": {\"name\": " << json_quote(d.name) << ", \"driver\": " << json_quote(d.driver_name)
      << ", \"driver_info\": " << json_quote(d.driver_info) << ", \"vendor_id\": " << d.vendor_id
      << ", \"device_id\": " << d.device_id << ", \"api_version\": \"" << ((d.api_version >> 22) & 0x7Fu) << "."
      << ((d.api_version >> 12) & 0x3FFu) << "." << (d.api_version & 0xFFFu) << "\"},\n";
    o << "  \"reps\": " << (meta.options.reps > 0 ? std::to_string(meta.options.reps) : "null")
      << ", \"warmup\": " << meta.options.warmup << ", \"verify_rows\": " << meta.options.verify_rows << ",\n";
    o << "  \"flops_formula\": " << json_quote(rate_formulas(results)) << ",\n";
    o << "  \"results\": [";
    for (size_t i = 0; i < results.size(); ++i) {
        const Result &r = results[i];
        const Case &c = r.c;
        o << (i ? ",\n" : "\n") << "    {";
        o << "\"name\": " << json_quote(c.name) << ", \"op\": " << json_quote(c.op);
        c.impl->write_json(o);
        o << ",\n     \"backend\": \"" << backend_name(r.backend) << "\", \"outcome\": " << json_quote(r.outcome)
          << ", \"status\": " << static_cast<int>(r.status) << ", \"message\": " << json_quote(r.message)
          << ", \"path\": " << json_quote(r.path) << ", \"variant\": " << json_quote(r.variant)
          << ", \"dispatches\": " << r.dispatches << ", \"submits\": " << r.submits;
        o << ",\n     \"flops\": " << json_number(c.impl->flops()) << ", \"reps\": " << r.reps
          << ", \"gpu_timed\": " << (r.gpu_timed ? "true" : "false")
          << ", \"gpu_ms_median\": " << json_number(r.gpu_ms_median >= 0 ? r.gpu_ms_median : NAN)
          << ", \"gpu_ms_min\": " << json_number(r.gpu_ms_min >= 0 ? r.gpu_ms_min : NAN)
          << ", \"wall_ms_median\": " << json_number(r.wall_ms_median >= 0 ? r.wall_ms_median : NAN)
          << ", \"tflops\": " << json_number(r.tflops > 0 ? r.tflops : NAN)
          << ", \"tflops_peak\": " << json_number(r.tflops_peak > 0 ? r.tflops_peak : NAN);
        if (reports_bytes(r))
            o << ", \"bytes\": " << json_number(c.impl->bytes())
              << ", \"gbps\": " << json_number(r.gbps > 0 ? r.gbps : NAN)
              << ", \"gbps_peak\": " << json_number(r.gbps_peak > 0 ? r.gbps_peak : NAN);
        if (meta.options.host)
            o << ", \"host_ms_median\": " << json_number(r.host_ms_median >= 0 ? r.host_ms_median : NAN)
              << ", \"host_ms_min\": " << json_number(r.host_ms_min >= 0 ? r.host_ms_min : NAN)
              << ", \"host_tflops\": " << json_number(r.host_tflops > 0 ? r.host_tflops : NAN)
              << ", \"host_max_err_ulps\": " << json_number(r.host_max_err_ulps >= 0 ? r.host_max_err_ulps : NAN);
        if (meta.options.host && reports_bytes(r))
            o << ", \"host_gbps\": " << json_number(r.host_gbps > 0 ? r.host_gbps : NAN);
        o << ",\n     \"rows_checked\": " << r.rows_checked
          << ", \"max_abs_err\": " << json_number(verified(r) ? r.max_abs_err : NAN)
          << ", \"max_err_ulps\": " << json_number(verified(r) ? r.max_err_ulps : NAN)
          << ", \"tol_ulps\": " << json_number(r.tol_ulps) << ", \"nonfinite\": " << r.nonfinite
          << ", \"setup_s\": " << json_number(r.setup_s) << "}";
    }
    o << "\n  ]\n}\n";
    o.close();
    if (!o) {
        *error = path + ": write failed";
        return false;
    }
    return true;
}

namespace {

std::string csv_field(const std::string &s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string o = "\"";
    for (char ch : s) {
        if (ch == '"') o += '"';
        o += ch;
    }
    return o + "\"";
}

std::string num_or_empty(double x, bool present) {
    return present && std::isfinite(x) ? json_number(x) : "";
}

}  // namespace

bool write_csv(const std::string &path, const std::vector<Result> &results, bool host, std::string *error) {
    std::ofstream o(path);
    if (!o) {
        *error = path + ": cannot open for writing";
        return false;
    }
    // The case columns: those of every op in the results, in first-seen order
    // (a row leaves the other ops' columns empty).
    std::vector<std::string> columns;
    bool bytes = false;
    for (const Result &r : results) {
        if (!r.c.impl) continue;
        for (const std::string &col : r.c.impl->csv_columns())
            if (std::find(columns.begin(), columns.end(), col) == columns.end()) columns.push_back(col);
        bytes = bytes || reports_bytes(r);
    }
    o << "name,op";
    for (const std::string &col : columns) o << ',' << col;
    o << ",backend,outcome,status,path,variant,reps,gpu_timed,gpu_ms_median,gpu_ms_min,tflops,tflops_peak,"
         "wall_ms_median";
    if (bytes) o << ",bytes,gbps,gbps_peak";
    if (host) o << ",host_ms_median,host_ms_min,host_tflops,host_max_err_ulps";
    if (host && bytes) o << ",host_gbps";
    o << ",rows_checked,max_abs_err,max_err_ulps,tol_ulps,nonfinite,message\n";
    for (const Result &r : results) {
        const Case &c = r.c;
        std::vector<std::string> values(columns.size());
        if (c.impl) {
            std::vector<std::string> own = c.impl->csv_columns(), v = c.impl->csv_values();
            for (size_t i = 0; i < own.size() && i < v.size(); ++i)
                values[std::find(columns.begin(), columns.end(), own[i]) - columns.begin()] = v[i];
        }
        o << csv_field(c.name) << ',' << csv_field(c.op);
        for (const std::string &v : values) o << ',' << v;
        o << ',' << backend_name(r.backend) << ',' << r.outcome << ',' << static_cast<int>(r.status) << ','
          << csv_field(r.path) << ',' << csv_field(r.variant) << ',' << r.reps << ',' << (r.gpu_timed ? 1 : 0) << ','
          << num_or_empty(r.gpu_ms_median, r.gpu_ms_median >= 0) << ',' << num_or_empty(r.gpu_ms_min, r.gpu_ms_min >= 0)
          << ',' << num_or_empty(r.tflops, r.tflops > 0) << ',' << num_or_empty(r.tflops_peak, r.tflops_peak > 0) << ','
          << num_or_empty(r.wall_ms_median, r.wall_ms_median >= 0);
        if (bytes) {
            const bool own = reports_bytes(r);
            o << ',' << (own ? json_number(c.impl->bytes()) : "") << ',' << num_or_empty(r.gbps, own && r.gbps > 0)
              << ',' << num_or_empty(r.gbps_peak, own && r.gbps_peak > 0);
        }
        if (host)
            o << ',' << num_or_empty(r.host_ms_median, r.host_ms_median >= 0) << ','
              << num_or_empty(r.host_ms_min, r.host_ms_min >= 0) << ','
              << num_or_empty(r.host_tflops, r.host_tflops > 0) << ','
              << num_or_empty(r.host_max_err_ulps, r.host_max_err_ulps >= 0);
        if (host && bytes) o << ',' << num_or_empty(r.host_gbps, reports_bytes(r) && r.host_gbps > 0);
        o << ',' << r.rows_checked << ',' << num_or_empty(r.max_abs_err, verified(r)) << ','
          << num_or_empty(r.max_err_ulps, verified(r)) << ',' << json_number(r.tol_ulps) << ',' << r.nonfinite << ','
          << csv_field(r.message) << '\n';
    }
    o.close();
    if (!o) {
        *error = path + ": write failed";
        return false;
    }
    return true;
}

}  // namespace vkbench
