#include "engine/simulate.hpp"

#include "core/errors.hpp"
#include "core/random.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <unordered_map>

namespace chokepoint {

namespace {
/// Active months [begin, end) of an event or outage of `duration` months starting at `onset`.
int end_month(int onset, double duration, int horizon) {
    const double d = std::max(1.0, std::floor(duration + 0.5));
    return static_cast<int>(std::min<double>(horizon, onset + d));
}

} // namespace

void add_paired_differences(const BlockResult &base, const std::vector<int> &base_of,
                            const Design &design, BlockResult &s) {
    const std::size_t D = base_of.size();
    const std::size_t D0 = s.count ? base.shortfall.size() / s.count : 0;
    for (std::uint64_t t = 0; t < s.count; ++t)
        for (std::size_t d = 0; d < D; ++d) {
            if (base_of[d] < 0)
                continue;
            const std::size_t i = t * D + d, j = t * D0 + static_cast<std::size_t>(base_of[d]);
            // w (x_s - x_b): the trial's likelihood ratio (1 without importance sampling)
            const double w = s.weight[t];
            const double diff = w * (s.shortfall[i] - base.shortfall[j]);
            const double months = w * (s.short_months[i] - base.short_months[j]);
            const double any =
                w * ((s.short_months[i] > 0 ? 1.0 : 0.0) - (base.short_months[j] > 0 ? 1.0 : 0.0));
            const double share = w * (s.shortfall_share[i] - base.shortfall_share[j]);
            s.acc.diff_shortfall[d].add(diff);
            s.acc.diff_short_months[d].add(months);
            s.acc.diff_any_short[d].add(any);
            s.acc.diff_share[d].add(share);
            const std::size_t r =
                static_cast<std::size_t>(design.replicate(s.first_trial + t)) * D + d;
            s.acc.rep_diff_shortfall[r].add(diff);
            s.acc.rep_diff_short_months[r].add(months);
            s.acc.rep_diff_any_short[r].add(any);
            s.acc.rep_diff_share[r].add(share);
        }
}

void append_trials(BlockResult &dst, BlockResult &piece) {
    dst.packed.clear(); // packed from other rows
    if (dst.count == 0)
        dst.first_trial = piece.first_trial;
    else if (piece.first_trial != dst.first_trial + dst.count)
        throw std::logic_error("append_trials: the piece does not follow the block");
    dst.count += piece.count;
    auto add = [](auto &to, auto &from) {
        if (to.empty())
            to.swap(from);
        else
            to.insert(to.end(), from.begin(), from.end());
        from.clear();
        from.shrink_to_fit();
    };
    add(dst.shortfall, piece.shortfall);
    add(dst.demand_total, piece.demand_total);
    add(dst.shortfall_share, piece.shortfall_share);
    add(dst.stockpile_min, piece.stockpile_min);
    add(dst.short_months, piece.short_months);
    add(dst.longest_run, piece.longest_run);
    add(dst.stockout_month, piece.stockout_month);
    add(dst.facility_binding_months, piece.facility_binding_months);
    add(dst.regime, piece.regime);
    add(dst.event_onset, piece.event_onset);
    add(dst.monthly_shortfall, piece.monthly_shortfall);
    add(dst.inputs, piece.inputs);
    add(dst.weight, piece.weight);
    add(dst.fac_unserved, piece.fac_unserved);
    add(dst.node_unserved, piece.node_unserved);
    add(dst.res_unserved, piece.res_unserved);
    add(dst.node_months, piece.node_months);
    add(dst.res_months, piece.res_months);
    add(dst.monthly_exact, piece.monthly_exact);
}

Simulator::Simulator(const Model &model, std::shared_ptr<const Design> design, bool warm_start,
                     const Model *baseline)
    : m_(model), alloc_(model, warm_start), dims_(dims_of(model)),
      design_(design ? std::move(design) : make_design(model)), ws_(design_->workspace()) {
    if (baseline)
        reuse_ = chain_reuse(*baseline, model);
    // Quantity identities: names, not positions, so that adding an unrelated quantity to a
    // config leaves every other quantity's draws unchanged.
    const auto qs = quantities(m_);
    std::unordered_map<std::uint64_t, std::string> seen;
    for (const auto &q : qs) {
        const auto id = quantity_id(q.name);
        if (!seen.emplace(id, q.name).second)
            throw std::logic_error("quantity id collision between '" + q.name + "' and '" +
                                   seen[id] + "'; rename one");
    }
    for (const auto &f : m_.facilities) {
        const std::string n = "facility/" + f.id + "/outages";
        if (seen.count(quantity_id(n)))
            throw std::logic_error("quantity id collision for '" + n + "'");
        outage_qid_.push_back(quantity_id(n));
    }
    // Where each drawn quantity reads its coordinates in the design (which may hold more inputs:
    // the union over scenarios).
    const auto &inputs = design_->inputs();
    for (const auto &q : qs) {
        int coord = -1;
        if (q.coords() > 0) {
            for (std::size_t i = 0; i < inputs.size(); ++i)
                if (inputs[i].name == q.name) {
                    coord = design_->first_coord(static_cast<int>(i));
                    break;
                }
            if (coord < 0)
                throw std::logic_error("input '" + q.name + "' is not in the sampling design");
            input_slots_.push_back(static_cast<int>(coord_.size()));
            input_names_.push_back(q.name);
        }
        coord_.push_back(coord);
    }
    keeps_inputs_ = !kept_input_names(m_).empty();
    if (const char *v = std::getenv("CHOKEPOINT_VERIFY_CERTIFICATES"); v && *v && *v != '0')
        alloc_.set_verify_certificates(true);
    if (const char *inject = std::getenv("CHOKEPOINT_TEST_FAIL_LP")) {
        // "<trial>:<month>": every LP of that month of that trial fails (the baseline's first).
        if (std::sscanf(inject, "%lld:%d", &fail_trial_, &fail_month_) != 2)
            fail_trial_ = fail_month_ = -1;
    }
    for (const auto &d : m_.demands)
        demand_component_.push_back(m_.products[static_cast<std::size_t>(d.product)].component);
    for (int p : m_.node_product)
        node_component_.push_back(m_.products[static_cast<std::size_t>(p)].component);
    for (const auto &r : m_.restrictions) {
        int comp = -1;
        for (std::size_t p = 0; p < r.product.size(); ++p)
            if (r.product[p]) {
                comp = comp < 0 ? m_.products[p].component
                                : (comp == m_.products[p].component ? comp : -2);
            }
        restriction_component_.push_back(comp); // -2: spans several chains
    }
}

void Simulator::run_block(std::uint64_t first_trial, std::uint64_t count, BlockResult &out,
                          const BlockResult *base) {
    base_ = base && reuse_.any() ? base : nullptr;
    if (base_ && (base_->first_trial != first_trial || base_->count != count ||
                  base_->monthly_exact.size() !=
                      base_->shortfall.size() * static_cast<std::size_t>(m_.run.horizon_months)))
        throw std::logic_error("run_block: the baseline block does not match (or exports no "
                               "tallies)");
    alloc_.set_skip(base_ ? &reuse_.reuse : nullptr);
    const auto D = static_cast<std::size_t>(dims_.demands),
               F = static_cast<std::size_t>(dims_.facilities),
               E = static_cast<std::size_t>(dims_.events),
               H = static_cast<std::size_t>(dims_.months);
    const auto n = static_cast<std::size_t>(count);
    out.first_trial = first_trial;
    out.count = count;
    out.shortfall.assign(n * D, 0.0);
    out.demand_total.assign(n * D, 0.0);
    out.shortfall_share.assign(n * D, 0.0);
    out.stockpile_min.assign(n * D, 0.0);
    out.short_months.assign(n * D, 0);
    out.longest_run.assign(n * D, 0);
    out.stockout_month.assign(n * D, -1);
    out.facility_binding_months.assign(n * F, 0);
    out.regime.assign(n, 0);
    out.event_onset.assign(n * E, -1);
    out.monthly_shortfall.assign(m_.run.store_monthly ? n * D * H : 0, 0.0f);
    out.inputs.assign(keeps_inputs() ? n * input_slots_.size() : 0, 0.0);
    const auto N = m_.node_names.size(), R = m_.restrictions.size();
    out.fac_unserved.assign(export_ ? n * F : 0, 0.0);
    out.node_unserved.assign(export_ ? n * N : 0, 0.0);
    out.res_unserved.assign(export_ ? n * R : 0, 0.0);
    out.node_months.assign(export_ ? n * N : 0, 0);
    out.res_months.assign(export_ ? n * R : 0, 0);
    out.monthly_exact.assign(export_ ? n * D * H : 0, 0.0);
    out.acc = Accumulators(dims_);
    out.weight.assign(n, 1.0);
    const auto K = static_cast<std::size_t>(design_->coords());
    u_.resize(n * K);
    if (K > 0)
        design_->fill(first_trial, count, u_.data(), *ws_, out.weight.data());
    const RungCounts before = alloc_.stats().rungs;
    for (std::size_t t = 0; t < n; ++t) {
        if (abort_ && abort_->load(std::memory_order_relaxed) != 0)
            throw BlockAborted{};
        run_trial(first_trial + t, t, out);
        if (trial_counter_)
            trial_counter_->fetch_add(1, std::memory_order_relaxed);
    }
    // The LPs of these trials per solver rung: a function of the trials alone (every trial starts
    // from a forgotten allocator), so the run's totals do not depend on threads or blocks.
    const RungCounts &after = alloc_.stats().rungs;
    for (int r = 0; r < kRungs; ++r)
        out.acc.lp_rungs.solved[static_cast<std::size_t>(r)] =
            after.solved[static_cast<std::size_t>(r)] - before.solved[static_cast<std::size_t>(r)];
    out.acc.lp_rungs.relaxed = after.relaxed - before.relaxed;
    out.acc.lp_rungs.failed = after.failed - before.failed;
}

bool Simulator::keeps_inputs() const {
    return keeps_inputs_;
}

// One trial: draw its world (the regime, factors, facilities, demands and events, in slot
// order), simulate it month by month, then record it in the block's results.
void Simulator::run_trial(std::uint64_t trial, std::uint64_t row, BlockResult &out) {
    u_row_ = u_.data() + row * static_cast<std::size_t>(design_->coords());
    values_.assign(coord_.size(), 0.0);
    ctx_ = SampleContext{0, nullptr};
    std::size_t q = 0;
    const int regime = draw_regime_and_factors(q);
    draw_facilities(trial, q);
    draw_demands(q);
    draw_events(row, q, out);
    check_magnitudes(trial);
    keep_inputs(row, regime, out);
    simulate_months(trial, row, out);
    if (base_)
        copy_reused(row, out);
    record_trial(trial, row, regime, out);
}

// Every monthly capacity and want, and every stockpile amount, of the trial at most
// kMaxQuantity: a config whose numbers overflow (a quantity of 1e308, growth of 1e300 a year, a
// product of capacities past the largest double) would otherwise give inf and NaN results, or LPs
// no tolerance can solve. A bad input, found where the numbers are made.
void Simulator::check_magnitudes(std::uint64_t trial) const {
    const Model &m = m_;
    const auto Hs = static_cast<std::size_t>(m.run.horizon_months);
    auto refuse = [&](const std::string &what, double v, std::size_t month) {
        char num[32];
        std::snprintf(num, sizeof num, "%.6g", v);
        const std::string file = m.files.empty() ? std::string() : m.files[0].path + ": ";
        throw InputError(file + what + (month < Hs ? " in month " + std::to_string(month) : "") +
                         " of trial " + std::to_string(trial) + " is " + num +
                         ": quantities must be finite and at most 1e15 (unit a month); check "
                         "its distribution, growth and factors in the config");
    };
    auto fine = [](double v) { return v <= kMaxQuantity; }; // false for NaN too
    for (std::size_t f = 0; f < m.facilities.size(); ++f)
        for (std::size_t mo = 0; mo < Hs; ++mo)
            if (!fine(capacity_[f * Hs + mo]))
                refuse("the capacity of facility '" + m.facilities[f].id + "'",
                       capacity_[f * Hs + mo], mo);
    for (std::size_t d = 0; d < m.demands.size(); ++d) {
        const std::string dn = "demand '" + m.demands[d].id + "'";
        for (std::size_t mo = 0; mo < Hs; ++mo)
            if (!fine(want_[d * Hs + mo]))
                refuse("the want of " + dn, want_[d * Hs + mo], mo);
        if (!m.demands[d].has_stockpile)
            continue;
        if (!fine(level_[d]) || !fine(max_level_[d]))
            refuse("the stockpile of " + dn, std::max(level_[d], max_level_[d]), Hs);
        if (!fine(refill_rate_[d]))
            refuse("the stockpile refill of " + dn, refill_rate_[d], Hs);
        if (!(max_draw_[d] <= kMaxQuantity ||
              max_draw_[d] == std::numeric_limits<double>::infinity()))
            refuse("the stockpile max_draw of " + dn, max_draw_[d], Hs);
    }
}

// The value chains this scenario shares with the baseline: their per-trial results and tallies
// from the baseline's row of the same trial (which this simulator's own solve would reproduce).
void Simulator::copy_reused(std::uint64_t row, BlockResult &out) {
    const BlockResult &b = *base_;
    const auto D = m_.demands.size(), Hs = static_cast<std::size_t>(m_.run.horizon_months);
    const std::size_t n = static_cast<std::size_t>(b.count);
    const std::size_t D0 = b.shortfall.size() / n, F0 = b.facility_binding_months.size() / n,
                      N0 = b.node_months.size() / n, R0 = b.res_months.size() / n;
    const double w = out.weight[row];
    for (std::size_t d = 0; d < D; ++d) {
        const int j = reuse_.demand[d];
        if (j < 0)
            continue;
        const std::size_t i = row * D + d, k = row * D0 + static_cast<std::size_t>(j);
        out.shortfall[i] = b.shortfall[k];
        out.demand_total[i] = b.demand_total[k];
        out.short_months[i] = b.short_months[k];
        out.longest_run[i] = b.longest_run[k];
        out.stockout_month[i] = b.stockout_month[k];
        min_level_[d] = b.stockpile_min[k];
        for (std::size_t ms = 0; ms < Hs; ++ms) {
            const double v = b.monthly_exact[k * Hs + ms];
            out.acc.monthly[d * Hs + ms].add(w * v);
            out.acc.monthly_max[d * Hs + ms] = std::max(out.acc.monthly_max[d * Hs + ms],
                                                        static_cast<double>(static_cast<float>(v)));
            if (!out.monthly_shortfall.empty())
                out.monthly_shortfall[i * Hs + ms] = static_cast<float>(v);
            if (!out.monthly_exact.empty())
                out.monthly_exact[i * Hs + ms] = v;
        }
    }
    for (std::size_t f = 0; f < reuse_.facility.size(); ++f)
        if (const int j = reuse_.facility[f]; j >= 0) {
            fac_months_[f] = b.facility_binding_months[row * F0 + static_cast<std::size_t>(j)];
            fac_unserved_[f] = b.fac_unserved[row * F0 + static_cast<std::size_t>(j)];
        }
    for (std::size_t x = 0; x < reuse_.node.size(); ++x)
        if (const int j = reuse_.node[x]; j >= 0) {
            node_months_[x] = b.node_months[row * N0 + static_cast<std::size_t>(j)];
            node_unserved_[x] = b.node_unserved[row * N0 + static_cast<std::size_t>(j)];
        }
    for (std::size_t r = 0; r < reuse_.restriction.size(); ++r)
        if (const int j = reuse_.restriction[r]; j >= 0) {
            res_months_[r] = b.res_months[row * R0 + static_cast<std::size_t>(j)];
            res_unserved_[r] = b.res_unserved[row * R0 + static_cast<std::size_t>(j)];
        }
}

double Simulator::draw(std::size_t slot, const Dist &d) {
    const int c = coord_[slot];
    const double v = d.from_uniform(c >= 0 ? u_row_ + c : nullptr, ctx_);
    values_[slot] = v;
    return v;
}

double Simulator::uniform(std::size_t slot) {
    const double v = u_row_[coord_[slot]];
    values_[slot] = v;
    return v;
}

int Simulator::draw_regime_and_factors(std::size_t &q) {
    const Model &m = m_;
    // Regime: the first whose cumulative weight exceeds u (total weight).
    int regime = 0;
    if (coord_[q] >= 0) {
        double total = 0;
        for (const auto &r : m.regimes)
            total += r.weight;
        const double x = uniform(q) * total;
        double acc = 0;
        regime = static_cast<int>(m.regimes.size()) - 1;
        for (std::size_t i = 0; i < m.regimes.size(); ++i) {
            acc += m.regimes[i].weight;
            if (x < acc) {
                regime = static_cast<int>(i);
                break;
            }
        }
        values_[q] = regime;
    }
    ++q;
    ctx_.regime = regime;
    factors_.resize(m.factors.size());
    ctx_.factors = factors_.data();
    for (std::size_t i = 0; i < m.factors.size(); ++i)
        factors_[i] = draw(q++, m.factors[i].dist);
    return regime;
}

// Facilities: capacity per month [f * H + m] (unit/month), before shocks.
void Simulator::draw_facilities(std::uint64_t trial, std::size_t &q) {
    const Model &m = m_;
    const int H = m.run.horizon_months;
    const auto F = m.facilities.size(), Hs = static_cast<std::size_t>(H);
    capacity_.assign(F * Hs, 0.0);
    for (std::size_t f = 0; f < F; ++f) {
        const auto &fac = m.facilities[f];
        const std::size_t base = q + f * FacSlots;
        const double cap = std::max(0.0, draw(base + FCap, fac.capacity)) / 12.0;
        const double avail = std::clamp(draw(base + FAvail, fac.availability), 0.0, 1.0);
        const double start = std::max(0.0, std::floor(draw(base + FStart, fac.start_month)));
        const double ramp = std::max(0.0, draw(base + FRamp, fac.ramp_months));
        const double g = std::max(-1.0, draw(base + FGrowth, fac.growth));
        double *c = &capacity_[f * Hs];
        double grown = 1.0; // (1 + g)^floor(m / 12), as for demand
        for (int mo = 0; mo < H; ++mo) {
            if (mo > 0 && mo % 12 == 0)
                grown *= (1.0 + g);
            if (mo < start)
                continue;
            const double j = mo - start + 1;
            const double r = ramp > 0 ? std::min(1.0, j / ramp) : 1.0;
            c[mo] = cap * avail * r * grown;
        }
        if (fac.has_outages) {
            // The rate is an input; the arrivals, durations and losses (a random number of
            // draws) come from the facility's own stream.
            const double rate = std::max(0.0, draw(base + FOutageRate, fac.outages.rate_per_year));
            Stream s(m.run.seed, design_->stream_trial(trial), outage_qid_[f]);
            double t = 0; // months
            while (rate > 0) {
                t += -std::log(s.uniform01()) * 12.0 / rate;
                if (t >= H)
                    break;
                const int on = static_cast<int>(t);
                const int end = end_month(on, fac.outages.duration_months.sample(s, ctx_), H);
                const double keep =
                    1.0 - std::clamp(fac.outages.fraction_lost.sample(s, ctx_), 0.0, 1.0);
                for (int mo = on; mo < end; ++mo)
                    c[mo] *= keep;
            }
        }
    }
    q += F * FacSlots;
}

// Demands: want per month [d * H + m], and each stockpile's level and limits.
void Simulator::draw_demands(std::size_t &q) {
    const Model &m = m_;
    const int H = m.run.horizon_months;
    const auto D = m.demands.size(), Hs = static_cast<std::size_t>(H);
    want_.assign(D * Hs, 0.0);
    refill_rate_.assign(D, 0.0);
    level_.assign(D, 0.0);
    max_level_.assign(D, 0.0);
    max_draw_.assign(D, 0.0);
    for (std::size_t d = 0; d < D; ++d) {
        const auto &dm = m.demands[d];
        const std::size_t base = q + d * DemSlots;
        const double qty = std::max(0.0, draw(base + DQty, dm.quantity)) / 12.0;
        const double g = std::max(-1.0, draw(base + DGrowth, dm.growth));
        double factor = 1.0;
        for (int mo = 0; mo < H; ++mo) {
            if (mo > 0 && mo % 12 == 0)
                factor *= (1.0 + g);
            want_[d * Hs + static_cast<std::size_t>(mo)] = qty * factor;
        }
        if (dm.has_stockpile) {
            const auto &sp = dm.stockpile;
            level_[d] = std::max(0.0, draw(base + DInit, sp.initial));
            max_level_[d] =
                sp.has_max_level ? std::max(0.0, draw(base + DMaxLevel, sp.max_level)) : level_[d];
            max_draw_[d] = sp.has_max_draw ? std::max(0.0, draw(base + DMaxDraw, sp.max_draw))
                                           : std::numeric_limits<double>::infinity();
            refill_rate_[d] = sp.has_refill ? std::max(0.0, draw(base + DRefill, sp.refill)) : 0.0;
        }
    }
    q += D * DemSlots;
}

// Events: onset, end and leakage of each; capacity shocks applied to capacity_.
void Simulator::draw_events(std::uint64_t row, std::size_t &q, BlockResult &out) {
    const Model &m = m_;
    const int H = m.run.horizon_months;
    const auto E = m.events.size(), Hs = static_cast<std::size_t>(H);
    ev_on_.assign(E, -1);
    ev_end_.assign(E, -1);
    ev_leak_.assign(E, 0.0);
    for (std::size_t e = 0; e < E; ++e) {
        const auto &ev = m.events[e];
        const std::size_t base = q + e * EvSlots;
        int onset = -1;
        switch (ev.onset) {
        case OnsetKind::ActiveAtStart:
            onset = 0;
            break;
        case OnsetKind::Probability: {
            const double p = std::clamp(draw(base + EProb, ev.probability), 0.0, 1.0);
            // Fires in the upper tail of its coordinate (u > 1 - p): monotone in u, like every
            // other input.
            const bool fires = uniform(base + EOccurs) > 1.0 - p;
            values_[base + EOccurs] = fires ? 1.0 : 0.0;
            const double mo = std::max(0.0, std::floor(draw(base + EMonth, ev.month)));
            if (fires && mo < H)
                onset = static_cast<int>(mo);
            break;
        }
        case OnsetKind::Hazard: {
            const double h = std::max(0.0, draw(base + EHazard, ev.hazard_per_year));
            // Exponential waiting time by its inverse CDF: t = -ln(1 - u) / h (months).
            const double t = h > 0 ? -std::log1p(-uniform(base + EOnsetTime)) * 12.0 / h
                                   : std::numeric_limits<double>::infinity();
            values_[base + EOnsetTime] = t;
            if (t < H)
                onset = static_cast<int>(t);
            break;
        }
        }
        const double dur = draw(base + EDuration, ev.duration_months);
        if (ev.type == EventType::ExportControl) {
            ev_leak_[e] = std::clamp(draw(base + ELeakage, ev.leakage), 0.0, 1.0);
        } else {
            const double keep =
                1.0 - std::clamp(draw(base + EFraction, ev.fraction_lost), 0.0, 1.0);
            if (onset >= 0) {
                const int end = end_month(onset, dur, H);
                for (int f : ev.facilities)
                    for (int mo = onset; mo < end; ++mo)
                        capacity_[static_cast<std::size_t>(f) * Hs +
                                  static_cast<std::size_t>(mo)] *= keep;
            }
        }
        if (onset >= 0) {
            ev_on_[e] = onset;
            ev_end_[e] = end_month(onset, dur, H);
        }
        out.event_onset[row * E + e] = onset;
    }
    q += E * EvSlots;
}

// The drawn inputs (when kept), the regime, and the start of a trace.
void Simulator::keep_inputs(std::uint64_t row, int regime, BlockResult &out) {
    if (!out.inputs.empty()) {
        const auto I = input_slots_.size();
        for (std::size_t i = 0; i < I; ++i)
            out.inputs[row * I + i] = values_[static_cast<std::size_t>(input_slots_[i])];
    }
    out.regime[row] = regime;
    if (trace_) {
        trace_->input_names = input_names_;
        trace_->input_values.clear();
        for (int slot : input_slots_)
            trace_->input_values.push_back(values_[static_cast<std::size_t>(slot)]);
        trace_->regime = regime;
        trace_->event_onset = ev_on_;
        trace_->event_end = ev_end_;
        trace_->event_leakage = ev_leak_;
        trace_->months.assign(static_cast<std::size_t>(m_.run.horizon_months), {});
    }
}

// Month by month: the allocation, stockpile draws and refills, shortfalls, and what binds.
void Simulator::simulate_months(std::uint64_t trial, std::uint64_t row, BlockResult &out) {
    const Model &m = m_;
    const int H = m.run.horizon_months;
    const auto D = m.demands.size(), F = m.facilities.size(), R = m.restrictions.size(),
               N = m.node_names.size();
    const auto Hs = static_cast<std::size_t>(H);
    // A fresh allocator for every trial; it keeps the rows of every restriction that can be in
    // force during this trial (static lanes, controls that fire).
    possible_.assign(R, 0);
    for (std::size_t r = 0; r < R; ++r) {
        const auto &res = m.restrictions[r];
        possible_[r] = res.event < 0 || ev_on_[static_cast<std::size_t>(res.event)] >= 0;
    }
    alloc_.forget(&possible_);

    active_.assign(R, 0);
    leak_.assign(R, 0.0);
    cap_m_.assign(F, 0.0);
    want_m_.assign(D, 0.0);
    refill_m_.assign(D, 0.0);
    avail_.assign(D, 0.0);
    fac_months_.assign(F, 0);
    node_months_.assign(N, 0);
    res_months_.assign(R, 0);
    fac_unserved_.assign(F, 0.0);
    node_unserved_.assign(N, 0.0);
    res_unserved_.assign(R, 0.0);
    comp_short_.assign(static_cast<std::size_t>(m.n_components), 0.0);
    run_.assign(D, 0);
    min_level_ = level_;
    std::vector<double> &level = level_;
    double *sf = &out.shortfall[row * D];
    double *tot = &out.demand_total[row * D];
    std::int32_t *smo = &out.short_months[row * D];
    std::int32_t *lrun = &out.longest_run[row * D];
    std::int32_t *sout = &out.stockout_month[row * D];
    for (int mo = 0; mo < H; ++mo) {
        const auto ms = static_cast<std::size_t>(mo);
        for (std::size_t f = 0; f < F; ++f)
            cap_m_[f] = capacity_[f * Hs + ms];
        for (std::size_t d = 0; d < D; ++d) {
            want_m_[d] = want_[d * Hs + ms];
            refill_m_[d] = refill_rate_[d] > 0
                               ? std::min(refill_rate_[d], std::max(0.0, max_level_[d] - level[d]))
                               : 0.0;
        }
        for (std::size_t r = 0; r < R; ++r) {
            const auto &res = m.restrictions[r];
            if (res.event < 0) {
                active_[r] = 1;
                leak_[r] = res.static_leakage;
            } else {
                const auto e = static_cast<std::size_t>(res.event);
                active_[r] = ev_on_[e] >= 0 && mo >= ev_on_[e] && mo < ev_end_[e];
                leak_[r] = ev_leak_[e];
            }
        }
        for (std::size_t d = 0; d < D; ++d)
            avail_[d] = m.demands[d].has_stockpile ? std::min(level[d], max_draw_[d]) : 0.0;
        MonthInput in{cap_m_.data(),  want_m_.data(), refill_m_.data(),
                      active_.data(), leak_.data(),   avail_.data()};
        try {
            alloc_.inject_failure(fail_trial_ == static_cast<long long>(trial) &&
                                  fail_month_ == mo);
            alloc_.solve(in, month_out_);
        } catch (LpFailure &f) {
            f.trial = static_cast<long long>(trial);
            f.month = mo;
            throw;
        }

        std::fill(comp_short_.begin(), comp_short_.end(), 0.0);
        TrialTrace::Month *tm = trace_ ? &trace_->months[ms] : nullptr;
        if (tm) {
            tm->want = want_m_;
            tm->delivered = month_out_.delivered;
            tm->capacity = cap_m_;
            tm->restriction_active = active_;
            tm->chain_short = month_out_.component_short;
            for (std::size_t n = 0; n < N; ++n)
                if (month_out_.node_binding[n])
                    tm->binding_nodes.push_back(static_cast<int>(n));
            for (std::size_t r = 0; r < R; ++r)
                if (month_out_.restriction_binding[r])
                    tm->binding_restrictions.push_back(static_cast<int>(r));
            tm->drawn.assign(D, 0.0);
            tm->shortfall.assign(D, 0.0);
            tm->level.assign(D, 0.0);
        }
        for (std::size_t d = 0; d < D; ++d) {
            if (base_ && reuse_.demand[d] >= 0)
                continue; // copied from the baseline's trial (copy_reused)
            const double w = want_m_[d];
            const MonthGap gap = month_gap(w, month_out_.delivered[d], avail_[d]);
            const double unmet = gap.unmet, drawn = gap.draw, shortfall = gap.shortfall;
            level[d] -= drawn;
            if (m.demands[d].has_stockpile) {
                min_level_[d] = std::min(min_level_[d], level[d]);
                if (sout[d] < 0 && unmet > 0 && level[d] <= 0.0)
                    sout[d] = mo;
                level[d] = std::min(max_level_[d] > level[d] ? max_level_[d] : level[d],
                                    level[d] + month_out_.refill_delivered[d]);
            }
            if (tm) {
                tm->drawn[d] = drawn;
                tm->shortfall[d] = shortfall;
                tm->level[d] = level[d];
            }
            tot[d] += w;
            if (shortfall > 0) {
                sf[d] += shortfall;
                smo[d] += 1;
                run_[d] += 1;
                lrun[d] = std::max(lrun[d], run_[d]);
                comp_short_[static_cast<std::size_t>(demand_component_[d])] += shortfall;
            } else {
                run_[d] = 0;
            }
            out.acc.monthly[d * Hs + ms].add(out.weight[row] * shortfall);
            // The bands are computed from the stored float32 values: bound them as stored.
            out.acc.monthly_max[d * Hs + ms] =
                std::max(out.acc.monthly_max[d * Hs + ms],
                         static_cast<double>(static_cast<float>(shortfall)));
            if (!out.monthly_shortfall.empty())
                out.monthly_shortfall[(row * D + d) * Hs + ms] = static_cast<float>(shortfall);
            if (!out.monthly_exact.empty())
                out.monthly_exact[(row * D + d) * Hs + ms] = shortfall;
        }
        for (std::size_t f = 0; f < F; ++f) {
            const int node = m.facility_node[f];
            if (month_out_.node_binding[static_cast<std::size_t>(node)]) {
                fac_months_[f] += 1;
                fac_unserved_[f] += comp_short_[static_cast<std::size_t>(
                    node_component_[static_cast<std::size_t>(node)])];
            }
        }
        for (std::size_t n = 0; n < N; ++n)
            if (month_out_.node_binding[n]) {
                node_months_[n] += 1;
                node_unserved_[n] += comp_short_[static_cast<std::size_t>(node_component_[n])];
            }
        for (std::size_t r = 0; r < R; ++r)
            if (month_out_.restriction_binding[r]) {
                res_months_[r] += 1;
                double u = 0;
                if (restriction_component_[r] >= 0) {
                    u = comp_short_[static_cast<std::size_t>(restriction_component_[r])];
                } else {
                    for (double v : comp_short_)
                        u += v;
                }
                res_unserved_[r] += u;
            }
    }
    if (export_) {
        std::copy(fac_unserved_.begin(), fac_unserved_.end(), out.fac_unserved.begin() + row * F);
        std::copy(node_unserved_.begin(), node_unserved_.end(),
                  out.node_unserved.begin() + row * N);
        std::copy(res_unserved_.begin(), res_unserved_.end(), out.res_unserved.begin() + row * R);
        std::copy(node_months_.begin(), node_months_.end(), out.node_months.begin() + row * N);
        std::copy(res_months_.begin(), res_months_.end(), out.res_months.begin() + row * R);
    }
}

// Per-trial results and the block's accumulators.
void Simulator::record_trial(std::uint64_t trial, std::uint64_t row, int regime, BlockResult &out) {
    const Model &m = m_;
    const auto D = m.demands.size(), F = m.facilities.size(), E = m.events.size(),
               R = m.restrictions.size();
    const double *sf = &out.shortfall[row * D];
    const double *tot = &out.demand_total[row * D];
    const std::int32_t *smo = &out.short_months[row * D];
    auto &acc = out.acc;
    const double Hd = m.run.horizon_months;
    // Every accumulator adds w x: with importance sampling (w the trial's likelihood ratio) its
    // mean is the unbiased estimate of E[x] and its standard error that of the estimate; without
    // it w = 1 and w x is x, bit for bit.
    const double w = out.weight[row];
    for (std::size_t d = 0; d < D; ++d) {
        out.shortfall_share[row * D + d] = tot[d] > 0 ? sf[d] / tot[d] : 0.0;
        out.stockpile_min[row * D + d] = m.demands[d].has_stockpile ? min_level_[d] : 0.0;
        acc.shortfall[d].add(w * sf[d]);
        acc.demand_total[d].add(w * tot[d]);
        acc.shortfall_share[d].add(w * out.shortfall_share[row * D + d]);
        acc.short_months[d].add(w * smo[d]);
        acc.any_short[d].add(smo[d] > 0 ? w : 0.0);
        acc.shortfall_min[d] = std::min(acc.shortfall_min[d], sf[d]);
        acc.shortfall_max[d] = std::max(acc.shortfall_max[d], sf[d]);
        const std::size_t rd = static_cast<std::size_t>(design_->replicate(trial)) * D + d;
        acc.rep_shortfall[rd].add(w * sf[d]);
        acc.rep_short_months[rd].add(w * smo[d]);
        acc.rep_any_short[rd].add(smo[d] > 0 ? w : 0.0);
        acc.rep_demand_total[rd].add(w * tot[d]);
        acc.rep_share[rd].add(w * out.shortfall_share[row * D + d]);
    }
    for (std::size_t f = 0; f < F; ++f) {
        out.facility_binding_months[row * F + f] = fac_months_[f];
        acc.fac_trial[f].add(fac_months_[f] > 0 ? w : 0.0);
        acc.fac_months[f].add(w * (fac_months_[f] / Hd));
        acc.fac_unserved[f].add(w * fac_unserved_[f]);
    }
    for (std::size_t n = 0; n < m.node_names.size(); ++n) {
        acc.node_trial[n].add(node_months_[n] > 0 ? w : 0.0);
        acc.node_months[n].add(w * (node_months_[n] / Hd));
        acc.node_unserved[n].add(w * node_unserved_[n]);
    }
    for (std::size_t r = 0; r < R; ++r) {
        acc.res_trial[r].add(res_months_[r] > 0 ? w : 0.0);
        acc.res_months[r].add(w * (res_months_[r] / Hd));
        acc.res_unserved[r].add(w * res_unserved_[r]);
    }
    for (std::size_t e = 0; e < E; ++e)
        acc.event_fired[e].add(ev_on_[e] >= 0 ? w : 0.0);
    acc.regime_count[static_cast<std::size_t>(regime)] += 1;
    const auto T = m.run.thresholds.size();
    for (std::size_t d = 0; d < D; ++d) {
        const double share = out.shortfall_share[row * D + d];
        for (std::size_t j = 0; j < T; ++j)
            acc.share_above[d * T + j].add(share > m.run.thresholds[j] ? w : 0.0);
        const double any = smo[d] > 0 ? 1.0 : 0.0;
        for (std::size_t e = 0; e < E; ++e) {
            const std::size_t i = e * D + d;
            if (ev_on_[e] >= 0) {
                acc.fired_shortfall[i].add(sf[d]);
                acc.fired_short[i].add(any);
            } else {
                acc.unfired_shortfall[i].add(sf[d]);
                acc.unfired_short[i].add(any);
            }
        }
        const std::size_t g = static_cast<std::size_t>(regime) * D + d;
        acc.regime_shortfall[g].add(sf[d]);
        acc.regime_short[g].add(any);
    }
}

} // namespace chokepoint
