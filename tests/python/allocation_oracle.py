#!/usr/bin/env python3
"""An independent oracle for one month of chokepoint's allocation rules (docs/model.md, "One month
of one trial" and "Allocation rules"), written from the documentation only: it does not port
src/engine/allocation.cpp and shares no code or method with it beyond the documented semantics.

What it computes: each demand's delivery in one month under `coordinated`, `home_first` (with
blocs) and `proportional` (`pooled` or `trade_shares` references), for a network given with fixed
monthly numbers. Stockpiles are not modelled (the differential test uses none).

How, and how it differs from the engine's method (docs/model.md, "How it is solved"):

- The network is solved per (product, country) node, every country on its own (no merging of
  countries into classes), all value chains in one LP (the chains do not interact: the max-min fair
  allocation of independent parts is the concatenation of theirs).
- Quantities are in the config's own units (no per-product rescaling).
- Every LP is solved by HiGHS (scipy.optimize.linprog, method="highs") with tight tolerances.
- Progressive filling (max-min fairness in fill fraction, tier by tier): one LP raises the common
  level t of the unfrozen demands of the tier; then, for each unfrozen demand, a *second LP* tries
  to raise that demand alone while every other unfrozen demand stays at its level
  max(floor, t x want) and the frozen ones at their deliveries. A demand that cannot rise above
  its level (by more than a tolerance) is frozen there. No dual value is read: the engine freezes
  by the sign of the duals of the fairness rows; this oracle decides by primal re-optimisation.
- Phase 1 of `proportional` (the contracts) is computed directly, products in recipe order.

Semantics as read from the docs (the readings of ambiguous points are marked READING):

- A node's production is at most its capacity; a recipe node's at most what each input it
  received allows (input >= coefficient x output); a node ships at most what it produced (output
  may be left unsold). A demand receives at most its want.
- A restriction (static lane, or export control in force) covering product p: for each exporter
  e, the total shipments of p from e to the blocked importers other than e itself are at most
  leakage x production of (p, e). READING: "production" is the LP's production variable of the
  node (which may exceed what is shipped, so that an exporter whose only buyers are blocked may
  still send leakage x what it can make), not a figure computed before the LP.
- A restriction's `all` means every country of the model (facilities' and demands' countries).
- home_first phase 1: each home (a country, or the union of overlapping blocs) runs the tiered
  filling on its own nodes only (a facility ships only to consumers of its own home); READING:
  restrictions between members of one bloc still apply in phase 1.
- Phase 2 (home_first, proportional): the coordinated tiered filling over every lane, each
  demand of every tier receiving at least its floor, a demand's level being max(floor, t x want).
- proportional phase 1: reference wants are a demand's want and, for a recipe node, coefficient x
  its capacity this month (READING: the available capacity, after availability and capacity
  shocks; "the undisrupted market" is read as "restrictions ignored" only). Pooled: supplier (p, s) offers each consumer of p the share
  ref_i / sum of refs of every consumer of p. trade_shares: the share of the consumer's country
  in table[p][country of s], split among that country's consumers of p by ref; an exporter the
  table does not list (or a product it does not list) is split pooled. The contract delivers
  share x production of the supplier x the smallest leakage of the restrictions in force that
  block the lane (1 when none), summed over suppliers and capped at the consumer's ref. A primary
  node produces its capacity; a recipe node min(capacity, min over inputs of received / coef).
  READING: the contracted quantity is delivered in full (not "at most": the docs say phase 1 is
  unique and computed directly).
"""
from collections import defaultdict

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

RULES = ("coordinated", "home_first", "proportional")

# HiGHS tolerances: the problems have integer-ish data of size O(1..100), so a tight primal
# feasibility tolerance keeps deliveries exact to ~1e-10 (the comparison tolerance is 1e-7).
_HIGHS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10,
          "presolve": True}


class OracleError(RuntimeError):
    pass


