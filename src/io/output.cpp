#include "io/output.hpp"

#include "io/chunk_scan.hpp"
#include "io/h5util.hpp"

#include "config/config.hpp"
#include "core/parallel.hpp"
#include "core/random.hpp"
#include "core/sha256.hpp"
#include "model/inputs.hpp"
#include "stats/sensitivity.hpp"
#include "version.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <functional>
#include <hdf5_hl.h>
#include <iostream>
#include <limits>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <sys/stat.h>
#include <system_error>
#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <unistd.h>

namespace chokepoint {

using namespace io_detail;

/// The model's index tables (names of products, facilities, demands, ...) in `parent`/model.
void write_model_tables(H5::Group &parent, const Model &m) {
    auto mg = parent.createGroup("model");
    std::vector<std::string> names, recipes;
    for (const auto &p : m.products) {
        names.push_back(p.id);
        std::string r;
        for (const auto &[q, c] : p.recipe) {
            if (!r.empty())
                r += ",";
            std::ostringstream os;
            os.precision(17);
            os << c;
            r += m.products[static_cast<std::size_t>(q)].id + ":" + os.str();
        }
        recipes.push_back(r);
    }
    write_strings(mg, "products", names);
    write_strings(mg, "recipes", recipes);
    {
        std::vector<std::string> units;
        for (const auto &p : m.products)
            units.push_back(p.unit);
        write_strings(mg, "product_units", units);
    }
    names.clear();
    std::vector<std::int32_t> prod;
    std::vector<std::string> ctry;
    for (const auto &f : m.facilities) {
        names.push_back(f.id);
        prod.push_back(f.product);
        ctry.push_back(m.countries[static_cast<std::size_t>(f.country)]);
    }
    write_strings(mg, "facilities", names);
    write_array(mg, "facility_product", prod);
    write_strings(mg, "facility_country", ctry);
    names.clear();
    prod.clear();
    ctry.clear();
    std::vector<std::int32_t> tier, has_stockpile;
    for (const auto &d : m.demands) {
        names.push_back(d.id);
        prod.push_back(d.product);
        ctry.push_back(m.countries[static_cast<std::size_t>(d.country)]);
        tier.push_back(d.tier);
        has_stockpile.push_back(d.has_stockpile ? 1 : 0);
    }
    write_array(mg, "demand_has_stockpile", has_stockpile);
    write_strings(mg, "demands", names);
    write_array(mg, "demand_product", prod);
    write_strings(mg, "demand_country", ctry);
    write_array(mg, "demand_tier", tier);
    names.clear();
    std::vector<std::string> types;
    for (const auto &e : m.events) {
        names.push_back(e.id);
        types.push_back(e.type == EventType::ExportControl ? "export_control" : "capacity_shock");
    }
    write_strings(mg, "events", names);
    write_strings(mg, "event_type", types);
    names.clear();
    std::vector<double> weights;
    for (const auto &r : m.regimes) {
        names.push_back(r.id);
        weights.push_back(r.weight);
    }
    write_strings(mg, "regimes", names);
    write_array(mg, "regime_weight", weights);
    names.clear();
    for (const auto &r : m.restrictions)
        names.push_back(r.id);
    write_strings(mg, "restrictions", names);
    std::vector<std::string> covered;
    for (const auto &r : m.restrictions) {
        std::string list;
        for (std::size_t p = 0; p < m.products.size(); ++p)
            if (r.product[p])
                list += (list.empty() ? "" : ",") + m.products[p].id;
        covered.push_back(list);
    }
    write_strings(mg, "restriction_products", covered);
    std::vector<std::int32_t> chain;
    for (const auto &p : m.products)
        chain.push_back(p.component);
    write_array(mg, "product_chain", chain);
    write_strings(mg, "nodes", m.node_names);
    write_strings(mg, "countries", m.countries);
}

/// Root attributes, config texts and model tables of a new results file.
/// /importance: the proposals of an importance-sampled run (docs/output-format.md).
void write_importance(H5::H5File &file, const Model &m) {
    const auto &im = m.run.importance;
    auto g = file.createGroup("/importance");
    attr_string(g, "estimator",
                "unbiased: (1/n) sum w x over all n trials, w = p(u) / q(u) the likelihood ratio "
                "of the trial's tilted coordinates (trials/weight)");
    std::vector<std::string> inputs;
    std::vector<double> edges, mass;
    std::vector<std::int32_t> bins, fitted;
    for (const auto &t : im.tilts) {
        inputs.push_back(t.input);
        edges.insert(edges.end(), t.edges.begin(), t.edges.end());
        mass.insert(mass.end(), t.mass.begin(), t.mass.end());
        bins.push_back(static_cast<std::int32_t>(t.mass.size()));
        fitted.push_back(t.fitted ? 1 : 0);
    }
    write_strings(g, "inputs", inputs);
    write_array(g, "bins", bins);
    write_array(g, "edges", edges);
    write_array(g, "mass", mass);
    write_array(g, "fitted", fitted);
    attr_string(g, "layout",
                "tilt i has bins[i] bins: its edges are the next bins[i] + 1 values of edges, its "
                "masses the next bins[i] values of mass (each on the input's quantile scale)");
    if (im.ce.enabled) {
        const auto &ce = im.ce;
        attr_string(g, "cross_entropy_demand", ce.demand);
        attr_scalar<double>(g, "cross_entropy_shortfall_above", ce.shortfall_above);
        attr_scalar<std::uint64_t>(g, "cross_entropy_pilot_trials", ce.pilot_trials);
        attr_scalar<double>(g, "cross_entropy_rarity", ce.rarity);
        attr_scalar<double>(g, "cross_entropy_defensive", ce.defensive);
        attr_scalar<double>(g, "cross_entropy_smoothing", ce.smoothing);
        attr_scalar<std::int32_t>(g, "cross_entropy_reached", im.ce_reached ? 1 : 0);
        std::vector<double> rounds;
        for (const auto &r : im.ce_rounds)
            for (double x : {double(r.round), double(r.trials), double(r.hits), double(r.elites),
                             r.level, r.hit_rate, r.ess, double(r.tilted)})
                rounds.push_back(x);
        write_array(g, "cross_entropy_rounds", rounds, {im.ce_rounds.size(), 8});
        attr_string(g, "cross_entropy_rounds_columns",
                    "round,pilot_trials,hits,elites,level,hit_rate,elite_ess,inputs_tilted");
    }
}

void write_header(H5::H5File &file, const Model &m, const RunInfo &info) {
    auto root = file.openGroup("/");
    attr_string(root, "filetype", kFileType);
    {
        const hsize_t two = 2;
        H5::DataSpace sp(1, &two);
        auto a = root.createAttribute("format_version", H5::PredType::NATIVE_INT32, sp);
        const std::int32_t v[2] = {kFormatMajor, kFormatMinor};
        a.write(H5::PredType::NATIVE_INT32, v);
    }
    attr_string(root, "program_version", kVersion);
    attr_string(root, "git_commit", kGitCommit);
    attr_scalar<std::uint64_t>(root, "seed", m.run.seed);
    attr_scalar<std::int32_t>(root, "horizon_months", m.run.horizon_months);
    attr_scalar<std::uint64_t>(root, "block_size", m.run.block_size);
    attr_scalar<std::int32_t>(root, "threads", info.threads);
    attr_scalar<std::int32_t>(root, "ranks", info.ranks);
    attr_scalar<std::uint64_t>(root, "trials_planned", m.run.trials);
    attr_scalar<std::uint64_t>(root, "trials_requested", m.run.requested_trials);
    attr_scalar<std::uint64_t>(root, "blocks_total", info.blocks_total);
    attr_scalar<std::uint64_t>(root, "first_block", info.first_block);
    attr_scalar<std::uint64_t>(root, "end_block", info.end_block);
    attr_scalar<std::int32_t>(root, "shard_index", info.shard_index);
    attr_scalar<std::int32_t>(root, "shard_count", info.shard_count);
    attr_string(root, "config_sha256", info.config_sha256);
    attr_string(root, "name", m.name);
    attr_string(root, "description", m.description);
    attr_string(root, "start", m.run.start);

    auto cfg = file.createGroup("/config");
    std::vector<std::string> paths, texts;
    for (const auto &f : m.files) {
        paths.push_back(f.path);
        texts.push_back(f.text);
    }
    write_strings(cfg, "files", paths);
    write_strings(cfg, "texts", texts);

    auto root_group = file.openGroup("/");
    write_model_tables(root_group, m);

    std::string list;
    for (const auto &id : run_scenario_ids(m))
        list += (list.empty() ? "" : ",") + id;
    auto root2 = file.openGroup("/");
    attr_string(root2, "scenarios", list);
    attr_scalar<std::int32_t>(root2, "store_inputs", m.run.store_inputs ? 1 : 0);
    attr_scalar<std::int32_t>(root2, "overwrite", info.overwrite ? 1 : 0);
    if (m.run.stop.enabled) {
        const auto &st = m.run.stop;
        std::ostringstream os;
        os << (st.statistic == Statistic::EUD      ? "eud"
               : st.statistic == Statistic::PShort ? "p_short"
                                                   : "lose")
           << " of " << st.demand << (st.relative ? ": relative se below " : ": se below ")
           << st.se_below << ", trials " << st.min_trials << ".." << st.max_trials
           << ", effective trials >= " << st.min_effective_trials;
        attr_string(root2, "stop_rule", os.str());
        attr_scalar<double>(root2, "stop_se_below", st.se_below);
    }
    if (m.run.importance.enabled())
        write_importance(file, m);
    file.createGroup("/scenarios");
}
namespace {
/// The trial numbers of a block's rows (the "trial" table).
std::vector<std::uint64_t> trial_numbers(const BlockResult &b) {
    std::vector<std::uint64_t> idx(static_cast<std::size_t>(b.count));
    for (std::size_t i = 0; i < idx.size(); ++i)
        idx[i] = b.first_trial + i;
    return idx;
}

/// A block's per-trial tables, each as its rows' bytes (address, size), in the order the writer
/// appends them (ScenarioOut::tables): `idx` holds the block's trial numbers, and the last three
/// tables are there only when the scenario stores them.
std::vector<std::pair<const void *, std::size_t>>
block_tables(const BlockResult &b, const std::vector<std::uint64_t> &idx, bool monthly, bool inputs,
             bool weighted) {
    std::vector<std::pair<const void *, std::size_t>> t;
    auto add = [&](const auto &v) { t.emplace_back(v.data(), v.size() * sizeof(v[0])); };
    add(b.shortfall);
    add(b.demand_total);
    add(b.shortfall_share);
    add(b.short_months);
    add(b.longest_run);
    add(b.stockpile_min);
    add(b.stockout_month);
    add(b.facility_binding_months);
    add(b.regime);
    add(b.event_onset);
    add(idx);
    if (monthly)
        add(b.monthly_shortfall);
    if (inputs)
        add(b.inputs);
    if (weighted)
        add(b.weight);
    return t;
}
} // namespace

/// The groups and per-trial datasets of one scenario.
struct ScenarioOut {
    std::string id;
    const Model *m = nullptr;
    H5::Group scen, trials, conv;
    Appendable shortfall, demand_total, share, short_months, longest_run, stockpile_min, stockout,
        fac_binding, regime, event_onset, monthly, trial_index, inputs, weight;
    Appendable conv_trials, conv_eud, conv_eud_se, conv_p_short, conv_p_short_se;
    std::vector<std::string> input_names;
    bool weighted = false; // run.importance: trials/weight holds each trial's likelihood ratio
    std::uint64_t rows = 0;
    // The summary's copy of the shortfall table [rows, D], read once (its chunks inflated on the
    // run's threads) when it takes at most held_table_bytes; the quantiles, the tail pass, the
    // paired differences and the sensitivity then read it here instead of from the file, each
    // of them once. `held` says whether it is held (a table of 0 rows is, and is empty).
    struct HeldTable {
        bool held = false;
        std::vector<double> v;
    } held_shortfall;
    const Model *run_model = nullptr; // the baseline: its design spans every scenario's inputs
    // Running sums for the convergence group, from the per-trial rows (exact: a resumed or merged
    // run writes the same running estimates as one uninterrupted run).
    std::vector<Moments> run_sf, run_any;

    /// Coordinates naming the model's entities, as dimension scales of group `g`.
    void name_scales(H5::Group &g) {
        name_scale(g, "demand", ids(m->demands));
        name_scale(g, "facility", ids(m->facilities));
        name_scale(g, "event", ids(m->events));
    }

