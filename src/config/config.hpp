// Reading a config (YAML) into a Model, with errors that name the file, line, column, key
// path, the bad value and the rule it broke. All errors found are reported at once.
#pragma once

#include "model/model.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace chokepoint {

struct Diagnostic {
    std::string file;
    int line = 0, column = 0; // 1-based; 0 = unknown
    std::string path;         // key path, e.g. facilities[3].capacity.pert.mode
    std::string message;
    std::string format() const;
};

/// Thrown for bad input (config or arguments); main() maps it to exit code 2.
class InputError : public std::runtime_error {
public:
    explicit InputError(std::vector<Diagnostic> diags);
    explicit InputError(const std::string &message);
    const std::vector<Diagnostic> &diagnostics() const { return diags_; }

private:
    std::vector<Diagnostic> diags_;
};

/// Opens `path` for reading, without blocking, and returns the descriptor if it is a regular
/// file; else throws InputError naming the path, what it is (a directory, a FIFO, a device...)
/// and `what` was expected (e.g. "config file", "results file"). A FIFO never blocks the call.
int open_regular_file(const std::string &path, const std::string &what);

/// Throws, as open_regular_file(), unless `path` is a regular file that can be opened.
void require_regular_file(const std::string &path, const std::string &what);

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

/// Whether input `name` is among run.sensitivity_inputs (all inputs when none are listed).
bool sensitivity_selected(const Model &m, const std::string &name);

/// A summary of the model for `chokepoint validate`.
std::string describe_model(const Model &m);

} // namespace chokepoint
