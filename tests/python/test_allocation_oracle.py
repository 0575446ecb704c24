#!/usr/bin/env python3
"""Differential test of the engine's monthly allocation against an independent oracle
(allocation_oracle.py: the documented rules, solved by HiGHS through scipy, with its own
progressive filling) on random small networks and on fixed cases.

usage: test_allocation_oracle.py CHOKEPOINT WORKDIR [N] [--seed S] [--keep]

Each random case is a config with `run: {trials: 1, horizon_months: 1}` and fixed numbers only
(annual capacities and quantities multiples of 12, so the monthly figures are clean): 1-3
products in a chain (single- and multi-input recipes, a shared input, two unconnected chains),
2-5 countries, facilities in 1-3 countries per product (some of capacity 0, some nodes with two
facilities; in half the cases one country has the whole chain), 1-6 demands in 1-3 tiers (a few wanting nothing; mostly on the last product, some on intermediates; mostly
in countries that make something, so that home supply exists),
capacities scaled for a shortage or for plenty, 0-2 restrictions (static lanes or export
controls active at start, over some or all products, with leakage 0 to 0.5; exporter sets that
overlap the importer sets, `all` and `all_except`), sometimes a capacity shock in force or an
availability below 1. The rule cycles through coordinated,
home_first without a bloc, home_first with one or two (possibly overlapping) blocs, proportional
pooled and proportional trade_shares (random tables over some products and exporters, shares
adding to at most 1, some to the exporter's own country).

`chokepoint trial CONFIG --trial 0 --json` gives each demand's month-0 `delivered`; it must equal
the oracle's to 1e-7 x max(1, want) (the engine's deliveries are optimal to about 1e-9 of the
want, docs/model.md "How it is solved"; HiGHS's here to about 1e-10). N defaults to 300 (15-40 s
on 2 shared cores, mostly the 300 engine start-ups). Also fixed cases with known deliveries: the
hand-solved examples of docs/model.md "Allocation rules", readings of points the docs leave open
(leakage x production in the solution; the reference want of a recipe node at its capacity after
availability and shocks), and the minimal configs of the engine failures this test found (the
chokepoint test's LP infeasible under home_first and proportional). The summary gives, per rule,
the cases, engine and oracle failures, the cases compared and, of those, the short ones, those
with a restriction in force, those whose deliveries differ from the coordinated rule's, the
mismatches and the largest deviation. On a mismatch or failure the config, the engine's and the
oracle's deliveries and the oracle's floors are printed (the first 5), and the configs are kept
in WORKDIR for replay
(`chokepoint trial WORKDIR/case_K.yaml --trial 0`; `allocation_oracle.py WORKDIR/case_K.yaml`).
Exit 0 when every case agrees, 1 otherwise.
"""
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import allocation_oracle as oracle  # noqa: E402
except ImportError as e:  # scipy missing: ctest reports the test as skipped (exit 77)
    print(f"skipped: the allocation oracle needs numpy and scipy ({e}); install python3-scipy "
          "(scripts/install_deps.sh)")
    sys.exit(77)

COUNTRIES = ["CN", "US", "JP", "DE", "AU"]
COEFS = [0.5, 1, 1, 1.25, 2]
LEAKS = [0, 0, 0.1, 0.25, 0.5]
RTOL = 1e-7
VARIANTS = ["coordinated", "home_first", "home_first+bloc", "proportional/pooled",
            "proportional/trade_shares"]


# ---------------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------------

def to_yaml(cfg):
    """Block style at the top, one JSON flow mapping per list entry (JSON is YAML 1.2)."""
    lines = []
    for k, v in cfg.items():
        if isinstance(v, list) and v:
            lines.append(f"{k}:")
            lines += [f"  - {json.dumps(x)}" for x in v]
        elif isinstance(v, dict) and v and k != "run":
            lines.append(f"{k}:")
            lines += [f"  {kk}: {json.dumps(vv)}" for kk, vv in v.items()]
        else:
            lines.append(f"{k}: {json.dumps(v)}")
    return "\n".join(lines) + "\n"


