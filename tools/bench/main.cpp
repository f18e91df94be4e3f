// vkattn-bench: runs the shape suites of assets/suites/ through the public
// vkattn C ABI, verifies each case against the f64 reference, then times it.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "op.h"
#include "output.h"
#include "runner.h"
#include "suite.h"

#ifndef VKATTN_BENCH_SOURCE_DIR
#define VKATTN_BENCH_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;
using namespace vkbench;

namespace {

const char *kUsage =
    "usage: vkattn-bench [options]\n"
    "Runs the cases of a shape suite through vkattn: each case is verified once\n"
    "against a double-precision CPU reference, then timed with GPU timestamps.\n"
    "\n"
    "Suite and selection:\n"
    "  --suite FILE|NAME     suite JSON; a bare NAME means assets/suites/NAME.json.\n"
    "                        Relative paths are tried in the current directory, then\n"
    "                        in the source tree. Default: assets/suites/real_models.json\n"
    "  --filter SUBSTR[,..]  only cases whose name contains one of the substrings\n"
    "                        (repeatable)\n"
    "  --op OP               only cases of this op (attention)\n"
    "  --list                print the selected cases and exit\n"
    "\n"
    "Device and backend:\n"
    "  --device IDX|NAME     device index or case-insensitive name substring\n"
    "                        (default: $VKATTN_DEVICE, else the best device)\n"
    "  --list-devices        print the Vulkan devices and exit\n"
    "  --backend LIST        auto|portable|coopmat; a comma list runs each case under\n"
    "                        each backend (default: auto)\n"
    "  --validation          enable the Vulkan validation layer; errors it reports\n"
    "                        make the exit status 1\n"
    "\n"
    "Measurement:\n"
    "  --reps N              timed repetitions (default: the case's \"reps\", else 10)\n"
    "  --warmup N            untimed calls before timing (default 2; when N > 0, calls continue\n"
    "                        until 250 ms have passed, at most 100, so the GPU clocks are up)\n"
    "  --host                also time vkattn_attention_host (host arrays in and out,\n"
    "                        wall clock), what ComfyUI on the CPU gets\n"
    "  --verify-rows N       output rows of big cases checked against the reference,\n"
    "                        from 3 (batch, head) pairs (default 32); small cases are\n"
    "                        checked whole; 0 = no check\n"
    "  --tol ULPS            tolerance in output-dtype ulps at the row magnitude\n"
    "                        (default: the case's tol_ulps, else 2 for f16/bf16, 256 for f32)\n"
    "\n"
    "Output:\n"
    "  --json FILE           write the results as JSON\n"
    "  --csv FILE            write the results as CSV\n"
    "  --plot FILE.svg       write an SVG bar chart of TFLOP/s per case (the only\n"
    "                        format; the name must end in .svg)\n"
    "  --plot-add FILE.json  add the results of an earlier --json run to the chart\n"
    "                        (repeatable; series are named device/backend)\n"
    "  --plot-only           do not run: chart only the --plot-add files\n"
    "  -q, --quiet           no progress line on stderr\n"
    "  -h, --help            this text\n"
    "  --version             library and ABI versions\n"
    "\n"
    "Exit status: 0 when every case ran and verified (or its forced backend is\n"
    "unsupported); 1 when a case failed verification or errored; 2 on a usage or\n"
    "suite error.\n";

struct Cli {
    std::string suite;
    std::vector<std::string> filters;
    std::string op;
    bool list = false, list_devices = false, quiet = false, plot_only = false;
    std::string json, csv, plot;
    std::vector<std::string> plot_add;
    RunOptions run;
};

[[noreturn]] void usage_error(const std::string &what) {
    std::fprintf(stderr, "vkattn-bench: %s\n(run vkattn-bench --help for the options)\n", what.c_str());
    std::exit(2);
}

std::vector<std::string> split_commas(const std::string &s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        size_t comma = s.find(',', start);
        if (comma == std::string::npos) comma = s.size();
        std::string part = s.substr(start, comma - start);
        if (!part.empty()) out.push_back(part);
        start = comma + 1;
    }
    return out;
}

