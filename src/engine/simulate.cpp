#include "engine/simulate.hpp"

#include "core/errors.hpp"
#include "core/random.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
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
            const double diff = s.shortfall[i] - base.shortfall[j];
            s.acc.diff_shortfall[d].add(diff);
            s.acc.diff_short_months[d].add(s.short_months[i] - base.short_months[j]);
            s.acc.diff_any_short[d].add((s.short_months[i] > 0 ? 1.0 : 0.0) -
                                        (base.short_months[j] > 0 ? 1.0 : 0.0));
            s.acc.diff_share[d].add(s.shortfall_share[i] - base.shortfall_share[j]);
            s.acc
                .rep_diff_shortfall[static_cast<std::size_t>(design.replicate(s.first_trial + t)) *
                                        D +
                                    d]
                .add(diff);
        }
}

Simulator::Simulator(const Model &model, std::shared_ptr<const Design> design, bool warm_start)
    : m_(model), alloc_(model, warm_start), dims_(dims_of(model)),
      design_(design ? std::move(design) : make_design(model)), ws_(design_->workspace()) {
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

void Simulator::run_block(std::uint64_t first_trial, std::uint64_t count, BlockResult &out) {
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
    out.acc = Accumulators(dims_);
    const auto K = static_cast<std::size_t>(design_->coords());
    u_.resize(n * K);
    if (K > 0)
        design_->fill(first_trial, count, u_.data(), *ws_);
    const RungCounts before = alloc_.stats().rungs;
    for (std::size_t t = 0; t < n; ++t)
        run_trial(first_trial + t, t, out);
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

void Simulator::run_trial(std::uint64_t trial, std::uint64_t row, BlockResult &out) {
    const Model &m = m_;
    const std::uint64_t seed = m.run.seed;
    const int H = m.run.horizon_months;
    const auto D = m.demands.size(), F = m.facilities.size(), E = m.events.size(),
               R = m.restrictions.size();
    const auto Hs = static_cast<std::size_t>(H);
    const double *u = u_.data() + row * static_cast<std::size_t>(design_->coords());
    std::size_t q = 0;
    values_.assign(coord_.size(), 0.0);
    SampleContext ctx{0, nullptr};
    // The value of the quantity in slot `slot` (its inverse CDF at its coordinates).
    auto draw = [&](std::size_t slot, const Dist &d) {
        const int c = coord_[slot];
        const double v = d.from_uniform(c >= 0 ? u + c : nullptr, ctx);
        values_[slot] = v;
        return v;
    };
    auto uniform = [&](std::size_t slot) {
        const double v = u[coord_[slot]];
        values_[slot] = v;
        return v;
    };

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
    ctx.regime = regime;
    factors_.resize(m.factors.size());
    ctx.factors = factors_.data();
    for (std::size_t i = 0; i < m.factors.size(); ++i)
        factors_[i] = draw(q++, m.factors[i].dist);

    // Facilities: capacity per month [f * H + m] (unit/month), before shocks.
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
            Stream s(seed, design_->stream_trial(trial), outage_qid_[f]);
            double t = 0; // months
            while (rate > 0) {
                t += -std::log(s.uniform01()) * 12.0 / rate;
                if (t >= H)
                    break;
                const int on = static_cast<int>(t);
                const int end = end_month(on, fac.outages.duration_months.sample(s, ctx), H);
                const double keep =
                    1.0 - std::clamp(fac.outages.fraction_lost.sample(s, ctx), 0.0, 1.0);
                for (int mo = on; mo < end; ++mo)
                    c[mo] *= keep;
            }
        }
    }
    q += F * FacSlots;

    // Demands.
    want_.assign(D * Hs, 0.0);
    std::vector<double> &level = level_, &max_level = max_level_, &max_draw = max_draw_,
                        &refill_rate = refill_rate_;
    refill_rate.assign(D, 0.0);
    level.assign(D, 0.0);
    max_level.assign(D, 0.0);
    max_draw.assign(D, 0.0);
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
            level[d] = std::max(0.0, draw(base + DInit, sp.initial));
            max_level[d] =
                sp.has_max_level ? std::max(0.0, draw(base + DMaxLevel, sp.max_level)) : level[d];
            max_draw[d] = sp.has_max_draw ? std::max(0.0, draw(base + DMaxDraw, sp.max_draw))
                                          : std::numeric_limits<double>::infinity();
            refill_rate[d] = sp.has_refill ? std::max(0.0, draw(base + DRefill, sp.refill)) : 0.0;
        }
    }
    q += D * DemSlots;

    // Events.
    std::vector<int> ev_on(E, -1), ev_end(E, -1);
    std::vector<double> ev_leak(E, 0.0);
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
            ev_leak[e] = std::clamp(draw(base + ELeakage, ev.leakage), 0.0, 1.0);
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
            ev_on[e] = onset;
            ev_end[e] = end_month(onset, dur, H);
        }
        out.event_onset[row * E + e] = onset;
    }
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
        trace_->event_onset = ev_on;
        trace_->event_end = ev_end;
        trace_->event_leakage = ev_leak;
        trace_->months.assign(Hs, {});
    }
    // A fresh allocator for every trial; it keeps the rows of every restriction that can be in
    // force during this trial (static lanes, controls that fire).
    possible_.assign(R, 0);
    for (std::size_t r = 0; r < R; ++r) {
        const auto &res = m.restrictions[r];
        possible_[r] = res.event < 0 || ev_on[static_cast<std::size_t>(res.event)] >= 0;
    }
    alloc_.forget(&possible_);

    // Month by month.
    active_.assign(R, 0);
    leak_.assign(R, 0.0);
    std::vector<double> cap_m(F), want_m(D), refill_m(D);
    avail_.assign(D, 0.0);
    const auto Fn = F;
    std::vector<int> fac_months(Fn, 0), node_months(m.node_names.size(), 0), res_months(R, 0);
    std::vector<double> fac_unserved(Fn, 0.0), node_unserved(m.node_names.size(), 0.0),
        res_unserved(R, 0.0);
    std::vector<double> comp_short(static_cast<std::size_t>(m.n_components), 0.0);
    std::vector<int> run(D, 0);
    std::vector<double> min_level(level);
    double *sf = &out.shortfall[row * D];
    double *tot = &out.demand_total[row * D];
    std::int32_t *smo = &out.short_months[row * D];
    std::int32_t *lrun = &out.longest_run[row * D];
    std::int32_t *sout = &out.stockout_month[row * D];
    for (int mo = 0; mo < H; ++mo) {
        const auto ms = static_cast<std::size_t>(mo);
        for (std::size_t f = 0; f < F; ++f)
            cap_m[f] = capacity_[f * Hs + ms];
        for (std::size_t d = 0; d < D; ++d) {
            want_m[d] = want_[d * Hs + ms];
            refill_m[d] = refill_rate[d] > 0
                              ? std::min(refill_rate[d], std::max(0.0, max_level[d] - level[d]))
                              : 0.0;
        }
        for (std::size_t r = 0; r < R; ++r) {
            const auto &res = m.restrictions[r];
            if (res.event < 0) {
                active_[r] = 1;
                leak_[r] = res.static_leakage;
            } else {
                const auto e = static_cast<std::size_t>(res.event);
                active_[r] = ev_on[e] >= 0 && mo >= ev_on[e] && mo < ev_end[e];
                leak_[r] = ev_leak[e];
            }
        }
        for (std::size_t d = 0; d < D; ++d)
            avail_[d] = m.demands[d].has_stockpile ? std::min(level[d], max_draw[d]) : 0.0;
        MonthInput in{cap_m.data(),   want_m.data(), refill_m.data(),
                      active_.data(), leak_.data(),  avail_.data()};
        try {
            alloc_.inject_failure(fail_trial_ == static_cast<long long>(trial) &&
                                  fail_month_ == mo);
            alloc_.solve(in, month_out_);
        } catch (LpFailure &f) {
            f.trial = static_cast<long long>(trial);
            f.month = mo;
            throw;
        }

        std::fill(comp_short.begin(), comp_short.end(), 0.0);
        TrialTrace::Month *tm = trace_ ? &trace_->months[ms] : nullptr;
        if (tm) {
            tm->want = want_m;
            tm->delivered = month_out_.delivered;
            tm->capacity = cap_m;
            tm->restriction_active = active_;
            tm->chain_short = month_out_.component_short;
            for (std::size_t n = 0; n < m.node_names.size(); ++n)
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
            const double w = want_m[d];
            const MonthGap gap = month_gap(w, month_out_.delivered[d], avail_[d]);
            const double unmet = gap.unmet, draw = gap.draw, shortfall = gap.shortfall;
            level[d] -= draw;
            if (m.demands[d].has_stockpile) {
                min_level[d] = std::min(min_level[d], level[d]);
                if (sout[d] < 0 && unmet > 0 && level[d] <= 0.0)
                    sout[d] = mo;
                level[d] = std::min(max_level[d] > level[d] ? max_level[d] : level[d],
                                    level[d] + month_out_.refill_delivered[d]);
            }
            if (tm) {
                tm->drawn[d] = draw;
                tm->shortfall[d] = shortfall;
                tm->level[d] = level[d];
            }
            tot[d] += w;
            if (shortfall > 0) {
                sf[d] += shortfall;
                smo[d] += 1;
                run[d] += 1;
                lrun[d] = std::max(lrun[d], run[d]);
                comp_short[static_cast<std::size_t>(demand_component_[d])] += shortfall;
            } else {
                run[d] = 0;
            }
            out.acc.monthly[d * Hs + ms].add(shortfall);
            // The bands are computed from the stored float32 values: bound them as stored.
            out.acc.monthly_max[d * Hs + ms] =
                std::max(out.acc.monthly_max[d * Hs + ms],
                         static_cast<double>(static_cast<float>(shortfall)));
            if (!out.monthly_shortfall.empty())
                out.monthly_shortfall[(row * D + d) * Hs + ms] = static_cast<float>(shortfall);
        }
        for (std::size_t f = 0; f < F; ++f) {
            const int node = m.facility_node[f];
            if (month_out_.node_binding[static_cast<std::size_t>(node)]) {
                fac_months[f] += 1;
                fac_unserved[f] += comp_short[static_cast<std::size_t>(
                    node_component_[static_cast<std::size_t>(node)])];
            }
        }
        for (std::size_t n = 0; n < m.node_names.size(); ++n)
            if (month_out_.node_binding[n]) {
                node_months[n] += 1;
                node_unserved[n] += comp_short[static_cast<std::size_t>(node_component_[n])];
            }
        for (std::size_t r = 0; r < R; ++r)
            if (month_out_.restriction_binding[r]) {
                res_months[r] += 1;
                double u = 0;
                if (restriction_component_[r] >= 0) {
                    u = comp_short[static_cast<std::size_t>(restriction_component_[r])];
                } else {
                    for (double v : comp_short)
                        u += v;
                }
                res_unserved[r] += u;
            }
    }

    // Per-trial results and accumulators.
    auto &acc = out.acc;
    const double Hd = H;
    for (std::size_t d = 0; d < D; ++d) {
        out.shortfall_share[row * D + d] = tot[d] > 0 ? sf[d] / tot[d] : 0.0;
        out.stockpile_min[row * D + d] = m.demands[d].has_stockpile ? min_level[d] : 0.0;
        acc.shortfall[d].add(sf[d]);
        acc.demand_total[d].add(tot[d]);
        acc.shortfall_share[d].add(out.shortfall_share[row * D + d]);
        acc.short_months[d].add(smo[d]);
        acc.any_short[d].add(smo[d] > 0 ? 1.0 : 0.0);
        acc.shortfall_min[d] = std::min(acc.shortfall_min[d], sf[d]);
        acc.shortfall_max[d] = std::max(acc.shortfall_max[d], sf[d]);
        const std::size_t rd = static_cast<std::size_t>(design_->replicate(trial)) * D + d;
        acc.rep_shortfall[rd].add(sf[d]);
        acc.rep_short_months[rd].add(smo[d]);
        acc.rep_any_short[rd].add(smo[d] > 0 ? 1.0 : 0.0);
        acc.rep_demand_total[rd].add(tot[d]);
        acc.rep_share[rd].add(out.shortfall_share[row * D + d]);
    }
    for (std::size_t f = 0; f < F; ++f) {
        out.facility_binding_months[row * F + f] = fac_months[f];
        acc.fac_trial[f].add(fac_months[f] > 0 ? 1.0 : 0.0);
        acc.fac_months[f].add(fac_months[f] / Hd);
        acc.fac_unserved[f].add(fac_unserved[f]);
    }
    for (std::size_t n = 0; n < m.node_names.size(); ++n) {
        acc.node_trial[n].add(node_months[n] > 0 ? 1.0 : 0.0);
        acc.node_months[n].add(node_months[n] / Hd);
        acc.node_unserved[n].add(node_unserved[n]);
    }
    for (std::size_t r = 0; r < R; ++r) {
        acc.res_trial[r].add(res_months[r] > 0 ? 1.0 : 0.0);
        acc.res_months[r].add(res_months[r] / Hd);
        acc.res_unserved[r].add(res_unserved[r]);
    }
    for (std::size_t e = 0; e < E; ++e)
        acc.event_fired[e].add(ev_on[e] >= 0 ? 1.0 : 0.0);
    acc.regime_count[static_cast<std::size_t>(regime)] += 1;
    const auto T = m.run.thresholds.size();
    for (std::size_t d = 0; d < D; ++d) {
        const double share = out.shortfall_share[row * D + d];
        for (std::size_t j = 0; j < T; ++j)
            acc.share_above[d * T + j].add(share > m.run.thresholds[j] ? 1.0 : 0.0);
        const double any = smo[d] > 0 ? 1.0 : 0.0;
        for (std::size_t e = 0; e < E; ++e) {
            const std::size_t i = e * D + d;
            if (ev_on[e] >= 0) {
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
