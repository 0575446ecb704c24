#include "simulate.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <unordered_map>

namespace chokepoint {

namespace {
// Quantity-id slots per entity (offsets into Simulator::qid_).
enum FacQ { FCap, FAvail, FStart, FRamp, FOutages, FacSlots };
enum DemQ { DQty, DGrowth, DInit, DMaxLevel, DMaxDraw, DRefill, DemSlots };
enum EvQ { EProb, EOccurs, EMonth, EHazard, EDuration, ELeakage, EFraction, EvSlots };
constexpr double kShortRel = 1e-9; // shortfall below this share of the month's want is rounding

/// Active months [begin, end) of an event or outage of `duration` months starting at `onset`.
int end_month(int onset, double duration, int horizon) {
    const double d = std::max(1.0, std::floor(duration + 0.5));
    return static_cast<int>(std::min<double>(horizon, onset + d));
}
} // namespace

Dims dims_of(const Model &m) {
    Dims d;
    d.demands = static_cast<int>(m.demands.size());
    d.facilities = static_cast<int>(m.facilities.size());
    d.nodes = static_cast<int>(m.node_names.size());
    d.restrictions = static_cast<int>(m.restrictions.size());
    d.events = static_cast<int>(m.events.size());
    d.regimes = static_cast<int>(m.regimes.size());
    d.months = m.run.horizon_months;
    d.thresholds = static_cast<int>(m.run.thresholds.size());
    return d;
}

Simulator::Simulator(const Model &model, bool warm_start)
    : m_(model), alloc_(model, warm_start), dims_(dims_of(model)) {
    // Quantity identities: names, not positions, so that adding an unrelated quantity to a
    // config leaves every other quantity's draws unchanged.
    std::vector<std::string> names;
    names.push_back("regime");
    for (const auto &f : m_.factors)
        names.push_back("factor/" + f.id);
    for (const auto &f : m_.facilities)
        for (const char *s : {"capacity", "availability", "start_month", "ramp_months", "outages"})
            names.push_back("facility/" + f.id + "/" + s);
    for (const auto &d : m_.demands)
        for (const char *s : {"quantity", "growth", "stockpile/initial", "stockpile/max_level",
                              "stockpile/max_draw", "stockpile/refill"})
            names.push_back("demand/" + d.id + "/" + s);
    for (const auto &e : m_.events)
        for (const char *s :
             {"probability", "occurs", "month", "hazard", "duration", "leakage", "fraction_lost"})
            names.push_back("event/" + e.id + "/" + s);
    std::unordered_map<std::uint64_t, std::string> seen;
    for (const auto &n : names) {
        const auto q = quantity_id(n);
        if (!seen.emplace(q, n).second)
            throw std::logic_error("quantity id collision between '" + n + "' and '" + seen[q] +
                                   "'; rename one");
        qid_.push_back(q);
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
    out.acc = Accumulators(dims_);
    for (std::size_t t = 0; t < n; ++t)
        run_trial(first_trial + t, t, out);
}

void Simulator::run_trial(std::uint64_t trial, std::uint64_t row, BlockResult &out) {
    const Model &m = m_;
    const std::uint64_t seed = m.run.seed;
    const int H = m.run.horizon_months;
    const auto D = m.demands.size(), F = m.facilities.size(), E = m.events.size(),
               R = m.restrictions.size();
    const auto Hs = static_cast<std::size_t>(H);
    std::size_t q = 0;
    auto stream = [&](std::size_t slot) { return Stream(seed, trial, qid_[slot]); };

    // Regime.
    int regime = 0;
    {
        Stream s = stream(q++);
        double total = 0;
        for (const auto &r : m.regimes)
            total += r.weight;
        const double u = s.uniform01() * total;
        double acc = 0;
        regime = static_cast<int>(m.regimes.size()) - 1;
        for (std::size_t i = 0; i < m.regimes.size(); ++i) {
            acc += m.regimes[i].weight;
            if (u < acc) {
                regime = static_cast<int>(i);
                break;
            }
        }
    }
    SampleContext ctx{regime, nullptr};
    factors_.resize(m.factors.size());
    for (std::size_t i = 0; i < m.factors.size(); ++i) {
        ctx.factors = factors_.data();
        Stream s = stream(q++);
        factors_[i] = m.factors[i].dist.sample(s, ctx);
    }
    ctx.factors = factors_.data();

    // Facilities: capacity per month [f * H + m] (unit/month), before shocks.
    capacity_.assign(F * Hs, 0.0);
    for (std::size_t f = 0; f < F; ++f) {
        const auto &fac = m.facilities[f];
        const std::size_t base = q + f * FacSlots;
        Stream s_cap = stream(base + FCap), s_av = stream(base + FAvail),
               s_st = stream(base + FStart), s_rp = stream(base + FRamp);
        const double cap = std::max(0.0, fac.capacity.sample(s_cap, ctx)) / 12.0;
        const double avail = std::clamp(fac.availability.sample(s_av, ctx), 0.0, 1.0);
        const double start = std::max(0.0, std::floor(fac.start_month.sample(s_st, ctx)));
        const double ramp = std::max(0.0, fac.ramp_months.sample(s_rp, ctx));
        double *c = &capacity_[f * Hs];
        for (int mo = 0; mo < H; ++mo) {
            if (mo < start)
                continue;
            const double j = mo - start + 1;
            const double r = ramp > 0 ? std::min(1.0, j / ramp) : 1.0;
            c[mo] = cap * avail * r;
        }
        if (fac.has_outages) {
            Stream s = stream(base + FOutages);
            const double rate = std::max(0.0, fac.outages.rate_per_year.sample(s, ctx));
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
        Stream s_q = stream(base + DQty), s_g = stream(base + DGrowth);
        const double qty = std::max(0.0, dm.quantity.sample(s_q, ctx)) / 12.0;
        const double g = std::max(-1.0, dm.growth.sample(s_g, ctx));
        double factor = 1.0;
        for (int mo = 0; mo < H; ++mo) {
            if (mo > 0 && mo % 12 == 0)
                factor *= (1.0 + g);
            want_[d * Hs + static_cast<std::size_t>(mo)] = qty * factor;
        }
        if (dm.has_stockpile) {
            Stream s_i = stream(base + DInit), s_l = stream(base + DMaxLevel),
                   s_d = stream(base + DMaxDraw), s_r = stream(base + DRefill);
            level[d] = std::max(0.0, dm.stockpile.initial.sample(s_i, ctx));
            max_level[d] = dm.stockpile.has_max_level
                               ? std::max(0.0, dm.stockpile.max_level.sample(s_l, ctx))
                               : level[d];
            max_draw[d] = dm.stockpile.has_max_draw
                              ? std::max(0.0, dm.stockpile.max_draw.sample(s_d, ctx))
                              : std::numeric_limits<double>::infinity();
            refill_rate[d] =
                dm.stockpile.has_refill ? std::max(0.0, dm.stockpile.refill.sample(s_r, ctx)) : 0.0;
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
            Stream s_p = stream(base + EProb), s_o = stream(base + EOccurs),
                   s_m = stream(base + EMonth);
            const double p = std::clamp(ev.probability.sample(s_p, ctx), 0.0, 1.0);
            const bool fires = s_o.uniform01() < p;
            const double mo = std::max(0.0, std::floor(ev.month.sample(s_m, ctx)));
            if (fires && mo < H)
                onset = static_cast<int>(mo);
            break;
        }
        case OnsetKind::Hazard: {
            Stream s_h = stream(base + EHazard);
            const double h = std::max(0.0, ev.hazard_per_year.sample(s_h, ctx));
            if (h > 0) {
                const double t = -std::log(s_h.uniform01()) * 12.0 / h;
                if (t < H)
                    onset = static_cast<int>(t);
            }
            break;
        }
        }
        Stream s_d = stream(base + EDuration);
        const double dur = ev.duration_months.sample(s_d, ctx);
        if (ev.type == EventType::ExportControl) {
            Stream s_l = stream(base + ELeakage);
            ev_leak[e] = std::clamp(ev.leakage.sample(s_l, ctx), 0.0, 1.0);
        } else {
            Stream s_f = stream(base + EFraction);
            const double keep = 1.0 - std::clamp(ev.fraction_lost.sample(s_f, ctx), 0.0, 1.0);
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
    out.regime[row] = regime;
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
        MonthInput in{cap_m.data(), want_m.data(), refill_m.data(), active_.data(), leak_.data()};
        alloc_.solve(in, month_out_);

        std::fill(comp_short.begin(), comp_short.end(), 0.0);
        for (std::size_t d = 0; d < D; ++d) {
            const double w = want_m[d];
            double unmet = w - month_out_.delivered[d];
            if (unmet <= kShortRel * w)
                unmet = 0.0;
            const double draw = std::min({unmet, level[d], max_draw[d]});
            level[d] -= draw;
            double shortfall = unmet - draw;
            if (shortfall <= kShortRel * w)
                shortfall = 0.0;
            if (m.demands[d].has_stockpile) {
                min_level[d] = std::min(min_level[d], level[d]);
                if (sout[d] < 0 && unmet > 0 && level[d] <= 0.0)
                    sout[d] = mo;
                level[d] = std::min(max_level[d] > level[d] ? max_level[d] : level[d],
                                    level[d] + month_out_.refill_delivered[d]);
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
