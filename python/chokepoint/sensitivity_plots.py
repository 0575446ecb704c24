"""Plot the global sensitivity results of a chokepoint results file (HDF5) to PNG files.

    chokepoint-plot-sensitivity RESULTS.h5 OUTDIR [--top 15] [--measure srrc|spearman]
    python -m chokepoint plot-sensitivity RESULTS.h5 OUTDIR [...]
    scripts/plot_sensitivity.py RESULTS.h5 OUTDIR [...]   (the same, from a checkout)

For each scenario group /scenarios/<s> (in run order) that has them, writes into OUTDIR (created
if missing):
  tornado_<s>_<output>.png  one per output (demand) of /scenarios/<s>/sensitivity: horizontal bars
                            of the standardised rank regression coefficients (SRRC; --measure
                            spearman: Spearman's rank correlations) of the top inputs by |value|,
                            largest at the top, with the bootstrap confidence interval as error
                            bars, and the rank regression's R^2 (with its CI) in the title.
                            A scenario without these groups that stores its per-trial inputs
                            (trials/inputs: run.store_inputs, --store-inputs) gets the same chart
                            of Spearman's rank correlations computed here from those trials, with
                            95 % intervals from Fisher's z (standard error sqrt((1 + r^2 / 2) /
                            (n - 3)), Bonett and Wright 2000)
  sobol_<s>_<output>.png    one per output of /scenarios/<s>/sobol_indices: first-order and total
                            Sobol' indices side by side for the top inputs by total index, with
                            the bootstrap confidence intervals as error bars
An output with no defined value (a demand that is never short, or every input constant) gets no
chart. Each figure's caption gives the file's name, the study, the seed, the scenario and the
bootstrap settings. Prints the PNG paths written. Exit status 0 on success (also when the file has
no sensitivity results: nothing is written), 2 on bad input, 1 on other failures.

Layout read (all float64 arrays are [output, input], per-output vectors are [output]):
  /scenarios/<s>/sensitivity     datasets input (strings), output (strings), spearman,
                                 spearman_ci_low, spearman_ci_high, srrc, srrc_ci_low,
                                 srrc_ci_high, r2, r2_ci_low, r2_ci_high; attributes bootstrap
                                 (int) and confidence (float)
  /scenarios/<s>/sobol_indices   datasets input, output, first_order, first_order_ci_low,
                                 first_order_ci_high, total, total_ci_low, total_ci_high,
                                 variance; attribute base_samples (n); bootstrap and confidence
                                 when present
NaN values (a constant input, an undefined index, no bootstrap) are left out of the ranking and
drawn without bars / error bars. Needs h5py, numpy and matplotlib (Agg backend).

Other code can import plot_tornado, plot_sobol (draw into an axes), figures (the finished figures,
unsaved), plot_file (write them) and spearman_from_inputs (from chokepoint.sensitivity_plots).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap

import h5py  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

TOP_N = 15
# Trials used for the Spearman charts computed from stored inputs (the first ones, when there are more).
MAX_RANK_TRIALS = 200_000
SRRC_LABEL = "standardised rank regression coefficient"
SPEARMAN_LABEL = "Spearman rank correlation"
SENSITIVITY_FIELDS = ("input", "output", "spearman", "spearman_ci_low", "spearman_ci_high", "srrc",
                      "srrc_ci_low", "srrc_ci_high", "r2", "r2_ci_low", "r2_ci_high")
SOBOL_FIELDS = ("input", "output", "first_order", "first_order_ci_low", "first_order_ci_high", "total",
                "total_ci_low", "total_ci_high", "variance")


class FormatError(Exception):
    """The file does not have the layout described in the module docstring."""


def _strings(ds):
    out = []
    for v in np.asarray(ds[()]).ravel():
        out.append(v.decode("utf-8") if isinstance(v, (bytes, np.bytes_)) else str(v))
    return out


def _attr(obj, name, default=None):
    if name not in obj.attrs:
        return default
    v = obj.attrs[name]
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode("utf-8")
    v = np.asarray(v)
    return v.item() if v.size == 1 else v


def _error_bars(values, lo, hi):
    """(ok, err): the entries with a finite value and CI, and for them the (2, m) distances to the
    CI bounds that matplotlib's xerr/yerr take."""
    values = np.asarray(values, float)
    lo = np.asarray(lo, float) if lo is not None else np.full_like(values, np.nan)
    hi = np.asarray(hi, float) if hi is not None else np.full_like(values, np.nan)
    ok = np.isfinite(values) & np.isfinite(lo) & np.isfinite(hi)
    # A percentile interval need not contain the estimate; never draw a negative length.
    err = np.vstack([np.maximum(values[ok] - lo[ok], 0.0), np.maximum(hi[ok] - values[ok], 0.0)])
    return ok, err


