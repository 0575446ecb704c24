#!/usr/bin/env python3
"""The Python side of importance sampling (format 1.4): the reader's weights and proposals, the
plots' per-trial statistics weighted by the likelihood ratio, importance.png and the report's
"Importance sampling" section, on files written by the engine.

    test_importance_python.py CHOKEPOINT [WORKDIR]

CHOKEPOINT is the program; WORKDIR (emptied first; default: a temporary directory, removed at the
end) holds everything written. Four runs, from configs written here:
  hand      two export bans that must coincide (P(us_tier1 short) = 1e-4), each event's
            occurrence tilted by hand to probability 0.5 (run.importance.tilt);
  ce        the same study with the proposals fitted by the cross-entropy method
            (run.importance.cross_entropy), so /importance has cross_entropy_rounds;
  stock     configs/examples/tiny.yaml with a smaller stockpile (so that it runs out), its export
            control's occurrence and the Australian ore capacity tilted, a second scenario, monthly
            shortfall stored and --store-inputs;
  plain     configs/examples/tiny.yaml as it is (no importance sampling).
Checks:
  - reader: Scenario.weights() equals trials/weight (float64, one per trial) and is all ones for
    the plain file (and for copies of it marked format 1.0 and 1.3); importance_sampled; ess is the
    summary's attribute and (sum w)^2 / sum w^2; res.importance() gives the hand-written proposals
    (edges [0, 0.99, 1], masses [0.5, 0.5], not fitted, no cross_entropy), the fitted ones of the
    ce run (their concatenation equals /importance/edges and /mass; every round of
    cross_entropy_rounds by column name) and None for the plain file and for an importance-sampled
    copy without /importance (format 1.3); a copy whose `bins` do not match `edges` raises
    ChokepointFormatError; TRIAL_DIMS["weight"] == ("trial",) and dims("weight", "trials");
    xarray labels trials/weight with the `trial` dimension (when xarray is installed);
  - chokepoint.plots: weighted_exceedance(shortfall, w, exceedance_x) equals the summary's
    exceedance_p within 1e-9 for every demand of every importance-sampled file (while the
    unweighted share of trials is far from it: the case the weights fix), and equals it with
    w = None for the plain file; weighted_quantile equals the summary's shortfall_quantiles (and,
    per month, monthly_shortfall_bands) of the importance-sampled files; the bars of
    weighted_histogram over the short trials add up to the summary's p_short;
  - the figures, drawn in memory (Plotter without a directory), read back: the exceedance plot's
    empirical curve passes through the summary's exceedance_p at every grid point and its title's
    P(shortfall > 0) is the weighted one; the histogram's bars add up to p_short and its note's
    P(shortfall = 0) is 1 - mean(w (x > 0)); the stockout curve is 100 (1/n) sum w 1{stockout <= m};
    the monthly bands computed from the trials (a copy without the summary's bands) equal the
    engine's weighted bands; every caption of an importance-sampled file says so with its ESS;
  - `plot_results.py FILE --out DIR` (`python -m chokepoint plot` with CHOKEPOINT_TEST_INSTALLED=1)
    writes importance.png for each importance-sampled file and not for the plain one, and no
    tornado chart from the stored inputs of an importance-sampled scenario (a note says why);
  - `python -m chokepoint report FILE`: the page of an importance-sampled file has the section
    #importance with the estimator sentence (escaped), the ESS, each demand's ESS behind P(short),
    the tilted inputs, the cross-entropy rounds (ce: one row per round) and importance.png; the
    plain file's page has none of it. (test_report.py renders such a page in headless Chromium.)
Exit status 0 when every check passes, 1 otherwise, 2 for bad arguments. Needs h5py, numpy and
matplotlib.
"""

import glob
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import package_path  # noqa: E402  (the checkout's python/ first on sys.path)

if package_path.INSTALLED:
    PLOT = [sys.executable, "-m", "chokepoint", "plot"]