    ScenarioOut(H5::H5File &file, const std::string &sid, const Model &model,
                const std::vector<std::string> &inputs_kept)
        : id(sid), m(&model), input_names(inputs_kept), weighted(model.run.importance.enabled()) {
        const Model &m = model;
        H5::Group scenarios = file.openGroup("/scenarios");
        scen = scenarios.createGroup(id);
        write_model_tables(scen, m);
        trials = scen.createGroup("trials");
        const hsize_t D = m.demands.size(), F = m.facilities.size(), E = m.events.size(),
                      H = static_cast<hsize_t>(m.run.horizon_months);
        const hsize_t chunk = std::max<hsize_t>(1, m.run.block_size);
        // Shortfalls are mostly zero: deflated without the byte shuffle (see Appendable).
        shortfall = Appendable(trials, "shortfall", H5::PredType::NATIVE_DOUBLE, {D}, chunk, false);
        demand_total = Appendable(trials, "demand_total", H5::PredType::NATIVE_DOUBLE, {D}, chunk);
        share =
            Appendable(trials, "shortfall_share", H5::PredType::NATIVE_DOUBLE, {D}, chunk, false);
        short_months = Appendable(trials, "short_months", H5::PredType::NATIVE_INT32, {D}, chunk);
        longest_run = Appendable(trials, "longest_run", H5::PredType::NATIVE_INT32, {D}, chunk);
        stockpile_min =
            Appendable(trials, "stockpile_min", H5::PredType::NATIVE_DOUBLE, {D}, chunk, false);
        stockout =
            Appendable(trials, "stockout_month", H5::PredType::NATIVE_INT32, {D}, chunk, false);
        fac_binding =
            Appendable(trials, "facility_binding_months", H5::PredType::NATIVE_INT32, {F}, chunk);
        regime = Appendable(trials, "regime", H5::PredType::NATIVE_INT32, {}, chunk);
        event_onset =
            Appendable(trials, "event_onset", H5::PredType::NATIVE_INT32, {E}, chunk, false);
        if (m.run.store_monthly)
            monthly = Appendable(trials, "monthly_shortfall", H5::PredType::NATIVE_FLOAT, {D, H},
                                 chunk, false);

        // Named dimensions (HDF5 dimension scales, read by netCDF-4 tools such as xarray).
        trial_index = Appendable(trials, "trial", H5::PredType::NATIVE_UINT64, {}, chunk);
        make_scale(trial_index.dataset(), "trial");
        name_scales(trials);
        index_scale(trials, "month", H);
        for (const char *name : {"shortfall", "demand_total", "shortfall_share", "short_months",
                                 "longest_run", "stockpile_min", "stockout_month"})
            label(trials, name, {"trial", "demand"});
        label(trials, "facility_binding_months", {"trial", "facility"});
        label(trials, "regime", {"trial"});
        label(trials, "event_onset", {"trial", "event"});
        if (m.run.store_monthly)
            label(trials, "monthly_shortfall", {"trial", "demand", "month"});
        if (weighted) {
            weight = Appendable(trials, "weight", H5::PredType::NATIVE_DOUBLE, {}, chunk);
            label(trials, "weight", {"trial"});
        }
        if (!input_names.empty()) {
            inputs = Appendable(trials, "inputs", H5::PredType::NATIVE_DOUBLE,
                                {static_cast<hsize_t>(input_names.size())}, chunk);
            name_scale(trials, "input", input_names);
            label(trials, "inputs", {"trial", "input"});
        }
        // Running estimates after each block (a convergence plot).
        conv = scen.createGroup("convergence");
        conv_trials = Appendable(conv, "trials", H5::PredType::NATIVE_UINT64, {}, 64);
        make_scale(conv_trials.dataset(), "trials");
        conv_eud = Appendable(conv, "eud", H5::PredType::NATIVE_DOUBLE, {D}, 64);
        conv_eud_se = Appendable(conv, "eud_se", H5::PredType::NATIVE_DOUBLE, {D}, 64);
        conv_p_short = Appendable(conv, "p_short", H5::PredType::NATIVE_DOUBLE, {D}, 64);
        conv_p_short_se = Appendable(conv, "p_short_se", H5::PredType::NATIVE_DOUBLE, {D}, 64);
        name_scale(conv, "demand", ids(m.demands));
        for (const char *name : {"eud", "eud_se", "p_short", "p_short_se"})
            label(conv, name, {"trials", "demand"});
    }

    /// Reopens the groups of a checkpoint to append to them.
    ScenarioOut(H5::H5File &file, const std::string &sid, const Model &model, bool /*open*/)
        : id(sid), m(&model) {
        scen = file.openGroup("/scenarios/" + id);
        trials = scen.openGroup("trials");
        conv = scen.openGroup("convergence");
        using P = H5::PredType;
        shortfall = Appendable::open(trials, "shortfall", P::NATIVE_DOUBLE);
        demand_total = Appendable::open(trials, "demand_total", P::NATIVE_DOUBLE);
        share = Appendable::open(trials, "shortfall_share", P::NATIVE_DOUBLE);
        short_months = Appendable::open(trials, "short_months", P::NATIVE_INT32);
        longest_run = Appendable::open(trials, "longest_run", P::NATIVE_INT32);
        stockpile_min = Appendable::open(trials, "stockpile_min", P::NATIVE_DOUBLE);
        stockout = Appendable::open(trials, "stockout_month", P::NATIVE_INT32);
        fac_binding = Appendable::open(trials, "facility_binding_months", P::NATIVE_INT32);
        regime = Appendable::open(trials, "regime", P::NATIVE_INT32);
        event_onset = Appendable::open(trials, "event_onset", P::NATIVE_INT32);
        if (model.run.store_monthly)
            monthly = Appendable::open(trials, "monthly_shortfall", P::NATIVE_FLOAT);
        if (H5Lexists(trials.getId(), "inputs", H5P_DEFAULT) > 0) {
            inputs = Appendable::open(trials, "inputs", P::NATIVE_DOUBLE);
            input_names.resize(static_cast<std::size_t>(inputs.inner().at(0)));
        }
        trial_index = Appendable::open(trials, "trial", P::NATIVE_UINT64);
        weighted = H5Lexists(trials.getId(), "weight", H5P_DEFAULT) > 0;
        if (weighted)
            weight = Appendable::open(trials, "weight", P::NATIVE_DOUBLE);
        conv_trials = Appendable::open(conv, "trials", P::NATIVE_UINT64);
        conv_eud = Appendable::open(conv, "eud", P::NATIVE_DOUBLE);
        conv_eud_se = Appendable::open(conv, "eud_se", P::NATIVE_DOUBLE);
        conv_p_short = Appendable::open(conv, "p_short", P::NATIVE_DOUBLE);
        conv_p_short_se = Appendable::open(conv, "p_short_se", P::NATIVE_DOUBLE);
        rows = trial_index.rows();
    }

    /// The datasets a block appends to, in the order append() writes them (and feeds their rows
    /// to the digest): paths relative to the scenario's group. The integrity digest of /state
    /// (docs/output-format.md) lists them, so that a reader can recompute it.
    std::vector<std::string> digest_layout() const {
        std::vector<std::string> v{"trials/shortfall",
                                   "trials/demand_total",
                                   "trials/shortfall_share",
                                   "trials/short_months",
                                   "trials/longest_run",
                                   "trials/stockpile_min",
                                   "trials/stockout_month",
                                   "trials/facility_binding_months",
                                   "trials/regime",
                                   "trials/event_onset",
                                   "trials/trial"};
        if (m->run.store_monthly)
            v.push_back("trials/monthly_shortfall");
        if (!input_names.empty())
            v.push_back("trials/inputs");
        if (weighted)
            v.push_back("trials/weight");
        for (const char *c : {"trials", "eud", "eud_se", "p_short", "p_short_se"})
            v.push_back(std::string("convergence/") + c);
        return v;
    }

    /// The per-trial datasets a block appends to, in the order of digest_layout() (and of
    /// block_tables()).
    std::vector<Appendable *> tables() {
        std::vector<Appendable *> v{&shortfall,   &demand_total,  &share,      &short_months,
                                    &longest_run, &stockpile_min, &stockout,   &fac_binding,
                                    &regime,      &event_onset,   &trial_index};
        if (m->run.store_monthly)
            v.push_back(&monthly);
        if (!input_names.empty())
            v.push_back(&inputs);
        if (weighted)
            v.push_back(&weight);
        return v;
    }

    /// Returns the chunks stored as packed (ResultWriter::append).
    std::size_t append(const BlockResult &b, Sha256 *digest) {
        const hsize_t n = b.count;
        if (!input_names.empty() && b.inputs.size() != n * input_names.size())
            throw std::logic_error("block inputs do not match the stored inputs");
        const auto idx = trial_numbers(b);
        const auto data =
            block_tables(b, idx, m->run.store_monthly, !input_names.empty(), weighted);
        const auto ds = tables();
        const bool packed = b.packed.size() == ds.size();
        std::size_t stored = 0;
        for (std::size_t i = 0; i < ds.size(); ++i) {
            // Only chunks packed from these very rows (a stale table is written row by row).
            const PackedTable *p = packed ? &b.packed[i] : nullptr;
            if (p && !packed_from(*p, b))
                p = nullptr;
            stored += ds[i]->append_rows(data[i].first, n, digest, p);
        }
        rows += n;
        const auto D = m->demands.size();
        run_sf.resize(D);
        run_any.resize(D);
        for (hsize_t t = 0; t < n; ++t)
            for (std::size_t d = 0; d < D; ++d) {
                const double w = b.weight.empty() ? 1.0 : b.weight[t];
                run_sf[d].add(w * b.shortfall[t * D + d]);
                run_any[d].add(b.short_months[t * D + d] > 0 ? w : 0.0);
            }
        append_convergence(digest);
        return stored;
    }

    void append_convergence(Sha256 *digest) {
        const auto D = m->demands.size();
        std::vector<double> e(D), es(D), p(D), ps(D);
        for (std::size_t d = 0; d < D; ++d) {
            e[d] = run_sf[d].mean();
            es[d] = run_sf[d].se();
            p[d] = run_any[d].mean();
            ps[d] = run_any[d].se();
        }
        const std::uint64_t n = rows;
        conv_trials.append(&n, 1, digest);
        conv_eud.append(e.data(), 1, digest);
        conv_eud_se.append(es.data(), 1, digest);
        conv_p_short.append(p.data(), 1, digest);
        conv_p_short_se.append(ps.data(), 1, digest);
    }
};

struct ResultWriter::Impl {
    const Model &m;
    RunInfo info;
    H5::H5File file;
    std::vector<ScenarioOut> sc;
    std::uint64_t rows = 0;
    /// The digest chain of the blocks appended (docs/output-format.md, /state): after block k,
    /// SHA-256(chain after block k-1, then the bytes block k appended to every dataset of every
    /// scenario in digest_layout() order); all zero before the first block.
    std::array<std::uint8_t, 32> chain{};
    FinishTimes finish_times;

    /// Reopens a checkpoint (copied to `path`) to continue appending to it.
    Impl(const std::string &path, const Model &model, const RunInfo &ri, bool /*resume*/)
        : m(model), info(ri) {
        quiet_hdf5_errors();
        file = H5::H5File(path, H5F_ACC_RDWR);
        const auto models = run_models(m);
        const auto sids = run_scenario_ids(m);
        for (std::size_t k = 0; k < models.size(); ++k) {
            sc.emplace_back(file, sids[k], *models[k], true);
            sc.back().run_model = &m;
        }
        rows = sc.front().rows;
        // The chain goes on from the checkpoint's (read_stored_run checked it against the data).
        auto state = file.openGroup("/state");
        if (!unhex(read_attr_string(state, "trials_sha256"), chain))
            throw std::runtime_error("/state: trials_sha256 is not a SHA-256 digest");
        auto root = file.openGroup("/");
        attr_scalar<std::int32_t>(root, "threads", info.threads);
        attr_scalar<std::int32_t>(root, "ranks", info.ranks);
    }

