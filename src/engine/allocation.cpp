#include "engine/allocation.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

namespace chokepoint {

namespace {
constexpr double kFullFill = 1.0 - 1e-9; // t at or above this means "fully served"
constexpr double kDualEps = 1e-9;
constexpr double kBindEps = 1e-8;  // gain in the sum of tier k's fill fractions that counts
constexpr double kShortRel = 1e-9; // a gap below this share of the month's want is rounding
} // namespace

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
    std::vector<std::vector<int>> edges_from;                // [node]
    int n_vars = 0, t_var = 0;
    bool any_refill = false; // some stockpile wants a refill this month

    Row flow_into(int consumer, double sign) const {
        Row r;
        for (int e : edges_into[static_cast<std::size_t>(consumer)])
            r.push_back({static_cast<int>(nodes.size()) + e, sign});
        return r;
    }
};

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
    bool is_short = false; // some demand short after its stockpile draw
    // For the chokepoint test of a repeated month: the last fresh solve's fixed deliveries and
    // floors (scaled, per consumer), and which demands were short after their stockpile draws.
    std::vector<double> last_fixed, last_floor;
    std::vector<char> last_short;
    // One LP object per role in the month's solve (tier k round i; refill round i; chokepoint
    // base; raised capacity of node n or restriction r), so that each LP can warm-start from the
    // same LP of the previous month (a raised one with no basis yet starts from the base's).
    std::map<std::uint64_t, LinearProgram> slots;
    // home_first: each home's phase-1 deliveries (t, per local demand) and the inputs they came
    // from (its facilities' capacities, its demands' wants, the restrictions' states): a home
    // whose inputs repeat reuses them. Cleared with every trial.
    struct HomeMonth {
        std::vector<double> inputs;
        std::vector<std::pair<int, double>> delivered;
    };
    std::map<int, HomeMonth> home_last;
    std::map<int, HomeMonth> raised_last; // the same with LP node n's capacity raised (key n)
    // The month's LP skeletons (Month::build), by what they span: 0 every lane, 1 every home's
    // lanes, 2 + h home h's. A skeleton's shape (nodes, consumers, edges, rows) depends only on
    // the restrictions that shape the LPs (`act`, which fixes the country classes); its numbers
    // (capacities, wants, recipe and leak coefficients, right-hand sides) are set every month.
    struct Skeleton {
        bool valid = false;
        std::vector<int> act;
        std::vector<int> fac_node; // [local facility] its LP node, or -1 (outside the home)
        Problem P;
    };
    std::map<int, Skeleton> skeletons;
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
    certified += o.certified;
    lps += o.lps;
    warm += o.warm;
    pivots += o.pivots;
    cold_first += o.cold_first;
    cold_changed += o.cold_changed;
    cold_failed += o.cold_failed;
    certified_demands += o.certified_demands;
    certified_homes += o.certified_homes;
    certified_rounds += o.certified_rounds;
    rungs.merge(o.rungs);
}

void Allocator::forget(const std::vector<char> *possible) {
    if (possible)
        possible_ = *possible;
    else
        possible_.clear();
    for (auto *c : comps_) {
        c->have_last = false;
        c->home_last.clear();
        c->raised_last.clear();
        for (auto &[key, lp] : c->slots)
            lp.forget();
    }
}

namespace {
/// v = n copies of x, what v.assign(n, x) gives. Called per month and per network: the vectors
/// keep their size from call to call, and an inline loop over a few entries costs a fraction of
/// vector::assign's out-of-line call (callgrind: the closed-form chain 2.1% fewer instructions).
template <class T> void refill(std::vector<T> &v, std::size_t n, const T &x) {
    v.resize(n);
    T *p = v.data();
    for (std::size_t i = 0; i < n; ++i)
        p[i] = x;
}

} // namespace

void Allocator::solve(const MonthInput &in, MonthOutput &out) {
    refill(out.delivered, m_.demands.size(), {});
    refill(out.refill_delivered, m_.demands.size(), {});
    refill(out.node_binding, m_.node_names.size(), {});
    refill(out.restriction_binding, m_.restrictions.size(), {});
    refill(out.component_short, comps_.size(), {});
    for (std::size_t c = 0; c < comps_.size(); ++c) {
        if (skip_ && (*skip_)[c])
            continue;
        solve_component(*comps_[c], in, out);
        out.component_short[c] = comps_[c]->is_short;
    }
}

MonthGap month_gap(double want, double delivered, double available) {
    MonthGap g;
    g.unmet = want - delivered;
    if (g.unmet <= kShortRel * want)
        g.unmet = 0.0;
    g.draw = std::min(g.unmet, available);
    g.shortfall = g.unmet - g.draw;
    if (g.shortfall <= kShortRel * want)
        g.shortfall = 0.0;
    return g;
}

/// The solve of one month of one component: the LPs' units and country classes, the problems,
/// the solver runs, the phases of the allocation rule and the chokepoint tests.
struct Allocator::Month {
    Allocator &A;
    Component &c;
    const MonthInput &in;
    const Model &m;
    const AllocationRule rule;
    std::vector<double> &unit;      // [product] scale of each product's numbers
    std::vector<int> act;           // restrictions that shape the LPs (see below)
    std::vector<int> cls;           // [country] class
    std::vector<int> rep;           // [class] representative country
    LinearProgram *lpp = nullptr;   // the LP last solved
    const Problem *whole = nullptr; // the month's problem over every lane (names in messages)

    Month(Allocator &a, Component &comp, const MonthInput &input)
        : A(a), c(comp), in(input), m(a.m_), rule(a.m_.allocation.rule), unit(a.unit_) {}

    int home_of_country(int k) const {
        const auto &h = m.allocation.home;
        return h.empty() ? k : h[static_cast<std::size_t>(k)];
    }
    int home_of_class(int k) const { return home_of_country(rep[static_cast<std::size_t>(k)]); }

    /// Units: each product is measured in its own unit s_p, chosen so that the LP's numbers are
    /// O(1): s_p = the most wanted of p this month, directly or through the recipes of the
    /// products made from it (so a recipe row reads x_r - sum(y) <= 0 along a chain). False when
    /// nothing is wanted.
    bool units() {
        double any_want = 0;
        for (int d : c.demands)
            any_want = std::max({any_want, in.want[d], in.refill_want[d]});
        if (any_want <= 0)
            return false;
        unit.assign(m.products.size(), 0.0);
        // (Refill wants change month by month as stockpiles fill; they are left out of the units
        // so that the LPs keep their coefficients and can warm-start.)
        for (int d : c.demands) {
            auto &u =
                unit[static_cast<std::size_t>(m.demands[static_cast<std::size_t>(d)].product)];
            u = std::max(u, in.want[d]);
        }
        for (int p : c.downstream_first)
            for (const auto &[q, a] : m.products[static_cast<std::size_t>(p)].recipe)
                unit[static_cast<std::size_t>(q)] = std::max(unit[static_cast<std::size_t>(q)],
                                                             a * unit[static_cast<std::size_t>(p)]);
        for (int p : c.products)
            if (unit[static_cast<std::size_t>(p)] <= 0)
                unit[static_cast<std::size_t>(p)] = any_want;
        return true;
    }

    /// Active restrictions and country classes. Restrictions that shape this trial's LPs: the
    /// active ones, and those that may become active later in the trial (see forget()). An
    /// inactive one keeps its rows with leakage 1, which no solution can exceed (a node ships at
    /// most what it makes), so that its activation changes coefficients, not the LP's shape, and
    /// the LP can warm-start. Countries every such restriction treats alike share a class; under
    /// home_first also the same home; under proportional with trade shares every country is its
    /// own class (contracts are per exporter and importer).
    void classes() {
        act.clear();
        for (int r : c.restrictions)
            if (in.restriction_active[r] ||
                (!A.possible_.empty() && A.possible_[static_cast<std::size_t>(r)]))
                act.push_back(r);
        cls.assign(m.countries.size(), -1);
        rep.clear();
        const bool per_country = rule == AllocationRule::Proportional &&
                                 m.allocation.reference == ReferenceShares::TradeShares;
        std::map<std::vector<int>, int> sig_class;
        for (int k : c.countries) {
            std::vector<int> sig;
            sig.reserve(act.size() + 2);
            bool both = false;
            for (int r : act) {
                const auto &res = m.restrictions[static_cast<std::size_t>(r)];
                const int e = res.exporter[static_cast<std::size_t>(k)],
                          i = res.importer[static_cast<std::size_t>(k)];
                sig.push_back(e + 2 * i);
                both = both || (e && i);
            }
            if (both || per_country)
                sig.push_back(1000 + k); // own class: its domestic lane is never blocked
            if (rule == AllocationRule::HomeFirst)
                sig.push_back(-1 - home_of_country(k));
            auto it = sig_class.find(sig);
            if (it == sig_class.end()) {
                it = sig_class.emplace(std::move(sig), static_cast<int>(rep.size())).first;
                rep.push_back(k);
            }
            cls[static_cast<std::size_t>(k)] = it->second;
        }
    }

