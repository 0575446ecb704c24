// CPU limits of this process (cpus.hpp).
#include "study/cpus.hpp"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string_view>
#include <thread>
#include <vector>

namespace chokepoint {

namespace {

constexpr std::string_view kSpace = " \t\r\n\v\f";

std::string_view trim(std::string_view s) {
    const auto b = s.find_first_not_of(kSpace);
    if (b == std::string_view::npos)
        return {};
    const auto e = s.find_last_not_of(kSpace);
    return s.substr(b, e - b + 1);
}

std::vector<std::string_view> split_ws(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b = s.find_first_not_of(kSpace, i);
        if (b == std::string_view::npos)
            break;
        auto e = s.find_first_of(kSpace, b);
        if (e == std::string_view::npos)
            e = s.size();
        out.push_back(s.substr(b, e - b));
        i = e;
    }
    return out;
}

/// The whole of `s` as a whole number, or nothing.
std::optional<long long> to_integer(std::string_view s) {
    long long v = 0;
    const auto *end = s.data() + s.size();
    const auto [p, ec] = std::from_chars(s.data(), end, v);
    if (s.empty() || ec != std::errc() || p != end)
        return std::nullopt;
    return v;
}

/// The contents of a file, or nothing when it cannot be read.
std::optional<std::string> read_text(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return std::nullopt;
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad())
        return std::nullopt;
    return text;
}

double quota_ratio(long long quota, long long period) {
    if (quota <= 0 || period <= 0)
        return 0;
    return static_cast<double>(quota) / static_cast<double>(period);
}

int affinity_cpus() {
    // A mask of CPU_SETSIZE (1024) CPUs first; larger ones when the kernel has more (EINVAL).
    for (int n = CPU_SETSIZE; n <= (1 << 20); n *= 2) {
        cpu_set_t *set = CPU_ALLOC(static_cast<std::size_t>(n));
        if (!set)
            return 0;
        const std::size_t size = CPU_ALLOC_SIZE(static_cast<std::size_t>(n));
        CPU_ZERO_S(size, set);
        const int rc = sched_getaffinity(0, size, set);
        const int count = rc == 0 ? CPU_COUNT_S(size, set) : 0;
        const int err = errno;
        CPU_FREE(set);
        if (rc == 0)
            return count;
        if (err != EINVAL)
            return 0;
    }
    return 0;
}

std::string format_quota(double q) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f", q);
    std::string s = buf;
    while (s.size() > 1 && s.back() == '0' && s[s.size() - 2] != '.')
        s.pop_back();
    return s;
}

} // namespace

int usable_cpus(const CpuLimits &limits) {
    long long n = LLONG_MAX;
    for (int v : {limits.affinity, limits.slurm, limits.hardware})
        if (v > 0)
            n = std::min<long long>(n, v);
    if (limits.cgroup_quota > 0 && std::isfinite(limits.cgroup_quota)) {
        const double q = std::ceil(limits.cgroup_quota);
        n = std::min<long long>(n, q >= static_cast<double>(INT_MAX) ? INT_MAX
                                                                     : static_cast<long long>(q));
    }
    if (n == LLONG_MAX || n < 1)
        return 1;
    return static_cast<int>(std::min<long long>(n, INT_MAX));
}

double parse_cgroup_v2_cpu_max(const std::string &text) {
    const auto t = split_ws(text);
    if (t.size() != 2 || t[0] == "max")
        return 0;
    const auto quota = to_integer(t[0]);
    const auto period = to_integer(t[1]);
    if (!quota || !period)
        return 0;
    return quota_ratio(*quota, *period);
}

double parse_cgroup_v1_quota(const std::string &quota, const std::string &period) {
    const auto q = to_integer(trim(quota));
    const auto p = to_integer(trim(period));
    if (!q || !p)
        return 0;
    return quota_ratio(*q, *p);
}

int parse_slurm_cpus(const char *value) {
    if (!value)
        return 0;
    const auto v = to_integer(trim(value));
    if (!v || *v <= 0 || *v > INT_MAX)
        return 0;
    return static_cast<int>(*v);
}

std::string parse_proc_self_cgroup_v2(const std::string &text) {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("0::", 0) == 0) {
            auto path = std::string(trim(std::string_view(line).substr(3)));
            return path;
        }
    }
    return {};
}

double cgroup_v2_quota_along(const std::string &root, const std::string &path) {
    // A path outside this cgroup namespace ("/../..") or otherwise odd: the root only.
    std::string p = path;
    if (p.find("..") != std::string::npos || (!p.empty() && p[0] != '/'))
        p.clear();
    while (!p.empty() && p.back() == '/')
        p.pop_back();
    double best = 0;
    for (;;) {
        if (const auto text = read_text(root + p + "/cpu.max")) {
            const double q = parse_cgroup_v2_cpu_max(*text);
            if (q > 0 && (best == 0 || q < best))
                best = q;
        }
        if (p.empty())
            break;
        p.erase(p.rfind('/'));
    }
    return best;
}

CpuLimits detect_cpu_limits() {
    CpuLimits l;
    try {
        l.affinity = affinity_cpus();
        const std::string root = "/sys/fs/cgroup";
        if (read_text(root + "/cgroup.controllers")) { // cgroup v2 (unified hierarchy)
            const auto self = read_text("/proc/self/cgroup");
            l.cgroup_quota =
                cgroup_v2_quota_along(root, self ? parse_proc_self_cgroup_v2(*self) : "");
        }
        if (l.cgroup_quota == 0) {
            for (const char *dir : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
                const auto q = read_text(std::string(dir) + "/cpu.cfs_quota_us");
                const auto p = read_text(std::string(dir) + "/cpu.cfs_period_us");
                if (q && p) {
                    l.cgroup_quota = parse_cgroup_v1_quota(*q, *p);
                    break;
                }
            }
        }
        l.slurm = parse_slurm_cpus(std::getenv("SLURM_CPUS_PER_TASK"));
        l.hardware =
            static_cast<int>(std::min<unsigned>(std::thread::hardware_concurrency(), INT_MAX));
    } catch (...) { // allocation failure while reading: leave the rest unknown
    }
    return l;
}

std::string describe(const CpuLimits &limits) {
    const int n = usable_cpus(limits);
    std::string s = std::to_string(n) + (n == 1 ? " thread (" : " threads (");
    s += limits.affinity > 0 ? "affinity " + std::to_string(limits.affinity) : "affinity unknown";
    s += limits.cgroup_quota > 0 ? ", cgroup quota " + format_quota(limits.cgroup_quota)
                                 : ", no cgroup quota";
    s += limits.slurm > 0 ? ", SLURM_CPUS_PER_TASK " + std::to_string(limits.slurm)
                          : ", SLURM_CPUS_PER_TASK unset";
    s += limits.hardware > 0 ? ", hardware " + std::to_string(limits.hardware)
                             : ", hardware unknown";
    return s + ")";
}

} // namespace chokepoint
