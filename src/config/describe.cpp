// `chokepoint validate`: a summary of the model a config builds.
#include "config/config.hpp"

#include "config/loader.hpp"
#include "model/inputs.hpp"

namespace chokepoint {

using namespace config_detail;

std::string describe_model(const Model &m) {
    std::ostringstream os;
    os << "model '" << m.name << "'";
    if (!m.description.empty())
        os << ": " << m.description;
    os << "\n";
    os << "run: " << m.run.trials << " trials, seed " << m.run.seed << ", horizon "
       << m.run.horizon_months << " months" << (m.run.start.empty() ? "" : " from " + m.run.start)
       << ", blocks of " << m.run.block_size << " trials\n";
    os << "regimes (" << m.regimes.size() << "):";
    for (const auto &r : m.regimes)
        os << " " << r.id << " (" << r.weight << ")";
    os << "\n";
    if (!m.factors.empty()) {
        os << "shared factors (" << m.factors.size() << "):";
        for (const auto &f : m.factors)
            os << " " << f.id;
        os << "\n";
    }
    os << "products (" << m.products.size() << ") in " << m.n_components << " value chain(s):\n";
    std::vector<std::vector<const Facility *>> facilities_of(m.products.size());
    std::size_t composite = 1;
    for (const auto &f : m.facilities) {
        facilities_of[static_cast<std::size_t>(f.product)].push_back(&f);
        composite += std::isnan(f.capacity.mean());
    }
    for (const auto &p : m.products) {
        os << "  " << p.id;
        if (p.recipe.empty()) {
            os << " (primary)";
        } else {
            os << " <- ";
            for (std::size_t i = 0; i < p.recipe.size(); ++i)
                os << (i ? " + " : "") << p.recipe[i].second << " "
                   << m.products[static_cast<std::size_t>(p.recipe[i].first)].id;
        }
        // facilities per country
        std::map<std::string, std::pair<int, double>> by_country;
        for (const Facility *fp : facilities_of[static_cast<std::size_t>(&p - m.products.data())]) {
            const Facility &f = *fp;
            {
                auto &e = by_country[m.countries[static_cast<std::size_t>(f.country)]];
                e.first += 1;
                double mu = f.capacity.mean();
                if (std::isnan(mu)) {
                    // Composite (factors, products, regimes): estimate the mean by sampling;
                    // 4000 draws each, fewer when there are many (at most ~2 million in all).
                    std::vector<double> fac(m.factors.size());
                    double acc = 0;
                    const int n = static_cast<int>(std::clamp<std::size_t>(
                        std::size_t(2'000'000) / composite / (m.factors.size() + 1), 100, 4000));
                    for (int t = 0; t < n; ++t) {
                        SampleContext ctx{0, fac.data()};
                        for (std::size_t k = 0; k < m.factors.size(); ++k) {
                            Stream s(0, static_cast<std::uint64_t>(t),
                                     quantity_id("factor/" + m.factors[k].id));
                            fac[k] = m.factors[k].dist.sample(s, ctx);
                        }
                        Stream s(0, static_cast<std::uint64_t>(t), quantity_id("describe"));
                        acc += f.capacity.sample(s, ctx);
                    }
                    mu = acc / n;
                }
                e.second += mu;
            }
        }
        os << "\n    facilities:";
        for (const auto &[c, e] : by_country)
            os << " " << c << " x" << e.first << " (~" << e.second << " " << p.unit << "/yr)";
        os << "\n";
    }
    os << "demands (" << m.demands.size() << "):\n";
    for (const auto &d : m.demands) {
        os << "  " << d.id << ": " << m.products[static_cast<std::size_t>(d.product)].id << " in "
           << m.countries[static_cast<std::size_t>(d.country)] << ", tier " << d.tier << ", "
           << d.quantity.describe() << " /yr" << (d.has_stockpile ? ", stockpile" : "") << "\n";
    }
    if (!m.restrictions.empty()) {
        os << "trade restrictions (" << m.restrictions.size() << "):\n";
        for (const auto &r : m.restrictions) {
            auto list = [&](const std::vector<char> &mask) {
                std::string s;
                for (std::size_t c = 0; c < mask.size(); ++c)
                    if (mask[c])
                        s += (s.empty() ? "" : ",") + m.countries[c];
                return s.empty() ? std::string("-") : s;
            };
            os << "  " << r.id << (r.event >= 0 ? " (export control)" : " (static lane)") << ": "
               << list(r.exporter) << " -> " << list(r.importer) << "\n";
        }
    }
    os << "events (" << m.events.size() << "):\n";
    for (const auto &e : m.events) {
        os << "  " << e.id << ": "
           << (e.type == EventType::ExportControl ? "export control" : "capacity shock");
        if (e.type == EventType::CapacityShock)
            os << " on " << e.facilities.size() << " facilities";
        os << ", onset "
           << (e.onset == OnsetKind::ActiveAtStart ? "active at start"
               : e.onset == OnsetKind::Hazard
                   ? "hazard " + e.hazard_per_year.describe() + "/yr"
                   : "p=" + e.probability.describe() + " at month " + e.month.describe())
           << ", duration " << e.duration_months.describe() << " months\n";
    }
    {
        const auto &al = m.allocation;
        os << "allocation: "
           << (al.rule == AllocationRule::Coordinated ? "coordinated (one pooled market)"
               : al.rule == AllocationRule::HomeFirst ? "home_first (each home first, then "
                                                        "the coordinated rule)"
                                                      : "proportional (contracts first, then "
                                                        "the coordinated rule)");
        if (al.rule == AllocationRule::HomeFirst && !al.blocs.empty()) {
            os << "; blocs:";
            for (const auto &b : al.blocs)
                os << " " << b;
        }
        if (al.rule == AllocationRule::Proportional)
            os << "; reference shares: "
               << (al.reference == ReferenceShares::Pooled ? "pooled" : "trade_shares");
        os << "\n";
    }
    os << "countries (" << m.countries.size() << "):";
    for (const auto &c : m.countries)
        os << " " << c;
    os << "\n";
    const auto inputs = design_inputs(m);
    os << "inputs (" << inputs.size() << " uncertain quantities, "
       << (m.run.sampler == SamplerKind::MC    ? "sampler mc"
           : m.run.sampler == SamplerKind::LHS ? "sampler lhs"
                                               : "sampler sobol")
       << ", " << m.run.replicates << " replicate(s)):\n";
    if (const auto w = sampling_warning(m); !w.empty())
        os << "warning: " << w << "\n";
    for (const auto &w : m.warnings)
        os << "warning: " << w.format() << "\n";
    for (const auto &in : inputs)
        os << "  " << in.name << "\n";
    const auto &im = m.run.importance;
    if (im.enabled()) {
        // Importance sampling (docs/importance.md): what the run will tilt.
        os << "importance sampling:";
        for (const auto &t : im.tilts) {
            // The bin the proposal favours most (largest mass / width).
            std::size_t best = 0;
            for (std::size_t b = 1; b < t.mass.size(); ++b)
                if (t.mass[b] * (t.edges[best + 1] - t.edges[best]) >
                    t.mass[best] * (t.edges[b + 1] - t.edges[b]))
                    best = b;
            os << "\n  tilt " << t.input << ": quantiles [" << t.edges[best] << ", "
               << t.edges[best + 1] << ") get " << t.mass[best] << " of the proposal ("
               << t.mass.size() << " bins)";
        }
        if (im.ce.enabled)
            os << "\n  cross-entropy fit before the run: target " << im.ce.demand
               << " short by more than " << im.ce.shortfall_above << ", " << im.ce.pilot_trials
               << " pilot trials per round, at most " << im.ce.max_rounds << " rounds";
        os << "\n";
    }
    for (const auto &sc : m.scenarios)
        os << "scenario " << sc.id << ": " << sc.model->facilities.size() << " facilities, "
           << sc.model->demands.size() << " demands, " << sc.model->events.size() << " events"
           << (sc.description.empty() ? "" : " (" + sc.description + ")") << "\n";
    return os.str();
}

} // namespace chokepoint