def top_order(key, top):
    """Indices of the `top` largest finite |key|, largest first (ties: input order)."""
    key = np.abs(np.asarray(key, float))
    idx = [i for i in np.argsort(-np.where(np.isfinite(key), key, -np.inf), kind="stable") if np.isfinite(key[i])]
    return idx[:top]


def plot_tornado(ax, names, values, lo, hi, title, xlabel=SRRC_LABEL):
    """Horizontal bars of `values` (one per name, drawn in the given order from the top) with the
    CI [lo, hi] as error bars (lo/hi may be None or NaN: no error bar). Positive values blue,
    negative red."""
    values = np.asarray(values, float)
    m = len(values)
    y = np.arange(m)[::-1]
    colors = ["#2f6eb5" if v >= 0 else "#c0392b" for v in np.nan_to_num(values)]
    ax.barh(y, np.nan_to_num(values), color=colors, height=0.7, zorder=2)
    ok, err = _error_bars(values, lo, hi)
    if ok.any():
        ax.errorbar(values[ok], y[ok], xerr=err, fmt="none", ecolor="0.15", elinewidth=1, capsize=3, zorder=3)
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=8)
    ax.axvline(0, color="0.3", lw=0.8, zorder=1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("input")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", color="0.9", zorder=0)
    finite = [v for v in np.concatenate([values, np.asarray(lo if lo is not None else [], float),
                                         np.asarray(hi if hi is not None else [], float)]) if np.isfinite(v)]
    lim = max([abs(v) for v in finite] + [0.05]) * 1.08
    ax.set_xlim(-lim if min(finite + [0]) < 0 else -0.02 * lim, lim)
    ax.set_ylim(-0.6, m - 0.4)


def plot_sobol(ax, names, first, first_lo, first_hi, total, total_lo, total_hi, title):
    """Grouped vertical bars: first-order (S_i) and total (ST_i) Sobol' index per input, in the given
    order, with CI error bars (None or NaN: no error bar)."""
    first = np.asarray(first, float)
    total = np.asarray(total, float)
    m = len(first)
    x = np.arange(m)
    w = 0.38
    ax.bar(x - w / 2, np.nan_to_num(first), w, color="#2f6eb5", label="first order $S_i$", zorder=2)
    ax.bar(x + w / 2, np.nan_to_num(total), w, color="#e69f00", label="total $S_{Ti}$", zorder=2)
    for xs, v, lo, hi in ((x - w / 2, first, first_lo, first_hi), (x + w / 2, total, total_lo, total_hi)):
        ok, err = _error_bars(v, lo, hi)
        if ok.any():
            ax.errorbar(xs[ok], v[ok], yerr=err, fmt="none", ecolor="0.15", elinewidth=1, capsize=2.5, zorder=3)
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=40, ha="right", fontsize=8)
    ax.axhline(0, color="0.3", lw=0.8, zorder=1)
    ax.set_xlabel("input")
    ax.set_ylabel("Sobol' index (share of output variance)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", color="0.9", zorder=0)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_xlim(-0.6, m - 0.4)