// The chart is always SVG: a file named otherwise (out.png) would hold SVG
// under the wrong name, so the name must end in .svg (any case).
std::string svg_file(const std::string &opt, const std::string &file) {
    if (file.empty()) usage_error(opt + " expects a file name ending in .svg");
    std::string ext = file.size() >= 4 ? file.substr(file.size() - 4) : "";
    for (char &c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (ext != ".svg") usage_error(opt + " " + file + ": the chart is SVG; give a file name ending in .svg");
    return file;
}

int parse_count(const std::string &opt, const std::string &v, int lo) {
    char *end = nullptr;
    long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end || n < lo || n > 1000000)
        usage_error(opt + " expects an integer >= " + std::to_string(lo) + ", got \"" + v + "\"");
    return static_cast<int>(n);
}

Cli parse_args(int argc, char **argv) {
    Cli cli;
    bool backends_given = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i], value;
        bool has_inline = false;
        if (a.rfind("--", 0) == 0) {
            size_t eq = a.find('=');
            if (eq != std::string::npos) {
                value = a.substr(eq + 1);
                a = a.substr(0, eq);
                has_inline = true;
            }
        }
        auto arg = [&]() -> std::string {
            if (has_inline) return value;
            if (i + 1 >= argc) usage_error("option " + a + " needs a value");
            return argv[++i];
        };
        auto flag = [&] {
            if (has_inline) usage_error("option " + a + " takes no value");
        };
        if (a == "-h" || a == "--help") {
            std::fputs(kUsage, stdout);
            std::exit(0);
        } else if (a == "--version") {
            uint32_t v = vkattn_version();
            std::printf("vkattn-bench, library %u.%u.%u, ABI %u (built against ABI %d)\n", v / 10000, v / 100 % 100,
                        v % 100, vkattn_abi_version(), VKATTN_ABI_VERSION);
            std::exit(0);
        } else if (a == "--suite") {
            cli.suite = arg();
        } else if (a == "--filter") {
            for (auto &f : split_commas(arg())) cli.filters.push_back(f);
        } else if (a == "--op") {
            cli.op = arg();
            if (!make_op(cli.op)) usage_error("unknown op \"" + cli.op + "\" (" + known_ops() + ")");
        } else if (a == "--list") {
            flag();
            cli.list = true;
        } else if (a == "--list-devices") {
            flag();
            cli.list_devices = true;
        } else if (a == "--device") {
            std::string d = arg();
            char *end = nullptr;
            long idx = std::strtol(d.c_str(), &end, 10);
            if (!d.empty() && !*end && idx >= 0)
                cli.run.device_index = static_cast<int32_t>(idx);
            else if (!d.empty())
                cli.run.device_name = d;
            else
                usage_error("--device expects an index or a name");
        } else if (a == "--backend") {
            if (!backends_given) cli.run.backends.clear();
            backends_given = true;
            for (auto &b : split_commas(arg())) {
                vkattn_backend be;
                if (!parse_backend(b, &be)) usage_error("unknown backend \"" + b + "\" (auto, portable, coopmat)");
                cli.run.backends.push_back(be);
            }
            if (cli.run.backends.empty()) usage_error("--backend expects auto, portable or coopmat");
        } else if (a == "--validation") {
            flag();
            cli.run.validation = true;
        } else if (a == "--reps") {
            cli.run.reps = parse_count(a, arg(), 1);
        } else if (a == "--warmup") {
            cli.run.warmup = parse_count(a, arg(), 0);
        } else if (a == "--host") {
            flag();
            cli.run.host = true;
        } else if (a == "--verify-rows") {
            cli.run.verify_rows = parse_count(a, arg(), 0);
        } else if (a == "--tol") {
            std::string v = arg();
            char *end = nullptr;
            double t = std::strtod(v.c_str(), &end);
            if (v.empty() || *end || !(t > 0)) usage_error("--tol expects a positive number, got \"" + v + "\"");
            cli.run.tol_ulps = t;
        } else if (a == "--json") {
            cli.json = arg();
        } else if (a == "--csv") {
            cli.csv = arg();
        } else if (a == "--plot") {
            cli.plot = svg_file(a, arg());
        } else if (a == "--plot-add") {
            cli.plot_add.push_back(arg());
        } else if (a == "--plot-only") {
            flag();
            cli.plot_only = true;
        } else if (a == "-q" || a == "--quiet") {
            flag();
            cli.quiet = true;
        } else {
            usage_error("unknown option \"" + std::string(argv[i]) + "\"");
        }
    }
    if (cli.plot_only && (cli.plot.empty() || cli.plot_add.empty()))
        usage_error("--plot-only needs --plot FILE.svg and at least one --plot-add FILE.json");
    return cli;
}

