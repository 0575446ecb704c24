"""Plot a chokepoint results file (HDF5) to PNG files.

    chokepoint-plot FILE [--out DIR]          (installed with `pip install ./python`)
    python -m chokepoint plot FILE [--out DIR]
    scripts/plot_results.py FILE [--out DIR]  (the same, from a checkout, installed or not)

Writes into DIR (default: FILE's directory / <FILE stem>_plots/), for the baseline scenario:
  exceedance*.png     P(total shortfall over the horizon > x), one panel per demand: the curve of
                      all trials, and the summary's 101-point curve with a +-2 standard error band
  histogram*.png      histogram of total shortfall per demand (log scale; the share of trials
                      with no shortfall is written in each panel, not drawn)
  monthly*.png        fan chart of shortfall per month: median, 25-75 % and 5-95 % of trials
                      (summary monthly_shortfall_bands), and the mean
  chokepoints.png     facilities, (product, country) nodes and trade restrictions ranked by the
                      share of trial-months in which they bind (top 15 each), with the unserved
                      quantity in those months and its share of the chain's unserved demand
  stockouts*.png      stockpile depletion: share of trials whose stockpile has run out by month m,
                      for demands with a stockpile, and the share that never runs out
  risk.png            VaR and CVaR at 95 % and 99 % per demand, as % of expected demand, with
                      error bars (95 % CI of the quantile for VaR, +-2 SE for CVaR)
  risk_table.png      the same and EUD, P(short), as a table in tonnes
  events*.png         EUD given each event fired vs. did not fire (+-2 SE), per demand: the
                      events that change it most
  regimes.png         EUD and P(short) in each regime (+-2 SE), when the study has >= 2 regimes
  scenarios.png       EUD per demand in each scenario (+-2 SE), when the file has >= 2 scenarios;
                      demands matched by id (a scenario may add or remove demands), and at each
                      other scenario's bar its paired difference from the baseline (+-2 SE)
and, from format 1.1 on, per scenario <s> (in run order, the baseline first):
  convergence_<s>.png the running EUD estimate (t) after each block of trials, with a +-2 SE band,
                      against the trials done (log scale), one panel per demand with nonzero EUD;
                      the stopping rule's outcome (root attributes stop_*) under the baseline's
  differences_<s>.png for each scenario other than the baseline, "scenario <s> minus baseline":
                      per demand, the paired difference in EUD (t) and in P(short)
                      (percentage points) with +-2 SE on common random numbers (diff_*_se) next to
                      the +-2 SE two independent runs would give (diff_*_se_independent)
  tornado_<s>_<demand>.png, sobol_<s>_<demand>.png
                      when the scenario has a `sensitivity` / `sobol_indices` group: drawn by
                      chokepoint.sensitivity_plots (plot_file), with this module's caption line
Many demands are split over several pages (exceedance_1.png, exceedance_2.png, ...).
Prints the PNG paths written. Exit status 0 on success, 2 on bad input (also when one figure's
data are malformed: the others are still written), 1 on other failures.
Needs h5py, numpy and matplotlib.
"""

from __future__ import annotations

import argparse
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
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter  # noqa: E402

from .reader import ChokepointFormatError, open_results  # noqa: E402

# The program name in messages: main()'s `prog` (scripts/plot_results.py passes "plot_results.py").
PROG = "chokepoint-plot"

PANELS_PER_PAGE = 12
EVENT_PANELS_PER_PAGE = 6
TOP_N = 15
TOP_EVENTS = 8
CURVES_PER_PAGE = 8
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