def _safe(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "x"


def _read(group, fields, where):
    missing = [f for f in fields if f not in group]
    if missing:
        raise FormatError(f"{where}: missing dataset(s) {', '.join(missing)}")
    inputs, outputs = _strings(group["input"]), _strings(group["output"])
    data = {"input": inputs, "output": outputs}
    for f in fields[2:]:
        a = np.asarray(group[f][()], float)
        want = (len(outputs),) if a.ndim == 1 else (len(outputs), len(inputs))
        if a.shape != want:
            raise FormatError(f"{where}/{f}: shape {a.shape}, expected {want}")
        data[f] = a
    return data


def _caption(fig, text):
    fig.text(0.01, 0.012, text, fontsize=7, color="0.35", ha="left", va="bottom")


def average_ranks(x):
    """Ranks 1..n of a 1-D array, ties given their average rank (as scipy.stats.rankdata)."""
    x = np.asarray(x, float)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]]) if xs.size else np.zeros(0, int)
    ends = np.r_[starts[1:], xs.size]
    ranks = np.empty(x.size)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def spearman_from_inputs(inputs, outputs, z=1.959963984540054):
    """Spearman's rank correlation of every output column with every input column, from per-trial
    rows: inputs [n, k], outputs [n, m] -> (rho, low, high), each [m, k]. NaN where an input or an
    output is constant. (low, high): the 95 % interval tanh(atanh(rho) -+ z se) with
    se = sqrt((1 + rho^2 / 2) / (n - 3)) (Fisher's z with Bonett and Wright's standard error for
    Spearman's rho); NaN for n <= 3."""
    inputs, outputs = np.asarray(inputs, float), np.asarray(outputs, float)
    n = inputs.shape[0]

    def centred_ranks(a):
        r = np.column_stack([average_ranks(a[:, i]) for i in range(a.shape[1])]) if a.shape[1] else a
        r = r - r.mean(axis=0) if n else r
        norm = np.sqrt((r * r).sum(axis=0))
        return r, norm

    ri, ni = centred_ranks(inputs)
    ro, no = centred_ranks(outputs)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ro.T @ ri) / np.outer(no, ni)
    rho[~np.isfinite(rho)] = np.nan
    rho = np.clip(rho, -1.0, 1.0)
    if n <= 3:
        nan = np.full_like(rho, np.nan)
        return rho, nan, nan.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        zr = np.arctanh(np.clip(rho, -1 + 1e-15, 1 - 1e-15))
        se = np.sqrt((1 + rho ** 2 / 2) / (n - 3))
    return rho, np.tanh(zr - z * se), np.tanh(zr + z * se)


def _finish(fig, text, extra_caption, h):
    """Caption (and the caller's extra line) at the bottom, wrapped to the figure's width, layout
    above it."""
    if extra_caption:
        text += "\n" + extra_caption
    width = max(60, int(fig.get_figwidth() * 17))  # characters of 7 pt text per line, with a margin
    text = "\n".join(textwrap.fill(line, width, break_on_hyphens=False) for line in text.split("\n"))
    _caption(fig, text)
    fig.tight_layout(rect=(0, (0.2 + 0.13 * text.count("\n")) / h, 1, 1))


def tornado_figure(names, values, lo, hi, title, xlabel, caption, extra_caption=None):
    """A finished tornado chart (plot_tornado) of the given inputs, largest first."""
    h = max(3.2, 1.6 + 0.32 * max(len(names), 1)) + (0.15 if extra_caption else 0)
    fig, ax = plt.subplots(figsize=(8.5, h))
    plot_tornado(ax, names, values, lo, hi, title, xlabel)
    _finish(fig, caption, extra_caption, h)
    return fig


def sobol_figure(names, first, first_lo, first_hi, total, total_lo, total_hi, title, caption,
                 extra_caption=None):
    """A finished Sobol' index chart (plot_sobol) of the given inputs."""
    h = 5.2 + (0.15 if extra_caption else 0)
    fig, ax = plt.subplots(figsize=(max(7.0, 2.5 + 0.55 * max(len(names), 1)), h))
    plot_sobol(ax, names, first, first_lo, first_hi, total, total_lo, total_hi, title)
    _finish(fig, caption, extra_caption, h)
    return fig


def _scenario_order(f):
    """Scenario groups in run order (root attribute `scenarios`), then any others."""
    groups = list(f["scenarios"])
    listed = [x.strip() for x in str(_attr(f, "scenarios", "") or "").split(",") if x.strip() in groups]
    return listed + [g for g in groups if g not in listed]


