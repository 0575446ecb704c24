// The results file (HDF5). Layout and conventions: docs/output-format.md. Bump
// kFormatMajor/kFormatMinor (and the doc) whenever the layout changes.
#pragma once

#include "model.hpp"
#include "simulate.hpp"
#include "stats.hpp"

#include <H5Cpp.h>
#include <memory>
#include <string>

namespace chokepoint {

inline constexpr const char *kFileType = "chokepoint-results";
inline constexpr int kFormatMajor = 1;
inline constexpr int kFormatMinor = 0;

struct RunInfo {
    int threads = 1;
    std::string config_sha256;
    std::string scenario = "baseline";
};

/// Writes one run's file. Not thread-safe: used by the pipeline's serial stage only.
class ResultWriter {
public:
    /// Creates `path` (which must not exist) and writes the model tables and the config.
    ResultWriter(const std::string &path, const Model &model, const RunInfo &info);
    ~ResultWriter();

    /// Appends the per-trial datasets of one block (blocks arrive in trial order).
    void append(const BlockResult &block);

    /// Writes the summary group and the closing attributes, then closes the file.
    void finish(const Accumulators &acc);

private:
    void label_summary(H5::Group &summary);
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace chokepoint
