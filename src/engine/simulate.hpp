// One trial: draw a possible world from the model, then simulate it month by month.
#pragma once

#include "engine/allocation.hpp"
#include "engine/chain_reuse.hpp"
#include "model/inputs.hpp"
#include "model/model.hpp"
#include "model/run_design.hpp"
#include "sampling/sampling.hpp"
#include "stats/block.hpp"
#include "stats/stats.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace chokepoint {

/// Adds the paired differences (scenario minus baseline, trial by trial) of block `s` against
/// block `base` of the same trials to s.acc; `base_of` from baseline_demands().
void add_paired_differences(const BlockResult &base, const std::vector<int> &base_of,
                            const Design &design, BlockResult &s);

/// Appends the trials of `piece` (the block of trials right after dst's, from the same model)
/// to dst: every per-trial array in trial order, first_trial and count. The accumulators are
/// not touched (merge them: Accumulators::merge is exact, so the order does not matter). The
/// result is the block that one run_block over both ranges would give.
void append_trials(BlockResult &dst, BlockResult &piece);

/// Everything one trial drew and did, month by month (`chokepoint trial`): filled by
/// Simulator::run_block when a trace is set. The numbers are those the run records.
struct TrialTrace {
    std::vector<std::string> input_names; // every drawn input, as in `chokepoint validate`
    std::vector<double> input_values;
    int regime = 0;
    std::vector<int> event_onset, event_end; // [event] -1 when it did not fire; end exclusive
    std::vector<double> event_leakage;       // [event] export controls
    struct Month {
        std::vector<double> want, delivered, drawn, shortfall, level; // [demand]; level after
        std::vector<double> capacity;                                 // [facility]
        std::vector<char> restriction_active;                         // [restriction]
        std::vector<int> binding_nodes, binding_restrictions;         // model indices
        // Per value chain: some demand short after its stockpile (the chokepoint test runs).
        std::vector<char> chain_short; // [component]
    };
    std::vector<Month> months;
};

/// Thrown by Simulator::run_block when its abort flag is set: the block is unfinished and its
/// results must not be used (a run stopped by a signal drops it and resumes from it).
struct BlockAborted {};

/// Per-thread simulator; holds the allocator's workspace and per-trial scratch.
class Simulator {
public:
    /// `design`: the run's sampling design (make_design of the baseline; nullptr = this model's
    /// own). `warm_start`: see Allocator.
    /// `baseline`: when `model` is a scenario of it, the scenario's value chains that equal the
    /// baseline's (chain_reuse.hpp) are copied from the baseline's block passed to run_block
    /// instead of simulated (nullptr: simulate everything).
    explicit Simulator(const Model &model, std::shared_ptr<const Design> design = nullptr,
                       bool warm_start = true, const Model *baseline = nullptr);
    /// Simulates trials [first_trial, first_trial + count). `base`: the baseline's block of the
    /// same trials (simulated with export_tallies on), from which the value chains this scenario
    /// shares with the baseline are copied; nullptr simulates every chain. Either way the block's
    /// results are the same, bit for bit; only the LP counts differ.
    void run_block(std::uint64_t first_trial, std::uint64_t count, BlockResult &out,
                   const BlockResult *base = nullptr);
    /// Fills the block's per-trial tallies that a scenario reusing its chains copies (for the
    /// baseline's simulator of a run with scenarios).
    void set_export_tallies(bool on) { export_ = on; }
    /// Whether run_block with a baseline block copies some value chain.
    bool reuses_chains() const { return reuse_.any(); }
    const AllocatorStats &allocator_stats() const { return alloc_.stats(); }
    /// Records what each following trial draws and does into `trace` (nullptr: stop; the trace
    /// then holds the last trial run). For `chokepoint trial`, not for runs.
    void set_trace(TrialTrace *trace) { trace_ = trace; }
    /// Adds 1 to `*counter` after every trial run_block simulates (nullptr: none), for progress
    /// reports while a block is in flight. The count is never read by the simulation.
    void set_trial_counter(std::atomic<std::uint64_t> *counter) { trial_counter_ = counter; }
    /// run_block throws BlockAborted before a trial when `*flag` is not 0 (nullptr: never), so
    /// that a stop signal does not wait for the blocks in flight (minutes on a large study).
    void set_abort_flag(const std::atomic<int> *flag) { abort_ = flag; }
    /// Starts every allocation LP's solver ladder at `r` (diagnostics: compare with CLP).
    void set_first_rung(Rung r) { alloc_.set_first_rung(r); }
    /// The allocator (tests: its LP observer).
    Allocator &allocator() { return alloc_; }
    /// Names of the inputs stored per trial in BlockResult::inputs (when kept).
    const std::vector<std::string> &input_names() const { return input_names_; }
    bool keeps_inputs() const;

private:
    struct Ids;
    void run_trial(std::uint64_t trial, std::uint64_t row, BlockResult &out);
    // The steps of run_trial, in order. The draws take the slots from q on and advance it.
    double draw(std::size_t slot, const Dist &d); // its inverse CDF at the slot's coordinates
    double uniform(std::size_t slot);             // the slot's one uniform coordinate
    int draw_regime_and_factors(std::size_t &q);
    void draw_facilities(std::uint64_t trial, std::size_t &q);
    void draw_demands(std::size_t &q);
    /// The largest monthly capacity, want or stockpile amount a trial may hold (unit a month).
    static constexpr double kMaxQuantity = 1e15;
    /// Throws InputError naming the quantity, month and trial when one is above kMaxQuantity or
    /// not a number.
    void check_magnitudes(std::uint64_t trial) const;
    void draw_events(std::uint64_t row, std::size_t &q, BlockResult &out);
    void keep_inputs(std::uint64_t row, int regime, BlockResult &out);
    void simulate_months(std::uint64_t trial, std::uint64_t row, BlockResult &out);
    void record_trial(std::uint64_t trial, std::uint64_t row, int regime, BlockResult &out);
    void copy_reused(std::uint64_t row, BlockResult &out); // from base_, before record_trial

