// Tuning::host_profile (VKATTN_HOST_PROFILE=1): host attention calls print where their wall time
// went, one line on stderr per call (phases summed over chunks). For finding
// the limit of a machine's host path, not for production logs.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace vkattn::ops {

class HostProfile {
public:
    HostProfile(const char *route, bool on) : route_(route), on_(on) { start_ = last_ = Clock::now(); }
    ~HostProfile() {
        if (!on_) return;
        std::string s;
        for (const auto &p : phases_) s += " " + p.first + " " + fmt(p.second);
        std::fprintf(stderr, "vkattn host %s: total %s ms;%s\n", route_, fmt(ms_since(start_)).c_str(), s.c_str());
    }
    HostProfile(const HostProfile &) = delete;
    HostProfile &operator=(const HostProfile &) = delete;

    // Charges the time since the previous mark to `phase`.
    void mark(const char *phase) {
        if (!on_) return;
        const auto now = Clock::now();
        const double ms = std::chrono::duration<double, std::milli>(now - last_).count();
        last_ = now;
        for (auto &p : phases_)
            if (p.first == phase) {
                p.second += ms;
                return;
            }
        phases_.emplace_back(phase, ms);
    }

private:
    using Clock = std::chrono::steady_clock;
    static std::string fmt(double ms) {
        char b[32];
        std::snprintf(b, sizeof b, "%.2f", ms);
        return b;
    }
    double ms_since(Clock::time_point t) const {
        return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
    }
    const char *route_;
    bool on_ = false;
    Clock::time_point start_, last_;
    std::vector<std::pair<std::string, double>> phases_;
};

}  // namespace vkattn::ops
