// The monthly allocation: who gets how much of what, exactly as docs/model.md states.
//
// Each connected value chain (component of the recipe graph) is solved on its own. Countries
// that every active trade restriction treats alike are merged into one class (exact: any
// solution of the merged problem splits back proportionally to capacity), so the linear
// programs are small: variables are production per (product, class) node, shipments per
// allowed (source node, consumer) pair, and the common fill fraction t.
//
// Tiers are served in order by progressive filling (max-min fairness in fill fraction):
// maximise t; freeze every demand whose fairness row has a positive dual (it cannot rise
// while the others stay at t); repeat until all of the tier are frozen or fully served.
// Deliveries found for a tier are fixed as lower bounds for the next. Stockpile refills
// are a last tier. A month whose inputs equal the previous month's reuses its solution.
//
// Allocation rules (Model::allocation): `coordinated` is the above over one pooled market.
// `home_first` first runs the tiers within each home (a country or its bloc: only home lanes),
// and `proportional` first ships each consumer its reference share of every supplier's output
// (contracts); those phase-1 deliveries are floors (lower bounds) of the coordinated phase 2.
// Chokepoints are tested in months with a shortfall after stockpile draws.
#pragma once

#include "engine/lp.hpp"
#include "model/model.hpp"

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace chokepoint {

struct MonthInput {
    const double *capacity = nullptr;            // [facility] available this month (unit/month)
    const double *want = nullptr;                // [demand] wanted this month
    const double *refill_want = nullptr;         // [demand] stockpile room to refill this month
    const char *restriction_active = nullptr;    // [restriction]
    const double *restriction_leakage = nullptr; // [restriction] share allowed while active
    /// [demand] what its stockpile can give this month, min(level, max draw), before this
    /// month's draw; nullptr: no stockpiles. The chokepoint test counts shortfalls after it.
    const double *stock_available = nullptr;
};

/// A demand's month after its stockpile (docs/model.md, "One month of one trial"): the unmet
/// quantity (0 when at most 1e-9 of the want: rounding), the draw min(unmet, available), and the
/// shortfall left (again 0 when at most 1e-9 of the want). The simulator's statistics and the
/// chokepoint test both use it, so "short" means the same in both.
struct MonthGap {
    double unmet = 0, draw = 0, shortfall = 0;
};
MonthGap month_gap(double want, double delivered, double available);

struct MonthOutput {
    std::vector<double> delivered;         // [demand]
    std::vector<double> refill_delivered;  // [demand]
    std::vector<char> node_binding;        // [node] (product, country) pair binds
    std::vector<char> restriction_binding; // [restriction]
    std::vector<char> component_short;     // [component] some demand short after its stockpile
};

struct AllocatorStats {
    std::uint64_t solves = 0, cache_hits = 0, monotone_hits = 0, certified = 0, lps = 0, warm = 0,
                  pivots = 0;
    std::uint64_t cold_first = 0, cold_changed = 0, cold_failed = 0;
    /// Solved months whose demands (not refills) were all served in full without an LP, and
    /// homes whose phase 1 (home_first) was (the certificate, docs/model.md).
    std::uint64_t certified_demands = 0, certified_homes = 0;
    /// Rounds of progressive filling whose demands were all served in full without an LP.
    std::uint64_t certified_rounds = 0;
    /// LPs answered per rung of the ladder (lp.hpp).
    RungCounts rungs;
    void merge(const AllocatorStats &o);
};

/// Per-thread workspace; not thread-safe, cheap to create.
class Allocator {
public:
    /// `warm_start` false solves every LP from scratch (slower; the results agree to rounding).
    explicit Allocator(const Model &model, bool warm_start = true);
    /// Starts every LP's solver ladder at `r` (tests, soak and differential checks).
    void set_first_rung(Rung r) { first_rung_ = r; }
    /// Calls `f` with every LP after it is solved (tests: LPs captured from real models for the
    /// differential checks against CLP); `role` as in failure reports.
    void set_lp_observer(std::function<void(const LinearProgram &, const std::string &role)> f) {
        observer_ = std::move(f);
    }
    /// Fault injection for the failure path's tests: while on, every LP fails as if no rung had
    /// solved it (see Simulator, CHOKEPOINT_TEST_FAIL_LP).
    void inject_failure(bool on) { inject_failure_ = on; }

    /// Forgets every remembered month and basis, so that what follows depends on nothing
    /// solved before (called at the start of every trial: results must not depend on which
    /// trials a thread happened to simulate before). `possible` [restriction], if given, marks
    /// the restrictions that may be active during the trial: their rows are kept in every
    /// month's LP, so that the LPs keep their shape (and warm starts) when they switch on/off.
    void forget(const std::vector<char> *possible = nullptr);

    /// Solves the month for all components; results in `out` (resized as needed). Throws
    /// LpFailure (with its role and value chain filled in) when no rung solves an LP.
    void solve(const MonthInput &in, MonthOutput &out);
    /// Components to leave unsolved ([component] 1: skip; nullptr: solve all): their deliveries
    /// and flags stay 0 (a scenario that copies them from the baseline, chain_reuse.hpp).
    void set_skip(const std::vector<char> *skip) { skip_ = skip; }
    /// Checks every month served in full without an LP (a monotone month or a certificate,
    /// docs/model.md "Months that need no LP") against the LPs: the month is solved again and must
    /// deliver every want and refill (to their tolerance, 1e-9 of the product's largest want), else
    /// std::logic_error. For tests and CHOKEPOINT_VERIFY_CERTIFICATES=1 (slower: such months are
    /// solved as well).
    void set_verify_certificates(bool on) { verify_certificates_ = on; }
    /// Whether the certificate's per-product flow networks (full_service_flow) are kept and
    /// reused (default) or built afresh every time (tests: both must give the same bits).
    void set_keep_flow_networks(bool on) {
        keep_nets_ = on;
        nets_.clear();
        net_index_.clear();
    }

    const AllocatorStats &stats() const { return stats_; }

private:
    struct Component;
    struct Problem;
    struct Month;
    void solve_component(Component &c, const MonthInput &in, MonthOutput &out);
    void solve_fresh(Component &c, const MonthInput &in);
    /// True when every demand and every stockpile refill of the component can be served in full
    /// this month, proved without an LP (see the definition); the caller then serves them all.
    bool full_service_certified(const Component &c, const MonthInput &in);
    /// The same with trade restrictions active: a feasible plan built product by product, most
    /// processed first, each product's shipments a maximum flow through its lanes (allocation.cpp).
    /// `home` >= 0 takes only that home's facilities and demands (phase 1 of home_first: its
    /// lanes are the home's); `refills` false asks for the demands alone; `amount` [local
    /// demand], if given, replaces the wants (a tier in full, the others at their floors).
    /// Within one component-month the same question may be asked twice (demands and refills
    /// with every refill 0, then the demands alone; a tier's first round with the others at
    /// floors of 0): the answer, a function of the component, the month's inputs, `home` and the
    /// amounts asked for, is then the last one.
    bool full_service_restricted(const Component &c, const MonthInput &in, int home = -1,
                                 bool refills = true, const std::vector<double> *amount = nullptr);
    bool full_service_flow(const Component &c, const MonthInput &in, int home, bool refills,
                           const std::vector<double> *amount);
    /// Whether local demand i of `c` is short after its stockpile draw, with the component's
    /// current deliveries.
    bool short_after(const Component &c, const MonthInput &in, std::size_t i) const;
    /// The same for every demand of `c`, into `s` (no allocation once it has the size).
    void short_after(const Component &c, const MonthInput &in, std::vector<char> &s) const;
    /// Whether the demands short after their draws are those of c.last_short.
    bool same_short(const Component &c, const MonthInput &in) const;
    /// set_verify_certificates: solves a month served in full without an LP, checks the wants.
    void verify_full_service(Component &c, const MonthInput &in, bool monotone);

    const Model &m_;
    std::vector<Component *> comps_;
    std::vector<std::unique_ptr<Component>> owned_;
    std::vector<double> unit_;
    std::vector<char> possible_;
    std::vector<double> need_, supply_; // [product] scratch of full_service_certified
    // Scratch of full_service_restricted: [product x country] need and capacity, [product]
    // total need, and the maximum-flow network of one product (edge lists with residual
    // capacities, BFS state).
    std::vector<double> cneed_, cneed0_, csupply_, ctotal_, flow_cap_, amount_;
    std::vector<int> flow_prev_, flow_queue_, flow_bucket_, flow_order_, flow_exporters_,
        flow_importers_;
    std::vector<std::size_t> flow_size_;
    std::vector<char> flow_blocked_;
    /// The network of one product's shipments (full_service_flow) without its capacities: a
    /// function of the product, its exporters, importers and active restrictions alone, so it
    /// is built once per such set and kept (the capacities and the first flows along open
    /// lanes are set from the month's numbers on every use, in the order building them took).
    /// forget() keeps them: a network is a function of its key alone, so no result depends on
    /// which months or trials built it (test_allocation compares with networks built afresh).
    struct FlowNet {
        int product = -1;
        std::vector<int> exporters, importers, bucket; // the key
        std::vector<int> head, next, to;               // edge k and its reverse k ^ 1
        std::vector<int> src_edge, sink_edge, into;    // [exporter], [importer], [a * nB + j]
        enum Kind : int { Need, Supply, Allowance, Open };
        struct Cap {
            Kind kind;
            int a, j; // the importer (Need) or exporter (Supply, Allowance), and the bucket
        };
        std::vector<Cap> cap;                   // [edge / 2]: its capacity
        std::vector<std::array<int, 3>> direct; // open lanes first served directly: a, i, edge
    };
    const FlowNet &flow_net(int p, const std::vector<int> &exporters,
                            const std::vector<int> &importers, const std::vector<int> &bucket);
    static constexpr std::size_t kMaxFlowNets = 4096;
    bool keep_nets_ = true;
    std::deque<FlowNet> nets_; // references stay valid as it grows
    std::unordered_multimap<std::uint64_t, std::size_t> net_index_; // key hash -> nets_ entry
    // The last answer of full_service_restricted in the component-month being solved (none,
    // nullptr, when its solve starts): the component, the home and the amounts asked for.
    const Component *cert_comp_ = nullptr;
    int cert_home_ = 0;
    bool cert_answer_ = false;
    std::vector<double> cert_amounts_, cert_ask_;
    bool warm_start_ = true;
    Rung first_rung_ = Rung::Warm;
    bool inject_failure_ = false, verify_certificates_ = false;
    const std::vector<char> *skip_ = nullptr;
    std::function<void(const LinearProgram &, const std::string &)> observer_;
    AllocatorStats stats_;

public:
    ~Allocator();
    Allocator(const Allocator &) = delete;
    Allocator &operator=(const Allocator &) = delete;
};

} // namespace chokepoint