def chain(rng):
    """(products, the products demands are mostly on)."""
    c = lambda: rng.choice(COEFS)  # noqa: E731
    shape = rng.choice(["one", "chain2", "multi2", "chain3", "multi3", "shared3", "split"])
    if shape == "one":
        return [{"id": "a"}], ["a"]
    if shape == "chain2":
        return [{"id": "a"}, {"id": "b", "recipe": {"a": c()}}], ["b"]
    if shape == "multi2":
        return [{"id": "a"}, {"id": "b"}, {"id": "m", "recipe": {"a": c(), "b": c()}}], ["m"]
    if shape == "chain3":
        return [{"id": "a"}, {"id": "b", "recipe": {"a": c()}}, {"id": "c", "recipe": {"b": c()}}], ["c"]
    if shape == "multi3":
        return [{"id": "a"}, {"id": "b", "recipe": {"a": c()}}, {"id": "x"},
                {"id": "c", "recipe": {"b": c(), "x": c()}}], ["c"]
    if shape == "shared3":  # a feeds b and, directly, c
        return [{"id": "a"}, {"id": "b", "recipe": {"a": c()}},
                {"id": "c", "recipe": {"b": c(), "a": c()}}], ["c"]
    return [{"id": "a"}, {"id": "b", "recipe": {"a": c()}}, {"id": "x"}], ["b", "x"]


def country_set(rng, countries, groups):
    r = rng.random()
    if r < 0.1:
        return "all"
    if r < 0.2:
        return {"all_except": rng.sample(countries, 1)}
    if r < 0.3 and groups:
        return rng.choice(sorted(groups))
    s = rng.sample(countries, rng.randint(1, max(1, len(countries) - 1)))
    return s[0] if len(s) == 1 and rng.random() < 0.5 else s


def random_case(rng, variant):
    nc = rng.randint(2, 5)
    countries = rng.sample(COUNTRIES, nc)
    products, finals = chain(rng)
    pids = [p["id"] for p in products]
    plenty = rng.random() < 0.3
    facilities = []
    # Half the cases have a whole chain in one country (so that its home supply reaches its own
    # demands in phase 1 of home_first and of proportional's contracts).
    home = countries[0] if rng.random() < 0.5 else None
    for p in pids:
        where = rng.sample(countries, rng.randint(1, min(3, nc)))
        if home and home not in where:
            where[0] = home
        for ctry in where:
            for _ in range(2 if rng.random() < 0.1 else 1):
                monthly = 0 if rng.random() < 0.08 else rng.randint(1, 12) * (3 if plenty else 1)
                facilities.append({"id": f"f{len(facilities)}_{p}_{ctry}", "product": p,
                                   "country": ctry, "capacity": 12 * monthly})
    ntiers = rng.randint(1, 3)
    demands = []
    makers = sorted({f["country"] for f in facilities})
    for k in range(rng.randint(1, 6) if rng.random() < 0.2 else rng.randint(2, 6)):
        p = rng.choice(finals) if rng.random() < 0.8 else rng.choice(pids)
        r = rng.random()
        monthly = 0 if r < 0.03 else rng.randint(1, 12) if r < 0.8 else rng.randint(1, 24) / 2
        # mostly where something is made (so that "home" supply exists), sometimes anywhere
        r = rng.random()
        where = home if home and r < 0.3 else rng.choice(makers) if r < 0.7 else rng.choice(countries)
        demands.append({"id": f"d{k}", "product": p, "country": where,
                        "quantity": 12 * monthly, "tier": rng.randint(1, ntiers)})
    cfg = {"name": "oracle_case", "run": {"trials": 1, "horizon_months": 1, "seed": 1}}
    groups = {}
    allocation = {"rule": variant.split("/")[0].split("+")[0]}
    if variant == "home_first+bloc":
        # mostly a strict subset of the countries (a bloc of all is the coordinated rule)
        size = nc if nc == 2 or rng.random() < 0.15 else rng.randint(2, nc - 1)
        groups["bloc_a"] = sorted(rng.sample(countries, size))
        allocation["blocs"] = ["bloc_a"]
        if nc >= 3 and rng.random() < 0.4:
            groups["bloc_b"] = sorted(rng.sample(countries, 2))
            allocation["blocs"].append("bloc_b")
    elif rng.random() < 0.2:
        groups["grp"] = sorted(rng.sample(countries, 2))  # only used in restrictions
    if variant == "proportional/trade_shares":
        allocation["reference"] = "trade_shares"
        table = {}
        for p in rng.sample(pids, rng.randint(1, len(pids))):
            makers = sorted({f["country"] for f in facilities if f["product"] == p})
            rows = {}
            for e in rng.sample(makers, rng.randint(1, len(makers))):
                left, row = 20, {}
                model = sorted({f["country"] for f in facilities} | {d["country"] for d in demands})
                for imp in rng.sample(model, rng.randint(1, len(model))):
                    k = rng.randint(0, left)
                    left -= k
                    row[imp] = k / 20
                rows[e] = row
            table[p] = rows
        allocation["trade_shares"] = table
    elif variant == "proportional/pooled" and rng.random() < 0.5:
        allocation["reference"] = "pooled"
    lanes, events = [], []
    for k in range(rng.choices([0, 1, 2], [0.25, 0.45, 0.3])[0]):
        entry = {}
        if rng.random() < 0.5:
            entry.update({"id": f"lane{k}", "from": country_set(rng, countries, groups),
                          "to": country_set(rng, countries, groups)})
            if rng.random() < 0.7:
                entry["leakage"] = rng.choice(LEAKS)
            target = lanes
        else:
            entry.update({"id": f"ban{k}", "type": "export_control",
                          "exporters": country_set(rng, countries, groups),
                          "importers": country_set(rng, countries, groups),
                          "onset": {"active_at_start": True}, "duration_months": 12,
                          "leakage": rng.choice(LEAKS)})
            target = events
        if rng.random() < 0.6:
            entry["products"] = sorted(rng.sample(pids, rng.randint(1, len(pids))))
        target.append(entry)
    if rng.random() < 0.15:  # a capacity shock in force (with availability, the only other loss)
        tg = rng.choice([{"products": [rng.choice(pids)]}, {"countries": rng.choice(countries)},
                         {"facilities": [rng.choice(facilities)["id"]]}])
        events.append({"id": "shock", "type": "capacity_shock", "targets": tg,
                       "onset": {"active_at_start": True}, "duration_months": 12,
                       "fraction_lost": rng.choice([0.25, 0.5, 1])})
    if rng.random() < 0.1:
        rng.choice(facilities)["availability"] = rng.choice([0.5, 0.75])
    if groups:
        cfg["country_groups"] = groups
    cfg["products"] = products
    cfg["facilities"] = facilities
    cfg["demands"] = demands
    if lanes:
        cfg["lanes"] = lanes
    if events:
        cfg["events"] = events
    cfg["allocation"] = allocation
    return cfg


