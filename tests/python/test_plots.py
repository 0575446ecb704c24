#!/usr/bin/env python3
"""Run scripts/plot_results.py on a results file and check that it wrote non-empty PNG files.

    test_plots.py FILE OUTDIR [CHOKEPOINT]

OUTDIR is emptied of *.png first. Checks: exit status 0; the printed paths exist, lie in OUTDIR,
are non-empty PNGs; every figure the file's content calls for is among them, and no chart that
would be empty: exceedance, histogram, monthly, chokepoints, risk, risk_table always; stockouts
when a demand has a stockpile (/model/demand_has_stockpile); events when the study has events;
regimes with >= 2 regimes; scenarios with >= 2 scenarios; one convergence_<s>.png for every
scenario with a `convergence` group in which some demand is short (none otherwise);
differences_<s> for every other scenario whose paired differences (summary/diff_eud) are not all
at rounding level (none otherwise); tornado_<s>_<demand> / sobol_<s>_<demand> for every output of
a `sensitivity` / `sobol_indices` group with a defined value, and tornado charts from the stored
inputs (trials/inputs) of a scenario without either group, for each demand whose shortfall varies
(scripts/plot_sensitivity.py, called by plot_results.py); importance.png exactly when the baseline
is importance-sampled (trials/weight, format 1.4), and then no tornado chart from the stored inputs
of an importance-sampled scenario (drawn from the tilted proposal, they describe it, not the model).
Then the same on a two-scenario copy of FILE (OUTDIR/two_scenarios/: the baseline group copied
with h5py to /scenarios/stress, its eud and eud_se scaled by 1.5), which must also give
scenarios.png. Also checks that a file that is not HDF5 makes plot_results.py exit non-zero with
a message.
On copies of FILE with tied binding statistics written into them (figures drawn in memory by
chokepoint.plots.Plotter, their texts read back): nodes and facilities of one stage (product) with
exactly the same statistics are one bar ("ore @ 2 countries (CN, AU)", "ore: 2 facilities"), ranked
first when their unserved demand while binding is the largest; a node of that stage that differs
keeps its own bar.

With CHOKEPOINT (the program), also runs, in OUTDIR/scenarios_run/, a study that includes
configs/examples/tiny.yaml with four scenarios (a changed stockpile, a demand surge, an added
facility, and one that removes a demand and adds another, so its demands differ from the
baseline's) and run.sensitivity: rank, and a second one with run.sensitivity: sobol; plots both
(every figure above must appear, among them the convergence, paired-difference, tornado and
Sobol' charts) and checks the reader's new accessors against the per-trial data: the last
convergence row equals the summary, each paired difference is the mean of the per-trial
differences (and its SE theirs), NaN where the baseline lacks the demand. On copies of the rank
study's file: a paired difference at rounding level (2.84e-18 ± 5.7e-18 t) is drawn and printed
as 0 (no "e-18" in any text of the scenario and difference charts, the demand listed as identical
and given no row); an output whose rank measures are all NaN gets no tornado chart and no chart
says "top 0"; the Spearman correlations the plots compute from stored inputs equal the engine's
(sensitivity/spearman of the same trials). A run of tiny.yaml with --store-inputs gets tornado
charts from the stored inputs, for us_civil and not for us_defense (never short). A run of tiny.yaml
with importance sampling (run.importance tilting the export control's occurrence) and --store-inputs
gets importance.png and no tornado chart; chokepoint.plots.weighted_exceedance of its per-trial
shortfall and weights equals the summary's exceedance_p within 1e-9, the exceedance and histogram
figures say that the trials are weighted by their likelihood ratio, with the file's ESS.
(test_importance_python.py checks the weighted figures in detail.)

With CHOKEPOINT_TEST_INSTALLED=1 the reader and the plots are the chokepoint package installed in
the running Python (`python -m chokepoint plot` instead of the script; test_package.py).
"""

import glob
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

# The plotting command: the checkout's script; against an installed package
# (CHOKEPOINT_TEST_INSTALLED=1, test_package.py), `python -m chokepoint plot` of the running Python.
if package_path.INSTALLED:
    PLOT = [sys.executable, "-m", "chokepoint", "plot"]
