// A readable summary of a results file for the terminal.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace chokepoint {
/// What `chokepoint summary` shows.
struct SummaryOptions {
    int top = 5;                        // chokepoints listed per ranking
    bool json = false;                  // everything as JSON (for scripts)
    bool csv = false;                   // one row per (scenario, demand), every headline column
    bool diff_only = false;             // only the paired differences of the scenarios
    std::vector<std::string> scenarios; // only these scenarios (empty: all)
    std::vector<std::string> demands;   // only these demands (empty: all)
};

/// Prints, per scenario and demand, EUD, LOSE, P(shortfall) with standard errors, the median,
/// VaR and CVaR of total shortfall, and the most frequent chokepoints; as a table, as CSV or as
/// JSON (every quantile with its 95% interval, VaR/CVaR at every level) for scripts. The table
/// shows the baseline in full and, for every other scenario, the demands its paired differences
/// move (a scenario named in `scenarios` is shown in full). Throws InputError for a file that is
/// missing, not HDF5, of another type or major version, or for a scenario or demand it lacks.
void print_summary(const std::string &path, std::ostream &os, const SummaryOptions &opt = {});
} // namespace chokepoint
