// A readable summary of a results file for the terminal.
#pragma once

#include <ostream>
#include <string>

namespace chokepoint {
/// Prints per demand EUD, LOSE, P(shortfall) with standard errors, quantiles of total
/// shortfall, and the most frequent chokepoints. Throws std::runtime_error on a bad file.
void print_summary(const std::string &path, std::ostream &os, int top_chokepoints = 5);
} // namespace chokepoint
