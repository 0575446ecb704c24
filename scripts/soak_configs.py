#!/usr/bin/env python3
"""Random valid chokepoint configs for the soak benchmark (scripts/soak.sh).

    soak_configs.py OUTDIR COUNT [SEED]

Writes OUTDIR/random_<i>.yaml for i in 0..COUNT-1, reproducibly from SEED (default 1). Each is a
value chain drawn at random, with the features that make the allocation LPs hard: 1-3 stages,
multi-input recipes (coefficients from 0.005 to 2), several facilities per stage in 2-6
countries, plants that start later and ramp, outages; 2-6 demands in 1-3 tiers, stockpiles with
small and large refills; export controls with fractional and zero leakage that overlap (several
exporters, importers, products), static lanes with leakage, capacity shocks, capacity growth;
every allocation rule (coordinated, home_first with and without a bloc, proportional pooled and
with trade shares) and demands with another tier abroad; sometimes regimes and a scenario (one
of them switching the rule). Only the standard library is used.
"""
import os
import random
import sys

COUNTRIES = ["CN", "US", "JP", "DE", "AU", "CA", "MY", "KR", "FR", "IN"]


def dist(r, lo, hi):
    """A random distribution between lo and hi (a number, uniform, pert, triangular or lognormal)."""
    k = r.random()
    a = lo + (hi - lo) * r.random() * 0.5
    b = a + (hi - a) * (0.2 + 0.8 * r.random())
    if k < 0.25:
        return f"{a:.6g}"
    if k < 0.5:
        return f"{{uniform: {{min: {a:.6g}, max: {b:.6g}}}}}"
    if k < 0.75:
        m = a + (b - a) * r.random()
        return f"{{pert: {{min: {a:.6g}, mode: {m:.6g}, max: {b:.6g}}}}}"
    if k < 0.9:
        m = a + (b - a) * r.random()
        return f"{{triangular: {{min: {a:.6g}, mode: {m:.6g}, max: {b:.6g}}}}}"
    return f"{{lognormal: {{median: {max(a, 1e-3):.6g}, sigma: {0.1 + 0.5 * r.random():.3g}}}}}"


def share(r):
    """A number or distribution in [0, 1]."""
    k = r.random()
    if k < 0.3:
        return "0"
    if k < 0.6:
        return f"{r.random() * 0.3:.4g}"
    a = r.random() * 0.2
    return f"{{uniform: {{min: {a:.4g}, max: {a + r.random() * 0.3:.4g}}}}}"


