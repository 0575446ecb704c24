// A readable summary of a results file for the terminal.
#pragma once

#include <ostream>
#include <string>

namespace chokepoint {
/// Prints, per scenario and demand, EUD, LOSE, P(shortfall) with standard errors, the median,
/// VaR and CVaR of total shortfall, and the most frequent chokepoints; as a table, or as JSON
/// (every quantile with its 95% interval, VaR/CVaR at every level) for scripts. Throws
/// InputError for a file that is missing, not HDF5, of another type or major version.
void print_summary(const std::string &path, std::ostream &os, int top_chokepoints = 5,
                   bool json = false);
} // namespace chokepoint