// Find the suite: as given, then under the source tree; a bare name means
// assets/suites/NAME(.json).
std::string resolve_suite(const std::string &arg, std::vector<std::string> *tried) {
    std::vector<fs::path> rel;
    if (arg.empty()) {
        rel.push_back("assets/suites/real_models.json");
    } else {
        fs::path p(arg);
        if (p.is_absolute()) {
            rel.push_back(p);
        } else {
            rel.push_back(p);
            if (!p.has_parent_path()) {
                rel.push_back(fs::path("assets/suites") / p);
                if (p.extension() != ".json") rel.push_back(fs::path("assets/suites") / (arg + ".json"));
            }
        }
    }
    std::vector<fs::path> candidates;
    for (const fs::path &p : rel) {
        candidates.push_back(p);
        if (p.is_relative()) candidates.push_back(fs::path(VKATTN_BENCH_SOURCE_DIR) / p);
    }
    for (const fs::path &c : candidates) {
        std::error_code ec;
        if (fs::is_regular_file(c, ec)) return c.lexically_normal().string();
        tried->push_back(c.string());
    }
    return "";
}

const char *type_name(uint32_t t) {
    switch (t) {
        case VKATTN_DEVICE_INTEGRATED_GPU: return "integrated GPU";
        case VKATTN_DEVICE_DISCRETE_GPU: return "discrete GPU";
        case VKATTN_DEVICE_VIRTUAL_GPU: return "virtual GPU";
        case VKATTN_DEVICE_CPU: return "CPU";
        default: return "other";
    }
}

int list_devices() {
    uint32_t n = 0;
    vkattn_status s = vkattn_device_count(&n);
    if (s != VKATTN_SUCCESS) {
        std::fprintf(stderr, "vkattn-bench: vkattn_device_count: %s\n", status_message(s).c_str());
        return 1;
    }
    if (n == 0) std::printf("no Vulkan devices\n");
    for (uint32_t i = 0; i < n; ++i) {
        vkattn_device_info d = VKATTN_DEVICE_INFO_INIT;
        s = vkattn_device_get_info(i, &d);
        if (s != VKATTN_SUCCESS) {
            std::printf("%u: (vkattn_device_get_info failed: %s)\n", i, status_message(s).c_str());
            continue;
        }
        std::printf("%u: %s\n", i, device_summary(d).c_str());
        std::printf("   %s, vendor 0x%04x device 0x%04x, %s\n", type_name(d.device_type), d.vendor_id, d.device_id,
                    d.driver_info);
        std::printf("   subgroup %u (%u..%u), shared memory %u KiB, max storage buffer %.0f MiB\n", d.subgroup_size,
                    d.min_subgroup_size, d.max_subgroup_size, d.max_shared_memory / 1024,
                    static_cast<double>(d.max_storage_buffer_range) / (1 << 20));
        std::printf("   f16 math %s, 16-bit storage %s, coopmat NV %s / KHR %s, timestamps %s\n",
                    d.shader_float16 ? "yes" : "no", d.storage_16bit ? "yes" : "no",
                    d.nv_cooperative_matrix ? "yes" : "no", d.khr_cooperative_matrix ? "yes" : "no",
                    d.timestamps ? "yes" : "no");
        std::printf("   device-local heap %.1f GiB, budget %.1f GiB%s\n",
                    static_cast<double>(d.device_local_heap_size) / (1ull << 30),
                    static_cast<double>(d.device_local_budget) / (1ull << 30),
                    d.memory_budget_ext ? " (memory budget ext)" : "");
    }
    return 0;
}

bool selected(const Case &c, const Cli &cli) {
    if (!cli.op.empty() && c.op != cli.op) return false;
    if (cli.filters.empty()) return true;
    for (const std::string &f : cli.filters)
        if (c.name.find(f) != std::string::npos) return true;
    return false;
}

std::string backends_text(const RunOptions &o) {
    std::string s;
    for (vkattn_backend b : o.backends) {
        if (!s.empty()) s += ',';
        s += backend_name(b);
    }
    return s;
}

// The progress line on stderr. On a terminal it rewrites itself about once
// a second while a case runs; otherwise it prints one line per case.
class Progress {
public:
    Progress(bool enabled, bool tty) : enabled_(enabled), tty_(tty), start_(Clock::now()) {}
    ~Progress() { stop(); }

