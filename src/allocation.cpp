#include "allocation.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

namespace chokepoint {

namespace {
constexpr double kFullFill = 1.0 - 1e-9; // t at or above this means "fully served"
constexpr double kDualEps = 1e-9;
constexpr double kBindEps = 1e-8; // gain in the sum of tier k's fill fractions that counts
constexpr double kGapRel = 1e-9;  // relative supply gap that counts as short
} // namespace

struct Allocator::Component {
    std::vector<int> products, facilities, demands, restrictions, countries;
    std::vector<int>
        downstream_first; // products ordered so that every consumer precedes its inputs
    // Cache of the last month solved.
    bool have_last = false;
    std::vector<double> last_cap, last_want, last_refill, last_leak;
    std::vector<char> last_active;
    bool last_all_served = false;
    // Its result, in local indices.
    std::vector<double> delivered, refill;
    std::vector<int> binding_nodes, binding_restrictions;
    bool is_short = false;
    // One LP object per role in the month's solve (probe; tier k round i; refill round i;
    // chokepoint base; raised capacity of node n or restriction r), so that each LP can
    // warm-start from the same LP of the previous month.
    std::map<std::uint64_t, LinearProgram> slots;
};

/// The LP skeleton of one month of one component.
struct Allocator::Problem {
    struct Node {
        int product;
        int cls;    // country class
        double cap; // scaled
        std::vector<int> model_nodes;
    };
    struct Consumer {
        enum Kind { Recipe, Demand, Refill } kind;
        int product;     // product consumed
        int cls;         // class of the consumer's country
        int node = -1;   // recipe: consuming LP node
        double coef = 0; // recipe coefficient
        int demand = -1; // local demand index (Demand, Refill)
        double want = 0; // scaled
        int tier = 0;
    };
    struct Edge {
        int from; // LP node
        int to;   // consumer
    };
    std::vector<Node> nodes;
    std::vector<Consumer> consumers;
    std::vector<Edge> edges;
    std::vector<std::vector<int>> edges_into; // [consumer]
    using Row = std::vector<std::pair<int, double>>;
    std::vector<Row> rows;
    std::vector<double> rhs;
    std::vector<int> cap_row;                                // [node]
    std::vector<std::pair<int, std::vector<int>>> leak_rows; // (restriction, row indices)
    int n_vars = 0, t_var = 0;

