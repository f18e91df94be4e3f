// Human table, JSON and CSV output, and the SVG bar chart of vkattn-bench.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "op.h"
#include "runner.h"

namespace vkbench {

struct RunMeta {
    std::string date;  // ISO 8601 UTC
    std::string suite_path, suite_name;
    vkattn_device_info device{};
    uint32_t library_version = 0;
    RunOptions options;
};

std::string device_summary(const vkattn_device_info &d);  // "NAME (driver, Vulkan 1.3.239)"
std::string utc_now_iso();

// The stdout table, printed row by row as cases finish. The throughput
// column is the op's (TFLOP/s or GB/s); a row of an op that reports the
// other one is preceded by a new header.
class TablePrinter {
public:
    TablePrinter(std::FILE *f, size_t name_width, bool host) : f_(f), name_w_(name_width), host_(host) {}
    void header(Throughput t = Throughput::Flops);
    void row(const Result &r);

private:
    std::FILE *f_;
    size_t name_w_;
    bool host_;
    Throughput throughput_ = Throughput::Flops;
    std::vector<std::string> shown_;  // "unsupported" messages already printed once
};

// Summary lines after the table; returns the number of failed/errored results.
int print_summary(std::FILE *f, const std::vector<Result> &results);

bool write_json(const std::string &path, const RunMeta &meta, const std::vector<Result> &results, std::string *error);
bool write_csv(const std::string &path, const std::vector<Result> &results, bool host, std::string *error);

// ------------------------------------------------------------------ plot

struct PlotPoint {
    std::string case_name;  // one bar group per case, in first-seen order
    std::string shape;
    std::string series;  // one colour per series (backend, or device/backend)
    double tflops = 0;   // <= 0: no bar (failed or unsupported)
    std::string note;    // shown instead of a bar: the outcome ("error", "unsupported", ...)
};

// Points from this run: series = backend name (+ " (host API)" rows with --host).
std::vector<PlotPoint> plot_points(const std::vector<Result> &results, bool host);

// Points from an earlier --json file; series = "<label>" + "/" + backend,
// label the device name unless given. Returns false with *error on failure.
bool plot_points_from_json(const std::string &path, std::vector<PlotPoint> *out, std::string *device,
                           std::string *error);

// Horizontal grouped bar chart of TFLOP/s, hand-written SVG.
bool write_svg(const std::string &path, const std::string &title, const std::string &subtitle,
               const std::vector<PlotPoint> &points, std::string *error);

}  // namespace vkbench
