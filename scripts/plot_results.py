#!/usr/bin/env python3
"""Plot a chokepoint results file (HDF5) to PNG files.

    plot_results.py FILE [--out DIR]

Writes into DIR (default: FILE's directory / <FILE stem>_plots/):
  exceedance*.png   P(total shortfall over the horizon > x), one panel per demand
  histogram*.png    histogram of total shortfall per demand (log scale; the share of trials
                    with no shortfall is written in each panel, not drawn)
  monthly*.png      mean shortfall per month with a +-2 standard error band, and the median and
                    5-95 % band across trials when the file holds per-trial monthly shortfall
  chokepoints.png   facilities and (product, country) nodes ranked by the share of trial-months
                    in which they bind (top 15 each)
  stockouts*.png    month of first stockpile stockout, for demands that have a stockpile
Many demands are split over several pages (exceedance_1.png, exceedance_2.png, ...).
Prints the PNG paths written. Exit status 0 on success, 2 on bad input, 1 on other failures.
Needs h5py, numpy and matplotlib.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _need_packages():
    """Import h5py, numpy, matplotlib; if this Python lacks them (e.g. a pyenv build found by the
    `#!/usr/bin/env python3` line), rerun once under /usr/bin/python3, else fail with a clear message."""
    try:
        import h5py  # noqa: F401
        import matplotlib  # noqa: F401
        import numpy  # noqa: F401

        return
    except ImportError as e:
        err = e
    alt = "/usr/bin/python3"
    if (os.environ.get("CHOKEPOINT_PLOT_REEXEC") != "1" and os.access(alt, os.X_OK)
            and os.path.realpath(sys.executable) != os.path.realpath(alt)):
        os.environ["CHOKEPOINT_PLOT_REEXEC"] = "1"
        os.execv(alt, [alt, os.path.abspath(__file__)] + sys.argv[1:])
    sys.exit(f"plot_results.py: error: {err} (Python {sys.executable}). It needs h5py, numpy and matplotlib: "
             "on Debian/Ubuntu apt-get install python3-h5py python3-numpy python3-matplotlib, "
             "or run it with a Python that has them.")


_need_packages()

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

from chokepoint_reader import ChokepointFormatError, open_results  # noqa: E402

PANELS_PER_PAGE = 12
TOP_N = 15
# Largest number of float32 values read at once for the monthly quantile bands (per demand).
MAX_MONTHLY_VALUES = 20_000_000


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
        prod = list(res.model.get("products", []))
        dprod = res.model.get("demand_product")
        dctry = res.model.get("demand_country")
        dtier = res.model.get("demand_tier")
        self.demand_labels = []
        for j, d in enumerate(self.demands):
            extra = []
            if dprod is not None and prod and 0 <= int(dprod[j]) < len(prod):
                extra.append(prod[int(dprod[j])])
            if dctry is not None:
                extra.append(str(dctry[j]))
            if dtier is not None:
                extra.append(f"tier {int(dtier[j])}")
            self.demand_labels.append(f"{d} ({', '.join(extra)})" if extra else d)
        sha = str(at.get("config_sha256", ""))
        self.caption = (
            f"study: {at.get('name', '?')}   seed: {at.get('seed', '?')}   trials: {self.n}   "
            f"horizon: {self.horizon} months   config SHA-256: {sha[:12] or '?'}   "
            f"chokepoint {at.get('program_version', '?')}   {at.get('created_utc', '')}"
        )

    # -- helpers -----------------------------------------------------------------------------
    def save(self, fig, name):
        fig.text(0.01, 0.005, self.caption, fontsize=7, color="0.35", ha="left", va="bottom")
        fig.tight_layout(rect=(0, 0.03, 1, 0.97))
        path = os.path.join(self.outdir, name)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        self.written.append(path)

    def pages(self, items):
        """Split panel indices into pages of at most PANELS_PER_PAGE."""
        items = list(items)
        npages = max(1, math.ceil(len(items) / PANELS_PER_PAGE))
        per = max(1, math.ceil(len(items) / npages))  # balanced pages
        return [items[i : i + per] for i in range(0, len(items), per)] or [[]]

    def grid(self, k, title):
        ncols = 1 if k <= 1 else (2 if k <= 4 else 3)
        nrows = max(1, math.ceil(k / ncols))
        fig, axes = plt.subplots(nrows, ncols, figsize=(max(5.2 * ncols, 10.0), 3.6 * nrows + 0.8), squeeze=False)
        fig.suptitle(title, fontsize=12)
        flat = axes.reshape(-1)
        for ax in flat[k:]:
            ax.set_visible(False)
        return fig, flat[:k]

    def paged_name(self, stem, page, npages):
        return f"{stem}.png" if npages == 1 else f"{stem}_{page + 1}.png"

    def month_axis(self, ax):
        ax.set_xlim(-0.5, self.horizon - 0.5)
        if self.start and len(self.start) == 7 and self.start[4] == "-":
            y0, m0 = int(self.start[:4]), int(self.start[5:]) - 1
            step = max(1, int(math.ceil(self.horizon / 8 / 3.0)) * 3)
            ticks = list(range(0, self.horizon, step))
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{y0 + (m0 + t) // 12}-{(m0 + t) % 12 + 1:02d}" for t in ticks],
                               rotation=30, fontsize=8)
            ax.set_xlabel(f"month (month 0 = {self.start})")
        else:
            ax.set_xlabel("month from start of horizon")

    # -- plots -------------------------------------------------------------------------------
    def exceedance(self):
        sf = np.asarray(self.scen.trials["shortfall"], dtype=np.float64)
        eud = self.scen.summary.get("eud")
        pg = self.pages(range(len(self.demands)))
        for p, idx in enumerate(pg):
            fig, axes = self.grid(len(idx), "Exceedance: P(total shortfall over horizon > x), x in tonnes")
            for ax, j in zip(axes, idx):
                x = sf[:, j]
                ax.set_title(self.demand_labels[j], fontsize=9)
                ax.set_xlabel("total shortfall x (t)")
                ax.set_ylabel("P(shortfall > x)")
                ax.grid(True, which="both", alpha=0.3)
                if not (x > 0).any():
                    ax.text(0.5, 0.5, f"no shortfall in any of {self.n} trials", ha="center",
                            va="center", transform=ax.transAxes)
                    continue
                vals, counts = np.unique(x, return_counts=True)
                surv = 1.0 - np.cumsum(counts) / x.size  # P(S > vals[i])
                xs = np.concatenate(([0.0], vals))
                ps = np.concatenate(([np.mean(x > 0)], surv))
                keep = ps > 0
                ax.step(xs[keep], ps[keep], where="post", color="C0", lw=1.4)
                ax.set_yscale("log")
                ax.set_ylim(0.5 / x.size, 1.05)
                ax.set_xlim(left=0)
                if eud is not None:
                    ax.axvline(float(eud[j]), color="C3", ls=":", lw=1, label=f"EUD {float(eud[j]):.4g} t")
                ax.axhline(np.mean(x > 0), color="0.5", ls="--", lw=0.8,
                           label=f"P(shortfall > 0) = {np.mean(x > 0):.3g}")
                ax.legend(fontsize=7, loc="upper right")
            self.save(fig, self.paged_name("exceedance", p, len(pg)))

    def histogram(self):
        sf = np.asarray(self.scen.trials["shortfall"], dtype=np.float64)
        pg = self.pages(range(len(self.demands)))
        for p, idx in enumerate(pg):
            fig, axes = self.grid(len(idx), "Histogram of total shortfall over horizon (t), trials with shortfall > 0")
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
                    continue
                bins = np.linspace(0.0, pos.max() * 1.0000001 if pos.max() > 0 else 1.0, 41)
                ax.hist(pos, bins=bins, color="C0", alpha=0.85)
                ax.set_yscale("log")
                ax.set_ylim(bottom=0.7)
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.yaxis.set_minor_formatter(NullFormatter())
                ax.set_xlim(left=0)
                ax.grid(True, which="both", alpha=0.3)
            self.save(fig, self.paged_name("histogram", p, len(pg)))

    def monthly(self):
        s = self.scen.summary
        mean = np.asarray(s["monthly_mean_shortfall"], dtype=np.float64)
        se = np.asarray(s["monthly_mean_shortfall_se"], dtype=np.float64) if "monthly_mean_shortfall_se" in s else None
        has_trials = "monthly_shortfall" in self.scen.trials
        ds = self.scen.trials.dataset("monthly_shortfall") if has_trials else None
        months = np.arange(mean.shape[1])
        sub = self.n
        if ds is not None and self.n * mean.shape[1] > MAX_MONTHLY_VALUES:
            sub = max(1, MAX_MONTHLY_VALUES // mean.shape[1])
        title = "Monthly shortfall (t/month): mean with +-2 SE band"
        if ds is not None:
            title += ", median and 5-95 % band across trials"
            if sub < self.n:
                title += f" (bands from the first {sub} trials)"
        pg = self.pages(range(len(self.demands)))
        for p, idx in enumerate(pg):
            fig, axes = self.grid(len(idx), title)
            for ax, j in zip(axes, idx):
                ax.set_title(self.demand_labels[j], fontsize=9)
                ax.set_ylabel("shortfall (t/month)")
                self.month_axis(ax)
                ax.grid(True, alpha=0.3)
                if ds is not None:
                    data = np.asarray(ds[:sub, j, :], dtype=np.float64)
                    q05, q50, q95 = np.quantile(data, [0.05, 0.5, 0.95], axis=0)
                    ax.fill_between(months, q05, q95, color="C0", alpha=0.15, lw=0, label="5-95 % of trials")
                    ax.plot(months, q50, color="C0", ls="--", lw=1, label="median")
                if se is not None:
                    ax.fill_between(months, np.maximum(mean[j] - 2 * se[j], 0), mean[j] + 2 * se[j],
                                    color="C3", alpha=0.3, lw=0, label="mean +-2 SE")
                ax.plot(months, mean[j], color="C3", lw=1.5, label="mean")
                ax.set_ylim(bottom=0)
                ax.legend(fontsize=7, loc="upper left")
            self.save(fig, self.paged_name("monthly", p, len(pg)))

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
            panels.append(("Facilities", labels, s["facility_binding_month_share"],
                           s.get("facility_binding_trial_share"), s.get("facility_binding_unserved")))
        nodes = list(m.get("nodes", []))
        if nodes and "node_binding_month_share" in s:
            panels.append(("(product, country) nodes", nodes, s["node_binding_month_share"],
                           s.get("node_binding_trial_share"), s.get("node_binding_unserved")))
        restr = list(m.get("restrictions", []))
        if restr and "restriction_binding_month_share" in s:
            panels.append(("Trade restrictions (lanes, export controls)", restr, s["restriction_binding_month_share"],
                           s.get("restriction_binding_trial_share"), s.get("restriction_binding_unserved")))
        if not panels:
            print("note: no facilities, nodes or binding shares in the file; chokepoints.png not written",
                  file=sys.stderr)
            return
        orders = []
        for _, _, month_share, _, _ in panels:
            ms = np.asarray(month_share, dtype=np.float64)
            orders.append([int(i) for i in np.argsort(-ms, kind="stable")[:TOP_N] if ms[i] > 0])
        ratios = [max(2, len(o)) + 1.5 for o in orders]
        fig, axes = plt.subplots(len(panels), 1, figsize=(10, 1.0 + 0.42 * sum(ratios)), squeeze=False,
                                 gridspec_kw={"height_ratios": ratios})
        fig.suptitle(f"Chokepoint ranking: share of trial-months in which each binds (top {TOP_N}; "
                     "unserved in t, mean per trial)", fontsize=11)
        for ax, (what, labels, month_share, trial_share, unserved), order in zip(axes[:, 0], panels, orders):
            ms = np.asarray(month_share, dtype=np.float64)
            ax.set_title(what, fontsize=10)
            ax.set_xlabel("share of trial-months in which it binds (%)")
            if not order:
                ax.text(0.5, 0.5, f"none binds in any month of any of {self.n} trials", ha="center",
                        va="center", transform=ax.transAxes)
                ax.set_yticks([])
                continue
            y = np.arange(len(order))
            ax.barh(y, 100 * ms[order], color="C1", height=0.6)
            names = []
            for i in order:
                extra = []
                if trial_share is not None:
                    extra.append(f"trials {100 * float(trial_share[i]):.1f}%")
                if unserved is not None:
                    extra.append(f"unserved {float(unserved[i]):.3g} t")
                names.append(f"{labels[i]}\n{', '.join(extra)}" if extra else labels[i])
            ax.set_yticks(y)
            ax.set_yticklabels(names, fontsize=7)
            ax.invert_yaxis()
            for yi, i in zip(y, order):
                ax.text(100 * ms[i], yi, f" {100 * ms[i]:.2f}%", va="center", fontsize=7)
            ax.set_xlim(0, 100 * ms[order].max() * 1.18)
            ax.grid(True, axis="x", alpha=0.3)
        self.save(fig, "chokepoints.png")

    def stockouts(self):
        t = self.scen.trials
        if "stockout_month" not in t:
            print("note: no stockout_month in the file; stockouts.png not written", file=sys.stderr)
            return
        so = np.asarray(t["stockout_month"])
        smin = np.asarray(t["stockpile_min"]) if "stockpile_min" in t else np.zeros_like(so, dtype=float)
        # The file has no table of which demands hold a stockpile: a demand without one has
        # stockpile_min 0 and stockout_month -1 in every trial.
        with_sp = [j for j in range(len(self.demands)) if (smin[:, j] > 0).any() or (so[:, j] >= 0).any()]
        if not with_sp:
            print("note: no demand has a stockpile (stockpile_min 0 and no stockout in every trial); "
                  "stockouts.png not written", file=sys.stderr)
            return
        pg = self.pages(with_sp)
        for p, idx in enumerate(pg):
            fig, axes = self.grid(len(idx), "Month of first stockpile stockout (share of trials, % per month)")
            for ax, j in zip(axes, idx):
                x = so[:, j]
                out = x[x >= 0]
                never = 1.0 - out.size / x.size
                ax.set_title(self.demand_labels[j], fontsize=9)
                ax.set_ylabel("trials (%)")
                self.month_axis(ax)
                ax.grid(True, alpha=0.3)
                counts = np.bincount(out, minlength=self.horizon)[: self.horizon]
                share = 100.0 * counts / x.size
                ax.bar(np.arange(self.horizon), share, width=0.9, color="C2")
                ax.set_ylim(0, max(float(share.max(initial=0.0)) * 1.25, 0.1))
                note = f"never ran out: {100 * never:.1f}% of trials"
                if out.size == 0:
                    note = f"no stockout in any of {x.size} trials"
                    if (smin[:, j] > 0).any():
                        note += f"\nlowest level: {float(smin[:, j].min()):.3g} t (min over trials)"
                ax.text(0.97, 0.95, note, ha="right", va="top",
                        transform=ax.transAxes, fontsize=8, bbox=dict(boxstyle="round", fc="white", ec="0.7"))
            self.save(fig, self.paged_name("stockouts", p, len(pg)))


def default_outdir(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    return os.path.join(os.path.dirname(os.path.abspath(path)), stem + "_plots")


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="plot_results.py",
        description="Plot a chokepoint results file (HDF5) to PNG files.",
        epilog="Default DIR: the file's directory / <file stem>_plots/",
    )
    ap.add_argument("file", help="results file written by `chokepoint run` (.h5)")
    ap.add_argument("--out", metavar="DIR", help="directory for the PNG files (created if needed)")
    a = ap.parse_args(argv)

    try:
        res = open_results(a.file)
    except ChokepointFormatError as e:
        print(f"plot_results.py: error: {e}", file=sys.stderr)
        return 2
    outdir = a.out or default_outdir(a.file)
    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError as e:
        print(f"plot_results.py: error: cannot create output directory {outdir}: {e}", file=sys.stderr)
        return 1
    with res:
        if int(res.attrs.get("complete", 0)) != 1:
            print(f"plot_results.py: warning: {a.file}: attribute complete != 1 (the run did not finish)",
                  file=sys.stderr)
        try:
            pl = Plotter(res, outdir)
            if not pl.demands:
                print(f"plot_results.py: error: {a.file}: /model/demands is empty; nothing to plot", file=sys.stderr)
                return 2
            if pl.n < 1:
                print(f"plot_results.py: error: {a.file}: the file holds no trials", file=sys.stderr)
                return 2
            for step in (pl.exceedance, pl.histogram, pl.monthly, pl.chokepoints, pl.stockouts):
                step()
        except ChokepointFormatError as e:
            print(f"plot_results.py: error: {e}", file=sys.stderr)
            return 2
        except KeyError as e:
            print(f"plot_results.py: error: {a.file}: missing root attribute {e}", file=sys.stderr)
            return 2
        except OSError as e:
            print(f"plot_results.py: error: {e}", file=sys.stderr)
            return 1
    for path in pl.written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
