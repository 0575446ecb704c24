#include "study/importance.hpp"

#include "core/errors.hpp"
#include "core/random.hpp"
#include "engine/simulate.hpp"
#include "model/inputs.hpp"
#include "model/run_design.hpp"
#include "study/run.hpp"

#include <algorithm>
#include <atomic>
#include <boost/math/distributions/chi_squared.hpp>
#include <cmath>
#include <memory>
#include <numeric>
#include <optional>
#include <ostream>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>

namespace chokepoint {

namespace {

/// The fewest elites a pooled bin of a fitted proposal holds (fewer join their neighbour).
constexpr std::uint64_t kMinElites = 20;

bool matches(const std::string &name, const std::string &pattern) {
    if (!pattern.empty() && pattern.back() == '*')
        return name.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
    return name == pattern;
}

/// What one pilot trial says about the target: its shortfall, then (to rank trials that are not
/// short) how low the target's stockpile fell and how short the rest of its value chain was.
struct Pressure {
    double shortfall = 0, stock = 0, chain = 0; // stock: minus the lowest stockpile level
    bool operator>(const Pressure &o) const {
        if (shortfall != o.shortfall)
            return shortfall > o.shortfall;
        if (stock != o.stock)
            return stock > o.stock;
        return chain > o.chain;
    }
};

/// The chi-square test's p-value that the elites' weighted histogram `f` (effective size
/// `n_eff`) comes from the model's own (uniform) distribution over bins of widths `width`.
double uniform_p_value(const std::vector<double> &f, const std::vector<double> &width,
                       double n_eff) {
    double x2 = 0;
    for (std::size_t b = 0; b < f.size(); ++b)
        x2 += (f[b] - width[b]) * (f[b] - width[b]) / width[b];
    x2 *= n_eff;
    const boost::math::chi_squared chi(static_cast<double>(f.size() - 1));
    return boost::math::cdf(boost::math::complement(chi, x2));
}

/// The input's own break point on its quantile scale, if it has one: the occurrence of an event
/// with a fixed probability p fires above 1 - p.
std::optional<double> own_break(const Model &m, const std::string &name) {
    for (const auto &ev : m.events)
        if (name == "event/" + ev.id + "/occurs" && ev.probability.is_fixed()) {
            const double cut = 1.0 - ev.probability.a;
            if (cut > 0 && cut < 1)
                return cut;
        }
    return std::nullopt;
}

} // namespace

std::vector<std::string> cross_entropy_candidates(const Model &m) {
    const auto &im = m.run.importance;
    // By default: the regime, every event input, and the inputs of the target's value chain
    // (its facilities' and demands' quantities), which the screening then thins out.
    std::vector<std::string> chain_prefixes;
    int chain = -1;
    for (const auto &d : m.demands)
        if (d.id == im.ce.demand)
            chain = m.products[static_cast<std::size_t>(d.product)].component;
    for (const auto &f : m.facilities)
        if (chain >= 0 && m.products[static_cast<std::size_t>(f.product)].component == chain)
            chain_prefixes.push_back("facility/" + f.id + "/");
    for (const auto &d : m.demands)
        if (chain >= 0 && m.products[static_cast<std::size_t>(d.product)].component == chain)
            chain_prefixes.push_back("demand/" + d.id + "/");
    std::vector<std::string> out;
    for (const auto &in : design_inputs(m)) {
        if (in.coords != 1)
            continue;
        bool selected = false;
        if (im.ce.inputs.empty()) {
            selected = in.name == "regime" || in.name.compare(0, 6, "event/") == 0;
            for (const auto &p : chain_prefixes)
                selected = selected || in.name.compare(0, p.size(), p) == 0;
        }
        for (const auto &p : im.ce.inputs)
            selected = selected || matches(in.name, p);
        if (!selected)
            continue;
        const bool by_hand = std::any_of(im.tilts.begin(), im.tilts.end(), [&](const TiltSpec &t) {
            return !t.fitted && t.input == in.name;
        });
        const bool correlated =
            std::any_of(m.run.correlations.begin(), m.run.correlations.end(),
                        [&](const CorrelationSpec &c) { return c.a == in.name || c.b == in.name; });
        if (!by_hand && !correlated)
            out.push_back(in.name);
    }
    return out;
}

std::vector<double> cross_entropy_edges(const Model &m, const std::string &name) {
    std::vector<double> e{0.0,  1e-6, 1e-5,  1e-4,     1e-3,     0.01,     0.05, 0.1,
                          0.2,  0.3,  0.4,   0.5,      0.6,      0.7,      0.8,  0.9,
                          0.95, 0.99, 0.999, 1 - 1e-4, 1 - 1e-5, 1 - 1e-6, 1.0};
    if (const auto cut = own_break(m, name))
        e.push_back(*cut);
    std::sort(e.begin(), e.end());
    // An edge within 1e-9 of the one before it (a break point on the grid) is dropped; 1 stays.
    std::vector<double> out{e.front()};
    for (std::size_t i = 1; i < e.size(); ++i)
        if (e[i] - out.back() > 1e-9)
            out.push_back(e[i]);
    out.back() = 1.0;
    return out;
}

void fit_importance(Model &m, int threads, std::ostream *log) {
    auto &im = m.run.importance;
    if (!im.ce.enabled || im.ce_fitted)
        return;
    const auto &ce = im.ce;
    const auto cand = cross_entropy_candidates(m);
    if (cand.empty())
        throw InputError("run.importance.cross_entropy: no input to tilt (the inputs it may tilt "
                         "take one coordinate, are not correlated and not tilted by hand)");
    int target = -1;
    for (std::size_t d = 0; d < m.demands.size(); ++d)
        if (m.demands[d].id == ce.demand)
            target = static_cast<int>(d);
    if (target < 0)
        throw InputError("run.importance.cross_entropy.demand: unknown demand '" + ce.demand + "'");
    const auto dt = static_cast<std::size_t>(target);
    const bool stocked = m.demands[dt].has_stockpile;
    // The other demands of the target's value chain (their shortfall ranks unshort trials).
    std::vector<std::size_t> chain_demands;
    const auto component = [&](std::size_t d) {
        return m.products[static_cast<std::size_t>(m.demands[d].product)].component;
    };
    for (std::size_t d = 0; d < m.demands.size(); ++d)
        if (d != dt && component(d) == component(dt))
            chain_demands.push_back(d);

    // The proposals being fitted, per candidate: bin edges, widths and masses (uniform at first).
    const auto C = cand.size();
    std::vector<std::vector<double>> edges(C), width(C), mass(C);
    for (std::size_t j = 0; j < C; ++j) {
        edges[j] = cross_entropy_edges(m, cand[j]);
        for (std::size_t b = 0; b + 1 < edges[j].size(); ++b)
            width[j].push_back(edges[j][b + 1] - edges[j][b]);
        mass[j] = width[j];
    }
    std::vector<char> tilted(C, 0);
    // Per candidate: the fine bins that start at one of the input's own break points.
    std::vector<std::vector<std::size_t>> breaks(C);
    for (std::size_t j = 0; j < C; ++j)
        if (const auto cut = own_break(m, cand[j]))
            for (std::size_t b = 1; b + 1 < edges[j].size(); ++b)
                if (std::abs(edges[j][b] - *cut) <= 1e-9)
                    breaks[j].push_back(b);
    const std::vector<TiltSpec> by_hand = im.tilts;

    // The pilot model: the baseline alone, plain Monte Carlo, nothing stored.
    Model pilot = m;
    pilot.scenarios.clear();
    pilot.run.sampler = SamplerKind::MC;
    pilot.run.replicates = 1;
    pilot.run.pick_freeze_rows = 0;
    pilot.run.sensitivity = Sensitivity::None;
    pilot.run.store_inputs = false;
    pilot.run.store_monthly = false;
    pilot.run.stop = StopRule{};
    pilot.run.trials = ce.pilot_trials;
    pilot.run.block_size = std::min<std::uint64_t>(pilot.run.block_size, 250);
    const std::uint64_t N = ce.pilot_trials, bs = pilot.run.block_size;
    const std::uint64_t blocks = (N + bs - 1) / bs;
    const auto n_elite = static_cast<std::uint64_t>(std::ceil(ce.rarity * static_cast<double>(N)));

    const int nthreads = resolve_threads(threads);
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism,
                           static_cast<std::size_t>(nthreads));
    for (int round = 1; round <= ce.max_rounds; ++round) {
        pilot.run.seed =
            m.run.seed ^ quantity_id("importance/cross_entropy/round/" + std::to_string(round));
        pilot.run.importance.tilts = by_hand;
        for (std::size_t j = 0; j < C; ++j)
            if (tilted[j])
                pilot.run.importance.tilts.push_back({cand[j], edges[j], mass[j], true});
        const auto design = make_design(pilot);
        std::vector<BlockResult> res(static_cast<std::size_t>(blocks));
        tbb::enumerable_thread_specific<std::unique_ptr<Simulator>> sims;
        // A stop signal ends the pilot within a trial (no results exist yet to save).
        std::atomic<bool> aborted{false};
        tbb::parallel_for(std::uint64_t(0), blocks, [&](std::uint64_t b) {
            auto &sim = sims.local();
            if (!sim) {
                sim = std::make_unique<Simulator>(pilot, design);
                sim->set_abort_flag(stop_signal_flag());
            }
            const std::uint64_t first = b * bs, count = std::min(bs, N - first);
            try {
                sim->run_block(first, count, res[static_cast<std::size_t>(b)]);
            } catch (const BlockAborted &) {
                aborted = true;
            }
        });
        if (aborted || stop_signal_flag()->load() != 0)
            throw Interrupted(stop_signal_flag()->load());
        // Per trial: its weight, its pressure on the target, and the candidates' coordinates.
        const auto D = m.demands.size();
        const auto K = static_cast<std::size_t>(design->coords());
        std::vector<int> coord(C);
        for (std::size_t j = 0; j < C; ++j)
            for (std::size_t i = 0; i < design->inputs().size(); ++i)
                if (design->inputs()[i].name == cand[j])
                    coord[j] = design->first_coord(static_cast<int>(i));
        std::vector<double> w(N), v(N * C);
        std::vector<Pressure> pr(N);
        auto ws = design->workspace();
        std::vector<double> u;
        for (std::uint64_t b = 0; b < blocks; ++b) {
            const auto &r = res[static_cast<std::size_t>(b)];
            u.resize(static_cast<std::size_t>(r.count) * K);
            if (K > 0)
                design->fill(r.first_trial, r.count, u.data(), *ws);
            for (std::uint64_t t = 0; t < r.count; ++t) {
                const auto i = static_cast<std::size_t>(r.first_trial + t);
                w[i] = r.weight[t];
                auto &p = pr[i];
                p.shortfall = r.shortfall[t * D + dt];
                p.stock = stocked ? -r.stockpile_min[t * D + dt] : 0.0;
                for (std::size_t d : chain_demands)
                    p.chain += r.shortfall[t * D + d];
                for (std::size_t j = 0; j < C; ++j)
                    v[i * C + j] = u[t * K + static_cast<std::size_t>(coord[j])];
            }
        }
        // Elites: the target outcomes when there are enough of them (the last round), else the
        // n_elite trials under the most pressure (those under none never count).
        std::vector<std::uint32_t> order(N);
        std::iota(order.begin(), order.end(), 0u);
        std::stable_sort(order.begin(), order.end(),
                         [&](std::uint32_t a, std::uint32_t b) { return pr[a] > pr[b]; });
        std::uint64_t hits = 0;
        double hit_w = 0;
        for (std::uint64_t i = 0; i < N; ++i)
            if (pr[i].shortfall > ce.shortfall_above) {
                ++hits;
                hit_w += w[i];
            }
        const bool last = hits >= n_elite;
        std::vector<std::uint32_t> elite;
        const Pressure none{};
        for (std::uint64_t k = 0; k < N; ++k) {
            const auto i = order[k];
            if (last ? !(pr[i].shortfall > ce.shortfall_above) : (k >= n_elite || !(pr[i] > none)))
                break;
            elite.push_back(i);
        }
        if (elite.size() < 10)
            throw InputError(
                "run.importance.cross_entropy: round " + std::to_string(round) + ": only " +
                std::to_string(elite.size()) + " of " + std::to_string(N) +
                " pilot trials put any pressure on demand '" + ce.demand +
                "' (its shortfall, its stockpile or the other demands of its value chain); raise "
                "pilot_trials, or tilt the inputs that drive it by hand (run.importance.tilt)");
        double sw = 0, sw2 = 0;
        for (auto i : elite) {
            sw += w[i];
            sw2 += w[i] * w[i];
        }
        const double n_eff = sw2 > 0 ? sw * sw / sw2 : 0.0;
        int moved = 0;
        for (std::size_t j = 0; j < C; ++j) {
            const auto B = width[j].size();
            // The elites' weighted histogram on the fine grid, then pooled: adjacent bins merge
            // until each group holds kMinElites elites (never across the input's own break
            // points), and a group's share is spread over its bins by width. A free fit per fine
            // bin would give a bin that the elites missed by chance almost no mass, and trials
            // landing there a huge weight.
            std::vector<double> f(B, 0.0);
            std::vector<std::uint64_t> count(B, 0);
            for (auto i : elite) {
                const double x = v[i * C + j];
                const auto b = static_cast<std::size_t>(
                    std::upper_bound(edges[j].begin() + 1, edges[j].end() - 1, x) -
                    (edges[j].begin() + 1));
                f[b] += w[i] / sw;
                ++count[b];
            }
            const auto &brk = breaks[j];
            std::vector<std::pair<std::size_t, std::size_t>> groups; // [first, last] fine bins
            std::uint64_t in_group = 0;
            std::size_t start = 0;
            for (std::size_t b = 0; b < B; ++b) {
                in_group += count[b];
                const bool segment_end =
                    b + 1 == B || std::find(brk.begin(), brk.end(), b + 1) != brk.end();
                if (in_group >= kMinElites || segment_end) {
                    if (segment_end && in_group < kMinElites && !groups.empty() &&
                        groups.back().second + 1 == start &&
                        std::find(brk.begin(), brk.end(), start) == brk.end())
                        groups.back().second = b; // too few: join the group before
                    else
                        groups.push_back({start, b});
                    start = b + 1;
                    in_group = 0;
                }
            }
            std::vector<double> gf, gw;
            for (const auto &[a, z] : groups) {
                double sf = 0, swd = 0;
                for (std::size_t b = a; b <= z; ++b) {
                    sf += f[b];
                    swd += width[j][b];
                }
                gf.push_back(sf);
                gw.push_back(swd);
            }
            // Screening: an input whose elites look like the model's own distribution is not
            // tilted (fitting noise would only add variance to the weights); one tilted in an
            // earlier round keeps its proposal (a round's elites may be too few to tell).
            if (groups.size() < 2 || uniform_p_value(gf, gw, n_eff) > 1e-3) {
                moved += tilted[j] ? 1 : 0;
                continue;
            }
            for (std::size_t g = 0; g < groups.size(); ++g)
                for (std::size_t b = groups[g].first; b <= groups[g].second; ++b) {
                    const double fit = gf[g] * width[j][b] / gw[g];
                    const double mixed = (1 - ce.defensive) * fit + ce.defensive * width[j][b];
                    mass[j][b] = ce.smoothing * mixed + (1 - ce.smoothing) * mass[j][b];
                }
            tilted[j] = 1;
            ++moved;
        }
        CrossEntropyRound rec;
        rec.round = round;
        rec.trials = N;
        rec.hits = hits;
        rec.elites = elite.size();
        rec.level = pr[elite.back()].shortfall;
        rec.hit_rate = hit_w / static_cast<double>(N);
        rec.ess = n_eff;
        rec.tilted = moved;
        im.ce_rounds.push_back(rec);
        if (log)
            *log << "chokepoint: importance: cross-entropy round " << round << ": " << hits
                 << " of " << N << " pilot trials short (" << ce.demand << "), P ~ " << rec.hit_rate
                 << "; fitted to " << elite.size() << " elites (ESS "
                 << static_cast<long long>(n_eff) << "), " << moved << " inputs tilted\n";
        if (last) {
            im.ce_reached = true;
            break;
        }
    }
    if (!im.ce_reached && log)
        *log << "chokepoint: importance: warning: the cross-entropy method did not reach the "
                "target in "
             << ce.max_rounds
             << " rounds; the run uses its last proposal (still unbiased, maybe not efficient)\n";
    for (std::size_t j = 0; j < C; ++j)
        if (tilted[j])
            im.tilts.push_back({cand[j], edges[j], mass[j], true});
    im.ce_fitted = true;
}

} // namespace chokepoint