def hand_cases():
    """Fixed cases with known deliveries: docs/model.md "Allocation rules", hand-solved examples
    (monthly x 12 in the configs; exact values where the docs round to 2 decimals), a reading of
    the leakage rule, and the minimal configs of the engine failures this test found."""
    out = []
    ex1 = {"products": [{"id": "ore"}],
           "facilities": [{"id": "jp_mine", "product": "ore", "country": "JP", "capacity": 120}],
           "demands": [{"id": "jp", "product": "ore", "country": "JP", "quantity": 72, "tier": 2},
                       {"id": "us", "product": "ore", "country": "US", "quantity": 96, "tier": 1}]}
    out.append(("ex1 coordinated", ex1, {"rule": "coordinated"}, None, {"us": 8, "jp": 2}))
    out.append(("ex1 home_first", ex1, {"rule": "home_first"}, None, {"jp": 6, "us": 4}))
    out.append(("ex1 home_first bloc {US, JP}", ex1, {"rule": "home_first", "blocs": ["allies"]},
                {"allies": ["US", "JP"]}, {"us": 8, "jp": 2}))
    out.append(("ex1 proportional pooled", ex1, {"rule": "proportional"}, None,
                {"jp": 60 / 14, "us": 80 / 14}))
    ex2 = {"products": [{"id": "ore"}, {"id": "metal", "recipe": {"ore": 1}}],
           "facilities": [{"id": "cn_mine", "product": "ore", "country": "CN", "capacity": 120},
                          {"id": "jp_mine", "product": "ore", "country": "JP", "capacity": 24},
                          {"id": "jp_ref", "product": "metal", "country": "JP", "capacity": 120},
                          {"id": "cn_ref", "product": "metal", "country": "CN", "capacity": 120}],
           "demands": [{"id": "jp", "product": "metal", "country": "JP", "quantity": 96, "tier": 1},
                       {"id": "cn", "product": "metal", "country": "CN", "quantity": 72, "tier": 2}]}
    out.append(("ex2 home_first", ex2, {"rule": "home_first"}, None, {"jp": 6, "cn": 6}))
    out.append(("ex2 coordinated", ex2, {"rule": "coordinated"}, None, {"jp": 8, "cn": 4}))
    ex3 = {"products": [{"id": "x"}],
           "facilities": [{"id": "cn", "product": "x", "country": "CN", "capacity": 120}],
           "demands": [{"id": "us", "product": "x", "country": "US", "quantity": 120, "tier": 1},
                       {"id": "jp", "product": "x", "country": "JP", "quantity": 120, "tier": 1}],
           "events": [{"id": "ban", "type": "export_control", "exporters": "CN", "importers": ["US"],
                       "onset": {"active_at_start": True}, "duration_months": 12, "leakage": 0.2}]}
    for rule in ("proportional", "coordinated", "home_first"):
        out.append((f"ex3 {rule}", ex3, {"rule": rule}, None, {"us": 2, "jp": 8}))
    # A reading the docs leave open (docs/model.md, "what production means for leakage"): the
    # allowance is leakage x the exporter's production in the solution, which may exceed what it
    # sells. CN refines y of its 10 ore, may send JP 0.5 y of metal; KR takes the ore left: max-min
    # gives 0.5 y = 10 - y, 10/3 each (reading the allowance as 0.5 x the 10 CN could refine
    # would give 5 each).
    leak = {"products": [{"id": "ore"}, {"id": "metal", "recipe": {"ore": 1}}],
            "facilities": [{"id": "cn_mine", "product": "ore", "country": "CN", "capacity": 120},
                           {"id": "cn_ref", "product": "metal", "country": "CN", "capacity": 120}],
            "demands": [{"id": "jp_metal", "product": "metal", "country": "JP", "quantity": 120},
                        {"id": "kr_ore", "product": "ore", "country": "KR", "quantity": 120}],
            "events": [{"id": "ban", "type": "export_control", "exporters": "CN", "importers": ["JP"],
                        "products": ["metal"], "onset": {"active_at_start": True},
                        "duration_months": 12, "leakage": 0.5}]}
    out.append(("reading: leakage x production in the solution", leak, {"rule": "coordinated"},
                None, {"jp_metal": 10 / 3, "kr_ore": 10 / 3}))
    # The reference want of a recipe node is coefficient x its capacity *this month*: after
    # availability and capacity shocks (the docs' "undisrupted market" ignores restrictions only).
    # Refs: CN ore 10, JP refinery 5 (not 10): contracts 6.67 ore and 3.33 metal, which phase 2
    # keeps (the refinery could take 5 under coordinated: 5 and 5).
    ref = {"products": [{"id": "ore"}, {"id": "metal", "recipe": {"ore": 1}}],
           "facilities": [{"id": "cn_mine", "product": "ore", "country": "CN", "capacity": 120},
                          {"id": "jp_ref", "product": "metal", "country": "JP", "capacity": 120,
                           "availability": 0.5}],
           "demands": [{"id": "cn_ore", "product": "ore", "country": "CN", "quantity": 120},
                       {"id": "jp_metal", "product": "metal", "country": "JP", "quantity": 120}]}
    out.append(("reading: reference at available capacity", ref, {"rule": "proportional"}, None,
                {"cn_ore": 20 / 3, "jp_metal": 10 / 3}))
    shock = json.loads(json.dumps(ref))
    del shock["facilities"][1]["availability"]
    shock["events"] = [{"id": "fire", "type": "capacity_shock", "targets": {"facilities": ["jp_ref"]},
                        "onset": {"active_at_start": True}, "duration_months": 12,
                        "fraction_lost": 0.5}]
    out.append(("reading: reference at shocked capacity", shock, {"rule": "proportional"}, None,
                {"cn_ore": 20 / 3, "jp_metal": 10 / 3}))
    # Minimal configs on which the engine's chokepoint test (not the allocation) failed with
    # "every solver rung failed: infeasible" (exit 1) when this test was written: a demand that
    # is not short is held at its delivery while the floors are recomputed with the raised
    # capacity or allowance, which moves supply away from it (docs/model.md, "Chokepoints").
    held = {"products": [{"id": "ore"}, {"id": "metal", "recipe": {"ore": 1}}],
            "facilities": [{"id": "jp_mine", "product": "ore", "country": "JP", "capacity": 120},
                           {"id": "jp_refinery", "product": "metal", "country": "JP", "capacity": 0}],
            "demands": [{"id": "jp_ore", "product": "ore", "country": "JP", "quantity": 120},
                        {"id": "jp_metal", "product": "metal", "country": "JP", "quantity": 120}]}
    for rule in ("coordinated", "home_first", "proportional"):
        out.append((f"held demand, raised capacity: {rule}", held, {"rule": rule}, None,
                    {"jp_ore": 10, "jp_metal": 0}))
    ban0 = json.loads(json.dumps(ex3))
    ban0["events"][0]["leakage"] = 0
    for rule in ("coordinated", "proportional"):
        out.append((f"held demand, raised allowance: {rule}", ban0, {"rule": rule}, None,
                    {"us": 0, "jp": 10}))
    cases = []
    for name, body, alloc, groups, expect in out:
        cfg = {"name": "oracle_hand", "run": {"trials": 1, "horizon_months": 1, "seed": 1}}
        if groups:
            cfg["country_groups"] = groups
        cfg.update(json.loads(json.dumps(body)))
        cfg["allocation"] = alloc
        cases.append((name, cfg, expect))
    return cases