class Plotter:
    def __init__(self, res, outdir):
        self.res = res
        self.outdir = outdir
        self.written = []
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
        self.caption = (
            f"study: {at.get('name', '?')}   {scen}seed: {at.get('seed', '?')}   trials: {self.n}   "
            f"horizon: {self.horizon} months   start: {self.start or 'month 0 (no calendar label)'}   "
            f"config SHA-256: {sha[:12] or '?'}   chokepoint {at.get('program_version', '?')}   "
            f"{at.get('created_utc', '')}"
        )
        self.failed = []  # figures that could not be drawn (bad input); main() exits 2 after the others

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
        """The provenance caption, naming scenario `name`."""
        if not self.scen_caption:
            return self.caption
        return self.caption.replace(self.scen_caption, f"scenario: {name} (of {len(self.res.scenarios)})   ")

    # -- helpers -----------------------------------------------------------------------------
    def save(self, fig, name, note=None, top_inch=0.45, caption=None):
        """Caption (and an optional note above it) at the bottom, title space at the top, write."""
        h = fig.get_figheight()
        lines = note.count("\n") + 1 if note else 0
        fig.text(0.01, 0.08 / h, caption or self.caption, fontsize=7, color="0.35", ha="left", va="bottom")
        if note:
            fig.text(0.01, 0.26 / h, note, fontsize=7.5, color="0.2", ha="left", va="bottom")
        bottom = (0.3 + 0.15 * lines) / h  # the caption needs about 0.3 inch, a note line 0.15
        # top_inch is the room kept for the title (and a figure legend under it): keep the title out
        # of tight_layout (matplotlib >= 3.3 counts it too, which left a second title's height empty).
        if getattr(fig, "_suptitle", None) is not None:
            fig._suptitle.set_in_layout(False)
        fig.tight_layout(rect=(0, bottom, 1, 1 - top_inch / h))
        path = os.path.join(self.outdir, name)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        self.written.append(path)

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
            ed = np.asarray((scen or self.scen).trials["demand_total"], dtype=np.float64).mean(axis=0)
        return np.where(ed > 0, ed, np.nan)

    # -- plots -------------------------------------------------------------------------------
    def exceedance(self):
        sf = np.asarray(self.scen.trials["shortfall"], dtype=np.float64)
        eud = self.summary("eud")
        ex_x, ex_p, ex_se = self.summary("exceedance_x"), self.summary("exceedance_p"), self.summary("exceedance_p_se")
        floor = 0.5 / self.n
        pg = self.pages(range(len(self.demands)))
        title = "Exceedance: P(total shortfall over the horizon > x), x in tonnes (log scale)"
        handles = [Line2D([], [], color="C0", lw=1.4, label="all trials")]
        if ex_x is not None:
            handles.append(Patch(color="C1", alpha=0.35, label="summary's 101-point curve ± 2 SE"))
        handles += [Line2D([], [], color="C3", ls=":", lw=1, label="EUD (expected unserved demand)"),
                    Line2D([], [], color="0.5", ls="--", lw=0.8, label="P(shortfall > 0)")]
        for p, idx in enumerate(pg):
            fig, axes = self.grid(len(idx), title)
            fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=8, frameon=False,
                       bbox_to_anchor=(0.5, 1 - 0.4 / fig.get_figheight()))
            for ax, j in zip(axes, idx):
                x = sf[:, j]
                ax.set_title(f"{self.demand_labels[j]}\nEUD {fmt_t(eud[j]) if eud is not None else '?'} t,  "
                             f"P(shortfall > 0) = {np.mean(x > 0):.3g}", fontsize=9)
                ax.set_xlabel("total shortfall x (t)")
                ax.set_ylabel("P(shortfall > x)")
                ax.grid(True, which="both", alpha=0.3)
                if not (x > 0).any():
                    ax.text(0.5, 0.5, f"no shortfall in any of {self.n} trials", ha="center",
                            va="center", transform=ax.transAxes)
                    ax.set_yticks([])
                    ax.set_xticks([])
                    continue
                vals, counts = np.unique(x, return_counts=True)
                surv = 1.0 - np.cumsum(counts) / x.size  # P(S > vals[i])
                xs = np.concatenate(([0.0], vals))
                ps = np.concatenate(([np.mean(x > 0)], surv))
                keep = ps > 0
                # the last step (P = 1/n) runs on to the largest shortfall
                xs_k = np.append(xs[keep], vals[-1])
                ps_k = np.append(ps[keep], ps[keep][-1])
                ax.step(xs_k, ps_k, where="post", color="C0", lw=1.4, label="all trials")
                if ex_x is not None and ex_p is not None:
                    gx, gp = ex_x[j], ex_p[j]
                    gse = ex_se[j] if ex_se is not None else np.zeros_like(gp)
                    pos = gp > 0
                    lo = np.maximum(gp - 2 * gse, floor)
                    hi = np.minimum(gp + 2 * gse, 1.0)
                    ax.fill_between(gx[pos], lo[pos], hi[pos], color="C1", alpha=0.25, lw=0, step="post",
                                    label="summary curve ± 2 SE")
                    ax.plot(gx[pos], gp[pos], ".", color="C1", ms=2.5)
                ax.set_yscale("log")
                ax.set_ylim(floor, 1.05)
                ax.set_xlim(left=0)
                if eud is not None:
                    ax.axvline(float(eud[j]), color="C3", ls=":", lw=1)
                ax.axhline(np.mean(x > 0), color="0.5", ls="--", lw=0.8)
            self.save(fig, self.paged_name("exceedance", p, len(pg)), top_inch=0.75)

    def histogram(self):
        sf = np.asarray(self.scen.trials["shortfall"], dtype=np.float64)
        pg = self.pages(range(len(self.demands)))
        for p, idx in enumerate(pg):
            fig, axes = self.grid(len(idx), "Histogram of total shortfall over the horizon (t), trials with "
                                            "shortfall > 0 (count on a log scale when >= 30 in a bin)")
            for ax, j in zip(axes, idx):
                x = sf[:, j]
                pos = x[x > 0]
                zero = 1.0 - pos.size / x.size
                ax.set_title(self.demand_labels[j], fontsize=9)
                ax.set_xlabel("total shortfall (t)")
                ax.set_ylabel("trials (log scale)")
                note = f"P(shortfall = 0) = {zero:.3g}\n({x.size - pos.size} of {x.size} trials, not drawn)"
                ax.text(0.97, 0.95, note, ha="right", va="top", transform=ax.transAxes, fontsize=8,
                        bbox=dict(boxstyle="round", fc="white", ec="0.7"))
                if pos.size == 0:
                    ax.text(0.5, 0.5, f"no shortfall in any of {self.n} trials", ha="center", va="center",
                            transform=ax.transAxes)
                    ax.set_ylabel("trials")
                    ax.set_yticks([])
                    ax.set_xticks([])
                    continue
                bins = np.linspace(0.0, pos.max() * 1.0000001 if pos.max() > 0 else 1.0, 41)
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
            self.save(fig, self.paged_name("histogram", p, len(pg)))

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
        else:
            title += ": mean ± 2 SE (no monthly quantiles in the file: run.store_monthly was false)"
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
                    ax.fill_between(months, np.maximum(mean[j] - 2 * se[j], 0), mean[j] + 2 * se[j], color="C3",
                                    alpha=0.25, lw=0)
                    top = max(top, float((mean[j] + 2 * se[j]).max(initial=0.0)))
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
                handles.append(Patch(color="C3", alpha=0.25, label="mean ± 2 SE"))
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
        panels = []
        fac = list(m.get("facilities", []))
        if fac and "facility_binding_month_share" in s:
            fctry = m.get("facility_country")
            fprod = m.get("facility_product")
            prods = list(m.get("products", []))
            labels = []
            for i, f in enumerate(fac):
                extra = []
                if fprod is not None and prods and 0 <= int(fprod[i]) < len(prods):
                    extra.append(prods[int(fprod[i])])
                if fctry is not None:
                    extra.append(str(fctry[i]))
                labels.append(f"{f} ({'@'.join(extra)})" if extra else f)
            panels.append(("Facilities", labels, "facility"))
        nodes = list(m.get("nodes", []))
        if nodes and "node_binding_month_share" in s:
            panels.append(("(product, country) nodes", nodes, "node"))
        restr = list(m.get("restrictions", []))
        if restr and "restriction_binding_month_share" in s:
            panels.append(("Trade restrictions (lanes, export controls)", restr, "restriction"))
        if not panels:
            print("note: no facilities, nodes or binding shares in the file; chokepoints.png not written",
                  file=sys.stderr)
            return
        orders = []
        for _, _, pre in panels:
            ms = np.asarray(s[f"{pre}_binding_month_share"], dtype=np.float64)
            orders.append([int(i) for i in np.argsort(-ms, kind="stable")[:TOP_N] if ms[i] > 0])
        ratios = [max(2, len(o)) + 1.5 for o in orders]
        fig, axes = plt.subplots(len(panels), 1, figsize=(11, 1.4 + 0.5 * sum(ratios)), squeeze=False,
                                 gridspec_kw={"height_ratios": ratios})
        fig.suptitle(f"Chokepoint ranking: share of trial-months in which each binds (%, top {TOP_N})\n"
                     "labels: share of trials in which it binds; unserved demand of its value chain in those months\n"
                     "(t, mean per trial) and its share of the chain's EUD (expected unserved demand); error bars ± 2 SE",
                     fontsize=10)
        for ax, (what, labels, pre), order in zip(axes[:, 0], panels, orders):
            ms = np.asarray(s[f"{pre}_binding_month_share"], dtype=np.float64)
            ms_se = self.summary(f"{pre}_binding_month_share_se")
            trial_share = self.summary(f"{pre}_binding_trial_share")
            unserved = self.summary(f"{pre}_binding_unserved")
            ushare = self.summary(f"{pre}_binding_unserved_share")
            ax.set_title(what, fontsize=10)
            ax.set_xlabel("share of trial-months in which it binds (%)")
            if not order:
                ax.text(0.5, 0.5, f"none binds in any month of any of {self.n} trials", ha="center",
                        va="center", transform=ax.transAxes)
                ax.set_yticks([])
                ax.set_xticks([])
                continue
            y = np.arange(len(order))
            xerr = 200 * ms_se[order] if ms_se is not None else None
            ax.barh(y, 100 * ms[order], xerr=xerr, color="C1", height=0.6,
                    error_kw=dict(ecolor="0.3", lw=0.8, capsize=2))
            names = []
            for i in order:
                extra = []
                if trial_share is not None:
                    extra.append(f"trials {100 * trial_share[i]:.1f}%")
                if unserved is not None:
                    u = f"unserved {fmt_t(unserved[i])} t"
                    if ushare is not None:
                        u += f" = {100 * ushare[i]:.0f}% of chain EUD"
                    extra.append(u)
                names.append(f"{labels[i]}\n{', '.join(extra)}" if extra else labels[i])
            ax.set_yticks(y)
            ax.set_yticklabels(names, fontsize=7)
            ax.set_ylim(max(len(order), 2) - 0.5, -0.5)
            for yi, i in zip(y, order):
                ax.text(100 * ms[i] + (0 if xerr is None else xerr[yi]), yi, f" {100 * ms[i]:.2f}%",
                        va="center", fontsize=7)
            right = 100 * ms[order] + (0 if xerr is None else xerr)
            ax.set_xlim(0, float(right.max()) * 1.2)
            ax.grid(True, axis="x", alpha=0.3)
        self.save(fig, "chokepoints.png", top_inch=0.8)

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
            print("note: no stockout_month in the file; stockouts.png not written", file=sys.stderr)
            return
        with_sp = self.stockpile_demands()
        if not with_sp:
            print("note: no demand has a stockpile (/model/demand_has_stockpile); stockouts.png not written",
                  file=sys.stderr)
            return
        so = np.asarray(t["stockout_month"])
        smin = np.asarray(t["stockpile_min"], dtype=np.float64) if "stockpile_min" in t else None
        months = np.arange(self.horizon)
        pg = self.pages(with_sp, CURVES_PER_PAGE)
        for p, idx in enumerate(pg):
            fig, (ax, tx) = plt.subplots(1, 2, figsize=(14, 5.6), gridspec_kw={"width_ratios": [1.6, 1]})
            fig.suptitle("Stockpile depletion: share of trials in which the stockpile has run out by the end of "
                         "month m (%, ± 2 SE band)", fontsize=11)
            rows = []
            top = 0.0
            for k, j in enumerate(idx):
                x = so[:, j]
                out = x[x >= 0]
                cum = np.cumsum(np.bincount(out, minlength=self.horizon)[: self.horizon]) / x.size
                se = np.sqrt(cum * (1 - cum) / max(1, x.size - 1))
                never = 1.0 - out.size / x.size
                color = f"C{k % 10}"
                ax.step(months, 100 * cum, where="post", color=color, lw=1.6,
                        label=f"{self.demands[j]}: never runs out in {pct(never)}")
                ax.fill_between(months, 100 * np.maximum(cum - 2 * se, 0), 100 * np.minimum(cum + 2 * se, 1),
                                step="post", color=color, alpha=0.15, lw=0)
                top = max(top, float(np.max(100 * np.minimum(cum + 2 * se, 1), initial=0.0)))
                first = self.month_name(int(out.min())) if out.size else "-"
                med = self.month_name(int(np.floor(np.median(out)))) if out.size else "-"
                lowest = fmt_t(np.quantile(smin[:, j], 0.05)) if smin is not None else "n/a"
                rows.append([self.demands[j], pct(1 - never), pct(never), first, med, lowest])
            ax.set_ylabel("trials run out by month m (%)")
            self.month_axis(ax)
            ax.set_ylim(0, max(1.0, top * 1.2))
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8, loc="upper left")
            if top == 0:
                ax.text(0.5, 0.5, f"no stockpile ran out in any of {self.n} trials", ha="center", va="center",
                        transform=ax.transAxes, fontsize=10)
            tx.axis("off")
            tbl = tx.table(cellText=rows, colLabels=["demand", "ran out", "never", "first\nstockout",
                                                     "median\nstockout", "lowest level (t):\n5% of trials below"],
                           loc="upper center", cellLoc="center")
            tbl.auto_set_font_size(False)
            tbl.set_fontsize(8)
            tbl.scale(1.0, 1.8)
            for (r, cc), cell in tbl.get_celld().items():
                if r == 0:
                    cell.set_height(cell.get_height() * 1.6)
                    cell.set_facecolor("#e8e8e8")
            tbl.auto_set_column_width(list(range(6)))
            tx.set_title("per demand with a stockpile (months: first month empty; median over trials that ran out)",
                         fontsize=8)
            self.save(fig, self.paged_name("stockouts", p, len(pg)))

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
                err[:, 2 * a + 1, 0] = 2 * cse[:, a]
                err[:, 2 * a + 1, 1] = 2 * cse[:, a]
        return vals, err, labels

    def risk(self):
        got = self.var_cvar()
        if got is None:
            print("note: no var/cvar in the file; risk.png not written", file=sys.stderr)
            return
        vals, err, labels = got
        ed = self.expected_demand()
        D = len(self.demands)
        rel = vals / ed[:, None]
        rerr = err / ed[:, None, None]
        fig, ax = plt.subplots(figsize=(11, max(4.5, 2.1 + 0.55 * D)))
        fig.suptitle("Tail risk of total shortfall over the horizon, as % of the demand's expected total want\n"
                     "VaR = quantile (error bar: its 95% distribution-free CI); CVaR = mean of the worst trials "
                     "(error bar: ± 2 SE)", fontsize=10)
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
                r.append(f"{fmt_t(eud[j])} ± {fmt_se(2 * eud_se[j])}" if eud_se[j] > 0 else fmt_t(eud[j]))
            if ps is None or ps_se is None:
                r.append("n/a")
            else:
                r.append(f"{pct(ps[j])} ± {pct(2 * ps_se[j])}" if ps_se[j] > 0 else pct(ps[j]))
            for i in range(len(labels)):
                r.append(with_ci(vals[j, i], err[j, i], se_style=(i % 2 == 1)))
            rows.append(r)
        cols = ["demand", "expected\nwant (t)", "EUD (t)\n± 2 SE", "P(short)\n± 2 SE"]
        cols += [f"{lab} (t)\n" + ("± 2 SE" if i % 2 else "[95% CI]") for i, lab in enumerate(labels)]
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
            print("note: no events or no conditional EUD in the file; events.png not written", file=sys.stderr)
            return
        g, ng = self.summary("eud_given_event"), self.summary("eud_given_no_event")
        gse = self.summary("eud_given_event_se")
        ngse = self.summary("eud_given_no_event_se")
        gse = np.zeros_like(g) if gse is None else gse
        ngse = np.zeros_like(ng) if ngse is None else ngse
        fired = self.summary("event_fired_share")
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
        title = ("Expected unserved demand over the horizon (t) given that an event fired vs. did not fire "
                 f"(± 2 SE)\nper demand, {which} (label: share of trials in which it fired).\n"
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
                ax.barh(y - 0.2, g[order, j], height=0.38, xerr=2 * gse[order, j], color="C3",
                        label="event fired", error_kw=dict(ecolor="0.25", lw=0.7, capsize=2))
                ax.barh(y + 0.2, ng[order, j], height=0.38, xerr=2 * ngse[order, j], color="C0",
                        label="did not fire", error_kw=dict(ecolor="0.25", lw=0.7, capsize=2))
                for yy, v, e in ((y - 0.2, g[order, j], 2 * gse[order, j]), (y + 0.2, ng[order, j], 2 * ngse[order, j])):
                    for a, b, c in zip(yy, v, e):
                        ax.text(b + c, a, f" {fmt_t(b)}", va="center", fontsize=6, color="0.25")
                ax.set_yticks(y)
                ax.set_yticklabels([f"{ev[i]} ({pct(fired[i], 0)})" for i in order], fontsize=7)
                ax.set_ylim(len(order) - 0.5, -0.5)
                right = float(np.max(np.concatenate((g[order, j] + 2 * gse[order, j],
                                                     ng[order, j] + 2 * ngse[order, j]))))
                ax.set_xlim(0, right * 1.15 if right > 0 else 1)
                ax.grid(True, axis="x", alpha=0.3)
                ax.legend(fontsize=7, loc="lower right")
            self.save(fig, self.paged_name("events", p, len(pg)), note=note, top_inch=0.85)

    def regimes(self):
        s = self.scen.summary
        rg = list(self.res.model.get("regimes", []))
        if len(rg) < 2:
            print(f"note: {len(rg)} regime(s) in the study; regimes.png not written", file=sys.stderr)
            return
        if "eud_by_regime" not in s:
            print("note: no eud_by_regime in the file; regimes.png not written", file=sys.stderr)
            return
        eud, eud_se = self.summary("eud_by_regime"), self.summary("eud_by_regime_se")
        ps, ps_se = self.summary("p_short_by_regime"), self.summary("p_short_by_regime_se")
        share = self.summary("regime_share")
        ed = self.expected_demand()
        D, G = len(self.demands), len(rg)
        fig, axes = plt.subplots(1, 2, figsize=(13, max(4.5, 2.2 + 0.18 * D * G)), sharey=True)
        fig.suptitle("By regime: EUD over the horizon (% of the demand's expected total want over all trials) and "
                     "P(short in any month) (%), ± 2 SE", fontsize=10)
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
                lab = f"{rg[g]} ({pct(share[g], 0)} of trials)" if share is not None else rg[g]
                e = 200 * np.nan_to_num(se[g]) if se is not None else None
                ax.barh(y - 0.4 + h * (g + 0.5), 100 * np.nan_to_num(val[g]), height=h * 0.95, xerr=e,
                        color=f"C{g % 10}", label=lab, error_kw=dict(ecolor="0.25", lw=0.7, capsize=1.5))
            ax.set_xlim(left=0)
        axes[0].set_yticks(y)
        axes[0].set_yticklabels(self.demand_short, fontsize=7)
        axes[0].set_ylim(D - 0.5, -0.5)
        fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=G, fontsize=8, frameon=False,
                   bbox_to_anchor=(0.5, 1 - 0.35 / fig.get_figheight()), title="regime (share of trials drawn in it)",
                   title_fontsize=8)
        self.save(fig, "regimes.png", top_inch=0.95)

    def scenarios(self):
        names = list(self.res.scenarios)
        if len(names) < 2:
            return
        # Rows: the baseline's demands, then demands only some scenarios have (matched by id: a
        # scenario may add or remove demands, so its arrays need not line up with the baseline's).
        rows, short = list(self.demands), list(self.demand_short)
        per = {}
        for nm in names:
            sc = self.res.scenarios[nm]
            try:
                dem, _, sh = self.scenario_labels(sc)
                eud = np.asarray(sc.summary["eud"], dtype=np.float64)
                se = np.asarray(sc.summary["eud_se"], dtype=np.float64)
            except ChokepointFormatError as e:
                print(f"note: scenario {nm}: {e}; left out of scenarios.png", file=sys.stderr)
                continue
            if len(dem) != eud.size:
                print(f"note: scenario {nm}: {eud.size} EUD values for {len(dem)} demands; left out of "
                      "scenarios.png", file=sys.stderr)
                continue
            diff = sc.differences() if nm != "baseline" and sc.has_differences else None
            per[nm] = (dem, eud, se, self.expected_demand(sc), diff)
            for d, lab in zip(dem, sh):
                if d not in rows:
                    rows.append(d)
                    short.append(lab)
        shown = [nm for nm in names if nm in per]
        D, S = len(rows), max(1, len(shown))
        fig, ax = plt.subplots(figsize=(12, max(4.5, 2.4 + 0.22 * D * S)))
        fig.suptitle("Scenario comparison: expected unserved demand over the horizon per demand\n"
                     "(% of the demand's expected total want in that scenario, ± 2 SE; at each bar: EUD in t and, "
                     "for the other scenarios, the paired\ndifference from the baseline ± 2 SE on common random "
                     "numbers (Δ, t; scenario minus baseline); differences_<scenario>.png shows them)", fontsize=10)
        y = np.arange(D)
        h = 0.8 / S
        top = 0.0
        for k, nm in enumerate(shown):
            dem, eud, se, ed, diff = per[nm]
            pos = {d: j for j, d in enumerate(dem)}
            yy = y - 0.4 + h * (k + 0.5)
            v, e = np.full(D, np.nan), np.full(D, np.nan)
            for r, d in enumerate(rows):
                if d in pos:
                    j = pos[d]
                    v[r] = 100 * np.nan_to_num(eud[j] / ed[j])
                    e[r] = 200 * np.nan_to_num(se[j] / ed[j])
            have = np.isfinite(v)
            ax.barh(yy[have], v[have], height=h * 0.95, xerr=e[have], color=f"C{k % 10}", label=nm,
                    error_kw=dict(ecolor="0.25", lw=0.7, capsize=1.5))
            for r, d in enumerate(rows):
                if d not in pos:
                    ax.text(0, yy[r], f"  not in {nm}", va="center", fontsize=6, color="0.45")
                    continue
                j = pos[d]
                txt = f" {fmt_t(eud[j])} t"
                if diff is not None:
                    dv, dse = diff["eud"][j], diff.get("eud_se", np.full(len(dem), np.nan))[j]
                    if not np.isfinite(dv):
                        txt += "   (not in the baseline)"
                    elif dv == 0 and not dse > 0:
                        txt += "   Δ 0 (same in every trial)" if eud[j] > 0 else ""
                    else:
                        txt += f"   Δ {dv:+.3g} ± {fmt_se(2 * dse)} t" if np.isfinite(dse) else f"   Δ {dv:+.3g} t"
                ax.text(v[r] + e[r], yy[r], txt, va="center", fontsize=6, color="0.25")
            top = max(top, float(np.nanmax(np.where(have, v + e, 0.0), initial=0.0)))
        ax.set_yticks(y)
        ax.set_yticklabels(short, fontsize=7)
        ax.set_ylim(D - 0.5, -0.5)
        ax.set_xlim(0, max(top * 1.45, 1e-3))
        ax.set_xlabel("EUD over the horizon (% of expected demand)")
        ax.grid(True, axis="x", alpha=0.3)
        fig.legend(*ax.get_legend_handles_labels(), loc="upper center", ncol=min(S, 6), fontsize=8, frameon=False,
                   bbox_to_anchor=(0.5, 1 - 0.75 / fig.get_figheight()), title="scenario", title_fontsize=8)
        self.save(fig, "scenarios.png", top_inch=1.2,
                  caption=self.caption.replace(self.scen_caption, f"scenarios: {', '.join(names)}   "))

    # -- format 1.1: convergence, paired differences, sensitivity --------------------------------
    def stop_note(self):
        st = self.res.stopping()
        if st is None:
            return None
        # the rule's text may carry a binary float's full expansion (0.050000000000000003)
        rule = re.sub(r"\d+\.\d{7,}", lambda m: f"{float(m.group()):.6g}", st["rule"])
        rel = (f" ({100 * st['se'] / abs(st['estimate']):.2g}% of the estimate)"
               if np.isfinite(st["se"]) and np.isfinite(st["estimate"]) and st["estimate"] != 0 else "")
        return (f"stopping rule: {rule};  target {'met' if st['target_met'] else 'NOT met'} after "
                f"{st['trials']:,} trials: estimate {fmt_t(st['estimate'])}, SE {fmt_se(st['se'])}{rel}")

    def convergence(self):
        for nm, sc in self.res.scenarios.items():
            if not sc.has_convergence:
                print(f"note: scenario {nm}: no convergence group in the file; convergence_{nm}.png not written",
                      file=sys.stderr)
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
        tr = np.asarray(c["trials"], dtype=np.float64)
        eud, se = c["eud"], c["eud_se"]
        K, D = eud.shape
        shown = [j for j in range(D) if K and np.nanmax(np.abs(eud[:, j]), initial=0.0) > 0]
        quiet = [c["demand"][j] for j in range(D) if j not in shown]
        foot = []
        if quiet:
            foot.append(textwrap.fill("EUD 0 after every block (not shown): " + ", ".join(quiet), 200))
        reps = int(sc.summary_attrs.get("replicates", 1) or 1)
        if reps > 1:
            foot.append(f"standard errors from the spread of the {reps} replicate means (summary se_method)")
        if nm == "baseline" and self.stop_note():
            foot.append(self.stop_note())
        note = "\n".join(foot) or None
        title = (f"Convergence, scenario {nm}: running estimate of expected unserved demand (EUD) over the horizon "
                 "(t)\nafter each block of trials, with its ± 2 SE band")
        if not shown:
            fig, ax = plt.subplots(figsize=(10, 3.2))
            fig.suptitle(title, fontsize=10)
            ax.axis("off")
            ax.text(0.5, 0.5, f"no demand is short in any of {self.n} trials: EUD 0 after every block",
                    ha="center", va="center")
            self.save(fig, f"convergence_{_safe(nm)}.png", note=note, top_inch=0.7, caption=self.caption_for(nm))
            return
        pg = self.pages(shown)
        for p, idx in enumerate(pg):
            fig, axes = self.grid(len(idx), title, panel_h=3.3)
            fig.suptitle(title, fontsize=10)
            for ax, j in zip(axes, idx):
                y, s2 = eud[:, j], 2 * np.nan_to_num(se[:, j], nan=np.nan)
                lo, hi = np.maximum(y - s2, 0.0), y + s2
                fin = np.isfinite(lo) & np.isfinite(hi)
                ax.fill_between(tr, np.where(fin, lo, np.nan), np.where(fin, hi, np.nan), color="C0", alpha=0.2,
                                lw=0)
                ax.plot(tr, y, "-o", color="C0", lw=1.3, ms=2.5 if K <= 60 else 0)
                ax.axhline(y[-1], color="C3", ls="--", lw=0.9)
                ax.set_xscale("log")
                if K == 1 or tr[0] == tr[-1]:
                    ax.set_xlim(tr[0] / 2, tr[0] * 2)
                else:
                    ax.set_xlim(tr[0] / 1.15, tr[-1] * 1.15)
                ax.xaxis.set_major_locator(FixedLocator(log_ticks(tr[0], tr[-1])))
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
                ax.xaxis.set_minor_formatter(NullFormatter())
                top = float(np.nanmax(np.where(fin, hi, y), initial=0.0))
                ax.set_ylim(0, top * 1.12 if top > 0 else 1)
                fse = se[-1, j]
                if np.isfinite(fse):
                    setxt = f"SE {fmt_se(fse)} t" + (f" = {100 * fse / y[-1]:.1f}%" if y[-1] > 0 else "")
                else:
                    setxt = "SE not available"
                ax.set_title(f"{labels[j]}\nfinal EUD {fmt_t(y[-1])} t, {setxt} after {int(tr[-1]):,} trials",
                             fontsize=9)
                ax.set_xlabel("trials done (log scale)")
                ax.set_ylabel("EUD over the horizon (t)")
                ax.grid(True, which="major", alpha=0.3)
            handles = [Line2D([], [], color="C0", lw=1.3, marker="o", ms=2.5, label="running EUD after each block"),
                       Patch(color="C0", alpha=0.2, label="± 2 SE"),
                       Line2D([], [], color="C3", ls="--", lw=0.9, label="final estimate (the summary's EUD)")]
            fig.legend(handles=handles, loc="upper center", ncol=3, fontsize=8, frameon=False,
                       bbox_to_anchor=(0.5, 1 - 0.5 / fig.get_figheight()))
            self.save(fig, self.paged_name(f"convergence_{_safe(nm)}", p, len(pg)), note=note, top_inch=0.8,
                      caption=self.caption_for(nm))

    def differences(self):
        for nm, sc in self.res.scenarios.items():
            if nm == "baseline":
                continue
            if not sc.has_differences:
                print(f"note: scenario {nm}: no paired differences (diff_eud) in the file; "
                      f"differences_{nm}.png not written", file=sys.stderr)
                continue
            try:
                d = sc.differences()
            except ChokepointFormatError as e:
                print(f"{PROG}: error: {e}", file=sys.stderr)
                self.failed.append(f"differences_{nm}")
                continue
            self.differences_one(nm, sc, d)

    def differences_one(self, nm, sc, d):
        dem, _, short = self.scenario_labels(sc)
        if len(dem) != d["eud"].size:
            dem, short = list(d["demand"]), list(d["demand"])
        D = len(dem)
        panels = [("eud", 1.0, "EUD over the horizon: scenario − baseline (t)", "t")]
        if "p_short" in d:
            panels.append(("p_short", 100.0, "P(short in ≥ 1 month): scenario − baseline (percentage points)",
                           "pp"))
        removed = [x for x in self.demands if x not in dem]
        foot = []
        if removed:
            foot.append(f"demands of the baseline that {nm} removes (no difference): {', '.join(removed)}")
        missing = [dem[j] for j in range(D) if not np.isfinite(d["eud"][j])]
        if missing:
            foot.append(f"demands {nm} adds (not in the baseline, no difference): {', '.join(missing)}")
        reps = int(sc.summary_attrs.get("replicates", 1) or 1)
        if reps > 1:
            foot.append(f"paired EUD SE from the spread of the {reps} replicate means of the paired differences")
        note = "\n".join(textwrap.fill(f, 200) for f in foot) or None
        title = (f"scenario {nm} minus baseline: paired difference per demand, same trials in both "
                 "(common random numbers)\n"
                 "blue: ± 2 SE of the paired difference; grey: ± 2 SE two independent runs of the same size "
                 "would give (the difference is the same dot)")
        pg = self.pages(range(D), 24)
        for p, idx in enumerate(pg):
            k = len(idx)
            fig, axes = plt.subplots(1, len(panels), figsize=(max(12.0, 7.0 * len(panels)), max(4.0, 2.3 + 0.55 * k)),
                                     sharey=True, squeeze=False)
            fig.suptitle(title, fontsize=10)
            y = np.arange(k)
            for ax, (key, scale, xlabel, unit) in zip(axes[0], panels):
                v = scale * d[key][idx]
                se = scale * d.get(key + "_se", np.full(D, np.nan))[idx]
                si = scale * d.get(key + "_se_independent", np.full(D, np.nan))[idx]
                ok = np.isfinite(v)
                ax.axvline(0, color="0.3", lw=0.9)
                ax.errorbar(v[ok], y[ok] - 0.14, xerr=2 * np.nan_to_num(se[ok]), fmt="o", color="C0", ms=4.5,
                            elinewidth=2.2, capsize=4, label="paired (common random numbers) ± 2 SE", zorder=3)
                ax.errorbar(v[ok], y[ok] + 0.14, xerr=2 * np.nan_to_num(si[ok]), fmt="o", color="0.55", mfc="white",
                            ms=4, elinewidth=1.2, capsize=3, label="independent runs ± 2 SE", zorder=2)
                # x range: every interval and 0; one-signed differences keep 0 near an edge
                w = 2 * np.maximum(np.nan_to_num(se), np.nan_to_num(si))
                lo = float(np.nanmin(np.where(ok, v - w, 0.0), initial=0.0))
                hi = float(np.nanmax(np.where(ok, v + w, 0.0), initial=0.0))
                span = hi - lo if hi > lo else 1.0
                ax.set_xlim(lo - 0.08 * span if lo < 0 else -0.08 * span, hi + 0.08 * span if hi > 0 else 0.08 * span)
                for r in range(k):
                    if not ok[r]:
                        ax.text(0, y[r], "not in the baseline: no difference", ha="center", va="center",
                                fontsize=7, color="0.4", bbox=dict(boxstyle="round", fc="white", ec="0.8"))
                        continue
                    # Differences at the level of floating-point rounding of the monthly
                    # allocation (1e-9 of the independent error, or below 1e-12 absolute) are
                    # zero for a planner: "identical up to rounding".
                    tiny = 1e-9 * (si[r] if si[r] > 0 else 1.0)
                    if abs(v[r]) <= max(tiny, 1e-12) and se[r] <= max(tiny, 1e-12) and v[r] != 0:
                        msg = "identical in every trial (up to rounding, < 1e-9 of the error)"
                    elif v[r] == 0 and not se[r] > 0 and not si[r] > 0:
                        msg = "0: no shortfall in either"
                    elif v[r] == 0 and not se[r] > 0:
                        msg = "identical in every trial (paired SE 0)"
                    elif se[r] > 0 and si[r] > 0:
                        ratio = si[r] / se[r]
                        head = f"{v[r]:+.3g} ± {fmt_se(2 * se[r])} {unit}"
                        msg = (f"{head}: {ratio:.1f}× narrower than independent runs (they would need "
                               f"~{ratio ** 2:.0f}× the trials)" if ratio >= 1.05 else
                               f"{head}; pairing gains little here (independent ± {fmt_se(2 * si[r])})")
                    else:
                        msg = f"{v[r]:+.3g} {unit}" + ("" if np.isfinite(se[r]) else " (paired SE not in the file)")
                    ax.text(0.01, y[r] - 0.40, msg, transform=ax.get_yaxis_transform(), fontsize=6.5,
                            color="0.25", va="center")
                ax.set_xlabel(xlabel)
                ax.grid(True, axis="x", alpha=0.3)
                ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:+.3g}" if abs(x) > 1e-12 else "0"))
            axes[0, 0].set_yticks(y)
            axes[0, 0].set_yticklabels([short[j] for j in idx], fontsize=8)
            axes[0, 0].set_ylim(k - 0.45, -0.65)
            fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncol=2, fontsize=8,
                       frameon=False, bbox_to_anchor=(0.5, 1 - 0.55 / fig.get_figheight()))
            self.save(fig, self.paged_name(f"differences_{_safe(nm)}", p, len(pg)), note=note, top_inch=0.85,
                      caption=self.caption_for(nm) + "   (scenario minus baseline)")

    def sensitivity(self):
        """Tornado / Sobol' charts (chokepoint.sensitivity_plots) when a scenario has them."""
        if not any(sc.has_sensitivity for sc in self.res.scenarios.values()):
            return
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
        # plot_file has no caption argument: wrap its module-level _caption (when it has one) to write
        # a second caption line, and make that figure's tight_layout keep room for two lines.
        # Without _caption the charts keep sensitivity_plots' own one-line caption.
        own = getattr(ps, "_caption", None)

        def caption(fig, text):
            own(fig, text + "\n" + extra)
            layout = fig.tight_layout

            def tight_layout(*args, rect=None, **kwargs):
                r = list(rect) if rect is not None else [0, 0, 1, 1]
                r[1] = max(r[1], 0.36 / fig.get_figheight())
                return layout(*args, rect=tuple(r), **kwargs)

            fig.tight_layout = tight_layout

        try:
            if own is not None:
                ps._caption = caption
            paths = ps.plot_file(self.res.path, self.outdir)
        except (getattr(ps, "FormatError", ValueError), KeyError, ValueError) as e:
            print(f"{PROG}: error: {self.res.path}: sensitivity charts: {e}", file=sys.stderr)
            self.failed.append("sensitivity")
            return
        finally:
            if own is not None:
                ps._caption = own
        self.written.extend(paths)


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
                         pl.sensitivity):
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
    for path in pl.written:
        print(path)
    return 2 if pl.failed else 0


if __name__ == "__main__":
    sys.exit(main())