    Row flow_into(int consumer, double sign) const {
        Row r;
        for (int e : edges_into[static_cast<std::size_t>(consumer)])
            r.push_back({static_cast<int>(nodes.size()) + e, sign});
        return r;
    }
};

Allocator::Allocator(const Model &model, bool warm_start) : m_(model), warm_start_(warm_start) {
    for (int c = 0; c < model.n_components; ++c) {
        owned_.push_back(std::make_unique<Component>());
        comps_.push_back(owned_.back().get());
    }
    std::vector<std::vector<char>> has_country(static_cast<std::size_t>(model.n_components),
                                               std::vector<char>(model.countries.size(), 0));
    for (std::size_t p = 0; p < model.products.size(); ++p)
        comps_[static_cast<std::size_t>(model.products[p].component)]->products.push_back(
            static_cast<int>(p));
    for (std::size_t f = 0; f < model.facilities.size(); ++f) {
        const int c =
            model.products[static_cast<std::size_t>(model.facilities[f].product)].component;
        comps_[static_cast<std::size_t>(c)]->facilities.push_back(static_cast<int>(f));
        has_country[static_cast<std::size_t>(c)]
                   [static_cast<std::size_t>(model.facilities[f].country)] = 1;
    }
    for (std::size_t d = 0; d < model.demands.size(); ++d) {
        const int c = model.products[static_cast<std::size_t>(model.demands[d].product)].component;
        comps_[static_cast<std::size_t>(c)]->demands.push_back(static_cast<int>(d));
        has_country[static_cast<std::size_t>(c)]
                   [static_cast<std::size_t>(model.demands[d].country)] = 1;
    }
    for (std::size_t c = 0; c < comps_.size(); ++c) {
        auto &comp = *comps_[c];
        for (std::size_t k = 0; k < model.countries.size(); ++k)
            if (has_country[c][k])
                comp.countries.push_back(static_cast<int>(k));
        for (std::size_t r = 0; r < model.restrictions.size(); ++r) {
            const auto &res = model.restrictions[r];
            bool touches = false;
            for (int p : comp.products)
                touches = touches || res.product[static_cast<std::size_t>(p)];
            if (touches)
                comp.restrictions.push_back(static_cast<int>(r));
        }
        // Order products so that a product comes after every product whose recipe uses it.
        std::vector<int> state(model.products.size(), 0);
        std::vector<int> order;
        std::function<void(int)> visit = [&](int p) {
            if (state[static_cast<std::size_t>(p)])
                return;
            state[static_cast<std::size_t>(p)] = 1;
            for (const auto &[q, a] : model.products[static_cast<std::size_t>(p)].recipe)
                visit(q);
            order.push_back(p); // inputs first
        };
        for (int p : comp.products)
            visit(p);
        comp.downstream_first.assign(order.rbegin(), order.rend());
        comp.delivered.assign(comp.demands.size(), 0.0);
        comp.refill.assign(comp.demands.size(), 0.0);
    }
}

Allocator::~Allocator() = default;

void AllocatorStats::merge(const AllocatorStats &o) {
    solves += o.solves;
    cache_hits += o.cache_hits;
    monotone_hits += o.monotone_hits;
    lps += o.lps;
    warm += o.warm;
    pivots += o.pivots;
    cold_first += o.cold_first;
    cold_changed += o.cold_changed;
    cold_failed += o.cold_failed;
    rungs.merge(o.rungs);
}

void Allocator::forget(const std::vector<char> *possible) {
    if (possible)
        possible_ = *possible;
    else
        possible_.clear();
    for (auto *c : comps_) {
        c->have_last = false;
        for (auto &[key, lp] : c->slots)
            lp.forget();
    }
}

void Allocator::solve(const MonthInput &in, MonthOutput &out) {
    out.delivered.assign(m_.demands.size(), 0.0);
    out.refill_delivered.assign(m_.demands.size(), 0.0);
    out.node_binding.assign(m_.node_names.size(), 0);
    out.restriction_binding.assign(m_.restrictions.size(), 0);
    out.component_short.assign(comps_.size(), 0);
    for (std::size_t c = 0; c < comps_.size(); ++c) {
        solve_component(*comps_[c], in, out);
        out.component_short[c] = comps_[c]->is_short;
    }
}

void Allocator::solve_component(Component &c, const MonthInput &in, MonthOutput &out) {
    ++stats_.solves;
    const std::size_t nf = c.facilities.size(), nd = c.demands.size(), nr = c.restrictions.size();
    bool same = c.have_last && !inject_failure_;
    bool monotone = c.have_last && c.last_all_served && !inject_failure_;
    for (std::size_t i = 0; i < nf && (same || monotone); ++i) {
        const double v = in.capacity[c.facilities[i]];
        same = same && v == c.last_cap[i];
        monotone = monotone && v >= c.last_cap[i];
    }
    for (std::size_t i = 0; i < nd && (same || monotone); ++i) {
        const double w = in.want[c.demands[i]], r = in.refill_want[c.demands[i]];
        same = same && w == c.last_want[i] && r == c.last_refill[i];
        monotone = monotone && w <= c.last_want[i] && r == 0.0 && c.last_refill[i] == 0.0;
    }
    for (std::size_t i = 0; i < nr && (same || monotone); ++i) {
        const int r = c.restrictions[i];
        const bool eq = in.restriction_active[r] == c.last_active[i] &&
                        (!in.restriction_active[r] || in.restriction_leakage[r] == c.last_leak[i]);
        same = same && eq;
        monotone = monotone && eq;
    }
    if (same) {
        ++stats_.cache_hits;
    } else if (monotone) {
        // More capacity and less demand under the same restrictions: still all served.
        ++stats_.monotone_hits;
        for (std::size_t i = 0; i < nd; ++i) {
            c.delivered[i] = in.want[c.demands[i]];
            c.refill[i] = 0.0;
        }
        c.binding_nodes.clear();
        c.binding_restrictions.clear();
        c.is_short = false;
    } else {
        solve_fresh(c, in);
    }
    if (!same) {
        c.have_last = true;
        c.last_cap.resize(nf);
        c.last_want.resize(nd);
        c.last_refill.resize(nd);
        c.last_active.resize(nr);
        c.last_leak.resize(nr);
        for (std::size_t i = 0; i < nf; ++i)
            c.last_cap[i] = in.capacity[c.facilities[i]];
        bool all_served = true;
        for (std::size_t i = 0; i < nd; ++i) {
            c.last_want[i] = in.want[c.demands[i]];
            c.last_refill[i] = in.refill_want[c.demands[i]];
            all_served = all_served && c.delivered[i] == c.last_want[i];
        }
        for (std::size_t i = 0; i < nr; ++i) {
            c.last_active[i] = in.restriction_active[c.restrictions[i]];
            c.last_leak[i] = in.restriction_leakage[c.restrictions[i]];
        }
        c.last_all_served = all_served;
    }
    for (std::size_t i = 0; i < nd; ++i) {
        out.delivered[static_cast<std::size_t>(c.demands[i])] = c.delivered[i];
        out.refill_delivered[static_cast<std::size_t>(c.demands[i])] = c.refill[i];
    }
    for (int n : c.binding_nodes)
        out.node_binding[static_cast<std::size_t>(n)] = 1;
    for (int r : c.binding_restrictions)
        out.restriction_binding[static_cast<std::size_t>(r)] = 1;
}

void Allocator::solve_fresh(Component &c, const MonthInput &in) {
    const Model &m = m_;
    Problem P;
    // Units: each product is measured in its own unit s_p, chosen so that the LP's numbers are
    // O(1): s_p = the most wanted of p this month, directly or through the recipes of the
    // products made from it (so a recipe row reads x_r - sum(y) <= 0 along a chain).
    double any_want = 0;
    for (int d : c.demands)
        any_want = std::max({any_want, in.want[d], in.refill_want[d]});
    c.binding_nodes.clear();
    c.binding_restrictions.clear();
    c.is_short = false;
    if (any_want <= 0) {
        std::fill(c.delivered.begin(), c.delivered.end(), 0.0);
        std::fill(c.refill.begin(), c.refill.end(), 0.0);
        return;
    }
    std::vector<double> &unit = unit_;
    unit.assign(m.products.size(), 0.0);
    // (Refill wants change month by month as stockpiles fill; they are left out of the units so
    // that the LPs keep their coefficients and can warm-start.)
    for (int d : c.demands) {
        auto &u = unit[static_cast<std::size_t>(m.demands[static_cast<std::size_t>(d)].product)];
        u = std::max(u, in.want[d]);
    }
    for (int p : c.downstream_first)
        for (const auto &[q, a] : m.products[static_cast<std::size_t>(p)].recipe)
            unit[static_cast<std::size_t>(q)] =
                std::max(unit[static_cast<std::size_t>(q)], a * unit[static_cast<std::size_t>(p)]);
    for (int p : c.products)
        if (unit[static_cast<std::size_t>(p)] <= 0)
            unit[static_cast<std::size_t>(p)] = any_want;

    // 1. Active restrictions and country classes.
    // Restrictions that shape this trial's LPs: the active ones, and those that may become
    // active later in the trial (see forget()). An inactive one keeps its rows with leakage 1,
    // which no solution can exceed (a node ships at most what it makes), so that its
    // activation changes coefficients, not the LP's shape, and the LP can warm-start.
    std::vector<int> act;
    for (int r : c.restrictions)
        if (in.restriction_active[r] ||
            (!possible_.empty() && possible_[static_cast<std::size_t>(r)]))
            act.push_back(r);
    std::vector<int> cls(m.countries.size(), -1);
    std::vector<int> rep; // representative country of each class
    {
        std::map<std::vector<int>, int> sig_class;
        for (int k : c.countries) {
            std::vector<int> sig;
            sig.reserve(act.size() + 1);
            bool both = false;
            for (int r : act) {
                const auto &res = m.restrictions[static_cast<std::size_t>(r)];
                const int e = res.exporter[static_cast<std::size_t>(k)],
                          i = res.importer[static_cast<std::size_t>(k)];
                sig.push_back(e + 2 * i);
                both = both || (e && i);
            }
            if (both)
                sig.push_back(1000 + k); // own class: its domestic lane is never blocked
            auto it = sig_class.find(sig);
            if (it == sig_class.end()) {
                it = sig_class.emplace(std::move(sig), static_cast<int>(rep.size())).first;
                rep.push_back(k);
            }
            cls[static_cast<std::size_t>(k)] = it->second;
        }
    }

    // 2. LP nodes: (product, class) with at least one facility.
    std::map<std::pair<int, int>, int> node_of;
    for (int f : c.facilities) {
        const auto &fac = m.facilities[static_cast<std::size_t>(f)];
        const auto key = std::make_pair(fac.product, cls[static_cast<std::size_t>(fac.country)]);
        auto it = node_of.find(key);
        if (it == node_of.end()) {
            it = node_of.emplace(key, static_cast<int>(P.nodes.size())).first;
            P.nodes.push_back({fac.product, key.second, 0.0, {}});
        }
        auto &node = P.nodes[static_cast<std::size_t>(it->second)];
        node.cap += in.capacity[f] / unit[static_cast<std::size_t>(fac.product)];
        const int mn = m.facility_node[static_cast<std::size_t>(f)];
        if (std::find(node.model_nodes.begin(), node.model_nodes.end(), mn) ==
            node.model_nodes.end())
            node.model_nodes.push_back(mn);
    }
    // 3. Consumers.
    for (std::size_t n = 0; n < P.nodes.size(); ++n) {
        const auto &prod = m.products[static_cast<std::size_t>(P.nodes[n].product)];
        for (const auto &[q, a] : prod.recipe)
            P.consumers.push_back(
                {Problem::Consumer::Recipe, q, P.nodes[n].cls, static_cast<int>(n), a, -1, 0, 0});
    }
    for (std::size_t i = 0; i < c.demands.size(); ++i) {
        const auto &dm = m.demands[static_cast<std::size_t>(c.demands[i])];
        P.consumers.push_back(
            {Problem::Consumer::Demand, dm.product, cls[static_cast<std::size_t>(dm.country)], -1,
             0, static_cast<int>(i),
             in.want[c.demands[i]] / unit[static_cast<std::size_t>(dm.product)], dm.tier});
    }
    // Every stockpile that can refill is a consumer, wanting 0 when full, so that the LPs keep
    // their shape from month to month.
    bool any_refill = false;
    for (std::size_t i = 0; i < c.demands.size(); ++i) {
        const double rw = in.refill_want[c.demands[i]];
        const auto &dm = m.demands[static_cast<std::size_t>(c.demands[i])];
        if (!dm.has_stockpile || !dm.stockpile.has_refill)
            continue;
        P.consumers.push_back(
            {Problem::Consumer::Refill, dm.product, cls[static_cast<std::size_t>(dm.country)], -1,
             0, static_cast<int>(i), rw / unit[static_cast<std::size_t>(dm.product)], 0});
        any_refill = any_refill || rw > 0;
    }
    // 4. Edges (every source of the product to every consumer; blocked ones are limited by
    //    the leak rows, so that a lane's binding can be tested like a capacity's).
    const int N = static_cast<int>(P.nodes.size());
    P.edges_into.assign(P.consumers.size(), {});
    std::vector<std::vector<int>> edges_from(P.nodes.size());
    for (std::size_t k = 0; k < P.consumers.size(); ++k) {
        const auto &con = P.consumers[k];
        for (const auto &[key, n] : node_of) {
            if (key.first != con.product)
                continue;
            const int e = static_cast<int>(P.edges.size());
            P.edges.push_back({n, static_cast<int>(k)});
            P.edges_into[k].push_back(e);
            edges_from[static_cast<std::size_t>(n)].push_back(e);
        }
    }
    const int E = static_cast<int>(P.edges.size());
    P.n_vars = N + E + 1;
    P.t_var = N + E;
    auto y = [N](int e) { return N + e; };

    // 5. Base rows.
    P.cap_row.resize(P.nodes.size());
    for (int n = 0; n < N; ++n) {
        P.cap_row[static_cast<std::size_t>(n)] = static_cast<int>(P.rows.size());
        P.rows.push_back({{n, 1.0}});
        P.rhs.push_back(P.nodes[static_cast<std::size_t>(n)].cap);
        Problem::Row supply{{n, -1.0}};
        for (int e : edges_from[static_cast<std::size_t>(n)])
            supply.push_back({y(e), 1.0});
        P.rows.push_back(std::move(supply));
        P.rhs.push_back(0.0);
    }
    for (std::size_t k = 0; k < P.consumers.size(); ++k) {
        const auto &con = P.consumers[k];
        if (con.kind == Problem::Consumer::Recipe) {
            Problem::Row r = P.flow_into(static_cast<int>(k), -1.0);
            const int made = P.nodes[static_cast<std::size_t>(con.node)].product;
            r.push_back({con.node, con.coef * unit[static_cast<std::size_t>(made)] /
                                       unit[static_cast<std::size_t>(con.product)]});
            P.rows.push_back(std::move(r));
            P.rhs.push_back(0.0);
        } else {
            P.rows.push_back(P.flow_into(static_cast<int>(k), 1.0));
            P.rhs.push_back(con.want);
        }
    }
    for (int r : act) {
        const auto &res = m.restrictions[static_cast<std::size_t>(r)];
        const double leak = in.restriction_active[r] ? in.restriction_leakage[r] : 1.0;
        std::vector<int> rows_of_r;
        for (const auto &[key, n] : node_of) {
            if (!res.product[static_cast<std::size_t>(key.first)])
                continue;
            Problem::Row row;
            for (int e : edges_from[static_cast<std::size_t>(n)]) {
                const int to_cls =
                    P.consumers[static_cast<std::size_t>(P.edges[static_cast<std::size_t>(e)].to)]
                        .cls;
                if (res.blocks(rep[static_cast<std::size_t>(key.second)],
                               rep[static_cast<std::size_t>(to_cls)], key.first))
                    row.push_back({y(e), 1.0});
            }
            if (row.empty())
                continue;
            row.push_back({n, -leak});
            rows_of_r.push_back(static_cast<int>(P.rows.size()));
            P.rows.push_back(std::move(row));
            P.rhs.push_back(0.0);
        }
        if (!rows_of_r.empty())
            P.leak_rows.push_back({r, std::move(rows_of_r)});
    }

    // Helpers to run an LP on the base rows plus extra rows.
    LinearProgram *lpp = nullptr;
    auto role = [](std::uint64_t kind, std::uint64_t a, std::uint64_t b) {
        return (kind << 56) | (a << 28) | b;
    };
    // What an LP is for, in words (for failure reports).
    auto role_text = [&](std::uint64_t key) {
        const std::uint64_t kind = key >> 56, a = (key >> 28) & 0xFFFFFFFu, b = key & 0xFFFFFFFu;
        switch (kind) {
        case 0:
            return std::string("probe: every tier served in full?");
        case 1:
            return "tier " + std::to_string(a) + ", progressive filling round " + std::to_string(b);
        case 2:
            return "stockpile refills, progressive filling round " + std::to_string(b);
        case 3:
            return "chokepoint base of tier " + std::to_string(a);
        case 4: {
            std::string names;
            for (int mn : P.nodes[static_cast<std::size_t>(a)].model_nodes)
                names += (names.empty() ? "" : ", ") + m.node_names[static_cast<std::size_t>(mn)];
            return "chokepoint test of node " + names;
        }
        default:
            return "chokepoint test of restriction " +
                   m.restrictions[static_cast<std::size_t>(
                                      P.leak_rows[static_cast<std::size_t>(a)].first)]
                       .id;
        }
    };
    // Runs the LP of role `key` (base rows plus `extra_rows`) through the solver ladder. Lower
    // bounds (rows -flow <= -L) carry the deliveries fixed by earlier LPs, which are optimal only
    // to the certificate's tolerance, so a later LP may be infeasible by a rounding residue
    // (seen: 4e-12). When no rung answers, the LP is tried once more with every such bound
    // lowered by that tolerance (1e-9 of the product's unit) and counted as relaxed; only if that
    // fails too is the run stopped (LpFailure, with the LP as posed).
    auto run_lp = [&](std::uint64_t key, const std::vector<Problem::Row> &extra_rows,
                      const std::vector<double> &extra_rhs, const Problem::Row &objective) {
        lpp = &c.slots[key];
        LinearProgram &lp_ = *lpp;
        auto pose = [&](double relax) {
            lp_.set_warm_start(warm_start_);
            lp_.set_first_rung(first_rung_);
            lp_.reset(P.n_vars);
            for (std::size_t i = 0; i < P.rows.size(); ++i)
                lp_.add_row(P.rows[i], P.rhs[i]);
            for (std::size_t i = 0; i < extra_rows.size(); ++i) {
                // A lower bound (-flow <= -L) keeps an artificial even at L = 0, so that its LP
                // keeps its shape (and warm start) from month to month.
                const auto &row = extra_rows[i];
                const bool lower =
                    extra_rhs[i] <= 0 && !row.empty() &&
                    std::all_of(row.begin(), row.end(), [](const auto &e) { return e.second < 0; });
                lp_.add_row(row, lower ? std::min(0.0, extra_rhs[i] + relax) : extra_rhs[i], lower);
            }
            lp_.set_objective(objective);
        };
        pose(0.0);
        ++stats_.lps;
        auto st = inject_failure_ ? LinearProgram::Status::Numerical : lp_.solve();
        if (st != LinearProgram::Status::Optimal) {
            std::ostringstream text;
            lp_.write_lp(text);
            std::string ladder =
                inject_failure_ ? "injected failure (CHOKEPOINT_TEST_FAIL_LP)" : lp_.ladder_log();
            const bool has_lower =
                std::any_of(extra_rhs.begin(), extra_rhs.end(), [](double b) { return b < 0; });
            if (has_lower && !inject_failure_) {
                pose(1e-9);
                st = lp_.solve();
                ladder += "; then with lower bounds relaxed by 1e-9: " + lp_.ladder_log();
            }
            if (st != LinearProgram::Status::Optimal) {
                ++stats_.rungs.failed;
                LpFailure f(ladder, text.str());
                f.role = role_text(key);
                for (int p : c.products)
                    f.chain +=
                        (f.chain.empty() ? "" : "+") + m.products[static_cast<std::size_t>(p)].id;
                lp_.forget();
                throw f;
            }
            ++stats_.rungs.relaxed;
        }
        stats_.pivots += static_cast<std::uint64_t>(lp_.pivots());
        stats_.warm += lp_.warm() ? 1 : 0;
        stats_.cold_first += lp_.cold_reason() == 1;
        stats_.cold_changed += lp_.cold_reason() == 2;
        stats_.cold_failed += lp_.cold_reason() == 3;
        ++stats_.rungs.solved[static_cast<std::size_t>(lp_.rung())];
        if (observer_)
            observer_(lp_, role_text(key));
    };

    // Lower bounds (scaled) of every consumer fixed so far; -1 = not fixed.
    std::vector<double> fixed(P.consumers.size(), -1.0);

    auto lower_rows = [&](std::vector<Problem::Row> &rows, std::vector<double> &rhs, int max_tier) {
        for (std::size_t k = 0; k < P.consumers.size(); ++k) {
            if (fixed[k] < 0)
                continue;
            if (max_tier >= 0 && (P.consumers[k].kind != Problem::Consumer::Demand ||
                                  P.consumers[k].tier >= max_tier))
                continue;
            rows.push_back(P.flow_into(static_cast<int>(k), -1.0));
            rhs.push_back(-fixed[k]);
        }
    };

    // Progressive filling of a set of consumers; fixes their lower bounds. With `probe`, stops
    // after the first LP unless it serves everyone in full. Returns whether all were served.
    auto fill = [&](std::vector<int> U, bool probe, std::uint64_t kind, int tier) -> bool {
        std::uint64_t round = 0;
        U.erase(std::remove_if(U.begin(), U.end(),
                               [&](int k) {
                                   if (P.consumers[static_cast<std::size_t>(k)].want > 0)
                                       return false;
                                   fixed[static_cast<std::size_t>(k)] = 0.0;
                                   return true;
                               }),
                U.end());
        while (!U.empty()) {
            std::vector<Problem::Row> rows;
            std::vector<double> rhs;
            std::vector<int> fair_row;
            for (int k : U) {
                Problem::Row r = P.flow_into(k, -1.0);
                r.push_back({P.t_var, P.consumers[static_cast<std::size_t>(k)].want});
                fair_row.push_back(static_cast<int>(P.rows.size() + rows.size()));
                rows.push_back(std::move(r));
                rhs.push_back(0.0);
            }
            rows.push_back({{P.t_var, 1.0}});
            rhs.push_back(1.0);
            lower_rows(rows, rhs, -1);
            run_lp(role(kind, static_cast<std::uint64_t>(tier), round++), rows, rhs,
                   {{P.t_var, 1.0}});
            const double t = std::min(1.0, lpp->objective());
            if (t >= kFullFill) {
                for (int k : U)
                    fixed[static_cast<std::size_t>(k)] =
                        P.consumers[static_cast<std::size_t>(k)].want;
                return true;
            }
            if (probe)
                return false;
            std::vector<int> rest;
            for (std::size_t i = 0; i < U.size(); ++i) {
                const int k = U[i];
                if (lpp->dual(fair_row[i]) > kDualEps)
                    fixed[static_cast<std::size_t>(k)] =
                        std::max(0.0, t * P.consumers[static_cast<std::size_t>(k)].want - 1e-12);
                else
                    rest.push_back(k);
            }
            if (rest.size() == U.size()) {
                // No positive dual found (numerically degenerate): all stop at t.
                for (int k : U)
                    fixed[static_cast<std::size_t>(k)] =
                        std::max(0.0, t * P.consumers[static_cast<std::size_t>(k)].want - 1e-12);
                return false;
            }
            U.swap(rest);
        }
        return false;
    };

    // 6. Tiers. First: can everyone be served in full at once?
    std::vector<int> demand_consumers, refill_consumers;
    std::map<int, std::vector<int>> by_tier;
    for (std::size_t k = 0; k < P.consumers.size(); ++k) {
        if (P.consumers[k].kind == Problem::Consumer::Demand) {
            demand_consumers.push_back(static_cast<int>(k));
            by_tier[P.consumers[k].tier].push_back(static_cast<int>(k));
        } else if (P.consumers[k].kind == Problem::Consumer::Refill) {
            refill_consumers.push_back(static_cast<int>(k));
        }
    }
    bool all_served = false;
    if (by_tier.size() > 1) {
        // One LP answers the common case: all tiers fully served.
        all_served = fill(demand_consumers, true, 0, 0);
    }
    if (!all_served)
        for (auto &[tier, U] : by_tier)
            fill(U, false, 1, tier);
    if (any_refill)
        fill(refill_consumers, false, 2, 0);

    // 7. Results.
    std::fill(c.delivered.begin(), c.delivered.end(), 0.0);
    std::fill(c.refill.begin(), c.refill.end(), 0.0);
    int short_tier = -1;
    for (int k : demand_consumers) {
        const auto &con = P.consumers[static_cast<std::size_t>(k)];
        const double want = in.want[c.demands[static_cast<std::size_t>(con.demand)]];
        double v =
            fixed[static_cast<std::size_t>(k)] == con.want
                ? want
                : fixed[static_cast<std::size_t>(k)] * unit[static_cast<std::size_t>(con.product)];
        v = std::min(v, want);
        c.delivered[static_cast<std::size_t>(con.demand)] = v;
        if (want - v > kGapRel * want && (short_tier < 0 || con.tier < short_tier))
            short_tier = con.tier;
    }
    for (int k : refill_consumers) {
        const auto &con = P.consumers[static_cast<std::size_t>(k)];
        if (fixed[static_cast<std::size_t>(k)] <= 0)
            continue; // nothing to refill, or nothing left
        const double want = in.refill_want[c.demands[static_cast<std::size_t>(con.demand)]];
        const double v =
            fixed[static_cast<std::size_t>(k)] == con.want
                ? want
                : fixed[static_cast<std::size_t>(k)] * unit[static_cast<std::size_t>(con.product)];
        c.refill[static_cast<std::size_t>(con.demand)] = std::min(v, want);
    }
    if (short_tier < 0)
        return;
    c.is_short = true;

    // 8. Chokepoints: with the tiers above k held at their deliveries, the most tier k can
    //    receive is V. A node (restriction) binds if raising its capacity (allowance) alone
    //    raises V. V is concave and non-decreasing in each capacity, so any increase
    //    detects a positive right derivative; a tie between two stages shows none.
    std::vector<Problem::Row> rows;
    std::vector<double> rhs;
    lower_rows(rows, rhs, short_tier);
    Problem::Row objective;
    for (int k : by_tier[short_tier]) {
        const double w = P.consumers[static_cast<std::size_t>(k)].want;
        if (w <= 0)
            continue;
        for (int e : P.edges_into[static_cast<std::size_t>(k)])
            objective.push_back({y(e), 1.0 / w});
    }
    run_lp(role(3, static_cast<std::uint64_t>(short_tier), 0), rows, rhs, objective);
    const double V0 = lpp->objective();
    const double delta = 1.0; // one unit of the node's product: its largest monthly need
    // Most tests are settled by the optimal basis of V0 (a zero dual proves "does not bind";
    // a positive dual with a basis that stays feasible proves "binds"); the rest re-solve.
    std::vector<int> undecided_nodes, undecided_res;
    for (int n = 0; n < N; ++n) {
        const double d = lpp->rhs_derivative({P.cap_row[static_cast<std::size_t>(n)]});
        if (std::isnan(d))
            undecided_nodes.push_back(n);
        else if (d > kBindEps)
            for (int mn : P.nodes[static_cast<std::size_t>(n)].model_nodes)
                c.binding_nodes.push_back(mn);
    }
    for (std::size_t i = 0; i < P.leak_rows.size(); ++i) {
        if (!in.restriction_active[P.leak_rows[i].first])
            continue; // not in force this month: nothing to bind
        const double d = lpp->rhs_derivative(P.leak_rows[i].second);
        if (std::isnan(d))
            undecided_res.push_back(static_cast<int>(i));
        else if (d > kBindEps)
            c.binding_restrictions.push_back(P.leak_rows[i].first);
    }
    auto gain_with = [&](std::uint64_t key, const std::vector<int> &bump_rows) {
        for (int r : bump_rows)
            P.rhs[static_cast<std::size_t>(r)] += delta;
        run_lp(key, rows, rhs, objective);
        for (int r : bump_rows)
            P.rhs[static_cast<std::size_t>(r)] -= delta;
        return lpp->objective() - V0;
    };
    for (int n : undecided_nodes)
        if (gain_with(role(4, static_cast<std::uint64_t>(n), 0),
                      {P.cap_row[static_cast<std::size_t>(n)]}) > kBindEps)
            for (int mn : P.nodes[static_cast<std::size_t>(n)].model_nodes)
                c.binding_nodes.push_back(mn);
    for (int i : undecided_res)
        if (gain_with(role(5, static_cast<std::uint64_t>(i), 0),
                      P.leak_rows[static_cast<std::size_t>(i)].second) > kBindEps)
            c.binding_restrictions.push_back(P.leak_rows[static_cast<std::size_t>(i)].first);
}

} // namespace chokepoint