class Problem:
    """One month of a network with fixed numbers.

    products:      {product: {input product: coefficient}} ({} for a primary product)
    capacity:      {(product, country): monthly capacity} (summed over the node's facilities)
    demands:       [{"id", "product", "country", "want", "tier"}] (monthly want)
    restrictions:  [{"exporters": set, "importers": set, "products": set, "leakage": x}], those in
                   force this month
    rule, blocs (list of country sets), reference ("pooled"/"trade_shares"), trade_shares
    ({product: {exporter: {importer: share}}}).
    """

    def __init__(self, products, capacity, demands, restrictions=(), rule="coordinated",
                 blocs=(), reference="pooled", trade_shares=None):
        self.products = {p: dict(r) for p, r in products.items()}
        self.capacity = dict(capacity)
        self.demands = [dict(d) for d in demands]
        self.restrictions = [dict(r) for r in restrictions]
        self.rule = rule
        self.blocs = [set(b) for b in blocs]
        self.reference = reference
        self.trade_shares = trade_shares or {}
        if rule not in RULES:
            raise OracleError(f"unknown rule {rule!r}")
        self.countries = sorted({c for (_, c) in self.capacity} | {d["country"] for d in self.demands})
        self.order = self._recipe_order()

    def _recipe_order(self):
        order, seen = [], set()

        def visit(p, stack):
            if p in seen:
                return
            if p in stack:
                raise OracleError(f"recipe cycle through {p}")
            for q in self.products[p]:
                visit(q, stack | {p})
            seen.add(p)
            order.append(p)

        for p in sorted(self.products):
            visit(p, frozenset())
        return order

    def nodes(self):
        return sorted(self.capacity)

    def leak(self, product, src, dst):
        """Tightest leakage of the restrictions blocking a shipment of product src -> dst (1 if
        none; a country's shipments to itself are never blocked)."""
        x = 1.0
        if src == dst:
            return x
        for r in self.restrictions:
            if product in r["products"] and src in r["exporters"] and dst in r["importers"]:
                x = min(x, r["leakage"])
        return x


# ---------------------------------------------------------------------------------------------
# The network LP
# ---------------------------------------------------------------------------------------------

