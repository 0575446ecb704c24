#!/usr/bin/env python3
"""Run scripts/plot_results.py on a results file and check that it wrote non-empty PNG files.

    test_plots.py FILE OUTDIR

OUTDIR is emptied of *.png first. Checks: exit status 0; the printed paths exist, lie in OUTDIR,
are non-empty PNGs; the exceedance, histogram, monthly and chokepoint plots are among them.
Also checks that a file that is not HDF5 makes plot_results.py exit non-zero with a message.
"""

import glob
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PLOT = os.path.join(HERE, "..", "..", "scripts", "plot_results.py")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

failures = []


def report(ok, what, detail=""):
    print(("PASS  " if ok else "FAIL  ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(what)
    return ok


def main(argv):
    if len(argv) != 3:
        print(f"usage: {os.path.basename(argv[0])} FILE OUTDIR", file=sys.stderr)
        return 2
    path, outdir = argv[1], argv[2]
    os.makedirs(outdir, exist_ok=True)
    for old in glob.glob(os.path.join(outdir, "*.png")):
        os.remove(old)

    r = subprocess.run([sys.executable, PLOT, path, "--out", outdir], capture_output=True, text=True)
    if r.stderr:
        print(r.stderr.rstrip())
    if not report(r.returncode == 0, "plot_results.py exits 0", f"exit {r.returncode}"):
        print(r.stdout)
        return 1
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
    for stem in ("exceedance", "histogram", "monthly", "chokepoints"):
        report(any(n == f"{stem}.png" or n.startswith(f"{stem}_") for n in on_disk), f"{stem} plot written")

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