def _rank_charts(d, key, scen, top, caption, extra_caption, r2=True):
    """(name, figure) of each output of a sensitivity dict with a defined value of `key`."""
    for o, out in enumerate(d["output"]):
        k = key
        vals = d[k][o]
        if k == "srrc" and not np.isfinite(vals).any():
            k = "spearman"  # e.g. every input aliased: still show the correlations
            vals = d[k][o]
        idx = top_order(vals, top)
        if not idx:
            continue  # no input with a defined value: no chart
        what = "SRRC" if k == "srrc" else "Spearman"
        head = f"top {len(idx)} of {len(d['input'])} inputs by |{what}|"
        if r2:
            r2v = d["r2"][o]
            r2txt = f"rank regression $R^2$ = {r2v:.3f}" if np.isfinite(r2v) else "rank regression $R^2$ undefined"
            if np.isfinite(d["r2_ci_low"][o]) and np.isfinite(d["r2_ci_high"][o]):
                r2txt += f" [{d['r2_ci_low'][o]:.3f}, {d['r2_ci_high'][o]:.3f}]"
            head += f"; {r2txt}"
        else:
            head += "; computed from the stored per-trial inputs"
        title = f"Input importance ({what}) for output '{out}', scenario '{scen}'\n{head}"
        fig = tornado_figure([d["input"][i] for i in idx], vals[idx], d[k + "_ci_low"][o][idx],
                             d[k + "_ci_high"][o][idx], title, SRRC_LABEL if k == "srrc" else SPEARMAN_LABEL,
                             caption, extra_caption)
        yield f"tornado_{_safe(scen)}_{_safe(out)}.png", fig


def _stored_inputs(sg, where):
    """The Spearman "sensitivity" dict of a scenario group's stored inputs, or None without them."""
    t = sg.get("trials")
    if t is None or "inputs" not in t or "shortfall" not in t:
        return None
    if "weight" in t:
        # Importance-sampled (format 1.4): the stored inputs were drawn from the tilted proposal, so
        # their rank correlations describe the proposal, not the model; no chart.
        return None
    x = t["inputs"]
    if x.ndim != 2 or x.shape[0] < 2:
        return None
    n = min(x.shape[0], MAX_RANK_TRIALS)
    inputs = _strings(t["input"]) if "input" in t else [f"input {i}" for i in range(x.shape[1])]
    sf = np.asarray(t["shortfall"][:n], float)
    if "demand" in t:
        outputs = _strings(t["demand"])
    elif "model" in sg and "demands" in sg["model"]:
        outputs = _strings(sg["model"]["demands"])
    else:
        outputs = [f"demand {j}" for j in range(sf.shape[1])]
    if len(inputs) != x.shape[1] or sf.ndim != 2 or len(outputs) != sf.shape[1]:
        raise FormatError(f"{where}/trials: inputs {x.shape} / input {len(inputs)} / shortfall {sf.shape} / "
                          f"demand {len(outputs)} do not match")
    rho, lo, hi = spearman_from_inputs(np.asarray(x[:n], float), sf)
    return {"input": inputs, "output": outputs, "spearman": rho, "spearman_ci_low": lo,
            "spearman_ci_high": hi, "trials": n, "of": x.shape[0]}


def check_results(path):
    """Raises FormatError unless `path` is a finished chokepoint results file of a format this
    package reads (the header checks of chokepoint.reader.open_results: not a checkpoint, not
    another HDF5 file, not format 2.x)."""
    from .reader import ChokepointFormatError, open_results

    try:
        open_results(path).close()
    except ChokepointFormatError as e:
        raise FormatError(str(e)) from None


