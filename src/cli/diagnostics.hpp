// Diagnostics: `chokepoint trial` (one trial's drawn inputs and month-by-month story, as text or
// JSON) and `chokepoint lp` (a failed run's LP solved by every rung of the solver ladder).
#pragma once

#include "study/run.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace chokepoint {

struct TrialReportOptions {
    bool json = false;
    std::vector<std::string> demands; // only these demands (ids); all when empty
};

/// Writes the report of `t` (from run_one_trial) to `os`. Text: the inputs, the events, the
/// per-trial results, then per month the demands that were not served in full (want, delivered,
/// stockpile draw, shortfall, stockpile level), the restrictions in force and the binding
/// constraints. JSON: everything, numbers to 17 significant digits (equal to the results file's).
/// Throws InputError for an unknown demand id.
void write_trial_report(std::ostream &os, const OneTrial &t, std::uint64_t trial,
                        const TrialReportOptions &opt);

/// `chokepoint lp FILE`: reads an LP written by a failed run (CPLEX LP format, lp.hpp read_lp),
/// solves it with the whole ladder and with each cold rung alone, and writes one line per attempt
/// (status, rung, objective, certificate); with `values`, the non-zero primal values and duals of
/// the ladder's answer. Returns true when the ladder solved it. Throws InputError when the file
/// cannot be read or parsed.
bool write_lp_replay(std::ostream &os, const std::string &path, bool values);

} // namespace chokepoint