    Impl(const std::string &path, const Model &model, const RunInfo &ri,
         const H5::FileAccPropList &fapl = H5::FileAccPropList::DEFAULT)
        : m(model), info(ri) {
        quiet_hdf5_errors();
        file = H5::H5File(path, H5F_ACC_EXCL, H5::FileCreatPropList::DEFAULT, fapl);
        write_header(file, m, info);
        const auto models = run_models(m);
        const auto sids = run_scenario_ids(m);
        for (std::size_t k = 0; k < models.size(); ++k) {
            sc.emplace_back(file, sids[k], *models[k],
                            k < info.input_names.size() ? info.input_names[k]
                                                        : std::vector<std::string>{});
            sc.back().run_model = &m;
            std::string description = k == 0 ? m.description : "";
            for (const auto &def : m.scenarios)
                if (def.id == sids[k])
                    description = def.description;
            attr_string(sc.back().scen, "description", description);
        }
    }
};

namespace {
/// Names the dimensions of every dataset of the summary group (see docs/output-format.md).
void label_summary(ScenarioOut &S, H5::Group &sg) {
    const Model &m = *S.m;
    S.name_scales(sg);
    name_scale(sg, "regime", ids(m.regimes));
    name_scale(sg, "restriction", ids(m.restrictions));
    name_scale(sg, "node", m.node_names);
    index_scale(sg, "month", static_cast<hsize_t>(m.run.horizon_months));
    index_scale(sg, "grid", 101);
    auto values = [&](const char *dim, const char *source) {
        auto src = sg.openDataSet(source);
        std::vector<double> x(static_cast<std::size_t>(src.getSpace().getSimpleExtentNpoints()));
        if (!x.empty())
            src.read(x.data(), H5::PredType::NATIVE_DOUBLE);
        write_array(sg, dim, x);
        auto ds = sg.openDataSet(dim);
        make_scale(ds, dim);
    };
    values("quantile", "quantile_levels");
    values("threshold", "threshold_levels");
    values("var_level", "var_levels");
    if (m.run.store_monthly)
        values("band", "monthly_band_levels");

    // Every dataset's dimensions, by name (a "_se" twin has its base's dimensions).
    const std::vector<std::pair<std::string, std::vector<std::string>>> table = {
        {"eud", {"demand"}},
        {"expected_demand", {"demand"}},
        {"eud_share", {"demand"}},
        {"mean_shortfall_share", {"demand"}},
        {"lose", {"demand"}},
        {"p_short", {"demand"}},
        {"monthly_mean_shortfall", {"demand", "month"}},
        {"facility_binding_trial_share", {"facility"}},
        {"facility_binding_month_share", {"facility"}},
        {"facility_binding_unserved", {"facility"}},
        {"facility_binding_unserved_share", {"facility"}},
        {"node_binding_trial_share", {"node"}},
        {"node_binding_month_share", {"node"}},
        {"node_binding_unserved", {"node"}},
        {"node_binding_unserved_share", {"node"}},
        {"restriction_binding_trial_share", {"restriction"}},
        {"restriction_binding_month_share", {"restriction"}},
        {"restriction_binding_unserved", {"restriction"}},
        {"restriction_binding_unserved_share", {"restriction"}},
        {"event_fired_share", {"event"}},
        {"regime_share", {"regime"}},
        {"eud_given_event", {"event", "demand"}},
        {"eud_given_no_event", {"event", "demand"}},
        {"p_short_given_event", {"event", "demand"}},
        {"p_short_given_no_event", {"event", "demand"}},
        {"eud_by_regime", {"regime", "demand"}},
        {"p_short_by_regime", {"regime", "demand"}},
        {"threshold_levels", {"threshold"}},
        {"p_share_above", {"demand", "threshold"}},
        {"quantile_levels", {"quantile"}},
        {"shortfall_quantiles", {"demand", "quantile"}},
        {"shortfall_quantiles_ci_low", {"demand", "quantile"}},
        {"shortfall_quantiles_ci_high", {"demand", "quantile"}},
        {"var_levels", {"var_level"}},
        {"var", {"demand", "var_level"}},
        {"cvar", {"demand", "var_level"}},
        {"exceedance_x", {"demand", "grid"}},
        {"exceedance_p", {"demand", "grid"}},
        {"monthly_band_levels", {"band"}},
        {"monthly_shortfall_bands", {"demand", "month", "band"}},
        {"diff_eud", {"demand"}},
        {"diff_eud_se_independent", {"demand"}},
        {"diff_lose", {"demand"}},
        {"diff_lose_se_independent", {"demand"}},
        {"diff_p_short", {"demand"}},
        {"diff_p_short_se_independent", {"demand"}},
        {"diff_mean_shortfall_share", {"demand"}},
        {"diff_mean_shortfall_share_se_independent", {"demand"}},
        {"diff_shortfall_quantiles", {"demand", "quantile"}},
        {"replicate_eud", {"replicate", "demand"}},
        {"p_short_ess", {"demand"}},
        {"eud_ess", {"demand"}},
    };
    if (H5Lexists(sg.getId(), "replicate_eud", H5P_DEFAULT) > 0) {
        auto ds = sg.openDataSet("replicate_eud");
        hsize_t dims[2] = {0, 0};
        ds.getSpace().getSimpleExtentDims(dims);
        index_scale(sg, "replicate", dims[0]);
    }
    for (const auto &[name, dims] : table) {
        for (const std::string suffix : {"", "_se"}) {
            const std::string full = name + suffix;
            if (H5Lexists(sg.getId(), full.c_str(), H5P_DEFAULT) > 0)
                label(sg, full, dims);
        }
    }
}

} // namespace

ResultWriter::ResultWriter(const std::string &path, const Model &model, const RunInfo &info)
    : impl_(std::make_unique<Impl>(path, model, info)) {}

ResultWriter::ResultWriter(const std::string &path, const Model &model, const RunInfo &info, Resume)
    : impl_(std::make_unique<Impl>(path, model, info, true)) {}

std::uint64_t ResultWriter::rows() const {
    return impl_->rows;
}

RunInfo &ResultWriter::info() {
    return impl_->info;
}

std::string hdf5_errno_text() {
    std::string cause;
    H5Ewalk2(
        H5E_DEFAULT, H5E_WALK_UPWARD,
        [](unsigned, const H5E_error2_t *err, void *data) -> herr_t {
            auto &out = *static_cast<std::string *>(data);
            if (out.empty() && err->desc) {
                const std::string d = err->desc;
                const auto at = d.find("errno = ");
                if (at == std::string::npos)
                    return 0;
                // "errno = 28, error message = 'No space left on device', buf = ..., ..."
                const auto msg = d.find("error message = '", at);
                const auto end = msg == std::string::npos ? msg : d.find('\'', msg + 17);
                out = end == std::string::npos ? d.substr(at) : d.substr(at, end + 1 - at);
            }
            return 0;
        },
        &cause);
    return cause;
}

namespace {
/// Flushes `file`; on failure throws H5::FileIException whose message carries the system's reason
/// (e.g. "errno = 28, error message = 'No space left on device'"), read from HDF5's error stack
/// at once: the HDF5 calls of the clean-up while the exception unwinds (closing groups) clear it.
void flush_file(H5::H5File &file) {
    if (H5Fflush(file.getId(), H5F_SCOPE_GLOBAL) >= 0)
        return;
    const std::string cause = hdf5_errno_text();
    H5Eclear2(H5E_DEFAULT); // said here: the caller need not find it again
    throw H5::FileIException("H5File::flush",
                             "H5Fflush failed" + (cause.empty() ? "" : ": " + cause));
}

/// The most bytes of a scenario's shortfall table the summary holds in memory (HeldTable): with
/// the baseline's held too, the paired differences keep the two, at most 64 MiB together, as
/// they did when they read both tables whole. (io_detail::set_held_table_bytes: for tests.)
double held_table_bytes = static_cast<double>(std::size_t(32) << 20);

} // namespace

namespace io_detail {

double set_held_table_bytes(double bytes) {
    return std::exchange(held_table_bytes, bytes);
}

std::string state_digest(const StateFacts &f) {
    Sha256 h;
    h.update("chokepoint /state digest 1\n");
    auto u64 = [&](std::uint64_t v) {
        std::uint8_t b[8];
        for (int i = 0; i < 8; ++i)
            b[i] = static_cast<std::uint8_t>(v >> (8 * i));
        h.update(b, 8);
    };
    auto str = [&](const std::string &x) {
        u64(x.size());
        h.update(x);
    };
    for (const std::uint64_t v : {f.seed, f.block_size, f.trials_planned, f.blocks_total,
                                  f.first_block, f.end_block, f.next_block, f.trials})
        u64(v);
    str(f.config_sha256);
    str(f.trials_sha256);
    u64(f.ids.size());
    for (std::size_t k = 0; k < f.ids.size(); ++k) {
        str(f.ids[k]);
        str(f.layouts[k]);
        u64(f.words[k].size());
        for (const std::uint64_t w : f.words[k])
            u64(w);
    }
    return hex(h.digest());
}

/// "id:layout;id:layout" of StateFacts, as stored in /state's `trials_sha256_datasets`.
std::string join_layouts(const std::vector<std::string> &ids,
                         const std::vector<std::string> &layouts) {
    std::string s;
    for (std::size_t k = 0; k < ids.size(); ++k)
        s += (k ? ";" : "") + ids[k] + ":" + layouts[k];
    return s;
}

/// The layout attributes of the root, as the file holds them now.
void read_layout_attrs(const H5::H5Object &root, StateFacts &f) {
    f.seed = read_attr_scalar<std::uint64_t>(root, "seed");
    f.block_size = read_attr_scalar<std::uint64_t>(root, "block_size");
    f.trials_planned = read_attr_scalar<std::uint64_t>(root, "trials_planned");
    f.blocks_total = read_attr_scalar<std::uint64_t>(root, "blocks_total");
    f.first_block = read_attr_scalar<std::uint64_t>(root, "first_block");
    f.end_block = read_attr_scalar<std::uint64_t>(root, "end_block");
    f.config_sha256 = read_attr_string(root, "config_sha256");
}

/// Replaces /state with the exact statistics state of every scenario, the next block to run and
/// the integrity digests (docs/output-format.md): `trials_sha256`, the writer's chain over the
/// per-trial data, and `sha256` over everything else /state and the root's layout attributes
} // namespace io_detail

namespace {

/// say. Call it after the root attributes are final.
void write_state(H5::H5File &file, const Model &model, const std::vector<ScenarioOut> &sc,
                 std::uint64_t rows, const std::array<std::uint8_t, 32> &chain,
                 const std::vector<Accumulators> &accs, std::uint64_t next_block) {
    const auto ids = run_scenario_ids(model);
    if (H5Lexists(file.getId(), "/state", H5P_DEFAULT) > 0)
        file.unlink("/state");
    auto g = file.createGroup("/state");
    attr_scalar<std::uint64_t>(g, "next_block", next_block);
    attr_string(g, "about",
                "exact state of the statistics of each scenario (chokepoint::Accumulators::save) "
                "after the blocks before next_block: what resume and merge continue from");
    StateFacts f;
    read_layout_attrs(file.openGroup("/"), f);
    f.next_block = next_block;
    f.trials = rows;
    f.trials_sha256 = hex(chain);
    f.ids = ids;
    for (std::size_t k = 0; k < ids.size(); ++k) {
        std::string layout;
        for (const auto &d : sc.at(k).digest_layout())
            layout += (layout.empty() ? "" : ",") + d;
        f.layouts.push_back(layout);
        f.words.push_back(accs.at(k).save());
        const auto &words = f.words.back();
        const hsize_t n = words.size();
        H5::DataSpace space(1, &n);
        H5::DSetCreatPropList plist;
        const hsize_t chunk = std::max<hsize_t>(1, std::min<hsize_t>(n, 1 << 16));
        plist.setChunk(1, &chunk);
        plist.setDeflate(4);
        auto ds = g.createDataSet(ids[k], H5::PredType::NATIVE_UINT64, space, plist);
        if (n)
            ds.write(words.data(), H5::PredType::NATIVE_UINT64);
    }
    attr_string(g, "trials_sha256", f.trials_sha256);
    attr_string(g, "trials_sha256_datasets", join_layouts(f.ids, f.layouts));
    attr_string(g, "sha256", state_digest(f));
}
} // namespace

void ResultWriter::checkpoint(const std::vector<Accumulators> &acc, std::uint64_t next_block) {
    quiet_hdf5_errors();
    auto &I = *impl_;
    auto root = I.file.openGroup("/");
    attr_scalar<std::uint64_t>(root, "trials", I.rows);
    write_state(I.file, I.m, I.sc, I.rows, I.chain, acc, next_block);
    attr_scalar<std::int32_t>(root, "complete", 0);
    attr_string(root, "created_utc", utc_now());
    flush_file(I.file);
    I.file.close();
}

ResultWriter::~ResultWriter() = default;

std::size_t ResultWriter::append(const std::vector<BlockResult> &blocks) {
    quiet_hdf5_errors(); // the pipeline's serial stage runs on any thread
    auto &I = *impl_;
    Sha256 digest;
    digest.update(I.chain.data(), I.chain.size());
    std::size_t stored = 0;
    for (std::size_t k = 0; k < I.sc.size(); ++k)
        stored += I.sc[k].append(blocks.at(k), &digest);
    I.chain = digest.digest();
    I.rows = I.sc.front().rows;
    return stored;
}

struct BlockPacker::Plan {
    struct Scenario {
        std::vector<io_detail::ChunkCodec> codecs; // per table, in ScenarioOut::tables() order
        bool monthly = false, inputs = false, weighted = false;
    };
    std::vector<Scenario> sc;
};

BlockPacker ResultWriter::packer() const {
    return packer_of(*impl_);
}

BlockPacker ResultWriter::packer_for(const Model &model, const RunInfo &info) {
    // The file's layout, made in memory (HDF5's core driver, nothing written to disk).
    static std::atomic<unsigned> made{0};
    H5::FileAccPropList fapl;
    fapl.setCore(std::size_t(1) << 20, false);
    Impl impl("chokepoint-layout-" + std::to_string(::getpid()) + "-" +
                  std::to_string(made.fetch_add(1)),
              model, info, fapl);
    return packer_of(impl);
}

BlockPacker ResultWriter::packer_of(Impl &impl) {
    auto plan = std::make_shared<BlockPacker::Plan>();
    for (auto &S : impl.sc) {
        BlockPacker::Plan::Scenario p;
        for (const Appendable *t : S.tables())
            p.codecs.push_back(t->codec());
        p.monthly = S.m->run.store_monthly;
        p.inputs = !S.input_names.empty();
        p.weighted = S.weighted;
        plan->sc.push_back(std::move(p));
    }
    BlockPacker packer;
    packer.plan_ = std::move(plan);
    return packer;
}

std::size_t BlockPacker::pack(std::vector<BlockResult> &blocks) const {
    if (!plan_)
        return 0;
    std::size_t tables = 0;
    struct Job {
        const io_detail::ChunkCodec *codec;
        const unsigned char *rows;
        std::size_t count;
        std::vector<unsigned char> *out;
    };
    std::vector<Job> jobs;
    std::vector<std::vector<std::uint64_t>> idx(blocks.size());
    for (std::size_t k = 0; k < blocks.size() && k < plan_->sc.size(); ++k) {
        const auto &S = plan_->sc[k];
        BlockResult &b = blocks[k];
        idx[k] = trial_numbers(b);
        const auto data = block_tables(b, idx[k], S.monthly, S.inputs, S.weighted);
        if (data.size() != S.codecs.size())
            continue;
        // Packed already (by the rank that sent it), for these rows and this layout: kept.
        bool done = b.packed.size() == data.size();
        for (std::size_t i = 0; done && i < data.size(); ++i) {
            const auto &c = S.codecs[i];
            const PackedTable &p = b.packed[i];
            done = !c.ok || (c.encoded(p) && packed_from(p, b));
        }
        if (done)
            continue;
        b.packed.assign(data.size(), PackedTable{});
        for (std::size_t i = 0; i < data.size(); ++i) {
            const auto &c = S.codecs[i];
            const std::size_t row_bytes = c.row_values * c.elem;
            // A table that is not whole rows of this layout is left to the writer (whose own
            // checks then apply).
            if (!c.ok || b.count == 0 || data[i].second != b.count * row_bytes)
                continue;
            ++tables;
            PackedTable &p = b.packed[i];
            p = c.packed_table();
            p.first_trial = b.first_trial;
            p.rows = b.count;
            const std::uint64_t cr = c.chunk_rows;
            p.chunks.resize(static_cast<std::size_t>((b.count + cr - 1) / cr));
            const auto *rows = static_cast<const unsigned char *>(data[i].first);
            for (std::size_t j = 0; j < p.chunks.size(); ++j)
                jobs.push_back(
                    {&c, rows + j * cr * row_bytes,
                     static_cast<std::size_t>(std::min<std::uint64_t>(cr, b.count - j * cr)),
                     &p.chunks[j]});
        }
    }
    // Isolated: while this thread waits for the loop's last pieces it takes no other task (a
    // block's slice, seconds long), which would hold up the block, or the writer stage when
    // rank 0 packs a block it received there.
    tbb::this_task_arena::isolate([&] {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, jobs.size()),
                          [&](const tbb::blocked_range<std::size_t> &r) {
                              std::vector<unsigned char> scratch;
                              for (std::size_t j = r.begin(); j < r.end(); ++j)
                                  io_detail::encode_chunk(*jobs[j].codec, jobs[j].rows,
                                                          jobs[j].count, scratch, *jobs[j].out);
                          });
    });
    return tables;
}