    void begin(const std::string &label) {
        if (!enabled_) return;
        stop();
        label_ = label;
        case_start_ = Clock::now();
        if (!tty_) {
            std::fprintf(stderr, "%s  (%.1f s elapsed)\n", label_.c_str(), seconds(start_));
            std::fflush(stderr);
            return;
        }
        draw();
        running_ = true;
        ticker_ = std::thread([this] {
            std::unique_lock<std::mutex> lock(mu_);
            while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return !running_; })) draw();
        });
    }

    // Clear the line (before a table row goes to stdout).
    void stop() {
        if (!enabled_ || !tty_) return;
        if (ticker_.joinable()) {
            {
                std::lock_guard<std::mutex> lock(mu_);
                running_ = false;
            }
            cv_.notify_all();
            ticker_.join();
        }
        if (drawn_) {
            std::fprintf(stderr, "\r\033[K");
            std::fflush(stderr);
            drawn_ = false;
        }
    }

private:
    using Clock = std::chrono::steady_clock;
    static double seconds(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
    void draw() {
        std::fprintf(stderr, "\r\033[K%s  (case %.0f s, total %.0f s)", label_.c_str(), seconds(case_start_),
                     seconds(start_));
        std::fflush(stderr);
        drawn_ = true;
    }

    bool enabled_, tty_;
    bool drawn_ = false;
    Clock::time_point start_, case_start_;
    std::string label_;
    std::thread ticker_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool running_ = false;
};

// Points of earlier --json runs, appended to *pts. Series are prefixed with
// the device name when the sources (this run included, if `own_device` is
// given) come from more than one device.
bool add_plot_files(const std::vector<std::string> &files, const std::string *own_device, std::vector<PlotPoint> *pts) {
    std::vector<std::pair<std::string, std::vector<PlotPoint>>> sources;
    std::vector<std::string> devices;
    if (own_device) devices.push_back(*own_device);
    for (const std::string &f : files) {
        std::vector<PlotPoint> p;
        std::string dev, err;
        if (!plot_points_from_json(f, &p, &dev, &err)) {
            std::fprintf(stderr, "vkattn-bench: %s\n", err.c_str());
            return false;
        }
        if (dev.empty()) dev = f;
        if (std::find(devices.begin(), devices.end(), dev) == devices.end()) devices.push_back(dev);
        sources.emplace_back(dev, std::move(p));
    }
    const bool prefix = devices.size() > 1;
    if (prefix && own_device)
        for (PlotPoint &p : *pts) p.series = *own_device + " / " + p.series;
    for (auto &[dev, p] : sources) {
        for (PlotPoint &x : p) {
            if (prefix) x.series = dev + " / " + x.series;
            pts->push_back(std::move(x));
        }
    }
    return true;
}

