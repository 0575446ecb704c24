// The results file (HDF5). Layout and conventions: docs/output-format.md. Bump
// kFormatMajor/kFormatMinor (and the doc) whenever the layout changes.
#pragma once

#include "core/errors.hpp"
#include "model/model.hpp"
#include "stats/block.hpp"
#include "stats/stats.hpp"

#include <H5Cpp.h>
#include <memory>
#include <streambuf>
#include <string>
#include <utility>
#include <vector>

namespace chokepoint {

inline constexpr const char *kFileType = "chokepoint-results";
inline constexpr int kFormatMajor = 1;
inline constexpr int kFormatMinor = 5;

/// CF-style attributes of a finished file (units, long_name, _FillValue, flags, a time
/// coordinate, Conventions) for `models` (baseline first) stored as /scenarios/<scenario_ids[k]>.
void write_cf_attributes(H5::H5File &file, const Model &base,
                         const std::vector<const Model *> &models,
                         const std::vector<std::string> &scenario_ids);

/// The operating system's reason in HDF5's current error stack (e.g. "errno = 28, error message =
/// 'No space left on device'"); empty when it holds none.
std::string hdf5_errno_text();

struct RunInfo {
    int threads = 1;
    int ranks = 1;          // MPI processes
    bool overwrite = false; // started with --overwrite (a resume of its checkpoint may replace)
    std::string config_sha256;
    std::string scenario = "baseline";
    /// The blocks of trials [first_block, end_block) of blocks_total this file holds (a shard's
    /// slice, or all of them); shard_index in 1..shard_count, 0/0 when not sharded.
    std::uint64_t blocks_total = 0, first_block = 0, end_block = 0;
    int shard_index = 0, shard_count = 0;
    /// Per scenario (baseline first): the names of the inputs stored per trial (none: not kept).
    std::vector<std::vector<std::string>> input_names;
    /// Per scenario (baseline first): for each demand, the baseline demand whose per-trial
    /// results it has bit for bit because its value chain is the baseline's
    /// (engine/chain_reuse.hpp), -1 for the others; empty: none known. The summary takes such
    /// a demand's exact monthly bands from the baseline's instead of selecting them again.
    std::vector<std::vector<int>> copied_demands;
    /// The stopping rule's outcome (run.stop_when): met, and the statistic and its error.
    bool stop_met = false;
    double stop_value = 0, stop_se = 0;
    double stop_effective = 0; // (sum x)^2 / sum x^2 of the rule's statistic at the stop
    /// Set when a checkpoint written by another program version was resumed (run --resume
    /// --allow-version-change): "<version> (<commit>)" of the program that finished the run,
    /// written as the root attribute `resumed_by_version`.
    std::string resumed_by;
};

/// Encodes blocks' per-trial tables as the results file stores them (the byte shuffle and
/// deflate, chunk by chunk: io/chunk_codec.hpp) into BlockResult::packed, so that the deflating
/// runs in the pipeline's parallel stage and the writer stage, which is serial, only stores the
/// chunks. A snapshot of one writer's layout (ResultWriter::packer): usable from any thread, at
/// once, and after that writer is gone. The file is the same, byte for byte in its chunks, with
/// or without packing.
class BlockPacker {
public:
    BlockPacker() = default;
    /// Packs `blocks` (one per scenario, baseline first): every table the layout lets it encode,
    /// its chunks in parallel; a block packed already for its rows and this layout (by the rank
    /// that sent it) is kept. Blocks packed or not are appended alike. Returns the tables it
    /// encoded.
    std::size_t pack(std::vector<BlockResult> &blocks) const;

    struct Plan;

private:
    friend class ResultWriter;
    std::shared_ptr<const Plan> plan_;
};

/// Writes one run's file. Not thread-safe: used by the pipeline's serial stage only.
class ResultWriter {
public:
    /// Creates `path` (which must not exist) and writes the model tables and the config.
    ResultWriter(const std::string &path, const Model &model, const RunInfo &info);
    /// Reopens `path`, a copy of a checkpoint of the same model, to append to it.
    struct Resume {};
    ResultWriter(const std::string &path, const Model &model, const RunInfo &info, Resume);
    ~ResultWriter();

    /// Trials written so far.
    std::uint64_t rows() const;

    /// Writes the exact statistics state and `next_block`, marks the file incomplete, flushes and
    /// closes it: the file is then a consistent checkpoint (reopen it with Resume to go on).
    void checkpoint(const std::vector<Accumulators> &acc, std::uint64_t next_block);

    /// Appends the per-trial datasets of one block of every scenario (baseline first; blocks
    /// arrive in trial order). A block's packed tables (BlockPacker) whose first row starts a
    /// chunk are stored as they are; every other table is written (and deflated) here. Returns
    /// the chunks stored as packed.
    std::size_t append(const std::vector<BlockResult> &blocks);

    /// A packer for the blocks this writer (or one that reopens its file) will append.
    BlockPacker packer() const;
    /// The packer a new file of `model` would give (its layout made in memory; nothing is
    /// written): for the ranks that send their blocks to the one that writes them.
    static BlockPacker packer_for(const Model &model, const RunInfo &info);

    /// After reopening a checkpoint: the running sums of the convergence group (the statistics
    /// of the trials already in the file).
    void resume_running(const std::vector<Accumulators> &totals);

