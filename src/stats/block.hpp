// What the engine hands on for a block of trials: the per-trial results and the block's
// accumulators (written by io, merged by the study), and the dimensions of a model's results.
#pragma once

#include "model/model.hpp"
#include "stats/stats.hpp"

#include <cstdint>
#include <vector>

namespace chokepoint {

/// One per-trial table of a block, already encoded as the results file stores it (io/output.hpp,
/// BlockPacker): the block's rows cut into chunks of `chunk_rows` rows from its first row, each
/// chunk's stored bytes (shuffled and deflated). The other fields name the encoding
/// (io/chunk_codec.hpp) and the rows: the writer stores the chunks as they are only for those
/// rows and into a dataset that encodes the same way, and writes the rows themselves otherwise.
struct PackedTable {
    std::uint64_t first_trial = 0, rows = 0; // the block's rows it was packed from
    std::uint64_t chunk_rows = 0, row_values = 0, elem = 0;
    int shuffle_pos = -1, deflate_pos = -1;
    unsigned level = 0;
    std::vector<std::vector<unsigned char>> chunks;
};

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
    /// Per-trial tallies that a scenario reusing this block's value chains copies (engine/
    /// chain_reuse.hpp): filled only when the simulator exports them; never written to a file.
    std::vector<double> fac_unserved, node_unserved, res_unserved; // [t * F + f], N, R
    std::vector<std::int32_t> node_months, res_months;             // [t * N + n], R
    std::vector<double> monthly_exact; // [(t * D + d) * H + m] the monthly shortfall as computed
    Accumulators acc;
    /// The per-trial tables encoded off the writer's thread, in the order the writer appends them
    /// (empty: not packed; an empty entry: that table not packed).
    std::vector<PackedTable> packed;
};

/// Whether `p` was packed from the rows of `b` (not from another block's).
inline bool packed_from(const PackedTable &p, const BlockResult &b) {
    return p.first_trial == b.first_trial && p.rows == b.count;
}

/// The dimensions of the results of `m`.
Dims dims_of(const Model &m);

} // namespace chokepoint
