// The SVG bar chart: one group of horizontal bars per case, one colour per
// series (backend, or device/backend when earlier JSON results are merged).
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "json.h"
#include "output.h"

namespace vkbench {

std::vector<PlotPoint> plot_points(const std::vector<Result> &results, bool host) {
    std::vector<PlotPoint> pts;
    for (const Result &r : results) {
        const std::string series = backend_name(r.backend), shape = r.c.impl ? r.c.impl->shape() : "";
        const bool good = r.outcome == "ok" || r.outcome == "skipped";
        std::string note = good ? "" : r.outcome;
        pts.push_back({r.c.name, shape, series, good ? r.tflops : 0.0, note});
        if (host) pts.push_back({r.c.name, shape, series + " (host API, wall)", good ? r.host_tflops : 0.0, note});
    }
    return pts;
}

bool plot_points_from_json(const std::string &path, std::vector<PlotPoint> *out, std::string *device,
                           std::string *error) {
    Json doc;
    if (!parse_json_file(path, &doc, error)) return false;
    const Json *results = doc.is_object() ? doc.find("results") : nullptr;
    if (!results || !results->is_array()) {
        *error = path + ": not a vkattn-bench --json file (no \"results\" array)";
        return false;
    }
    device->clear();
    if (const Json *d = doc.find("device"); d && d->is_object())
        if (const Json *n = d->find("name"); n && n->is_string()) *device = n->as_string();
    for (const Json &r : results->items()) {
        auto str = [&](const char *k) {
            const Json *v = r.find(k);
            return v && v->is_string() ? v->as_string() : std::string();
        };
        const Json *tf = r.find("tflops");
        std::string outcome = str("outcome");
        PlotPoint p{str("name"), str("shape"), str("backend"), 0.0, ""};
        const bool good = outcome == "ok" || outcome == "skipped";
        if (tf && tf->is_number() && good)
            p.tflops = tf->as_number();
        else
            p.note = outcome.empty() ? "n/a" : outcome;
        if (p.case_name.empty()) continue;
        const Json *h = r.find("host_tflops");  // present when the run had --host
        PlotPoint hp = p;
        out->push_back(std::move(p));
        if (h) {
            hp.series += " (host API, wall)";
            hp.tflops = h->is_number() && good ? h->as_number() : 0.0;
            if (hp.tflops <= 0 && hp.note.empty()) hp.note = "n/a";
            out->push_back(std::move(hp));
        }
    }
    return true;
}

namespace {

std::string xml(const std::string &s) {
    std::string o;
    for (char c : s) {
        switch (c) {
            case '&': o += "&amp;"; break;
            case '<': o += "&lt;"; break;
            case '>': o += "&gt;"; break;
            case '"': o += "&quot;"; break;
            default: o += c;
        }
    }
    return o;
}

// A round tick step giving about `n` intervals up to `max`.
double nice_step(double max, int n) {
    double raw = max / n;
    double p = std::pow(10.0, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
        if (m * p >= raw) return m * p;
    return 10 * p;
}

std::string num(double x) {
    char buf[32];
    if (x >= 100)
        std::snprintf(buf, sizeof buf, "%.0f", x);
    else if (x >= 10)
        std::snprintf(buf, sizeof buf, "%.1f", x);
    else if (x >= 0.1)
        std::snprintf(buf, sizeof buf, "%.2f", x);
    else
        std::snprintf(buf, sizeof buf, "%.3g", x);
    return buf;
}

std::string tick(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", std::fabs(x) < 1e-12 ? 0.0 : x);
    return buf;
}

// Rough text width of the sans-serif labels, pixels.
double text_w(const std::string &s, double size) {
    return 0.6 * size * static_cast<double>(s.size());
}

}  // namespace

bool write_svg(const std::string &path, const std::string &title, const std::string &subtitle,
               const std::vector<PlotPoint> &points, std::string *error) {
    std::vector<std::string> cases, series;
    std::map<std::string, std::string> shapes;
    std::map<std::pair<std::string, std::string>, double> value;
    std::map<std::pair<std::string, std::string>, std::string> notes;
    for (const PlotPoint &p : points) {
        if (std::find(cases.begin(), cases.end(), p.case_name) == cases.end()) cases.push_back(p.case_name);
        if (std::find(series.begin(), series.end(), p.series) == series.end()) series.push_back(p.series);
        if (!p.shape.empty()) shapes[p.case_name] = p.shape;
        double &v = value[{p.case_name, p.series}];
        v = std::max(v, p.tflops);
        if (!p.note.empty()) notes[{p.case_name, p.series}] = p.note;
    }
    if (cases.empty()) {
        *error = path + ": nothing to plot";
        return false;
    }
    double vmax = 0;
    for (const auto &[k, v] : value) vmax = std::max(vmax, v);
    if (vmax <= 0) vmax = 1;
    // CPU devices (lavapipe) reach GFLOP/s: scale the axis instead of
    // printing rows of 0.000x.
    const bool giga = vmax < 1.0;
    const double unit = giga ? 1000.0 : 1.0;
    const char *unit_name = giga ? "GFLOP/s" : "TFLOP/s";
    vmax *= unit;
    const double step = nice_step(vmax, 5);
    const double axis_max = std::ceil(vmax * 1.08 / step) * step;

    static const char *palette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759",
                                    "#76b7b2", "#edc948", "#b07aa1", "#9c755f"};
    const double W = 1000;
    double label_w = 120;
    for (const std::string &c : cases) {
        label_w = std::max(label_w, text_w(c, 13) + 16);
        label_w = std::max(label_w, text_w(shapes[c], 11) + 16);
    }
    label_w = std::min(label_w, 360.0);
    const double plot_x = label_w, plot_w = W - label_w - 70;
    const double bar_h = series.size() > 3 ? 12 : 16, bar_gap = 3, group_pad = 14;
    const double group_h = static_cast<double>(series.size()) * (bar_h + bar_gap) - bar_gap + group_pad;

