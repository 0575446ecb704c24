#!/usr/bin/env python3
"""Run scripts/plot_results.py on a results file and check that it wrote non-empty PNG files.

    test_plots.py FILE OUTDIR

OUTDIR is emptied of *.png first. Checks: exit status 0; the printed paths exist, lie in OUTDIR,
are non-empty PNGs; every figure the file's content calls for is among them: exceedance,
histogram, monthly, chokepoints, risk, risk_table always; stockouts when a demand has a stockpile
(/model/demand_has_stockpile); events when the study has events; regimes with >= 2 regimes.
Then the same on a two-scenario copy of FILE (OUTDIR/two_scenarios/: the baseline group copied
with h5py to /scenarios/stress, its eud and eud_se scaled by 1.5), which must also give
scenarios.png. Also checks that a file that is not HDF5 makes plot_results.py exit non-zero with
a message.
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile

import h5py

HERE = os.path.dirname(os.path.abspath(__file__))
PLOT = os.path.join(HERE, "..", "..", "scripts", "plot_results.py")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

failures = []


def report(ok, what, detail=""):
    print(("PASS  " if ok else "FAIL  ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(what)
    return ok


def expected_stems(path):
    """Figures that plot_results.py must write for this file."""
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

    print(f"-- {tag}: plot_results.py {path} --out {outdir}")
    r = subprocess.run([sys.executable, PLOT, path, "--out", outdir], capture_output=True, text=True)
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
    for stem in expected_stems(path):
        report(any(n == f"{stem}.png" or (n.startswith(f"{stem}_") and n[len(stem) + 1:-4].isdigit())
                   for n in on_disk), f"{tag}: {stem} plot written")
    if "scenarios" not in expected_stems(path):
        report("scenarios.png" not in on_disk, f"{tag}: no scenarios.png for a one-scenario file")


def main(argv):
    if len(argv) != 3:
        print(f"usage: {os.path.basename(argv[0])} FILE OUTDIR", file=sys.stderr)
        return 2
    path, outdir = argv[1], argv[2]
    run_plots(path, outdir, "file")
    two_dir = os.path.join(outdir, "two_scenarios")
    os.makedirs(two_dir, exist_ok=True)
    two = os.path.join(two_dir, "two_scenarios.h5")
    make_two_scenarios(path, two)
    run_plots(two, os.path.join(two_dir, "plots"), "two scenarios")

    with tempfile.TemporaryDirectory(prefix="chokepoint-plot-test-") as d:
        bad = os.path.join(d, "not_results.h5")
        with open(bad, "w") as f:
            f.write("not HDF5\n")
        r = subprocess.run([sys.executable, PLOT, bad, "--out", os.path.join(d, "plots")],
                           capture_output=True, text=True)
        report(r.returncode != 0 and bad in r.stderr and not r.stdout.strip(),
               "plot_results.py on a non-HDF5 file: non-zero exit, message names the file",
               f"exit {r.returncode}, stderr {r.stderr!r}")

    print(f"-- {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
