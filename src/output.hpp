// The results file (HDF5). Layout and conventions: docs/output-format.md. Bump
// kFormatMajor/kFormatMinor (and the doc) whenever the layout changes.
#pragma once

#include "config.hpp"
#include "model.hpp"
#include "simulate.hpp"
#include "stats.hpp"

#include <H5Cpp.h>
#include <memory>
#include <string>
#include <vector>

namespace chokepoint {

inline constexpr const char *kFileType = "chokepoint-results";
inline constexpr int kFormatMajor = 1;
inline constexpr int kFormatMinor = 1;

struct RunInfo {
    int threads = 1;
    int ranks = 1; // MPI processes
    std::string config_sha256;
    std::string scenario = "baseline";
    /// The blocks of trials [first_block, end_block) of blocks_total this file holds (a shard's
    /// slice, or all of them); shard_index in 1..shard_count, 0/0 when not sharded.
    std::uint64_t blocks_total = 0, first_block = 0, end_block = 0;
    int shard_index = 0, shard_count = 0;
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
    void checkpoint(const Accumulators &acc, std::uint64_t next_block);

    /// Appends the per-trial datasets of one block (blocks arrive in trial order).
    void append(const BlockResult &block);

    /// Writes the summary group and the closing attributes, then closes the file.
    void finish(const Accumulators &acc);

private:
    void label_summary(H5::Group &summary);
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

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
    std::uint64_t next_block = 0; // from /state (checkpoints and shards)
    std::vector<ConfigFile> files;
    std::vector<std::uint64_t> state; // Accumulators::save() words
};

/// Reads the attributes, config texts and statistics state of a results file. Throws InputError
/// naming the file when it is not a chokepoint results file of this major format, or lacks what
/// resume/merge need (files older than these attributes).
StoredRun read_stored_run(const std::string &path);

/// The model of a stored run, rebuilt from its stored config texts with its seed and trial count.
Model model_of(const StoredRun &run);

/// Reads rows of a results file's per-trial datasets back into blocks (for `chokepoint merge`).
class TrialReader {
public:
    TrialReader(const std::string &path, const Model &model);
    ~TrialReader();
    std::uint64_t rows() const;
    /// Rows [first, first + count) as a block of trials (without accumulators).
    void read(std::uint64_t first, std::uint64_t count, BlockResult &out);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace chokepoint
