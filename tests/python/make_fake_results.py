#!/usr/bin/env python3
"""Write a small, fake but layout-correct chokepoint results file (docs/output-format.md, 1.1).

The numbers are random, not a simulation; the summary is computed from the per-trial datasets
exactly as the format defines it (quantiles and their binomial CIs, VaR/CVaR, exceedance curve,
thresholds, conditional views, fan-chart bands, chokepoint shares of the chain's EUD), and every
dataset has HDF5 dimension scales, so tests/python/test_output.py, test_statistics.py and
test_xarray.py must pass on the file. Only the chokepoint tables (*_binding_*) other than the
facility trial/month shares are random: the per-trial data they come from are not in the format.
Used to test the Python reader, plots and output checks without the engine -- and the checks
themselves: this file computes the statistics independently of them (binomial CDF by a log-space
recurrence rather than log-gamma terms, exact top of the exceedance grid).

    make_fake_results.py OUT.h5 [--trials N] [--horizon M] [--seed S] [--no-monthly]
"""

import argparse
import datetime
import hashlib
import math
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import package_path  # noqa: E402,F401  (the checkout's python/ first on sys.path)
from chokepoint import SUMMARY_DIMS, TRIAL_DIMS  # noqa: E402

VAR_LEVELS = [0.95, 0.99]
BAND_LEVELS = [0.05, 0.25, 0.5, 0.75, 0.95]
THRESHOLDS = [0.01, 0.05, 0.10, 0.25]
GRID = 101


def ci_ranks(n, p, conf=0.95):
    """0-based ranks (l, u) of the distribution-free CI of the p-quantile, -1 where none:
    l = largest j with P(B <= j) <= (1 - conf) / 2, u = smallest j < n with P(B <= j) >= 1 - that,
    B ~ binomial(n, p); the CDF by a log-space recurrence over the pmf."""
    tail = (1 - conf) / 2
    logpmf = np.empty(n + 1)
    logpmf[0] = n * math.log1p(-p)
    k = np.arange(n)
    logpmf[1:] = logpmf[0] + np.cumsum(np.log((n - k) / (k + 1)) + math.log(p) - math.log1p(-p))
    cdf = np.exp(np.logaddexp.accumulate(logpmf))
    lo = [j for j in range(n) if cdf[j] <= tail]
    hi = [j for j in range(n) if cdf[j] >= 1 - tail]
    return (lo[-1] if lo else -1), (hi[0] if hi else -1)


def distribution_stats(shortfall, share, levels):
    """Quantiles with CIs, VaR, CVaR, exceedance curve and threshold shares from [trial, demand]."""
    n, D = shortfall.shape
    srt = np.sort(shortfall, axis=0)
    out = {"quantile_levels": levels, "shortfall_quantiles": np.quantile(shortfall, levels, axis=0).T.copy()}
    lo = np.full((D, len(levels)), np.nan)
    hi = np.full((D, len(levels)), np.nan)
    for k, p in enumerate(levels):
        l, u = ci_ranks(n, float(p))
        if l >= 0:
            lo[:, k] = srt[l]
        if u >= 0:
            hi[:, k] = srt[u]
    out["shortfall_quantiles_ci_low"], out["shortfall_quantiles_ci_high"] = lo, hi
    out["var_levels"] = np.array(VAR_LEVELS)
    out["var"] = np.quantile(shortfall, VAR_LEVELS, axis=0).T.copy()
    cvar = np.zeros((D, 2))
    cvar_se = np.zeros((D, 2))
    for k, a in enumerate(VAR_LEVELS):
        m = max(1, min(n, math.ceil(round(n * (1 - a), 9))))  # 500 (1 - 0.95) counts as 25
        worst = srt[n - m:]
        cvar[:, k] = worst.mean(axis=0)
        tail_var = worst.var(axis=0, ddof=1) if m > 1 else 0.0
        q = np.quantile(shortfall, a, axis=0)
        cvar_se[:, k] = np.sqrt((tail_var + a * (cvar[:, k] - q) ** 2) / m)
    out["cvar"], out["cvar_se"] = cvar, cvar_se
    mx = np.maximum(shortfall.max(axis=0), 0.0)
    x = mx[:, None] * np.arange(GRID)[None, :] / (GRID - 1)
    x[:, -1] = mx  # the grid ends exactly at the largest shortfall seen
    p = (shortfall[:, :, None] > x[None, :, :]).mean(axis=0)
    out["exceedance_x"], out["exceedance_p"] = x, p
    out["exceedance_p_se"] = np.sqrt(p * (1 - p) / (n - 1))
    out["threshold_levels"] = np.array(THRESHOLDS)
    above = (share[:, :, None] > np.array(THRESHOLDS)[None, None, :]).astype(np.float64)
    out["p_share_above"] = above.mean(axis=0)
    out["p_share_above_se"] = above.std(axis=0, ddof=1) / math.sqrt(n)
    return out