class Network:
    """Variables and fixed rows of the network restricted to `countries` (None: all), with
    shipments allowed only when allowed(src_country, dst_country). Variables: production per node,
    shipment per (supplier node, consumer) arc, and the fill level t (last)."""

    def __init__(self, prob, countries=None, allowed=None):
        self.prob = prob
        keep = (lambda c: True) if countries is None else (lambda c: c in countries)
        allowed = allowed or (lambda s, d: True)
        self.nodes = [n for n in prob.nodes() if keep(n[1])]
        self.demand_idx = [i for i, d in enumerate(prob.demands) if keep(d["country"])]
        nvar = 0
        self.prod = {}
        for n in self.nodes:
            self.prod[n] = nvar
            nvar += 1
        # consumers of each product: ("D", demand index, country) or ("R", (q, c), country)
        consumers = defaultdict(list)
        for i in self.demand_idx:
            d = prob.demands[i]
            consumers[d["product"]].append(("D", i, d["country"]))
        for (q, c) in self.nodes:
            for p in prob.products[q]:
                consumers[p].append(("R", (q, c), c))
        self.arcs = []  # (var, product, src country, consumer)
        for (p, s) in self.nodes:
            for cons in consumers[p]:
                if allowed(s, cons[2]):
                    self.arcs.append((nvar, p, s, cons))
                    nvar += 1
        self.t = nvar
        nvar += 1
        self.nvar = nvar
        self.into_demand = defaultdict(list)
        for (v, p, s, cons) in self.arcs:
            if cons[0] == "D":
                self.into_demand[cons[1]].append(v)

        rows, rhs = [], []  # each row: {var: coef} <= rhs

        def row(coefs, b):
            rows.append(coefs)
            rhs.append(b)

        # A node ships at most what it produced.
        out_of = defaultdict(list)
        for (v, p, s, cons) in self.arcs:
            out_of[(p, s)].append(v)
        for n in self.nodes:
            r = {self.prod[n]: -1.0}
            for v in out_of[n]:
                r[v] = 1.0
            row(r, 0.0)
        # Recipes: coefficient x output <= input received, for every input.
        into_node = defaultdict(list)
        for (v, p, s, cons) in self.arcs:
            if cons[0] == "R":
                into_node[(cons[1], p)].append(v)
        for n in self.nodes:
            q, c = n
            for p, coef in prob.products[q].items():
                r = {self.prod[n]: float(coef)}
                for v in into_node[(n, p)]:
                    r[v] = -1.0
                row(r, 0.0)
        # Restrictions: per restriction, product and exporter, the shipments to the blocked
        # importers (other than the exporter itself) at most leakage x production.
        for res in prob.restrictions:
            for n in self.nodes:
                p, e = n
                if p not in res["products"] or e not in res["exporters"]:
                    continue
                vs = [v for (v, pp, s, cons) in self.arcs
                      if pp == p and s == e and cons[2] != e and cons[2] in res["importers"]]
                if not vs:
                    continue
                r = {v: 1.0 for v in vs}
                r[self.prod[n]] = -float(res["leakage"])
                row(r, 0.0)
        self.rows, self.rhs = rows, rhs
        self.bounds = [(0.0, None)] * nvar
        for n in self.nodes:
            self.bounds[self.prod[n]] = (0.0, float(prob.capacity[n]))
        self.bounds[self.t] = (0.0, 1.0)
        self.relaxed = 0

    def solve(self, objective, lower, level=None):
        """Maximise `objective` ({var: coef}) subject to the network rows, each demand i of
        `lower` receiving at least lower[i], each demand i of `level` receiving at least
        level[i] x t, every demand at most its want. Returns (value, x) or raises."""
        prob = self.prob
        rows = list(self.rows)
        rhs = list(self.rhs)
        self._lower_row_demand = {}
        for i in self.demand_idx:
            vs = self.into_demand[i]
            want = float(prob.demands[i]["want"])
            rows.append({v: 1.0 for v in vs})
            rhs.append(want)
            lo = lower.get(i, 0.0)
            if lo > 0.0:
                self._lower_row_demand[len(rows)] = i
                rows.append({v: -1.0 for v in vs})
                rhs.append(-lo)
            if level and i in level:
                r = {v: -1.0 for v in vs}
                r[self.t] = float(level[i])
                rows.append(r)
                rhs.append(0.0)
        data, ri, ci = [], [], []
        for k, r in enumerate(rows):
            for v, a in r.items():
                if a != 0.0:
                    data.append(a)
                    ri.append(k)
                    ci.append(v)
        A = coo_matrix((data, (ri, ci)), shape=(len(rows), self.nvar)).tocsr()
        c = np.zeros(self.nvar)
        for v, a in objective.items():
            c[v] = -a
        bounds = list(self.bounds)
        if not level:
            bounds[self.t] = (0.0, 0.0)
        res = linprog(c, A_ub=A, b_ub=np.array(rhs), bounds=bounds, method="highs",
                      options=_HIGHS)
        for relax in (1e-10, 1e-9, 1e-8):
            if res.status != 2 or not self._lower_row_demand:
                break
            # Infeasible by rounding of the bounds fixed by earlier LPs: again with them lowered
            # by `relax` of the want (counted in self.relaxed).
            self.relaxed += 1
            b = np.array(rhs)
            for k, i in self._lower_row_demand.items():  # rows -sum <= -lo
                b[k] = min(0.0, b[k] + relax * max(1.0, float(prob.demands[i]["want"])))
            res = linprog(c, A_ub=A, b_ub=b, bounds=bounds, method="highs", options=_HIGHS)
        if res.status != 0:
            raise OracleError(f"LP failed: status {res.status}: {res.message}")
        return -res.fun, res.x

    def delivered(self, x, i):
        return float(sum(x[v] for v in self.into_demand[i]))


