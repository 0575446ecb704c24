// How many worker threads the scheduler gave this job (used when `--threads` is not given): the
// smallest of the CPU affinity mask, the cgroup CPU quota, SLURM_CPUS_PER_TASK and the hardware.
#pragma once

#include <string>

namespace chokepoint {

/// The limits on the CPUs this process may use; 0 means unknown or no limit.
struct CpuLimits {
    int affinity = 0;        // CPUs in the sched_getaffinity mask
    double cgroup_quota = 0; // cgroup CPU bandwidth quota in CPUs (quota / period), e.g. 1.5
    int slurm = 0;           // SLURM_CPUS_PER_TASK
    int hardware = 0;        // std::thread::hardware_concurrency()
};

/// The minimum of the known limits (a fractional cgroup quota rounded up: 1.5 CPUs -> 2), at
/// least 1; 1 when no limit is known.
int usable_cpus(const CpuLimits &limits);

/// Reads the limits of this process: sched_getaffinity, the cgroup v2 `cpu.max` of this process's
/// cgroup and of its ancestors up to /sys/fs/cgroup (the smallest quota wins; without cgroup v2,
/// cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` under /sys/fs/cgroup/cpu), the environment
/// variable SLURM_CPUS_PER_TASK and std::thread::hardware_concurrency. Never throws; whatever
/// cannot be read is left 0.
CpuLimits detect_cpu_limits();

/// One line for logs, e.g. "2 threads (affinity 16, cgroup quota 2.0, SLURM_CPUS_PER_TASK unset,
/// hardware 16)".
std::string describe(const CpuLimits &limits);

// --- parsers (text in, 0 for "no limit" or unreadable/malformed text) ---------------------------

/// cgroup v2 `cpu.max`: "<quota> <period>" in microseconds, quota "max" for no limit:
/// "max 100000" -> 0, "200000 100000" -> 2.0, "150000 100000\n" -> 1.5.
double parse_cgroup_v2_cpu_max(const std::string &text);

/// cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us` (microseconds; quota -1 = no limit):
/// ("200000", "100000") -> 2.0, ("-1", "100000") -> 0.
double parse_cgroup_v1_quota(const std::string &quota, const std::string &period);

/// SLURM_CPUS_PER_TASK: a positive whole number (surrounding whitespace allowed) -> that number;
/// null, empty, zero, negative, out of range of int or anything else ("4x", "2(x3)") -> 0.
int parse_slurm_cpus(const char *value);

/// The cgroup v2 path of this process from the text of /proc/self/cgroup (the "0::<path>" line),
/// e.g. "/user.slice/session-3.scope"; empty when there is none (cgroup v1 only, unreadable).
std::string parse_proc_self_cgroup_v2(const std::string &text);

/// The smallest cgroup v2 quota (in CPUs) on the way from `<root><path>` up to `<root>` (each
/// directory's `cpu.max`, when readable); 0 when none sets a limit. `root` is normally
/// "/sys/fs/cgroup" and `path` what parse_proc_self_cgroup_v2 returned ("" or "/" = the root only).
double cgroup_v2_quota_along(const std::string &root, const std::string &path);

} // namespace chokepoint
