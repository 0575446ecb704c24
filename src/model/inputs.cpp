#include "model/inputs.hpp"

#include "core/random.hpp"

#include <algorithm>

namespace chokepoint {

std::array<Quantity, FacSlots> facility_quantities(const Facility &f) {
    const std::string p = "facility/" + f.id + "/";
    std::array<Quantity, FacSlots> q;
    q[FCap] = {p + "capacity", &f.capacity};
    q[FAvail] = {p + "availability", &f.availability};
    q[FStart] = {p + "start_month", &f.start_month};
    q[FRamp] = {p + "ramp_months", &f.ramp_months};
    q[FOutageRate] = {p + "outages/rate_per_year", &f.outages.rate_per_year, f.has_outages};
    q[FGrowth] = {p + "growth", &f.growth};
    return q;
}

std::array<Quantity, DemSlots> demand_quantities(const Demand &d) {
    const std::string p = "demand/" + d.id + "/";
    const auto &s = d.stockpile;
    std::array<Quantity, DemSlots> q;
    q[DQty] = {p + "quantity", &d.quantity};
    q[DGrowth] = {p + "growth", &d.growth};
    q[DInit] = {p + "stockpile/initial", &s.initial, d.has_stockpile};
    q[DMaxLevel] = {p + "stockpile/max_level", &s.max_level, d.has_stockpile && s.has_max_level};
    q[DMaxDraw] = {p + "stockpile/max_draw", &s.max_draw, d.has_stockpile && s.has_max_draw};
    q[DRefill] = {p + "stockpile/refill", &s.refill, d.has_stockpile && s.has_refill};
    return q;
}

std::array<Quantity, EvSlots> event_quantities(const Event &e) {
    const std::string p = "event/" + e.id + "/";
    const bool prob = e.onset == OnsetKind::Probability, haz = e.onset == OnsetKind::Hazard;
    const bool ctl = e.type == EventType::ExportControl;
    std::array<Quantity, EvSlots> q;
    q[EProb] = {p + "probability", &e.probability, prob};
    q[EOccurs] = {p + "occurs", nullptr, prob};
    q[EMonth] = {p + "month", &e.month, prob};
    q[EHazard] = {p + "hazard", &e.hazard_per_year, haz};
    q[EOnsetTime] = {p + "onset_time", nullptr, haz};
    q[EDuration] = {p + "duration", &e.duration_months};
    q[ELeakage] = {p + "leakage", &e.leakage, ctl};
    q[EFraction] = {p + "fraction_lost", &e.fraction_lost, !ctl};
    return q;
}

std::vector<Quantity> quantities(const Model &m) {
    std::vector<Quantity> q;
    q.push_back({"regime", nullptr, m.regimes.size() > 1});
    for (const auto &f : m.factors)
        q.push_back({"factor/" + f.id, &f.dist});
    for (const auto &f : m.facilities)
        for (auto &x : facility_quantities(f))
            q.push_back(std::move(x));
    for (const auto &d : m.demands)
        for (auto &x : demand_quantities(d))
            q.push_back(std::move(x));
    for (const auto &e : m.events)
        for (auto &x : event_quantities(e))
            q.push_back(std::move(x));
    return q;
}

std::vector<DesignInput> design_inputs(const Model &m) {
    std::vector<DesignInput> out;
    for (const auto &q : quantities(m))
        if (q.coords() > 0)
            out.push_back({q.name, quantity_id(q.name), q.coords()});
    return out;
}

std::vector<std::string> kept_input_names(const Model &m) {
    std::vector<std::string> out;
    if (m.run.store_inputs || m.run.sensitivity == Sensitivity::Rank)
        for (const auto &in : design_inputs(m))
            out.push_back(in.name);
    return out;
}

std::vector<std::string> design_quantities(const Model &m) {
    std::vector<std::string> out;
    for (const auto &q : quantities(m))
        out.push_back(q.name);
    return out;
}

std::vector<DesignInput> design_inputs_union(const Model &m) {
    auto out = design_inputs(m);
    for (const auto &sc : m.scenarios)
        for (const auto &in : design_inputs(*sc.model)) {
            auto it = std::find_if(out.begin(), out.end(),
                                   [&](const DesignInput &x) { return x.name == in.name; });
            if (it == out.end())
                out.push_back(in);
            else if (it->coords != in.coords)
                // A scenario that changes a distribution's form may change how many coordinates
                // it takes: give the input the most, so every scenario reads its own from the
                // start.
                it->coords = std::max(it->coords, in.coords);
        }
    return out;
}

std::vector<const Model *> run_models(const Model &m) {
    std::vector<const Model *> out{&m};
    for (const auto &sc : m.scenarios)
        out.push_back(sc.model.get());
    return out;
}

std::vector<std::string> run_scenario_ids(const Model &m) {
    std::vector<std::string> out{"baseline"};
    for (const auto &sc : m.scenarios)
        out.push_back(sc.id);
    return out;
}

std::vector<int> baseline_demands(const Model &baseline, const Model &scenario) {
    std::vector<int> out;
    for (const auto &d : scenario.demands) {
        int k = -1;
        for (std::size_t i = 0; i < baseline.demands.size(); ++i)
            if (baseline.demands[i].id == d.id)
                k = static_cast<int>(i);
        out.push_back(k);
    }
    return out;
}

bool sensitivity_selected(const Model &m, const std::string &input) {
    if (m.run.sensitivity_inputs.empty())
        return true;
    for (const auto &p : m.run.sensitivity_inputs) {
        if (!p.empty() && p.back() == '*') {
            if (input.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0)
                return true;
        } else if (input == p) {
            return true;
        }
    }
    return false;
}

} // namespace chokepoint