int plot_only(const Cli &cli) {
    std::vector<PlotPoint> pts;
    if (!add_plot_files(cli.plot_add, nullptr, &pts)) return 2;
    std::string err;
    if (!write_svg(
            cli.plot, "vkattn-bench: attention throughput",
            "results of " + std::to_string(cli.plot_add.size()) + " run(s), plotted " + utc_now_iso().substr(0, 10),
            pts, &err)) {
        std::fprintf(stderr, "vkattn-bench: %s\n", err.c_str());
        return 1;
    }
    std::printf("wrote %s\n", cli.plot.c_str());
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    Cli cli = parse_args(argc, argv);
    if (cli.list_devices) return list_devices();
    if (cli.plot_only) return plot_only(cli);

    std::vector<std::string> tried;
    std::string suite_path = resolve_suite(cli.suite, &tried);
    if (suite_path.empty()) {
        std::string where;
        for (auto &t : tried) where += "\n  " + t;
        std::fprintf(stderr, "vkattn-bench: suite file not found: %s\nlooked for:%s\n",
                     cli.suite.empty() ? "(default)" : cli.suite.c_str(), where.c_str());
        return 2;
    }
    Suite suite;
    std::string err;
    if (!load_suite(suite_path, &suite, &err)) {
        std::fprintf(stderr, "vkattn-bench: bad suite: %s\n", err.c_str());
        return 2;
    }
    std::vector<Case> cases;
    for (const Case &c : suite.cases)
        if (selected(c, cli)) cases.push_back(c);
    if (cases.empty()) {
        std::fprintf(stderr, "vkattn-bench: no case of %s matches the filters\n", suite_path.c_str());
        return 2;
    }
    if (cli.list) {
        for (const Case &c : cases)
            std::printf("%-28s %-10s %s  %.3g GFLOP\n", c.name.c_str(), c.op.c_str(), c.impl->list_line().c_str(),
                        c.impl->flops() / 1e9);
        return 0;
    }

    RunMeta meta;
    meta.date = utc_now_iso();
    meta.suite_path = suite_path;
    meta.suite_name = suite.name.empty() ? fs::path(suite_path).stem().string() : suite.name;
    meta.library_version = vkattn_version();
    meta.options = cli.run;
    if (!probe_device(cli.run, &meta.device, &err)) {
        std::fprintf(stderr, "vkattn-bench: no device: %s\n", err.c_str());
        return 1;
    }

    std::printf("vkattn-bench  device: %s\n", device_summary(meta.device).c_str());
    std::string reps =
        cli.run.reps > 0 ? std::to_string(cli.run.reps) : "per case (default " + std::to_string(kDefaultReps) + ")";
    std::printf("suite: %s (%zu of %zu cases)  backend: %s  reps: %s  warm-up: %d  verify rows: %d  %s\n",
                suite_path.c_str(), cases.size(), suite.cases.size(), backends_text(cli.run).c_str(), reps.c_str(),
                cli.run.warmup, cli.run.verify_rows, meta.date.c_str());
    // How the ops of the selected cases compute their rate and error: one line each.
    std::vector<std::string> ops, notes;
    for (const Case &c : cases) {
        if (std::find(ops.begin(), ops.end(), c.op) == ops.end()) ops.push_back(c.op);
        if (std::find(notes.begin(), notes.end(), c.impl->table_note()) != notes.end()) continue;
        notes.push_back(c.impl->table_note());
        std::printf("%s\n", notes.back().c_str());
    }
    std::printf("\n");

    size_t name_w = 4;
    for (const Case &c : cases) name_w = std::max(name_w, c.name.size());
    TablePrinter table(stdout, name_w, cli.run.host);
    table.header(cases.front().impl->throughput());

    Progress progress(!cli.quiet, isatty(fileno(stderr)) != 0);
    const auto start = std::chrono::steady_clock::now();
    std::vector<Result> all;
    for (size_t i = 0; i < cases.size(); ++i) {
        const Case &c = cases[i];
        progress.begin("[" + std::to_string(i + 1) + "/" + std::to_string(cases.size()) + "] " + c.name + " " +
                       c.impl->shape());
        std::vector<Result> rs = run_case(c, cli.run);
        progress.stop();
        for (const Result &r : rs) table.row(r);
        all.insert(all.end(), rs.begin(), rs.end());
    }
    int bad = print_summary(stdout, all);
    double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("total time %.1f s\n", total);

    int rc = bad > 0 ? 1 : 0;
    if (cli.run.validation) {
        uint64_t n = vkattn_validation_error_count();
        std::printf("validation layer errors: %llu\n", static_cast<unsigned long long>(n));
        if (n > 0) rc = 1;
    }
    if (!cli.json.empty()) {
        if (write_json(cli.json, meta, all, &err))
            std::printf("wrote %s\n", cli.json.c_str());
        else
            std::fprintf(stderr, "vkattn-bench: %s\n", err.c_str()), rc = 1;
    }
    if (!cli.csv.empty()) {
        if (write_csv(cli.csv, all, cli.run.host, &err))
            std::printf("wrote %s\n", cli.csv.c_str());
        else
            std::fprintf(stderr, "vkattn-bench: %s\n", err.c_str()), rc = 1;
    }
    if (!cli.plot.empty()) {
        std::vector<PlotPoint> pts = plot_points(all, cli.run.host);
        const std::string own = meta.device.name;
        if (!cli.plot_add.empty() && !add_plot_files(cli.plot_add, &own, &pts)) rc = 1;
        std::string op_names;
        for (const std::string &op : ops) {
            if (!op_names.empty()) op_names += ", ";
            op_names += op;
        }
        std::string title = "vkattn-bench: " + op_names + " throughput (" + meta.suite_name + ")";
        std::string sub = device_summary(meta.device) + ", " + meta.date.substr(0, 10) + ", median GPU time";
        if (write_svg(cli.plot, title, sub, pts, &err))
            std::printf("wrote %s\n", cli.plot.c_str());
        else
            std::fprintf(stderr, "vkattn-bench: %s\n", err.c_str()), rc = 1;
    }
    return rc;
}
