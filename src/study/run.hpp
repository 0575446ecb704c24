// A run: trials cut into fixed-size blocks, simulated in a TBB pipeline, written in order.
#pragma once

#include "engine/allocation.hpp"
#include "engine/simulate.hpp"
#include "io/output.hpp"
#include "model/model.hpp"
#include "stats/stats.hpp"
#include "study/progress.hpp"

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace chokepoint {

class Comm;

struct RunOptions {
    std::string output; // target path of the results file
    int threads = 0;    // 0 = what the scheduler granted (see cpus.hpp)
    bool overwrite = false;
    bool quiet = false;
    /// A checkpoint to continue (`run --resume`); the model must be model_of() its stored run.
    std::string resume;
    /// Resume a checkpoint written by another version of chokepoint (after an upgrade that fixed
    /// what stopped the run); the finished file records it (`resumed_by_version`).
    bool allow_version_change = false;
    /// Run only the shard_index-th (1-based) of shard_count contiguous slices of the blocks.
    int shard_index = 0, shard_count = 0;
    /// Seconds between checkpoints (written to checkpoint_path(output)); 0 = only on a signal.
    double checkpoint_every = 300;
    LogFormat log_format = LogFormat::Auto;
    double progress_every = 30; // seconds between Text/Json progress lines
    /// MPI communicator (nullptr or size 1: one process).
    Comm *comm = nullptr;
    /// Test hook, not a command-line option: when > 0, run_study throws an I/O error
    /// (std::system_error, EIO) once this many blocks have been written to the temporary file, as
    /// a disk failing mid-run would. 0 (the default) never fails.
    std::uint64_t fail_after_blocks = 0;
    /// Test hook, not a command-line option: false has the writer stage deflate every table
    /// itself, as before blocks were packed in the parallel stage (the file must be the same).
    bool pack_blocks = true;
};

struct RunReport {
    std::uint64_t trials = 0;     // trials in the file (resumed ones included)
    std::uint64_t trials_run = 0; // trials simulated by this process (and its ranks)
    double seconds = 0;
    // Where the wall time went (this process): reading the config to the first block (writer
    // set-up included), the pipeline, of which the serial writer stage (each block appended to
    // the file and merged into the statistics, in block order), and the file's summary at the
    // end. Setup, writer stage and finish are the serial part of a run.
    double setup_seconds = 0, pipeline_seconds = 0, writer_seconds = 0, finish_seconds = 0;
    /// The summary's phases (finish_seconds split, for a run that wrote its summary).
    ResultWriter::FinishTimes finish_times;
    /// Chunks of per-trial tables the writer stage stored as the parallel stage had packed them
    /// (io/output.hpp, BlockPacker), rather than deflating them itself.
    std::uint64_t packed_chunks = 0;
    /// Under MPI: tables of the blocks rank 0 received that it had to deflate itself (the
    /// sending rank could not pack them for this file's layout).
    std::uint64_t received_tables_deflated = 0;
    int threads = 1, ranks = 1;
    AllocatorStats alloc;
};

/// Thrown when SIGINT, SIGTERM or SIGHUP stopped a run; `signal()` says which, `checkpoint()`
/// where the consistent incomplete file went (empty when none could be written), and
/// `checkpoint_error()` why a checkpoint could not be saved (empty when none was attempted or it
/// was saved): a write failed (a full disk), and HDF5 may then be in the state in which its
/// clean-up at exit crashes (see main.cpp).
class Interrupted : public std::runtime_error {
public:
    /// `reason`: what stopped the run when it was not a signal to this process (MPI: another
    /// rank ended early); "interrupted by signal N" otherwise.
    explicit Interrupted(int sig, std::string checkpoint = "", std::string checkpoint_error = "",
                         const std::string &reason = "")
        : std::runtime_error(reason.empty() ? "interrupted by signal " + std::to_string(sig)
                                            : reason),
          sig_(sig), checkpoint_(std::move(checkpoint)),
          checkpoint_error_(std::move(checkpoint_error)) {}
    int signal() const { return sig_; }
    const std::string &checkpoint() const { return checkpoint_; }
    const std::string &checkpoint_error() const { return checkpoint_error_; }

private:
    int sig_;
    std::string checkpoint_, checkpoint_error_;
};

/// Where a run writing `output` keeps its checkpoint: `<output>.checkpoint`.
std::string checkpoint_path(const std::string &output);

/// The blocks [first, end) of the shard_index-th (1-based) of shard_count slices of n_blocks:
/// contiguous, as even as possible (sizes differ by at most one). Throws InputError when the
/// shard is not 1..count or there are fewer blocks than shards.
std::pair<std::uint64_t, std::uint64_t> shard_blocks(std::uint64_t n_blocks, int shard_index,
                                                     int shard_count);

/// Worker threads when none are requested: what the scheduler granted (cpus.hpp).
int resolve_threads(int requested);

/// Checks that `path` can receive a results file (before any sampling starts): not empty, not a
/// directory or another non-regular file, in an existing writable directory, and not an existing
/// file unless `overwrite`. Throws InputError naming the path and the problem.
void check_output_path(const std::string &path, bool overwrite);

/// Runs the model and writes the results file atomically: to a hidden temporary file beside the
/// target (`.<name>.partial-<pid>@<host>-<random>`), flushed to disk (fsync) and renamed into place
/// only on success. On any failure (exception, I/O error) the temporary file is removed and an
/// existing file at the target is left untouched; the exception is rethrown (I/O failures as
/// std::runtime_error or std::system_error naming the path).
///
/// Checkpoints: every options.checkpoint_every seconds, and when a signal stops the run (after
/// the blocks in flight are written), the temporary file is closed in a consistent state marked
/// incomplete, with the exact statistics state, and copied atomically (copy, fsync, rename) to
/// checkpoint_path(output). A signal then throws Interrupted naming the checkpoint. A finished
/// run removes the checkpoint. With options.resume, the run continues a checkpoint and the
/// finished file holds exactly what an uninterrupted run would.
///
/// With an MPI communicator of size P, rank r simulates blocks first + r, first + r + P, ...;
/// rank 0 receives them and writes in block order; other ranks return an empty report.
///
/// When no solver rung solves an allocation LP (LpFailure), the blocks before the failing one
/// are written, saved as a checkpoint, the LP is written to `<output>.failed.lp` (CPLEX LP
/// format, with the failure and the `chokepoint trial` command that replays it in its header),
/// and std::runtime_error says all of that (exit 1).
RunReport run_study(const Model &model, const RunOptions &options);

/// `chokepoint merge`: combines the shard files `inputs` (any order) of one run into `output`,
/// identical to the unsharded run. Throws InputError naming the file when the inputs are not the
/// complete, consistent set of shards of one run.
RunReport merge_shards(const std::string &output, const std::vector<std::string> &inputs,
                       bool overwrite);

/// One trial re-simulated exactly as a run of the model simulates it (`chokepoint trial`).
struct OneTrial {
    std::string scenario;         // "baseline" or a scenario id
    const Model *model = nullptr; // that scenario's model (owned by the run's model)
    BlockResult row;              // the trial's per-trial results (count 1), as the file holds them
    TrialTrace trace;             // what it drew and did, month by month
};

/// Re-simulates trial `trial` (0-based, below run.trials) of `scenario` of `model` with the run's
/// design and streams, so that its numbers equal that trial's row of the run's results file.
/// `first_rung` starts every LP's solver ladder there (Rung::Library: a check against CLP). Throws
/// InputError for an unknown scenario or a trial outside the run, LpFailure as a run would.
OneTrial run_one_trial(const Model &model, const std::string &scenario, std::uint64_t trial,
                       Rung first_rung = Rung::Warm);

/// Runs the model without writing a file and returns the merged accumulators (tests).
Accumulators run_in_memory(const Model &model, int threads);

/// Installs SIGINT/SIGTERM/SIGHUP handlers that make a running study stop at the next block
/// (run_study then throws Interrupted). A signal that the parent process set to be ignored
/// (`nohup`, background jobs of a non-interactive shell) stays ignored.
void install_signal_handlers();

/// The signal that asked the process to stop (0: none yet), set by those handlers: for work done
/// before a run (the cross-entropy pilot rounds) to stop as promptly as a run does.
const std::atomic<int> *stop_signal_flag();

} // namespace chokepoint
