// A run: trials cut into fixed-size blocks, simulated in a TBB pipeline, written in order.
#pragma once

#include "allocation.hpp"
#include "model.hpp"
#include "stats.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>

namespace chokepoint {

struct RunOptions {
    std::string output; // target path of the results file
    int threads = 0;    // 0 = all the machine offers
    bool overwrite = false;
    bool quiet = false;
};

struct RunReport {
    std::uint64_t trials = 0;
    double seconds = 0;
    int threads = 1;
    AllocatorStats alloc;
};

/// Thrown when SIGINT/SIGTERM stopped a run; `signal()` says which.
class Interrupted : public std::runtime_error {
public:
    explicit Interrupted(int sig)
        : std::runtime_error("interrupted by signal " + std::to_string(sig)), sig_(sig) {}
    int signal() const { return sig_; }

private:
    int sig_;
};

/// Checks that `path` can receive a results file (before any sampling starts); throws
/// InputError naming the path and the problem.
void check_output_path(const std::string &path, bool overwrite);

/// Runs the model and writes the results file atomically: to a temporary file beside the
/// target, renamed into place only on success. On any failure the temporary file is
/// removed and an existing file at the target is left untouched.
RunReport run_study(const Model &model, const RunOptions &options);

/// Runs the model without writing a file and returns the merged accumulators (tests).
Accumulators run_in_memory(const Model &model, int threads);

/// Installs SIGINT/SIGTERM handlers that make a running study stop at the next block.
void install_signal_handlers();

} // namespace chokepoint
