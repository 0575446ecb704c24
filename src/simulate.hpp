// One trial: draw a possible world from the model, then simulate it month by month.
#pragma once

#include "allocation.hpp"
#include "model.hpp"
#include "stats.hpp"

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
    Accumulators acc;
};

Dims dims_of(const Model &m);

/// Per-thread simulator; holds the allocator's workspace and per-trial scratch.
class Simulator {
public:
    /// `warm_start`: see Allocator.
    explicit Simulator(const Model &model, bool warm_start = true);
    void run_block(std::uint64_t first_trial, std::uint64_t count, BlockResult &out);
    const AllocatorStats &allocator_stats() const { return alloc_.stats(); }

private:
    struct Ids;
    void run_trial(std::uint64_t trial, std::uint64_t row, BlockResult &out);

    const Model &m_;
    Allocator alloc_;
    Dims dims_;
    std::vector<std::uint64_t> qid_; // quantity ids, see simulate.cpp
    std::vector<int> demand_component_, node_component_, restriction_component_;
    // scratch
    std::vector<double> factors_, capacity_, want_, leak_;
    std::vector<double> level_, max_level_, max_draw_, refill_rate_; // stockpiles, per demand
    std::vector<char> active_, possible_;
    MonthOutput month_out_;
};

} // namespace chokepoint