def _gain_tol(want):
    """A demand that cannot rise by more than this above its level is frozen."""
    return 1e-9 * max(1.0, want)


def _margin(want):
    """Deliveries found by one LP become lower bounds of the next ones, lowered by this margin
    (an LP infeasible by rounding is solved again with them lowered by 1e-10, 1e-9, then 1e-8 of
    the want): far below the comparison tolerance (1e-7)."""
    return 1e-11 * max(1.0, want)


def tiered_filling(net, floors=None, stats=None):
    """Tier by tier progressive filling on `net` (its demands), each demand receiving at least
    floors[i]. A demand's level at fill t is max(floor, t x want). Returns {demand index:
    delivery}."""
    prob = net.prob
    floors = floors or {}
    fixed = {}
    # Floors are deliveries of an earlier LP, feasible to its rounding: relaxed by a margin far
    # below the comparison tolerance so that the LPs here stay feasible.
    lower = {i: max(0.0, floors.get(i, 0.0) - _margin(prob.demands[i]["want"]))
             for i in net.demand_idx}
    tiers = sorted({prob.demands[i]["tier"] for i in net.demand_idx})
    for k in tiers:
        active = [i for i in net.demand_idx if prob.demands[i]["tier"] == k]
        for i in list(active):
            if prob.demands[i]["want"] <= 0.0:
                fixed[i] = 0.0
                lower[i] = 0.0
                active.remove(i)
        rounds = 0
        while active:
            rounds += 1
            if rounds > len(prob.demands) + 5:
                raise OracleError("progressive filling does not terminate")
            level = {i: float(prob.demands[i]["want"]) for i in active}
            t, _ = net.solve({net.t: 1.0}, lower, level)
            if stats is not None:
                stats["lps"] = stats.get("lps", 0) + 1
            t = min(max(t, 0.0), 1.0)
            target = {i: max(floors.get(i, 0.0), t * prob.demands[i]["want"]) for i in active}
            if t >= 1.0 - 1e-12:
                frozen = list(active)
                for i in frozen:
                    target[i] = float(prob.demands[i]["want"])
            elif len(active) == 1:
                frozen = list(active)
            else:
                # The candidate test: can demand i rise above its level alone, with every other
                # unfrozen demand at its level and the frozen ones at their deliveries?
                gains = {}
                base = dict(lower)
                for i in active:
                    base[i] = max(base[i], target[i] - _margin(prob.demands[i]["want"]))
                for i in active:
                    lo = dict(base)
                    lo[i] = lower[i]
                    best, _ = net.solve({v: 1.0 for v in net.into_demand[i]}, lo)
                    if stats is not None:
                        stats["lps"] = stats.get("lps", 0) + 1
                    gains[i] = best - target[i]
                frozen = [i for i in active if gains[i] <= _gain_tol(prob.demands[i]["want"])]
                if not frozen:
                    # Rounding only: freeze the least able to rise.
                    frozen = [min(active, key=lambda i: gains[i] / max(1.0, prob.demands[i]["want"]))]
                    if stats is not None:
                        stats["forced_freezes"] = stats.get("forced_freezes", 0) + 1
            for i in frozen:
                fixed[i] = target[i]
                # fixed as a lower bound, relaxed by a rounding margin so later LPs stay feasible
                lower[i] = max(0.0, target[i] - _margin(prob.demands[i]["want"]))
                active.remove(i)
    if stats is not None and net.relaxed:
        stats["relaxed"] = stats.get("relaxed", 0) + net.relaxed
    return fixed


# ---------------------------------------------------------------------------------------------
# The rules
# ---------------------------------------------------------------------------------------------

def homes(prob):
    """country -> home id: overlapping blocs merge (union-find); other countries are their own."""
    parent = {c: c for c in prob.countries}
    for b in prob.blocs:
        for c in b:
            parent.setdefault(c, c)

    def find(c):
        while parent[c] != c:
            parent[c] = parent[parent[c]]
            c = parent[c]
        return c

    for b in prob.blocs:
        b = sorted(b)
        for c in b[1:]:
            ra, rb = find(b[0]), find(c)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    return {c: find(c) for c in parent}


