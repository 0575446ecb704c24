#!/usr/bin/env python3
"""Check every distribution, risk, conditional and chokepoint-share statistic of a results file
against numpy computed from the per-trial datasets of the same file (docs/output-format.md).

    test_statistics.py [--constant-tail DEMAND]... FILE

For /scenarios/baseline (and every other scenario group in the file) it checks:
  layout     every summary dataset of the format-1.0 table is float64 with the documented shape;
             its HDF5 dimension scales carry the documented dimension names (also the per-trial
             datasets); the scales hold the /model names, the *_levels, 0..H-1, 0..100, 0..n-1
  quantiles  shortfall_quantiles, var == numpy.quantile (linear)                 exact or 1e-12
  CI         shortfall_quantiles_ci_low/_high == sorted(shortfall)[l], [u] with l the largest j
             with P(B <= j) <= 0.025, u the smallest j < n with P(B <= j) >= 0.975,
             B ~ binomial(n, p), the CDF summed from log-gamma pmfs (no scipy); NaN if none
  CVaR       cvar == mean of the worst m = ceil(n (1 - a)) trials, cvar_se == sqrt((tail var(ddof=1) + a (cvar - VaR)^2) / m);
             a tail of m equal values has cvar_se == 0 exactly (--constant-tail D: D must have one)
  exceedance exceedance_x == max(shortfall) * g / 100; exceedance_p == mean(shortfall > x);
             exceedance_p_se == sqrt(p (1 - p) / (n - 1))
  thresholds p_share_above == mean(shortfall_share > threshold), its _se
  conditional eud / p_short given event fired (event_onset >= 0) / not fired / by regime, and
             their _se == std(ddof=1)/sqrt(k) over those k trials (0 and 0 for k = 0, SE 0 for k = 1)
  fan chart  monthly_shortfall_bands == numpy.quantile(float64(monthly_shortfall), levels, axis=0)
  chokepoints *_binding_unserved_share == *_binding_unserved / EUD of the chain(s): chains are the
             connected components of the recipe graph (/model/recipes); a restriction's products
             are not in the file, so its denominator must be the EUD of SOME non-empty set of chains
             (one chain: exactly that chain)
and consistency: ci_low <= quantile <= ci_high, var <= cvar, exceedance_p non-increasing,
P(fired) EUD|fired + P(not) EUD|not == EUD, sum over regimes share x EUD|regime == EUD.

Means and standard errors: 1e-9 relative (the engine sums exactly, numpy does not); order
statistics and counts: exact (reported with the largest difference). Prints one line per check;
exits 1 if any failed, 2 if the file cannot be read.
"""

import itertools
import math
import os
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import package_path  # noqa: E402,F401  (the checkout's python/ first on sys.path)
from chokepoint import (  # noqa: E402
    SUMMARY_DIMS,
    TRIAL_DIMS,
    ChokepointFormatError,
    open_results,
)
from test_output import Checks, se_of  # noqa: E402

CONF = 0.95
VAR_LEVELS = [0.95, 0.99]
BAND_LEVELS = [0.05, 0.25, 0.5, 0.75, 0.95]
GRID = 101


# -- reference computations ----------------------------------------------------------------------
def binomial_cdf(n, p):
    """P(B <= j) for j = 0..n, B ~ binomial(n, p), from log-gamma pmfs (float64)."""
    j = np.arange(n + 1)
    lg = np.array([math.lgamma(k + 1) for k in range(n + 1)])
    logpmf = lg[n] - lg[j] - lg[n - j] + j * math.log(p) + (n - j) * math.log1p(-p)
    return np.minimum(np.cumsum(np.exp(logpmf)), 1.0)


def ci_ranks(n, p, conf=CONF):
    """(l, u, borderline): 0-based ranks of the distribution-free CI of the p-quantile, -1 where
    there is none; borderline is True when a CDF value lies within 1e-9 of a cut (then the
    engine's boost CDF and this float64 sum may legitimately choose neighbouring ranks)."""
    tail = (1 - conf) / 2
    F = binomial_cdf(n, p)
    below = np.flatnonzero(F[:n] <= tail)
    lo = int(below[-1]) if below.size else -1
    above = np.flatnonzero(F[:n] >= 1 - tail)
    hi = int(above[0]) if above.size else -1
    border = bool(np.any(np.abs(F[:n] - tail) < 1e-9) or np.any(np.abs(F[:n] - (1 - tail)) < 1e-9))
    return lo, hi, border


