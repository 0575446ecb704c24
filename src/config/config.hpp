// Reading a config (YAML) into a Model, with errors that name the file, line, column, key
// path, the bad value and the rule it broke. All errors found are reported at once.
#pragma once

#include "core/errors.hpp"
#include "model/model.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace chokepoint {

/// Loads and validates a config file (and the files it includes). Throws InputError.
Model load_model(const std::string &path);

/// Same, from text (tests); `path` names it in messages and resolves includes.
Model load_model_from_string(const std::string &text, const std::string &path);

/// Same, from stored texts (a checkpoint's or shard's /config): files[0] is the main config,
/// includes are looked up by the path under which they were stored, never read from disk.
Model load_model_from_files(const std::vector<ConfigFile> &files);

/// Sets the run's trial count as --trials or run.trials gives it: the base rows of a pick-freeze
/// design (sensitivity: sobol; the run then has rows x (inputs + 2) trials), the largest count
/// of a stopping rule, or the count itself; checks it splits into the replicates. Throws
/// InputError.
void set_trials(Model &m, std::uint64_t trials);

/// Keeps only the scenarios named in `ids` (in config order; the baseline always runs); all of
/// them when `ids` is empty. Throws InputError naming an unknown scenario.
void select_scenarios(Model &m, const std::vector<std::string> &ids);

/// A summary of the model for `chokepoint validate`.
std::string describe_model(const Model &m);

/// A warning about the run's sampling design, or "" when there is none: a Sobol' design whose
/// replicates are not 2^k rows long (its points are balanced only at powers of two, so part of
/// its variance reduction is lost). Printed by `run` and `validate`; the run goes on.
std::string sampling_warning(const Model &m);

} // namespace chokepoint