def home_first_floors(prob, stats=None):
    home = homes(prob)
    floors = {}
    for h in sorted(set(home[c] for c in prob.countries)):
        members = {c for c in prob.countries if home[c] == h}
        net = Network(prob, countries=members)
        floors.update(tiered_filling(net, stats=stats))
    return floors


def proportional_floors(prob):
    """Phase 1 of proportional: each demand's contract delivery (directly, no LP)."""
    # Consumers of each product with their reference wants.
    consumers = defaultdict(list)  # p -> [(key, country, ref)]
    for i, d in enumerate(prob.demands):
        consumers[d["product"]].append((("D", i), d["country"], float(d["want"])))
    for (q, c), cap in sorted(prob.capacity.items()):
        for p, coef in prob.products[q].items():
            consumers[p].append((("R", (q, c)), c, float(coef) * float(cap)))
    received = defaultdict(float)  # (consumer key, product) -> quantity
    production = {}
    for p in prob.order:
        cons = consumers[p]
        total_ref = sum(ref for (_, _, ref) in cons)
        by_country = defaultdict(float)
        for (_, c, ref) in cons:
            by_country[c] += ref
        table = prob.trade_shares.get(p, {}) if prob.reference == "trade_shares" else {}
        got = defaultdict(float)
        for (q, s) in prob.nodes():
            if q != p:
                continue
            cap = float(prob.capacity[(q, s)])
            if prob.products[p]:
                out = cap
                for inp, coef in prob.products[p].items():
                    out = min(out, received[(("R", (p, s)), inp)] / float(coef))
            else:
                out = cap
            production[(p, s)] = out
            if out <= 0.0:
                continue
            for (key, c, ref) in cons:
                if ref <= 0.0:
                    continue
                if s in table:
                    sh = float(table[s].get(c, 0.0))
                    share = sh * ref / by_country[c] if by_country[c] > 0 else 0.0
                else:
                    share = ref / total_ref if total_ref > 0 else 0.0
                got[key] += share * out * prob.leak(p, s, c)
        for (key, c, ref) in cons:
            received[(key, p)] = min(got[key], ref)
    return {i: received[(("D", i), d["product"])] for i, d in enumerate(prob.demands)}


def allocate(prob, stats=None):
    """Each demand's delivery (list, in the order of prob.demands) under prob.rule. With `stats`
    (a dict), also returns the floors under stats["floors"] and counts the LPs."""
    if prob.rule == "coordinated":
        floors = {}
    elif prob.rule == "home_first":
        floors = home_first_floors(prob, stats)
    else:
        floors = proportional_floors(prob)
    if stats is not None:
        stats["floors"] = [floors.get(i, 0.0) for i in range(len(prob.demands))]
    net = Network(prob)
    out = tiered_filling(net, floors, stats)
    return [out[i] for i in range(len(prob.demands))]


# ---------------------------------------------------------------------------------------------
# From a chokepoint config (fixed numbers only) to month 0's Problem
# ---------------------------------------------------------------------------------------------

def _fixed(x, where):
    if isinstance(x, bool):
        raise OracleError(f"{where}: not a number")
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, dict) and set(x) == {"fixed"}:
        return float(x["fixed"])
    raise OracleError(f"{where}: the oracle takes fixed numbers only, not {x!r}")


def _country_set(spec, groups, countries):
    if spec == "all":
        return set(countries)
    if isinstance(spec, dict):
        if set(spec) != {"all_except"}:
            raise OracleError(f"country set {spec!r}")
        return set(countries) - _country_set(spec["all_except"], groups, countries)
    if isinstance(spec, str):
        spec = [spec]
    out = set()
    for x in spec:
        if x in groups:
            out |= _country_set(groups[x], groups, countries)
        else:
            out.add(x)
    return out