    /// The month's LP problem: (product, class) nodes with at least one facility, their
    /// consumers (recipe nodes, demands, refills), edges from every source of a product to every
    /// consumer of it (only within a home with `home_only`; only home `only_home`'s facilities
    /// and demands when >= 0), and the base rows. Blocked edges are limited by leak rows, so that
    /// a lane's binding can be tested like a capacity's.
    /// The problem is the component's skeleton for that span (built again only when `act`
    /// changes), with this month's numbers set: the same problem, number for number, as one
    /// built from scratch. It stays the caller's until the next build of the same span (callers
    /// may raise the right-hand sides of capacity and leak rows; they are set again at the next
    /// build, as every number that changes from month to month).
    Problem &build(bool home_only, int only_home = -1) {
        auto &sk = c.skeletons[home_only ? 2 + only_home : 0];
        if (!sk.valid || sk.act != act) {
            sk.valid = false;
            skeleton(sk.P, sk.fac_node, home_only, only_home);
            sk.act = act;
            sk.valid = true;
        }
        Problem &P = sk.P;
        const auto N = P.nodes.size();
        for (auto &node : P.nodes)
            node.cap = 0.0;
        for (std::size_t i = 0; i < c.facilities.size(); ++i) {
            const int n = sk.fac_node[i];
            if (n < 0)
                continue;
            const int f = c.facilities[i];
            P.nodes[static_cast<std::size_t>(n)].cap +=
                in.capacity[f] /
                unit[static_cast<std::size_t>(m.facilities[static_cast<std::size_t>(f)].product)];
        }
        for (std::size_t n = 0; n < N; ++n)
            P.rhs[static_cast<std::size_t>(P.cap_row[n])] = P.nodes[n].cap;
        P.any_refill = false;
        for (std::size_t k = 0; k < P.consumers.size(); ++k) {
            auto &con = P.consumers[k];
            const std::size_t row = 2 * N + k; // after each node's capacity and supply rows
            if (con.kind == Problem::Consumer::Recipe) {
                P.rows[row].back().second = recipe_coef(P, static_cast<int>(k));
                P.rhs[row] = 0.0;
                continue;
            }
            const int d = c.demands[static_cast<std::size_t>(con.demand)];
            const double w = con.kind == Problem::Consumer::Demand ? in.want[d] : in.refill_want[d];
            con.want = w / unit[static_cast<std::size_t>(con.product)];
            if (con.kind == Problem::Consumer::Refill)
                P.any_refill = P.any_refill || w > 0;
            P.rhs[row] = con.want;
        }
        for (const auto &[r, rows_of_r] : P.leak_rows) {
            const double leak = in.restriction_active[r] ? in.restriction_leakage[r] : 1.0;
            for (const int ri : rows_of_r) {
                P.rows[static_cast<std::size_t>(ri)].back().second = -leak;
                P.rhs[static_cast<std::size_t>(ri)] = 0.0;
            }
        }
        return P;
    }

    /// The skeleton of build(): its shape, with the numbers of this month (which build() sets
    /// again every month); `fac_node` maps each local facility to its node.
    void skeleton(Problem &P, std::vector<int> &fac_node, bool home_only, int only_home) const {
        P = Problem{};
        fac_node.assign(c.facilities.size(), -1);
        std::map<std::pair<int, int>, int> node_of;
        for (std::size_t i = 0; i < c.facilities.size(); ++i) {
            const int f = c.facilities[i];
            const auto &fac = m.facilities[static_cast<std::size_t>(f)];
            if (only_home >= 0 && home_of_country(fac.country) != only_home)
                continue;
            const auto key =
                std::make_pair(fac.product, cls[static_cast<std::size_t>(fac.country)]);
            auto it = node_of.find(key);
            if (it == node_of.end()) {
                it = node_of.emplace(key, static_cast<int>(P.nodes.size())).first;
                P.nodes.push_back({fac.product, key.second, 0.0, {}});
            }
            fac_node[i] = it->second;
            auto &node = P.nodes[static_cast<std::size_t>(it->second)];
            node.cap += in.capacity[f] / unit[static_cast<std::size_t>(fac.product)];
            const int mn = m.facility_node[static_cast<std::size_t>(f)];
            if (std::find(node.model_nodes.begin(), node.model_nodes.end(), mn) ==
                node.model_nodes.end())
                node.model_nodes.push_back(mn);
        }
        for (std::size_t n = 0; n < P.nodes.size(); ++n) {
            const auto &prod = m.products[static_cast<std::size_t>(P.nodes[n].product)];
            for (const auto &[q, a] : prod.recipe)
                P.consumers.push_back({Problem::Consumer::Recipe, q, P.nodes[n].cls,
                                       static_cast<int>(n), a, -1, 0, 0});
        }
        for (std::size_t i = 0; i < c.demands.size(); ++i) {
            const auto &dm = m.demands[static_cast<std::size_t>(c.demands[i])];
            if (only_home >= 0 && home_of_country(dm.country) != only_home)
                continue;
            // Beyond its home (phase 2 of a rule) a demand has its tier_abroad.
            const int tier =
                home_only || rule == AllocationRule::Coordinated ? dm.tier : dm.tier_abroad;
            P.consumers.push_back(
                {Problem::Consumer::Demand, dm.product, cls[static_cast<std::size_t>(dm.country)],
                 -1, 0, static_cast<int>(i),
                 in.want[c.demands[i]] / unit[static_cast<std::size_t>(dm.product)], tier});
        }
        // Every stockpile that can refill is a consumer, wanting 0 when full, so that the LPs
        // keep their shape from month to month.
        for (std::size_t i = 0; i < c.demands.size(); ++i) {
            const double rw = in.refill_want[c.demands[i]];
            const auto &dm = m.demands[static_cast<std::size_t>(c.demands[i])];
            if (!dm.has_stockpile || !dm.stockpile.has_refill ||
                (only_home >= 0 && home_of_country(dm.country) != only_home))
                continue;
            P.consumers.push_back(
                {Problem::Consumer::Refill, dm.product, cls[static_cast<std::size_t>(dm.country)],
                 -1, 0, static_cast<int>(i), rw / unit[static_cast<std::size_t>(dm.product)], 0});
            P.any_refill = P.any_refill || rw > 0;
        }
        const int N = static_cast<int>(P.nodes.size());
        P.edges_into.assign(P.consumers.size(), {});
        std::vector<std::vector<int>> edges_from(P.nodes.size());
        for (std::size_t k = 0; k < P.consumers.size(); ++k) {
            const auto &con = P.consumers[k];
            for (const auto &[key, n] : node_of) {
                if (key.first != con.product)
                    continue;
                if (home_only && home_of_class(key.second) != home_of_class(con.cls))
                    continue;
                const int e = static_cast<int>(P.edges.size());
                P.edges.push_back({n, static_cast<int>(k)});
                P.edges_into[k].push_back(e);
                edges_from[static_cast<std::size_t>(n)].push_back(e);
            }
        }
        P.edges_from = edges_from;
        const int E = static_cast<int>(P.edges.size());
        P.n_vars = N + E + 1;
        P.t_var = N + E;
        auto y = [N](int e) { return N + e; };
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
                r.push_back({con.node, recipe_coef(P, static_cast<int>(k))});
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
                    const int to_cls = P.consumers[static_cast<std::size_t>(
                                                       P.edges[static_cast<std::size_t>(e)].to)]
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
    }

    /// The scaled recipe coefficient of recipe consumer k: input (in its unit) per output.
    double recipe_coef(const Problem &P, int k) const {
        const auto &con = P.consumers[static_cast<std::size_t>(k)];
        const int made = P.nodes[static_cast<std::size_t>(con.node)].product;
        return con.coef * unit[static_cast<std::size_t>(made)] /
               unit[static_cast<std::size_t>(con.product)];
    }

    /// Whether some demand of P that wants anything can receive anything at all. A node can
    /// produce if its capacity (the rhs of its capacity row, raised or not) is positive and each
    /// input of its recipe can reach it: an edge from a node that can produce, not held at 0 by
    /// a leak row of zero leakage. Recipes are acyclic (products are ordered by stage), so the
    /// fixed point below is exact, and by convexity every such node and edge can carry flow in
    /// one feasible solution. When no demand can be reached, the max-min fair deliveries are 0
    /// for all, and the LPs that would say so are skipped (home_first's phase 1: a home that
    /// makes nothing its demands can use, in 69% of the default study's home solves).
    bool any_demand_reachable(const Problem &P) const {
        const std::size_t N = P.nodes.size();
        std::vector<char> closed(P.edges.size(), 0);
        for (const auto &lr : P.leak_rows)
            for (const int ri : lr.second) {
                const auto &row = P.rows[static_cast<std::size_t>(ri)];
                if (row.empty() || row.back().second != 0.0)
                    continue; // the last entry is the node's -leakage
                for (std::size_t j = 0; j + 1 < row.size(); ++j)
                    closed[static_cast<std::size_t>(row[j].first) - N] = 1;
            }
        std::vector<char> live(N);
        for (std::size_t n = 0; n < N; ++n)
            live[n] = P.rhs[static_cast<std::size_t>(P.cap_row[n])] > 0.0;
        auto fed = [&](std::size_t k) {
            for (const int e : P.edges_into[k])
                if (!closed[static_cast<std::size_t>(e)] &&
                    live[static_cast<std::size_t>(P.edges[static_cast<std::size_t>(e)].from)])
                    return true;
            return false;
        };
        for (bool changed = true; changed;) {
            changed = false;
            for (std::size_t k = 0; k < P.consumers.size(); ++k) {
                const auto &con = P.consumers[k];
                if (con.kind != Problem::Consumer::Recipe ||
                    !live[static_cast<std::size_t>(con.node)] ||
                    recipe_coef(P, static_cast<int>(k)) <= 0.0 || fed(k))
                    continue;
                live[static_cast<std::size_t>(con.node)] = 0;
                changed = true;
            }
        }
        for (std::size_t k = 0; k < P.consumers.size(); ++k)
            if (P.consumers[k].kind == Problem::Consumer::Demand && P.consumers[k].want > 0 &&
                fed(k))
                return true;
        return false;
    }

    // The certificate tiers() may try: over the whole component, none, or (>= 0) a home's.
    static constexpr int kCertWhole = -1, kCertNone = -2;

    static std::uint64_t role(std::uint64_t kind, std::uint64_t a, std::uint64_t b) {
        return (kind << 56) | (a << 28) | b;
    }

    /// What an LP is for, in words (for failure reports).
    std::string role_text(const Problem &P, std::uint64_t key) const {
        const std::uint64_t kind = key >> 56, a = (key >> 28) & 0xFFFFFFFu, b = key & 0xFFFFFFFu;
        // Node numbers in keys are the whole problem's (a raised home's sub-problem has others).
        const Problem &W = whole ? *whole : P;
        auto node_text = [&](std::uint64_t n) {
            if (n >= W.nodes.size())
                return std::string("#") += std::to_string(n);
            std::string names;
            for (int mn : W.nodes[static_cast<std::size_t>(n)].model_nodes)
                names += (names.empty() ? "" : ", ") + m.node_names[static_cast<std::size_t>(mn)];
            return names;
        };
        auto res_text = [&](std::uint64_t i) {
            if (i >= W.leak_rows.size())
                return std::string("#") += std::to_string(i);
            return m.restrictions[static_cast<std::size_t>(W.leak_rows[i].first)].id;
        };
        auto phase1 = [&](std::uint64_t sub) {
            const std::uint64_t t = sub >> 16, round = sub & 0xFFFFu;
            return "home phase 1, tier " + std::to_string(t - 1) + " round " +
                   std::to_string(round);
        };
        switch (kind) {
        case 1:
            return "tier " + std::to_string(a) + ", progressive filling round " + std::to_string(b);
        case 2:
            return "stockpile refills, progressive filling round " + std::to_string(b);
        case 3:
            return "chokepoint base of tier " + std::to_string(a);
        case 4:
            return "chokepoint test of node " + node_text(a);
        case 5:
            return "chokepoint test of restriction " + res_text(a);
        case 6:
            return phase1(b) + ", home of " + m.countries[static_cast<std::size_t>(a)];
        case 7:
            return phase1(b) + ", with node " + node_text(a) + " raised";
        default:
            return phase1(b) + ", with restriction " + res_text(a) + " raised";
        }
    }