else:
    PLOT = [sys.executable, os.path.join(HERE, "..", "..", "scripts", "plot_results.py")]
TINY = os.path.normpath(os.path.join(HERE, "..", "..", "configs", "examples", "tiny.yaml"))

failures = []


def report(ok, what, detail=""):
    print(("PASS  " if ok else "FAIL  ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(what)
    return ok


def env():
    """The children's environment: the package under test importable."""
    e = dict(os.environ)
    if not package_path.INSTALLED:
        e["PYTHONPATH"] = package_path.PYDIR + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


TWO_BANS_YAML = """\
# written by tests/python/test_importance_python.py: two bans that must coincide, P = 1e-4
name: {name}
description: Two independent export bans that must coincide.
run:
  trials: 20000
  seed: 3
  horizon_months: 12
  store_monthly: false
  importance:
{importance}
products:
  - {{id: metal, name: Metal}}
facilities:
  - {{id: metal_a, product: metal, country: AA, capacity: 100}}
  - {{id: metal_b, product: metal, country: BB, capacity: 100}}
demands:
  - {{id: us_tier1, product: metal, country: US, tier: 1, quantity: 100}}
  - {{id: us_tier2, product: metal, country: US, tier: 2, quantity: 50}}
events:
  - id: ban_a
    type: export_control
    exporters: AA
    importers: [US]
    products: [metal]
    onset: {{probability: 0.01, month: 0}}
    duration_months: 12
    leakage: 0
  - id: ban_b
    type: export_control
    exporters: BB
    importers: [US]
    products: [metal]
    onset: {{probability: 0.01, month: 0}}
    duration_months: 12
    leakage: 0
"""
HAND = """\
    tilt:
      - {input: event/ban_a/occurs, probability: 0.5}
      - {input: event/ban_b/occurs, probability: 0.5}"""
CROSS_ENTROPY = """\
    cross_entropy:
      demand: us_tier1
      pilot_trials: 2000"""
STOCK_RUN = """run:
  importance:
    tilt:
      - {input: event/cn_export_control/occurs, probability: 0.8}
      - {input: facility/ore_au/capacity, below: 0.1, mass: 0.5}
"""
STOCK_SCENARIOS = """
scenarios:
  - id: bigger_stockpile
    description: a stockpile of 1.6 t
    set:
      demands/us_defense/stockpile/initial: {fixed: 1.6}
"""


def run(exe, args, out):
    cmd = [exe, "run"] + args + ["-o", out, "--overwrite", "-q", "--threads", "2"]
    print("-- " + " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return report(r.returncode == 0 and os.path.isfile(out), f"chokepoint run -> {os.path.basename(out)}",
                  f"exit {r.returncode}: {r.stderr[-2000:]}")


def make_files(exe, work):
    """{tag: results path} of the runs that worked."""
    files = {}
    for tag, block in (("hand", HAND), ("ce", CROSS_ENTROPY)):
        cfg = os.path.join(work, f"{tag}.yaml")
        with open(cfg, "w") as f:
            f.write(TWO_BANS_YAML.format(name=f"two_bans_{tag}", importance=block))
        out = os.path.join(work, f"{tag}.h5")
        if run(exe, [cfg], out):
            files[tag] = out
    # tiny.yaml with a stockpile small enough to run out, two inputs tilted and a second scenario
    with open(TINY) as f:
        text = f.read()
    stock = text.replace("run:\n", STOCK_RUN, 1)
    stock, k = re.subn(r"(\n\s+initial:\s*)3\b", r"\g<1>0.8", stock, count=1)
    ok = report(stock != text and k == 1, "stock: tiny.yaml's run section and its stockpile `initial: 3` found "
                "(the importance block and a smaller stockpile written in)")
    if ok:
        cfg = os.path.join(work, "stock.yaml")
        with open(cfg, "w") as f:
            f.write(stock + STOCK_SCENARIOS)
        out = os.path.join(work, "stock.h5")
        if run(exe, [cfg, "--trials", "3000", "--store-inputs"], out):
            files["stock"] = out
    out = os.path.join(work, "plain.h5")
    if run(exe, [TINY, "--trials", "1000"], out):
        files["plain"] = out
    return files


def names(ds):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in ds[()]]


# -- the reader --------------------------------------------------------------------------------------
def check_reader(files, work):
    from chokepoint import TRIAL_DIMS, ChokepointFormatError, open_results

    report(TRIAL_DIMS.get("weight") == ("trial",), "reader: TRIAL_DIMS['weight'] == ('trial',)",
           str(TRIAL_DIMS.get("weight")))
    for tag, path in files.items():
        with h5py.File(path, "r") as f:
            want = {s: (f[f"scenarios/{s}/trials/weight"][()] if "weight" in f[f"scenarios/{s}/trials"] else None,
                        f[f"scenarios/{s}/trials/shortfall"].shape[0], dict(f[f"scenarios/{s}/summary"].attrs))
                    for s in f["scenarios"]}
        with open_results(path) as res:
            for s, (w, n, attrs) in want.items():
                sc = res.scenario(s)
                got = sc.weights()
                if w is None:
                    report(got.dtype == np.float64 and got.shape == (n,) and bool(np.all(got == 1.0))
                           and not sc.importance_sampled,
                           f"reader ({tag}, {s}): weights() is {n} ones without trials/weight", str(got[:5]))
                    continue
                report(got.dtype == np.float64 and np.array_equal(got, w) and sc.importance_sampled,
                       f"reader ({tag}, {s}): weights() == trials/weight ({n} trials)", str(got[:5]))
                report(sc.dims("weight", "trials") == ("trial",), f"reader ({tag}, {s}): dims('weight', 'trials')",
                       str(sc.dims("weight", "trials")))
                kish = float(w.sum()) ** 2 / float((w * w).sum())
                report(np.isclose(sc.ess, float(attrs["ess"]), rtol=1e-12) and np.isclose(sc.ess, kish, rtol=1e-9),
                       f"reader ({tag}, {s}): ess == the summary's attribute == (sum w)^2 / sum w^2",
                       f"{sc.ess} vs {attrs.get('ess')} vs {kish}")
                report(np.isclose(float(attrs["weight_mean"]), w.mean(), rtol=1e-9),
                       f"reader ({tag}, {s}): summary weight_mean == mean(weights())")
            imp = res.importance()
            if tag == "plain":
                report(imp is None and not res.importance_sampled, "reader (plain): importance() is None")
            elif tag == "hand":
                ok = (imp is not None and imp["inputs"] == ["event/ban_a/occurs", "event/ban_b/occurs"]
                      and all(np.allclose(e, [0, 0.99, 1]) and np.allclose(m, [0.5, 0.5]) for e, m in imp["proposals"])
                      and not imp["fitted"].any() and imp["cross_entropy"] is None and imp["estimator"])
                report(ok, "reader (hand): importance() gives the tilts of the config: edges [0, 0.99, 1], masses "
                       "[0.5, 0.5], not fitted, no cross-entropy", str(imp)[:600])
            elif tag == "ce":
                check_cross_entropy(path, imp)
            elif tag == "stock":
                tilted = ["event/cn_export_control/occurs", "facility/ore_au/capacity"]
                report(imp is not None and imp["inputs"] == tilted
                       and np.allclose(imp["proposals"][1][0], [0, 0.1, 1])
                       and np.allclose(imp["proposals"][1][1], [0.5, 0.5]),
                       "reader (stock): importance() gives the capacity tilt (edges [0, 0.1, 1], masses [0.5, 0.5])",
                       str(imp)[:600])
    if "plain" in files:
        for minor in (0, 3):
            old = os.path.join(work, f"plain_1_{minor}.h5")
            shutil.copyfile(files["plain"], old)
            with h5py.File(old, "r+") as f:
                f.attrs["format_version"] = np.array([1, minor], dtype=np.int32)
            with open_results(old) as res:
                w = res.scenario().weights()
                report(bool(np.all(w == 1.0)) and w.size == res.n_trials and res.importance() is None,
                       f"reader: a format 1.{minor} file without weights: weights() all ones, importance() None")
    if "hand" in files:
        old = os.path.join(work, "hand_1_3.h5")
        shutil.copyfile(files["hand"], old)
        with h5py.File(old, "r+") as f:
            f.attrs["format_version"] = np.array([1, 3], dtype=np.int32)
            del f["importance"]
        with open_results(old) as res:
            report(res.importance() is None and res.scenario().importance_sampled,
                   "reader: an importance-sampled file without /importance: importance() None, weights still read")
        bad = os.path.join(work, "hand_bad_bins.h5")
        shutil.copyfile(files["hand"], bad)
        with h5py.File(bad, "r+") as f:
            f["importance/bins"][...] = np.array([2, 3], dtype=np.int32)
        try:
            with open_results(bad) as res:
                res.importance()
            report(False, "reader: bins that do not match edges/mass raise ChokepointFormatError")
        except ChokepointFormatError as e:
            report(bad in str(e) and "bins" in str(e),
                   "reader: bins that do not match edges/mass raise ChokepointFormatError naming the file", str(e))
    try:
        import h5netcdf  # noqa: F401
        import xarray  # noqa: F401
    except ImportError as e:
        print(f"NOTE  xarray/h5netcdf not installed ({e}): the xarray check of trials/weight is left out")
        return
    if "hand" in files:
        with open_results(files["hand"]) as res:
            ds = res.xarray("trials")
            with ds:
                report("weight" in ds and ds["weight"].dims == ("trial",),
                       "xarray: trials/weight has the dimension `trial`", str(ds.get("weight")))


def check_cross_entropy(path, imp):
    with h5py.File(path, "r") as f:
        g = f["importance"]
        edges, mass, bins = g["edges"][()], g["mass"][()], g["bins"][()]
        rounds = g["cross_entropy_rounds"][()]
        cols = [c.strip() for c in str(g.attrs["cross_entropy_rounds_columns"]).split(",")]
        demand = g.attrs["cross_entropy_demand"]
        demand = demand.decode() if isinstance(demand, bytes) else str(demand)
    ok = imp is not None and len(imp["proposals"]) == len(bins) and imp["fitted"].all()
    ok = ok and np.array_equal(np.concatenate([e for e, _ in imp["proposals"]]), edges)
    ok = ok and np.array_equal(np.concatenate([m for _, m in imp["proposals"]]), mass)
    ok = ok and all(e.size == b + 1 and m.size == b for (e, m), b in zip(imp["proposals"], bins))
    report(ok, "reader (ce): importance() proposals: bins[i] + 1 edges and bins[i] masses each, their "
           "concatenation == /importance/edges and /mass, every tilt fitted", str(imp)[:600] if imp else "None")
    ce = imp.get("cross_entropy") if imp else None
    if not report(ce is not None, "reader (ce): importance()['cross_entropy'] present"):
        return
    ok = ce.get("demand") == demand and ce.get("reached") in (True, False) and ce.get("columns") == cols
    ok = ok and all(np.allclose(np.asarray(ce["rounds"][c], dtype=np.float64), rounds[:, i])
                    for i, c in enumerate(cols))
    ok = ok and np.issubdtype(ce["rounds"]["round"].dtype, np.integer) and rounds.shape[0] >= 1
    report(ok, f"reader (ce): cross_entropy: demand {demand}, reached, rounds by column ({len(rounds)} rounds) == "
           "/importance/cross_entropy_rounds", str(ce)[:600])


# -- the plots' statistics --------------------------------------------------------------------------------
def check_statistics(files):
    from chokepoint.plots import weighted_exceedance, weighted_histogram, weighted_quantile

    for tag, path in files.items():
        with h5py.File(path, "r") as f:
            for s in f["scenarios"]:
                g = f[f"scenarios/{s}"]
                sf = g["trials/shortfall"][()]
                w = g["trials/weight"][()] if "weight" in g["trials"] else None
                sm = g["summary"]
                ex, ep, ps = sm["exceedance_x"][()], sm["exceedance_p"][()], sm["p_short"][()]
                D = sf.shape[1]
                worst = max(float(np.max(np.abs(weighted_exceedance(sf[:, j], w, ex[j]) - ep[j]))) for j in range(D))
                report(worst <= 1e-9, f"{tag} ({s}): weighted_exceedance(shortfall, w, exceedance_x) == summary "
                       "exceedance_p within 1e-9", f"largest difference {worst:.3g}")
                if w is None:
                    continue
                unweighted = max(float(np.max(np.abs(weighted_exceedance(sf[:, j], None, ex[j]) - ep[j])))
                                 for j in range(D))
                report(unweighted > 1e-3, f"{tag} ({s}): the unweighted share of trials is far from exceedance_p "
                       "(the case the weights fix)", f"largest difference {unweighted:.3g}")
                ql, q = sm["quantile_levels"][()], sm["shortfall_quantiles"][()]
                worst = max(float(np.max(np.abs(weighted_quantile(sf[:, j], w, ql) - q[j]))) for j in range(D))
                report(worst <= 1e-9, f"{tag} ({s}): weighted_quantile == summary shortfall_quantiles",
                       f"largest difference {worst:.3g}")
                good = True
                for j in range(D):
                    short = sf[:, j] > 0
                    if not short.any():
                        good &= ps[j] == 0
                        continue
                    bins = np.linspace(0.0, sf[short, j].max() * 1.0000001, 41)
                    mass = weighted_histogram(sf[short, j], w[short], bins, n=sf.shape[0])
                    good &= bool(np.isclose(mass.sum(), ps[j], rtol=1e-9, atol=1e-15))
                report(good, f"{tag} ({s}): weighted_histogram's bars over the short trials add up to summary p_short")
                if "monthly_shortfall" in g["trials"] and "monthly_shortfall_bands" in sm:
                    ms, bands, lv = g["trials/monthly_shortfall"][()], sm["monthly_shortfall_bands"][()], \
                        sm["monthly_band_levels"][()]
                    worst = max(float(np.max(np.abs(weighted_quantile(ms[:, j, h], w, lv) - bands[j, h])))
                                for j in range(D) for h in range(ms.shape[2]))
                    report(worst <= 1e-9,
                           f"{tag} ({s}): weighted_quantile per month == summary monthly_shortfall_bands",
                           f"largest difference {worst:.3g}")


# -- the figures, drawn in memory ------------------------------------------------------------------------
def draw(path, *steps):
    """{PNG name: {"texts": [...], "axes": [{"title", "lines": [(label, x, y)], "bars": [heights]}]}} of the
    named Plotter methods on `path`, drawn in memory."""
    import matplotlib.text
    from matplotlib.patches import Rectangle

    from chokepoint import open_results
    from chokepoint.plots import Plotter

    got = {}

    class Capture(Plotter):
        def emit(self, fig, name, dpi=110):
            axes = []
            for ax in fig.axes:
                if not ax.get_visible():
                    continue
                axes.append({"title": ax.get_title(),
                             "lines": [(ln.get_label(), np.asarray(ln.get_xdata(), float),
                                        np.asarray(ln.get_ydata(), float)) for ln in ax.get_lines()],
                             "bars": [p.get_height() for p in ax.patches if isinstance(p, Rectangle)]})
            got[name] = {"texts": [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()],
                         "axes": axes}
            super().emit(fig, name, dpi)

    with open_results(path) as res:
        pl = Capture(res)
        for step in steps:
            getattr(pl, step)()
    return got


def check_figures(files, work):
    from chokepoint import open_results
    from chokepoint.plots import Plotter

    for tag, path in files.items():
        with h5py.File(path, "r") as f:
            g = f["scenarios/baseline"]
            sf = g["trials/shortfall"][()]
            w = g["trials/weight"][()] if "weight" in g["trials"] else np.ones(sf.shape[0])
            weighted = "weight" in g["trials"]
            sm = g["summary"]
            ex, ep, ps = sm["exceedance_x"][()], sm["exceedance_p"][()], sm["p_short"][()]
            ess = float(sm.attrs["ess"]) if weighted else None
            so = g["trials/stockout_month"][()]
            H = int(f.attrs["horizon_months"])
            has_sp = f["model/demand_has_stockpile"][()] if "demand_has_stockpile" in f["model"] else None
            demands = names(f["model/demands"])
        n, D = sf.shape
        figs = draw(path, "exceedance", "histogram", "stockouts", "risk")
        exc = [a for name, fg in figs.items() if name.startswith("exceedance") for a in fg["axes"]]
        hist = [a for name, fg in figs.items() if name.startswith("histogram") for a in fg["axes"]]
        if not report(len(exc) == D and len(hist) == D, f"{tag}: one exceedance and one histogram panel per demand",
                      f"{len(exc)}, {len(hist)} for {D}"):
            continue
        curve_ok, title_ok, bars_ok, note_ok = True, True, True, True
        for j in range(D):
            p0 = float(np.mean(w * (sf[:, j] > 0)))
            title_ok &= f"P(shortfall > 0) = {p0:.3g}" in exc[j]["title"]
            if p0 > 0:
                line = [ln for ln in exc[j]["lines"] if ln[0].startswith("all trials")]
                if not line:
                    curve_ok = False
                    continue
                _, xs, ys = line[0]
                pos = ep[j] > 0
                at = np.searchsorted(xs, ex[j][pos], side="right") - 1
                vals = ys[np.maximum(at, 0)]
                curve_ok &= bool(np.all(at >= 0) and np.allclose(vals, ep[j][pos], rtol=1e-9, atol=1e-12))
                bars_ok &= bool(np.isclose(sum(hist[j]["bars"]), ps[j] if weighted else (sf[:, j] > 0).sum(),
                                           rtol=1e-9, atol=1e-15))
            zero = 1.0 - p0
            texts = " ".join(t for fg in figs.values() for t in fg["texts"] if "P(shortfall = 0)" in t)
            want = [f"{zero:.3g}"] + ([f"1 − {1 - zero:.3g}"] if 0.999 < zero < 1 else [])
            note_ok &= any(f"P(shortfall = 0) = {x}" in texts for x in want)
        report(curve_ok, f"{tag}: the exceedance plot's empirical curve passes through the summary's exceedance_p "
               "at every grid point" + (" (trials weighted)" if weighted else ""))
        report(title_ok, f"{tag}: each exceedance panel's P(shortfall > 0) is mean(w (x > 0))")
        report(bars_ok, f"{tag}: the histogram's bars add up to " + ("the summary's p_short (estimated probability)"
                                                                     if weighted else "the trials with shortfall"))
        report(note_ok, f"{tag}: the histogram's P(shortfall = 0) is 1 - mean(w (x > 0))")
        alltexts = [t for fg in figs.values() for t in fg["texts"]]
        if weighted:
            ess_txt = f"ESS {ess:,.0f} of {n:,}"
            report(any(ess_txt in t and "likelihood ratio" in t for t in alltexts)
                   and all(any(ess_txt in t for t in fg["texts"]) for fg in figs.values()),
                   f"{tag}: every figure's caption says importance-sampled with its {ess_txt}")
        else:
            report(not any("likelihood ratio" in t or "ESS" in t for t in alltexts),
                   f"{tag}: no figure mentions likelihood ratios or an ESS")
        if has_sp is not None and (has_sp == 1).any() and weighted:
            j = int(np.flatnonzero(has_sp == 1)[0])
            ran = so[:, j] >= 0
            if report(ran.any(), f"{tag}: some trial's stockpile runs out (the case to check)"):
                want = 100 * np.cumsum(np.bincount(so[ran, j], weights=w[ran], minlength=H)[:H]) / n
                lines = [ln for name, fg in figs.items() if name.startswith("stockouts") for a in fg["axes"]
                         for ln in a["lines"] if ln[0].startswith(f"{demands[j]}: never runs out")]
                report(bool(lines) and np.allclose(lines[0][2], want, rtol=1e-9, atol=1e-12),
                       f"{tag}: the stockout curve is 100 (1/n) sum w 1{{stockout <= m}}",
                       str(lines[0][2][-3:] if lines else "no curve") + f" vs {want[-3:]}")
    # the monthly bands computed here from the trials (a file without the summary's bands)
    if "stock" in files:
        nob = os.path.join(work, "stock_no_bands.h5")
        shutil.copyfile(files["stock"], nob)
        with h5py.File(nob, "r+") as f:
            sm = f["scenarios/baseline/summary"]
            bands, lv = sm["monthly_shortfall_bands"][()], sm["monthly_band_levels"][()]
            for k in ("monthly_shortfall_bands", "monthly_band_levels"):
                del sm[k]
        pick = [int(np.argmin(np.abs(lv - q))) for q in (0.05, 0.25, 0.5, 0.75, 0.95)]
        with open_results(nob) as res:
            got, _ = Plotter(res).monthly_bands()
        report(got is not None and np.allclose(got, bands[:, :, pick], rtol=0, atol=1e-9),
               "stock: the monthly bands computed from the trials (no summary bands) == the engine's weighted bands")


# -- the command line --------------------------------------------------------------------------------------
def check_cli(files, work):
    for tag, path in files.items():
        outdir = os.path.join(work, f"{tag}_plots")
        shutil.rmtree(outdir, ignore_errors=True)
        print(f"-- {' '.join(PLOT)} {path} --out {outdir}")
        r = subprocess.run(PLOT + [path, "--out", outdir], capture_output=True, text=True, timeout=300, env=env())
        if not report(r.returncode == 0, f"{tag}: plot_results.py exits 0", f"exit {r.returncode}: {r.stderr[-2000:]}"):
            continue
        printed = [os.path.basename(x.strip()) for x in r.stdout.splitlines() if x.strip()]
        on_disk = sorted(os.path.basename(p) for p in glob.glob(os.path.join(outdir, "*.png")))
        with h5py.File(path, "r") as f:
            weighted = "weight" in f["scenarios/baseline/trials"]
            inputs = "inputs" in f["scenarios/baseline/trials"]
        if weighted:
            report("importance.png" in printed and "importance.png" in on_disk
                   and os.path.getsize(os.path.join(outdir, "importance.png")) > 1000,
                   f"{tag}: importance.png written (importance-sampled)", str(printed))
        else:
            report("importance.png" not in on_disk and not any(p.startswith("importance") for p in on_disk),
                   f"{tag}: no importance.png without importance sampling", str(on_disk))
        if weighted and inputs:
            report(not any(p.startswith("tornado_") for p in on_disk) and "importance-sampled" in r.stderr,
                   f"{tag}: no tornado chart from the stored inputs of importance-sampled scenarios, and a note why",
                   f"{on_disk}; stderr {r.stderr[-600:]!r}")
        if tag == "ce":
            texts = draw(path, "importance").get("importance.png", {"texts": [], "axes": []})
            panels = [a for a in texts["axes"] if "fitted by cross-entropy" in a["title"]]
            report(len(panels) == 2, "ce: importance.png has one proposal panel per fitted input (2)",
                   str([a["title"] for a in texts["axes"]]))


def check_report(files, work):
    for tag, path in files.items():
        out = os.path.join(work, f"{tag}_report.html")
        cmd = [sys.executable, "-m", "chokepoint", "report", path, "--out", out]
        print("-- " + " ".join(cmd))
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env())
        if not report(r.returncode == 0 and os.path.isfile(out), f"{tag}: report exits 0 and writes the page",
                      f"exit {r.returncode}: {r.stderr[-2000:]}"):
            continue
        with open(out, encoding="utf-8") as f:
            text = f.read()
        with h5py.File(path, "r") as f:
            g = f["scenarios/baseline"]
            weighted = "weight" in g["trials"]
            sm = g["summary"]
            if not weighted:
                report('id="importance"' not in text and "Importance sampling" not in text
                       and 'data-figure="importance"' not in text and "likelihood ratio" not in text,
                       f"{tag}: no importance-sampling section, figure or mention without importance sampling")
                continue
            est = sm.attrs["estimator"]
            est = est.decode() if isinstance(est, bytes) else str(est)
            ess = float(sm.attrs["ess"])
            p_ess = sm["p_short_ess"][()]
            dem = names(sm["demand"])
            inputs = names(f["importance/inputs"]) if "importance" in f else []
            rounds = f["importance/cross_entropy_rounds"].shape[0] if "importance/cross_entropy_rounds" in f else 0
        if not report('<section id="importance">' in text, f"{tag}: the page has the section #importance"):
            continue
        sec = text[text.index('<section id="importance">'):]
        sec = sec[:sec.index("</section>")]
        report("<h2>Importance sampling</h2>" in sec and html.escape(est, quote=True) in sec,
               f"{tag}: #importance holds the summary's estimator sentence, escaped")
        report(f"<b>{ess:,.0f}</b>" in sec, f"{tag}: #importance gives the ESS ({ess:,.0f})")
        rows_ok = all(re.search(r"<td><b>" + re.escape(d) + r"</b></td>.*?<td class=num>"
                                + re.escape(f"{p_ess[j]:,.0f}") + "</td>", sec) for j, d in enumerate(dem))
        report(rows_ok, f"{tag}: #importance has each demand's ESS behind P(short)", str(list(p_ess)))
        report(all(f"<td>{html.escape(i)}</td>" in sec for i in inputs), f"{tag}: #importance lists the tilted inputs",
               str(inputs))
        report('data-figure="importance"' in sec, f"{tag}: #importance shows importance.png")
        if rounds:
            ce = sec[sec.index("<h3>Cross-entropy fit</h3>"):] if "<h3>Cross-entropy fit</h3>" in sec else ""
            table = ce[ce.index("<table>"):ce.index("</table>")] if "<table>" in ce else ""
            report("<th>round</th>" in table and table.count("<tr>") == rounds + 1,
                   f"{tag}: #importance has the cross-entropy rounds table ({rounds} rounds)", table[:400])
        report('href="#importance"' in text[text.index('<section id="glance">'):],
               f"{tag}: 'At a glance' says the file is importance-sampled, linking to the section")


def main(argv):
    if len(argv) not in (2, 3):
        print(f"usage: {os.path.basename(argv[0])} CHOKEPOINT [WORKDIR]", file=sys.stderr)
        return 2
    exe = os.path.abspath(argv[1])
    if not report(os.path.isfile(exe) and os.access(exe, os.X_OK),
                  f"chokepoint program {exe} exists and is executable"):
        print(f"-- {len(failures)} failed")
        return 1
    tmp = None
    if len(argv) == 3:
        work = os.path.abspath(argv[2])
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="chokepoint-importance-test-")
        work = tmp.name
    try:
        files = make_files(exe, work)
        check_reader(files, work)
        check_statistics(files)
        check_figures(files, work)
        check_cli(files, work)
        check_report(files, work)
    finally:
        if tmp is not None:
            tmp.cleanup()
    print(f"-- {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