void ResultWriter::resume_running(const std::vector<Accumulators> &totals) {
    auto &I = *impl_;
    for (std::size_t k = 0; k < I.sc.size(); ++k) {
        I.sc[k].run_sf = totals.at(k).shortfall;
        I.sc[k].run_any = totals.at(k).any_short;
    }
}

namespace {
/// The seconds since the last lap added to `into` (the summary's phases).
class Lap {
public:
    void operator()(double &into) {
        const auto now = std::chrono::steady_clock::now();
        into += std::chrono::duration<double>(now - last_).count();
        last_ = now;
    }

private:
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

void finish_scenario(ScenarioOut &S, const Accumulators &acc, ScenarioOut *base_out,
                     const Accumulators *base_acc, int threads, const std::vector<int> &copied,
                     ResultWriter::FinishTimes &times);
} // namespace

namespace {
/// /scenarios/<s>/solver: the scenario's allocation LPs per solver rung (lp.hpp).
void write_solver(H5::Group &scen, const RungCounts &r) {
    auto g = scen.createGroup("solver");
    std::vector<std::string> names;
    for (int k = 0; k < kRungs; ++k)
        names.push_back(rung_name(static_cast<Rung>(k)));
    name_scale(g, "rung", names);
    write_array(g, "lps", std::vector<std::uint64_t>(r.solved.begin(), r.solved.end()));
    label(g, "lps", {"rung"});
    attr_scalar<std::uint64_t>(g, "relaxed", r.relaxed);
    attr_scalar<std::uint64_t>(g, "failed", r.failed);
}
} // namespace

void ResultWriter::finish(const std::vector<Accumulators> &accs) {
    quiet_hdf5_errors();
    auto &I = *impl_;
    RungCounts all;
    auto &times = I.finish_times;
    times = {};
    const std::vector<int> none; // no demand known to be copied
    for (std::size_t k = 0; k < I.sc.size(); ++k) {
        finish_scenario(I.sc[k], accs.at(k), k ? &I.sc[0] : nullptr, k ? &accs[0] : nullptr,
                        I.info.threads,
                        k < I.info.copied_demands.size() ? I.info.copied_demands[k] : none, times);
    }
    if (!I.sc.empty())
        I.sc[0].held_shortfall = {};
    Lap lap;
    for (std::size_t k = 0; k < I.sc.size(); ++k) {
        write_solver(I.sc[k].scen, accs.at(k).lp_rungs);
        all.merge(accs.at(k).lp_rungs);
    }
    auto root = I.file.openGroup("/");
    attr_scalar<std::uint64_t>(root, "trials", I.rows);
    if (I.m.run.stop.enabled) {
        // A stopped run holds fewer trials than its maximum: it then reads as a run of that many.
        const std::uint64_t bs = I.m.run.block_size;
        attr_scalar<std::uint64_t>(root, "trials_planned", I.rows);
        attr_scalar<std::uint64_t>(root, "blocks_total", (I.rows + bs - 1) / bs);
        attr_scalar<std::uint64_t>(root, "end_block", (I.rows + bs - 1) / bs);
        const double v = I.info.stop_value, se = I.info.stop_se;
        attr_scalar<std::int32_t>(root, "stop_target_met", I.info.stop_met ? 1 : 0);
        attr_scalar<double>(root, "stop_estimate", v);
        attr_scalar<double>(root, "stop_se", se);
        attr_scalar<double>(root, "stop_effective_trials", I.info.stop_effective);
    }
    if (!I.info.resumed_by.empty())
        attr_string(root, "resumed_by_version", I.info.resumed_by);
    for (int k = 0; k < kRungs; ++k)
        attr_scalar<std::uint64_t>(root,
                                   (std::string("lps_") + rung_name(static_cast<Rung>(k))).c_str(),
                                   all.solved[static_cast<std::size_t>(k)]);
    attr_scalar<std::uint64_t>(root, "lps_relaxed", all.relaxed);
    // A shard keeps the exact state of its statistics for `chokepoint merge` (written after the
    // root attributes its digest covers); a whole run needs none (a resumed checkpoint's state
    // is dropped).
    if (I.info.shard_count > 0)
        write_state(I.file, I.m, I.sc, I.rows, I.chain, accs, I.info.end_block);
    else if (H5Lexists(I.file.getId(), "/state", H5P_DEFAULT) > 0)
        I.file.unlink("/state");
    attr_string(root, "created_utc", utc_now());
    {
        std::vector<const Model *> models;
        std::vector<std::string> sids;
        for (const auto &S : I.sc) {
            models.push_back(S.m);
            sids.push_back(S.id);
        }
        write_cf_attributes(I.file, I.m, models, sids);
    }
    attr_scalar<std::int32_t>(root, "complete", 1);
    flush_file(I.file);
    I.file.close();
    lap(times.file);
}

const ResultWriter::FinishTimes &ResultWriter::finish_times() const {
    return impl_->finish_times;
}

namespace {
/// Per column d: the standard error of the mean from R replicate means, sd / sqrt(R).
std::vector<double> replicate_se(const std::vector<Moments> &rep, int R, std::size_t D) {
    std::vector<double> out(D, 0.0);
    for (std::size_t d = 0; d < D; ++d) {
        Moments means;
        for (int r = 0; r < R; ++r)
            means.add(rep[static_cast<std::size_t>(r) * D + d].mean());
        out[d] = means.se();
    }
    return out;
}

/// A column of a per-trial dataset [trial, k] (all rows).
std::vector<double> read_column(H5::DataSet &ds, hsize_t col) {
    auto fspace = ds.getSpace();
    hsize_t dims[2] = {0, 1};
    const int rank = fspace.getSimpleExtentDims(dims);
    std::vector<double> out(static_cast<std::size_t>(dims[0]));
    if (dims[0] == 0)
        return out;
    hsize_t off[2] = {0, col}, cnt[2] = {dims[0], 1};
    fspace.selectHyperslab(H5S_SELECT_SET, cnt, off);
    H5::DataSpace ms(1, cnt);
    (void)rank;
    ds.read(out.data(), H5::PredType::NATIVE_DOUBLE, ms, fspace);
    return out;
}

/// The whole of a [rows, cols] dataset as doubles.
std::vector<double> read_all(H5::DataSet &ds) {
    std::vector<double> out(static_cast<std::size_t>(ds.getSpace().getSimpleExtentNpoints()));
    if (!out.empty())
        ds.read(out.data(), H5::PredType::NATIVE_DOUBLE);
    return out;
}

/// Reads S's shortfall table into S.held_shortfall when it takes at most held_table_bytes (the
/// values as stored, bit for bit, as read_all gives them); nothing when it is held already or
/// too large.
void hold_shortfall(ScenarioOut &S, int threads) {
    auto &h = S.held_shortfall;
    const auto D = S.m->demands.size();
    if (h.held ||
        static_cast<double>(S.rows) * static_cast<double>(D) * sizeof(double) > held_table_bytes)
        return;
    h.v.clear();
    h.v.reserve(static_cast<std::size_t>(S.rows) * D);
    if (S.rows > 0 && D > 0)
        scan_rows(S.shortfall.dataset(), S.rows, D, threads,
                  [&](const double *row) { h.v.insert(h.v.end(), row, row + D); });
    if (h.v.size() != static_cast<std::size_t>(S.rows) * D)
        throw std::logic_error("hold_shortfall: the table holds another number of rows");
    h.held = true;
}

/// Column c of a held table of `width` values a row.
std::vector<double> held_column(const std::vector<double> &v, std::size_t width, std::size_t c) {
    const std::size_t rows = width ? v.size() / width : 0;
    std::vector<double> out(rows);
    for (std::size_t t = 0; t < rows; ++t)
        out[t] = v[t * width + c];
    return out;
}

/// Importance sampling (run.importance; docs/importance.md): the statistics that are not means of
/// w x over all trials, from the per-trial values x and likelihood ratios w (n trials).
///
/// Quantiles: q_p = the smallest x_i whose estimated exceedance probability
/// P(X > x_i) = (1/n) sum_{x_j > x_i} w_j is at most 1 - p (the importance-sampling quantile
/// estimator based on the tail, exact for the tail levels that matter; no interpolation). Its
/// 95% interval inverts the exceedance estimate: the x whose P(X > x) +- z se covers 1 - p.
struct WeightedColumn {
    std::uint64_t n = 0;
    std::vector<double> x, w;
    std::vector<std::uint32_t> order; // ascending x, ties by trial

    WeightedColumn(std::vector<double> xs, std::vector<double> ws)
        : n(xs.size()), x(std::move(xs)), w(std::move(ws)), order(x.size()) {
        std::iota(order.begin(), order.end(), 0u);
        std::sort(order.begin(), order.end(),
                  [&](auto a, auto b) { return x[a] < x[b] || (x[a] == x[b] && a < b); });
    }

    /// Walks the distinct values from the largest down: fn(value, tail, tail_se) with the
    /// estimated P(X > value) and its standard error; stops when fn returns false.
    template <class Fn> void walk_down(Fn &&fn) const {
        const double nd = static_cast<double>(n);
        double t1 = 0, t2 = 0; // sum w and sum w^2 over values strictly above
        std::size_t k = n;
        while (k > 0) {
            const double v = x[order[k - 1]];
            const double p = t1 / nd;
            const double var = n > 1 ? std::max(0.0, (t2 - nd * p * p) / (nd - 1)) : 0.0;
            if (!fn(v, p, std::sqrt(var / nd)))
                return;
            while (k > 0 && x[order[k - 1]] == v) {
                const double wi = w[order[k - 1]];
                t1 += wi;
                t2 += wi * wi;
                --k;
            }
        }
    }

    /// Quantile of level p with its interval (z: the interval's normal factor).
    void quantile(double p, double z, double &q, double &lo, double &hi) const {
        const double t = 1.0 - p;
        q = lo = std::numeric_limits<double>::quiet_NaN();
        hi = q;
        if (n == 0)
            return;
        // Each end as the estimate itself, min{x : S(x) <= t} with S(x) = P(X > x), walking down
        // the values while the condition holds: the estimate with S, the lower end with S - z se,
        // the upper end with S + z se (so lo <= q <= hi). When S + z se stays below t down to the
        // smallest value (a quantile on an atom at the bottom, e.g. no shortfall in most trials),
        // the upper end is that value.
        bool have_q = true, have_lo = true, have_hi = true;
        walk_down([&](double v, double tail, double se) {
            if (have_q && tail <= t)
                q = v;
            else
                have_q = false;
            if (have_lo && tail - z * se <= t)
                lo = v;
            else
                have_lo = false;
            if (have_hi && tail + z * se <= t)
                hi = v;
            else
                have_hi = false;
            return have_q || have_lo || have_hi;
        });
    }

