// The immutable model a config builds: products, facilities, demands, restrictions, events.
// Built once by config.cpp, then shared read-only by every simulation thread.
#pragma once

#include "core/errors.hpp"
#include "model/distribution.hpp"
#include "sampling/sampling.hpp"

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace chokepoint {

enum class Statistic { EUD, PShort, LOSE };
enum class Sensitivity { None, Rank, Sobol };

/// run.stop_when: add blocks until the standard error of one statistic of one demand is below a
/// target (absolute, or relative to the estimate), between min_trials and max_trials.
struct StopRule {
    bool enabled = false;
    Statistic statistic = Statistic::EUD;
    std::string demand; // demand id
    double se_below = 0;
    bool relative = false;
    std::uint64_t min_trials = 0, max_trials = 0;
    /// The target counts as met only once the statistic's effective number of trials, (sum x)^2
    /// / sum x^2 over its per-trial values (w x under importance sampling), is at least this:
    /// without it a run that has not yet seen the demand short stops at 0 +- 0.
    std::uint64_t min_effective_trials = 10;
};

/// run.correlations: a rank (Spearman) correlation between two named inputs.
struct CorrelationSpec {
    std::string a, b;
    double rank = 0;
};

/// run.importance.tilt: a proposal for one input's coordinate (sampling.hpp, CoordTilt), by name.
struct TiltSpec {
    std::string input;
    std::vector<double> edges, mass;
    bool fitted = false; // fitted by the cross-entropy method (not given in the config)
    /// probability: p (an event's occurrence): the proposal's probability; the config loader
    /// turns it into edges and masses once the event is known. NaN for the other forms.
    double probability = std::numeric_limits<double>::quiet_NaN();
};

/// run.importance.cross_entropy: fit the tilts of `inputs` so that the rare outcome "demand
/// `demand` has a total shortfall above `shortfall_above`" becomes common (docs/importance.md).
struct CrossEntropySpec {
    bool enabled = false;
    std::string demand;
    double shortfall_above = 0;
    std::vector<std::string> inputs; // names or prefixes ending in '*'; empty: events and regime
    std::uint64_t pilot_trials = 2000;
    int max_rounds = 10;
    double rarity = 0.1;    // the elite share of each pilot round (rho)
    double defensive = 0.1; // the uniform share of every fitted proposal (lambda): w <= 1/lambda
    double smoothing = 0.7; // the weight of each round's fit against the previous proposal
};

/// One pilot round of the cross-entropy method: the level it reached and what it saw.
struct CrossEntropyRound {
    int round = 0;
    std::uint64_t trials = 0;
    std::uint64_t hits = 0;   // trials reaching the target outcome
    std::uint64_t elites = 0; // trials the proposal was fitted to
    double level = 0;         // the elites' lowest target shortfall (the level reached)
    double hit_rate = 0;      // importance-sampling estimate of P(target) from this round
    double ess = 0;           // the elites' effective sample size
    int tilted = 0;           // inputs whose fitted proposal differs from the model's
};

/// run.importance: importance sampling of rare outcomes.
struct ImportanceSettings {
    std::vector<TiltSpec> tilts;
    CrossEntropySpec ce;
    /// Filled by fit_importance (study/importance.hpp): its rounds, and whether the last one's
    /// elites were all target outcomes.
    std::vector<CrossEntropyRound> ce_rounds;
    bool ce_fitted = false, ce_reached = false;
    bool enabled() const { return !tilts.empty() || ce.enabled; }
};

struct RunSettings {
    std::uint64_t trials = 10000;           // trials of the run (see set_trials)
    std::uint64_t requested_trials = 10000; // run.trials or --trials as given
    std::uint64_t seed = 1;
    int horizon_months = 36;
    std::string start; // "YYYY-MM" label of month 0, may be empty
    std::uint64_t block_size = 1000;
    std::vector<double> quantiles{0.05, 0.25, 0.5, 0.75, 0.95, 0.99};
    /// Shares of a demand's total want: P(shortfall share > x) is reported for each.
    std::vector<double> thresholds{0.01, 0.05, 0.10, 0.25};
    bool store_monthly = true;
    SamplerKind sampler = SamplerKind::MC;
    int replicates = 1; // independent designs (lhs, sobol): trials = replicates x rows
    std::vector<CorrelationSpec> correlations;
    StopRule stop;
    Sensitivity sensitivity = Sensitivity::None;
    std::vector<std::string> sensitivity_inputs; // names, or prefixes ending in '*'
    int bootstrap = 200;                         // bootstrap replicates of sensitivity CIs
    bool store_inputs = false;                   // per-trial sampled inputs in the file
    /// Pick-freeze (sensitivity: sobol): base rows n; trials = n (inputs + 2). 0 otherwise.
    std::uint64_t pick_freeze_rows = 0;
    ImportanceSettings importance;
};

struct Product {
    std::string id, name, unit;
    /// (input product index, tonnes of input per tonne of output)
    std::vector<std::pair<int, double>> recipe;
    int component = -1; // connected component of the recipe graph
};

struct Outages {
    Dist rate_per_year, duration_months, fraction_lost;
};

struct Facility {
    std::string id;
    int product = -1;
    int country = -1;
    Dist capacity; // per year
    Dist availability = Dist::fixed(1);
    Dist start_month = Dist::fixed(0);
    Dist ramp_months = Dist::fixed(0);
    Dist growth = Dist::fixed(0); // capacity growth per year (yearly steps, like demand growth)
    bool has_outages = false;
    Outages outages;
};

struct Stockpile {
    Dist initial, max_level, max_draw, refill;
    bool has_max_level = false, has_max_draw = false, has_refill = false;
};

struct Demand {
    std::string id;
    int product = -1;
    int country = -1;
    Dist quantity; // per year at month 0
    Dist growth = Dist::fixed(0);
    int tier = 1;
    /// Its priority on supply from beyond its home (phase 2 of home_first and proportional: the
    /// spot market), where national priority systems do not reach; `tier` when not given.
    int tier_abroad = 1;
    bool has_stockpile = false;
    Stockpile stockpile;
};

/// A trade restriction on (exporter, importer, product): a static lane rule (always active,
/// fixed leakage) or the restriction of an export-control event (active while the event is).
struct Restriction {
    std::string id;
    int event = -1;              // -1 for a static lane
    std::vector<char> exporter;  // [country] membership
    std::vector<char> importer;  // [country]
    std::vector<char> product;   // [product]
    double static_leakage = 0.0; // lanes only
    bool blocks(int from, int to, int p) const {
        return from != to && exporter[static_cast<std::size_t>(from)] &&
               importer[static_cast<std::size_t>(to)] && product[static_cast<std::size_t>(p)];
    }
};

enum class EventType { ExportControl, CapacityShock };
enum class OnsetKind { Probability, Hazard, ActiveAtStart };

struct Event {
    std::string id;
    EventType type = EventType::ExportControl;
    OnsetKind onset = OnsetKind::Probability;
    Dist probability = Dist::fixed(1);
    Dist month = Dist::fixed(0);
    Dist hazard_per_year = Dist::fixed(0);
    Dist duration_months;
    Dist leakage = Dist::fixed(0);       // export control
    Dist fraction_lost = Dist::fixed(1); // capacity shock
    int restriction = -1;                // export control
    std::vector<int> facilities;         // capacity shock targets
};

struct Regime {
    std::string id;
    double weight = 1;
};

struct Factor {
    std::string id;
    Dist dist;
};

struct ConfigFile {
    std::string path, text;
};

/// Who gets supply when it is short (config `allocation:`; docs/model.md, "Allocation rules").
enum class AllocationRule {
    Coordinated, // one pooled market: tiers, max-min fair within a tier, wherever the supply is
    HomeFirst,   // phase 1 within each home (a country or its bloc), then the rest coordinated
    Proportional // phase 1 contracts: reference shares of each supplier's output, then coordinated
};
enum class ReferenceShares { Pooled, TradeShares };

struct AllocationSettings {
    AllocationRule rule = AllocationRule::Coordinated;
    /// home_first: country groups whose members count as home to each other (ids, for messages).
    std::vector<std::string> blocs;
    /// [country] the home of each country: its own index, or the smallest index of its bloc
    /// (overlapping blocs merge). Filled for every rule.
    std::vector<int> home;
    ReferenceShares reference = ReferenceShares::Pooled;
    /// trade_shares: [product] -> [exporter * countries + importer] the share of the exporter's
    /// output of the product contracted to the importer; NaN where the table says nothing (that
    /// exporter's output is then split pooled). Empty (no product) without a table.
    std::vector<std::vector<double>> trade_shares;
};

struct Model;

/// A named variant of the baseline model (config `scenarios:`), evaluated on the same trials.
struct ScenarioModel {
    std::string id, description;
    std::shared_ptr<const Model> model;
};

struct Model {
    std::string name, description;
    RunSettings run;
    std::vector<std::string> countries;
    std::vector<Product> products;
    std::vector<Facility> facilities;
    std::vector<Demand> demands;
    std::vector<Restriction> restrictions; // lanes first, then one per export-control event
    std::vector<Event> events;
    std::vector<Regime> regimes;
    std::vector<Factor> factors;
    std::vector<ConfigFile> files; // main config first, then includes
    AllocationSettings allocation;
    int n_components = 0;

    /// (product, country) nodes: node index for every facility, names "product@country".
    std::vector<int> facility_node;
    std::vector<std::string> node_names;
    std::vector<int> node_product, node_country;

    /// Scenarios (not including the baseline, which is this model itself).
    std::vector<ScenarioModel> scenarios;

    /// Country codes written in a lane, event or shock (directly, not through a group) that no
    /// facility or demand of this model has, with where they were written (the loader fills it;
    /// config.cpp's collect_country_warnings reports those that no scenario places either).
    std::vector<std::pair<std::string, Diagnostic>> unplaced_countries;
    /// What the config may mean but probably does not (a country that names nobody): printed by
    /// `run` and `validate`, not refused.
    std::vector<Diagnostic> warnings;
};

} // namespace chokepoint