def tail_count(n, a):
    """m = ceil(n (1 - a)) for a level given as a decimal (0.95): n (1 - a) is rounded to 9 digits
    first so that 500 (1 - 0.95) = 25.000000000000018 in float64 counts as 25 (as the engine does)."""
    return max(1, min(n, math.ceil(round(n * (1 - a), 9))))


def cond_mean_se(x, mask):
    """Mean and std(ddof=1)/sqrt(k) over the rows in mask, per column; 0/0 for k = 0, SE 0 for k = 1."""
    k = int(mask.sum())
    if k == 0:
        return np.zeros(x.shape[1]), np.zeros(x.shape[1])
    sub = np.asarray(x[mask], dtype=np.float64)
    mean = sub.mean(axis=0)
    se = sub.std(axis=0, ddof=1) / np.sqrt(k) if k > 1 else np.zeros(x.shape[1])
    return mean, se


def chains(model):
    """Connected component (chain) index of each product, from /model/recipes."""
    products = list(model["products"])
    parent = list(range(len(products)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    pos = {p: i for i, p in enumerate(products)}
    for i, recipe in enumerate(model["recipes"]):
        for item in filter(None, recipe.split(",")):
            name = item.split(":")[0].strip()
            if name in pos:
                parent[find(i)] = find(pos[name])
    roots = [find(i) for i in range(len(products))]
    ids = {r: k for k, r in enumerate(dict.fromkeys(roots))}
    return np.array([ids[r] for r in roots]), products


# -- checks ---------------------------------------------------------------------------------------
def exact(c, what, actual, expected):
    """Bitwise-equal values (NaN == NaN); reports the largest difference."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return c.ok(False, what, f"shape {a.shape}, expected {e.shape}")
    same = (a == e) | (np.isnan(a) & np.isnan(e))
    if same.all():
        return c.ok(True, f"{what} (exact)")
    idx = tuple(np.argwhere(~same)[0])
    return c.ok(False, what, f"{int((~same).sum())} of {a.size} differ; first at {idx}: file {a[idx]!r}, "
                             f"expected {e[idx]!r}")


def warn(c, cond, what, detail=""):
    """A documented property the engine misses in a way that changes no number by more than one
    trial in n: printed as WARN, not counted as a failure (see the report in the test output)."""
    if cond:
        return c.ok(True, what)
    c.warnings = getattr(c, "warnings", []) + [what]
    print(f"WARN  {what}: {detail}")
    return False


def check_layout(c, sc, sizes):
    s = sc.summary
    g = sc.group["summary"]
    print(f"-- {sc.group.name}: new summary datasets: dtype, shape, dimension names")
    new = ["quantile_levels", "shortfall_quantiles", "shortfall_quantiles_ci_low", "shortfall_quantiles_ci_high",
           "var_levels", "var", "cvar", "cvar_se", "exceedance_x", "exceedance_p", "exceedance_p_se",
           "threshold_levels", "p_share_above", "p_share_above_se",
           "eud_given_event", "eud_given_event_se", "eud_given_no_event", "eud_given_no_event_se",
           "p_short_given_event", "p_short_given_event_se", "p_short_given_no_event", "p_short_given_no_event_se",
           "eud_by_regime", "eud_by_regime_se", "p_short_by_regime", "p_short_by_regime_se",
           "facility_binding_unserved_share", "node_binding_unserved_share", "restriction_binding_unserved_share"]
    if sizes["has_monthly"]:
        new += ["monthly_band_levels", "monthly_shortfall_bands"]
    ok = {}
    for name in new:
        if not c.ok(name in s, f"summary/{name} present"):
            continue
        base = name[:-3] if name.endswith("_se") else name
        dims = SUMMARY_DIMS[base]
        shape = tuple(sizes[d] for d in dims)
        ds = g[name]
        ok[name] = c.ok(np.dtype(ds.dtype) == np.float64 and ds.shape == shape,
                        f"summary/{name} float64 {dict(zip(dims, shape))}", f"found {ds.dtype} {ds.shape}")
    # dimension scales: every documented dataset (old and new) and every per-trial dataset
    bad = []
    for name in g:
        ds = g[name]
        if not isinstance(ds, h5py.Dataset) or sc.dims(name) == (name,):
            continue
        base = name[:-3] if name.endswith("_se") and name[:-3] in SUMMARY_DIMS else name
        if base not in SUMMARY_DIMS:
            continue
        try:
            got = sc.dims(name)
        except ChokepointFormatError as e:
            got = str(e)
        if got != SUMMARY_DIMS[base]:
            bad.append(f"{name}: {got} (doc {SUMMARY_DIMS[base]})")
    c.ok(not bad, "summary datasets: dimension scales name the documented dimensions", "; ".join(bad[:5]))
    bad = []
    for name in sc.group["trials"]:
        if name in TRIAL_DIMS:
            got = sc.dims(name, "trials")
            if got != TRIAL_DIMS[name]:
                bad.append(f"{name}: {got} (doc {TRIAL_DIMS[name]})")
    c.ok(not bad, "per-trial datasets: dimension scales name the documented dimensions", "; ".join(bad[:5]))

    coords = sc.coords
    m = sc._model
    for dim, table in (("demand", "demands"), ("facility", "facilities"), ("event", "events"),
                       ("regime", "regimes"), ("node", "nodes"), ("restriction", "restrictions")):
        if c.ok(dim in coords, f"summary coordinate {dim} present"):
            c.ok(list(coords[dim]) == list(m[table]), f"summary coordinate {dim} == /model/{table}",
                 f"{list(coords[dim])[:4]} vs {list(m[table])[:4]}")
    for dim, src in (("quantile", "quantile_levels"), ("var_level", "var_levels"),
                     ("threshold", "threshold_levels"), ("band", "monthly_band_levels")):
        if src in s and c.ok(dim in coords, f"summary coordinate {dim} present"):
            exact(c, f"summary coordinate {dim} == {src}", coords[dim], s[src])
    if c.ok("month" in coords, "summary coordinate month present"):
        exact(c, "summary coordinate month == 0..H-1", coords["month"], np.arange(sizes["month"]))
    if c.ok("grid" in coords, "summary coordinate grid present"):
        exact(c, "summary coordinate grid == 0..100", coords["grid"], np.arange(GRID))
    tg = sc.group["trials"]
    for dim, ref in (("trial", np.arange(sizes["trial"])), ("demand", m["demands"]),
                     ("facility", m["facilities"]), ("event", m["events"]), ("month", np.arange(sizes["month"]))):
        if not c.ok(dim in tg, f"trials coordinate {dim} present"):
            continue
        v = tg[dim]
        vals = v.asstr()[()].tolist() if h5py.check_string_dtype(v.dtype) is not None else v[()]
        if isinstance(ref, list):
            c.ok(list(vals) == ref, f"trials coordinate {dim} == /model names")
        else:
            exact(c, f"trials coordinate {dim} == 0..{len(ref) - 1}", vals, ref)

    if ok.get("var_levels"):
        exact(c, "summary/var_levels == [0.95, 0.99]", s["var_levels"], VAR_LEVELS)
    if ok.get("monthly_band_levels"):
        exact(c, "summary/monthly_band_levels == [0.05, 0.25, 0.5, 0.75, 0.95]", s["monthly_band_levels"],
              BAND_LEVELS)
    if ok.get("threshold_levels"):
        t = np.asarray(s["threshold_levels"])
        c.ok(t.ndim == 1 and ((t >= 0) & (t <= 1)).all() and (np.diff(t) > 0).all(),
             "summary/threshold_levels increasing in [0, 1]", str(t))
    return ok


def check_distribution(c, sc, sizes, ok):
    s, t = sc.summary, sc.trials
    n = sizes["trial"]
    sf = np.asarray(t["shortfall"], dtype=np.float64)
    srt = np.sort(sf, axis=0)
    print(f"-- {sc.group.name}: distribution of total shortfall vs numpy ({n} trials)")
    q = np.asarray(s["quantile_levels"], dtype=np.float64)
    if ok.get("shortfall_quantiles"):
        c.close("shortfall_quantiles == numpy.quantile(shortfall, quantile_levels) (linear)",
                s["shortfall_quantiles"], np.quantile(sf, q, axis=0).T, 1e-12)
    if ok.get("shortfall_quantiles_ci_low") and ok.get("shortfall_quantiles_ci_high"):
        exp_lo = np.full((sizes["demand"], q.size), np.nan)
        exp_hi = np.full((sizes["demand"], q.size), np.nan)
        notes, border = [], False
        for k, p in enumerate(q):
            lo, hi, b = ci_ranks(n, float(p))
            border |= b
            notes.append(f"p={p:g}: l={lo if lo >= 0 else 'none'}, u={hi if hi >= 0 else 'none'}")
            if lo >= 0:
                exp_lo[:, k] = srt[lo]
            if hi >= 0:
                exp_hi[:, k] = srt[hi]
        print(f"      binomial ranks (n={n}): " + "; ".join(notes))
        lo_ok = exact(c, "shortfall_quantiles_ci_low == sorted(shortfall)[l] (NaN where no l)",
                      s["shortfall_quantiles_ci_low"], exp_lo)
        hi_ok = exact(c, "shortfall_quantiles_ci_high == sorted(shortfall)[u] (NaN where no u)",
                      s["shortfall_quantiles_ci_high"], exp_hi)
        if not (lo_ok and hi_ok) and border:
            print("NOTE  a binomial CDF value lies within 1e-9 of 0.025 or 0.975: a neighbouring rank may be right")
        lo_v, hi_v = np.asarray(s["shortfall_quantiles_ci_low"]), np.asarray(s["shortfall_quantiles_ci_high"])
        qv = np.asarray(s["shortfall_quantiles"])
        with np.errstate(invalid="ignore"):
            c.ok(np.all(np.isnan(lo_v) | (lo_v <= qv)) and np.all(np.isnan(hi_v) | (qv <= hi_v)),
                 "ci_low <= shortfall_quantiles <= ci_high")
    if ok.get("var"):
        c.close("var == numpy.quantile(shortfall, [0.95, 0.99]) (linear)", s["var"],
                np.quantile(sf, VAR_LEVELS, axis=0).T, 1e-12)
    if ok.get("cvar") and ok.get("cvar_se"):
        cv = np.zeros((sizes["demand"], 2))
        cse = np.zeros((sizes["demand"], 2))
        ms = []
        for k, a in enumerate(VAR_LEVELS):
            mt = tail_count(n, a)
            ms.append(mt)
            worst = srt[n - mt:]
            cv[:, k] = worst.mean(axis=0)
            tail_var = worst.var(axis=0, ddof=1) if mt > 1 else 0.0
            q = np.quantile(sf, a, axis=0)
            cse[:, k] = np.sqrt((tail_var + a * (cv[:, k] - q) ** 2) / mt)
        print(f"      CVaR tails: m = {ms} of n = {n} trials")
        c.close("cvar == mean of the worst ceil(n (1 - a)) trials", s["cvar"], cv, 1e-12)
        c.close("cvar_se == sqrt((var(ddof=1) of those trials + a (cvar - var)^2) / m)", s["cvar_se"],
                cse, 1e-9,
                scale=float(np.abs(sf).max(initial=0.0)))
        if ok.get("var"):
            c.ok((np.asarray(s["var"]) <= np.asarray(s["cvar"]) * (1 + 1e-12) + 1e-300).all(), "var <= cvar")
        # A tail of m bit-equal values has no spread, and VaR is that value: its standard error is
        # exactly 0 (not round-off of the values' squares), as the formula above says.
        const = []
        for k, mt in enumerate(ms):
            for d in range(sizes["demand"]):
                worst = srt[n - mt:, d]
                if mt > 0 and (worst == worst[0]).all():
                    const.append((d, k))
        constant_tails.extend((sc.group.name, d, k) for d, k in const)
        if const:
            got = [float(np.asarray(s["cvar_se"])[d, k]) for d, k in const]
            c.ok(all(g == 0.0 for g in got),
                 f"CVaR of a constant tail: cvar_se == 0 exactly ({len(const)} demand-level pairs)",
                 f"cvar_se {got}")
    if ok.get("exceedance_x"):
        mx = np.maximum(sf.max(axis=0), 0.0)
        grid = mx[:, None] * np.arange(GRID)[None, :] / (GRID - 1)
        c.close("exceedance_x == max(shortfall) * g / 100, g = 0..100", s["exceedance_x"], grid, 1e-15)
        if ok.get("exceedance_p"):
            x = np.asarray(s["exceedance_x"])
            p = (sf[:, :, None] > x[None, :, :]).mean(axis=0)
            exact(c, "exceedance_p == mean(shortfall > exceedance_x) (stored grid)", s["exceedance_p"], p)
            c.ok((np.diff(np.asarray(s["exceedance_p"]), axis=1) <= 0).all(), "exceedance_p non-increasing in x")
            top = np.asarray(s["exceedance_x"])[:, -1]
            off = np.flatnonzero(top != sf.max(axis=0))
            warn(c, off.size == 0, "exceedance_x[:, 100] == the largest total shortfall seen (doc: 'from 0 to "
                 "the largest'), so exceedance_p[:, 100] == 0",
                 f"demand(s) {off.tolist()}: grid top {top[off].tolist()} != max {sf.max(axis=0)[off].tolist()} "
                 f"(max * 100 / 100 rounds below max), exceedance_p there "
                 f"{np.asarray(s['exceedance_p'])[off, -1].tolist()}")
            if ok.get("exceedance_p_se"):
                c.close("exceedance_p_se == sqrt(p (1 - p) / (n - 1))", s["exceedance_p_se"],
                        np.sqrt(p * (1 - p) / (n - 1)) if n > 1 else np.zeros_like(p), 1e-12)
    if ok.get("p_share_above"):
        share = np.asarray(t["shortfall_share"], dtype=np.float64)
        thr = np.asarray(s["threshold_levels"], dtype=np.float64)
        ind = (share[:, :, None] > thr[None, None, :]).astype(np.float64)
        c.close("p_share_above == mean(shortfall_share > threshold)", s["p_share_above"], ind.mean(axis=0), 1e-12)
        dt = np.asarray(t["demand_total"], dtype=np.float64)
        alt = (sf[:, :, None] > thr[None, None, :] * dt[:, :, None]).mean(axis=0)
        diff = int(np.abs(alt - ind.mean(axis=0)).max() * n + 0.5) if n else 0
        if diff:
            print(f"NOTE  'shortfall > threshold x demand_total' (the doc's words) differs from "
                  f"'shortfall_share > threshold' in {diff} trial(s) of the worst (demand, threshold)")
        if ok.get("p_share_above_se") and n > 1:
            c.close("p_share_above_se == std(ddof=1)/sqrt(n)", s["p_share_above_se"], se_of(ind), 1e-9,
                    scale=1 / math.sqrt(n))


def check_conditional(c, sc, sizes, ok):
    s, t = sc.summary, sc.trials
    sf = np.asarray(t["shortfall"], dtype=np.float64)
    short = (np.asarray(t["short_months"]) > 0).astype(np.float64)
    onset = np.asarray(t["event_onset"])
    regime = np.asarray(t["regime"])
    n, E, G, D = sizes["trial"], sizes["event"], sizes["regime"], sizes["demand"]
    print(f"-- {sc.group.name}: conditional views vs numpy ({E} events, {G} regimes)")
    fired = onset >= 0
    print("      trials with the event fired: " + ", ".join(str(int(k)) for k in fired.sum(axis=0)))
    scale_sf = float(np.abs(sf).max(initial=0.0))
    for what, data, scale in (("eud", sf, scale_sf), ("p_short", short, 1.0)):
        for cond, pick in (("given_event", lambda e: fired[:, e]), ("given_no_event", lambda e: ~fired[:, e])):
            name = f"{what}_{cond}"
            mean = np.zeros((E, D))
            se = np.zeros((E, D))
            for e in range(E):
                mean[e], se[e] = cond_mean_se(data, pick(e))
            if ok.get(name):
                c.close(f"{name} == mean over those trials", s[name], mean, 1e-9, scale=scale)
            if ok.get(name + "_se"):
                c.close(f"{name}_se == std(ddof=1)/sqrt(k)", s[name + "_se"], se, 1e-9,
                        scale=scale / math.sqrt(max(n, 1)))
        name = f"{what}_by_regime"
        mean = np.zeros((G, D))
        se = np.zeros((G, D))
        for g in range(G):
            mean[g], se[g] = cond_mean_se(data, regime == g)
        if ok.get(name):
            c.close(f"{name} == mean over the trials of each regime", s[name], mean, 1e-9, scale=scale)
        if ok.get(name + "_se"):
            c.close(f"{name}_se == std(ddof=1)/sqrt(k)", s[name + "_se"], se, 1e-9,
                    scale=scale / math.sqrt(max(n, 1)))
    if ok.get("eud_given_event") and ok.get("eud_given_no_event") and E:
        w = np.asarray(s["event_fired_share"])[:, None]
        total = w * np.asarray(s["eud_given_event"]) + (1 - w) * np.asarray(s["eud_given_no_event"])
        c.close("P(fired) EUD|fired + P(not) EUD|not == EUD, for every event", total,
                np.broadcast_to(np.asarray(s["eud"]), (E, D)), 1e-9, scale=scale_sf)
    if ok.get("eud_by_regime"):
        total = (np.asarray(s["regime_share"])[:, None] * np.asarray(s["eud_by_regime"])).sum(axis=0)
        c.close("sum over regimes of regime_share x EUD|regime == EUD", total, s["eud"], 1e-9, scale=scale_sf)


def check_bands(c, sc, sizes, ok):
    if not sizes["has_monthly"]:
        c.skip("monthly_shortfall_bands", "no monthly_shortfall in the file (run.store_monthly false)")
        return
    if not ok.get("monthly_shortfall_bands"):
        return
    print(f"-- {sc.group.name}: fan-chart bands vs numpy")
    ms = np.asarray(sc.trials["monthly_shortfall"]).astype(np.float64)
    ref = np.quantile(ms, BAND_LEVELS, axis=0)  # [band, demand, month]
    c.close("monthly_shortfall_bands == numpy.quantile(float64(monthly_shortfall), bands, axis=0)",
            sc.summary["monthly_shortfall_bands"], np.moveaxis(ref, 0, -1), 1e-12)
    b = np.asarray(sc.summary["monthly_shortfall_bands"])
    c.ok((np.diff(b, axis=2) >= 0).all(), "monthly_shortfall_bands non-decreasing along band")


def check_unserved_share(c, sc, sizes, ok, model):
    s = sc.summary
    print(f"-- {sc.group.name}: chokepoint shares of the chain's unserved demand")
    comp, products = chains(model)
    nchains = int(comp.max()) + 1 if comp.size else 0
    eud = np.asarray(s["eud"], dtype=np.float64)
    dchain = comp[np.asarray(model["demand_product"])]
    chain_eud = np.zeros(nchains)
    for d in range(len(eud)):
        chain_eud[dchain[d]] += eud[d]
    print(f"      {nchains} chain(s); chain EUD (t): " + ", ".join(f"{v:.6g}" for v in chain_eud))

    def expected(unserved, denom):
        return np.where(denom > 0, unserved / np.where(denom > 0, denom, 1.0), 0.0)

    pos = {p: i for i, p in enumerate(products)}
    for kind, chain_of in (("facility", comp[np.asarray(model.get("facility_product", []), dtype=int)]
                            if "facility_product" in model else None),
                           ("node", np.array([comp[pos[nm.split("@")[0]]] for nm in model.get("nodes", [])],
                                             dtype=int))):
        name = f"{kind}_binding_unserved_share"
        if chain_of is None or not ok.get(name) or f"{kind}_binding_unserved" not in s:
            continue
        u = np.asarray(s[f"{kind}_binding_unserved"], dtype=np.float64)
        c.close(f"{name} == {kind}_binding_unserved / EUD of its chain", s[name],
                expected(u, chain_eud[chain_of] if chain_of.size else np.zeros(0)), 1e-12)
        v = np.asarray(s[name])
        c.ok(((v >= 0) & (v <= 1 + 1e-12)).all(), f"{name} in [0, 1]", f"range [{v.min(initial=0)}, {v.max(initial=0)}]")
    name = "restriction_binding_unserved_share"
    if ok.get(name) and "restriction_binding_unserved" in s:
        u = np.asarray(s["restriction_binding_unserved"], dtype=np.float64)
        v = np.asarray(s[name], dtype=np.float64)
        subsets = [sum(chain_eud[list(k)]) for r in range(1, nchains + 1)
                   for k in itertools.combinations(range(nchains), r)]
        bad, unique = [], 0
        for i in range(len(u)):
            hits = [T for T in subsets if abs(float(expected(np.array(u[i]), np.array(T))) - v[i]) <= 1e-12 * abs(v[i])]
            if not hits:
                bad.append(f"{model['restrictions'][i]}: share {v[i]!r}, unserved {u[i]!r}")
            elif len(set(hits)) == 1:
                unique += 1
        c.ok(not bad, f"{name} == restriction_binding_unserved / EUD of some set of chains "
                      f"({unique} of {len(u)} with a unique set)", "; ".join(bad[:4]))
        c.ok(((v >= 0) & (v <= 1 + 1e-12)).all(), f"{name} in [0, 1]", f"range [{v.min(initial=0)}, {v.max(initial=0)}]")


def check_reader_access(c, sc, sizes):
    """The reader's label-based access agrees with positional indexing."""
    print(f"-- {sc.group.name}: reader access by labels")
    s = sc.summary
    d = sizes["demand"] - 1
    dname = sc._model["demands"][d]
    c.ok(sc.value("cvar", demand=dname, var_level=0.99) == float(np.asarray(s["cvar"])[d, 1]),
         f"Scenario.value('cvar', demand={dname!r}, var_level=0.99) == cvar[{d}, 1]")
    if sizes["event"]:
        e = sc._model["events"][0]
        c.ok(np.array_equal(sc.value("eud_given_event", event=e), np.asarray(s["eud_given_event"])[0]),
             f"Scenario.value('eud_given_event', event={e!r}) == eud_given_event[0]")
    c.ok(sc.dims("cvar_se") == ("demand", "var_level"), "Scenario.dims('cvar_se') == ('demand', 'var_level')")
    c.ok(sc.dims("regime", "trials") == ("trial",) and sc.dims("regime") == ("regime",),
         "Scenario.dims('regime', 'trials') == ('trial',); dims('regime') is the summary coordinate")
    if sizes["has_monthly"]:
        c.ok(sc.dims("monthly_shortfall_bands") == ("demand", "month", "band"),
             "Scenario.dims('monthly_shortfall_bands') == ('demand', 'month', 'band')")


# (scenario group, demand index, var_level index) of every CVaR tail of m equal values met
constant_tails = []


def main(argv):
    # --constant-tail DEMAND: the file must hold such a tail for that demand (so that the check
    # above is not vacuous on the file made for it)
    want_constant = []
    while len(argv) > 3 and argv[1] == "--constant-tail":
        want_constant.append(argv[2])
        argv = argv[:1] + argv[3:]
    if len(argv) != 2:
        print(f"usage: {os.path.basename(argv[0])} [--constant-tail DEMAND]... FILE", file=sys.stderr)
        return 2
    path = argv[1]
    try:
        res = open_results(path)
    except ChokepointFormatError as e:
        print(f"FAIL  open {path}: {e}")
        return 2
    c = Checks()
    with res:
        m = res.model
        n = int(res.attrs["trials"])
        for sc in res.scenarios.values():
            s = sc.summary
            sizes = {
                "trial": n, "month": int(res.attrs["horizon_months"]), "demand": len(m["demands"]),
                "facility": len(m["facilities"]), "event": len(m["events"]), "regime": len(m["regimes"]),
                "node": len(m["nodes"]), "restriction": len(m["restrictions"]), "grid": GRID,
                "var_level": len(VAR_LEVELS), "band": len(BAND_LEVELS),
                "quantile": len(s["quantile_levels"]) if "quantile_levels" in s else 0,
                "threshold": len(s["threshold_levels"]) if "threshold_levels" in s else 0,
                "has_monthly": sc.has_monthly,
            }
            print(f"checking {path} {sc.group.name}: sizes {sizes}")
            if sc.group["trials"]["shortfall"].shape[0] != n:
                c.skip(f"{sc.group.name}", "per-trial data do not have `trials` rows")
                continue
            ok = check_layout(c, sc, sizes)
            for step in (check_distribution, check_conditional, check_bands):
                try:
                    step(c, sc, sizes, ok)
                except ChokepointFormatError as e:  # a dataset the step needs is missing
                    c.ok(False, f"{step.__name__}: every dataset it needs is present", str(e)[:300])
            try:
                check_unserved_share(c, sc, sizes, ok, m)
                check_reader_access(c, sc, sizes)
            except ChokepointFormatError as e:
                c.ok(False, "chokepoint shares and reader access: every dataset they need is present", str(e)[:300])
        names = [x.decode() if isinstance(x, bytes) else str(x) for x in m["demands"]]
        for want in want_constant:
            hit = want in names and any(d == names.index(want) for _, d, _ in constant_tails)
            c.ok(hit, f"demand {want!r} has a CVaR tail of equal values (--constant-tail)")
    warned = getattr(c, "warnings", [])
    print(f"-- {c.passed} passed, {len(c.failed)} failed, {c.skipped} skipped, {len(warned)} warnings")
    for w in warned:
        print(f"  WARN {w}")
    if c.failed:
        print("failed checks:")
        for w in c.failed:
            print(f"  {w}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