    const Model &m_;
    Allocator alloc_;
    std::atomic<std::uint64_t> *trial_counter_ = nullptr;
    const std::atomic<int> *abort_ = nullptr;
    Dims dims_;
    std::shared_ptr<const Design> design_;
    std::shared_ptr<Design::Workspace> ws_;
    std::vector<double> u_;        // the block's uniform coordinates [t * K + c]
    std::vector<int> coord_;       // per quantity slot: first coordinate, -1 if not drawn
    std::vector<int> input_slots_; // the slots that are inputs, in input order
    std::vector<std::string> input_names_;
    std::vector<double> values_; // per slot: the value drawn in this trial
    std::vector<std::uint64_t> outage_qid_;
    bool keeps_inputs_ = false; // kept_input_names(model) is not empty
    std::vector<int> demand_component_, node_component_, restriction_component_;
    // scratch
    std::vector<double> factors_, capacity_, want_, leak_;
    std::vector<double> level_, max_level_, max_draw_, refill_rate_; // stockpiles, per demand
    std::vector<double> avail_; // per demand: what its stockpile can give this month
    std::vector<char> active_, possible_;
    std::vector<double> cap_m_, want_m_, refill_m_; // this month's capacities, wants, refills
    // this trial: its row of coordinates, sample context, events, and its tallies
    const double *u_row_ = nullptr;
    SampleContext ctx_;
    std::vector<int> ev_on_, ev_end_; // [event] active months [on, end); -1: does not fire
    std::vector<double> ev_leak_;     // [event] leakage of an export control
    std::vector<int> fac_months_, node_months_, res_months_, run_;
    std::vector<double> fac_unserved_, node_unserved_, res_unserved_, comp_short_, min_level_;
    MonthOutput month_out_;
    TrialTrace *trace_ = nullptr;
    // Chain reuse (chain_reuse.hpp): what this scenario shares with the baseline, the baseline's
    // block of the trials being run (nullptr: simulate everything), and whether to export tallies.
    ChainReuse reuse_;
    const BlockResult *base_ = nullptr;
    bool export_ = false;
    // Fault injection (tests of the failure path): CHOKEPOINT_TEST_FAIL_LP=<trial>:<month> makes
    // every LP of that month of that trial fail; read once at construction (docs/robustness.md).
    long long fail_trial_ = -1;
    int fail_month_ = -1;
};

} // namespace chokepoint