def config(i, r):
    countries = r.sample(COUNTRIES, r.randint(2, 6))
    stages = r.randint(1, 3)
    rule = r.choice(["coordinated", "home_first", "home_first_bloc", "proportional",
                     "proportional_trade"])
    lines = [f"name: random_{i}", "description: random soak config (scripts/soak_configs.py)",
             "run:", f"  trials: 200", f"  seed: {r.randint(0, 2**31)}",
             f"  horizon_months: {r.choice([12, 24, 36])}", "  block_size: 50", ""]
    regimes = r.random() < 0.3
    if regimes:
        lines += ["regimes:", "  - {id: calm, weight: 0.7}", "  - {id: crisis, weight: 0.3}", ""]
    # Products: a chain of stages, each product made from 1-2 products of the stage below (the
    # second from a side chain: a multi-input recipe, like a magnet from samarium and cobalt).
    products = []  # (id, stage, recipe dict)
    lines.append("products:")
    for s in range(stages):
        n = 1 if s == 0 else r.randint(1, 2)
        for k in range(n + (1 if s == 0 and stages > 1 and r.random() < 0.5 else 0)):
            pid = f"p{s}_{k}"
            recipe = {}
            if s > 0:
                below = [p for p in products if p[1] == s - 1]
                for q in r.sample(below, min(len(below), r.randint(1, 2))):
                    recipe[q[0]] = r.choice([0.0058956942519477612, 0.05, 0.26, 0.5, 1.0, 1.15,
                                             2.0])
            products.append((pid, s, recipe))
            if recipe:
                rec = ", ".join(f"{q}: {c!r}" for q, c in recipe.items())
                lines.append(f"  - {{id: {pid}, recipe: {{{rec}}}}}")
            else:
                lines.append(f"  - {{id: {pid}}}")
    lines.append("")
    lines.append("facilities:")
    fac_ids = []
    for pid, s, _ in products:
        for c in r.sample(countries, r.randint(1, len(countries))):
            fid = f"f_{pid}_{c.lower()}"
            fac_ids.append(fid)
            lines += [f"  - id: {fid}", f"    product: {pid}", f"    country: {c}",
                      f"    capacity: {dist(r, 0.5, 200)}"]
            if r.random() < 0.3:
                lines.append(f"    availability: {{uniform: {{min: 0.8, max: 1.0}}}}")
            if r.random() < 0.2:
                lines.append(f"    growth: {r.uniform(-0.05, 0.12):.3g}")
            if r.random() < 0.15:
                lines += [f"    start_month: {dist(r, 0, 30)}", f"    ramp_months: {dist(r, 0, 12)}"]
            if r.random() < 0.2:
                lines += ["    outages:", f"      rate_per_year: {r.random() * 2:.3g}",
                          f"      duration_months: {dist(r, 1, 6)}",
                          f"      fraction_lost: {r.choice(['1', '0.5', '{uniform: {min: 0.2, max: 1}}'])}"]
    lines.append("")
    lines.append("demands:")
    top = [p for p in products if p[1] == stages - 1]
    consumable = top + [p for p in products if p[1] < stages - 1 and r.random() < 0.3]
    ndem = r.randint(2, 6)
    for k in range(ndem):
        pid = r.choice(consumable)[0]
        c = r.choice(countries)
        tier = r.randint(1, 3)
        lines += [f"  - id: d{k}_{c.lower()}", f"    product: {pid}", f"    country: {c}",
                  f"    tier: {tier}", f"    quantity: {dist(r, 0.01, 150)}"]
        if r.random() < 0.3:
            lines.append(f"    tier_abroad: {r.randint(tier, 3)}")
        if r.random() < 0.3:
            lines.append(f"    growth: {r.uniform(-0.05, 0.1):.3g}")
        if r.random() < 0.5:
            lines += ["    stockpile:", f"      initial: {dist(r, 0, 30)}"]
            if r.random() < 0.5:
                lines.append(f"      max_draw: {dist(r, 0.01, 5)}")
            if r.random() < 0.6:
                # Small refills, as in the default study, next to large wants: the LPs' hard case.
                lines.append(f"      refill: {r.choice(['1e-5', '0.001', '0.2', '2'])}")
                if r.random() < 0.5:
                    lines.append(f"      max_level: {dist(r, 10, 60)}")
    lines.append("")
    pids = [p[0] for p in products]
    if r.random() < 0.4:
        lines.append("lanes:")
        for k in range(r.randint(1, 2)):
            a, b = r.sample(countries, 2)
            lines += [f"  - id: lane{k}", f"    from: {a}", f"    to: [{b}]",
                      f"    products: [{', '.join(r.sample(pids, r.randint(1, len(pids))))}]",
                      f"    leakage: {r.choice(['0', '0.05', '0.3'])}"]
        lines.append("")
    lines.append("events:")
    for k in range(r.randint(1, 4)):
        exporters = r.sample(countries, r.randint(1, max(1, len(countries) - 1)))
        others = [c for c in countries if c not in exporters] or countries
        importers = r.sample(others, r.randint(1, len(others)))
        if r.random() < 0.2:
            importers_text = "all"
        else:
            importers_text = "[" + ", ".join(importers) + "]"
        onset = r.random()
        if onset < 0.6:
            prob = "{by_regime: {calm: 0.2, crisis: 0.8}}" if regimes else f"{r.random():.3g}"
            on = ["    onset:", f"      probability: {prob}", f"      month: {dist(r, 0, 12)}"]
        elif onset < 0.85:
            on = ["    onset:", f"      hazard_per_year: {r.random() * 0.8:.3g}"]
        else:
            on = ["    onset:", "      active_at_start: true"]
        lines += [f"  - id: ctl{k}", "    type: export_control",
                  f"    exporters: [{', '.join(exporters)}]", f"    importers: {importers_text}",
                  f"    products: [{', '.join(r.sample(pids, r.randint(1, len(pids))))}]"] + on
        lines += [f"    duration_months: {dist(r, 1, 24)}", f"    leakage: {share(r)}"]
    if r.random() < 0.5:
        lines += ["  - id: shock0", "    type: capacity_shock", "    onset:",
                  f"      probability: {r.random():.3g}", f"      month: {dist(r, 0, 10)}",
                  f"    duration_months: {dist(r, 1, 8)}",
                  f"    targets: {{countries: [{r.choice(countries)}]}}",
                  f"    fraction_lost: {share(r)}"]
    lines.append("")
    # The allocation rule (and its bloc, or a trade-share table of shares that add up to <= 1,
    # naming countries that have a facility or a demand).
    used = sorted({ln.split(":")[1].strip() for ln in lines if ln.startswith("    country: ")})
    lines += ["country_groups:", f"  bloc: [{', '.join(countries[:2])}]", "allocation:"]
    if rule == "home_first_bloc":
        lines += ["  rule: home_first", "  blocs: [bloc]"]
    elif rule == "proportional_trade":
        lines += ["  rule: proportional", "  reference: trade_shares", "  trade_shares:"]
        for pid in r.sample(pids, r.randint(1, len(pids))):
            lines.append(f"    {pid}:")
            for e in r.sample(used, r.randint(1, len(used))):
                imps = r.sample(used, r.randint(1, len(used)))
                w = [r.random() for _ in imps]
                scale = r.uniform(0.5, 1.0) / sum(w)
                lines.append(f"      {e}: {{" + ", ".join(
                    f"{c}: {x * scale:.4f}" for c, x in zip(imps, w)) + "}")
    else:
        lines.append(f"  rule: {rule}")
    lines.append("")
    if r.random() < 0.3:
        fid = r.choice(fac_ids)
        lines += ["scenarios:", "  - id: more", "    description: more capacity",
                  "    set:", f"      facilities/{fid}/capacity: {dist(r, 50, 400)}"]
        if r.random() < 0.5:
            lines += ["  - id: pooled", "    description: the coordinated rule",
                      "    set: {allocation/rule: coordinated}"]
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__)
        return 2
    out, count = argv[1], int(argv[2])
    seed = int(argv[3]) if len(argv) == 4 else 1
    os.makedirs(out, exist_ok=True)
    for i in range(count):
        r = random.Random(seed * 1000003 + i)
        with open(os.path.join(out, f"random_{i}.yaml"), "w") as f:
            f.write(config(i, r))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