def problem_from_config(cfg):
    """Month 0 of a config dict (as loaded from YAML/JSON) with fixed numbers only: no
    distributions, no outages, start months or ramps, events (export controls, capacity shocks)
    only with `onset: {active_at_start: true}`, no stockpiles."""
    products = {}
    for p in cfg["products"]:
        products[p["id"]] = {k: float(v) for k, v in (p.get("recipe") or {}).items()}
    all_products = set(products)
    groups = cfg.get("country_groups") or {}
    model_countries = {f["country"] for f in cfg["facilities"]} | {d["country"] for d in cfg["demands"]}
    events = cfg.get("events") or []
    for ev in events:
        if ev["onset"] != {"active_at_start": True}:
            raise OracleError(f"event {ev['id']}: only events active at start")
    capacity = defaultdict(float)
    for f in cfg["facilities"]:
        for k in ("outages", "start_month", "ramp_months"):
            if k in f:
                raise OracleError(f"facility {f['id']}: '{k}' not supported by the oracle")
        cap = _fixed(f["capacity"], f["id"]) / 12.0
        cap *= _fixed(f.get("availability", 1.0), f["id"])
        for ev in events:  # capacity shocks in force: losses combine multiplicatively
            if ev["type"] != "capacity_shock":
                continue
            tg = ev["targets"]
            if ("facilities" in tg and f["id"] not in tg["facilities"]) or \
               ("products" in tg and f["product"] not in tg["products"]) or \
               ("countries" in tg and f["country"] not in _country_set(tg["countries"], groups,
                                                                       model_countries)):
                continue
            cap *= 1.0 - _fixed(ev.get("fraction_lost", 1.0), ev["id"])
        capacity[(f["product"], f["country"])] += cap
    demands = []
    for d in cfg["demands"]:
        if "stockpile" in d:
            raise OracleError(f"demand {d['id']}: stockpiles are not modelled by the oracle")
        demands.append({"id": d["id"], "product": d["product"], "country": d["country"],
                        "want": _fixed(d["quantity"], d["id"]) / 12.0, "tier": int(d.get("tier", 1))})
    countries = model_countries
    restrictions = []
    for ln in cfg.get("lanes") or []:
        restrictions.append({"exporters": _country_set(ln["from"], groups, countries),
                             "importers": _country_set(ln["to"], groups, countries),
                             "products": set(ln.get("products") or all_products),
                             "leakage": float(ln.get("leakage", 0.0))})
    for ev in events:
        if ev["type"] != "export_control":
            continue
        restrictions.append({"exporters": _country_set(ev["exporters"], groups, countries),
                             "importers": _country_set(ev["importers"], groups, countries),
                             "products": set(ev.get("products") or all_products),
                             "leakage": _fixed(ev.get("leakage", 0.0), ev["id"])})
    alloc = cfg.get("allocation") or {}
    blocs = [_country_set(g, groups, countries) for g in alloc.get("blocs") or []]
    return Problem(products, capacity, demands, restrictions, rule=alloc.get("rule", "coordinated"),
                   blocs=blocs, reference=alloc.get("reference", "pooled"),
                   trade_shares=alloc.get("trade_shares"))


if __name__ == "__main__":
    import json
    import sys
    if len(sys.argv) != 2:
        print("usage: allocation_oracle.py CONFIG.(json|yaml)  (prints month 0's deliveries)")
        sys.exit(2)
    with open(sys.argv[1]) as fh:
        text = fh.read()
    try:
        cfg = json.loads(text)
    except ValueError:
        import yaml
        cfg = yaml.safe_load(text)
    prob = problem_from_config(cfg)
    st = {}
    got = allocate(prob, st)
    for d, x, fl in zip(prob.demands, got, st["floors"]):
        print(f"{d['id']:>12} {d['product']:>6} {d['country']:>4} tier {d['tier']} want "
              f"{d['want']:.6g} floor {fl:.9g} delivered {x:.9g}")
