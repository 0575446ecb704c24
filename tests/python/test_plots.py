#!/usr/bin/env python3
"""Run scripts/plot_results.py on a results file and check that it wrote non-empty PNG files.

    test_plots.py FILE OUTDIR [CHOKEPOINT]

OUTDIR is emptied of *.png first. Checks: exit status 0; the printed paths exist, lie in OUTDIR,
are non-empty PNGs; every figure the file's content calls for is among them: exceedance,
histogram, monthly, chokepoints, risk, risk_table always; stockouts when a demand has a stockpile
(/model/demand_has_stockpile); events when the study has events; regimes with >= 2 regimes;
scenarios with >= 2 scenarios; convergence_<s> for every scenario with a `convergence` group;
differences_<s> for every other scenario with paired differences (summary/diff_eud);
tornado_<s>_<demand> / sobol_<s>_<demand> for every output of a `sensitivity` / `sobol_indices`
group (scripts/plot_sensitivity.py, called by plot_results.py).
Then the same on a two-scenario copy of FILE (OUTDIR/two_scenarios/: the baseline group copied
with h5py to /scenarios/stress, its eud and eud_se scaled by 1.5), which must also give
scenarios.png. Also checks that a file that is not HDF5 makes plot_results.py exit non-zero with
a message.

With CHOKEPOINT (the program), also runs, in OUTDIR/scenarios_run/, a study that includes
configs/examples/tiny.yaml with four scenarios (a changed stockpile, a demand surge, an added
facility, and one that removes a demand and adds another, so its demands differ from the
baseline's) and run.sensitivity: rank, and a second one with run.sensitivity: sobol; plots both
(every figure above must appear, among them the convergence, paired-difference, tornado and
Sobol' charts) and checks the reader's new accessors against the per-trial data: the last
convergence row equals the summary, each paired difference is the mean of the per-trial
differences (and its SE theirs), NaN where the baseline lacks the demand.

With CHOKEPOINT_TEST_INSTALLED=1 the reader and the plots are the chokepoint package installed in
the running Python (`python -m chokepoint plot` instead of the script; test_package.py).
"""

import glob
import os
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


def expected_stems(path):
    """Figures that plot_results.py must write for this file: a stem matches STEM.png or, split
    over pages, STEM_<k>.png."""
    stems = ["exceedance", "histogram", "monthly", "chokepoints", "risk", "risk_table"]
    with h5py.File(path, "r") as f:
        m = f["model"]
        if "demand_has_stockpile" in m and (m["demand_has_stockpile"][()] == 1).any():
            stems.append("stockouts")
        if "events" in m and m["events"].shape[0] > 0:
            stems.append("events")
        if "regimes" in m and m["regimes"].shape[0] >= 2:
            stems.append("regimes")
        if len(f["scenarios"]) >= 2:
            stems.append("scenarios")
        for name, g in f["scenarios"].items():
            if "convergence" in g:
                stems.append(f"convergence_{name}")
            if name != "baseline" and "diff_eud" in g["summary"]:
                stems.append(f"differences_{name}")
            for grp, pre in (("sensitivity", "tornado"), ("sobol_indices", "sobol")):
                if grp in g:
                    stems += [f"{pre}_{name}_{out}" for out in _names(g[grp]["output"])]
    return stems


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
        report(any(n == f"{stem}.png" or (n.startswith(f"{stem}_") and n[len(stem) + 1:-4].isdigit())
                   for n in on_disk), f"{tag}: {stem} plot written")
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
        for nm in ("bigger_stockpile", "defense_surge", "us_refinery", "new_buyer"):
            report(f"differences_{nm}.png" in on_disk, f"scenarios: differences_{nm}.png written")
        report("tornado_new_buyer_us_battery.png" in on_disk,
               "scenarios: tornado chart of a demand only a scenario has (new_buyer: us_battery)")
        check_reader(rank)
    sobol = make_scenarios_file(exe, run_dir, "sobol", 64)
    if sobol:
        on_disk = run_plots(sobol, os.path.join(run_dir, "sobol_plots"), "scenarios + Sobol' indices") or []
        report(any(n.startswith("sobol_") for n in on_disk), "Sobol' index charts written")


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
