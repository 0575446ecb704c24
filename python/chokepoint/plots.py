"""Plot a chokepoint results file (HDF5) to PNG files.

    chokepoint-plot FILE [--out DIR]          (installed with `pip install ./python`)
    python -m chokepoint plot FILE [--out DIR]
    scripts/plot_results.py FILE [--out DIR]  (the same, from a checkout, installed or not)

Writes into DIR (default: FILE's directory / <FILE stem>_plots/), and lists what it wrote in
DIR/.chokepoint-plots: the figures an earlier run wrote there and this one does not (a scenario or
demand the new file lacks) are removed, so that DIR never mixes two files' figures; other files
in DIR are left alone. For the baseline scenario:
  exceedance*.png     P(total shortfall over the horizon > x), one panel per demand: the curve of
                      all trials, and the summary's 101-point curve with a +-2 standard error band
  histogram*.png      histogram of total shortfall per demand (log scale; the share of trials
                      with no shortfall is written in each panel, not drawn)
  monthly*.png        fan chart of shortfall per month: median, 25-75 % and 5-95 % of trials
                      (summary monthly_shortfall_bands), and the mean
  chokepoints.png     facilities, (product, country) nodes and trade restrictions ranked by the
                      unserved demand of their value chain in the months in which they bind (t,
                      mean per trial, +-2 SE; files without it: by the share of trial-months in
                      which they bind), top 12 each; constraints of one stage (product) with
                      exactly the same statistics, which bind together, are one bar
                      ("nd_conc @ 9 countries")
  stockouts*.png      stockpile depletion: share of trials whose stockpile has run out by month m,
                      for demands with a stockpile, and the share that never runs out
  risk.png            VaR and CVaR at 95 % and 99 % per demand, as % of expected demand, with
                      error bars (95 % CI of the quantile for VaR, +-2 SE for CVaR)
  risk_table.png      the same and EUD, P(short), as a table in tonnes
  events*.png         EUD given each event fired vs. did not fire (+-2 SE), per demand: the
                      events that change it most
  regimes.png         EUD and P(short) in each regime (+-2 SE), when the study has >= 2 regimes
  scenarios*.png      EUD per demand in each scenario (+-2 SE), when the file has >= 2 scenarios,
                      one page per value chain (or group of small chains); demands matched by id
                      (a scenario may add or remove demands), and at each other scenario's bar its
                      paired difference from the baseline (+-2 SE; 0 at rounding level)
and, from format 1.1 on, per scenario <s> (in run order, the baseline first):
  convergence_<s>.png the running EUD estimate (t) after each block of trials, with a +-2 SE band,
                      against the trials done (log scale), one small panel per demand with nonzero
                      EUD, all in one figure; the stopping rule's outcome (root attributes stop_*)
                      under the baseline's
  differences_<s>.png for each scenario other than the baseline, "scenario <s> minus baseline":
                      one row of panels per value chain, each with its own scale, for the demands
                      whose difference is not at rounding level: the paired difference in EUD (t)
                      and in P(short) (percentage points) with +-2 SE on common random numbers
                      (diff_*_se) next to the +-2 SE two independent runs would give
                      (diff_*_se_independent). Not written when no demand differs beyond rounding
                      (a note says so)

With R > 1 replicates of a sampling design (run.sampler lhs or sobol), the "+-2 SE" of the
statistics whose standard errors come from the replicate means (EUD, P(short), LOSE, the shortfall
share and their paired differences) is +-t SE instead, t the summary's ci95_t (Student t with
R - 1 degrees of freedom: 2.26 for 10 replicates), so that the bars still cover ~95 %; the SEs the
file takes from the trial variance (CVaR, the exceedance curve, monthly means, chokepoint shares,
conditional views, stockout curves) keep +-2 SE. The figures say which.

  tornado_<s>_<demand>.png, sobol_<s>_<demand>.png
                      when the scenario has a `sensitivity` / `sobol_indices` group, or stores its
                      per-trial inputs (`trials/inputs`: Spearman tornado charts computed here):
                      drawn by chokepoint.sensitivity_plots, with this module's caption line; an
                      output with no defined value gets no chart

Importance sampling (format 1.4, run.importance; the baseline has trials/weight): the per-trial
data are outcomes drawn under a tilted proposal, so everything computed here from them weights
each trial by its likelihood ratio w = p/q: the exceedance plot's curve of all trials and its
P(shortfall > 0) are (1/n) sum w 1{S > x} (weighted_exceedance, survival_steps), the histogram's
bars are estimated probabilities (1/n) sum w over the trials in the bin (weighted_histogram), and
its P(shortfall = 0) is 1 - mean(w (S > 0)); the stockout curves, their median month and 5 %
stockpile level, the monthly bands computed from the trials (files without summary bands) and the
expected want (files without expected_demand) are weighted likewise (weighted_quantile is the
engine's quantile rule); the figures say so, and every caption gives the effective sample size
(ESS). The summary statistics are weighted by the engine. Also written then:
  importance.png      the baseline's likelihood ratios (histogram of log10 w over the trials, ESS,
                      mean w), the ESS behind each demand's P(short) and EUD (summary p_short_ess,
                      eud_ess), and one panel per tilted input of /importance (the 12 that depart
                      most from the model) with its proposal density on the quantile scale against
                      the model's (uniform = 1), log scale; the estimator sentence and the
                      cross-entropy fit in a note
No tornado chart is drawn from the stored inputs of an importance-sampled scenario: drawn from the
tilted proposal, their rank correlations describe the proposal, not the model (a note says so).

A difference "at rounding level" is one whose size is at most 1e-9 of the demand's expected total
want (or 1e-12 absolute): floating-point rounding of the monthly allocation, printed and drawn as 0.
Many demands are split over several pages (exceedance_1.png, exceedance_2.png, ...).
Prints the PNG paths written. Exit status 0 on success, 2 on bad input (also when one figure's
data are malformed: the others are still written), 1 on other failures.
Other code (chokepoint.report) uses Plotter(res) without a directory: the figures are then kept in
memory as PNG bytes (Plotter.figures) instead of written.
Needs h5py, numpy and matplotlib.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import re
import textwrap
import sys

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from .reader import ChokepointFormatError, open_results  # noqa: E402

# The program name in messages: main()'s `prog` (scripts/plot_results.py passes "plot_results.py").
PROG = "chokepoint-plot"

PANELS_PER_PAGE = 12
EVENT_PANELS_PER_PAGE = 6
TOP_N = 15
TOP_CHOKEPOINTS = 12
TOP_EVENTS = 8
CURVES_PER_PAGE = 8
# Most bars on one page of scenarios*.png (demands x scenarios), and most panels of convergence_<s>.png.
BARS_PER_PAGE = 64
CONVERGENCE_PANELS = 30
DPI = 110
# A difference (scenario minus baseline) at most ROUNDING_REL of the demand's expected total want, or
# at most ROUNDING_ABS, is floating-point rounding of the monthly allocation: shown as 0.
ROUNDING_REL = 1e-9
ROUNDING_ABS = 1e-12
# Largest number of float32 values read at once for the monthly quantile bands (per demand), when
# the file has no summary bands and they are computed here.
MAX_MONTHLY_VALUES = 20_000_000


def fmt_t(x):
    """A quantity in tonnes, short: 0, 0.0123, 1.23, 123, 1.23e+04."""
    x = float(x)
    if not np.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    if abs(x) >= 1e9 or abs(x) < 1e-3:
        return f"{x:.3g}"
    return f"{x:.4g}" if abs(x) < 1000 else f"{x:,.0f}"


def fmt_se(x):
    """A standard error: two significant digits."""
    x = float(x)
    if not np.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    d = 1 - int(math.floor(math.log10(abs(x))))  # decimals that keep two significant digits
    return f"{round(x, d):,.0f}" if d <= 0 else f"{x:.{d}f}"


def log_ticks(lo, hi):
    """Ticks for a log axis from lo to hi (trial counts): both ends and the 1-2-5 x 10^k values
    between them that are not too close to an end (a ratio of at least 1.4)."""
    lo, hi = float(lo), float(hi)
    ticks = [lo] if hi <= lo else [lo, hi]
    if hi > lo > 0:
        for k in range(int(math.floor(math.log10(lo))), int(math.ceil(math.log10(hi))) + 1):
            for m in (1, 2, 5):
                v = m * 10.0 ** k
                if lo * 1.4 <= v <= hi / 1.4:
                    ticks.append(v)
    return sorted(ticks)


def pct(x, digits=1):
    return "n/a" if not np.isfinite(x) else f"{100 * float(x):.{digits}f}%"


def short_list(names, width):
    """"a, b, c" of as many names as fit `width` characters, then "+k more"."""
    out = []
    for i, nm in enumerate(names):
        if out and len(", ".join(out + [nm])) > width:
            return ", ".join(out) + f", +{len(names) - i} more"
        out.append(nm)
    return ", ".join(out)


def at_rounding_level(x, total=1.0):
    """True where |x| is at the level of floating-point rounding: at most ROUNDING_REL of `total`
    (a demand's expected total want, t; 1 for a probability) or ROUNDING_ABS. NaN is never."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    total = np.abs(np.nan_to_num(np.asarray(total, dtype=np.float64)))
    return x <= np.maximum(ROUNDING_REL * total, ROUNDING_ABS)


def round_to_zero(x, total=1.0):
    """`x` with the values at rounding level (at_rounding_level) set to 0; NaN stays NaN."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(at_rounding_level(x, total), 0.0, x)


def fmt_diff(v, se, unit, total=1.0, k=2.0):
    """A difference and its +- k SE (k: Plotter.k), 0 at rounding level: "-0.013 ± 0.0074 t", "0 t"."""
    v, se = float(round_to_zero(v, total)), float(round_to_zero(se, total))
    if not np.isfinite(v):
        return "n/a"
    head = "0" if v == 0 else f"{v:+.3g}"
    if se > 0:
        return f"{head} ± {fmt_se(k * se)} {unit}"
    return f"{head} {unit}" + ("" if np.isfinite(se) else " (SE not in the file)")


def changed_demands(d, expected_demand):
    """bool [demand] for a Scenario.differences() dict: True where the paired difference in EUD or
    in P(short), or its paired standard error, is not at rounding level (EUD relative to the
    demand's expected total want `expected_demand`, t; P(short) relative to 1). False for demands
    the baseline lacks (NaN)."""
    total = np.asarray(expected_demand, dtype=np.float64)
    out = np.zeros(np.asarray(d["eud"]).size, dtype=bool)
    for key, tot in (("eud", total), ("p_short", 1.0)):
        for suffix in ("", "_se"):
            if key + suffix in d:
                x = np.asarray(d[key + suffix], dtype=np.float64)
                out |= np.isfinite(x) & ~at_rounding_level(x, tot)
    return out & np.isfinite(np.asarray(d["eud"], dtype=np.float64))


def chain_of_demands(model, demands):
    """([chain key per demand], {chain key: label}): the value chain (model product_chain, a
    connected component of the recipe graph) of each demand's product, labelled by the products
    demanded in it ("value chain of smco_magnet, co_refined"). Without the tables every demand is
    in one chain, labelled "all demands"."""
    prods = list(model.get("products", []))
    dprod = model.get("demand_product")
    chain = model.get("product_chain")
    if dprod is None or chain is None or len(dprod) != len(demands):
        return [0] * len(demands), {0: "all demands"}
    keys, demanded = [], {}
    for j in range(len(demands)):
        p = int(dprod[j])
        k = int(chain[p]) if 0 <= p < len(chain) else -1
        keys.append(k)
        name = prods[p] if 0 <= p < len(prods) else "?"
        demanded.setdefault(k, [])
        if name not in demanded[k]:
            demanded[k].append(name)
    return keys, {k: "value chain of " + ", ".join(v) for k, v in demanded.items()}


def chokepoint_groups(summary, model, kind):
    """The binding constraints of one kind ("facility", "node", "restriction") ranked for the
    chokepoint chart and the report, constraints of one stage that bind together merged: a list of
    dicts {"label", "members" (labels), "index" (first member), "month_share", "trial_share",
    "unserved", "unserved_se", "unserved_share", "month_share_se"} (NaN for what the file lacks),
    largest unserved demand while binding first (files without it: largest share of trial-months),
    leaving out those that never bind. A stage is a facility's or node's product (a restriction's
    covered products); members of one stage with exactly the same month share, trial share and
    unserved demand are one group, labelled "nd_conc @ 9 countries" (nodes),
    "nd_conc: 9 facilities" (facilities) or "3 restrictions" (restrictions)."""
    def vec(name, n):
        v = summary.get(f"{kind}_binding_{name}")
        return np.asarray(v, dtype=np.float64) if v is not None else np.full(n, np.nan)

    if kind == "facility":
        ids = list(model.get("facilities", []))
        fprod, fctry = model.get("facility_product"), model.get("facility_country")
        prods = list(model.get("products", []))
        stage = [prods[int(fprod[i])] if fprod is not None and 0 <= int(fprod[i]) < len(prods) else "?"
                 for i in range(len(ids))]
        where = [str(fctry[i]) if fctry is not None else "?" for i in range(len(ids))]
        labels = [f"{f} ({stage[i]}@{where[i]})" if fprod is not None else f for i, f in enumerate(ids)]
    elif kind == "node":
        ids = list(model.get("nodes", []))
        stage = [n.split("@", 1)[0] for n in ids]
        where = [n.split("@", 1)[1] if "@" in n else "?" for n in ids]
        labels = list(ids)
    elif kind == "restriction":
        ids = list(model.get("restrictions", []))
        rp = model.get("restriction_products")
        stage = [str(rp[i]) if rp is not None and i < len(rp) else "" for i in range(len(ids))]
        where = list(ids)
        labels = list(ids)
    else:
        raise ValueError(f"kind must be facility, node or restriction, not {kind!r}")
    n = len(ids)
    if n == 0 or f"{kind}_binding_month_share" not in summary:
        return []
    ms, ts = vec("month_share", n), vec("trial_share", n)
    un, un_se, ush = vec("unserved", n), vec("unserved_se", n), vec("unserved_share", n)
    ms_se = vec("month_share_se", n)
    groups = {}
    for i in range(n):
        if not (ms[i] > 0):
            continue
        key = (stage[i], ms[i], ts[i] if np.isfinite(ts[i]) else None, un[i] if np.isfinite(un[i]) else None)
        groups.setdefault(key, []).append(i)
    out = []
    for (stg, *_), members in groups.items():
        i = members[0]
        if len(members) == 1:
            label = labels[i]
        elif kind == "node":
            label = f"{stg} @ {len(members)} countries"
        elif kind == "facility":
            label = f"{stg}: {len(members)} facilities"
        else:
            label = f"{len(members)} restrictions"
        out.append({"label": label, "members": [ids[k] if kind == "facility" else where[k] for k in members]
                    if len(members) > 1 else [], "index": i, "month_share": ms[i], "trial_share": ts[i],
                    "unserved": un[i], "unserved_se": un_se[i], "unserved_share": ush[i],
                    "month_share_se": ms_se[i]})
    rank_by = "unserved" if np.isfinite(un).any() else "month_share"
    out.sort(key=lambda g: -np.nan_to_num(g[rank_by], nan=-1.0))  # stable: ties keep the model order
    return out


Z95 = 1.959963984540054
# Student t 0.975 quantiles for 1..30 degrees of freedom (replicate-based standard errors).
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042)


def t975(df):
    """The 0.975 quantile of Student's t with `df` degrees of freedom (table to 30, then the
    Cornish-Fisher expansion; within 1e-3)."""
    if df < 1:
        return float("nan")
    if df <= len(T975):
        return T975[int(df) - 1]
    z = Z95
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def ci_factor(scen):
    """(factor, degrees of freedom) of the 95 % intervals of the statistics whose standard errors
    come from the replicate means (eud, expected_demand, mean_shortfall_share, lose, p_short): the
    summary's ci95_t and se_dof (format 1.3), else Student t with R - 1 degrees of freedom for
    R > 1 replicates, else 1.96 (dof None)."""
    at = scen.summary_attrs
    if at.get("ci95_t") is not None and np.isfinite(float(at["ci95_t"])):
        dof = at.get("se_dof")
        return float(at["ci95_t"]), int(dof) if dof is not None else None
    reps = int(at.get("replicates", 1) or 1)
    return (t975(reps - 1), reps - 1) if reps > 1 else (Z95, None)


# -- per-trial statistics, each trial weighted by its likelihood ratio -------------------------------
# In an importance-sampled scenario (format 1.4, run.importance) the per-trial datasets are outcomes
# drawn under a tilted proposal, and trial i counts with its likelihood ratio w_i = p/q
# (trials/weight; Scenario.weights() is 1 for every trial of other files). Probabilities are the
# unbiased estimates (1/n) sum_i w_i 1{...} over ALL n trials (not divided by sum w), as the
# engine's summary computes them; w = None below means every weight is 1.
def _xw(x, w):
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if w is None:
        return x, None
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    if w.shape != x.shape:
        raise ValueError(f"{w.size} weights for {x.size} values")
    return x, w


def weighted_exceedance(x, w, grid, n=None):
    """P(X > g) for each g of `grid`: (1/n) sum_i w_i 1{x_i > g} over all trials (n: the number
    of trials, default len(x); w None: every weight 1). Sums the weights from the largest x down,
    as the engine's exceedance curve (summary exceedance_p) does."""
    x, w = _xw(x, w)
    n = x.size if n is None else int(n)
    g = np.asarray(grid, dtype=np.float64)
    if n <= 0:
        return np.zeros(g.shape)
    order = np.argsort(x, kind="stable")
    xs = x[order]
    ws = np.ones(x.size) if w is None else w[order]
    tail = np.append(np.cumsum(ws[::-1])[::-1], 0.0)  # tail[k] = sum of the weights of xs[k:]
    return tail[np.searchsorted(xs, g.reshape(-1), side="right")].reshape(g.shape) / n


def survival_steps(x, w=None, n=None):
    """(values, P(X > value)) at each distinct value of x (ascending): the steps of the empirical
    exceedance curve, each trial weighted by w (None: 1), probabilities over all n trials."""
    x, w = _xw(x, w)
    n = x.size if n is None else int(n)
    vals, inv = np.unique(x, return_inverse=True)
    mass = np.bincount(inv.reshape(-1), weights=w, minlength=vals.size).astype(np.float64)
    above = np.append(np.cumsum(mass[::-1])[::-1][1:], 0.0)  # sum over the values strictly above
    return vals, above / max(n, 1)


def weighted_histogram(x, w, bins, n=None):
    """Estimated probability mass of each bin: (1/n) sum of the weights of the trials in it (w None:
    the share of trials), bins as numpy.histogram's; n the number of trials, default len(x)."""
    x, w = _xw(x, w)
    n = x.size if n is None else int(n)
    mass, _ = np.histogram(x, bins=bins, weights=w)
    return mass.astype(np.float64) / max(n, 1)


def weighted_quantile(x, w, p, total=None):
    """The engine's importance-sampling quantile: the smallest x_i whose estimated exceedance
    (1/total) sum_{x_j > x_i} w_j is at most 1 - p (total: n, the number of trials, for the
    unbiased estimate; sum w for a self-normalised one, e.g. over a subset). NaN for no trials.
    `p` may be an array of levels."""
    x, w = _xw(x, w)
    p = np.asarray(p, dtype=np.float64)
    if x.size == 0:
        return np.full(p.shape, np.nan) if p.ndim else float("nan")
    total = float(x.size if total is None else total)
    vals, above = survival_steps(x, w, n=1)
    above = above / total if total > 0 else above
    # `above` falls as the values rise: the first value whose tail is <= 1 - p
    k = np.searchsorted(-above, -(1.0 - p.reshape(-1)), side="left")
    out = vals[np.minimum(k, vals.size - 1)]
    return out.reshape(p.shape) if p.ndim else float(out[0])


def kish_ess(w):
    """Kish effective sample size (sum w)^2 / sum w^2 (0 for no weight)."""
    w = np.asarray(w, dtype=np.float64)
    s2 = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / s2 if s2 > 0 else 0.0


# Most tilted inputs drawn in importance.png (those whose proposal departs most from the model), and
# most demands in its ESS panel (those whose P(short) rests on the fewest effective trials).
IMPORTANCE_PANELS = 12
IMPORTANCE_DEMANDS = 40


class Plotter:
    """The figures of one results file. Each plotting method draws its figures and hands them to
    save(): with an output directory they are written there as PNG files (paths in `written`);
    with outdir None they are kept in memory as (file name, PNG bytes) in `figures`."""

    def __init__(self, res, outdir=None):
        self.res = res
        self.outdir = outdir
        self.written = []
        self.figures = []
        self.notes = []
        at = res.attrs
        self.n = int(at["trials"])
        self.horizon = int(at["horizon_months"])
        self.start = str(at.get("start", "") or "")
        self.scen = res.scenario("baseline")
        self.demands = list(res.model["demands"])
        self.demand_labels, self.demand_short = self.labels(res.model, self.demands)
        sha = str(at.get("config_sha256", ""))
        scen = f"scenario: baseline (of {len(res.scenarios)})   " if len(res.scenarios) > 1 else ""
        self.scen_caption = scen
        # Importance sampling (format 1.4): the baseline's per-trial data are weighted by w (None:
        # every trial counts 1); every figure's caption says so, with the effective sample size.
        self.w = self.scen.weights() if self.scen.importance_sampled else None
        self.weighted = self.w is not None
        self.is_caption = self.weighting_caption(self.scen)
        self.caption = (
            f"study: {at.get('name', '?')}   {scen}seed: {at.get('seed', '?')}   trials: {self.n}   "
            f"horizon: {self.horizon} months   start: {self.start or 'month 0 (no calendar label)'}   "
            f"config SHA-256: {sha[:12] or '?'}   chokepoint {at.get('program_version', '?')}   "
            f"{at.get('created_utc', '')}" + self.is_caption
        )
        self.failed = []  # figures that could not be drawn (bad input); main() exits 2 after the others
        # Error bars: +-2 SE from the trial variance; with R > 1 replicates of a design the
        # headline SEs have R - 1 degrees of freedom, and the bars are +-t SE (the summary's
        # ci95_t, 2.26 for 10 replicates) so that they still cover ~95 %.
        if int(self.scen.summary_attrs.get("replicates", 1) or 1) > 1:
            self.k = ci_factor(self.scen)[0]
            self.kl = f"{self.k:.2f}"
        else:
            self.k, self.kl = 2.0, "2"
        # The SEs the file takes from the trial variance whatever R is (CVaR, the exceedance
        # curve, monthly means, chokepoint shares, conditional views: docs/output-format.md,
        # "Replicates") have n - 1 degrees of freedom: +-2 SE for them, with or without R.
        self.k_trial, self.kl_trial = 2.0, "2"

    @staticmethod
    def labels(model, demands):
        """Long labels "id (product, country, tier t)" and short ones "id (tier t)" of `demands`,
        from a model table dict (/model or a scenario's own model)."""
        prod = list(model.get("products", []))
        dprod = model.get("demand_product")
        dctry = model.get("demand_country")
        dtier = model.get("demand_tier")
        long_, short = [], []
        for j, d in enumerate(demands):
            extra = []
            if dprod is not None and prod and j < len(dprod) and 0 <= int(dprod[j]) < len(prod):
                extra.append(prod[int(dprod[j])])
            if dctry is not None and j < len(dctry):
                extra.append(str(dctry[j]))
            tier = int(dtier[j]) if dtier is not None and j < len(dtier) else None
            if tier is not None:
                extra.append(f"tier {tier}")
            long_.append(f"{d} ({', '.join(extra)})" if extra else d)
            short.append(f"{d} (tier {tier})" if tier is not None else d)
        return long_, short

    def scenario_labels(self, sc):
        """(demand ids, long labels, short labels) of scenario `sc`, from its own model tables."""
        demands = sc.demands
        model = sc.model if list(sc.model.get("demands", [])) == demands else {}
        if not model and demands == self.demands:
            return demands, self.demand_labels, self.demand_short
        long_, short = self.labels(model, demands)
        return demands, long_, short

    def caption_for(self, name):
        """The provenance caption, naming scenario `name` (and its own effective sample size)."""
        if not self.scen_caption:
            return self.caption
        cap = self.caption.replace(self.scen_caption, f"scenario: {name} (of {len(self.res.scenarios)})   ")
        if name != "baseline" and name in self.res.scenarios:
            own = self.weighting_caption(self.res.scenarios[name])
            cap = cap[:len(cap) - len(self.is_caption)] + own if self.is_caption else cap + own
        return cap

    @staticmethod
    def ess_of(sc):
        """(ESS, n) of scenario `sc`: its summary attribute `ess` (else from its weights) and its trials."""
        w = sc.weights()
        ess = sc.summary_attrs.get("ess")
        return (float(ess) if ess is not None else kish_ess(w)), w.size

    def weighting_text(self, sc=None):
        """ "trials weighted by their likelihood ratio (importance sampling), ESS 5,242 of 20,000" for
        an importance-sampled scenario (default: the baseline), "" for others."""
        sc = sc or self.scen
        if not sc.importance_sampled:
            return ""
        ess, n = self.ess_of(sc)
        return f"trials weighted by their likelihood ratio (importance sampling), ESS {ess:,.0f} of {n:,}"

    def weighting_caption(self, sc):
        """The caption's importance-sampling part ("" without importance sampling)."""
        if not sc.importance_sampled:
            return ""
        ess, n = self.ess_of(sc)
        return (f"   importance-sampled: estimates weighted by likelihood ratio, ESS {ess:,.0f} of {n:,} trials "
                "(summary statistics weighted by the engine)")

    # -- helpers -----------------------------------------------------------------------------
    def note(self, message):
        """A figure left out, and why: printed to stderr when writing files, kept in `notes`."""
        self.notes.append(message)
        if self.outdir is not None:
            print(message, file=sys.stderr)

    def save(self, fig, name, note=None, top_inch=0.45, caption=None):
        """Caption (and an optional note above it) at the bottom, title space at the top, write.
        Caption and note are wrapped to the figure's width."""
        h, w = fig.get_figheight(), fig.get_figwidth()
        width = max(60, int(w * 17))  # characters of 7-7.5 pt text per line, with a margin
        cap = textwrap.fill(caption or self.caption, width, break_on_hyphens=False)
        if note:
            note = "\n".join(textwrap.fill(line, width, break_on_hyphens=False) for line in note.split("\n"))
        cap_lines = cap.count("\n") + 1
        lines = note.count("\n") + 1 if note else 0
        fig.text(0.01, 0.08 / h, cap, fontsize=7, color="0.35", ha="left", va="bottom")
        if note:
            fig.text(0.01, (0.14 + 0.12 * cap_lines) / h, note, fontsize=7.5, color="0.2", ha="left", va="bottom")
        # the caption needs about 0.18 inch a line and 0.12 more, a note line 0.15
        bottom = (0.12 + 0.12 * cap_lines + 0.06 + 0.15 * lines) / h
        # top_inch is the room kept for the title (and a figure legend under it): keep the title out
        # of tight_layout (matplotlib >= 3.3 counts it too, which left a second title's height empty).
        if getattr(fig, "_suptitle", None) is not None:
            fig._suptitle.set_in_layout(False)
        fig.tight_layout(rect=(0, bottom, 1, 1 - top_inch / h))
        self.emit(fig, name)

    def emit(self, fig, name, dpi=DPI):
        """Write the finished figure to outdir/name, or keep its PNG bytes (outdir None); close it."""
        try:
            if self.outdir is None:
                buf = io.BytesIO()
                fig.savefig(buf, format="png", dpi=dpi)
                self.figures.append((name, buf.getvalue()))
            else:
                path = os.path.join(self.outdir, name)
                fig.savefig(path, dpi=dpi)
                self.written.append(path)
        finally:
            plt.close(fig)

    def pages(self, items, per_page=PANELS_PER_PAGE):
        """Split panel indices into balanced pages of at most per_page."""
        items = list(items)
        npages = max(1, math.ceil(len(items) / per_page))
        per = max(1, math.ceil(len(items) / npages))
        return [items[i : i + per] for i in range(0, len(items), per)] or [[]]

    def grid(self, k, title, ncols=None, panel_h=3.6, panel_w=5.2):
        if ncols is None:
            ncols = 1 if k <= 1 else (2 if k <= 4 else 3)
        ncols = max(1, min(ncols, k))
        nrows = max(1, math.ceil(k / ncols))
        fig, axes = plt.subplots(nrows, ncols, figsize=(max(panel_w * ncols, 10.0), max(4.5, panel_h * nrows + 1.2)),
                                 squeeze=False)
        fig.suptitle(title, fontsize=12)
        flat = axes.reshape(-1)
        for ax in flat[k:]:
            ax.set_visible(False)
        return fig, flat[:k]

    def paged_name(self, stem, page, npages):
        return f"{stem}.png" if npages == 1 else f"{stem}_{page + 1}.png"

    def month_label(self, t):
        y0, m0 = int(self.start[:4]), int(self.start[5:]) - 1
        return f"{y0 + (m0 + t) // 12}-{(m0 + t) % 12 + 1:02d}"

    def has_calendar(self):
        return len(self.start) == 7 and self.start[4] == "-" and self.start[:4].isdigit() and self.start[5:].isdigit()

    def month_name(self, t):
        return self.month_label(t) if self.has_calendar() else f"month {t}"

    def month_axis(self, ax, xlabel=True):
        ax.set_xlim(-0.5, self.horizon - 0.5)
        if self.has_calendar():
            step = max(1, int(math.ceil(self.horizon / 8 / 3.0)) * 3)
            ticks = list(range(0, self.horizon, step))
            ax.set_xticks(ticks)
            ax.set_xticklabels([self.month_label(t) for t in ticks], rotation=30, fontsize=8)
            if xlabel:
                ax.set_xlabel(f"month (month 0 = {self.start})")
        elif xlabel:
            ax.set_xlabel("month from start of horizon")

    def summary(self, name):
        s = self.scen.summary
        return np.asarray(s[name], dtype=np.float64) if name in s else None

    def expected_demand(self, scen=None):
        s = (scen or self.scen).summary
        if "expected_demand" in s:
            ed = np.asarray(s["expected_demand"], dtype=np.float64)
        else:
            sc = scen or self.scen
            dt = np.asarray(sc.trials["demand_total"], dtype=np.float64)
            ed = (sc.weights()[:, None] * dt).mean(axis=0) if sc.importance_sampled else dt.mean(axis=0)
        return np.where(ed > 0, ed, np.nan)

    # -- plots -------------------------------------------------------------------------------
    def exceedance(self):
        sf = np.asarray(self.scen.trials["shortfall"], dtype=np.float64)
        w = self.w
        eud = self.summary("eud")
        ex_x, ex_p, ex_se = self.summary("exceedance_x"), self.summary("exceedance_p"), self.summary("exceedance_p_se")
        floor = 0.5 / self.n
        pg = self.pages(range(len(self.demands)))
        title = "Exceedance: P(total shortfall over the horizon > x), x in tonnes (log scale)"
        curve = "all trials"
        if self.weighted:
            title += "\n" + self.weighting_text() + ": P(S > x) = (1/n) Σ w 1{S > x}"
            curve = "all trials, weighted by their likelihood ratio"
        handles = [Line2D([], [], color="C0", lw=1.4, label=curve)]
        if ex_x is not None:
            handles.append(Patch(color="C1", alpha=0.35, label=f"summary's 101-point curve ± {self.kl_trial} SE"))
        handles += [Line2D([], [], color="C3", ls=":", lw=1, label="EUD (expected unserved demand)"),
                    Line2D([], [], color="0.5", ls="--", lw=0.8, label="P(shortfall > 0)")]
        for p, idx in enumerate(pg):
            fig, axes = self.grid(len(idx), title)
            fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=8, frameon=False,
                       bbox_to_anchor=(0.5, 1 - (0.62 if self.weighted else 0.4) / fig.get_figheight()))
            for ax, j in zip(axes, idx):
                x = sf[:, j]
                p0 = float(weighted_exceedance(x, w, 0.0)) if self.weighted else float(np.mean(x > 0))
                ax.set_title(f"{self.demand_labels[j]}\nEUD {fmt_t(eud[j]) if eud is not None else '?'} t,  "
                             f"P(shortfall > 0) = {p0:.3g}", fontsize=9)
                ax.set_xlabel("total shortfall x (t)")
                ax.set_ylabel("P(shortfall > x)")
                ax.grid(True, which="both", alpha=0.3)
                if not (x > 0).any():
                    ax.text(0.5, 0.5, f"no shortfall in any of {self.n} trials", ha="center",
                            va="center", transform=ax.transAxes)
                    ax.set_yticks([])
                    ax.set_xticks([])
                    continue
                vals, surv = survival_steps(x, w)  # P(S > vals[i])
                xs = np.concatenate(([0.0], vals))
                ps = np.concatenate(([p0], surv))
                keep = ps > 0
                # the last step (P = 1/n, or the last trial's w/n) runs on to the largest shortfall
                xs_k = np.append(xs[keep], vals[-1])
                ps_k = np.append(ps[keep], ps[keep][-1])
                lo_y = floor
                if self.weighted:  # weighted probabilities go below 1/n: the axis follows them
                    lo_y = min(floor, 0.5 * float(ps_k.min()))
                ax.step(xs_k, ps_k, where="post", color="C0", lw=1.4, label=curve)
                if ex_x is not None and ex_p is not None:
                    gx, gp = ex_x[j], ex_p[j]
                    gse = ex_se[j] if ex_se is not None else np.zeros_like(gp)
                    pos = gp > 0
                    if self.weighted and pos.any():
                        lo_y = min(lo_y, 0.5 * float(gp[pos].min()))
                    lo = np.maximum(gp - self.k_trial * gse, lo_y)
                    hi = np.minimum(gp + self.k_trial * gse, 1.0)
                    ax.fill_between(gx[pos], lo[pos], hi[pos], color="C1", alpha=0.25, lw=0, step="post",
                                    label=f"summary curve ± {self.kl_trial} SE")
                    ax.plot(gx[pos], gp[pos], ".", color="C1", ms=2.5)
                ax.set_yscale("log")
                ax.set_ylim(lo_y, 1.05)
                ax.set_xlim(left=0)
                if eud is not None:
                    ax.axvline(float(eud[j]), color="C3", ls=":", lw=1)
                ax.axhline(p0, color="0.5", ls="--", lw=0.8)
            self.save(fig, self.paged_name("exceedance", p, len(pg)), top_inch=0.95 if self.weighted else 0.75)

    def histogram(self):
        sf = np.asarray(self.scen.trials["shortfall"], dtype=np.float64)
        w = self.w
        pg = self.pages(range(len(self.demands)))
        if self.weighted:
            title = ("Histogram of total shortfall over the horizon (t), trials with shortfall > 0: estimated "
                     "probability of each bin (log scale)\n" + self.weighting_text()
                     + ": a bin's height is (1/n) Σ w over its trials")
        else:
            title = ("Histogram of total shortfall over the horizon (t), trials with "
                     "shortfall > 0 (count on a log scale when >= 30 in a bin)")
        for p, idx in enumerate(pg):
            fig, axes = self.grid(len(idx), title)
            for ax, j in zip(axes, idx):
                x = sf[:, j]
                short = x > 0
                pos = x[short]
                if self.weighted:
                    zero = 1.0 - float(weighted_exceedance(x, w, 0.0))
                    ztxt = f"1 − {1.0 - zero:.3g}" if 0.999 < zero < 1.0 else f"{zero:.3g}"
                    note = (f"P(shortfall = 0) = {ztxt} (weighted)\n"
                            f"({x.size - pos.size} of {x.size} trials had none; not shown)")
                    ylabel = "estimated probability (log scale)"
                else:
                    zero = 1.0 - pos.size / x.size
                    note = f"P(shortfall = 0) = {zero:.3g}\n({x.size - pos.size} of {x.size} trials, not drawn)"
                    ylabel = "trials (log scale)"
                ax.set_title(self.demand_labels[j], fontsize=9)
                ax.set_xlabel("total shortfall (t)")
                ax.set_ylabel(ylabel)
                ax.text(0.97, 0.95, note, ha="right", va="top", transform=ax.transAxes, fontsize=8,
                        bbox=dict(boxstyle="round", fc="white", ec="0.7"))
                if pos.size == 0:
                    ax.text(0.5, 0.5, f"no shortfall in any of {self.n} trials", ha="center", va="center",
                            transform=ax.transAxes)
                    ax.set_ylabel("estimated probability" if self.weighted else "trials")
                    ax.set_yticks([])
                    ax.set_xticks([])
                    continue
                bins = np.linspace(0.0, pos.max() * 1.0000001 if pos.max() > 0 else 1.0, 41)
                if self.weighted:
                    mass = weighted_histogram(pos, w[short], bins, n=x.size)
                    ax.hist(bins[:-1], bins=bins, weights=mass, color="C0", alpha=0.85)
                    top = float(mass.max(initial=0.0))
                    low = float(mass[mass > 0].min()) if (mass > 0).any() else top
                    ax.set_yscale("log")
                    ax.set_ylim(low / 3, top * 8)  # room for the note above the bars
                    ax.set_xlim(left=0)
                    ax.grid(True, which="both", alpha=0.3)
                    continue
                counts, _, _ = ax.hist(pos, bins=bins, color="C0", alpha=0.85)
                cmax = float(counts.max(initial=1.0))
                if cmax < 30:  # a log axis of 1..20 has one labelled tick: count linearly
                    ax.set_ylabel("trials")
                    ax.set_ylim(0, cmax * 1.45)
                    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
                else:
                    ax.set_yscale("log")
                    ax.set_ylim(0.7, cmax * 6)  # room for the note above the bars
                    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                    ax.yaxis.set_minor_formatter(NullFormatter())
                ax.set_xlim(left=0)
                ax.grid(True, which="both", alpha=0.3)
            self.save(fig, self.paged_name("histogram", p, len(pg)), top_inch=0.65 if self.weighted else 0.45)

    def monthly_bands(self):
        """[demand, month, 5] quantiles 5/25/50/75/95 % across trials, and a note on their origin."""
        s = self.scen.summary
        levels = [0.05, 0.25, 0.5, 0.75, 0.95]
        if "monthly_shortfall_bands" in s and "monthly_band_levels" in s:
            lv = np.asarray(s["monthly_band_levels"], dtype=np.float64)
            pick = [int(np.argmin(np.abs(lv - q))) for q in levels]
            if np.allclose(lv[pick], levels):
                return np.asarray(s["monthly_shortfall_bands"], dtype=np.float64)[:, :, pick], ""
        if "monthly_shortfall" not in self.scen.trials:
            return None, ""
        ds = self.scen.trials.dataset("monthly_shortfall")
        H = ds.shape[2]
        sub = self.n if self.n * H <= MAX_MONTHLY_VALUES else max(1, MAX_MONTHLY_VALUES // H)
        out = np.zeros((len(self.demands), H, len(levels)))
        for j in range(len(self.demands)):
            data = np.asarray(ds[:sub, j, :], dtype=np.float64)
            if self.weighted:  # the engine's weighted quantile of each month (its summary bands' rule)
                for h in range(H):
                    out[j, h] = weighted_quantile(data[:, h], self.w[:sub], levels)
            else:
                out[j] = np.quantile(data, levels, axis=0).T
        return out, (f" (bands from the first {sub} trials)" if sub < self.n else "")

    def monthly(self):
        mean = self.summary("monthly_mean_shortfall")
        se = self.summary("monthly_mean_shortfall_se")
        bands, note = self.monthly_bands()
        H = mean.shape[1]
        months = np.arange(H)
        title = "Monthly shortfall (t/month)"
        if bands is not None:
            title += ": median, 25-75 % and 5-95 % of trials, and mean" + note
            if self.weighted:
                title += "\n(importance sampling: weighted quantiles and mean, from the summary)"
        else:
            title += f": mean ± {self.kl_trial} SE (no monthly quantiles in the file: run.store_monthly was false)"
        pg = self.pages(range(len(self.demands)))
        for p, idx in enumerate(pg):
            fig, axes = self.grid(len(idx), title)
            for ax, j in zip(axes, idx):
                ax.set_title(self.demand_labels[j], fontsize=9)
                ax.set_ylabel("shortfall (t/month)")
                self.month_axis(ax)
                ax.grid(True, alpha=0.3)
                top = float(mean[j].max(initial=0.0))
                if bands is not None:
                    b = bands[j]
                    ax.fill_between(months, b[:, 0], b[:, 4], color="C0", alpha=0.15, lw=0)
                    ax.fill_between(months, b[:, 1], b[:, 3], color="C0", alpha=0.35, lw=0)
                    ax.plot(months, b[:, 2], color="C0", lw=1.2)
                    top = max(top, float(b[:, 4].max(initial=0.0)))
                elif se is not None:
                    ax.fill_between(months, np.maximum(mean[j] - self.k_trial * se[j], 0), mean[j] + self.k_trial * se[j], color="C3",
                                    alpha=0.25, lw=0)
                    top = max(top, float((mean[j] + self.k_trial * se[j]).max(initial=0.0)))
                ax.plot(months, mean[j], color="C3", lw=1.5)
                if top <= 0:
                    ax.text(0.5, 0.5, f"no shortfall in any month of {self.n} trials", ha="center",
                            va="center", transform=ax.transAxes)
                    ax.set_ylim(0, 1)
                    continue
                ax.set_ylim(0, top * 1.15)
                if bands is not None and float(bands[j, :, 4].max(initial=0.0)) == 0:
                    ax.text(0.98, 0.97, "in every month fewer than 5 % of trials are short:\nall bands are 0, "
                            "the mean shows the risk", ha="right", va="top", transform=ax.transAxes,
                            fontsize=7, color="0.3", bbox=dict(boxstyle="round", fc="white", ec="0.8"))
            handles = [Line2D([], [], color="C3", lw=1.5, label="mean")]
            if bands is None and se is not None:
                handles.append(Patch(color="C3", alpha=0.25, label=f"mean ± {self.kl_trial} SE"))
            if bands is not None:
                handles = [Patch(color="C0", alpha=0.15, label="5-95 % of trials"),
                           Patch(color="C0", alpha=0.35, label="25-75 % of trials"),
                           Line2D([], [], color="C0", lw=1.2, label="median (often 0: most months are not short)")
                           ] + handles
            fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=8,
                       bbox_to_anchor=(0.5, 1 - 0.4 / fig.get_figheight()), frameon=False)
            self.save(fig, self.paged_name("monthly", p, len(pg)), top_inch=0.75)

    def chokepoints(self):
        s = self.scen.summary
        m = self.res.model
        kinds = (("Facilities", "facility"), ("(product, country) nodes", "node"),
                 ("Trade restrictions (lanes, export controls)", "restriction"))
        panels = [(what, kind, chokepoint_groups(s, m, kind)) for what, kind in kinds
                  if len(m.get({"facility": "facilities", "node": "nodes", "restriction": "restrictions"}[kind], []))
                  and f"{kind}_binding_month_share" in s]
        if not panels:
            self.note("note: no facilities, nodes or binding shares in the file; chokepoints.png not written")
            return
        by_unserved = all(f"{kind}_binding_unserved" in s for _, kind, _ in panels)  # (chokepoint_groups' order)
        shown = [gs[:TOP_CHOKEPOINTS] for _, _, gs in panels]
        ratios = [max(2, len(gs)) + 1.2 for gs in shown]
        fig, axes = plt.subplots(len(panels), 1, figsize=(11, 1.5 + 0.34 * sum(ratios)), squeeze=False,
                                 gridspec_kw={"height_ratios": ratios})
        if by_unserved:
            fig.suptitle("Chokepoint ranking: unserved demand of the value chain in the months in which each "
                         f"constraint binds\n(t, mean per trial, ± {self.kl_trial} SE; top {TOP_CHOKEPOINTS}). Constraints of one "
                         "stage that bind together (exactly the same statistics) are one bar.\n"
                         "labels: share of trial-months and of trials in which it binds; share of the chain's "
                         "expected unserved demand (EUD)", fontsize=10)
        else:
            fig.suptitle(f"Chokepoint ranking: share of trial-months in which each binds (%, ± {self.kl_trial} SE; top "
                         f"{TOP_CHOKEPOINTS})\nconstraints of one stage that bind together are one bar", fontsize=10)
        for ax, (what, kind, groups), gs in zip(axes[:, 0], panels, shown):
            rest = len(groups) - len(gs)
            ax.set_title(what + (f" ({rest} more bind, not shown)" if rest > 0 else ""), fontsize=10)
            if not gs:
                ax.text(0.5, 0.5, f"none binds in any month of any of {self.n} trials", ha="center",
                        va="center", transform=ax.transAxes)
                ax.set_yticks([])
                ax.set_xticks([])
                continue
            y = np.arange(len(gs))
            if by_unserved:
                val = np.array([np.nan_to_num(g["unserved"]) for g in gs])
                err = np.array([self.k_trial * np.nan_to_num(g["unserved_se"]) for g in gs])
                ax.set_xlabel("unserved demand of its value chain while it binds (t, mean per trial)")
                text = [f" {fmt_t(v)} t" for v in val]
            else:
                val = np.array([100 * g["month_share"] for g in gs])
                err = np.array([200 * np.nan_to_num(g["month_share_se"]) for g in gs])
                ax.set_xlabel("share of trial-months in which it binds (%)")
                text = [f" {v:.2f}%" for v in val]
            ax.barh(y, val, xerr=err, color="C1", height=0.6, error_kw=dict(ecolor="0.3", lw=0.8, capsize=2))
            names = []
            for g in gs:
                label = g["label"]
                if g["members"]:
                    label += f" ({short_list(g['members'], 55)})"
                extra = [f"binds in {100 * g['month_share']:.1f}% of trial-months"]
                if np.isfinite(g["trial_share"]):
                    extra.append(f"{100 * g['trial_share']:.1f}% of trials")
                if by_unserved and np.isfinite(g["unserved_share"]):
                    extra.append(f"{100 * g['unserved_share']:.0f}% of chain EUD")
                names.append(f"{label}\n{', '.join(extra)}")
            ax.set_yticks(y)
            ax.set_yticklabels(names, fontsize=7)
            ax.set_ylim(max(len(gs), 2) - 0.5, -0.5)
            for yi in y:
                ax.text(val[yi] + err[yi], yi, text[yi], va="center", fontsize=7)
            right = float(np.max(val + err, initial=0.0))
            ax.set_xlim(0, right * 1.2 if right > 0 else 1.0)
            ax.grid(True, axis="x", alpha=0.3)
        self.save(fig, "chokepoints.png", top_inch=0.95 if by_unserved else 0.6)

    def stockpile_demands(self):
        m = self.res.model
        t = self.scen.trials
        if "demand_has_stockpile" in m:
            return [j for j, h in enumerate(m["demand_has_stockpile"]) if int(h) == 1]
        # older files: a demand without a stockpile has stockpile_min 0 and no stockout in every trial
        so = np.asarray(t["stockout_month"])
        smin = np.asarray(t["stockpile_min"]) if "stockpile_min" in t else np.zeros_like(so, dtype=float)
        return [j for j in range(len(self.demands)) if (smin[:, j] > 0).any() or (so[:, j] >= 0).any()]

    def stockouts(self):
        t = self.scen.trials
        if "stockout_month" not in t:
            self.note("note: no stockout_month in the file; stockouts.png not written")
            return
        with_sp = self.stockpile_demands()
        if not with_sp:
            self.note("note: no demand has a stockpile (/model/demand_has_stockpile); stockouts.png not written")
            return
        so = np.asarray(t["stockout_month"])
        smin = np.asarray(t["stockpile_min"], dtype=np.float64) if "stockpile_min" in t else None
        months = np.arange(self.horizon)
        pg = self.pages(with_sp, CURVES_PER_PAGE)
        w = self.w
        for p, idx in enumerate(pg):
            fig, (ax, tx) = plt.subplots(1, 2, figsize=(14, 5.6), gridspec_kw={"width_ratios": [1.6, 1]})
            if self.weighted:
                fig.suptitle("Stockpile depletion: estimated probability that the stockpile has run out by the end "
                             f"of month m (%, ± {self.kl_trial} SE band)\n{self.weighting_text()}", fontsize=11)
            else:
                fig.suptitle("Stockpile depletion: share of trials in which the stockpile has run out by the end of "
                             f"month m (%, ± {self.kl_trial} SE band)", fontsize=11)
            rows = []
            top = 0.0
            for k, j in enumerate(idx):
                x = so[:, j]
                ran = x >= 0
                out = x[ran]
                if self.weighted:
                    # P(run out by m) = (1/n) sum w 1{stockout <= m}, SE sd(w 1{...}) / sqrt(n)
                    nn = x.size
                    wo = w[ran]
                    cum = np.cumsum(np.bincount(out, weights=wo, minlength=self.horizon)[: self.horizon]) / nn
                    s2 = np.cumsum(np.bincount(out, weights=wo * wo, minlength=self.horizon)[: self.horizon])
                    var = np.maximum(s2 - nn * cum * cum, 0.0) / max(1, nn - 1)
                    se = np.sqrt(var / nn)
                    never = 1.0 - float(wo.sum()) / nn
                else:
                    cum = np.cumsum(np.bincount(out, minlength=self.horizon)[: self.horizon]) / x.size
                    se = np.sqrt(cum * (1 - cum) / max(1, x.size - 1))
                    never = 1.0 - out.size / x.size
                color = f"C{k % 10}"
                ax.step(months, 100 * cum, where="post", color=color, lw=1.6,
                        label=f"{self.demands[j]}: never runs out in {pct(never)}")
                ax.fill_between(months, 100 * np.maximum(cum - self.k_trial * se, 0), 100 * np.minimum(cum + self.k_trial * se, 1),
                                step="post", color=color, alpha=0.15, lw=0)
                top = max(top, float(np.max(100 * np.minimum(cum + self.k_trial * se, 1), initial=0.0)))
                first = self.month_name(int(out.min())) if out.size else "-"
                if self.weighted:  # weighted median over the trials that ran out; the engine's quantile rule
                    med = self.month_name(int(weighted_quantile(out, w[ran], 0.5, total=w[ran].sum()))) \
                        if out.size else "-"
                    lowest = fmt_t(weighted_quantile(smin[:, j], w, 0.05)) if smin is not None else "n/a"
                else:
                    med = self.month_name(int(np.floor(np.median(out)))) if out.size else "-"
                    lowest = fmt_t(np.quantile(smin[:, j], 0.05)) if smin is not None else "n/a"
                rows.append([self.demands[j], pct(1 - never), pct(never), first, med, lowest])
            ax.set_ylabel("P(run out by month m) (%, weighted)" if self.weighted else "trials run out by month m (%)")
            self.month_axis(ax)
            ax.set_ylim(0, max(1.0, top * 1.2))
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8, loc="upper left")
            if top == 0:
                ax.text(0.5, 0.5, f"no stockpile ran out in any of {self.n} trials", ha="center", va="center",
                        transform=ax.transAxes, fontsize=10)
            tx.axis("off")
            tbl = tx.table(cellText=rows, colLabels=["demand", "ran out", "never", "first\nstockout",
                                                     "median\nstockout",
                                                     "lowest level (t):\n5% probability below" if self.weighted
                                                     else "lowest level (t):\n5% of trials below"],
                           loc="upper center", cellLoc="center")
            tbl.auto_set_font_size(False)
            tbl.set_fontsize(8)
            tbl.scale(1.0, 1.8)
            for (r, cc), cell in tbl.get_celld().items():
                if r == 0:
                    cell.set_height(cell.get_height() * 1.6)
                    cell.set_facecolor("#e8e8e8")
            tbl.auto_set_column_width(list(range(6)))
            tx.set_title("per demand with a stockpile (months: first month empty; median over trials that ran out"
                         + (", weighted)" if self.weighted else ")"), fontsize=8)
            self.save(fig, self.paged_name("stockouts", p, len(pg)), top_inch=0.7 if self.weighted else 0.45)

    # -- risk measures -----------------------------------------------------------------------
    def var_cvar(self):
        """([demand, 4] values in t, [demand, 4, 2] lower/upper error in t, labels) for
        VaR95, CVaR95, VaR99, CVaR99; None when the file has no var/cvar."""
        s = self.scen.summary
        if "var" not in s or "cvar" not in s:
            return None
        lv = np.asarray(s.get("var_levels", [0.95, 0.99]), dtype=np.float64)
        var, cvar = self.summary("var"), self.summary("cvar")
        cse = self.summary("cvar_se")
        D = len(self.demands)
        vals = np.zeros((D, 2 * lv.size))
        err = np.full((D, 2 * lv.size, 2), np.nan)
        labels = []
        ql = self.summary("quantile_levels")
        lo, hi = self.summary("shortfall_quantiles_ci_low"), self.summary("shortfall_quantiles_ci_high")
        for a, level in enumerate(lv):
            vals[:, 2 * a] = var[:, a]
            vals[:, 2 * a + 1] = cvar[:, a]
            labels += [f"VaR {100 * level:g}%", f"CVaR {100 * level:g}%"]
            if ql is not None and lo is not None and hi is not None:
                k = np.flatnonzero(np.isclose(ql, level, rtol=0, atol=1e-12))
                if k.size:
                    err[:, 2 * a, 0] = var[:, a] - lo[:, k[0]]
                    err[:, 2 * a, 1] = hi[:, k[0]] - var[:, a]
            if cse is not None:
                err[:, 2 * a + 1, 0] = self.k_trial * cse[:, a]
                err[:, 2 * a + 1, 1] = self.k_trial * cse[:, a]
        return vals, err, labels

    def risk(self):
        got = self.var_cvar()
        if got is None:
            self.note("note: no var/cvar in the file; risk.png not written")
            return
        vals, err, labels = got
        ed = self.expected_demand()
        D = len(self.demands)
        rel = vals / ed[:, None]
        rerr = err / ed[:, None, None]
        fig, ax = plt.subplots(figsize=(11, max(4.5, 2.1 + 0.55 * D)))
        fig.suptitle("Tail risk of total shortfall over the horizon, as % of the demand's expected total want\n"
                     "VaR = quantile (error bar: its 95% " + ("CI, inverting the weighted exceedance estimate"
                                                            if self.weighted else "distribution-free CI")
                     + "); CVaR = mean of the worst trials "
                     f"(error bar: ± {self.kl_trial} SE)", fontsize=10)
        k = len(labels)
        h = 0.8 / k
        colors = ["#9ecae1", "#3182bd", "#fdae6b", "#e6550d"]
        y = np.arange(D)
        for i in range(k):
            e = np.nan_to_num(rerr[:, i, :].T * 100, nan=0.0)
            ax.barh(y - 0.4 + h * (i + 0.5), 100 * np.nan_to_num(rel[:, i]), height=h * 0.95,
                    color=colors[i % len(colors)], label=labels[i], xerr=np.maximum(e, 0),
                    error_kw=dict(ecolor="0.25", lw=0.7, capsize=1.5))
        ax.set_yticks(y)
        ax.set_yticklabels([f"{self.demand_short[j]}\nexpected want {fmt_t(ed[j])} t" for j in range(D)], fontsize=7)
        ax.set_ylim(D - 0.5, -0.5)
        ax.set_xlabel("total shortfall over the horizon (% of expected demand)")
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_xlim(left=0)
        if not np.nanmax(rel, initial=0) > 0:
            ax.text(0.5, 0.5, "no shortfall at the 95% or 99% level in any demand", transform=ax.transAxes,
                    ha="center", va="center")
        for j in range(D):
            if not np.isfinite(ed[j]):
                ax.text(0, j, "  no demand", va="center", fontsize=7)
            elif np.nanmax(vals[j]) == 0:
                ax.text(0, j, "  0 at every level", va="center", fontsize=7, color="0.4")
        fig.legend(*ax.get_legend_handles_labels(), loc="upper center", ncol=k, fontsize=8, frameon=False,
                   bbox_to_anchor=(0.5, 1 - 0.5 / fig.get_figheight()))
        self.save(fig, "risk.png", top_inch=0.8)

    def risk_table(self):
        got = self.var_cvar()
        if got is None:
            return
        vals, err, labels = got
        D = len(self.demands)
        eud, eud_se = self.summary("eud"), self.summary("eud_se")
        ps, ps_se = self.summary("p_short"), self.summary("p_short_se")
        ed = self.expected_demand()

        def with_ci(v, e, se_style):
            if not np.isfinite(e).all():
                return fmt_t(v)
            if se_style:
                return f"{fmt_t(v)} ± {fmt_se(e[1])}" if e[1] > 0 else fmt_t(v)
            return f"{fmt_t(v)} [{fmt_t(v - e[0])}, {fmt_t(v + e[1])}]"

        rows = []
        for j in range(D):
            r = [self.demands[j], fmt_t(ed[j]) if np.isfinite(ed[j]) else "0"]
            if eud is None or eud_se is None:
                r.append("n/a")
            else:
                r.append(f"{fmt_t(eud[j])} ± {fmt_se(self.k * eud_se[j])}" if eud_se[j] > 0 else fmt_t(eud[j]))
            if ps is None or ps_se is None:
                r.append("n/a")
            else:
                r.append(f"{pct(ps[j])} ± {pct(self.k * ps_se[j])}" if ps_se[j] > 0 else pct(ps[j]))
            for i in range(len(labels)):
                r.append(with_ci(vals[j, i], err[j, i], se_style=(i % 2 == 1)))
            rows.append(r)
        cols = ["demand", "expected\nwant (t)", f"EUD (t)\n± {self.kl} SE", f"P(short)\n± {self.kl} SE"]
        cols += [f"{lab} (t)\n" + (f"± {self.kl_trial} SE" if i % 2 else "[95% CI]") for i, lab in enumerate(labels)]
        fig, ax = plt.subplots(figsize=(13, max(2.5, 1.2 + 0.27 * (D + 2))))
        ax.axis("off")
        fig.suptitle("Risk table: total shortfall over the horizon per demand (t); EUD = expected unserved demand, "
                     "VaR = quantile, CVaR = mean of the worst trials beyond it", fontsize=10)
        tbl = ax.table(cellText=rows, colLabels=cols, loc="center", cellLoc="right", colLoc="center")
        tbl.auto_set_font_size(False)
        tbl.set_fontsize(8)
        tbl.scale(1.0, 1.3)
        for (r, c), cell in tbl.get_celld().items():
            if r == 0:
                cell.set_height(cell.get_height() * 1.8)
                cell.set_facecolor("#e8e8e8")
            if c == 0:
                cell.set_text_props(ha="left")
            if r > 0 and r % 2 == 0:
                cell.set_facecolor("#f6f6f6")
        tbl.auto_set_column_width(list(range(len(cols))))
        self.save(fig, "risk_table.png", top_inch=0.35)

    # -- conditional views -------------------------------------------------------------------
    def events(self):
        s = self.scen.summary
        ev = list(self.res.model.get("events", []))
        need = ("eud_given_event", "eud_given_no_event", "event_fired_share")
        if not ev or any(k not in s for k in need):
            self.note("note: no events or no conditional EUD in the file; events.png not written")
            return
        g, ng = self.summary("eud_given_event"), self.summary("eud_given_no_event")
        gse = self.summary("eud_given_event_se")
        ngse = self.summary("eud_given_no_event_se")
        gse = np.zeros_like(g) if gse is None else gse
        ngse = np.zeros_like(ng) if ngse is None else ngse
        fired = self.summary("event_fired_share")
        onset = None
        if self.weighted and "event_onset" in self.scen.trials:
            onset = np.asarray(self.scen.trials["event_onset"])
        if onset is not None and onset.ndim == 2 and onset.shape[1] == len(ev):
            # importance sampling: event_fired_share is a weighted estimate, not a share of the trials;
            # whether an event fired in none, some or all trials is read from the trials themselves
            k_fired = (onset >= 0).sum(axis=0).astype(int)
        else:
            k_fired = np.rint(fired * self.n).astype(int)
        contrast = (k_fired > 0) & (k_fired < self.n)
        always = [e for i, e in enumerate(ev) if k_fired[i] == self.n]
        never = [e for i, e in enumerate(ev) if k_fired[i] == 0]
        quiet = [j for j in range(len(self.demands)) if not (g[:, j].any() or ng[:, j].any())]
        shown = [j for j in range(len(self.demands)) if j not in quiet]
        pg = self.pages(shown, EVENT_PANELS_PER_PAGE)
        top_k = min(TOP_EVENTS, int(contrast.sum()))
        which = (f"the {top_k} events that change it most" if top_k < int(contrast.sum())
                 else "every event that fired in some but not all trials")
        label = ("estimated probability that it fires; weighted estimates" if self.weighted
                 else "share of trials in which it fired")
        title = ("Expected unserved demand over the horizon (t) given that an event fired vs. did not fire "
                 f"(± {self.kl_trial} SE)\nper demand, {which} (label: {label}).\n"
                 "Events that share a regime fire together: a difference is an association, not necessarily "
                 "the event's own effect")
        foot = []
        if quiet:
            foot.append(f"no shortfall in any trial (not shown): {', '.join(self.demands[j] for j in quiet)}")
        if always:
            foot.append(f"fired in every trial (no contrast, not shown): {', '.join(always)}")
        if never:
            foot.append(f"never fired (not shown): {', '.join(never)}")
        note = "\n".join(textwrap.fill(f, 200) for f in foot) or None
        for p, idx in enumerate(pg):
            if not idx:
                fig, ax = plt.subplots(figsize=(10, 3))
                fig.suptitle(title, fontsize=10)
                ax.axis("off")
                ax.text(0.5, 0.5, f"no demand is short in any of {self.n} trials", ha="center", va="center")
                self.save(fig, "events.png", note=note, top_inch=0.8)
                return
            fig, axes = self.grid(len(idx), title, ncols=2, panel_h=max(2.8, 0.36 * top_k + 1.3), panel_w=7.0)
            fig.suptitle(title, fontsize=10)
            for ax, j in zip(axes, idx):
                ax.set_title(self.demand_labels[j], fontsize=9)
                ax.set_xlabel("EUD over the horizon (t)")
                diff = np.where(contrast, np.abs(g[:, j] - ng[:, j]), -1.0)
                order = [int(i) for i in np.argsort(-diff, kind="stable")[:TOP_EVENTS] if diff[i] > 0]
                if not order:
                    msg = ("no shortfall in any trial" if not (g[:, j].any() or ng[:, j].any())
                           else "no event changes the EUD")
                    ax.text(0.5, 0.5, msg, ha="center", va="center", transform=ax.transAxes)
                    ax.set_yticks([])
                    ax.set_xticks([])
                    continue
                y = np.arange(len(order))
                ax.barh(y - 0.2, g[order, j], height=0.38, xerr=self.k_trial * gse[order, j], color="C3",
                        label="event fired", error_kw=dict(ecolor="0.25", lw=0.7, capsize=2))
                ax.barh(y + 0.2, ng[order, j], height=0.38, xerr=self.k_trial * ngse[order, j], color="C0",
                        label="did not fire", error_kw=dict(ecolor="0.25", lw=0.7, capsize=2))
                for yy, v, e in ((y - 0.2, g[order, j], self.k_trial * gse[order, j]), (y + 0.2, ng[order, j], self.k_trial * ngse[order, j])):
                    for a, b, c in zip(yy, v, e):
                        ax.text(b + c, a, f" {fmt_t(b)}", va="center", fontsize=6, color="0.25")
                ax.set_yticks(y)
                ax.set_yticklabels([f"{ev[i]} ({pct(fired[i], 0)})" for i in order], fontsize=7)
                ax.set_ylim(len(order) - 0.5, -0.5)
                right = float(np.max(np.concatenate((g[order, j] + self.k_trial * gse[order, j],
                                                     ng[order, j] + self.k_trial * ngse[order, j]))))
                ax.set_xlim(0, right * 1.15 if right > 0 else 1)
                ax.grid(True, axis="x", alpha=0.3)
                ax.legend(fontsize=7, loc="lower right")
            self.save(fig, self.paged_name("events", p, len(pg)), note=note, top_inch=0.85)

    def regimes(self):
        s = self.scen.summary
        rg = list(self.res.model.get("regimes", []))
        if len(rg) < 2:
            self.note(f"note: {len(rg)} regime(s) in the study; regimes.png not written")
            return
        if "eud_by_regime" not in s:
            self.note("note: no eud_by_regime in the file; regimes.png not written")
            return
        eud, eud_se = self.summary("eud_by_regime"), self.summary("eud_by_regime_se")
        ps, ps_se = self.summary("p_short_by_regime"), self.summary("p_short_by_regime_se")
        share = self.summary("regime_share")
        ed = self.expected_demand()
        D, G = len(self.demands), len(rg)
        fig, axes = plt.subplots(1, 2, figsize=(13, max(4.5, 2.2 + 0.18 * D * G)), sharey=True)
        fig.suptitle("By regime: EUD over the horizon (% of the demand's expected total want over all trials) and "
                     f"P(short in any month) (%), ± {self.kl} SE", fontsize=10)
        y = np.arange(D)
        h = 0.8 / G
        for ax, val, se, xlabel in ((axes[0], eud / ed[None, :] if eud is not None else None,
                                     eud_se / ed[None, :] if eud_se is not None else None,
                                     "EUD (% of expected demand)"),
                                    (axes[1], ps, ps_se, "P(short in >= 1 month) (%)")):
            ax.set_xlabel(xlabel)
            ax.grid(True, axis="x", alpha=0.3)
            if val is None:
                ax.text(0.5, 0.5, "not in the file", transform=ax.transAxes, ha="center")
                continue
            for g in range(G):
                lab = (f"{rg[g]} ({pct(share[g], 0)}{'' if self.weighted else ' of trials'})" if share is not None
                       else rg[g])
                e = 200 * np.nan_to_num(se[g]) if se is not None else None
                ax.barh(y - 0.4 + h * (g + 0.5), 100 * np.nan_to_num(val[g]), height=h * 0.95, xerr=e,
                        color=f"C{g % 10}", label=lab, error_kw=dict(ecolor="0.25", lw=0.7, capsize=1.5))
            ax.set_xlim(left=0)
        axes[0].set_yticks(y)
        axes[0].set_yticklabels(self.demand_short, fontsize=7)
        axes[0].set_ylim(D - 0.5, -0.5)
        fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=G, fontsize=8, frameon=False,
                   bbox_to_anchor=(0.5, 1 - 0.35 / fig.get_figheight()),
                   title="regime (estimated probability, weighted)" if self.weighted
                   else "regime (share of trials drawn in it)",
                   title_fontsize=8)
        self.save(fig, "regimes.png", top_inch=0.95)

    def product_chains(self):
        """{product: value chain label} of the baseline's model (chain_of_demands' labels)."""
        m = self.res.model
        prods, chain = list(m.get("products", [])), m.get("product_chain")
        keys, labels = chain_of_demands(m, self.demands)
        if chain is None or not prods:
            return {}
        by_key = {int(chain[int(p)]): labels[k] for p, k in zip(m.get("demand_product", []), keys)}
        return {p: by_key.get(int(chain[i]), f"value chain of {p}") for i, p in enumerate(prods)}

    def demand_chain_labels(self, sc, demands):
        """The value chain label of each of scenario `sc`'s demands, by its product's chain in the
        baseline (a product only the scenario has: its own chain)."""
        model = sc.model if list(sc.model.get("demands", [])) == list(demands) else {}
        prods, dprod = list(model.get("products", [])), model.get("demand_product")
        if dprod is None or not prods:
            if list(demands) == self.demands:
                model = self.res.model
                prods, dprod = list(model.get("products", [])), model.get("demand_product")
            if dprod is None or not prods:
                return ["all demands"] * len(demands)
        chains = self.product_chains()
        if not chains:  # no /model/product_chain (files before it): one group
            return ["all demands"] * len(demands)
        out = []
        for j in range(len(demands)):
            p = prods[int(dprod[j])] if 0 <= int(dprod[j]) < len(prods) else "?"
            out.append(chains.get(p, f"value chain of {p}"))
        return out

    def scenarios(self):
        names = list(self.res.scenarios)
        if len(names) < 2:
            return
        # Rows: the baseline's demands, then demands only some scenarios have (matched by id: a
        # scenario may add or remove demands, so its arrays need not line up with the baseline's).
        rows, short = list(self.demands), list(self.demand_short)
        chain = self.demand_chain_labels(self.scen, self.demands)
        per = {}
        for nm in names:
            sc = self.res.scenarios[nm]
            try:
                dem, _, sh = self.scenario_labels(sc)
                eud = np.asarray(sc.summary["eud"], dtype=np.float64)
                se = np.asarray(sc.summary["eud_se"], dtype=np.float64)
            except ChokepointFormatError as e:
                self.note(f"note: scenario {nm}: {e}; left out of scenarios.png")
                continue
            if len(dem) != eud.size:
                self.note(f"note: scenario {nm}: {eud.size} EUD values for {len(dem)} demands; left out of "
                          "scenarios.png")
                continue
            diff = sc.differences() if nm != "baseline" and sc.has_differences else None
            per[nm] = (dem, eud, se, self.expected_demand(sc), diff)
            for d, lab, ch in zip(dem, sh, self.demand_chain_labels(sc, dem)):
                if d not in rows:
                    rows.append(d)
                    short.append(lab)
                    chain.append(ch)
        shown = [nm for nm in names if nm in per]
        S = max(1, len(shown))
        # Pages: whole value chains while they fit BARS_PER_PAGE bars (a larger chain is split).
        per_page = max(1, BARS_PER_PAGE // S)
        blocks = []
        for ch in dict.fromkeys(chain):
            members = [r for r in range(len(rows)) if chain[r] == ch]
            blocks += [members[i : i + per_page] for i in range(0, len(members), per_page)]
        pages = []
        for block in blocks:
            if pages and len(pages[-1]) + len(block) <= per_page:
                pages[-1] += block
            else:
                pages.append(list(block))
        caption = self.caption.replace(self.scen_caption, f"scenarios: {', '.join(names)}   ")
        for p, idx in enumerate(pages):
            D = len(idx)
            fig, ax = plt.subplots(figsize=(12, max(4.5, 2.6 + 0.19 * D * S)))
            chains = list(dict.fromkeys(chain[r].replace("value chain of ", "") for r in idx))
            fig.suptitle("Scenario comparison: expected unserved demand over the horizon per demand "
                         f"(value chain{'s' if len(chains) > 1 else ''} of {'; '.join(chains)})\n"
                         f"(% of the demand's expected total want in that scenario, ± {self.kl} SE; at each bar: EUD in t and, "
                         f"for the other scenarios, the paired\ndifference from the baseline ± {self.kl} SE on common random "
                         "numbers (Δ, t; scenario minus baseline, 0 at rounding level))", fontsize=10)
            y = np.arange(D)
            h = 0.8 / S
            top = 0.0
            for k, nm in enumerate(shown):
                dem, eud, se, ed, diff = per[nm]
                pos = {d: j for j, d in enumerate(dem)}
                yy = y - 0.4 + h * (k + 0.5)
                v, e = np.full(D, np.nan), np.full(D, np.nan)
                for i, r in enumerate(idx):
                    if rows[r] in pos:
                        j = pos[rows[r]]
                        v[i] = 100 * np.nan_to_num(eud[j] / ed[j])
                        e[i] = 200 * np.nan_to_num(se[j] / ed[j])
                have = np.isfinite(v)
                ax.barh(yy[have], v[have], height=h * 0.95, xerr=e[have], color=f"C{k % 10}", label=nm,
                        error_kw=dict(ecolor="0.25", lw=0.7, capsize=1.5))
                for i, r in enumerate(idx):
                    if rows[r] not in pos:
                        ax.text(0, yy[i], f"  not in {nm}", va="center", fontsize=6, color="0.45")
                        continue
                    j = pos[rows[r]]
                    txt = f" {fmt_t(eud[j])} t"
                    if diff is not None:
                        dv, dse = diff["eud"][j], diff.get("eud_se", np.full(len(dem), np.nan))[j]
                        if not np.isfinite(dv):
                            txt += "   (not in the baseline)"
                        else:
                            txt += "   Δ " + fmt_diff(dv, dse, "t", ed[j], k=self.k)
                    ax.text(v[i] + e[i], yy[i], txt, va="center", fontsize=6, color="0.25")
                top = max(top, float(np.nanmax(np.where(have, v + e, 0.0), initial=0.0)))
            ax.set_yticks(y)
            ax.set_yticklabels([short[r] for r in idx], fontsize=7)
            ax.set_ylim(D - 0.5, -0.5)
            ax.set_xlim(0, max(top * 1.45, 1e-3))
            ax.set_xlabel("EUD over the horizon (% of expected demand)")
            ax.grid(True, axis="x", alpha=0.3)
            fig.legend(*ax.get_legend_handles_labels(), loc="upper center", ncol=min(S, 6), fontsize=8,
                       frameon=False, bbox_to_anchor=(0.5, 1 - 0.75 / fig.get_figheight()), title="scenario",
                       title_fontsize=8)
            self.save(fig, self.paged_name("scenarios", p, len(pages)), top_inch=1.0 + 0.2 * math.ceil(S / 6),
                      caption=caption)

    # -- format 1.1: convergence, paired differences, sensitivity --------------------------------
    def stop_note(self):
        st = self.res.stopping()
        if st is None:
            return None
        # the rule's text may carry a binary float's full expansion (0.050000000000000003)
        rule = re.sub(r"\d+\.\d{7,}", lambda m: f"{float(m.group()):.6g}", st["rule"])
        rel = (f" ({100 * st['se'] / abs(st['estimate']):.2g}% of the estimate)"
               if np.isfinite(st["se"]) and np.isfinite(st["estimate"]) and st["estimate"] != 0 else "")
        eff = (f", on {st['effective_trials']:,.0f} effective trials"
               if np.isfinite(st.get("effective_trials", float("nan"))) else "")
        return (f"stopping rule: {rule};  target {'met' if st['target_met'] else 'NOT met'} after "
                f"{st['trials']:,} trials: estimate {fmt_t(st['estimate'])}, SE {fmt_se(st['se'])}{rel}{eff}")

    def convergence(self):
        for nm, sc in self.res.scenarios.items():
            if not sc.has_convergence:
                self.note(f"note: scenario {nm}: no convergence group in the file; convergence_{nm}.png not written")
                continue
            try:
                c = sc.convergence()
            except ChokepointFormatError as e:
                print(f"{PROG}: error: {e}", file=sys.stderr)
                self.failed.append(f"convergence_{nm}")
                continue
            dem, labels, _ = self.scenario_labels(sc)
            if list(c["demand"]) != list(dem):
                labels = list(c["demand"])
            self.convergence_one(nm, sc, c, labels)

    def convergence_one(self, nm, sc, c, labels):
        """convergence_<nm>.png: one small panel per demand with nonzero EUD, all in one figure (the
        CONVERGENCE_PANELS least converged, by final relative SE, when there are more)."""
        tr = np.asarray(c["trials"], dtype=np.float64)
        eud, se = c["eud"], c["eud_se"]
        K, D = eud.shape
        shown = [j for j in range(D) if K and np.nanmax(np.abs(eud[:, j]), initial=0.0) > 0]
        quiet = [c["demand"][j] for j in range(D) if j not in shown]
        if not shown:
            self.note(f"note: scenario {nm}: no demand is short in any of {self.n} trials (EUD 0 after every "
                      f"block); convergence_{_safe(nm)}.png not written")
            return
        left_out = []
        if len(shown) > CONVERGENCE_PANELS:
            rel = [np.nan_to_num(se[-1, j] / abs(eud[-1, j]), nan=np.inf) if eud[-1, j] else np.inf for j in shown]
            keep = sorted(shown[i] for i in np.argsort(rel, kind="stable")[::-1][:CONVERGENCE_PANELS])
            left_out = [c["demand"][j] for j in shown if j not in keep]
            shown = keep
        foot = []
        if quiet:
            foot.append("EUD 0 after every block (not shown): " + ", ".join(quiet))
        if left_out:
            foot.append(f"{len(left_out)} demands with a smaller relative SE not shown: " + ", ".join(left_out))
        reps = int(sc.summary_attrs.get("replicates", 1) or 1)
        if reps > 1:
            foot.append(f"standard errors from the spread of the {reps} replicate means (summary se_method)")
        if nm == "baseline" and self.stop_note():
            foot.append(self.stop_note())
        note = "\n".join(foot) or None
        title = (f"Convergence, scenario {nm}: running estimate of expected unserved demand (EUD) over the horizon "
                 f"(t)\nafter each block of trials, with its ± {self.kl} SE band, one panel per demand")
        k = len(shown)
        ncols = 1 if k == 1 else 2 if k <= 4 else 3 if k <= 9 else 4 if k <= 16 else 5
        fig, axes = self.grid(k, title, ncols=ncols, panel_h=2.3, panel_w=3.1)
        fig.suptitle(title, fontsize=10)
        for ax, j in zip(axes, shown):
            y, s2 = eud[:, j], self.k * np.nan_to_num(se[:, j], nan=np.nan)
            lo, hi = np.maximum(y - s2, 0.0), y + s2
            fin = np.isfinite(lo) & np.isfinite(hi)
            ax.fill_between(tr, np.where(fin, lo, np.nan), np.where(fin, hi, np.nan), color="C0", alpha=0.2, lw=0)
            ax.plot(tr, y, "-o", color="C0", lw=1.1, ms=2 if K <= 60 else 0)
            ax.axhline(y[-1], color="C3", ls="--", lw=0.8)
            ax.set_xscale("log")
            if K == 1 or tr[0] == tr[-1]:
                ax.set_xlim(tr[0] / 2, tr[0] * 2)
            else:
                ax.set_xlim(tr[0] / 1.15, tr[-1] * 1.15)
            ax.xaxis.set_major_locator(FixedLocator(log_ticks(tr[0], tr[-1])))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.tick_params(labelsize=7)
            top = float(np.nanmax(np.where(fin, hi, y), initial=0.0))
            ax.set_ylim(0, top * 1.12 if top > 0 else 1)
            fse = se[-1, j]
            if np.isfinite(fse):
                setxt = f"SE {fmt_se(fse)} t" + (f" = {100 * fse / y[-1]:.1f}%" if y[-1] > 0 else "")
            else:
                setxt = "SE n/a"
            ax.set_title(f"{labels[j]}\nEUD {fmt_t(y[-1])} t, {setxt}", fontsize=7.5)
            ax.grid(True, which="major", alpha=0.3)
        for ax in axes:
            ax.set_xlabel("trials done (log scale)", fontsize=7)
            ax.set_ylabel("EUD (t)", fontsize=7)
        handles = [Line2D([], [], color="C0", lw=1.1, marker="o", ms=2, label="running EUD after each block"),
                   Patch(color="C0", alpha=0.2, label=f"± {self.kl} SE"),
                   Line2D([], [], color="C3", ls="--", lw=0.8, label="final estimate (the summary's EUD)")]
        fig.legend(handles=handles, loc="upper center", ncol=3, fontsize=8, frameon=False,
                   bbox_to_anchor=(0.5, 1 - 0.5 / fig.get_figheight()))
        self.save(fig, f"convergence_{_safe(nm)}.png", note=note, top_inch=0.8, caption=self.caption_for(nm))

    def differences(self):
        for nm, sc in self.res.scenarios.items():
            if nm == "baseline":
                continue
            if not sc.has_differences:
                self.note(f"note: scenario {nm}: no paired differences (diff_eud) in the file; "
                          f"differences_{nm}.png not written")
                continue
            try:
                d = sc.differences()
            except ChokepointFormatError as e:
                print(f"{PROG}: error: {e}", file=sys.stderr)
                self.failed.append(f"differences_{nm}")
                continue
            self.differences_one(nm, sc, d)

    def differences_one(self, nm, sc, d):
        """differences_<nm>.png: a row of panels (EUD, P(short)) per value chain, each with its own
        scale, over the demands whose difference is not at rounding level."""
        dem, _, short = self.scenario_labels(sc)
        if len(dem) != d["eud"].size:
            dem, short = list(d["demand"]), list(d["demand"])
        D = len(dem)
        ed = np.nan_to_num(self.expected_demand(sc)) if len(sc.demands) == D else np.zeros(D)
        changed = changed_demands(d, ed)
        chain = self.demand_chain_labels(sc, dem)
        panels = [("eud", 1.0, ed, "EUD over the horizon: scenario − baseline (t)", "t")]
        if "p_short" in d:
            panels.append(("p_short", 100.0, np.full(D, 1.0),
                           "P(short in ≥ 1 month): scenario − baseline (percentage points)", "pp"))
        removed = [x for x in self.demands if x not in dem]
        missing = [dem[j] for j in range(D) if not np.isfinite(d["eud"][j])]
        same = [dem[j] for j in range(D) if np.isfinite(d["eud"][j]) and not changed[j]]
        if not changed.any():
            self.note(f"note: scenario {nm}: no demand differs from the baseline beyond rounding; "
                      f"differences_{_safe(nm)}.png not written")
            return
        foot = []
        if same:
            foot.append("identical to the baseline up to rounding (not shown): " + ", ".join(same))
        if removed:
            foot.append(f"demands of the baseline that {nm} removes (no difference): {', '.join(removed)}")
        if missing:
            foot.append(f"demands {nm} adds (not in the baseline, no difference): {', '.join(missing)}")
        reps = int(sc.summary_attrs.get("replicates", 1) or 1)
        if reps > 1:
            foot.append(f"paired EUD SE from the spread of the {reps} replicate means of the paired differences")
        note = "\n".join(foot) or None
        title = (f"scenario {nm} minus baseline: paired difference per demand that changed, same trials in both "
                 "(common random numbers), one row per value chain\n"
                 f"blue: ± {self.kl} SE of the paired difference; grey: ± {self.kl} SE two independent runs of the same size "
                 "would give (the difference is the same dot)")
        groups = [[j for j in range(D) if changed[j] and chain[j] == ch] for ch in dict.fromkeys(chain)]
        groups = [g for g in groups if g]
        pages = [[]]
        for g in groups:
            if pages[-1] and sum(len(x) for x in pages[-1]) + len(g) > 24:
                pages.append([])
            pages[-1].append(g)
        for p, page in enumerate(pages):
            ratios = [len(g) + 1.3 for g in page]
            fig, axes = plt.subplots(len(page), len(panels), sharey="row", squeeze=False,
                                     figsize=(max(12.0, 6.5 * len(panels)), 1.9 + 0.42 * sum(ratios)),
                                     gridspec_kw={"height_ratios": ratios})
            fig.suptitle(title, fontsize=10)
            for row, idx in zip(axes, page):
                k = len(idx)
                y = np.arange(k)
                for c, (ax, (key, scale, total, xlabel, unit)) in enumerate(zip(row, panels)):
                    v = scale * round_to_zero(d[key][idx], total[idx])
                    se = scale * round_to_zero(d.get(key + "_se", np.full(D, np.nan))[idx], total[idx])
                    si = scale * round_to_zero(d.get(key + "_se_independent", np.full(D, np.nan))[idx], total[idx])
                    ax.axvline(0, color="0.3", lw=0.9)
                    ax.errorbar(v, y - 0.14, xerr=self.k * np.nan_to_num(se), fmt="o", color="C0", ms=4.5,
                                elinewidth=2.2, capsize=4, label=f"paired (common random numbers) ± {self.kl} SE", zorder=3)
                    ax.errorbar(v, y + 0.14, xerr=self.k * np.nan_to_num(si), fmt="o", color="0.55", mfc="white",
                                ms=4, elinewidth=1.2, capsize=3, label=f"independent runs ± {self.kl} SE", zorder=2)
                    # x range: the paired intervals and 0, widened to the independent ones only up to
                    # twice that span (wider grey bars run off the edge; the text gives their ratio)
                    w = self.k * np.nan_to_num(se)
                    lo, hi = min(0.0, float(np.min(v - w))), max(0.0, float(np.max(v + w)))
                    span = hi - lo if hi > lo else max(float(np.max(self.k * np.nan_to_num(si))), 1e-12)
                    wi = self.k * np.nan_to_num(si)
                    lo = max(min(lo, float(np.min(v - wi))), lo - span)
                    hi = min(max(hi, float(np.max(v + wi))), hi + span)
                    ax.set_xlim(lo - 0.06 * (hi - lo), hi + 0.06 * (hi - lo))
                    for r in range(k):
                        msg = fmt_diff(v[r], se[r], unit, total=0.0, k=self.k)  # (v, se: rounded above)
                        if se[r] > 0 and si[r] > 0:
                            ratio = si[r] / se[r]
                            msg += (f": {ratio:.1f}× narrower than independent runs" if ratio >= 1.05 else
                                    f"; independent runs ± {fmt_se(self.k * si[r])}")
                        elif v[r] == 0 and not se[r] > 0:
                            msg = f"0 {unit}: identical in every trial (up to rounding)"
                        ax.text(0.01, y[r] - 0.40, msg, transform=ax.get_yaxis_transform(), fontsize=6.5,
                                color="0.25", va="center")
                    ax.grid(True, axis="x", alpha=0.3)
                    ax.tick_params(axis="x", labelsize=7)
                    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:+.3g}" if abs(x) > 1e-12 else "0"))
                    ax.set_xlabel(xlabel, fontsize=8)
                    if c == 0:
                        ax.set_title(chain[idx[0]], loc="left", fontsize=9)
                row[0].set_yticks(y)
                row[0].set_yticklabels([short[j] for j in idx], fontsize=8)
                row[0].set_ylim(k - 0.45, -0.65)
            fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncol=2, fontsize=8,
                       frameon=False, bbox_to_anchor=(0.5, 1 - 0.55 / fig.get_figheight()))
            self.save(fig, self.paged_name(f"differences_{_safe(nm)}", p, len(pages)), note=note, top_inch=0.85,
                      caption=self.caption_for(nm) + "   (scenario minus baseline)")

    # -- format 1.4: importance sampling ---------------------------------------------------------
    def demand_ess(self, sc=None):
        """(p_short_ess, eud_ess) [demand] of scenario `sc` (default: the baseline): the summary's,
        else computed from its trials ((sum w 1)^2 / sum (w 1)^2 over the short trials; the same of
        w x for the shortfall x)."""
        sc = sc or self.scen
        s = sc.summary
        out = []
        w = sc.weights()
        for key, src in (("p_short_ess", "short_months"), ("eud_ess", "shortfall")):
            if key in s:
                out.append(np.asarray(s[key], dtype=np.float64))
                continue
            x = np.asarray(sc.trials[src], dtype=np.float64)
            y = w[:, None] * ((x > 0) if key == "p_short_ess" else x)
            s1, s2 = y.sum(axis=0), (y * y).sum(axis=0)
            out.append(np.where(s2 > 0, s1 * s1 / np.where(s2 > 0, s2, 1.0), 0.0))
        return out[0], out[1]

    @staticmethod
    def proposal_density(edges, mass):
        """(edges, density) of a proposal on the quantile scale: mass / width of each bin, the model's
        density being 1 (uniform). Bins of zero width are dropped."""
        edges, mass = np.asarray(edges, dtype=np.float64), np.asarray(mass, dtype=np.float64)
        width = np.diff(edges)
        keep = width > 0
        dens = np.where(keep, mass / np.where(keep, width, 1.0), np.nan)
        return edges, dens

    def importance(self):
        """importance.png (importance-sampled files only, baseline): the distribution of the trials'
        likelihood ratios (log10 w), the effective sample size overall and per demand (P(short),
        EUD), and one panel per tilted input (/importance) with its proposal density over the
        quantile scale against the model's (uniform = 1)."""
        sc = self.scen
        if not sc.importance_sampled:
            return
        try:
            imp = self.res.importance()
            w = sc.weights()
            p_ess, e_ess = self.demand_ess(sc)
        except ChokepointFormatError as e:
            print(f"{PROG}: error: {e}", file=sys.stderr)
            self.failed.append("importance")
            return
        n = w.size
        ess, _ = self.ess_of(sc)
        wmean = sc.summary_attrs.get("weight_mean")
        wmean = float(wmean) if wmean is not None else float(w.mean()) if n else float("nan")
        wse = float(w.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
        tilts = []
        if imp is not None:
            for i, (nm, (edges, mass)) in enumerate(zip(imp["inputs"], imp["proposals"])):
                ed, dens = self.proposal_density(edges, mass)
                fin = dens[np.isfinite(dens) & (dens > 0)]
                spread = float(np.max(np.abs(np.log(fin)))) if fin.size else 0.0
                tilts.append((spread, i, nm, ed, dens, bool(imp["fitted"][i])))
        shown = sorted(sorted(tilts, key=lambda t: -t[0])[:IMPORTANCE_PANELS], key=lambda t: t[1])
        dem = list(range(len(self.demands)))
        if len(dem) > IMPORTANCE_DEMANDS:  # the least settled: smallest ESS behind P(short), never-short last
            key = np.where(np.nan_to_num(p_ess) > 0, np.nan_to_num(p_ess), np.inf)
            dem = sorted(int(j) for j in np.argsort(key, kind="stable")[:IMPORTANCE_DEMANDS])
        dropped = len(self.demands) - len(dem)
        p_ess, e_ess = np.asarray(p_ess, dtype=np.float64)[dem], np.asarray(e_ess, dtype=np.float64)[dem]
        D = len(dem)
        k = len(shown)
        ncols = 3 if k >= 3 else max(k, 1)
        trows = math.ceil(k / ncols) if k else 0
        top_h = max(3.6, 1.4 + 0.32 * D)
        fig = plt.figure(figsize=(14, 1.6 + top_h + 2.7 * trows))
        gs = fig.add_gridspec(1 + trows, 6, height_ratios=[top_h] + [2.5] * trows)
        fig.suptitle("Importance sampling, scenario baseline: the trials' likelihood ratios w = p/q, the effective "
                     "sample size overall and per demand,\nand each tilted input's proposal density on its quantile "
                     "scale against the model's (uniform = 1)", fontsize=10.5)

        # (1) log10 w over the trials
        ax = fig.add_subplot(gs[0, :3])
        lw = np.log10(w[w > 0]) if n else np.zeros(0)
        if lw.size:
            lo, hi = float(lw.min()), float(lw.max())
            if hi - lo < 1e-9:
                lo, hi = lo - 0.5, hi + 0.5
            counts, _, _ = ax.hist(lw, bins=np.linspace(lo, hi, 41), color="C0", alpha=0.85)
            ax.set_yscale("log")
            ax.set_ylim(0.7, max(float(counts.max(initial=1.0)), 1.0) * 8)
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.axvline(0.0, color="C3", ls="--", lw=0.9)
            lines = [f"ESS {ess:,.0f} of {n:,} trials ({100 * ess / n:.3g}%)",
                     f"mean w {wmean:.4g}" + (f" ± {fmt_se(self.k * wse)}" if np.isfinite(wse) and wse > 0 else "")
                     + " (about 1 for a sound proposal)",
                     f"w from {float(w.min()):.3g} to {float(w.max()):.3g}; the largest is "
                     f"{100 * float(w.max()) / float(w.sum()):.2g}% of Σ w"]
        else:
            lines = []
            ax.text(0.5, 0.5, "no trial", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("log10 w (red: w = 1, the model's own weight)")
        ax.set_ylabel("trials (log scale)")
        ax.set_title("\n".join(["likelihood ratio w of each trial"] + lines), fontsize=8.5)
        ax.grid(True, which="major", alpha=0.3)

        # (2) ESS per demand
        ax = fig.add_subplot(gs[0, 3:])
        y = np.arange(D)
        pv, ev = np.nan_to_num(p_ess), np.nan_to_num(e_ess)
        ax.barh(y - 0.2, np.where(pv > 0, pv, np.nan), height=0.38, color="C1", label="P(short)")
        ax.barh(y + 0.2, np.where(ev > 0, ev, np.nan), height=0.38, color="C2", label="EUD")
        ax.axvline(n, color="0.4", ls="--", lw=0.8)
        ax.axvline(ess, color="C0", ls=":", lw=1.1)
        ax.set_xscale("log")
        positive = np.concatenate((pv[pv > 0], ev[ev > 0], [ess, float(n)]))
        ax.set_xlim(max(float(positive.min()) / 3, 0.3), float(n) * 3)
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        for j in range(D):
            if not pv[j] > 0:
                ax.text(ax.get_xlim()[0] * 1.1, j, " never short in a trial", va="center", fontsize=7, color="0.4")
            else:
                ax.text(pv[j], j - 0.2, f" {pv[j]:,.0f}", va="center", fontsize=6.5, color="0.25")
                ax.text(ev[j], j + 0.2, f" {ev[j]:,.0f}", va="center", fontsize=6.5, color="0.25")
        ax.set_yticks(y)
        ax.set_yticklabels([self.demand_short[j] for j in dem], fontsize=7)
        ax.set_ylim(D - 0.5, -0.5)
        ax.set_xlabel("effective number of trials (log scale)")
        ax.set_title(f"effective sample size per demand (dotted: overall {ess:,.0f}; dashed: {n:,} trials)",
                     fontsize=9)
        ax.grid(True, axis="x", which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right", title="ESS behind", title_fontsize=7)

        # (3) one panel per tilted input
        for c, (_, i, nm, ed, dens, fitted) in enumerate(shown):
            ax = fig.add_subplot(gs[1 + c // ncols, 2 * (c % ncols): 2 * (c % ncols) + 2])
            inner = ed[(ed > 0) & (ed < 1)]
            eps = min([1e-4] + [float(inner.min()) / 10] * bool(inner.size)
                      + [float(1 - inner.max()) / 10] * bool(inner.size))
            xe = np.clip(ed, eps, 1 - eps)
            good = np.isfinite(dens) & (dens > 0)
            if good.any():
                ax.stairs(np.where(good, dens, np.nan), xe, color="C0", lw=1.4, baseline=None,
                          label="proposal q (density / model's)")
                lo_d = min(float(dens[good].min()), 1.0)
                hi_d = max(float(dens[good].max()), 1.0)
                ax.set_yscale("log")
                ax.set_ylim(lo_d / 3, hi_d * 3)
            ax.axhline(1.0, color="C3", ls="--", lw=0.9, label="model p (uniform = 1)")
            ax.set_xscale("logit")
            ax.set_xlim(eps, 1 - eps)
            ax.tick_params(labelsize=7)
            ax.set_xlabel("quantile u of the input (logit scale)", fontsize=7.5)
            ax.set_ylabel("density (log scale)", fontsize=7.5)
            ax.grid(True, which="major", alpha=0.3)
            how = "fitted by cross-entropy" if fitted else "tilted by hand"
            top = int(np.nanargmax(np.where(good, dens, -np.inf))) if good.any() else 0
            ax.set_title(f"{nm} ({how}, {dens.size} bins)\nmost favoured: u in [{ed[top]:.6g}, {ed[top + 1]:.6g}], "
                         f"q/p = {dens[top]:.3g}", fontsize=8)
            if c == 0:
                ax.legend(fontsize=6.5, loc="best")

        foot = []
        if dropped:
            foot.append(f"ESS panel: the {D} demands whose P(short) rests on the fewest effective trials; {dropped} "
                        "more not shown")
        est = sc.summary_attrs.get("estimator")
        if est:
            foot.append(f"estimator: {est}")
        if imp is None:
            foot.append("the file has no /importance group (proposals not stored): no proposal panels")
        elif len(tilts) > k:
            rest = [t[2] for t in tilts if t not in shown]
            foot.append(f"{len(rest)} more tilted inputs, closer to the model, not shown: {short_list(rest, 160)}")
        ce = imp.get("cross_entropy") if imp else None
        if ce:
            r = ce.get("rounds", {})
            rounds = len(next(iter(r.values()))) if r else 0
            pilots = int(np.sum(r["pilot_trials"])) if "pilot_trials" in r else None
            bits = [f"cross-entropy fit: target {ce.get('demand', '?')} short by more than "
                    f"{fmt_t(ce.get('shortfall_above', 0.0))}", f"{rounds} round{'s' if rounds != 1 else ''}"
                    + (f" ({pilots:,} pilot trials)" if pilots is not None else "")]
            if "reached" in ce:
                bits.append("reached the target level" if ce["reached"] else "did NOT reach the target level")
            for key in ("rarity", "defensive", "smoothing"):
                if key in ce:
                    bits.append(f"{key} {ce[key]:g}")
            foot.append("; ".join(bits))
        if np.isfinite(wse) and wse > 0 and abs(wmean - 1.0) > 3 * wse:
            foot.append(f"mean weight {wmean:.4g} differs from 1 by more than 3 SE: the proposal may give too "
                        "little mass to part of the model's range")
        others = [(nm2, self.ess_of(sc2)[0]) for nm2, sc2 in self.res.scenarios.items()
                  if nm2 != "baseline" and sc2.importance_sampled]
        if others:
            foot.append("ESS of the other scenarios: " + ", ".join(f"{a} {b:,.0f}" for a, b in others))
        self.save(fig, "importance.png", note="\n".join(foot) or None, top_inch=0.75)

    def sensitivity(self):
        """Tornado / Sobol' charts (chokepoint.sensitivity_plots) when a scenario has a sensitivity
        analysis or stores its per-trial inputs."""
        if not any(sc.has_sensitivity or "inputs" in sc.trials for sc in self.res.scenarios.values()):
            return
        # An importance-sampled scenario's stored inputs were drawn from the tilted proposal: their
        # (unweighted) Spearman correlations describe the proposal, not the model. No chart for them.
        unweighted = [nm for nm, sc in self.res.scenarios.items()
                      if sc.importance_sampled and not sc.has_sensitivity and "inputs" in sc.trials]
        for nm in unweighted:
            self.note(f"note: scenario {nm}: importance-sampled, so its stored inputs were drawn from the tilted "
                      "proposal and their rank correlations would describe the proposal, not the model; "
                      f"tornado_{_safe(nm)}_*.png not written")
        if not any(sc.has_sensitivity or ("inputs" in sc.trials and nm not in unweighted)
                   for nm, sc in self.res.scenarios.items()):
            return
        skip = sorted((f"tornado_{_safe(nm)}_" for nm in unweighted), key=len)
        prefixes = sorted((f"tornado_{_safe(nm)}_" for nm in self.res.scenarios), key=len)
        try:
            from . import sensitivity_plots as ps
        except ImportError as e:
            print(f"{PROG}: error: cannot import chokepoint.sensitivity_plots ({e}); tornado/Sobol' charts "
                  "not written", file=sys.stderr)
            self.failed.append("sensitivity")
            return
        # sensitivity_plots' own caption names the file, study, seed, scenario and bootstrap; add the
        # rest of the provenance line the other figures carry (trials, horizon, config, version).
        at = self.res.attrs
        extra = (f"trials: {self.n}   horizon: {self.horizon} months   config SHA-256: "
                 f"{str(at.get('config_sha256', ''))[:12] or '?'}   chokepoint {at.get('program_version', '?')}   "
                 f"{at.get('created_utc', '')}")
        try:
            for name, fig in ps.figures(self.res.path, extra_caption=extra):
                # the scenario a tornado chart belongs to: the longest scenario prefix of its name
                owner = [pre for pre in prefixes if name.startswith(pre)]
                if owner and owner[-1] in skip:
                    plt.close(fig)
                    continue
                self.emit(fig, name, dpi=120)
        except (ps.FormatError, KeyError, ValueError) as e:
            print(f"{PROG}: error: {self.res.path}: sensitivity charts: {e}", file=sys.stderr)
            self.failed.append("sensitivity")


def _safe(name):
    """A scenario id as part of a file name (ids are [A-Za-z0-9_.-] already; anything else -> _)."""
    out = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in str(name)).strip("_")
    return out or "x"


def default_outdir(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    return os.path.join(os.path.dirname(os.path.abspath(path)), stem + "_plots")


def main(argv=None, prog=None):
    """The command line (chokepoint-plot); returns the exit status. `prog` names the program in
    usage and messages (default chokepoint-plot)."""
    global PROG
    if prog:
        PROG = prog
    ap = argparse.ArgumentParser(
        prog=PROG,
        description="Plot a chokepoint results file (HDF5) to PNG files.",
        epilog="Default DIR: the file's directory / <file stem>_plots/",
    )
    ap.add_argument("file", help="results file written by `chokepoint run` (.h5)")
    ap.add_argument("--out", metavar="DIR", help="directory for the PNG files (created if needed)")
    a = ap.parse_args(argv)

    try:
        res = open_results(a.file)
    except ChokepointFormatError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    outdir = a.out or default_outdir(a.file)
    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError as e:
        print(f"{PROG}: error: cannot create output directory {outdir}: {e}", file=sys.stderr)
        return 1
    with res:
        if int(res.attrs.get("complete", 0)) != 1:
            print(f"{PROG}: warning: {a.file}: attribute complete != 1 (the run did not finish)",
                  file=sys.stderr)
        if int(res.attrs.get("shard_count", 0) or 0) > 0:
            print(f"{PROG}: warning: {a.file} is shard {res.attrs.get('shard_index')} of "
                  f"{res.attrs.get('shard_count')} of a run, not the whole study: its figures are of "
                  "this slice alone (`chokepoint merge` combines the shards)", file=sys.stderr)
        try:
            pl = Plotter(res, outdir)
            if not pl.demands:
                print(f"{PROG}: error: {a.file}: /model/demands is empty; nothing to plot", file=sys.stderr)
                return 2
            if pl.n < 1:
                print(f"{PROG}: error: {a.file}: the file holds no trials", file=sys.stderr)
                return 2
            for step in (pl.exceedance, pl.histogram, pl.monthly, pl.chokepoints, pl.stockouts, pl.risk,
                         pl.risk_table, pl.events, pl.regimes, pl.scenarios, pl.convergence, pl.differences,
                         pl.importance, pl.sensitivity):
                step()
        except ChokepointFormatError as e:
            print(f"{PROG}: error: {e}", file=sys.stderr)
            return 2
        except KeyError as e:
            print(f"{PROG}: error: {a.file}: missing root attribute {e}", file=sys.stderr)
            return 2
        except OSError as e:
            print(f"{PROG}: error: {e}", file=sys.stderr)
            return 1
    forget_stale(outdir, pl.written)
    for path in pl.written:
        print(path)
    return 2 if pl.failed else 0


MANIFEST = ".chokepoint-plots"


def forget_stale(outdir, written):
    """Removes the figures an earlier run of this command wrote into `outdir` (listed in its
    MANIFEST file) that this run did not write again (a scenario or demand no longer in the file:
    its old figure would sit among the new ones), then lists this run's figures. Only names this
    command wrote are ever removed; other files in the directory are left alone."""
    now = {os.path.basename(p) for p in written}
    manifest = os.path.join(outdir, MANIFEST)
    try:
        with open(manifest) as f:
            before = [line.strip() for line in f if line.strip()]
    except OSError:
        before = []
    for name in before:
        path = os.path.join(outdir, name)
        if name not in now and os.path.basename(name) == name and name.endswith(".png") \
                and os.path.isfile(path):
            try:
                os.remove(path)
            except OSError:
                pass
    try:
        with open(manifest, "w") as f:
            f.write("".join(n + "\n" for n in sorted(now)))
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