# ---------------------------------------------------------------------------------------------
# Running and comparing
# ---------------------------------------------------------------------------------------------

def engine(exe, path):
    r = subprocess.run([exe, "trial", path, "--trial", "0", "--json"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    if r.returncode != 0:
        return None, f"exit {r.returncode}: {r.stderr.decode(errors='replace').strip()}"
    doc = json.loads(r.stdout)
    return {k: v["delivered"] for k, v in doc["months"][0]["demands"].items()}, None


def variant_of(cfg):
    a = cfg["allocation"]
    if a["rule"] == "home_first":
        return "home_first+bloc" if a.get("blocs") else "home_first"
    if a["rule"] == "proportional":
        return "proportional/" + a.get("reference", "pooled")
    return a["rule"]


def main(argv):
    args, seed, keep = [], 20240611, False
    rest = list(argv[1:])
    while rest:
        a = rest.pop(0)
        if a == "--seed" and rest:
            seed = int(rest.pop(0))
        elif a == "--keep":
            keep = True
        else:
            args.append(a)
    if len(args) not in (2, 3):
        print(__doc__)
        return 2
    exe, work = os.path.abspath(args[0]), os.path.abspath(args[1])
    n = int(args[2]) if len(args) == 3 else 300
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    t0 = time.time()

    cases = []  # (name, cfg, expected or None)
    for name, cfg, expect in hand_cases():
        cases.append((name, cfg, expect))
    rng = random.Random(seed)
    for k in range(n):
        cases.append((f"case_{k}", random_case(rng, VARIANTS[k % len(VARIANTS)]), None))
    paths = []
    for k, (name, cfg, _) in enumerate(cases):
        p = os.path.join(work, (name if name.startswith("case_") else f"fixed_{k}") + ".yaml")
        with open(p, "w") as fh:
            fh.write(to_yaml(cfg))
        paths.append(p)

    # The engine's answers (subprocesses, 2 at a time) while the oracle runs here.
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(engine, exe, p) for p in paths]
        oracles, ostats = [], []
        for (name, cfg, _) in cases:
            st = {}
            prob = oracle.problem_from_config(cfg)
            try:
                oracles.append((prob, oracle.allocate(prob, st)))
            except oracle.OracleError as e:
                oracles.append((prob, None))
                st["error"] = str(e)
            ostats.append(st)
        answers = [f.result() for f in futures]

    per_variant = Counter()
    max_dev = defaultdict(float)
    short_cases = Counter()
    compared = Counter()
    differs = Counter()
    restricted = Counter()
    engine_errors = Counter()
    oracle_errors = Counter()
    mismatches = []
    lps = 0
    forced = 0
    relaxed = 0
    for (name, cfg, expect), path, (prob, want_oracle), st, (got, err) in zip(
            cases, paths, oracles, ostats, answers):
        v = "fixed cases" if expect is not None else variant_of(cfg)
        per_variant[v] += 1
        lps += st.get("lps", 0)
        forced += st.get("forced_freezes", 0)
        relaxed += st.get("relaxed", 0)
        if err or want_oracle is None:
            what = []
            if err:
                engine_errors[v] += 1
                what.append(f"engine failed: {err}")
            if want_oracle is None:
                oracle_errors[v] += 1
                what.append(f"oracle failed: {st['error']}")
            mismatches.append((name, path, cfg, "; ".join(what), prob, want_oracle, st, None, v))
            continue
        bad = []
        shortage = False
        for d, o in zip(prob.demands, want_oracle):
            tol = RTOL * max(1.0, d["want"])
            e = got[d["id"]]
            dev = abs(e - o) / max(1.0, d["want"])
            max_dev[v] = max(max_dev[v], dev)
            if o < d["want"] - 1e-9 * max(1.0, d["want"]):
                shortage = True
            if abs(e - o) > tol:
                bad.append(f"{d['id']}: engine {e!r}, oracle {o!r}")
            if expect is not None and abs(o - expect[d["id"]]) > tol:
                bad.append(f"{d['id']}: oracle {o!r}, docs/model.md {expect[d['id']]!r}")
            if expect is not None and abs(e - expect[d["id"]]) > tol:
                bad.append(f"{d['id']}: engine {e!r}, docs/model.md {expect[d['id']]!r}")
        compared[v] += 1
        if shortage:
            short_cases[v] += 1
        if prob.restrictions:
            restricted[v] += 1
        if prob.rule != "coordinated":
            # Does the rule's phase 1 matter here? (the same network under coordinated)
            coord = oracle.Problem(prob.products, prob.capacity, prob.demands, prob.restrictions)
            if any(abs(a - b) > 1e-6 * max(1.0, d["want"])
                   for d, a, b in zip(prob.demands, want_oracle, oracle.allocate(coord))):
                differs[v] += 1
        if bad:
            mismatches.append((name, path, cfg, "; ".join(bad), prob, want_oracle, st, got, v))

    elapsed = time.time() - t0
    print(f"allocation oracle: {len(cases)} cases ({len(cases) - n} fixed, {n} random, seed {seed}) "
          f"in {elapsed:.1f} s; oracle LPs: {lps}"
          + (f", {forced} freezes forced by rounding" if forced else "")
          + (f", {relaxed} LPs re-solved with relaxed bounds" if relaxed else ""))
    print(f"  tolerance: |engine - oracle| <= {RTOL:g} x max(1, want) per demand")
    print("  compared: both answered; of those, short: some demand short, restricted: a restriction"
          " in force, !=coord: deliveries differ from the coordinated rule's")
    print(f"  {'rule':<26}{'cases':>6}{'engine err':>11}{'oracle err':>11}{'compared':>9}{'short':>6}"
          f"{'restricted':>11}{'!=coord':>8}{'mismatch':>9}{'max |dev|/max(1,want)':>23}")
    bad_by = Counter(m[8] for m in mismatches if m[7] is not None)
    for v in ["fixed cases"] + VARIANTS:
        print(f"  {v:<26}{per_variant[v]:>6}{engine_errors[v]:>11}{oracle_errors[v]:>11}"
              f"{compared[v]:>9}{short_cases[v]:>6}{restricted[v]:>11}"
              f"{(differs[v] if not v.startswith('coord') else '-'):>8}{bad_by[v]:>9}"
              f"{max_dev[v]:>23.3g}")
    if mismatches:
        print(f"FAIL: {len(mismatches)} case(s) disagree; the first ones:")
        for (name, path, cfg, what, prob, o, st, got, v) in mismatches[:5]:
            print(f"--- {name} ({os.path.basename(path)}): {what}")
            if o is not None:
                print("    oracle (floor -> delivery): " + ", ".join(
                    f"{d['id']} {f:.9g} -> {x:.9g}" for d, f, x in zip(prob.demands, st["floors"], o)))
            if got is not None:
                print("    engine deliveries: " + ", ".join(f"{k} {x:.9g}" for k, x in got.items()))
            print("    " + to_yaml(cfg).replace("\n", "\n    ").rstrip())
        print(f"the configs are kept in {work}")
        return 1
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    print("all allocation oracle cases agree")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
