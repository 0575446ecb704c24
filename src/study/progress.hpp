// Progress of a running study on stderr: a progress bar on a terminal, plain text lines, or one
// JSON object per line (for batch schedulers and log collectors).
#pragma once

#include "engine/lp.hpp"

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace chokepoint {

/// Auto: Bar when the stream is a terminal, Json otherwise.
enum class LogFormat { Auto, Bar, Text, Json };

/// "auto", "bar", "text" or "json"; throws std::invalid_argument naming the allowed values
/// otherwise.
LogFormat parse_log_format(const std::string &name);

/// `s` as a JSON string (RFC 8259): in double quotes, with `"` and `\` escaped, \b \f \n \r \t,
/// other control characters as \u00XX. Other bytes (UTF-8 included) pass through unchanged.
std::string json_string(const std::string &s);

/// `x` as a JSON number: up to 6 significant digits ("7.47", "1210.24", "1.5e+07"); `null` when
/// `x` is NaN or infinite.
std::string json_number(double x);

/// Seconds of std::chrono::steady_clock (the default clock of Progress).
double steady_seconds();
/// Seconds since 1970-01-01 UTC of std::chrono::system_clock (the default wall clock of
/// Progress, for the "time" of JSON lines).
double system_seconds();

/// Progress reports of one study.
///
/// Bar: one line rewritten with '\r' at most every 0.2 s,
///   `[#########.....................]  30.1%  9,040/30,000 trials  1,210 trials/s  ETA 0:17`,
///   terminated with '\n' by finish() (or the destructor).
/// Text: one line per interval, `chokepoint: 9040/20000 trials (45.2%), 1210 trials/s, ETA 9 s`.
/// Json: one object per line per interval, `{"event":"progress","time":"2026-11-28T13:00:00Z",
///   "trials_done":9040,"trials_total":20000,"fraction":0.452,"elapsed_s":7.47,
///   "rate_per_s":1210.2,"eta_s":9.06}`.
///
/// Rate and ETA count only the trials done by this process (trials_done - trials_already_done,
/// e.g. after a resume) over the time since construction; before any such progress the ETA is
/// unknown ("--:--" in the bar, "unknown" in text, null in JSON).
///
/// Thread safety: none. update() is meant to be called from one serial pipeline stage, i.e. by
/// one thread at a time; event() and finish() must not run concurrently with update() or with
/// each other.
class Progress {
public:
    struct Final {
        std::uint64_t trials_done = 0; // including trials_already_done
        std::uint64_t trials_total = 0;
        double seconds = 0; // wall time of this process's run
        int threads = 0;
        std::string output; // results file ("" = none)
        bool complete = false;
        std::string status; // e.g. "complete", "interrupted"; "" = "complete" or "incomplete"
    };
    /// Allocation LPs per solver rung over the trials in the file (all scenarios), for finish()
    /// (omitted when nothing was solved).
    void set_lp_rungs(const RungCounts &r) { lp_rungs_ = r; }

    /// `interval_seconds`: the least time between two Text or Json lines (Bar redraws at most
    /// every 0.2 s regardless). `clock`: monotonic seconds (tests pass a fake); `wall_clock`:
    /// seconds since the Unix epoch for the "time" field of JSON lines.
    Progress(std::ostream &out, LogFormat fmt, bool out_is_tty, std::uint64_t trials_total,
             std::uint64_t trials_already_done, double interval_seconds,
             std::function<double()> clock = steady_seconds,
             std::function<double()> wall_clock = system_seconds);
    /// Terminates an unfinished bar line with '\n' (so that an error message starts a line).
    ~Progress();
    Progress(const Progress &) = delete;
    Progress &operator=(const Progress &) = delete;

    /// `trials_done` (in total, including trials_already_done) so far. Prints at most one line,
    /// and only when the interval (Bar: 0.2 s) has passed since the last one (or since
    /// construction).
    void update(std::uint64_t trials_done);

    /// A named event: Json `{"event":"<name>","time":"...",<key>:<value>,...}` where each value
    /// is already JSON-encoded (json_string, json_number, "true", ...); Text/Bar
    /// `chokepoint: <name>: key=value, ...` (values as given), the bar cleared first and redrawn
    /// after.
    void event(const std::string &name,
               const std::vector<std::pair<std::string, std::string>> &fields);

    /// The end of the run. Json `{"event":"done","time":...,"status":"complete","trials_done":..,
    /// "trials_total":..,"seconds":..,"rate_per_s":..,"threads":..,"output":"..."}`; Text/Bar (the
    /// bar redrawn with the final count and terminated first)
    /// `chokepoint: 20000 trials in 16.5 s (1212 trials/s, 2 threads) -> results/x.h5`, prefixed
    /// `<status>: 9040/20000` when not complete; with LP counts (set_lp_rungs), `(1212 trials/s,
    /// 2 threads; LPs by solver rung: warm 2110542, cold 88012, bland 0, clp 0)` (relaxed and
    /// failed counts follow when not 0; Json: "lp_rungs":{"warm":..,"cold":..,"bland":..,"clp":..,
    /// "relaxed":..,"failed":..}). The rate counts this process's trials only.
    void finish(const Final &f);

    /// The format in use (Auto resolved).
    LogFormat format() const { return fmt_; }

private:
    struct Snapshot {
        std::uint64_t done, total;
        double fraction, elapsed, rate, eta; // rate NaN at elapsed 0; eta NaN when unknown
    };
    Snapshot snapshot(std::uint64_t done, double now) const;
    std::string bar_line(const Snapshot &s) const;
    void draw_bar(const std::string &line);
    void clear_bar();
    std::string time_field() const;

    std::ostream &out_;
    LogFormat fmt_;
    std::uint64_t total_, already_;
    double interval_;
    std::function<double()> clock_, wall_clock_;
    double start_, last_line_;
    std::uint64_t last_done_;
    std::size_t bar_width_ = 0; // characters of the bar line on screen (0 = none shown)
    RungCounts lp_rungs_;
};

} // namespace chokepoint
