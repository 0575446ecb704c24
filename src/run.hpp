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
    /// Test hook, not a command-line option: when > 0, run_study throws an I/O error
    /// (std::system_error, EIO) once this many blocks have been written to the temporary file, as
    /// a disk failing mid-run would. 0 (the default) never fails.
    std::uint64_t fail_after_blocks = 0;
};

struct RunReport {
    std::uint64_t trials = 0;
    double seconds = 0;
    int threads = 1;
    AllocatorStats alloc;
};

/// Thrown when SIGINT, SIGTERM or SIGHUP stopped a run; `signal()` says which.
class Interrupted : public std::runtime_error {
public:
    explicit Interrupted(int sig)
        : std::runtime_error("interrupted by signal " + std::to_string(sig)), sig_(sig) {}
    int signal() const { return sig_; }

private:
    int sig_;
};

/// Checks that `path` can receive a results file (before any sampling starts): not empty, not a
/// directory or another non-regular file, in an existing writable directory, and not an existing
/// file unless `overwrite`. Throws InputError naming the path and the problem.
void check_output_path(const std::string &path, bool overwrite);

/// Runs the model and writes the results file atomically: to a hidden temporary file beside the
/// target (`.<name>.partial-<pid>-<random>`), flushed to disk (fsync) and renamed into place only
/// on success. On any failure (exception, I/O error, signal) the temporary file is removed and an
/// existing file at the target is left untouched; the exception is rethrown (I/O failures as
/// std::runtime_error or std::system_error naming the path, Interrupted for a signal).
RunReport run_study(const Model &model, const RunOptions &options);

/// Runs the model without writing a file and returns the merged accumulators (tests).
Accumulators run_in_memory(const Model &model, int threads);

/// Installs SIGINT/SIGTERM/SIGHUP handlers that make a running study stop at the next block
/// (run_study then throws Interrupted). A signal that the parent process set to be ignored
/// (`nohup`, background jobs of a non-interactive shell) stays ignored.
void install_signal_handlers();

} // namespace chokepoint