def figures(path, top=TOP_N, measure="srrc", extra_caption=None):
    """Yields (file name, finished matplotlib figure) for every chart plot_file would write, in the
    same order; the caller saves and closes each figure. `extra_caption` adds a second caption line."""
    if measure not in ("srrc", "spearman"):
        raise ValueError(f"measure must be 'srrc' or 'spearman', not {measure!r}")
    check_results(path)
    with h5py.File(path, "r") as f:
        base = os.path.basename(path)
        study, seed = _attr(f, "name", "?"), _attr(f, "seed", "?")
        if "scenarios" not in f:
            raise FormatError(f"{path}: no /scenarios group")
        for scen in _scenario_order(f):
            sg = f["scenarios"][scen]
            where = f"/scenarios/{scen}"
            if "sensitivity" in sg:
                g = sg["sensitivity"]
                d = _read(g, SENSITIVITY_FIELDS, f"{where}/sensitivity")
                boot, conf = _attr(g, "bootstrap", 0), _attr(g, "confidence", float("nan"))
                ci = (f"{100 * conf:g} % percentile-bootstrap CI, B = {boot}" if boot
                      else "no bootstrap (no CI)")
                caption = f"file: {base}   study: {study}   seed: {seed}   scenario: {scen}   error bars: {ci}"
                yield from _rank_charts(d, measure, scen, top, caption, extra_caption)
            elif "sobol_indices" not in sg:
                d = _stored_inputs(sg, where)
                if d is not None:
                    used = f"the first {d['trials']} of {d['of']}" if d["trials"] < d["of"] else f"all {d['of']}"
                    caption = (f"file: {base}   study: {study}   seed: {seed}   scenario: {scen}   Spearman from "
                               f"{used} trials' stored inputs (run.sensitivity not set); error bars: 95 % CI, "
                               "Fisher z (Bonett-Wright SE)")
                    yield from _rank_charts(d, "spearman", scen, top, caption, extra_caption, r2=False)
            if "sobol_indices" in sg:
                g = sg["sobol_indices"]
                d = _read(g, SOBOL_FIELDS, f"{where}/sobol_indices")
                nbase = _attr(g, "base_samples", "?")
                boot, conf = _attr(g, "bootstrap", None), _attr(g, "confidence", None)
                ci = (f"{100 * conf:g} % percentile-bootstrap CI, B = {boot}" if boot and conf
                      else "bootstrap CI")
                caption = (f"file: {base}   study: {study}   seed: {seed}   scenario: {scen}   "
                           f"S_i: Saltelli et al. 2010, S_Ti: Jansen 1999; error bars: {ci}")
                for o, out in enumerate(d["output"]):
                    idx = top_order(d["total"][o], top)
                    if not idx:
                        continue  # indices undefined (V = 0, an output that never varies): no chart
                    title = (f"Sobol' indices for output '{out}', scenario '{scen}'\n"
                             f"top {len(idx)} of {len(d['input'])} inputs by total index; "
                             f"output variance V = {d['variance'][o]:.4g}; n = {nbase} base samples")
                    fig = sobol_figure([d["input"][i] for i in idx], d["first_order"][o][idx],
                                       d["first_order_ci_low"][o][idx], d["first_order_ci_high"][o][idx],
                                       d["total"][o][idx], d["total_ci_low"][o][idx], d["total_ci_high"][o][idx],
                                       title, caption, extra_caption)
                    yield f"sobol_{_safe(scen)}_{_safe(out)}.png", fig


def plot_file(path, outdir, top=TOP_N, measure="srrc", extra_caption=None):
    """Writes the PNGs of every scenario with a `sensitivity` and/or `sobol_indices` group (or stored
    inputs) and returns their paths (in scenario order, tornado charts before Sobol' charts).
    The file is checked before the directory is made (a bad file leaves no empty directory)."""
    check_results(path)
    os.makedirs(outdir, exist_ok=True)
    written = []
    for name, fig in figures(path, top, measure, extra_caption):
        p = os.path.join(outdir, name)
        try:
            fig.savefig(p, dpi=120)
        finally:
            plt.close(fig)
        written.append(p)
    return written


def main(argv=None, prog=None):
    """The command line (chokepoint-plot-sensitivity); returns the exit status. `prog` names the
    program in usage and messages (default: argparse's, the name it was run by)."""
    ap = argparse.ArgumentParser(prog=prog, description="Tornado and Sobol' index charts of a chokepoint results file.")
    ap.add_argument("results", help="chokepoint results file (HDF5)")
    ap.add_argument("outdir", help="directory for the PNG files (created if missing)")
    ap.add_argument("--top", type=int, default=TOP_N, help=f"inputs per chart (default {TOP_N})")
    ap.add_argument("--measure", choices=("srrc", "spearman"), default="srrc",
                    help="what the tornado charts show (default srrc)")
    a = ap.parse_args(argv)
    if a.top < 1:
        ap.error("--top must be >= 1")
    try:
        paths = plot_file(a.results, a.outdir, a.top, a.measure)
    except (FormatError, KeyError) as e:  # the file
        print(f"{ap.prog}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # writing the charts
        print(f"{ap.prog}: error: {e}", file=sys.stderr)
        return 1
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