def conditional_stats(shortfall, short, onset, regime, n_regimes):
    """EUD and P(short) given each event fired / did not, and by regime, with standard errors."""
    D = shortfall.shape[1]

    def mean_se(x, mask):
        k = int(mask.sum())
        if k == 0:
            return np.zeros(D), np.zeros(D)
        sub = x[mask]
        return sub.mean(axis=0), (sub.std(axis=0, ddof=1) / math.sqrt(k) if k > 1 else np.zeros(D))

    out = {}
    for what, x in (("eud", shortfall), ("p_short", short)):
        for cond, masks in (("_given_event", [onset[:, e] >= 0 for e in range(onset.shape[1])]),
                            ("_given_no_event", [onset[:, e] < 0 for e in range(onset.shape[1])]),
                            ("_by_regime", [regime == g for g in range(n_regimes)])):
            pairs = [mean_se(x, m) for m in masks]
            out[what + cond] = np.array([p[0] for p in pairs]).reshape(len(masks), D)
            out[what + cond + "_se"] = np.array([p[1] for p in pairs]).reshape(len(masks), D)
    return out

CONFIG_TEXT = """name: fake_study
run: {trials: 2000, seed: 7, horizon_months: 24, start: "2025-01"}
# fake config text: this file was written by tests/python/make_fake_results.py
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--horizon", type=int, default=24)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--block-size", type=int, default=500)
    ap.add_argument("--no-monthly", action="store_true", help="omit monthly_shortfall (store_monthly: false)")
    a = ap.parse_args(argv)

    rng = np.random.default_rng(a.seed)
    n, H = a.trials, a.horizon

    products = ["ga_primary", "ga_6n", "sm_metal", "co_refined", "smco_magnet"]
    recipes = ["", "ga_primary:1", "", "", "sm_metal:0.26,co_refined:0.5"]
    facilities = ["cn_ga_1", "jp_ga_1", "de_ga6n", "cn_sm", "fi_co", "us_smco"]
    facility_product = [0, 0, 1, 2, 3, 4]
    facility_country = ["CN", "JP", "DE", "CN", "FI", "US"]
    demands = ["us_defense_ga6n", "eu_industry_ga6n", "us_defense_smco", "jp_civil_smco"]
    demand_product = [1, 1, 4, 4]
    demand_country = ["US", "DE", "US", "JP"]
    demand_tier = [1, 2, 1, 2]
    has_stockpile = [True, False, True, False]
    events = ["cn_ga_export_ban", "jp_earthquake"]
    event_type = ["export_control", "capacity_shock"]
    regimes = ["calm", "trade_war"]
    regime_weight = [0.7, 0.3]
    restrictions = ["no_ru_to_us", "cn_ga_export_ban"]
    nodes = ["ga_primary@CN", "ga_primary@JP", "ga_6n@DE", "sm_metal@CN", "co_refined@FI", "smco_magnet@US"]
    D, F, E, R, Q, N = len(demands), len(facilities), len(events), len(restrictions), len(regimes), len(nodes)

    regime = rng.choice(Q, size=n, p=regime_weight).astype(np.int32)
    onset = np.full((n, E), -1, dtype=np.int32)
    fire = rng.random((n, E)) < np.where(regime[:, None] == 1, 0.5, 0.1)
    onset[fire] = rng.integers(0, H, size=int(fire.sum()))

    qty = np.array([12.0, 60.0, 24.0, 120.0])  # t/yr
    growth = np.array([0.0, 0.03, 0.05, 0.0])
    month = np.arange(H)
    want = qty[None, :, None] * rng.uniform(0.9, 1.1, size=(n, D, 1)) / 12.0
    want = want * (1.0 + growth[None, :, None]) ** (month[None, None, :] // 12)
    # shortfall months: more likely once an event fired
    hit = np.zeros((n, D, H), dtype=bool)
    for t in range(n):
        for e in range(E):
            if onset[t, e] >= 0:
                dur = int(rng.integers(1, 12))
                hit[t, :, onset[t, e] : onset[t, e] + dur] |= rng.random(D)[:, None] < 0.6
    hit |= rng.random((n, D, H)) < 0.01
    frac = np.clip(rng.beta(0.7, 2.0, size=(n, D, H)), 0.0, 1.0)
    monthly64 = np.where(hit, want * frac, 0.0)

    # stockpiles absorb the first shortfalls of demands that have one
    stockpile_min = np.zeros((n, D))
    stockout = np.full((n, D), -1, dtype=np.int32)
    for d in range(D):
        if not has_stockpile[d]:
            continue
        level0 = qty[d] * 0.25
        for t in range(n):
            level = level0
            for m in range(H):
                need = monthly64[t, d, m]
                if need > 0:
                    draw = min(level, need, qty[d] / 12.0)
                    level -= draw
                    monthly64[t, d, m] = need - draw
                    if monthly64[t, d, m] > 0 and level <= 0 and stockout[t, d] < 0:
                        stockout[t, d] = m
                stockpile_min[t, d] = min(level, stockpile_min[t, d]) if m else level
            stockpile_min[t, d] = max(stockpile_min[t, d], 0.0)

    # the engine keeps monthly shortfall in double, stores float32
    monthly32 = monthly64.astype(np.float32)
    shortfall = monthly64.sum(axis=2)
    demand_total = want.sum(axis=2)
    share = np.where(demand_total > 0, shortfall / np.where(demand_total > 0, demand_total, 1), 0.0)
    shortm = (monthly64 > 0).sum(axis=2).astype(np.int32)
    longest = np.zeros((n, D), dtype=np.int32)
    run = np.zeros((n, D), dtype=np.int32)
    for m in range(H):
        run = np.where(monthly64[:, :, m] > 0, run + 1, 0)
        longest = np.maximum(longest, run)
    fbm = np.where(rng.random((n, F)) < 0.3, rng.integers(0, H + 1, size=(n, F)), 0).astype(np.int32)
    fbm[:, 4] = 0  # one facility that never binds

    def se(x):
        x = np.asarray(x, dtype=np.float64)
        return x.std(axis=0, ddof=1) / np.sqrt(x.shape[0])

    node_trial = rng.uniform(0, 0.5, N)
    restr_trial = rng.uniform(0, 0.3, R)
    levels = np.array([0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
    summary = {
        "eud": shortfall.mean(axis=0),
        "eud_se": se(shortfall),
        "expected_demand": demand_total.mean(axis=0),
        "expected_demand_se": se(demand_total),
        "lose": shortm.mean(axis=0),
        "lose_se": se(shortm),
        "p_short": (shortm > 0).mean(axis=0),
        "p_short_se": se(shortm > 0),
        "quantile_levels": levels,
        "shortfall_quantiles": np.quantile(shortfall, levels, axis=0).T.copy(),
        "monthly_mean_shortfall": monthly64.mean(axis=0),
        "monthly_mean_shortfall_se": se(monthly64),
        "facility_binding_trial_share": (fbm > 0).mean(axis=0),
        "facility_binding_month_share": fbm.mean(axis=0) / H,
        "facility_binding_unserved": rng.uniform(0, 5, F) * (fbm > 0).mean(axis=0),
        "node_binding_trial_share": node_trial,
        "node_binding_month_share": node_trial * rng.uniform(0, 0.3, N),
        "node_binding_unserved": rng.uniform(0, 5, N),
        "restriction_binding_trial_share": restr_trial,
        "restriction_binding_month_share": restr_trial * rng.uniform(0, 0.3, R),
        "restriction_binding_unserved": rng.uniform(0, 5, R),
        "facility_binding_trial_share_se": se(fbm > 0),
        "facility_binding_month_share_se": se(fbm / H),
        "facility_binding_unserved_se": rng.uniform(0, 0.1, F),
        "node_binding_trial_share_se": np.sqrt(node_trial * (1 - node_trial) / n),
        "node_binding_month_share_se": rng.uniform(0, 0.01, N),
        "node_binding_unserved_se": rng.uniform(0, 0.1, N),
        "restriction_binding_trial_share_se": np.sqrt(restr_trial * (1 - restr_trial) / n),
        "restriction_binding_month_share_se": rng.uniform(0, 0.01, R),
        "restriction_binding_unserved_se": rng.uniform(0, 0.1, R),
        "regime_share": np.bincount(regime, minlength=Q) / n,
        "event_fired_share": (onset >= 0).mean(axis=0),
        "event_fired_share_se": se(onset >= 0),
    }
    summary.update(distribution_stats(shortfall, share, levels))
    summary.update(conditional_stats(shortfall, (shortm > 0).astype(np.float64), onset, regime, Q))
    if not a.no_monthly:
        summary["monthly_band_levels"] = np.array(BAND_LEVELS)
        summary["monthly_shortfall_bands"] = np.moveaxis(
            np.quantile(monthly32.astype(np.float64), BAND_LEVELS, axis=0), 0, -1).copy()
    # chokepoint unserved quantities: random but at most the EUD of the value chain(s) they serve;
    # chains: 0 = ga_primary, ga_6n; 1 = sm_metal, co_refined, smco_magnet
    chain_of_product = np.array([0, 0, 1, 1, 1])
    chain_eud = np.bincount(chain_of_product[demand_product], weights=summary["eud"], minlength=2)

    def unserved(chains_of_items):
        total = np.array([chain_eud[list(c)].sum() for c in chains_of_items])
        u = total * rng.uniform(0.0, 0.9, len(total))
        return u, np.where(total > 0, u / np.where(total > 0, total, 1.0), 0.0)

    fac_chains = [[chain_of_product[p]] for p in facility_product]
    node_chains = [[chain_of_product[products.index(nm.split("@")[0])]] for nm in nodes]
    restr_chains = [[0, 1], [0]]  # no_ru_to_us covers every product; cn_ga_export_ban the gallium chain
    for pre, ch in (("facility", fac_chains), ("node", node_chains), ("restriction", restr_chains)):
        u, sh = unserved(ch)
        u[summary[f"{pre}_binding_trial_share"] == 0] = 0.0
        sh[summary[f"{pre}_binding_trial_share"] == 0] = 0.0
        summary[f"{pre}_binding_unserved"] = u
        summary[f"{pre}_binding_unserved_share"] = sh
    summary["eud_share"] = summary["eud"] / summary["expected_demand"]
    # eud_share is a ratio of means and has no standard error; the mean of the per-trial shares has
    summary["mean_shortfall_share"] = share.mean(axis=0)
    summary["mean_shortfall_share_se"] = se(share)

    str_t = h5py.string_dtype("utf-8")
    with h5py.File(a.out, "w") as f:
        at = f.attrs
        at["filetype"] = "chokepoint-results"
        at.create("format_version", np.array([1, 1], dtype=np.int32))
        at["program_version"] = "0.0.0-fake"
        at["git_commit"] = "unknown"
        at.create("seed", np.uint64(a.seed), dtype=np.uint64)
        at.create("trials", np.uint64(n), dtype=np.uint64)
        at.create("horizon_months", np.int32(H), dtype=np.int32)
        at.create("block_size", np.uint64(a.block_size), dtype=np.uint64)
        at.create("threads", np.int32(2), dtype=np.int32)
        at["config_sha256"] = hashlib.sha256(CONFIG_TEXT.encode("utf-8")).hexdigest()
        at["name"] = "fake_study"
        at["description"] = "fake results written by tests/python/make_fake_results.py"
        at["start"] = "2025-01"
        at.create("complete", np.int32(1), dtype=np.int32)
        blocks = -(-n // a.block_size)
        at.create("ranks", np.int32(1), dtype=np.int32)
        at.create("trials_planned", np.uint64(n), dtype=np.uint64)
        at.create("blocks_total", np.uint64(blocks), dtype=np.uint64)
        at.create("first_block", np.uint64(0), dtype=np.uint64)
        at.create("end_block", np.uint64(blocks), dtype=np.uint64)
        at.create("shard_index", np.int32(0), dtype=np.int32)
        at.create("shard_count", np.int32(0), dtype=np.int32)
        at["created_utc"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        f.create_dataset("config/files", data=["configs/fake.yaml"], dtype=str_t)
        f.create_dataset("config/texts", data=[CONFIG_TEXT], dtype=str_t)

        def strs(name, values):
            f.create_dataset("model/" + name, data=values, dtype=str_t)

        def ints(name, values):
            f.create_dataset("model/" + name, data=np.asarray(values, dtype=np.int32))

        strs("products", products)
        strs("recipes", recipes)
        strs("facilities", facilities)
        ints("facility_product", facility_product)
        strs("facility_country", facility_country)
        strs("demands", demands)
        ints("demand_product", demand_product)
        strs("demand_country", demand_country)
        ints("demand_tier", demand_tier)
        ints("demand_has_stockpile", [1 if h else 0 for h in has_stockpile])
        strs("events", events)
        strs("event_type", event_type)
        strs("regimes", regimes)
        f.create_dataset("model/regime_weight", data=np.asarray(regime_weight, dtype=np.float64))
        strs("restrictions", restrictions)
        strs("nodes", nodes)
        strs("countries", sorted(set(facility_country) | set(demand_country)))

        tg = f.create_group("scenarios/baseline/trials")

        def trial(name, data):
            data = np.asarray(data)
            chunks = (min(n, 256),) + data.shape[1:]
            tg.create_dataset(
                name, data=data, chunks=chunks, compression="gzip", maxshape=(None,) + data.shape[1:]
            )

        trial("shortfall", shortfall)
        trial("demand_total", demand_total)
        trial("shortfall_share", share)
        trial("short_months", shortm)
        trial("longest_run", longest)
        trial("stockpile_min", stockpile_min)
        trial("stockout_month", stockout)
        trial("facility_binding_months", fbm)
        trial("regime", regime)
        trial("event_onset", onset)
        if not a.no_monthly:
            trial("monthly_shortfall", monthly32)

        sg = f.create_group("scenarios/baseline/summary")
        for k, v in summary.items():
            sg.create_dataset(k, data=np.asarray(v, dtype=np.float64))

        # Dimension scales, so that xarray (h5netcdf) reads named dimensions.
        def scale(group, name, data, **kw):
            ds = group.create_dataset(name, data=data, **kw)
            ds.make_scale(name)
            return ds

        names = {"demand": demands, "facility": facilities, "event": events, "regime": regimes,
                 "node": nodes, "restriction": restrictions}
        tscales = {"trial": scale(tg, "trial", np.arange(n, dtype=np.uint64), chunks=(min(n, 256),), maxshape=(None,)),
                   "month": scale(tg, "month", np.arange(H, dtype=np.int32))}
        for dim in ("demand", "facility", "event"):
            tscales[dim] = scale(tg, dim, names[dim], dtype=str_t)
        sscales = {"month": scale(sg, "month", np.arange(H, dtype=np.int32)),
                   "grid": scale(sg, "grid", np.arange(GRID, dtype=np.int32))}
        for dim, vals in names.items():
            sscales[dim] = scale(sg, dim, vals, dtype=str_t)
        for dim, src in (("quantile", "quantile_levels"), ("var_level", "var_levels"),
                         ("threshold", "threshold_levels"), ("band", "monthly_band_levels")):
            if src in summary:
                sscales[dim] = scale(sg, dim, np.asarray(summary[src], dtype=np.float64))
        for group, table, scales in ((tg, TRIAL_DIMS, tscales), (sg, SUMMARY_DIMS, sscales)):
            for name, ds in group.items():
                base = name[:-3] if name.endswith("_se") and name[:-3] in table else name
                if name in scales or base not in table:
                    continue
                for i, dim in enumerate(table[base]):
                    ds.dims[i].attach_scale(scales[dim])
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