else:
    PLOT = [sys.executable, os.path.join(HERE, "..", "..", "scripts", "plot_results.py")]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = os.path.normpath(os.path.join(HERE, "..", "..", "configs", "examples", "tiny.yaml"))

failures = []


def report(ok, what, detail=""):
    print(("PASS  " if ok else "FAIL  ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(what)
    return ok


def _names(ds):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in ds[()]]


def changed_beyond_rounding(summary):
    """True when some demand's paired EUD or P(short) difference (or its SE) exceeds rounding
    level: 1e-9 of the demand's expected want (EUD) or of 1 (P(short)), and at least 1e-12."""
    ed = summary["expected_demand"][()] if "expected_demand" in summary else 0.0
    for key, total in (("diff_eud", ed), ("diff_eud_se", ed), ("diff_p_short", 1.0), ("diff_p_short_se", 1.0)):
        if key in summary:
            x = np.asarray(summary[key][()], float)
            lim = np.maximum(1e-9 * np.abs(np.nan_to_num(np.asarray(total, float))), 1e-12)
            if (np.isfinite(x) & (np.abs(x) > lim)).any():
                return True
    return False


def expected_stems(path):
    """Figures that plot_results.py must write for this file: a stem matches STEM.png or, split
    over pages, STEM_<k>.png."""
    stems = ["exceedance", "histogram", "monthly", "chokepoints", "risk", "risk_table"]
    with h5py.File(path, "r") as f:
        m = f["model"]
        if "weight" in f["scenarios/baseline/trials"]:
            stems.append("importance")
        if "demand_has_stockpile" in m and (m["demand_has_stockpile"][()] == 1).any():
            stems.append("stockouts")
        if "events" in m and m["events"].shape[0] > 0:
            stems.append("events")
        if "regimes" in m and m["regimes"].shape[0] >= 2:
            stems.append("regimes")
        if len(f["scenarios"]) >= 2:
            stems.append("scenarios")
        for name, g in f["scenarios"].items():
            if "convergence" in g and (np.abs(g["convergence"]["eud"][()]) > 0).any():
                stems.append(f"convergence_{name}")
            if name != "baseline" and "diff_eud" in g["summary"] and changed_beyond_rounding(g["summary"]):
                stems.append(f"differences_{name}")
            for grp, pre, keys in (("sensitivity", "tornado", ("srrc", "spearman")), ("sobol_indices", "sobol",
                                                                                   ("total",))):
                if grp in g:
                    defined = np.zeros(len(_names(g[grp]["output"])), dtype=bool)
                    for k in keys:
                        defined |= np.isfinite(g[grp][k][()]).any(axis=1)
                    stems += [f"{pre}_{name}_{out}" for out, d in zip(_names(g[grp]["output"]), defined) if d]
            if ("sensitivity" not in g and "sobol_indices" not in g and "inputs" in g["trials"]
                    and "weight" not in g["trials"]):  # importance-sampled inputs get no tornado chart
                sf = g["trials"]["shortfall"][()]
                varies = (sf != sf[:1]).any(axis=0)
                stems += [f"tornado_{name}_{out}" for out, v in zip(_names(g["trials"]["demand"]), varies) if v]
    return stems


def matches(name, stem):
    """True when file `name` is STEM.png or a page STEM_<k>.png."""
    return name == f"{stem}.png" or (name.startswith(f"{stem}_") and name[len(stem) + 1:-4].isdigit())


def make_two_scenarios(src, dst):
    """Copy src to dst and add /scenarios/stress, a copy of baseline with eud and eud_se x 1.5."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        sc = f["scenarios"]
        name = "stress"
        while name in sc:
            name += "_"
        sc.copy(sc["baseline"], name)
        s = sc[name]["summary"]
        for k in ("eud", "eud_se"):
            s[k][...] = s[k][()] * 1.5


def run_plots(path, outdir, tag):
    os.makedirs(outdir, exist_ok=True)
    for old in glob.glob(os.path.join(outdir, "*.png")):
        os.remove(old)

    print(f"-- {tag}: {' '.join(PLOT)} {path} --out {outdir}")
    r = subprocess.run(PLOT + [path, "--out", outdir], capture_output=True, text=True)
    if r.stderr:
        print(r.stderr.rstrip())
    if not report(r.returncode == 0, f"{tag}: plot_results.py exits 0", f"exit {r.returncode}"):
        print(r.stdout)
        return
    printed = [line.strip() for line in r.stdout.splitlines() if line.strip()]
    report(len(printed) > 0, "plot_results.py printed the PNGs written")
    for p in printed:
        ok = p.endswith(".png") and os.path.isfile(p)
        report(ok, f"{p} exists")
        if not ok:
            continue
        report(os.path.samefile(os.path.dirname(p), outdir), f"{os.path.basename(p)} is in OUTDIR")
        with open(p, "rb") as f:
            head = f.read(8)
        size = os.path.getsize(p)
        report(head == PNG_MAGIC and size > 1000, f"{os.path.basename(p)} is a non-empty PNG ({size} bytes)")
    on_disk = sorted(os.path.basename(p) for p in glob.glob(os.path.join(outdir, "*.png")))
    report(sorted(os.path.basename(p) for p in printed) == on_disk, "printed list == PNGs in OUTDIR",
           f"printed {printed}, on disk {on_disk}")
    stems = expected_stems(path)
    for stem in stems:
        report(any(matches(n, stem) for n in on_disk), f"{tag}: {stem} plot written")
    # no chart the file does not call for (an empty one: a never-short demand's tornado, ...)
    optional = [n for n in on_disk if n.startswith(("convergence_", "differences_", "tornado_", "sobol_",
                                                    "importance"))]
    extra = [n for n in optional if not any(matches(n, st) for st in stems)]
    report(not extra, f"{tag}: no convergence, difference, tornado, Sobol' or importance chart beyond those "
           "called for", str(extra))
    conv = [n for n in on_disk if n.startswith("convergence_")]
    report(all(n[:-4] in stems for n in conv), f"{tag}: one convergence_<scenario>.png per scenario (no pages)",
           str(conv))
    if "scenarios" not in stems:
        report("scenarios.png" not in on_disk, f"{tag}: no scenarios.png for a one-scenario file")
    if not any(s.startswith("differences_") for s in stems):
        report(not any(n.startswith("differences_") for n in on_disk),
               f"{tag}: no differences_*.png without paired differences in the file")
    return on_disk


SCENARIOS_YAML = """\
# written by tests/python/test_plots.py: tiny.yaml with scenarios and a sensitivity analysis
name: {name}
include: [{tiny}]
run:
  trials: {trials}
  seed: 7
  horizon_months: 24
  start: "2027-01"
  block_size: 250
  sensitivity: {sensitivity}
  bootstrap: 50
scenarios:
  - id: bigger_stockpile
    description: twice the US defense stockpile
    set:
      demands/us_defense/stockpile/initial: {{fixed: 6}}
  - id: defense_surge
    description: US defense wants 30 t/yr
    set:
      demands/us_defense/quantity: 30
  - id: us_refinery
    description: a second US refinery
    add:
      facilities:
        - {{id: metal_us2, product: metal, country: US, capacity: {{pert: {{min: 5, mode: 10, max: 15}}}}}}
  - id: new_buyer
    description: a battery maker replaces the civil buyer
    remove:
      demands: [us_civil]
    add:
      demands:
        - {{id: us_battery, product: metal, country: US, tier: 2, quantity: {{pert: {{min: 20, mode: 30, max: 40}}}}}}
"""


def make_scenarios_file(exe, outdir, sensitivity, trials):
    """Run the scenarios study with `exe`; returns the results path, or None (reported) on failure."""
    os.makedirs(outdir, exist_ok=True)
    name = f"tiny_scenarios_{sensitivity}"
    cfg = os.path.join(outdir, f"{name}.yaml")
    out = os.path.join(outdir, f"{name}.h5")
    with open(cfg, "w") as f:
        f.write(SCENARIOS_YAML.format(name=name, tiny=TINY, trials=trials, sensitivity=sensitivity))
    cmd = [exe, "run", cfg, "-o", out, "--overwrite", "-q", "--threads", "2"]
    print("-- " + " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if not report(r.returncode == 0 and os.path.isfile(out), f"chokepoint run {name}.yaml exits 0",
                  f"exit {r.returncode}: {r.stderr.strip()[-2000:]}"):
        return None
    return out


def check_reader(path):
    """The reader's convergence / differences / sensitivity accessors against the file's data."""
    from chokepoint import ChokepointFormatError, open_results

    with open_results(path) as res:
        ids = res.scenario_ids
        report(ids[0] == "baseline" and ids == [s for s in str(res.attrs["scenarios"]).split(",")],
               "reader: scenario_ids in the run order of the root attribute `scenarios`", str(ids))
        base = res.scenario("baseline")
        sb = np.asarray(base.trials["shortfall"], dtype=np.float64)
        n = sb.shape[0]
        for nm in ids:
            sc = res.scenario(nm)
            c = res.convergence(nm)
            s = sc.summary
            report(c["demand"] == sc.demands and c["eud"].shape == (c["trials"].size, len(sc.demands))
                   and int(c["trials"][-1]) == n and bool(np.all(np.diff(c["trials"].astype(np.int64)) > 0)),
                   f"reader: convergence({nm}): [trials, demand] arrays, trials ascending to {n}")
            report(all(np.allclose(c[k][-1], s[k], rtol=1e-12, atol=0, equal_nan=True)
                       for k in ("eud", "eud_se", "p_short", "p_short_se")),
                   f"reader: convergence({nm}): last row == summary eud, eud_se, p_short, p_short_se")
            sens = res.sensitivity(nm)
            if sens is not None:
                report(sens["output"] == sc.demands and sens["srrc"].shape == (len(sens["output"]), len(sens["input"])),
                       f"reader: sensitivity({nm}): srrc [output, input], outputs == the scenario's demands")
            if nm == "baseline":
                try:
                    res.differences(nm)
                    report(False, "reader: differences('baseline') raises ChokepointFormatError")
                except ChokepointFormatError:
                    report(True, "reader: differences('baseline') raises ChokepointFormatError")
                continue
            d = res.differences(nm)
            ss = np.asarray(sc.trials["shortfall"], dtype=np.float64)
            good, nan_ok = True, True
            for j, dem in enumerate(d["demand"]):
                if dem not in base.demands:
                    nan_ok &= bool(np.isnan(d["eud"][j]) and not d["in_baseline"][j])
                    continue
                x = ss[:, j] - sb[:, base.demands.index(dem)]
                se = x.std(ddof=1) / np.sqrt(n)
                good &= bool(np.isclose(d["eud"][j], x.mean(), rtol=1e-9, atol=1e-12)
                             and np.isclose(d["eud_se"][j], se, rtol=1e-6, atol=1e-12))
            report(d["demand"] == sc.demands and d["against"] == "baseline",
                   f"reader: differences({nm}): over the scenario's demands, against the baseline")
            report(good, f"reader: differences({nm}): eud, eud_se == mean, SE of the per-trial paired differences")
            report(nan_ok, f"reader: differences({nm}): NaN for demands the baseline lacks")


def scenario_studies(exe, outdir):
    """Rank- and Sobol'-sensitivity studies with scenarios, plotted and read back."""
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        report(False, f"chokepoint program {exe} exists and is executable")
        return
    if not report(os.path.isfile(TINY), f"{TINY} exists"):
        return
    run_dir = os.path.join(outdir, "scenarios_run")
    rank = make_scenarios_file(exe, run_dir, "rank", 1000)
    if rank:
        on_disk = run_plots(rank, os.path.join(run_dir, "rank_plots"), "scenarios + rank sensitivity") or []
        for nm in ("defense_surge", "us_refinery"):
            report(f"differences_{nm}.png" in on_disk, f"scenarios: differences_{nm}.png written")
        report("tornado_new_buyer_us_battery.png" in on_disk,
               "scenarios: tornado chart of a demand only a scenario has (new_buyer: us_battery)")
        check_reader(rank)
        check_rounding(rank, run_dir)
        check_no_empty_tornado(rank, run_dir)
        check_spearman(rank)
    sobol = make_scenarios_file(exe, run_dir, "sobol", 64)
    if sobol:
        on_disk = run_plots(sobol, os.path.join(run_dir, "sobol_plots"), "scenarios + Sobol' indices") or []
        report(any(n.startswith("sobol_") for n in on_disk), "Sobol' index charts written")
    # A Latin hypercube with 10 replicates: its headline SEs (EUD, P(short)) have 9 degrees of
    # freedom, so their error bars are +-t SE with the file's ci95_t (2.26), not +-2 SE; CVaR's SE
    # comes from the trial variance (n - 1 dof) and keeps +-2 SE (the report: 1.96).
    lhs_cfg = os.path.join(run_dir, "tiny_lhs.yaml")
    with open(TINY) as f:
        open(lhs_cfg, "w").write(f.read().replace("run:\n", "run:\n  sampler: lhs\n  replicates: 10\n", 1))
    lhs = os.path.join(run_dir, "tiny_lhs.h5")
    r = subprocess.run([exe, "run", lhs_cfg, "--trials", "1000", "-o", lhs, "--overwrite", "-q"],
                       capture_output=True, text=True, timeout=300)
    if report(r.returncode == 0, "chokepoint run (lhs, 10 replicates) exits 0", r.stderr[-2000:]):
        texts = figure_texts(lhs, "risk_table", "risk")
        table = " ".join(t for k, ts in texts.items() if "risk_table" in k for t in ts)
        risk = " ".join(t for k, ts in texts.items() if "risk_table" not in k for t in ts)
        report("EUD (t)\n± 2.26 SE" in table and "P(short)\n± 2.26 SE" in table,
               "lhs with 10 replicates: the table's EUD and P(short) say ± 2.26 SE (Student t, 9 dof)",
               table[:300])
        report("CVaR 95% (t)\n± 2 SE" in table and "± 2 SE" in risk and "2.26" not in risk,
               "lhs with 10 replicates: CVaR (an SE from the trial variance) says ± 2 SE in the table "
               "and the risk chart", (table + " | " + risk)[:400])
    inputs = os.path.join(run_dir, "tiny_inputs.h5")
    cmd = [exe, "run", TINY, "--trials", "1000", "--store-inputs", "-o", inputs, "--overwrite", "-q"]
    print("-- " + " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if report(r.returncode == 0, "chokepoint run tiny.yaml --store-inputs exits 0", r.stderr[-2000:]):
        on_disk = run_plots(inputs, os.path.join(run_dir, "inputs_plots"), "stored inputs") or []
        report("tornado_baseline_us_civil.png" in on_disk and "tornado_baseline_us_defense.png" not in on_disk,
               "stored inputs: a tornado chart (Spearman) for us_civil, none for us_defense (never short)",
               str(on_disk))
        if rank:
            stale_figures(rank, inputs, os.path.join(run_dir, "reused_plots"))
    importance_study(exe, run_dir)


def stale_figures(scenarios_file, plain_file, outdir):
    """One directory plotted twice, a study with scenarios and then one without: the second run
    removes the figures of the first that it does not write again (scenarios.png, differences_*),
    and leaves files it did not write alone (once the old figures stayed, mixed with the new)."""
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    for name in ("notes.txt", "mine.png"):
        with open(os.path.join(outdir, name), "w") as f:
            f.write("the user's\n")
    subprocess.run([*PLOT, scenarios_file, "--out", outdir], capture_output=True, timeout=600)
    first = set(os.listdir(outdir))
    r = subprocess.run([*PLOT, plain_file, "--out", outdir], capture_output=True, text=True,
                       timeout=600)
    second = set(os.listdir(outdir))
    written = {os.path.basename(x) for x in r.stdout.split()}
    stale = sorted(n for n in second if n.endswith(".png") and n not in written and n != "mine.png")
    report(r.returncode == 0 and "scenarios.png" in first and not stale
           and {"notes.txt", "mine.png"} <= second,
           "a directory plotted again holds only the new file's figures (and the user's own files)",
           f"exit {r.returncode}; left from the first run: {stale}; {sorted(second)[:12]}")


IMPORTANCE_RUN = """run:
  importance:
    tilt:
      - {input: event/cn_export_control/occurs, probability: 0.8}
"""


def importance_study(exe, run_dir):
    """tiny.yaml with importance sampling and stored inputs: importance.png, no tornado chart, the
    weighted exceedance curve equals the engine's, the figures say they are weighted."""
    from chokepoint.plots import weighted_exceedance

    cfg = os.path.join(run_dir, "tiny_importance.yaml")
    with open(TINY) as f:
        text = f.read()
    if not report("run:\n" in text, "tiny.yaml has a run section (to add run.importance to)"):
        return
    with open(cfg, "w") as f:
        f.write(text.replace("run:\n", IMPORTANCE_RUN, 1))
    out = os.path.join(run_dir, "tiny_importance.h5")
    cmd = [exe, "run", cfg, "--trials", "2000", "--store-inputs", "-o", out, "--overwrite", "-q"]
    print("-- " + " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if not report(r.returncode == 0, "chokepoint run tiny.yaml with run.importance exits 0", r.stderr[-2000:]):
        return
    on_disk = run_plots(out, os.path.join(run_dir, "importance_plots"), "importance sampling") or []
    report("importance.png" in on_disk and not any(n.startswith("tornado_") for n in on_disk),
           "importance sampling: importance.png written, no tornado chart from the tilted inputs", str(on_disk))
    with h5py.File(out, "r") as f:
        g = f["scenarios/baseline"]
        sf, w = g["trials/shortfall"][()], g["trials/weight"][()]
        ex, ep = g["summary/exceedance_x"][()], g["summary/exceedance_p"][()]
        ess = float(g["summary"].attrs["ess"])
    worst = max(float(np.max(np.abs(weighted_exceedance(sf[:, j], w, ex[j]) - ep[j]))) for j in range(sf.shape[1]))
    report(worst <= 1e-9, "importance sampling: weighted_exceedance(shortfall, weight, exceedance_x) == the summary's "
           "exceedance_p within 1e-9", f"largest difference {worst:.3g}")
    texts = figure_texts(out, "exceedance", "histogram")
    said = [n for n, ts in texts.items() if any("weighted by their likelihood ratio" in t
                                                and f"ESS {ess:,.0f} of {sf.shape[0]:,}" in t for t in ts)]
    report(len(said) == len(texts) and texts, "importance sampling: the exceedance and histogram figures say the "
           f"trials are weighted by their likelihood ratio, ESS {ess:,.0f}", f"{said} of {list(texts)}")


# -- the figures' texts, drawn in memory ---------------------------------------------------------
def figure_texts(path, *steps):
    """{PNG name: [every text of the figure: titles, tick labels, notes]} of the named Plotter
    methods on `path`, drawn in memory (chokepoint.plots.Plotter without a directory)."""
    import matplotlib.table
    import matplotlib.text
    from chokepoint import open_results
    from chokepoint.plots import Plotter

    texts = {}

    class Capture(Plotter):
        def emit(self, fig, name, dpi=110):
            texts[name] = [t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()]
            texts[name] += [c.get_text().get_text() for c in fig.findobj(matplotlib.table.Cell)
                            if c.get_text().get_text()]  # a table's cells
            super().emit(fig, name, dpi)

    with open_results(path) as res:
        pl = Capture(res)
        for step in steps:
            getattr(pl, step)()
    return texts


def ytick_labels(path, step, name):
    """The y tick labels of every axes of figure `name` drawn by Plotter.<step>."""
    import matplotlib.pyplot as plt
    from chokepoint import open_results
    from chokepoint.plots import Plotter

    labels = []

    class Capture(Plotter):
        def emit(self, fig, fname, dpi=110):
            if fname == name:
                for ax in fig.axes:
                    labels.append([t.get_text() for t in ax.get_yticklabels()])
            plt.close(fig)

    with open_results(path) as res:
        getattr(Capture(res), step)()
    return labels


def set_values(f, path, index, values):
    a = f[path][()]
    for i, v in zip(index, values):
        a[i] = v
    f[path][...] = a


def check_rounding(rank, run_dir):
    """A paired difference at rounding level is printed and drawn as 0."""
    from chokepoint.plots import fmt_diff

    report(fmt_diff(2.84e-18, 5.7e-18, "t", 41.0) == "0 t"
           and fmt_diff(-0.013, 0.0037, "t", 41.0) == "-0.013 ± 0.0074 t",
           "fmt_diff: 2.84e-18 ± 5.7e-18 t of a 41 t demand prints as 0 t; -0.013 keeps its ± 2 SE",
           f"{fmt_diff(2.84e-18, 5.7e-18, 't', 41.0)!r}, {fmt_diff(-0.013, 0.0037, 't', 41.0)!r}")
    path = os.path.join(run_dir, "rounding.h5")
    shutil.copyfile(rank, path)
    with h5py.File(path, "r+") as f:
        s = f["scenarios/us_refinery/summary"]
        j = _names(s["demand"]).index("us_defense")
        identical = float(s["diff_eud"][j]) == 0 and float(s["diff_eud_se"][j]) == 0
        set_values(f, "scenarios/us_refinery/summary/diff_eud", [j], [2.84e-18])
        set_values(f, "scenarios/us_refinery/summary/diff_eud_se", [j], [5.7e-18])
    if not report(identical, "rounding: us_defense is identical in us_refinery and the baseline (the case to fake)"):
        return
    texts = figure_texts(path, "scenarios", "differences")
    alltext = [t for ts in texts.values() for t in ts]
    tiny = [t for t in alltext if re.search(r"\de-(1\d|[2-9]\d)\b", t) or "0.00000000" in t]
    report(not tiny, "rounding: no text of the scenario and difference charts shows a number at rounding level",
           str(tiny[:3]))
    scen = [t for n, ts in texts.items() if n.startswith("scenarios") for t in ts]
    report(sum("Δ 0 t" in t for t in scen) >= 1, "rounding: the scenario chart labels that bar Δ 0 t")
    diff = texts.get("differences_us_refinery.png", [])
    labels = [lab for axes in ytick_labels(path, "differences", "differences_us_refinery.png") for lab in axes]
    report(diff and not any(lab.startswith("us_defense") for lab in labels)
           and any("identical to the baseline up to rounding (not shown): us_defense" in t for t in diff),
           "rounding: differences_us_refinery lists us_defense as identical, with no row", str(labels))


def check_no_empty_tornado(rank, run_dir):
    """An output whose rank measures are all NaN gets no tornado chart; no chart says "top 0": in a
    scenario with two outputs that have tornado charts, one of them loses every value."""
    path = os.path.join(run_dir, "nan_output.h5")
    shutil.copyfile(rank, path)
    with h5py.File(path, "r+") as f:
        for scen, g in f["scenarios"].items():
            sens = g["sensitivity"]
            defined = np.isfinite(sens["srrc"][()]).any(axis=1)
            if defined.sum() >= 2:
                break
        else:
            report(False, "a scenario of the rank study has two outputs with defined rank measures")
            return
        out = _names(sens["output"])
        gone, kept = [out[o] for o in np.flatnonzero(defined)[:2]]
        for k in ("srrc", "spearman"):
            a = sens[k][()]
            a[out.index(gone), :] = np.nan
            sens[k][...] = a
    texts = figure_texts(path, "sensitivity")
    report(f"tornado_{scen}_{gone}.png" not in texts and f"tornado_{scen}_{kept}.png" in texts,
           f"no tornado chart for an output made all NaN ({scen}: {gone}), one for {kept}", str(list(texts)))
    report(texts and not any("top 0" in t for ts in texts.values() for t in ts), "no chart says 'top 0 of N'")


def check_spearman(rank):
    """The Spearman correlations the plots compute from stored inputs (chokepoint.sensitivity_plots,
    for studies without run.sensitivity) equal the engine's (the rank study's sensitivity/spearman,
    from the same trials), NaN in the same places; their intervals hold them, inside [-1, 1]."""
    from chokepoint.sensitivity_plots import spearman_from_inputs

    with h5py.File(rank, "r") as f:
        for name, g in f["scenarios"].items():
            rho, lo, hi = spearman_from_inputs(g["trials"]["inputs"][()], g["trials"]["shortfall"][()])
            eng = g["sensitivity"]["spearman"][()]
            ok = np.isfinite(rho)
            report(np.array_equal(ok, np.isfinite(eng)) and np.allclose(rho[ok], eng[ok], rtol=1e-9, atol=1e-12)
                   and bool(np.all((lo[ok] <= rho[ok]) & (rho[ok] <= hi[ok]) & (lo[ok] >= -1) & (hi[ok] <= 1))),
                   f"stored inputs: Spearman computed by the plots == the engine's sensitivity/spearman ({name})",
                   f"max difference {np.nanmax(np.abs(rho - eng)) if ok.any() else 'n/a'}")


def check_ties(path, outdir):
    """Tied constraints of one stage are one bar, ranked by unserved demand while binding: the
    first product with two (product, country) nodes and two facilities gets the same binding
    statistics written for both nodes and both facilities, the largest unserved demand of all."""
    from chokepoint import open_results
    from chokepoint.plots import chokepoint_groups

    tied = os.path.join(outdir, "tied.h5")
    shutil.copyfile(path, tied)
    with h5py.File(tied, "r+") as f:
        m = f["model"]
        nodes, facs, prods = _names(m["nodes"]), _names(m["facilities"]), _names(m["products"])
        fprod = m["facility_product"][()]
        stage = next((p for p in prods if sum(n.split("@")[0] == p for n in nodes) >= 2
                      and sum(prods[int(k)] == p for k in fprod) >= 2), None)
        if not report(stage is not None, "ties: the file has a product with two nodes and two facilities",
                      f"{nodes} {facs}"):
            return
        tn = [i for i, n in enumerate(nodes) if n.split("@")[0] == stage][:2]
        tf = [i for i in range(len(facs)) if prods[int(fprod[i])] == stage][:2]
        s = "scenarios/baseline/summary/"
        for kind, idx in (("node", tn), ("facility", tf)):
            for stat, v in (("month_share", 0.25), ("trial_share", 0.5), ("unserved", 1e6), ("unserved_se", 10.0),
                            ("unserved_share", 0.9)):
                set_values(f, f"{s}{kind}_binding_{stat}", idx, [v] * len(idx))
    countries = [nodes[i].split("@")[1] for i in tn]
    with open_results(tied) as res:
        groups = chokepoint_groups(res.summary, res.model, "node")
    report(groups and groups[0]["label"] == f"{stage} @ 2 countries" and groups[0]["members"] == countries
           and all(g["label"] != nodes[i] for g in groups for i in tn),
           f"ties: chokepoint_groups merges the tied {stage} nodes into '{stage} @ 2 countries', ranked first",
           str([(g["label"], g["members"]) for g in groups]))
    labels = ytick_labels(tied, "chokepoints", "chokepoints.png")
    firsts = [lab.split("\n")[0] for axes in labels for lab in axes]
    report(len(labels) >= 2 and labels[0] and labels[1]
           and labels[0][0].startswith(f"{stage}: 2 facilities ({facs[tf[0]]}, {facs[tf[1]]})")
           and labels[1][0].startswith(f"{stage} @ 2 countries ({', '.join(countries)})")
           and not any(lab.startswith((nodes[tn[0]], nodes[tn[1]], facs[tf[0]] + " ", facs[tf[1]] + " "))
                       for lab in firsts),
           f"ties: chokepoints.png draws one bar for the tied {stage} facilities and one for the nodes, at the top",
           str(labels))
    # one node of the stage no longer tied: it keeps its own bar
    with h5py.File(tied, "r+") as f:
        set_values(f, "scenarios/baseline/summary/node_binding_unserved", [tn[1]], [5e5])
    with open_results(tied) as res:
        labels = [g["label"] for g in chokepoint_groups(res.summary, res.model, "node")]
    report(labels[:2] == [nodes[tn[0]], nodes[tn[1]]],
           "ties: a node of the stage with other statistics is its own bar", str(labels))


def main(argv):
    if len(argv) not in (3, 4):
        print(f"usage: {os.path.basename(argv[0])} FILE OUTDIR [CHOKEPOINT]", file=sys.stderr)
        return 2
    path, outdir = argv[1], argv[2]
    run_plots(path, outdir, "file")
    two_dir = os.path.join(outdir, "two_scenarios")
    os.makedirs(two_dir, exist_ok=True)
    two = os.path.join(two_dir, "two_scenarios.h5")
    make_two_scenarios(path, two)
    run_plots(two, os.path.join(two_dir, "plots"), "two scenarios")
    check_ties(path, outdir)

    if len(argv) == 4:
        scenario_studies(argv[3], outdir)

    with tempfile.TemporaryDirectory(prefix="chokepoint-plot-test-") as d:
        bad = os.path.join(d, "not_results.h5")
        with open(bad, "w") as f:
            f.write("not HDF5\n")
        r = subprocess.run(PLOT + [bad, "--out", os.path.join(d, "plots")],
                           capture_output=True, text=True)
        report(r.returncode != 0 and bad in r.stderr and not r.stdout.strip(),
               "plot_results.py on a non-HDF5 file: non-zero exit, message names the file",
               f"exit {r.returncode}, stderr {r.stderr!r}")

    print(f"-- {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
