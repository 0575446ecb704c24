// What the engine hands on for a block of trials: the per-trial results and the block's
// accumulators (written by io, merged by the study), and the dimensions of a model's results.
#pragma once

#include "model/model.hpp"
#include "stats/stats.hpp"

#include <cstdint>
#include <vector>

namespace chokepoint {

/// Per-trial results of a block of consecutive trials, row-major [trial][...].
struct BlockResult {
    std::uint64_t first_trial = 0, count = 0;
    std::vector<double> shortfall, demand_total, shortfall_share, stockpile_min; // [t * D + d]
    std::vector<std::int32_t> short_months, longest_run, stockout_month;         // [t * D + d]
    std::vector<std::int32_t> facility_binding_months;                           // [t * F + f]
    std::vector<std::int32_t> regime;                                            // [t]
    std::vector<std::int32_t> event_onset;                                       // [t * E + e]
    std::vector<float> monthly_shortfall; // [(t * D + d) * H + m]
    std::vector<double> inputs;           // [t * I + i] sampled inputs (store_inputs, rank)
    /// [t] the likelihood ratio p / q of each trial under run.importance (1 without it): every
    /// accumulator adds w x, so that its mean is the unbiased importance-sampling estimate.
    std::vector<double> weight;
    Accumulators acc;
};

/// The dimensions of the results of `m`.
Dims dims_of(const Model &m);

} // namespace chokepoint