    // Legend rows (wrapped to the width).
    std::vector<std::pair<double, double>> legend_pos;
    double lx = plot_x, ly = 76;
    for (const std::string &s : series) {
        double w = 18 + text_w(s, 12) + 22;
        if (lx + w > W - 20 && lx > plot_x) {
            lx = plot_x;
            ly += 20;
        }
        legend_pos.push_back({lx, ly});
        lx += w;
    }
    const double top = ly + 26;
    const double plot_h = static_cast<double>(cases.size()) * group_h;
    const double H = top + plot_h + 50;

    std::ostringstream o;
    o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 " << W
      << ' ' << H << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n";
    o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
    o << "<text x=\"20\" y=\"32\" font-size=\"20\" font-weight=\"bold\" fill=\"#222\">" << xml(title) << "</text>\n";
    o << "<text x=\"20\" y=\"54\" font-size=\"13\" fill=\"#555\">" << xml(subtitle) << "</text>\n";
    for (size_t i = 0; i < series.size(); ++i) {
        auto [x, y] = legend_pos[i];
        o << "<rect x=\"" << x << "\" y=\"" << y - 11 << "\" width=\"14\" height=\"14\" fill=\"" << palette[i % 8]
          << "\"/>";
        o << "<text x=\"" << x + 19 << "\" y=\"" << y << "\" font-size=\"12\" fill=\"#222\">" << xml(series[i])
          << "</text>\n";
    }
    // Grid and axis labels (top and bottom).
    for (double t = 0; t <= axis_max + step * 1e-6; t += step) {
        double x = plot_x + plot_w * t / axis_max;
        o << "<line x1=\"" << x << "\" y1=\"" << top - 4 << "\" x2=\"" << x << "\" y2=\"" << top + plot_h
          << "\" stroke=\"" << (t == 0 ? "#444" : "#ddd") << "\" stroke-width=\"1\"/>";
        o << "<text x=\"" << x << "\" y=\"" << top + plot_h + 16 << "\" font-size=\"11\" fill=\"#444\" "
          << "text-anchor=\"middle\">" << tick(t) << "</text>\n";
    }
    o << "<text x=\"" << plot_x + plot_w / 2 << "\" y=\"" << top + plot_h + 36
      << "\" font-size=\"13\" fill=\"#222\" text-anchor=\"middle\">" << unit_name
      << " (2*B*Hq*Nq*Nk*(D+Dv) / median time)</text>\n";

    for (size_t ci = 0; ci < cases.size(); ++ci) {
        const std::string &c = cases[ci];
        double gy = top + static_cast<double>(ci) * group_h + group_pad / 2;
        double mid = gy + (group_h - group_pad) / 2;
        if (ci % 2 == 1)
            o << "<rect x=\"10\" y=\"" << gy - group_pad / 2 << "\" width=\"" << W - 20 << "\" height=\"" << group_h
              << "\" fill=\"#f6f6f6\"/>\n";
        o << "<text x=\"" << plot_x - 8 << "\" y=\"" << mid - 2 << "\" font-size=\"13\" fill=\"#222\" "
          << "text-anchor=\"end\">" << xml(c) << "</text>";
        o << "<text x=\"" << plot_x - 8 << "\" y=\"" << mid + 12 << "\" font-size=\"11\" fill=\"#777\" "
          << "text-anchor=\"end\">" << xml(shapes[c]) << "</text>\n";
        for (size_t si = 0; si < series.size(); ++si) {
            double y = gy + static_cast<double>(si) * (bar_h + bar_gap);
            auto it = value.find({c, series[si]});
            if (it == value.end()) continue;  // series did not run this case
            double v = it->second * unit;
            if (v <= 0) {
                auto n = notes.find({c, series[si]});
                std::string why = n == notes.end() ? "n/a" : n->second;
                o << "<text x=\"" << plot_x + 4 << "\" y=\"" << y + bar_h - 3 << "\" font-size=\"11\" fill=\""
                  << (why == "unsupported" ? "#777" : "#b00") << "\">" << xml(why) << "</text>\n";
                continue;
            }
            double w = std::max(1.0, plot_w * v / axis_max);
            o << "<rect x=\"" << plot_x << "\" y=\"" << y << "\" width=\"" << w << "\" height=\"" << bar_h
              << "\" fill=\"" << palette[si % 8] << "\"><title>" << xml(c + " / " + series[si] + ": " + num(v)) << ' '
              << unit_name << "</title></rect>";
            o << "<text x=\"" << plot_x + w + 4 << "\" y=\"" << y + bar_h - 3 << "\" font-size=\"11\" fill=\"#222\">"
              << num(v) << "</text>\n";
        }
    }
    o << "</svg>\n";

    std::ofstream f(path);
    if (!f) {
        *error = path + ": cannot open for writing";
        return false;
    }
    f << o.str();
    f.close();
    if (!f) {
        *error = path + ": write failed";
        return false;
    }
    return true;
}

}  // namespace vkbench
