#include "engine/chain_reuse.hpp"

#include <cstdlib>
#include <sstream>
#include <unordered_map>

namespace chokepoint {

namespace {

/// Writes every field of a distribution that sampling reads (hexadecimal floats: exact).
void dump(std::ostream &os, const Dist &d) {
    os << '{' << static_cast<int>(d.kind) << ' ' << d.a << ' ' << d.b << ' ' << d.c << ' ' << d.d
       << ' ' << d.lo << ' ' << d.hi << ' ' << d.factor << " v";
    for (double x : d.values)
        os << ' ' << x;
    os << " c";
    for (double x : d.cdf)
        os << ' ' << x;
    for (const auto &ch : d.children)
        dump(os, ch);
    os << '}';
}

std::string country(const Model &m, int c) {
    return c >= 0 ? m.countries[static_cast<std::size_t>(c)] : std::string("-");
}

std::string members(const Model &m, const std::vector<char> &set) {
    std::string s;
    for (std::size_t i = 0; i < set.size(); ++i)
        if (set[i])
            s += m.countries[i] + ",";
    return s;
}

} // namespace

bool ChainReuse::any() const {
    for (char r : reuse)
        if (r)
            return true;
    return false;
}

std::string component_signature(const Model &m, int comp) {
    std::ostringstream os;
    os << std::hexfloat;
    auto in = [&](int product) {
        return m.products[static_cast<std::size_t>(product)].component == comp;
    };
    os << "horizon " << m.run.horizon_months << " seed " << m.run.seed << "\n";
    for (const auto &r : m.regimes)
        os << "regime " << r.id << ' ' << r.weight << "\n";
    for (const auto &f : m.factors) {
        os << "factor " << f.id << ' ';
        dump(os, f.dist);
        os << "\n";
    }
    const auto &al = m.allocation;
    os << "allocation " << static_cast<int>(al.rule) << ' ' << static_cast<int>(al.reference)
       << " home";
    for (std::size_t c = 0; c < al.home.size(); ++c)
        os << ' ' << m.countries[c] << ':' << country(m, al.home[c]);
    os << "\n";
    for (std::size_t p = 0; p < m.products.size(); ++p) {
        if (!in(static_cast<int>(p)))
            continue;
        const auto &pr = m.products[p];
        os << "product " << pr.id << " recipe";
        for (const auto &[q, a] : pr.recipe)
            os << ' ' << m.products[static_cast<std::size_t>(q)].id << ':' << a;
        os << "\n";
        if (p < al.trade_shares.size() && !al.trade_shares[p].empty()) {
            os << "shares";
            for (double x : al.trade_shares[p])
                os << ' ' << x;
            os << "\n";
        }
    }
    for (const auto &f : m.facilities) {
        if (!in(f.product))
            continue;
        os << "facility " << f.id << ' ' << m.products[static_cast<std::size_t>(f.product)].id
           << ' ' << country(m, f.country) << ' ';
        for (const Dist *d :
             {&f.capacity, &f.availability, &f.start_month, &f.ramp_months, &f.growth})
            dump(os, *d);
        os << " outages " << f.has_outages;
        if (f.has_outages)
            for (const Dist *d :
                 {&f.outages.rate_per_year, &f.outages.duration_months, &f.outages.fraction_lost})
                dump(os, *d);
        os << "\n";
    }
    for (const auto &d : m.demands) {
        if (!in(d.product))
            continue;
        os << "demand " << d.id << ' ' << m.products[static_cast<std::size_t>(d.product)].id << ' '
           << country(m, d.country) << " tier " << d.tier << ' ' << d.tier_abroad << ' ';
        dump(os, d.quantity);
        dump(os, d.growth);
        os << " stockpile " << d.has_stockpile;
        if (d.has_stockpile) {
            const auto &s = d.stockpile;
            os << ' ' << s.has_max_level << s.has_max_draw << s.has_refill;
            for (const Dist *x : {&s.initial, &s.max_level, &s.max_draw, &s.refill})
                dump(os, *x);
        }
        os << "\n";
    }
    std::vector<char> event_used(m.events.size(), 0);
    for (const auto &r : m.restrictions) {
        bool touches = false, elsewhere = false;
        std::string products;
        for (std::size_t p = 0; p < r.product.size(); ++p)
            if (r.product[p]) {
                (in(static_cast<int>(p)) ? touches : elsewhere) = true;
                products += m.products[p].id + ",";
            }
        if (!touches)
            continue;
        if (elsewhere)
            return ""; // its binding flag would mix two components
        os << "restriction " << r.id << " from " << members(m, r.exporter) << " to "
           << members(m, r.importer) << " products " << products << " leak " << r.static_leakage
           << " event "
           << (r.event >= 0 ? m.events[static_cast<std::size_t>(r.event)].id : std::string("-"))
           << "\n";
        if (r.event >= 0)
            event_used[static_cast<std::size_t>(r.event)] = 1;
    }
    for (std::size_t e = 0; e < m.events.size(); ++e) {
        const auto &ev = m.events[e];
        bool used = event_used[e] != 0;
        std::string targets;
        for (int f : ev.facilities) {
            const auto &fac = m.facilities[static_cast<std::size_t>(f)];
            if (in(fac.product)) {
                used = true;
                targets += fac.id + ",";
            }
        }
        if (!used)
            continue;
        os << "event " << ev.id << ' ' << static_cast<int>(ev.type) << ' '
           << static_cast<int>(ev.onset) << " targets " << targets << ' ';
        for (const Dist *d : {&ev.probability, &ev.month, &ev.hazard_per_year, &ev.duration_months,
                              &ev.leakage, &ev.fraction_lost})
            dump(os, *d);
        os << "\n";
    }
    return os.str();
}

ChainReuse chain_reuse(const Model &baseline, const Model &scenario) {
    ChainReuse out;
    const auto C = static_cast<std::size_t>(scenario.n_components);
    out.reuse.assign(C, 0);
    out.demand.assign(scenario.demands.size(), -1);
    out.facility.assign(scenario.facilities.size(), -1);
    out.node.assign(scenario.node_names.size(), -1);
    out.restriction.assign(scenario.restrictions.size(), -1);
    if (&baseline == &scenario || std::getenv("CHOKEPOINT_NO_CHAIN_REUSE") ||
        baseline.countries != scenario.countries)
        return out;
    std::unordered_map<std::string, int> bp;
    for (std::size_t p = 0; p < baseline.products.size(); ++p)
        bp.emplace(baseline.products[p].id, static_cast<int>(p));
    for (std::size_t c = 0; c < C; ++c) {
        // The baseline component of the same products (all of them, and no other).
        int bc = -1;
        bool same_products = true;
        std::size_t count = 0;
        for (const auto &p : scenario.products) {
            if (p.component != static_cast<int>(c))
                continue;
            ++count;
            const auto it = bp.find(p.id);
            if (it == bp.end()) {
                same_products = false;
                break;
            }
            const int k = baseline.products[static_cast<std::size_t>(it->second)].component;
            same_products = same_products && (bc < 0 || bc == k);
            bc = k;
        }
        if (!same_products || bc < 0)
            continue;
        std::size_t bcount = 0;
        for (const auto &p : baseline.products)
            bcount += p.component == bc ? 1 : 0;
        if (bcount != count)
            continue;
        const auto sig = component_signature(scenario, static_cast<int>(c));
        if (sig.empty() || sig != component_signature(baseline, bc))
            continue;
        out.reuse[c] = 1;
    }
    // Index maps of the reused components' entities (equal signatures: the same ids).
    auto comp_of = [&](int product) {
        return scenario.products[static_cast<std::size_t>(product)].component;
    };
    auto index_by_id = [](const auto &items, const std::string &id) {
        for (std::size_t i = 0; i < items.size(); ++i)
            if (items[i].id == id)
                return static_cast<int>(i);
        return -1;
    };
    for (std::size_t d = 0; d < scenario.demands.size(); ++d)
        if (out.reuse[static_cast<std::size_t>(comp_of(scenario.demands[d].product))])
            out.demand[d] = index_by_id(baseline.demands, scenario.demands[d].id);
    for (std::size_t f = 0; f < scenario.facilities.size(); ++f)
        if (out.reuse[static_cast<std::size_t>(comp_of(scenario.facilities[f].product))])
            out.facility[f] = index_by_id(baseline.facilities, scenario.facilities[f].id);
    for (std::size_t n = 0; n < scenario.node_names.size(); ++n)
        if (out.reuse[static_cast<std::size_t>(comp_of(scenario.node_product[n]))])
            for (std::size_t k = 0; k < baseline.node_names.size(); ++k)
                if (baseline.node_names[k] == scenario.node_names[n])
                    out.node[n] = static_cast<int>(k);
    for (std::size_t r = 0; r < scenario.restrictions.size(); ++r) {
        const auto &res = scenario.restrictions[r];
        for (std::size_t p = 0; p < res.product.size(); ++p)
            if (res.product[p] && out.reuse[static_cast<std::size_t>(comp_of(static_cast<int>(p)))])
                out.restriction[r] = index_by_id(baseline.restrictions, res.id);
    }
    return out;
}

} // namespace chokepoint