    /// P(X > g) and its standard error at each point of `grid` (ascending), into p and se: one
    /// walk down the sorted values, the sums of each point continuing those of the point above.
    void exceedance(const double *grid, std::size_t points, double *p, double *se) const {
        const double nd = static_cast<double>(n);
        double s1 = 0, s2 = 0;
        std::size_t k = n;
        for (std::size_t g = points; g > 0; --g) {
            for (; k > 0 && x[order[k - 1]] > grid[g - 1]; --k) {
                const double wi = w[order[k - 1]];
                s1 += wi;
                s2 += wi * wi;
            }
            const double pg = n ? s1 / nd : 0.0;
            const double var = n > 1 ? std::max(0.0, (s2 - nd * pg * pg) / (nd - 1)) : 0.0;
            p[g - 1] = pg;
            se[g - 1] = std::sqrt(var / std::max(1.0, nd));
        }
    }

    /// CVaR at level a given VaR v, in the Rockafellar-Uryasev form v + E[(X - v)+] / (1 - a),
    /// with the standard error of its mean term (v's own error does not enter to first order).
    CvarEstimate cvar(double a, double v) const {
        double s1 = 0, s2 = 0;
        for (std::size_t k = n; k > 0 && x[order[k - 1]] > v; --k) {
            const double y = w[order[k - 1]] * (x[order[k - 1]] - v);
            s1 += y;
            s2 += y * y;
        }
        const double nd = static_cast<double>(n);
        if (n == 0)
            return {};
        const double mean = s1 / nd;
        const double var = n > 1 ? std::max(0.0, (s2 - nd * mean * mean) / (nd - 1)) : 0.0;
        return {v + mean / (1 - a), std::sqrt(var / nd) / (1 - a)};
    }
};

/// Paired differences of scenario S against the baseline, in S's summary group `sg`: means of
/// the per-trial differences with their standard errors (and, for comparison, the standard error
/// two independent runs would give), and differences of quantiles with paired-bootstrap errors.
void write_differences(ScenarioOut &S, const Accumulators &acc, ScenarioOut *base_out,
                       const Accumulators *base_acc, H5::Group &sg, int threads) {
    if (!base_out)
        return;
    const Model &m = *S.m;
    const auto D = m.demands.size();
    const auto base_of = baseline_demands(*base_out->m, m);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const int R = acc.dims.replicates;
    std::vector<double> v, se, se_ind;
    auto diff = [&](const char *name, const std::vector<Moments> &paired,
                    const std::vector<Moments> &own, const std::vector<Moments> &base,
                    const std::vector<Moments> *rep) {
        v.assign(D, nan);
        se.assign(D, nan);
        se_ind.assign(D, nan);
        const auto rse = rep && R > 1 ? replicate_se(*rep, R, D) : std::vector<double>{};
        for (std::size_t d = 0; d < D; ++d) {
            if (base_of[d] < 0)
                continue;
            const auto b = static_cast<std::size_t>(base_of[d]);
            v[d] = paired[d].mean();
            se[d] = rse.empty() ? paired[d].se() : rse[d];
            se_ind[d] = std::hypot(own[d].se(), base[b].se());
        }
        write_array(sg, (std::string("diff_") + name).c_str(), v);
        write_array(sg, (std::string("diff_") + name + "_se").c_str(), se);
        write_array(sg, (std::string("diff_") + name + "_se_independent").c_str(), se_ind);
    };
    diff("eud", acc.diff_shortfall, acc.shortfall, base_acc->shortfall, &acc.rep_diff_shortfall);
    diff("lose", acc.diff_short_months, acc.short_months, base_acc->short_months,
         &acc.rep_diff_short_months);
    diff("p_short", acc.diff_any_short, acc.any_short, base_acc->any_short,
         &acc.rep_diff_any_short);
    diff("mean_shortfall_share", acc.diff_share, acc.shortfall_share, base_acc->shortfall_share,
         &acc.rep_diff_share);
    attr_string(sg, "differences_against", "baseline");

    // Quantile differences q_S(p) - q_baseline(p), with the standard error of a paired bootstrap:
    // resample trials (the same trials for both), recompute both quantiles. Each replicate is a
    // multinomial count per trial; with the trials sorted once per column, a replicate's
    // quantiles take one O(n) pass (no re-sorting).
    const auto &levels = m.run.quantiles;
    const auto Q = levels.size();
    std::vector<double> qd(D * Q, nan), qse(D * Q, nan);
    auto own_q = sg.openDataSet("shortfall_quantiles");
    auto base_sg = base_out->scen.openGroup("summary");
    auto base_q = base_sg.openDataSet("shortfall_quantiles");
    const auto qs = read_all(own_q), qb = read_all(base_q);
    const int B = std::max(0, m.run.bootstrap);
    auto xs_ds = S.shortfall.dataset(), xb_ds = base_out->shortfall.dataset();
    const std::uint64_t n = S.rows;
    // Both trial tables in memory when small enough: held for the whole summary (read once), or,
    // when one is too large to hold, both read whole if they take at most 64 MiB together (a
    // column read inflates every chunk of the table again, once per demand); column by column
    // otherwise.
    const std::size_t D0 = base_out->m->demands.size();
    const std::vector<double> *xs_all = nullptr, *xb_all = nullptr;
    std::vector<double> xs_read, xb_read;
    if (B >= 2 && n > 0) {
        hold_shortfall(S, threads);
        hold_shortfall(*base_out, threads);
        if (S.held_shortfall.held && base_out->held_shortfall.held) {
            xs_all = &S.held_shortfall.v;
            xb_all = &base_out->held_shortfall.v;
        } else if (static_cast<double>(n) * static_cast<double>(D + D0) * sizeof(double) <=
                   static_cast<double>(std::size_t(64) << 20)) {
            xs_read = read_all(xs_ds);
            xb_read = read_all(xb_ds);
            xs_all = &xs_read;
            xb_all = &xb_read;
        }
    }
    auto column = [&](const std::vector<double> *all, std::size_t width, H5::DataSet &ds,
                      std::size_t c) {
        return all ? held_column(*all, width, c) : read_column(ds, c);
    };
    std::vector<std::size_t> todo; // the demands to bootstrap
    for (std::size_t d = 0; d < D; ++d) {
        if (base_of[d] < 0 || n == 0)
            continue;
        const auto b = static_cast<std::size_t>(base_of[d]);
        for (std::size_t j = 0; j < Q; ++j)
            qd[d * Q + j] = qs[d * Q + j] - qb[b * Q + j];
        if (B >= 2)
            todo.push_back(d);
    }
    // The order statistics each replicate needs (those of the quantile levels), ascending.
    std::vector<std::uint64_t> ranks;
    for (double p : levels) {
        if (n == 0)
            break;
        const auto lo = static_cast<std::uint64_t>(std::floor(static_cast<double>(n - 1) * p));
        ranks.push_back(lo);
        ranks.push_back(std::min<std::uint64_t>(lo + 1, n - 1));
    }
    std::vector<std::size_t> idx(ranks.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::sort(idx.begin(), idx.end(), [&](auto a, auto c) { return ranks[a] < ranks[c]; });
    std::vector<std::uint64_t> sorted_ranks;
    for (auto i : idx)
        sorted_ranks.push_back(ranks[i]);
    // One demand's two columns (the scenario's, the baseline's), each sorted once.
    struct Pair {
        std::size_t d = 0;
        std::vector<double> x, y;
        std::vector<std::uint32_t> ox, oy;
        std::size_t run_x = 0, run_y = 0;
        bool same = false;
    };
    // The demands a wave at a time: their columns gathered (on this thread: HDF5 is not
    // thread-safe), then compared and sorted in parallel, a demand per task; then each one's
    // replicates in turn. A wave holds at most 64 MiB of columns and orders (one demand
    // at least).
    const double pair_bytes = static_cast<double>(n) * 2 * (sizeof(double) + sizeof(std::uint32_t));
    const auto wave = static_cast<std::size_t>(std::clamp<double>(
        std::min(static_cast<double>(std::clamp(threads, 1, tbb::info::default_concurrency())),
                 static_cast<double>(std::size_t(64) << 20) / std::max(1.0, pair_bytes)),
        1.0, static_cast<double>(std::max<std::size_t>(1, todo.size()))));
    std::vector<Pair> pairs;
    for (std::size_t first = 0; first < todo.size(); first += wave) {
        pairs.assign(std::min(wave, todo.size() - first), Pair{});
        for (std::size_t i = 0; i < pairs.size(); ++i) {
            Pair &pr = pairs[i];
            pr.d = todo[first + i];
            pr.x = column(xs_all, D, xs_ds, pr.d);
            pr.y = column(xb_all, D0, xb_ds, static_cast<std::size_t>(base_of[pr.d]));
        }
        IndexTasks{threads}(pairs.size(), [&](std::size_t i) {
            Pair &pr = pairs[i];
            // A demand whose value chain the scenario does not change has the baseline's
            // shortfalls bit for bit (engine/chain_reuse.hpp): every resample's difference is
            // then exactly 0, and so is its standard error, which is what the bootstrap below
            // would compute.
            pr.same = std::memcmp(pr.x.data(), pr.y.data(), pr.x.size() * sizeof(double)) == 0;
            if (pr.same)
                return;
            const auto &x = pr.x, &y = pr.y;
            pr.ox.resize(static_cast<std::size_t>(n));
            pr.oy.resize(static_cast<std::size_t>(n));
            std::iota(pr.ox.begin(), pr.ox.end(), 0u);
            std::iota(pr.oy.begin(), pr.oy.end(), 0u);
            std::sort(pr.ox.begin(), pr.ox.end(), [&](auto a, auto b) { return x[a] < x[b]; });
            std::sort(pr.oy.begin(), pr.oy.end(), [&](auto a, auto b) { return y[a] < y[b]; });
            // The walks of the resamples' order statistics stop at each sorted column's leading
            // run (the trials without shortfall: 0), most of a column of a rare shortfall.
            pr.run_x = leading_run(x, pr.ox);
            pr.run_y = leading_run(y, pr.oy);
        });
        for (Pair &pr : pairs) {
            const std::size_t d = pr.d;
            if (pr.same) {
                std::fill(qse.begin() + static_cast<std::ptrdiff_t>(d * Q),
                          qse.begin() + static_cast<std::ptrdiff_t>((d + 1) * Q), 0.0);
                continue;
            }
            const auto &x = pr.x, &y = pr.y;
            const auto &ox = pr.ox, &oy = pr.oy;
            const std::size_t run_x = pr.run_x, run_y = pr.run_y;
            std::vector<std::uint32_t> count(n);
            std::vector<std::uint64_t> draws;
            std::vector<Moments> mom(Q);
            const std::string stream =
                "bootstrap/quantile_difference/" + S.id + "/" + m.demands[d].id;
            // Importance sampling: the resample's quantiles weigh each trial by count x w.
            std::vector<double> w0;
            std::unique_ptr<WeightedColumn> wx, wy;
            if (S.weighted) {
                auto wds = S.weight.dataset();
                w0 = read_all(wds);
                wx = std::make_unique<WeightedColumn>(x, w0);
                wy = std::make_unique<WeightedColumn>(y, w0);
            }
            const ExactMod mod_n(n); // st() % n without a division per draw
            const std::uint64_t stream_id = quantity_id(stream);
            // The draws come a batch at a time (Stream::fill: the same values as one by one).
            auto resample = [&](int rep, std::vector<std::uint32_t> &counts,
                                std::vector<std::uint64_t> &batch) {
                std::fill(counts.begin(), counts.end(), 0u);
                Stream st(m.run.seed, static_cast<std::uint64_t>(rep), stream_id);
                constexpr std::uint64_t kBatch = 1024;
                batch.resize(static_cast<std::size_t>(std::min(kBatch, n)));
                for (std::uint64_t k = 0; k < n; k += kBatch) {
                    const auto c = static_cast<std::size_t>(std::min(kBatch, n - k));
                    st.fill(batch.data(), c);
                    for (std::size_t i = 0; i < c; ++i)
                        ++counts[static_cast<std::size_t>(mod_n(batch[i]))];
                }
            };
            if (S.weighted) {
                for (int rep = 0; rep < B; ++rep) {
                    resample(rep, count, draws);
                    for (std::size_t i = 0; i < w0.size(); ++i)
                        wx->w[i] = wy->w[i] = count[i] * w0[i];
                    for (std::size_t j = 0; j < Q; ++j) {
                        double qx = 0, qy = 0, lo = 0, hi = 0;
                        wx->quantile(levels[j], 0.0, qx, lo, hi);
                        wy->quantile(levels[j], 0.0, qy, lo, hi);
                        mom[j].add(qx - qy);
                    }
                }
            } else {
                // The replicates are independent (each draws from its own stream): they run in
                // parallel on the run's threads, each difference kept in its slot, and are summed
                // in replicate order, so the standard errors do not depend on the thread count.
                std::vector<double> diffs(static_cast<std::size_t>(B) * Q);
                // At most the machine's cores (more gain nothing here and make TBB warn).
                tbb::task_arena arena(std::clamp(threads, 1, tbb::info::default_concurrency()));
                arena.execute([&] {
                    tbb::enumerable_thread_specific<std::vector<std::uint32_t>> counts(
                        static_cast<std::size_t>(n), 0u);
                    tbb::enumerable_thread_specific<std::vector<std::uint64_t>> batches;
                    tbb::parallel_for(tbb::blocked_range<int>(0, B), [&](const auto &reps) {
                        auto &cnt = counts.local();
                        auto &batch = batches.local();
                        std::vector<double> ax(ranks.size()), ay(ranks.size());
                        for (int rep = reps.begin(); rep != reps.end(); ++rep) {
                            resample(rep, cnt, batch);
                            const auto sx = resample_order_statistics(cnt, x, ox, run_x,
                                                                      sorted_ranks),
                                       sy = resample_order_statistics(cnt, y, oy, run_y,
                                                                      sorted_ranks);
                            for (std::size_t k = 0; k < idx.size(); ++k) {
                                ax[idx[k]] = sx[k];
                                ay[idx[k]] = sy[k];
                            }
                            for (std::size_t j = 0; j < Q; ++j)
                                diffs[static_cast<std::size_t>(rep) * Q + j] =
                                    lerp_quantile(n, levels[j], ax[2 * j], ax[2 * j + 1]) -
                                    lerp_quantile(n, levels[j], ay[2 * j], ay[2 * j + 1]);
                        }
                    });
                });
                for (int rep = 0; rep < B; ++rep)
                    for (std::size_t j = 0; j < Q; ++j)
                        mom[j].add(diffs[static_cast<std::size_t>(rep) * Q + j]);
            }
            for (std::size_t j = 0; j < Q; ++j)
                qse[d * Q + j] = std::sqrt(mom[j].variance());
        }
    }
    write_array(sg, "diff_shortfall_quantiles", qd, {D, Q});
    write_array(sg, "diff_shortfall_quantiles_se", qse, {D, Q});
    attr_scalar<std::int32_t>(sg, "diff_quantiles_bootstrap", B);
}

/// An estimate per (output, input) with its confidence interval: `name`, `name_ci_low`,
/// `name_ci_high` [output, input] in a sensitivity group.
struct IndexTable {
    std::size_t k = 0;
    std::vector<double> v, lo, hi;
    IndexTable(std::size_t outputs, std::size_t inputs)
        : k(inputs), v(outputs * inputs), lo(outputs * inputs), hi(outputs * inputs) {}
    /// Row `d` (an output) from per-input estimates and bounds.
    void set(std::size_t d, const std::vector<double> &est, const std::vector<double> &low,
             const std::vector<double> &high) {
        std::copy(est.begin(), est.end(), v.begin() + static_cast<long>(d * k));
        std::copy(low.begin(), low.end(), lo.begin() + static_cast<long>(d * k));
        std::copy(high.begin(), high.end(), hi.begin() + static_cast<long>(d * k));
    }
    void write(H5::Group &g, const std::string &name) const {
        const hsize_t D = v.size() / std::max<std::size_t>(1, k), K = k;
        for (const auto &[suffix, data] :
             {std::pair{"", &v}, std::pair{"_ci_low", &lo}, std::pair{"_ci_high", &hi}}) {
            write_array(g, (name + suffix).c_str(), *data, {D, K});
            label(g, name + suffix, {"output", "input"});
        }
    }
};

/// The coordinates and attributes every sensitivity group has.
void sensitivity_group_common(H5::Group &g, const Model &m, const std::vector<std::string> &inputs,
                              double conf) {
    name_scale(g, "input", inputs);
    name_scale(g, "output", ids(m.demands));
    attr_scalar<std::int32_t>(g, "bootstrap", m.run.bootstrap);
    attr_scalar<double>(g, "confidence", conf);
}

/// Sensitivity of each demand's total shortfall to the inputs: rank importance (from the stored
/// inputs) or Sobol' indices (from the pick-freeze matrices), in S's group `sensitivity` or
/// `sobol_indices`.
void write_sensitivity(ScenarioOut &S) {
    const Model &m = *S.m;
    const auto D = m.demands.size();
    const std::uint64_t n = S.rows;
    constexpr double kConf = 0.95;
    auto seed_of = [&](std::size_t d) {
        return m.run.seed ^ quantity_id(S.id + "/" + m.demands[d].id);
    };
    if (m.run.sensitivity == Sensitivity::Rank && !S.input_names.empty() && n > 2) {
        auto g = S.scen.createGroup("sensitivity");
        auto xin = S.inputs.dataset();
        const auto X = read_all(xin);
        const std::size_t k = S.input_names.size();
        IndexTable sp(D, k), sr(D, k);
        std::vector<double> r2(D), r2_lo(D), r2_hi(D);
        auto ys = S.shortfall.dataset();
        for (std::size_t d = 0; d < D; ++d) {
            const auto y =
                S.held_shortfall.held ? held_column(S.held_shortfall.v, D, d) : read_column(ys, d);
            const auto imp = rank_importance(X.data(), static_cast<std::size_t>(n), k, y.data(),
                                             m.run.bootstrap, kConf, seed_of(d));
            sp.set(d, imp.spearman, imp.spearman_lo, imp.spearman_hi);
            sr.set(d, imp.srrc, imp.srrc_lo, imp.srrc_hi);
            r2[d] = imp.r2;
            r2_lo[d] = imp.r2_lo;
            r2_hi[d] = imp.r2_hi;
        }
        sensitivity_group_common(g, m, S.input_names, kConf);
        sp.write(g, "spearman");
        sr.write(g, "srrc");
        write_array(g, "r2", r2);
        write_array(g, "r2_ci_low", r2_lo);
        write_array(g, "r2_ci_high", r2_hi);
        for (const char *name : {"r2", "r2_ci_low", "r2_ci_high"})
            label(g, name, {"output"});
        attr_string(g, "output_statistic", "total shortfall of the demand over the horizon (t)");
    }
    if (m.run.sensitivity == Sensitivity::Sobol && m.run.pick_freeze_rows > 0) {
        const std::uint64_t rows = m.run.pick_freeze_rows;
        std::vector<std::string> names;
        for (const auto &in : design_inputs_union(S.run_model ? *S.run_model : m))
            if (sensitivity_selected(m, in.name))
                names.push_back(in.name);
        const std::size_t k = names.size();
        if (n != rows * (k + 2))
            return; // a shard: indices need the whole design (merge computes them)
        auto g = S.scen.createGroup("sobol_indices");
        IndexTable first(D, k), total(D, k);
        std::vector<double> var(D);
        auto ys = S.shortfall.dataset();
        for (std::size_t d = 0; d < D; ++d) {
            const auto y =
                S.held_shortfall.held ? held_column(S.held_shortfall.v, D, d) : read_column(ys, d);
            auto slice = [&](std::size_t mat) {
                return std::vector<double>(y.begin() + static_cast<long>(mat * rows),
                                           y.begin() + static_cast<long>((mat + 1) * rows));
            };
            std::vector<std::vector<double>> fab;
            for (std::size_t i = 0; i < k; ++i)
                fab.push_back(slice(2 + i));
            const auto si =
                sobol_indices(slice(0), slice(1), fab, m.run.bootstrap, kConf, seed_of(d));
            first.set(d, si.first, si.first_lo, si.first_hi);
            total.set(d, si.total, si.total_lo, si.total_hi);
            var[d] = si.variance;
        }
        sensitivity_group_common(g, m, names, kConf);
        first.write(g, "first_order");
        total.write(g, "total");
        write_array(g, "variance", var);
        label(g, "variance", {"output"});
        attr_scalar<std::uint64_t>(g, "base_samples", rows);
        attr_string(g, "estimators",
                    "first order: Saltelli et al. (2010); total: Jansen (1999); "
                    "output: total shortfall of the demand (t)");
    }
}

/// Ratio (self-normalised) estimate sum w x / sum w over the trials where `in` holds, with its
/// delta-method standard error; NaN over no trials (or no weight), NaN error over fewer than two.
std::pair<double, double> ratio_estimate(const std::vector<double> &x, const std::vector<double> &w,
                                         const std::function<bool(std::size_t)> &in) {
    double sw = 0, swx = 0;
    std::size_t k = 0;
    for (std::size_t i = 0; i < x.size(); ++i)
        if (in(i)) {
            sw += w[i];
            swx += w[i] * x[i];
            ++k;
        }
    const double nan = std::numeric_limits<double>::quiet_NaN();
    if (k == 0 || !(sw > 0))
        return {nan, nan};
    const double r = swx / sw;
    if (k < 2)
        return {r, nan};
    double ss = 0;
    for (std::size_t i = 0; i < x.size(); ++i)
        if (in(i)) {
            const double e = w[i] * (x[i] - r);
            ss += e * e;
        }
    return {r, std::sqrt(ss * static_cast<double>(k) / static_cast<double>(k - 1)) / sw};
}

/// One demand's monthly shortfall [trial, month] from [trial, demand, month], as doubles.
std::vector<double> read_monthly_demand(H5::DataSet &ds, hsize_t d) {
    auto fs = ds.getSpace();
    hsize_t dims[3] = {0, 0, 0};
    fs.getSimpleExtentDims(dims);
    std::vector<double> out(static_cast<std::size_t>(dims[0] * dims[2]));
    if (out.empty())
        return out;
    hsize_t off[3] = {0, d, 0}, cnt[3] = {dims[0], 1, dims[2]};
    fs.selectHyperslab(H5S_SELECT_SET, cnt, off);
    H5::DataSpace ms(3, cnt);
    ds.read(out.data(), H5::PredType::NATIVE_DOUBLE, ms, fs);
    return out;
}

/// The summary statistics of an importance-sampled scenario that are not means of w x:
/// conditional views and regime shares (ratio estimates), quantiles and their intervals, VaR,
/// CVaR, exceedance curve, monthly bands; and the effective sample sizes.
void write_weighted_distribution(ScenarioOut &S, const Accumulators &acc, H5::Group &sg) {
    const Model &m = *S.m;
    const auto D = m.demands.size(), E = m.events.size(), G = m.regimes.size();
    const hsize_t n = S.rows;
    const auto nn = static_cast<std::size_t>(n);
    auto wds = S.weight.dataset();
    const auto w = read_all(wds);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    constexpr double z = 1.959963984540054;

    attr_string(sg, "estimator",
                "importance sampling: means, probabilities and their differences are the unbiased "
                "estimates (1/n) sum w x over all n trials (w the likelihood ratio, "
                "trials/weight), with standard errors sd(w x) / sqrt(n); conditional views and "
                "regime shares are self-normalised ratios sum w x / sum w with delta-method "
                "errors; quantiles are min{x : (1/n) sum_{x_j > x} w_j <= 1 - p}");
    {
        double s1 = 0, s2 = 0;
        for (double x : w) {
            s1 += x;
            s2 += x * x;
        }
        attr_scalar<double>(sg, "ess", s2 > 0 ? s1 * s1 / s2 : 0.0);
        attr_scalar<double>(sg, "weight_mean", n ? s1 / static_cast<double>(n) : nan);
        std::vector<double> ess_p, ess_e;
        for (std::size_t d = 0; d < D; ++d) {
            const double a = acc.any_short[d].sum(), a2 = acc.any_short[d].sum_sq();
            const double e = acc.shortfall[d].sum(), e2 = acc.shortfall[d].sum_sq();
            ess_p.push_back(a2 > 0 ? a * a / a2 : 0.0);
            ess_e.push_back(e2 > 0 ? e * e / e2 : 0.0);
        }
        write_array(sg, "p_short_ess", ess_p);
        write_array(sg, "eud_ess", ess_e);
    }

    // Regime shares and conditional views: ratio estimates.
    std::vector<double> regime(nn, 0.0), onset;
    {
        auto rds = S.regime.dataset();
        if (n)
            regime = read_all(rds);
        auto eds = S.event_onset.dataset();
        if (n && E)
            onset = read_all(eds);
    }
    {
        std::vector<double> share(G, 0.0);
        for (std::size_t i = 0; i < nn; ++i)
            share[static_cast<std::size_t>(regime[i])] += w[i];
        for (auto &x : share)
            x = n ? x / static_cast<double>(n) : 0.0;
        write_array(sg, "regime_share", share);
    }
    std::vector<double> ge(E * D), ge_se(E * D), gne(E * D), gne_se(E * D), pe(E * D), pe_se(E * D),
        pne(E * D), pne_se(E * D), gr(G * D), gr_se(G * D), pr(G * D), pr_se(G * D);
    auto sfds = S.shortfall.dataset(), smds = S.short_months.dataset();
    const auto &levels = m.run.quantiles;
    const std::vector<double> var_levels{0.95, 0.99};
    const auto Q = levels.size();
    constexpr std::size_t kGrid = 101;
    std::vector<double> q(D * Q), q_lo(D * Q), q_hi(D * Q), var(D * 2), cvar(D * 2), cvar_se(D * 2),
        grid(D * kGrid), exc(D * kGrid), exc_se(D * kGrid);
    for (std::size_t d = 0; d < D; ++d) {
        auto x = n ? read_column(sfds, d) : std::vector<double>{};
        auto sm = n ? read_column(smds, d) : std::vector<double>{}; // int32, read as double
        std::vector<double> any(nn);
        for (std::size_t i = 0; i < nn; ++i)
            any[i] = sm[i] > 0 ? 1.0 : 0.0;
        for (std::size_t e = 0; e < E; ++e) {
            auto fired = [&](std::size_t i) { return onset[i * E + e] >= 0; };
            auto unfired = [&](std::size_t i) { return onset[i * E + e] < 0; };
            const std::size_t k = e * D + d;
            std::tie(ge[k], ge_se[k]) = ratio_estimate(x, w, fired);
            std::tie(gne[k], gne_se[k]) = ratio_estimate(x, w, unfired);
            std::tie(pe[k], pe_se[k]) = ratio_estimate(any, w, fired);
            std::tie(pne[k], pne_se[k]) = ratio_estimate(any, w, unfired);
        }
        for (std::size_t g = 0; g < G; ++g) {
            auto in = [&](std::size_t i) { return static_cast<std::size_t>(regime[i]) == g; };
            const std::size_t k = g * D + d;
            std::tie(gr[k], gr_se[k]) = ratio_estimate(x, w, in);
            std::tie(pr[k], pr_se[k]) = ratio_estimate(any, w, in);
        }
        const WeightedColumn col(std::move(x), w);
        for (std::size_t j = 0; j < Q; ++j)
            col.quantile(levels[j], z, q[d * Q + j], q_lo[d * Q + j], q_hi[d * Q + j]);
        for (std::size_t a = 0; a < 2; ++a) {
            double lo = 0, hi = 0;
            col.quantile(var_levels[a], z, var[d * 2 + a], lo, hi);
            const auto c = n ? col.cvar(var_levels[a], var[d * 2 + a]) : CvarEstimate{};
            cvar[d * 2 + a] = n ? c.cvar : nan;
            cvar_se[d * 2 + a] = n ? c.se : nan;
        }
        const double top = std::max(0.0, acc.shortfall_max[d]);
        for (std::size_t g = 0; g < kGrid; ++g)
            grid[d * kGrid + g] = g + 1 == kGrid ? top : top * static_cast<double>(g) / (kGrid - 1);
        col.exceedance(&grid[d * kGrid], kGrid, &exc[d * kGrid], &exc_se[d * kGrid]);
    }
    write_array(sg, "eud_given_event", ge, {E, D});
    write_array(sg, "eud_given_event_se", ge_se, {E, D});
    write_array(sg, "eud_given_no_event", gne, {E, D});
    write_array(sg, "eud_given_no_event_se", gne_se, {E, D});
    write_array(sg, "p_short_given_event", pe, {E, D});
    write_array(sg, "p_short_given_event_se", pe_se, {E, D});
    write_array(sg, "p_short_given_no_event", pne, {E, D});
    write_array(sg, "p_short_given_no_event_se", pne_se, {E, D});
    write_array(sg, "eud_by_regime", gr, {G, D});
    write_array(sg, "eud_by_regime_se", gr_se, {G, D});
    write_array(sg, "p_short_by_regime", pr, {G, D});
    write_array(sg, "p_short_by_regime_se", pr_se, {G, D});
    write_array(sg, "quantile_levels", levels);
    write_array(sg, "shortfall_quantiles", q, {D, Q});
    write_array(sg, "shortfall_quantiles_ci_low", q_lo, {D, Q});
    write_array(sg, "shortfall_quantiles_ci_high", q_hi, {D, Q});
    write_array(sg, "var_levels", var_levels);
    write_array(sg, "var", var, {D, 2});
    write_array(sg, "cvar", cvar, {D, 2});
    write_array(sg, "cvar_se", cvar_se, {D, 2});
    write_array(sg, "exceedance_x", grid, {D, kGrid});
    write_array(sg, "exceedance_p", exc, {D, kGrid});
    write_array(sg, "exceedance_p_se", exc_se, {D, kGrid});

    if (m.run.store_monthly) {
        const std::vector<double> bands{0.05, 0.25, 0.5, 0.75, 0.95};
        const hsize_t H = static_cast<hsize_t>(m.run.horizon_months);
        const auto Hs = static_cast<std::size_t>(H);
        std::vector<double> flat(D * Hs * bands.size(), 0.0);
        auto mds = S.monthly.dataset();
        for (std::size_t d = 0; d < D && n; ++d) {
            const auto all = read_monthly_demand(mds, d);
            for (std::size_t h = 0; h < Hs; ++h) {
                std::vector<double> xs(nn);
                for (std::size_t i = 0; i < nn; ++i)
                    xs[i] = all[i * Hs + h];
                const WeightedColumn col(std::move(xs), w);
                for (std::size_t b = 0; b < bands.size(); ++b) {
                    double lo = 0, hi = 0;
                    col.quantile(bands[b], 0.0, flat[(d * Hs + h) * bands.size() + b], lo, hi);
                }
            }
        }
        write_array(sg, "monthly_band_levels", bands);
        write_array(sg, "monthly_shortfall_bands", flat,
                    {D, H, static_cast<hsize_t>(bands.size())});
    }
}

void finish_scenario(ScenarioOut &S, const Accumulators &acc, ScenarioOut *base_out,
                     const Accumulators *base_acc, int threads, const std::vector<int> &copied,
                     ResultWriter::FinishTimes &times) {
    Lap lap;
    const Model &m = *S.m;
    const auto D = m.demands.size();
    auto sg = S.scen.createGroup("summary");
    auto means = [](const std::vector<Moments> &v) {
        std::vector<double> out;
        for (const auto &x : v)
            out.push_back(x.mean());
        return out;
    };
    auto ses = [](const std::vector<Moments> &v) {
        std::vector<double> out;
        for (const auto &x : v)
            out.push_back(x.se());
        return out;
    };
    // Conditional means: NaN over no trials, and a NaN error over fewer than two (unknown, not 0).
    const double nan = std::numeric_limits<double>::quiet_NaN();
    auto cmeans = [&](const std::vector<Moments> &v) {
        std::vector<double> out;
        for (const auto &x : v)
            out.push_back(x.count() ? x.mean() : nan);
        return out;
    };
    auto cses = [&](const std::vector<Moments> &v) {
        std::vector<double> out;
        for (const auto &x : v)
            out.push_back(x.count() > 1 ? x.se() : nan);
        return out;
    };
    write_array(sg, "eud", means(acc.shortfall));
    // Standard errors of the headline means: from the trial variance (plain Monte Carlo), or,
    // with several replicates of a design, from the spread of the replicate means (Latin
    // hypercube and Sobol' points are not independent draws).
    const int R = acc.dims.replicates;
    auto rses = [&](const std::vector<Moments> &iid, const std::vector<Moments> &rep) {
        if (R <= 1)
            return ses(iid);
        return replicate_se(rep, R, D);
    };
    attr_string(sg, "se_method",
                R > 1 ? "replicates: standard deviation of the " + std::to_string(R) +
                            " replicate means / sqrt(" + std::to_string(R) +
                            ") for eud, expected_demand, mean_shortfall_share, lose, p_short; "
                            "the trial variance for the others"
                      : "trials: sqrt(sample variance / n)");
    attr_scalar<std::int32_t>(sg, "replicates", R);
    {
        // Degrees of freedom of those standard errors (R - 1 from R replicate means, n - 1 from
        // n trials) and the Student-t factor of their two-sided 95% interval, mean +- ci95_t x se:
        // with 10 replicates that is 2.262, not 1.96 (a 1.96 interval covers ~92%).
        const std::uint64_t n = acc.shortfall.empty() ? 0 : acc.shortfall.front().count();
        const std::uint64_t dof = R > 1 ? static_cast<std::uint64_t>(R - 1) : (n > 1 ? n - 1 : 0);
        attr_scalar<std::uint64_t>(sg, "se_dof", dof);
        attr_scalar<double>(sg, "ci95_t", student_t_975(dof));
    }
    write_array(sg, "eud_se", rses(acc.shortfall, acc.rep_shortfall));
    if (R > 1) {
        std::vector<double> per(static_cast<std::size_t>(R) * D);
        for (std::size_t i = 0; i < per.size(); ++i)
            per[i] = acc.rep_shortfall[i].mean();
        write_array(sg, "replicate_eud", per, {static_cast<hsize_t>(R), D});
    }
    write_array(sg, "expected_demand", means(acc.demand_total));
    write_array(sg, "expected_demand_se", rses(acc.demand_total, acc.rep_demand_total));
    std::vector<double> eud_share;
    for (std::size_t d = 0; d < D; ++d)
        eud_share.push_back(acc.demand_total[d].mean() > 0
                                ? acc.shortfall[d].mean() / acc.demand_total[d].mean()
                                : 0.0);
    write_array(sg, "eud_share", eud_share);
    write_array(sg, "mean_shortfall_share", means(acc.shortfall_share));
    write_array(sg, "mean_shortfall_share_se", rses(acc.shortfall_share, acc.rep_share));
    write_array(sg, "lose", means(acc.short_months));
    write_array(sg, "lose_se", rses(acc.short_months, acc.rep_short_months));
    write_array(sg, "p_short", means(acc.any_short));
    write_array(sg, "p_short_se", rses(acc.any_short, acc.rep_any_short));
    const hsize_t H = static_cast<hsize_t>(m.run.horizon_months);
    write_array(sg, "monthly_mean_shortfall", means(acc.monthly), {D, H});
    write_array(sg, "monthly_mean_shortfall_se", ses(acc.monthly), {D, H});
    write_array(sg, "facility_binding_trial_share", means(acc.fac_trial));
    write_array(sg, "facility_binding_trial_share_se", ses(acc.fac_trial));
    write_array(sg, "facility_binding_month_share", means(acc.fac_months));
    write_array(sg, "facility_binding_month_share_se", ses(acc.fac_months));
    write_array(sg, "facility_binding_unserved", means(acc.fac_unserved));
    write_array(sg, "facility_binding_unserved_se", ses(acc.fac_unserved));
    write_array(sg, "node_binding_trial_share", means(acc.node_trial));
    write_array(sg, "node_binding_trial_share_se", ses(acc.node_trial));
    write_array(sg, "node_binding_month_share", means(acc.node_months));
    write_array(sg, "node_binding_month_share_se", ses(acc.node_months));
    write_array(sg, "node_binding_unserved", means(acc.node_unserved));
    write_array(sg, "node_binding_unserved_se", ses(acc.node_unserved));
    write_array(sg, "restriction_binding_trial_share", means(acc.res_trial));
    write_array(sg, "restriction_binding_trial_share_se", ses(acc.res_trial));
    write_array(sg, "restriction_binding_month_share", means(acc.res_months));
    write_array(sg, "restriction_binding_month_share_se", ses(acc.res_months));
    write_array(sg, "restriction_binding_unserved", means(acc.res_unserved));
    write_array(sg, "restriction_binding_unserved_se", ses(acc.res_unserved));
    write_array(sg, "event_fired_share", means(acc.event_fired));
    write_array(sg, "event_fired_share_se", ses(acc.event_fired));
    // Importance sampling: regime shares, conditional views and the distribution are written by
    // write_weighted_distribution (below) from the per-trial values and weights.
    if (!S.weighted) {
        std::vector<double> regime_share;
        for (auto c : acc.regime_count)
            regime_share.push_back(S.rows ? static_cast<double>(c) / static_cast<double>(S.rows)
                                          : 0.0);
        write_array(sg, "regime_share", regime_share);
    }

    // Conditional views: given that an event fired (or not), and by regime. [event, demand]
    if (!S.weighted) {
        const hsize_t E = m.events.size(), G = m.regimes.size();
        write_array(sg, "eud_given_event", cmeans(acc.fired_shortfall), {E, D});
        write_array(sg, "eud_given_event_se", cses(acc.fired_shortfall), {E, D});
        write_array(sg, "eud_given_no_event", cmeans(acc.unfired_shortfall), {E, D});
        write_array(sg, "eud_given_no_event_se", cses(acc.unfired_shortfall), {E, D});
        write_array(sg, "p_short_given_event", cmeans(acc.fired_short), {E, D});
        write_array(sg, "p_short_given_event_se", cses(acc.fired_short), {E, D});
        write_array(sg, "p_short_given_no_event", cmeans(acc.unfired_short), {E, D});
        write_array(sg, "p_short_given_no_event_se", cses(acc.unfired_short), {E, D});
        write_array(sg, "eud_by_regime", cmeans(acc.regime_shortfall), {G, D});
        write_array(sg, "eud_by_regime_se", cses(acc.regime_shortfall), {G, D});
        write_array(sg, "p_short_by_regime", cmeans(acc.regime_short), {G, D});
        write_array(sg, "p_short_by_regime_se", cses(acc.regime_short), {G, D});
    }
    {
        const hsize_t T = m.run.thresholds.size();
        write_array(sg, "threshold_levels", m.run.thresholds);
        write_array(sg, "p_share_above", means(acc.share_above), {D, T});
        write_array(sg, "p_share_above_se", ses(acc.share_above), {D, T});
    }

    // Share of each chain's unserved demand that falls in the months a constraint binds.
    {
        std::vector<double> chain_eud(static_cast<std::size_t>(m.n_components), 0.0);
        for (std::size_t d = 0; d < D; ++d)
            chain_eud[static_cast<std::size_t>(
                m.products[static_cast<std::size_t>(m.demands[d].product)].component)] +=
                acc.shortfall[d].mean();
        auto share = [&](const std::vector<Moments> &unserved, auto chain_of) {
            std::vector<double> out;
            for (std::size_t i = 0; i < unserved.size(); ++i) {
                const double total = chain_of(i);
                out.push_back(total > 0 ? unserved[i].mean() / total : 0.0);
            }
            return out;
        };
        auto chain_of_product = [&](int p) {
            return chain_eud[static_cast<std::size_t>(
                m.products[static_cast<std::size_t>(p)].component)];
        };
        write_array(sg, "facility_binding_unserved_share",
                    share(acc.fac_unserved, [&](std::size_t f) {
                        return chain_of_product(m.facilities[f].product);
                    }));
        write_array(sg, "node_binding_unserved_share", share(acc.node_unserved, [&](std::size_t n) {
                        return chain_of_product(m.node_product[n]);
                    }));
        write_array(sg, "restriction_binding_unserved_share",
                    share(acc.res_unserved, [&](std::size_t r) {
                        std::vector<char> in(chain_eud.size(), 0);
                        for (std::size_t p = 0; p < m.products.size(); ++p)
                            if (m.restrictions[r].product[p])
                                in[static_cast<std::size_t>(m.products[p].component)] = 1;
                        double t = 0;
                        for (std::size_t c = 0; c < in.size(); ++c)
                            t += in[c] ? chain_eud[c] : 0.0;
                        return t;
                    }));
    }

    lap(times.statistics);
    // The distribution of total shortfall, from the per-trial data read back in slabs: exact
    // quantiles with distribution-free confidence intervals, value at risk, conditional value
    // at risk, exceedance curve.
    const hsize_t n = S.rows;
    if (S.weighted)
        write_weighted_distribution(S, acc, sg);
    // The trial tables are read back in passes, their chunks inflated on the run's threads: a
    // row at a time (scanner) or a block of rows at a time (block_scanner).
    auto scanner = [&, threads](H5::DataSet &ds, hsize_t width) {
        return [&ds, width, n, threads](const std::function<void(const double *)> &fn) {
            scan_rows(ds, n, width, threads, fn);
        };
    };
    auto block_scanner = [&, threads](H5::DataSet &ds, hsize_t width) {
        return
            [&ds, width, n, threads](const std::function<void(const double *, std::size_t)> &take) {
                scan_blocks(ds, n, width, threads, take);
            };
    };
    if (!S.weighted) {
        const auto &levels = m.run.quantiles;
        const std::vector<double> var_levels{0.95, 0.99};
        constexpr double kConf = 0.95;
        std::vector<std::uint64_t> ranks;
        std::vector<std::pair<std::int64_t, std::int64_t>> ci;
        auto lin = [&](double p) {
            const auto lo = static_cast<std::uint64_t>(std::floor(static_cast<double>(n - 1) * p));
            ranks.push_back(lo);
            ranks.push_back(std::min<std::uint64_t>(lo + 1, n - 1));
        };
        for (double p : levels) {
            lin(p);
            ci.push_back(quantile_ci_ranks(n, p, kConf));
            ranks.push_back(ci.back().first < 0 ? 0 : static_cast<std::uint64_t>(ci.back().first));
            ranks.push_back(ci.back().second < 0 ? n - 1
                                                 : static_cast<std::uint64_t>(ci.back().second));
        }
        std::vector<std::uint64_t> tail_m;
        for (double a : var_levels) {
            lin(a);
            const auto mt = std::max<std::uint64_t>(
                1, static_cast<std::uint64_t>(std::ceil(static_cast<double>(n) * (1 - a) - 1e-9)));
            tail_m.push_back(std::min<std::uint64_t>(mt, n));
            ranks.push_back(n - tail_m.back()); // smallest value of the tail
        }
        auto &ds = S.shortfall.dataset();
        // The table read once into memory when small enough, and the passes below over it.
        hold_shortfall(S, threads);
        const auto &held = S.held_shortfall;
        const auto shortfall_scan =
            [&](const std::function<void(const double *, std::size_t)> &take) {
                if (!held.held)
                    return block_scanner(ds, D)(take);
                take(held.v.data(), static_cast<std::size_t>(n)); // one block: the whole table
            };
        const auto os =
            n ? exact_order_statistics_blocks(n, static_cast<int>(D), ranks, acc.shortfall_min,
                                              acc.shortfall_max, shortfall_scan,
                                              std::size_t(1) << 20, threads)
              : std::vector<std::vector<double>>(D, std::vector<double>(ranks.size(), 0.0));
        const auto Q = levels.size();
        std::vector<double> q(D * Q), q_lo(D * Q), q_hi(D * Q), var(D * 2), tail_v(D * 2);
        for (std::size_t d = 0; d < D && n; ++d) {
            std::size_t r = 0;
            for (std::size_t j = 0; j < Q; ++j) {
                q[d * Q + j] = lerp_quantile(n, levels[j], os[d][r], os[d][r + 1]);
                q_lo[d * Q + j] = ci[j].first < 0 ? nan : os[d][r + 2];
                q_hi[d * Q + j] = ci[j].second < 0 ? nan : os[d][r + 3];
                r += 4;
            }
            for (std::size_t a = 0; a < 2; ++a) {
                var[d * 2 + a] = lerp_quantile(n, var_levels[a], os[d][r], os[d][r + 1]);
                tail_v[d * 2 + a] = os[d][r + 2];
                r += 3;
            }
        }
        write_array(sg, "quantile_levels", levels);
        write_array(sg, "shortfall_quantiles", q, {D, Q});
        write_array(sg, "shortfall_quantiles_ci_low", q_lo, {D, Q});
        write_array(sg, "shortfall_quantiles_ci_high", q_hi, {D, Q});
        write_array(sg, "var_levels", var_levels);
        write_array(sg, "var", var, {D, 2});

        // One more pass: tail sums for CVaR and the exceedance curve on a grid.
        constexpr std::size_t kGrid = 101;
        std::vector<double> grid(D * kGrid);
        for (std::size_t d = 0; d < D; ++d)
            for (std::size_t g = 0; g < kGrid; ++g)
                grid[d * kGrid + g] = g + 1 == kGrid // the last point is the largest itself
                                          ? std::max(0.0, acc.shortfall_max[d])
                                          : std::max(0.0, acc.shortfall_max[d]) *
                                                static_cast<double>(g) / (kGrid - 1);
        std::vector<std::uint64_t> above(D * 2, 0), hist(D * (kGrid + 1), 0);
        // Per tail: the values' sum (CVaR), and their deviations' from the tail's smallest
        // value, summed and squared (its spread; cvar_estimate). Ties with that value add 0.
        std::vector<ExactSum> s1(D * 2), dev1(D * 2), dev2(D * 2);
        // Column d's `rows` values, `stride` apart, in row order: its entries of the tallies only.
        auto tally = [&](std::size_t d, const double *x0, std::size_t rows, std::size_t stride) {
            const double *g0 = &grid[d * kGrid];
            for (std::size_t r = 0; r < rows; ++r) {
                const double x = x0[r * stride];
                for (std::size_t a = 0; a < 2; ++a)
                    if (x > tail_v[d * 2 + a]) {
                        const double dx = x - tail_v[d * 2 + a];
                        ++above[d * 2 + a];
                        s1[d * 2 + a].add(x);
                        dev1[d * 2 + a].add(dx);
                        dev2[d * 2 + a].add(dx * dx);
                    }
                const auto c = static_cast<std::size_t>(std::lower_bound(g0, g0 + kGrid, x) - g0);
                ++hist[d * (kGrid + 1) + c]; // c grid points lie strictly below x
            }
        };
        if (n && held.held) // the columns on the run's threads
            IndexTasks{threads}(D, [&](std::size_t d) {
                tally(d, held.v.data() + d, static_cast<std::size_t>(n), D);
            });
        else if (n)
            scanner(ds, D)([&](const double *row) {
                for (std::size_t d = 0; d < D; ++d)
                    tally(d, row + d, 1, D);
            });
        std::vector<double> cvar(D * 2, 0.0), cvar_se(D * 2, 0.0);
        for (std::size_t i = 0; i < D * 2 && n; ++i) {
            // CVaR (expected shortfall): mean of the worst m = ceil(n (1 - a)) trials; values tied
            // with the tail's smallest value fill the tail up to m.
            const double mt = static_cast<double>(tail_m[i % 2]);
            const double ties = mt - static_cast<double>(above[i]);
            const double v = tail_v[i];
            const double sum = s1[i].value() + ties * v;
            const auto e = cvar_estimate(var_levels[i % 2], tail_m[i % 2], sum, v, dev1[i].value(),
                                         dev2[i].value(), var[i]);
            cvar[i] = e.cvar;
            cvar_se[i] = e.se;
        }
        write_array(sg, "cvar", cvar, {D, 2});
        write_array(sg, "cvar_se", cvar_se, {D, 2});
        std::vector<double> exc(D * kGrid), exc_se(D * kGrid);
        for (std::size_t d = 0; d < D; ++d) {
            std::uint64_t greater = n; // trials with x > grid[g]: all minus those <= grid[g]
            for (std::size_t g = 0; g < kGrid; ++g) {
                greater -= hist[d * (kGrid + 1) + g]; // x <= grid[g] (x in (grid[g-1], grid[g]])
                const double p = n ? static_cast<double>(greater) / static_cast<double>(n) : 0.0;
                exc[d * kGrid + g] = p;
                exc_se[d * kGrid + g] =
                    n > 1 ? std::sqrt(p * (1 - p) / static_cast<double>(n - 1)) : 0.0;
            }
        }
        write_array(sg, "exceedance_x", grid, {D, kGrid});
        write_array(sg, "exceedance_p", exc, {D, kGrid});
        write_array(sg, "exceedance_p_se", exc_se, {D, kGrid});
    }

    lap(times.distribution);
    // Monthly quantile bands (fan charts), exact, from the per-trial monthly shortfall.
    if (m.run.store_monthly && !S.weighted) {
        const std::vector<double> bands{0.05, 0.25, 0.5, 0.75, 0.95};
        const hsize_t H = static_cast<hsize_t>(m.run.horizon_months);
        const auto k = static_cast<int>(D * H);
        const std::size_t NB = bands.size();
        std::vector<double> lo(D * H, 0.0), hi = acc.monthly_max;
        std::vector<double> flat(D * H * NB, 0.0);
        // A demand whose value chain the scenario copies from the baseline (`copied`, see
        // RunInfo::copied_demands) has the baseline's monthly shortfalls, bit for bit: its bands
        // are the baseline's, written already. Its columns are left out of the selection (an
        // empty range [0, 0] resolves at once), so that the columns still to select are fewer:
        // often few enough to be selected in memory in one pass over the table.
        std::vector<double> base_bands;
        std::vector<int> from(D, -1);
        if (base_out && copied.size() == D && n) {
            auto bsg = base_out->scen.openGroup("summary");
            if (H5Lexists(bsg.getId(), "monthly_shortfall_bands", H5P_DEFAULT) > 0) {
                auto bds = bsg.openDataSet("monthly_shortfall_bands");
                base_bands = read_all(bds);
                const std::size_t D0 = base_out->m->demands.size();
                if (base_bands.size() == D0 * H * NB)
                    for (std::size_t d = 0; d < D; ++d)
                        if (copied[d] >= 0 && static_cast<std::size_t>(copied[d]) < D0) {
                            from[d] = copied[d];
                            std::fill(hi.begin() + static_cast<std::ptrdiff_t>(d * H),
                                      hi.begin() + static_cast<std::ptrdiff_t>((d + 1) * H), 0.0);
                        }
            }
        }
        if (n) {
            const auto q = exact_quantiles_blocks(n, k, bands, lo, hi,
                                                  block_scanner(S.monthly.dataset(), D * H),
                                                  std::size_t(1) << 20, threads);
            for (std::size_t c = 0; c < D * H; ++c) {
                const int b0 = from[c / H];
                for (std::size_t b = 0; b < NB; ++b)
                    flat[c * NB + b] =
                        b0 < 0 ? q[c][b]
                               : base_bands[(static_cast<std::size_t>(b0) * H + c % H) * NB + b];
            }
        }
        write_array(sg, "monthly_band_levels", bands);
        write_array(sg, "monthly_shortfall_bands", flat, {D, H, static_cast<hsize_t>(NB)});
    }

    lap(times.bands);
    write_differences(S, acc, base_out, base_acc, sg, threads);
    lap(times.differences);
    label_summary(S, sg);
    write_sensitivity(S);
    // A scenario's held table is done with; the baseline's serves the scenarios after it.
    if (base_out)
        S.held_shortfall = {};
    lap(times.labels);
}
} // namespace

} // namespace chokepoint