    /// Runs the LP of role `key` (P's base rows plus `extra_rows`) through the solver ladder.
    /// Lower bounds (rows -flow <= -L) carry the deliveries fixed by earlier LPs, which are
    /// optimal only to the certificate's tolerance, so a later LP may be infeasible by a rounding
    /// residue (seen: 4e-12). When no rung answers, the LP is tried once more with every such
    /// bound lowered by that tolerance (1e-9 of the product's unit) and counted as relaxed; only
    /// if that fails too is the run stopped (LpFailure, with the LP as posed).
    /// With `may_be_infeasible`, an LP that every rung finds infeasible (a question whose
    /// premises cannot all hold, see chokepoints()) returns false instead of stopping the run.
    bool run_lp(const Problem &P, std::uint64_t key, const std::vector<Problem::Row> &extra_rows,
                const std::vector<double> &extra_rhs, const Problem::Row &objective,
                bool may_be_infeasible = false) {
        lpp = &c.slots[key];
        LinearProgram &lp_ = *lpp;
        auto pose = [&](double relax) {
            lp_.set_warm_start(A.warm_start_);
            lp_.set_first_rung(A.first_rung_);
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
        auto &stats = A.stats_;
        pose(0.0);
        ++stats.lps;
        auto st = A.inject_failure_ ? LinearProgram::Status::Numerical : lp_.solve();
        if (st != LinearProgram::Status::Optimal) {
            std::ostringstream text;
            lp_.write_lp(text);
            std::string ladder =
                A.inject_failure_ ? "injected failure (CHOKEPOINT_TEST_FAIL_LP)" : lp_.ladder_log();
            const bool has_lower =
                std::any_of(extra_rhs.begin(), extra_rhs.end(), [](double b) { return b < 0; });
            if (has_lower && !A.inject_failure_) {
                pose(1e-9);
                st = lp_.solve();
                ladder += "; then with lower bounds relaxed by 1e-9: " + lp_.ladder_log();
            }
            if (st == LinearProgram::Status::Infeasible && may_be_infeasible &&
                !A.inject_failure_) {
                lp_.forget();
                return false;
            }
            if (st != LinearProgram::Status::Optimal) {
                ++stats.rungs.failed;
                LpFailure f(ladder, text.str());
                f.role = role_text(P, key);
                for (int p : c.products)
                    f.chain +=
                        (f.chain.empty() ? "" : "+") + m.products[static_cast<std::size_t>(p)].id;
                lp_.forget();
                throw f;
            }
            ++stats.rungs.relaxed;
        }
        stats.pivots += static_cast<std::uint64_t>(lp_.pivots());
        stats.warm += lp_.warm() ? 1 : 0;
        stats.cold_first += lp_.cold_reason() == 1;
        stats.cold_changed += lp_.cold_reason() == 2;
        stats.cold_failed += lp_.cold_reason() == 3;
        ++stats.rungs.solved[static_cast<std::size_t>(lp_.rung())];
        if (A.observer_)
            A.observer_(lp_, role_text(P, key));
        return true;
    }

    /// Lower-bound rows: every consumer with a fixed delivery, then every other consumer with a
    /// floor (the allocation rule's phase-1 delivery; none under coordinated).
    static void lower_rows(const Problem &P, const std::vector<double> &fixed,
                           const std::vector<double> &floor, std::vector<Problem::Row> &rows,
                           std::vector<double> &rhs) {
        for (std::size_t k = 0; k < P.consumers.size(); ++k) {
            if (fixed[k] < 0)
                continue;
            rows.push_back(P.flow_into(static_cast<int>(k), -1.0));
            rhs.push_back(-fixed[k]);
        }
        if (floor.empty())
            return;
        for (std::size_t k = 0; k < P.consumers.size(); ++k) {
            if (floor[k] < 0 || fixed[k] >= 0)
                continue;
            rows.push_back(P.flow_into(static_cast<int>(k), -1.0));
            rhs.push_back(-floor[k]);
        }
    }

    /// Progressive filling of the consumers U (max-min fairness in fill fraction, each at least
    /// its floor); fixes their deliveries in `fixed`. `key(round)` names each round's LP.
    /// Before each round of demands, the certificate `cert` (kCertWhole, a home, or kCertNone)
    /// is asked whether U can all be served in full with every delivery fixed so far kept and
    /// every other demand at its floor (round_amounts): if so they get their wants, which is
    /// what the round's LP would fix at t = 1, and no LP is posed.
    template <class Key>
    void fill(const Problem &P, std::vector<double> &fixed, const std::vector<double> &floor,
              std::vector<int> U, Key &&key, int cert) {
        auto floor_of = [&](int k) {
            return floor.empty() ? -1.0 : floor[static_cast<std::size_t>(k)];
        };
        std::uint64_t round = 0;
        U.erase(std::remove_if(U.begin(), U.end(),
                               [&](int k) {
                                   if (P.consumers[static_cast<std::size_t>(k)].want > 0)
                                       return false;
                                   fixed[static_cast<std::size_t>(k)] = 0.0;
                                   return true;
                               }),
                U.end());
        const bool demands = !U.empty() && P.consumers[static_cast<std::size_t>(U[0])].kind ==
                                               Problem::Consumer::Demand;
        while (!U.empty()) {
            if (cert != kCertNone && demands &&
                A.full_service_restricted(c, in, cert, false, &round_amounts(P, fixed, floor, U))) {
                ++A.stats_.certified_rounds;
                if (A.verify_certificates_) {
                    std::vector<double> by_lp = fixed;
                    fill(P, by_lp, floor, U, key, kCertNone);
                    std::vector<double> seen(P.consumers.size(), -1.0);
                    for (int k : U)
                        seen[static_cast<std::size_t>(k)] = by_lp[static_cast<std::size_t>(k)];
                    verify_demands_full(P, seen, "a progressive-filling round");
                }
                for (int k : U)
                    fixed[static_cast<std::size_t>(k)] =
                        P.consumers[static_cast<std::size_t>(k)].want;
                return;
            }
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
            lower_rows(P, fixed, floor, rows, rhs);
            run_lp(P, key(round++), rows, rhs, {{P.t_var, 1.0}});
            const double t = std::min(1.0, lpp->objective());
            if (t >= kFullFill) {
                for (int k : U)
                    fixed[static_cast<std::size_t>(k)] =
                        P.consumers[static_cast<std::size_t>(k)].want;
                return;
            }
            // A consumer stops at t (or at its floor, if higher).
            auto freeze = [&](int k) {
                fixed[static_cast<std::size_t>(k)] = std::max(
                    floor_of(k),
                    std::max(0.0, t * P.consumers[static_cast<std::size_t>(k)].want - 1e-12));
            };
            std::vector<int> rest;
            for (std::size_t i = 0; i < U.size(); ++i) {
                const int k = U[i];
                if (lpp->dual(fair_row[i]) > kDualEps)
                    freeze(k);
                else
                    rest.push_back(k);
            }
            if (rest.size() == U.size()) {
                // No positive dual found (numerically degenerate): all stop at t.
                for (int k : U)
                    freeze(k);
                return;
            }
            U.swap(rest);
        }
    }

    /// Tiers of demands in order, then, with `refills`, the stockpile refills; `key(what, tier,
    /// round)` names the LPs (what: 1 a tier's round, 2 a refill round). With `demands_full`
    /// every demand is served in full, as the caller proved without an LP (the certificate,
    /// full_service_restricted): exactly what each tier's LP gives when it reaches t = 1, so only
    /// the refills are solved. (The certificate is tried first wherever it could answer, so no
    /// LP probes "every tier in full?" any more: it is only ever asked when the answer is no.)
    /// Otherwise each round of progressive filling first asks the certificate `cert` (fill()).
    template <class Key>
    void tiers(const Problem &P, std::vector<double> &fixed, const std::vector<double> &floor,
               bool refills, bool demands_full, Key &&key, int cert = kCertWhole) {
        std::vector<int> refill_consumers;
        std::map<int, std::vector<int>> by_tier;
        for (std::size_t k = 0; k < P.consumers.size(); ++k) {
            if (P.consumers[k].kind == Problem::Consumer::Demand) {
                if (demands_full)
                    fixed[k] = P.consumers[k].want;
                else
                    by_tier[P.consumers[k].tier].push_back(static_cast<int>(k));
            } else if (P.consumers[k].kind == Problem::Consumer::Refill) {
                refill_consumers.push_back(static_cast<int>(k));
            }
        }
        for (auto &[tier, U] : by_tier)
            fill(
                P, fixed, floor, U, [&, t = tier](std::uint64_t r) { return key(1, t, r); }, cert);
        if (refills && P.any_refill)
            fill(
                P, fixed, floor, refill_consumers, [&](std::uint64_t r) { return key(2, 0, r); },
                kCertNone);
    }

    /// Phase 1 of home_first: tiers of demands within each home (P1 has only home edges); the
    /// floors are those deliveries. `raise` (LP node, or -1) has its capacity raised by `delta`
    /// (the chokepoint test under the rule); `tag` names the LPs: 0 for the month's phase 1, 1 +
    /// the raised node otherwise.
    std::vector<double> home_floors(Problem &P1, int raise, double delta,
                                    const std::vector<double> &base = {}) {
        // Homes do not interact in phase 1: each home's tiers are solved on its own problem
        // (its nodes and consumers only: smaller LPs, fewer progressive-filling rounds than one
        // problem of every home), and a raised node changes only its own home's deliveries.
        std::vector<double> floor = base;
        if (raise < 0) {
            floor.assign(P1.consumers.size(), -1.0);
            for (std::size_t k = 0; k < P1.consumers.size(); ++k)
                if (P1.consumers[k].kind == Problem::Consumer::Demand)
                    floor[k] = 0.0;
        }
        std::vector<int> at(c.demands.size(), -1); // P1 consumer of each local demand
        for (std::size_t k = 0; k < P1.consumers.size(); ++k)
            if (P1.consumers[k].kind == Problem::Consumer::Demand)
                at[static_cast<std::size_t>(P1.consumers[k].demand)] = static_cast<int>(k);
        std::vector<int> homes;
        if (raise >= 0) {
            homes.push_back(home_of_class(P1.nodes[static_cast<std::size_t>(raise)].cls));
        } else {
            for (int d : c.demands) {
                const int h = home_of_country(m.demands[static_cast<std::size_t>(d)].country);
                if (std::find(homes.begin(), homes.end(), h) == homes.end())
                    homes.push_back(h);
            }
        }
        for (const int h : homes) {
            // The month's phase 1 of a home whose inputs are last month's is last month's.
            std::vector<double> inputs;
            for (int f : c.facilities)
                if (home_of_country(m.facilities[static_cast<std::size_t>(f)].country) == h)
                    inputs.push_back(in.capacity[f]);
            for (int d : c.demands)
                if (home_of_country(m.demands[static_cast<std::size_t>(d)].country) == h)
                    inputs.push_back(in.want[d]);
            for (int r : act) {
                inputs.push_back(in.restriction_active[r]);
                inputs.push_back(in.restriction_leakage[r]);
            }
            if (raise >= 0)
                inputs.push_back(delta);
            auto &memo = raise < 0 ? c.home_last : c.raised_last;
            const int memo_key = raise < 0 ? h : raise;
            if (const auto it = memo.find(memo_key);
                it != memo.end() && it->second.inputs == inputs) {
                for (const auto &[d, v] : it->second.delivered) {
                    const int k = at[static_cast<std::size_t>(d)];
                    floor[static_cast<std::size_t>(k)] =
                        v / unit[static_cast<std::size_t>(
                                P1.consumers[static_cast<std::size_t>(k)].product)];
                }
                continue;
            }
            if (raise < 0 && A.full_service_restricted(c, in, h, false)) {
                // Every demand of the home can be served in full at home: each tier's LP would
                // reach t = 1 and fix the want (scaled), as here.
                Component::HomeMonth hm;
                for (std::size_t k = 0; k < P1.consumers.size(); ++k) {
                    const auto &con = P1.consumers[k];
                    if (con.kind != Problem::Consumer::Demand || home_of_class(con.cls) != h)
                        continue;
                    floor[k] = con.want;
                    hm.delivered.push_back(
                        {con.demand, con.want * unit[static_cast<std::size_t>(con.product)]});
                }
                ++A.stats_.certified_homes;
                if (A.verify_certificates_) {
                    Problem &Q = build(true, h);
                    std::vector<double> fixed(Q.consumers.size(), -1.0);
                    tiers(
                        Q, fixed, {}, false, false,
                        [&](int, int tier, std::uint64_t r) {
                            return role(6, static_cast<std::uint64_t>(h),
                                        static_cast<std::uint64_t>(1 + tier) << 16 | (r & 0xFFFFu));
                        },
                        kCertNone);
                    verify_demands_full(Q, fixed, "a home's phase 1");
                }
                hm.inputs = std::move(inputs);
                memo[memo_key] = std::move(hm);
                continue;
            }
            Problem &Q = build(true, h);
            if (Q.nodes.empty())
                continue; // nothing made at home: its demands get nothing in phase 1
            if (raise >= 0) {
                const auto &rn = P1.nodes[static_cast<std::size_t>(raise)];
                for (std::size_t n = 0; n < Q.nodes.size(); ++n)
                    if (Q.nodes[n].product == rn.product && Q.nodes[n].cls == rn.cls)
                        Q.rhs[static_cast<std::size_t>(Q.cap_row[n])] += delta;
            }
            std::vector<double> fixed(Q.consumers.size(), -1.0);
            if (any_demand_reachable(Q))
                tiers(
                    Q, fixed, {}, false, false,
                    [&](int, int tier, std::uint64_t r) {
                        // Roles 6 (the month's phase 1 of home h) and 7 (with node `raise` raised);
                        // the round and tier in the low bits.
                        const std::uint64_t sub_key =
                            static_cast<std::uint64_t>(1 + tier) << 16 | (r & 0xFFFFu);
                        return raise < 0 ? role(6, static_cast<std::uint64_t>(h), sub_key)
                                         : role(7, static_cast<std::uint64_t>(raise), sub_key);
                    },
                    h); // (a raised capacity only helps: the certificate at the month's holds)
            Component::HomeMonth hm;
            for (std::size_t k = 0; k < Q.consumers.size(); ++k)
                if (Q.consumers[k].kind == Problem::Consumer::Demand) {
                    const double v = std::max(0.0, fixed[k]);
                    floor[static_cast<std::size_t>(
                        at[static_cast<std::size_t>(Q.consumers[k].demand)])] = v;
                    hm.delivered.push_back(
                        {Q.consumers[k].demand,
                         v * unit[static_cast<std::size_t>(Q.consumers[k].product)]});
                }
            hm.inputs = std::move(inputs);
            memo[memo_key] = std::move(hm);
        }
        return floor;
    }

    /// Phase 1 of proportional: contracts. Each supplier node ships each consumer of its product
    /// at most the consumer's reference share of what it produces this month (the share of a
    /// blocked consumer also times the restriction's leakage, plus `res_delta` of allowance for
    /// the leak-row group `raise_res`), and no consumer more than it wants (a recipe node: its
    /// input need at this month's capacity). Products are taken inputs first, so a recipe node
    /// produces what its contracted inputs allow. The deliveries are unique (each consumer's
    /// contracts are its own), computed directly; they are the demands' floors.
    std::vector<double> contracts(const Problem &P, int raise_node, double node_delta,
                                  int raise_res, double res_delta) const {
        const std::size_t K = P.consumers.size(), N = P.nodes.size();
        const auto C = m.countries.size();
        // Reference want of every consumer: demands their want, recipe nodes their input need at
        // this month's capacity; refills none (they come last).
        std::vector<double> need(K, 0.0);
        auto cap = [&](std::size_t n) {
            return P.nodes[n].cap + (static_cast<int>(n) == raise_node ? node_delta : 0.0);
        };
        for (std::size_t k = 0; k < K; ++k) {
            const auto &con = P.consumers[k];
            if (con.kind == Problem::Consumer::Demand)
                need[k] = con.want;
            else if (con.kind == Problem::Consumer::Recipe)
                need[k] =
                    recipe_coef(P, static_cast<int>(k)) * cap(static_cast<std::size_t>(con.node));
        }
        // Pooled totals per product, and per (product, importer country) for trade shares.
        std::vector<double> pooled(m.products.size(), 0.0);
        std::map<std::pair<int, int>, double> by_importer;
        for (std::size_t k = 0; k < K; ++k) {
            const auto &con = P.consumers[k];
            pooled[static_cast<std::size_t>(con.product)] += need[k];
            by_importer[{con.product, rep[static_cast<std::size_t>(con.cls)]}] += need[k];
        }
        const auto &table = m.allocation.trade_shares;
        auto share = [&](int n, int k) {
            const auto &con = P.consumers[static_cast<std::size_t>(k)];
            const int p = con.product;
            if (need[static_cast<std::size_t>(k)] <= 0)
                return 0.0;
            if (m.allocation.reference == ReferenceShares::TradeShares &&
                static_cast<std::size_t>(p) < table.size() &&
                !table[static_cast<std::size_t>(p)].empty()) {
                const int e =
                    rep[static_cast<std::size_t>(P.nodes[static_cast<std::size_t>(n)].cls)];
                const int i = rep[static_cast<std::size_t>(con.cls)];
                // The exporter's row: does the table give it at all?
                bool listed = false;
                for (std::size_t j = 0; j < C && !listed; ++j)
                    listed = !std::isnan(
                        table[static_cast<std::size_t>(p)][static_cast<std::size_t>(e) * C + j]);
                if (listed) {
                    const double v =
                        table[static_cast<std::size_t>(p)]
                             [static_cast<std::size_t>(e) * C + static_cast<std::size_t>(i)];
                    const double tot = by_importer[{p, i}];
                    return std::isnan(v) || tot <= 0 ? 0.0
                                                     : v * need[static_cast<std::size_t>(k)] / tot;
                }
            }
            const double tot = pooled[static_cast<std::size_t>(p)];
            return tot > 0 ? need[static_cast<std::size_t>(k)] / tot : 0.0;
        };
        // What edge e may carry per unit of reference share when its supplier produces `out`:
        // `out` if no active restriction blocks it, else the tightest blocking restriction's
        // allowance, leakage x out (plus `res_delta` for the raised leak-row group `raise_res`).
        // The minimum is taken over the allowances themselves: a raised restriction that is not
        // the tightest on the edge adds nothing to it.
        auto edge_allowance = [&](int e, double out) {
            const auto &ed = P.edges[static_cast<std::size_t>(e)];
            const int from =
                rep[static_cast<std::size_t>(P.nodes[static_cast<std::size_t>(ed.from)].cls)];
            const int to =
                rep[static_cast<std::size_t>(P.consumers[static_cast<std::size_t>(ed.to)].cls)];
            const int p = P.nodes[static_cast<std::size_t>(ed.from)].product;
            double allow = out;
            for (std::size_t g = 0; g < P.leak_rows.size(); ++g) {
                const int r = P.leak_rows[g].first;
                if (!in.restriction_active[r])
                    continue;
                if (m.restrictions[static_cast<std::size_t>(r)].blocks(from, to, p))
                    allow =
                        std::min(allow, in.restriction_leakage[r] * out +
                                            (static_cast<int>(g) == raise_res ? res_delta : 0.0));
            }
            return allow;
        };
        std::vector<double> x(N, 0.0), got(K, 0.0);
        std::vector<std::vector<int>> nodes_of(m.products.size());
        for (std::size_t n = 0; n < N; ++n)
            nodes_of[static_cast<std::size_t>(P.nodes[n].product)].push_back(static_cast<int>(n));
        // Recipe consumers of each node (one per input).
        std::vector<std::vector<int>> inputs_of(N);
        for (std::size_t k = 0; k < K; ++k)
            if (P.consumers[k].kind == Problem::Consumer::Recipe)
                inputs_of[static_cast<std::size_t>(P.consumers[k].node)].push_back(
                    static_cast<int>(k));
        std::vector<double> offered(K, 0.0);
        for (auto it = c.downstream_first.rbegin(); it != c.downstream_first.rend(); ++it) {
            const int p = *it; // inputs first
            for (int n : nodes_of[static_cast<std::size_t>(p)]) {
                double out = cap(static_cast<std::size_t>(n));
                for (int k : inputs_of[static_cast<std::size_t>(n)])
                    out = std::min(out, got[static_cast<std::size_t>(k)] / recipe_coef(P, k));
                x[static_cast<std::size_t>(n)] = std::max(0.0, out);
                for (int e : P.edges_from[static_cast<std::size_t>(n)]) {
                    const int k = P.edges[static_cast<std::size_t>(e)].to;
                    if (P.consumers[static_cast<std::size_t>(k)].kind == Problem::Consumer::Refill)
                        continue;
                    const double s = share(n, k);
                    const double amount = s * edge_allowance(e, x[static_cast<std::size_t>(n)]);
                    if (amount > 0)
                        offered[static_cast<std::size_t>(k)] += amount;
                }
            }
            // Consumers of p receive their offers, at most their need (cut in proportion).
            for (std::size_t k = 0; k < K; ++k) {
                if (P.consumers[k].product != p)
                    continue;
                got[k] = std::min(offered[k], need[k]);
            }
        }
        std::vector<double> floor(K, -1.0);
        for (std::size_t k = 0; k < K; ++k)
            if (P.consumers[k].kind == Problem::Consumer::Demand)
                floor[k] = std::max(0.0, got[k] - 1e-12);
        return floor;
    }

    /// What each local demand gets in a round of progressive filling that serves the demands U
    /// in full: a demand of U its want, one already fixed its delivery, any other its floor (0
    /// without one), converted from P's unit to the product's own; a demand not in P (another
    /// home's) 0.
    const std::vector<double> &round_amounts(const Problem &P, const std::vector<double> &fixed,
                                             const std::vector<double> &floor,
                                             const std::vector<int> &U) const {
        auto &a = A.amount_;
        a.assign(c.demands.size(), 0.0);
        for (std::size_t k = 0; k < P.consumers.size(); ++k) {
            const auto &con = P.consumers[k];
            if (con.kind != Problem::Consumer::Demand)
                continue;
            const auto i = static_cast<std::size_t>(con.demand);
            const double u = unit[static_cast<std::size_t>(con.product)];
            if (fixed[k] >= 0)
                a[i] = fixed[k] == con.want ? in.want[c.demands[i]] : fixed[k] * u;
            else if (!floor.empty() && floor[k] > 0)
                a[i] = floor[k] * u;
        }
        for (int k : U) {
            const auto i =
                static_cast<std::size_t>(P.consumers[static_cast<std::size_t>(k)].demand);
            a[i] = in.want[c.demands[i]];
        }
        return a;
    }

    /// set_verify_certificates: the LPs' deliveries `fixed` of P's demands must be their wants
    /// (to the LPs' tolerance: 1e-9 of the unit, in which every want is at most 1; -1: not
    /// checked).
    void verify_demands_full(const Problem &P, const std::vector<double> &fixed,
                             const char *what) const {
        for (std::size_t k = 0; k < P.consumers.size(); ++k) {
            const auto &con = P.consumers[k];
            if (con.kind != Problem::Consumer::Demand || fixed[k] < 0 ||
                fixed[k] >= con.want - 1e-9)
                continue;
            std::ostringstream os;
            os.precision(17);
            os << "the demands of " << what << " were certified as served in full, but the LPs "
               << "deliver " << fixed[k] << " of " << con.want << " (in the product's unit) to '"
               << m.demands[static_cast<std::size_t>(
                                c.demands[static_cast<std::size_t>(con.demand)])]
                      .id
               << "'";
            throw std::logic_error(os.str());
        }
    }

    void solve(Problem &P2);
    void chokepoints(Problem &P2, Problem *P1, const std::vector<double> &fixed,
                     const std::vector<double> &floor);
};

void Allocator::solve_component(Component &c, const MonthInput &in, MonthOutput &out) {
    ++stats_.solves;
    cert_comp_ = nullptr; // full_service_restricted's last answer was another month's
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
        // The deliveries are those of the last month; the chokepoints too, unless the stockpiles
        // now cover a different set of gaps (the test counts shortfalls after stockpile draws).
        if (!same_short(c, in)) {
            Month mo(*this, c, in);
            mo.units();
            mo.classes();
            Problem &P2 = mo.build(false);
            Problem *P1 =
                m_.allocation.rule == AllocationRule::HomeFirst ? &mo.build(true) : nullptr;
            mo.whole = &P2;
            mo.chokepoints(P2, P1, c.last_fixed, c.last_floor);
        }
    } else if (monotone || full_service_certified(c, in)) {
        // More capacity and less demand under the same restrictions than a month served in full,
        // or a month proved servable in full: every demand (and refill) gets what it wants,
        // exactly what the LPs' progressive filling gives when every tier reaches t = 1.
        ++(monotone ? stats_.monotone_hits : stats_.certified);
        if (verify_certificates_)
            verify_full_service(c, in, monotone);
        for (std::size_t i = 0; i < nd; ++i) {
            c.delivered[i] = in.want[c.demands[i]];
            c.refill[i] = in.refill_want[c.demands[i]];
        }
        c.binding_nodes.clear();
        c.binding_restrictions.clear();
        c.is_short = false;
        c.last_short.assign(nd, 0);
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

// With no trade restriction active in the component, every producer of a product may ship to
// every consumer of it (the network is one pooled market per product, whatever the rule's
// phase 1 gives: a delivery in full is at least any floor). Each product has one recipe, so what
// the component must produce to serve every demand and refill in full is fixed: a product's need
// is its demands' and refills' wants plus, for every product made from it, that product's need
// times its recipe coefficient. Every need within its producers' total capacity is then a
// feasible production plan that serves everything (each tier's LP would reach t = 1); any need
// above capacity leaves the question to the LPs.
bool Allocator::full_service_certified(const Component &c, const MonthInput &in) {
    if (inject_failure_)
        return false;
    for (int r : c.restrictions)
        if (in.restriction_active[r])
            return full_service_restricted(c, in);
    refill(need_, m_.products.size(), 0.0);
    refill(supply_, m_.products.size(), 0.0);
    for (int d : c.demands)
        need_[static_cast<std::size_t>(m_.demands[static_cast<std::size_t>(d)].product)] +=
            in.want[d] + in.refill_want[d];
    for (int f : c.facilities)
        supply_[static_cast<std::size_t>(m_.facilities[static_cast<std::size_t>(f)].product)] +=
            in.capacity[f];
    for (int p : c.downstream_first) { // a product's need is complete before its inputs'
        const double need = need_[static_cast<std::size_t>(p)];
        if (!(need <= supply_[static_cast<std::size_t>(p)]))
            return false;
        for (const auto &[q, coef] : m_.products[static_cast<std::size_t>(p)].recipe)
            need_[static_cast<std::size_t>(q)] += coef * need;
    }
    return true;
}

// With trade restrictions active the lanes differ by country, so the plan is built country by
// country, one product at a time, most processed first (every product's need is complete before
// its inputs'). A product's need per country is its demands' wants and refills there plus, for
// every product made from it there, the input that production takes. Its producers ship through
// a network: source -> exporter country e (its capacity) -> importer country i (its need) ->
// sink, where a lane e -> i that no active restriction blocks is open, and one blocked by a
// restriction r runs through a bucket (e, r) holding the restriction's allowance,
// leakage_r x capacity_e (in the LP an exporter's blocked shipments are at most the leakage
// times its production, and production may reach capacity). Restrictions whose blocked sets
// nest chain their buckets, so a lane under several counts against each; a lane under
// restrictions that overlap without nesting is left closed (a sufficient condition need not use
// it). The amounts asked for may replace the wants (`amount`: a round of progressive filling
// with its deliveries fixed so far and floors), and `home` limits the plan to one home's
// facilities, demands and lanes (phase 1 of home_first). When the maximum flow
// serves every importer in full, production at e is the larger of what it ships and what its
// buckets need (bucket / leakage), at most its capacity, and its inputs are needed at e. If
// every product is served so, the flows form a feasible solution of the month's LP at the
// country level, and summing rows over the countries of a class gives one at the class level
// (the classes group countries every active restriction treats alike): every tier's LP would
// reach t = 1. A flow that leaves some importer short proves nothing; the LPs then decide.
bool Allocator::full_service_restricted(const Component &c, const MonthInput &in, int home,
                                        bool refills, const std::vector<double> *amount) {
    if (inject_failure_)
        return false;
    // The amounts asked for, each as full_service_flow computes it.
    cert_ask_.clear();
    for (std::size_t i = 0; i < c.demands.size(); ++i) {
        const int d = c.demands[i];
        cert_ask_.push_back(amount ? (*amount)[i]
                                   : in.want[d] + (refills ? in.refill_want[d] : 0.0));
    }
    if (cert_comp_ == &c && cert_home_ == home && cert_amounts_ == cert_ask_)
        return cert_answer_;
    cert_answer_ = full_service_flow(c, in, home, refills, amount);
    cert_comp_ = &c;
    cert_home_ = home;
    cert_amounts_.swap(cert_ask_);
    return cert_answer_;
}

// The network of full_service_flow for product p, its exporters and importers (countries) and
// the restrictions active on it (bucket), built on first use and kept. Vertices: 0 source,
// 1 sink, exporters, buckets (exporter-major), importers. Edges carry no numbers here, only
// where their capacities come from (FlowNet::Cap); full_service_flow sets them each month.
const Allocator::FlowNet &Allocator::flow_net(int p, const std::vector<int> &exporters,
                                              const std::vector<int> &importers,
                                              const std::vector<int> &bucket) {
    std::uint64_t key = 0xcbf29ce484222325ULL ^ static_cast<std::uint64_t>(p);
    auto mix = [&key](const std::vector<int> &v) {
        key = (key ^ v.size()) * 0x100000001b3ULL;
        for (int x : v)
            key = (key ^ static_cast<std::uint32_t>(x)) * 0x100000001b3ULL;
    };
    mix(exporters);
    mix(importers);
    mix(bucket);
    const auto [lo, hi] = net_index_.equal_range(key);
    for (auto it = lo; it != hi; ++it) {
        const FlowNet &n = nets_[it->second];
        if (n.product == p && n.exporters == exporters && n.importers == importers &&
            n.bucket == bucket)
            return n;
    }
    // A bounded cache (a month's networks number a few dozen): when full, start afresh.
    if (nets_.size() >= kMaxFlowNets || !keep_nets_) {
        nets_.clear();
        net_index_.clear();
    }
    net_index_.emplace(key, nets_.size());
    FlowNet &n = nets_.emplace_back();
    n.product = p;
    n.exporters = exporters;
    n.importers = importers;
    n.bucket = bucket;
    const std::size_t nE = exporters.size(), nB = bucket.size(), nI = importers.size();
    auto ve = [](std::size_t a) { return 2 + a; };
    auto vb = [&](std::size_t a, std::size_t j) { return 2 + nE + a * nB + j; };
    auto vi = [&](std::size_t i) { return 2 + nE + nE * nB + i; };
    n.head.assign(2 + nE + nE * nB + nI, -1); // the vertices
    auto add = [&](std::size_t u, std::size_t v, FlowNet::Kind kind, std::size_t a, std::size_t j) {
        const int k = static_cast<int>(n.to.size());
        n.to.push_back(static_cast<int>(v));
        n.next.push_back(n.head[u]);
        n.head[u] = k;
        n.to.push_back(static_cast<int>(u));
        n.next.push_back(n.head[v]);
        n.head[v] = k + 1;
        n.cap.push_back({kind, static_cast<int>(a), static_cast<int>(j)});
        return k;
    };
    n.src_edge.assign(nE, -1);
    n.sink_edge.assign(nI, -1);
    n.into.assign(nE * nB, -1);                 // the edge into each bucket
    std::vector<char> &blocked = flow_blocked_; // [j * nI + i] of the exporter at hand
    std::vector<int> &order = flow_order_;
    std::vector<std::size_t> &size = flow_size_;
    for (std::size_t i = 0; i < nI; ++i)
        n.sink_edge[i] = add(vi(i), 1, FlowNet::Need, i, 0);
    for (std::size_t a = 0; a < nE; ++a) {
        const int e = exporters[a];
        n.src_edge[a] = add(0, ve(a), FlowNet::Supply, a, 0);
        // The lanes each restriction blocks from e, as sets of importers. Nested or disjoint
        // sets (a licensing regime to all, a ban to some under it) form a tree: a lane runs
        // through the bucket of every restriction that blocks it, innermost last, so that its
        // flow counts against each allowance, as in the LP's leak rows. Sets that overlap
        // otherwise make no tree; a lane blocked by several is then left closed.
        refill(blocked, nB * nI, char{0});
        refill(size, nB, std::size_t{0});
        for (std::size_t j = 0; j < nB; ++j)
            for (std::size_t i = 0; i < nI; ++i)
                if (m_.restrictions[static_cast<std::size_t>(bucket[j])].blocks(e, importers[i],
                                                                                p)) {
                    blocked[j * nI + i] = 1;
                    ++size[j];
                }
        order.clear();
        for (std::size_t j = 0; j < nB; ++j)
            if (size[j] > 0)
                order.push_back(static_cast<int>(j));
        std::stable_sort(order.begin(), order.end(), [&](int x, int y) {
            return size[static_cast<std::size_t>(x)] > size[static_cast<std::size_t>(y)];
        });
        auto subset = [&](std::size_t x, std::size_t y) { // blocked set of x within y's
            for (std::size_t i = 0; i < nI; ++i)
                if (blocked[x * nI + i] && !blocked[y * nI + i])
                    return false;
            return true;
        };
        auto disjoint = [&](std::size_t x, std::size_t y) {
            for (std::size_t i = 0; i < nI; ++i)
                if (blocked[x * nI + i] && blocked[y * nI + i])
                    return false;
            return true;
        };
        bool tree = true;
        for (std::size_t q = 0; q < order.size() && tree; ++q)
            for (std::size_t r = 0; r < q && tree; ++r) {
                const auto x = static_cast<std::size_t>(order[q]),
                           y = static_cast<std::size_t>(order[r]);
                tree = subset(x, y) || disjoint(x, y);
            }
        for (std::size_t q = 0; q < order.size(); ++q) {
            const auto j = static_cast<std::size_t>(order[q]);
            std::size_t from = ve(a); // the innermost earlier set holding this one
            if (tree)
                for (std::size_t r = 0; r < q; ++r)
                    if (subset(j, static_cast<std::size_t>(order[r])))
                        from = vb(a, static_cast<std::size_t>(order[r]));
            n.into[a * nB + j] = add(from, vb(a, j), FlowNet::Allowance, a, j);
        }
        for (std::size_t i = 0; i < nI; ++i) {
            std::size_t blocking = 0, innermost = 0;
            for (const int j : order)
                if (blocked[static_cast<std::size_t>(j) * nI + i]) {
                    ++blocking;
                    innermost = static_cast<std::size_t>(j); // smaller sets come later
                }
            if (blocking == 0) {
                const int k = add(ve(a), vi(i), FlowNet::Open, 0, 0);
                n.direct.push_back({static_cast<int>(a), static_cast<int>(i), k});
            } else if (blocking == 1 || tree)
                add(vb(a, innermost), vi(i), FlowNet::Open, 0, 0);
        }
    }
    return n;
}

bool Allocator::full_service_flow(const Component &c, const MonthInput &in, int home, bool refills,
                                  const std::vector<double> *amount) {
    const std::size_t C = m_.countries.size(), NP = m_.products.size();
    const auto &homes = m_.allocation.home;
    auto outside = [&](int country) {
        return home >= 0 &&
               (homes.empty() ? country : homes[static_cast<std::size_t>(country)]) != home;
    };
    // [product * C + country]; only the component's products and countries are written or
    // read (set here, copied below), the rest of the arrays is never looked at.
    cneed_.resize(NP * C);
    csupply_.resize(NP * C);
    cneed0_.resize(NP * C);
    auto each_entry = [&](auto &&f) {
        for (int p : c.products)
            for (int k : c.countries)
                f(static_cast<std::size_t>(p) * C + static_cast<std::size_t>(k));
    };
    each_entry([&](std::size_t i) { cneed_[i] = csupply_[i] = 0.0; });
    for (std::size_t i = 0; i < c.demands.size(); ++i) {
        const int d = c.demands[i];
        const auto &dm = m_.demands[static_cast<std::size_t>(d)];
        if (outside(dm.country))
            continue;
        cneed_[static_cast<std::size_t>(dm.product) * C + static_cast<std::size_t>(dm.country)] +=
            amount ? (*amount)[i] : in.want[d] + (refills ? in.refill_want[d] : 0.0);
    }
    for (int f : c.facilities) {
        const auto &fac = m_.facilities[static_cast<std::size_t>(f)];
        if (outside(fac.country))
            continue;
        csupply_[static_cast<std::size_t>(fac.product) * C +
                 static_cast<std::size_t>(fac.country)] += in.capacity[f];
    }
    // The demands' own needs, kept for the restarts below.
    each_entry([&](std::size_t i) { cneed0_[i] = cneed_[i]; });
    // A necessary condition first, without any network: every unit needed of a product must be
    // made by its facilities, and making it needs its inputs (the recipes), so if some product's
    // total need exceeds its total capacity no flow can serve everything. The margin (1e-9)
    // keeps this to cases the flow below fails on too (it serves an importer to 1e-12 of its
    // need); it only spares the networks, the answer is the same.
    std::vector<double> &total = ctotal_;
    refill(total, NP, 0.0);
    for (int p : c.products) {
        double need = 0.0;
        for (int k : c.countries)
            need += cneed0_[static_cast<std::size_t>(p) * C + static_cast<std::size_t>(k)];
        total[static_cast<std::size_t>(p)] = need;
    }
    for (int p : c.downstream_first) {
        const double need = total[static_cast<std::size_t>(p)];
        if (need <= 0.0)
            continue;
        double supply = 0.0;
        for (int k : c.countries)
            supply += csupply_[static_cast<std::size_t>(p) * C + static_cast<std::size_t>(k)];
        if (need * (1.0 - 1e-9) > supply)
            return false;
        for (const auto &[q, coef] : m_.products[static_cast<std::size_t>(p)].recipe)
            total[static_cast<std::size_t>(q)] += coef * need;
    }
    std::vector<int> &bucket = flow_bucket_; // active restrictions on the product
    // The plan fixes where each product is made before its inputs are routed: a flow that
    // makes a product where its input cannot reach (a refinery abroad while its feed is under
    // a control) fails although another plan serves everything. Then the production there is
    // capped at what its input could reach and the plan is built again, a few times at most.
    for (int attempt = 0;; ++attempt) {
        bool restart = false;
        each_entry([&](std::size_t i) { cneed_[i] = cneed0_[i]; });
        for (int p : c.downstream_first) {
            const double *need = &cneed_[static_cast<std::size_t>(p) * C];
            const double *supply = &csupply_[static_cast<std::size_t>(p) * C];
            std::vector<int> &exporters = flow_exporters_, &importers = flow_importers_;
            exporters.clear();
            importers.clear();
            for (int k : c.countries) {
                if (need[k] > 0)
                    importers.push_back(k);
                if (supply[k] > 0)
                    exporters.push_back(k);
            }
            if (importers.empty())
                continue;
            if (exporters.empty())
                return false;
            bucket.clear();
            for (int r : c.restrictions)
                if (in.restriction_active[r] && m_.restrictions[static_cast<std::size_t>(r)]
                                                    .product[static_cast<std::size_t>(p)])
                    bucket.push_back(r);
            const FlowNet &net = flow_net(p, exporters, importers, bucket);
            const std::size_t nE = exporters.size(), nB = bucket.size(), nI = importers.size();
            const std::size_t V = net.head.size(); // vertices
            const std::vector<int> &head = net.head, &next = net.next, &to = net.to;
            const std::vector<int> &src_edge = net.src_edge, &sink_edge = net.sink_edge,
                                   &into = net.into;
            const int edges = static_cast<int>(to.size());
            // The capacities from this month's numbers; then each open lane first served
            // directly, as far as it goes (the shortest augmenting paths, found without a
            // search), in the order the lanes were added. Each such flow reads and changes only
            // edges added before its lane, so this gives the residuals that setting each
            // capacity as its edge is added and serving each lane as it is added would give.
            constexpr double kOpen = std::numeric_limits<double>::infinity();
            std::vector<double> &res = flow_cap_; // residual capacities; res[k ^ 1]: flow on k
            res.resize(to.size());
            for (std::size_t k = 0; k < net.cap.size(); ++k) {
                const FlowNet::Cap &cp = net.cap[k];
                double v = kOpen;
                switch (cp.kind) {
                case FlowNet::Need:
                    v = need[importers[static_cast<std::size_t>(cp.a)]];
                    break;
                case FlowNet::Supply:
                    v = supply[exporters[static_cast<std::size_t>(cp.a)]];
                    break;
                case FlowNet::Allowance:
                    v = in.restriction_leakage[bucket[static_cast<std::size_t>(cp.j)]] *
                        supply[exporters[static_cast<std::size_t>(cp.a)]];
                    break;
                case FlowNet::Open:
                    break;
                }
                res[2 * k] = v;
                res[2 * k + 1] = 0.0;
            }
            for (const auto &[a, i, k] : net.direct) {
                const int se = src_edge[static_cast<std::size_t>(a)],
                          ke = sink_edge[static_cast<std::size_t>(i)];
                const double f =
                    std::min(res[static_cast<std::size_t>(se)], res[static_cast<std::size_t>(ke)]);
                if (f > 0.0)
                    for (const int edge : {se, k, ke}) {
                        auto &r = res[static_cast<std::size_t>(edge)];
                        r = r == f ? 0.0 : r - f;
                        res[static_cast<std::size_t>(edge ^ 1)] += f;
                    }
            }
            // Edmonds-Karp on the residual capacities: shortest augmenting paths; each augmentation
            // empties the bottleneck edge exactly, so it ends (the cap on rounds is a safeguard).
            std::vector<int> &prev = flow_prev_, &queue = flow_queue_; // prev: the edge in
            auto all_served = [&] {
                for (std::size_t i = 0; i < nI; ++i)
                    if (res[static_cast<std::size_t>(sink_edge[i])] > 1e-12 * need[importers[i]])
                        return false;
                return true;
            };
            for (std::size_t round = 0; !all_served(); ++round) {
                if (round > 4 * static_cast<std::size_t>(edges))
                    return false;
                refill(prev, V, -2);
                prev[0] = -1;
                queue.assign(1, 0);
                for (std::size_t h = 0; h < queue.size() && prev[1] == -2; ++h)
                    for (int k = head[static_cast<std::size_t>(queue[h])]; k >= 0;
                         k = next[static_cast<std::size_t>(k)]) {
                        const auto v = static_cast<std::size_t>(to[static_cast<std::size_t>(k)]);
                        if (prev[v] == -2 && res[static_cast<std::size_t>(k)] > 0.0) {
                            prev[v] = k;
                            queue.push_back(static_cast<int>(v));
                        }
                    }
                if (prev[1] == -2)
                    break;
                double f = kOpen;
                for (int k = prev[1]; k >= 0;
                     k = prev[static_cast<std::size_t>(to[static_cast<std::size_t>(k ^ 1)])])
                    f = std::min(f, res[static_cast<std::size_t>(k)]);
                for (int k = prev[1]; k >= 0;
                     k = prev[static_cast<std::size_t>(to[static_cast<std::size_t>(k ^ 1)])]) {
                    auto &r = res[static_cast<std::size_t>(k)];
                    r = r == f ? 0.0 : r - f;
                    res[static_cast<std::size_t>(k ^ 1)] += f;
                }
            }
            auto left = [&](int k) { return res[static_cast<std::size_t>(k)]; }; // residual
            auto flow = [&](int k) { return res[static_cast<std::size_t>(k ^ 1)]; };
            for (std::size_t i = 0; i < nI && !restart; ++i) {
                if (left(sink_edge[i]) <= 1e-12 * need[importers[i]])
                    continue;
                // Short at importer e: if what e lacks is the input of one product made there,
                // cap that production at what reached e beyond e's own demands, and start again.
                const int e = importers[i];
                const double got = flow(sink_edge[i]);
                const double own =
                    cneed0_[static_cast<std::size_t>(p) * C + static_cast<std::size_t>(e)];
                int made = -1;
                double coef = 0;
                for (int q : c.products)
                    for (const auto &[input, a] : m_.products[static_cast<std::size_t>(q)].recipe)
                        if (input == p) {
                            made = made < 0 ? q : -2;
                            coef = a;
                        }
                if (attempt >= 8 || made < 0 || got < own || coef <= 0)
                    return false;
                csupply_[static_cast<std::size_t>(made) * C + static_cast<std::size_t>(e)] =
                    (got - own) / coef;
                restart = true;
            }
            if (restart)
                break;
            const auto &recipe = m_.products[static_cast<std::size_t>(p)].recipe;
            if (recipe.empty())
                continue;
            for (std::size_t a = 0; a < nE; ++a) {
                const int e = exporters[a];
                double x = flow(src_edge[a]); // shipped
                for (std::size_t j = 0; j < nB; ++j) {
                    const int edge = into[a * nB + j];
                    if (edge < 0)
                        continue;
                    const double leak = in.restriction_leakage[bucket[j]];
                    const double through = flow(edge);
                    if (through > 0.0)
                        x = std::max(x, through / leak);
                }
                x = std::min(x, supply[e]);
                for (const auto &[q, coef] : recipe)
                    cneed_[static_cast<std::size_t>(q) * C + static_cast<std::size_t>(e)] +=
                        coef * x;
            }
        }
        if (!restart)
            return true;
    }
}

// The LPs answer to their certificate's tolerance, 1e-9 of the product's unit (its largest
// want this month, see Month::units): a refill of 1e-5 t beside a want of 3 t may come back as
// 0.99999891 of itself, which is full service to that tolerance.
void Allocator::verify_full_service(Component &c, const MonthInput &in, bool monotone) {
    solve_fresh(c, in);
    for (std::size_t i = 0; i < c.demands.size(); ++i) {
        const int d = c.demands[i];
        const int p = m_.demands[static_cast<std::size_t>(d)].product;
        double unit = 0;
        for (int e : c.demands)
            if (m_.demands[static_cast<std::size_t>(e)].product == p)
                unit = std::max({unit, in.want[e], in.refill_want[e]});
        const double tol = 1e-9 * unit;
        if (std::abs(c.delivered[i] - in.want[d]) <= tol &&
            std::abs(c.refill[i] - in.refill_want[d]) <= tol)
            continue;
        std::ostringstream os;
        os.precision(17);
        os << "a month " << (monotone ? "taken as monotone" : "certified")
           << " as served in full is not: the LPs deliver " << c.delivered[i] << " of "
           << in.want[d] << " (refill " << c.refill[i] << " of " << in.refill_want[d]
           << ") to demand '" << m_.demands[static_cast<std::size_t>(d)].id
           << "', beyond the LPs' tolerance " << tol;
        throw std::logic_error(os.str());
    }
}

bool Allocator::short_after(const Component &c, const MonthInput &in, std::size_t i) const {
    const int d = c.demands[i];
    const double avail = in.stock_available ? in.stock_available[d] : 0.0;
    return month_gap(in.want[d], c.delivered[i], avail).shortfall > 0;
}

void Allocator::short_after(const Component &c, const MonthInput &in, std::vector<char> &s) const {
    s.resize(c.demands.size());
    for (std::size_t i = 0; i < c.demands.size(); ++i)
        s[i] = short_after(c, in, i);
}

bool Allocator::same_short(const Component &c, const MonthInput &in) const {
    if (c.last_short.size() != c.demands.size())
        return false;
    for (std::size_t i = 0; i < c.demands.size(); ++i)
        if (short_after(c, in, i) != static_cast<bool>(c.last_short[i]))
            return false;
    return true;
}

void Allocator::solve_fresh(Component &c, const MonthInput &in) {
    c.binding_nodes.clear();
    c.binding_restrictions.clear();
    c.is_short = false;
    Month mo(*this, c, in);
    if (!mo.units()) {
        std::fill(c.delivered.begin(), c.delivered.end(), 0.0);
        std::fill(c.refill.begin(), c.refill.end(), 0.0);
        c.last_short.assign(c.demands.size(), 0);
        return;
    }
    mo.classes();
    mo.solve(mo.build(false));
}

void Allocator::Month::solve(Problem &P2) {
    whole = &P2;
    // Phase 1 of the rule: each demand's floor (its delivery before the pooled market).
    std::vector<double> floor;
    Problem *P1 = nullptr;
    const bool home = rule == AllocationRule::HomeFirst;
    if (home) {
        P1 = &build(true);
        floor = home_floors(*P1, -1, 0.0);
    } else if (rule == AllocationRule::Proportional) {
        floor = contracts(P2, -1, 0.0, -1, 0.0);
    }
    // Phase 2 (the whole of the coordinated rule): tiers, then refills, over every lane.
    std::vector<double> fixed(P2.consumers.size(), -1.0);
    const bool demands_full = A.full_service_restricted(c, in, -1, false);
    A.stats_.certified_demands += demands_full;
    auto key = [&](int what, int tier, std::uint64_t r) {
        return role(static_cast<std::uint64_t>(what),
                    what == 1 ? static_cast<std::uint64_t>(tier) : 0, r);
    };
    if (demands_full && A.verify_certificates_) {
        std::vector<double> by_lp(P2.consumers.size(), -1.0);
        tiers(P2, by_lp, floor, false, false, key, kCertNone);
        verify_demands_full(P2, by_lp, "a month");
    }
    tiers(P2, fixed, floor, true, demands_full, key);

    // Results.
    std::fill(c.delivered.begin(), c.delivered.end(), 0.0);
    std::fill(c.refill.begin(), c.refill.end(), 0.0);
    for (std::size_t k = 0; k < P2.consumers.size(); ++k) {
        const auto &con = P2.consumers[k];
        if (con.kind == Problem::Consumer::Recipe)
            continue;
        const int d = c.demands[static_cast<std::size_t>(con.demand)];
        if (con.kind == Problem::Consumer::Demand) {
            const double want = in.want[d];
            double v = fixed[k] == con.want
                           ? want
                           : fixed[k] * unit[static_cast<std::size_t>(con.product)];
            c.delivered[static_cast<std::size_t>(con.demand)] = std::min(v, want);
        } else {
            if (fixed[k] <= 0)
                continue; // nothing to refill, or nothing left
            const double want = in.refill_want[d];
            const double v = fixed[k] == con.want
                                 ? want
                                 : fixed[k] * unit[static_cast<std::size_t>(con.product)];
            c.refill[static_cast<std::size_t>(con.demand)] = std::min(v, want);
        }
    }
    c.last_fixed = fixed;
    c.last_floor = floor;
    chokepoints(P2, P1, fixed, floor);
}

// Chokepoints: in a month in which some demand is short after its stockpile draw, let k be the
// most urgent such tier. With the tiers above k held at their deliveries, the demands of tier k
// that are not short held at theirs, and (under home_first and proportional) every demand's
// phase-1 delivery honoured, the most tier k's short demands can receive (the sum of their fill
// fractions) is V. A node (restriction) binds if raising its capacity (allowance) alone raises V
// - under a rule, with the phase-1 deliveries recomputed for the raised capacity. V is concave
// and non-decreasing in each capacity, so any increase detects a positive right derivative; a tie
// between two stages shows none.
void Allocator::Month::chokepoints(Problem &P, Problem *P1, const std::vector<double> &fixed,
                                   const std::vector<double> &floor) {
    c.binding_nodes.clear();
    c.binding_restrictions.clear();
    A.short_after(c, in, c.last_short);
    int short_tier = -1;
    for (std::size_t k = 0; k < P.consumers.size(); ++k) {
        const auto &con = P.consumers[k];
        if (con.kind == Problem::Consumer::Demand &&
            c.last_short[static_cast<std::size_t>(con.demand)] &&
            (short_tier < 0 || con.tier < short_tier))
            short_tier = con.tier;
    }
    c.is_short = short_tier >= 0;
    if (!c.is_short)
        return;
    auto is_short_consumer = [&](std::size_t k) {
        const auto &con = P.consumers[k];
        return con.kind == Problem::Consumer::Demand && con.tier == short_tier &&
               c.last_short[static_cast<std::size_t>(con.demand)];
    };
    // Lower bounds: fixed deliveries of the demands above tier k and of tier k's demands that
    // are not short; the rule's floors (given) for every other consumer.
    auto bounds = [&](const std::vector<double> &floors) {
        std::vector<Problem::Row> rows;
        std::vector<double> rhs;
        std::vector<double> held(P.consumers.size(), -1.0), fl(P.consumers.size(), -1.0);
        for (std::size_t k = 0; k < P.consumers.size(); ++k) {
            const auto &con = P.consumers[k];
            const bool above = con.kind == Problem::Consumer::Demand && con.tier < short_tier;
            const bool level_not_short = con.kind == Problem::Consumer::Demand &&
                                         con.tier == short_tier && !is_short_consumer(k);
            if ((above || level_not_short) && fixed[k] >= 0)
                held[k] =
                    floors.empty() || floors[k] < 0 ? fixed[k] : std::max(fixed[k], floors[k]);
            else if (!floors.empty() && floors[k] >= 0 && con.kind == Problem::Consumer::Demand)
                fl[k] = floors[k];
        }
        lower_rows(P, held, fl, rows, rhs);
        return std::make_pair(rows, rhs);
    };
    Problem::Row objective;
    for (std::size_t k = 0; k < P.consumers.size(); ++k) {
        if (!is_short_consumer(k))
            continue;
        const double w = P.consumers[k].want;
        if (w <= 0)
            continue;
        for (int e : P.edges_into[k])
            objective.push_back({static_cast<int>(P.nodes.size()) + e, 1.0 / w});
    }
    const auto base = bounds(floor);
    run_lp(P, role(3, static_cast<std::uint64_t>(short_tier), 0), base.first, base.second,
           objective);
    const LinearProgram *base_lp = lpp;
    const double V0 = lpp->objective();
    const double delta = 1.0; // one unit of the node's product: its largest monthly need
    // Under a rule the phase-1 deliveries are piecewise linear in the capacities (a home absorbs
    // a raise until its own need is met, then passes it on), so V with recomputed floors is not
    // concave: its right derivative is read from a small raise (1e-4 of the product's largest
    // monthly need) and counts above 1e-6 per unit (a gain above 1e-10, far above the LPs'
    // rounding).
    const double small = 1e-4, small_gain = 1e-10;
    const int N = static_cast<int>(P.nodes.size());
    // Most tests are settled by the optimal basis of V0 (a zero dual proves "does not bind"; a
    // positive dual with a basis that stays feasible proves "binds"); the rest re-solve.
    std::vector<double> node_d(static_cast<std::size_t>(N)), res_d(P.leak_rows.size());
    for (int n = 0; n < N; ++n)
        node_d[static_cast<std::size_t>(n)] =
            lpp->rhs_derivative({P.cap_row[static_cast<std::size_t>(n)]});
    for (std::size_t i = 0; i < P.leak_rows.size(); ++i)
        res_d[i] = in.restriction_active[P.leak_rows[i].first]
                       ? lpp->rhs_derivative(P.leak_rows[i].second)
                       : 0.0;
    // The gain in V when the rows `bump_rows` rise by `by`, with `floors` (recomputed under a
    // rule) or the month's. With recomputed floors the LP may have no solution: the raise would
    // have to take from a demand the test holds (the rule reallocates); the gain is then NaN and
    // the answer with the floors fixed stands.
    auto gain_with = [&](std::uint64_t key, const std::vector<int> &bump_rows,
                         const std::vector<double> &floors, double by) {
        const auto b = floors.empty() ? base : bounds(floors);
        std::vector<double> saved;
        for (int r : bump_rows) {
            saved.push_back(P.rhs[static_cast<std::size_t>(r)]);
            P.rhs[static_cast<std::size_t>(r)] += by;
        }
        // A test LP is the base LP with a few right-hand sides raised (and, under a rule, other
        // floors): a test that has no basis of its own yet (its first in this trial) starts from
        // the base's optimal basis, a few dual simplex pivots away, instead of from scratch
        // (~85 pivots). Only the simplex's starting point changes: the optimum is the same LP's.
        if (auto &slot = c.slots[key]; !slot.has_basis())
            slot = *base_lp;
        const bool ok = run_lp(P, key, b.first, b.second, objective, !floors.empty());
        for (std::size_t j = 0; j < bump_rows.size(); ++j)
            P.rhs[static_cast<std::size_t>(bump_rows[j])] = saved[j];
        return ok ? lpp->objective() - V0 : std::numeric_limits<double>::quiet_NaN();
    };
    // Under a rule, raising a capacity may also raise the phase-1 deliveries (home production
    // serves home first; a bigger supplier ships bigger contracts): they are recomputed, and V is
    // taken with floors max(old, new) (a raise never lowers a floor in the test: max-min fair
    // deliveries need not be monotone in a capacity, and the test asks what the raise can give
    // tier k with every guarantee kept). Higher floors only shrink what V can reach, so a node
    // that does not bind with the floors fixed does not bind under the rule: only the nodes
    // that do are tested again, with their recomputed floors.
    auto raised = [&](const std::vector<double> &fl) -> std::vector<double> {
        std::vector<double> out = fl;
        bool any = false;
        for (std::size_t k = 0; k < out.size(); ++k) {
            out[k] = std::max(out[k], floor[k]);
            any = any || out[k] > floor[k] + 1e-12;
        }
        return any ? out : std::vector<double>{};
    };
    auto raised_floors = [&](int n) -> std::vector<double> {
        if (rule == AllocationRule::Proportional)
            return raised(contracts(P, n, small, -1, 0.0));
        if (rule != AllocationRule::HomeFirst)
            return {};
        // Only a home whose phase-1 deliveries fall short can use more home capacity.
        const int h = home_of_class(P.nodes[static_cast<std::size_t>(n)].cls);
        bool room = false;
        for (std::size_t k = 0; k < P.consumers.size(); ++k) {
            const auto &con = P.consumers[k];
            room = room || (con.kind == Problem::Consumer::Demand && home_of_class(con.cls) == h &&
                            floor[k] < con.want - 1e-12);
        }
        return room ? raised(home_floors(*P1, n, small, floor)) : std::vector<double>{};
    };
    for (int n = 0; n < N; ++n) {
        const double d = node_d[static_cast<std::size_t>(n)];
        bool binds = std::isnan(d)
                         ? gain_with(role(4, static_cast<std::uint64_t>(n), 0),
                                     {P.cap_row[static_cast<std::size_t>(n)]}, {}, delta) > kBindEps
                         : d > kBindEps;
        if (binds && !floor.empty()) {
            const auto fl = raised_floors(n);
            if (!fl.empty()) {
                const double g = gain_with(role(4, static_cast<std::uint64_t>(n), 0),
                                           {P.cap_row[static_cast<std::size_t>(n)]}, fl, small);
                binds = std::isnan(g) || g > small_gain;
            }
        }
        if (binds)
            for (int mn : P.nodes[static_cast<std::size_t>(n)].model_nodes)
                c.binding_nodes.push_back(mn);
    }
    for (std::size_t i = 0; i < P.leak_rows.size(); ++i) {
        if (!in.restriction_active[P.leak_rows[i].first])
            continue; // not in force this month: nothing to bind
        const double d = res_d[i];
        bool binds = std::isnan(d)
                         ? gain_with(role(5, i, 0), P.leak_rows[i].second, {}, delta) > kBindEps
                         : d > kBindEps;
        if (binds && rule == AllocationRule::Proportional) {
            const auto fl = raised(contracts(P, -1, 0.0, static_cast<int>(i), small));
            if (!fl.empty()) {
                const double g = gain_with(role(5, i, 0), P.leak_rows[i].second, fl, small);
                binds = std::isnan(g) || g > small_gain;
            }
        }
        if (binds)
            c.binding_restrictions.push_back(P.leak_rows[i].first);
    }
}

} // namespace chokepoint