    /// Writes the summary groups and the closing attributes, then closes the file.
    void finish(const std::vector<Accumulators> &acc);

    /// Where finish() spent its time, summed over the scenarios, in seconds (for the run's
    /// report: the summary is a serial part of every run).
    struct FinishTimes {
        double statistics = 0;   // the accumulators' estimates, errors and conditional views
        double distribution = 0; // the shortfall's exact quantiles, VaR, CVaR and exceedance
        double bands = 0;        // the monthly quantile bands (passes over the monthly table)
        double differences = 0;  // differences against the baseline and their bootstrap
        double labels = 0;       // dimension labels and sensitivity indices
        double file = 0;         // solver counts, root attributes, state, closing the file
    };
    const FinishTimes &finish_times() const;

    /// Reads back and sets the stopping rule's outcome before finish().
    RunInfo &info();

private:
    struct Impl;
    static BlockPacker packer_of(Impl &impl);
    std::unique_ptr<Impl> impl_;
};

/// Turns off HDF5's automatic error printing on the calling thread: the C library's (H5Eset_auto,
/// per thread in Debian's thread-safe build, and the serial stage of the pipeline runs on any
/// TBB thread) and the C++ API's (H5::Exception::dontPrint). Errors reach the user once, as the
/// exception the caller turns into one message.
void quiet_hdf5_errors();

/// While alive: quiet_hdf5_errors(), and std::cerr drops the lines HDF5's C++ destructors print
/// when closing an object fails ("DataSet::~DataSet - H5Dclose failed"): after a failed write (a
/// full disk) up to one per open dataset would precede the message that says what happened.
/// Every other line passes unchanged (a line is held back only while it still looks like the
/// start of such a message). Not thread-safe with other writers of std::cerr.
class QuietHdf5 {
public:
    QuietHdf5();
    ~QuietHdf5();
    QuietHdf5(const QuietHdf5 &) = delete;
    QuietHdf5 &operator=(const QuietHdf5 &) = delete;

private:
    struct Filter;
    std::unique_ptr<Filter> filter_;
    std::streambuf *saved_ = nullptr;
};

/// Appends to the file at `path` its seal: a trailer of 85 bytes, "\n#chokepoint-sha256:", the
/// SHA-256 (hex) of every byte before it, "\n" (docs/output-format.md), and flushes it to disk.
/// Checkpoints and shards are sealed, so that read_stored_run() finds damage from the bytes
/// alone, before HDF5 parses anything (libhdf5 can crash on a malformed file). HDF5 ignores bytes
/// past its end-of-allocation mark. Throws std::system_error naming the file.
void seal_file(const std::string &path);

/// What a results file (a checkpoint, a shard or a whole run) says about the run that wrote it.
struct StoredRun {
    std::string path;
    int format_major = 0, format_minor = 0;
    std::string program_version, git_commit, config_sha256, name;
    std::uint64_t seed = 0, trials = 0, trials_planned = 0, block_size = 0, blocks_total = 0,
                  first_block = 0, end_block = 0;
    int horizon_months = 0, shard_index = 0, shard_count = 0;
    bool complete = false;
    bool has_state = false;
    bool store_inputs = false;
    bool overwrite = false; // the run was started with --overwrite (resume may replace OUT too)
    double stop_se_below = 0;
    std::uint64_t requested_trials = 0; // run.trials or --trials as given (see set_trials)
    std::uint64_t next_block = 0;       // from /state (checkpoints and shards)
    std::vector<ConfigFile> files;
    std::vector<std::string> scenarios;            // ids, baseline first
    std::vector<std::vector<std::uint64_t>> state; // per scenario: Accumulators::save() words
};

/// Reads the attributes, config texts and statistics state of a results file. Throws InputError
/// naming the file when it is not a chokepoint results file of this major format, or lacks what
/// resume/merge need (files older than these attributes), or when a checkpoint or shard is
/// damaged: its seal does not match its bytes (checked before HDF5 opens it), or it has none, or
/// its integrity digests do not match its statistics state, counters or per-trial data.
StoredRun read_stored_run(const std::string &path);

/// The one check of a file's identity (docs/output-format.md): its root group `root` has
/// filetype kFileType and a format_version whose major this program reads; returns {major,
/// minor}. Throws InputError naming `path` otherwise. Used by every reader (summary, resume,
/// merge, `trial`).
std::pair<int, int> check_file_format(const H5::Group &root, const std::string &path);

/// The model of a stored run, rebuilt from its stored config texts with its seed and trial count.
Model model_of(const StoredRun &run);

/// Reads rows of a results file's per-trial datasets back into blocks (for `chokepoint merge`).
class TrialReader {
public:
    TrialReader(const std::string &path, const Model &model);
    ~TrialReader();
    std::uint64_t rows() const;
    /// Rows [first, first + count) of every scenario as blocks of trials (no accumulators).
    void read(std::uint64_t first, std::uint64_t count, std::vector<BlockResult> &out);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

namespace io_detail {
/// The most bytes of a scenario's per-trial shortfall table that the summary at the end of a
/// run reads into memory once and keeps for its passes (32 MiB); a larger table is read from
/// the file by each pass (the same numbers). For tests, which set 0 to take those paths; returns
/// the limit it replaces.
double set_held_table_bytes(double bytes);
} // namespace io_detail

} // namespace chokepoint
