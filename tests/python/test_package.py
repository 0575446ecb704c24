#!/usr/bin/env python3
"""The Python side as a package: `pip install ./python` offline, and the installed package at work.

    test_package.py FILE WORKDIR

FILE is a results file (tiny.h5); WORKDIR is emptied and used for everything written.
Checks, in order:
  1. the old names in scripts/ are the package's modules: with scripts/ on sys.path,
     `import chokepoint_reader` is chokepoint.reader (the checkout's python/chokepoint) and reads
     FILE, `import plot_sensitivity` is chokepoint.sensitivity_plots;
  2. chokepoint.__version__ equals the engine's version (CMakeLists.txt project(... VERSION));
  3. `python3 -m venv --system-site-packages` (h5py, numpy, matplotlib from Debian), then
     `pip install --no-index --no-build-isolation ./python` on a copy of python/ (the in-tree
     build writes build/ and *.egg-info there, not in the checkout), offline: pip reads no config
     file and no index;
  4. in that venv, run outside the checkout with no PYTHONPATH: `import chokepoint` is the
     installed copy (site-packages of the venv), its metadata version is __version__, the console
     scripts chokepoint-plot, chokepoint-plot-sensitivity and chokepoint-report are installed;
  5. the installed package reads FILE: test_output.py and test_reader_rejects.py with
     CHOKEPOINT_TEST_INSTALLED=1 (package_path.py then leaves sys.path alone); its format 1.4
     accessors (importance sampling) on FILE: Scenario.weights() is one per trial, all ones, the
     scenario is not importance_sampled, importance() is None, TRIAL_DIMS["weight"] == ("trial",),
     and chokepoint.plots.weighted_exceedance(shortfall, weights, exceedance_x) equals the summary's
     exceedance_p within 1e-9;
  6. the installed package plots FILE: `chokepoint-plot FILE --out DIR` writes non-empty PNGs and
     prints their paths, test_plots.py FILE DIR with CHOKEPOINT_TEST_INSTALLED=1 (every figure the
     file calls for, via `python -m chokepoint plot`), `chokepoint-plot-sensitivity FILE DIR`
     exits 0, `chokepoint-report FILE --out DIR/report.html` writes one HTML page with embedded
     figures and prints its path, `python -m chokepoint --version`.
Exits 77 (ctest: skipped) only when this Python cannot make a venv with pip (Debian:
apt-get install python3-venv python3-pip), 1 if a check failed, 0 otherwise.
"""

import glob
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PYDIR = os.path.join(ROOT, "python")
SKIP = 77
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

failures = []


def report(ok, what, detail=""):
    print(("PASS  " if ok else "FAIL  ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(what)
    return ok


def clean_env(**extra):
    """The environment of every child: no PYTHONPATH, no user site, pip offline without config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV"))
           and k != "CHOKEPOINT_TEST_INSTALLED"}
    env.update(PYTHONNOUSERSITE="1", PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_CACHE_DIR="1", PIP_NO_INPUT="1")
    env.update(extra)
    return env


def run(cmd, cwd, timeout=300, **env):
    print("-- " + " ".join(a if "\n" not in a else "'<code>'" for a in cmd))
    r = subprocess.run(cmd, cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=timeout)
    return r


def tail(r, n=3000):
    return f"exit {r.returncode}\nstdout: {r.stdout[-n:]}\nstderr: {r.stderr[-n:]}"


def check_old_names(path, work):
    """scripts/chokepoint_reader.py and scripts/plot_sensitivity.py are the package's modules."""
    code = (
        "import os, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import chokepoint_reader\n"
        "from chokepoint_reader import open_results, ChokepointFormatError, SUMMARY_DIMS, _check_header\n"
        "import chokepoint, chokepoint.reader\n"
        "assert chokepoint_reader is chokepoint.reader, chokepoint_reader\n"
        "assert open_results is chokepoint.open_results and ChokepointFormatError is chokepoint.ChokepointFormatError\n"
        "assert os.path.realpath(chokepoint.__file__) == os.path.realpath(os.path.join(sys.argv[2], 'chokepoint', "
        "'__init__.py')), chokepoint.__file__\n"
        "with open_results(sys.argv[3]) as r:\n"
        "    print('EUD', r.summary['eud'].shape, r.scenario_ids)\n"
        "import plot_sensitivity, chokepoint.sensitivity_plots\n"
        "assert plot_sensitivity is chokepoint.sensitivity_plots and callable(plot_sensitivity.plot_file)\n"
        "print('OK')\n"
    )
    r = run([sys.executable, "-c", code, os.path.join(ROOT, "scripts"), PYDIR, path], cwd=work)
    report(r.returncode == 0 and "OK" in r.stdout,
           "scripts/chokepoint_reader.py is chokepoint.reader of the checkout's python/ and reads FILE; "
           "scripts/plot_sensitivity.py is chokepoint.sensitivity_plots", tail(r))


def check_version():
    sys.path.insert(0, PYDIR)
    import chokepoint

    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        m = re.search(r"project\(\s*chokepoint\s+VERSION\s+([0-9.]+)", f.read())
    report(m is not None and chokepoint.__version__ == m.group(1),
           "chokepoint.__version__ == the engine's version in CMakeLists.txt",
           f"{chokepoint.__version__} vs {m.group(1) if m else 'no project(VERSION)'}")
    return chokepoint.__version__


def check_missing_numpy(work):
    """`python -m chokepoint report ...` under a Python without numpy (simulated: sys.modules
    marks it missing, as runpy would meet it): one line naming numpy and where to get it, exit 1,
    no traceback (once an ImportError's traceback)."""
    code = ("import sys, runpy; sys.modules['numpy'] = None; sys.path.insert(0, sys.argv[1]); "
            "sys.argv = ['-m', 'report', 'x.h5']; runpy.run_module('chokepoint', run_name='__main__', "
            "alter_sys=True)")
    r = run([sys.executable, "-c", code, PYDIR], cwd=work)
    report(r.returncode == 1 and "Traceback" not in r.stderr and "numpy" in r.stderr
           and "python -m chokepoint: error:" in r.stderr,
           "python -m chokepoint without numpy: one line naming numpy, exit 1", tail(r))


def make_venv(venv, work):
    """Returns True when the venv has a working pip; False (after printing why) to skip."""
    r = run([sys.executable, "-m", "venv", "--system-site-packages", venv], cwd=work)
    if r.returncode != 0:
        print(f"SKIP  {sys.executable} -m venv failed (needs Debian's python3-venv: apt-get install "
              f"python3-venv python3-pip; scripts/install_deps.sh installs them)\n{tail(r)}")
        return False
    r = run([os.path.join(venv, "bin", "python"), "-m", "pip", "--version"], cwd=work)
    if r.returncode != 0:
        print(f"SKIP  the venv has no pip (Debian: apt-get install python3-venv python3-pip)\n{tail(r)}")
        return False
    print(r.stdout.strip())
    return True


def pngs_ok(printed, outdir, what):
    report(len(printed) > 0, f"{what}: printed the PNGs written")
    good = all(p.endswith(".png") and os.path.isfile(p) and os.path.getsize(p) > 1000
               and os.path.samefile(os.path.dirname(p), outdir) and open(p, "rb").read(8) == PNG_MAGIC
               for p in printed)
    report(good, f"{what}: every printed path is a non-empty PNG in the output directory", str(printed[:5]))
    on_disk = sorted(glob.glob(os.path.join(outdir, "*.png")))
    report(sorted(printed) == on_disk, f"{what}: printed list == PNGs on disk", f"{printed} vs {on_disk}")


def main(argv):
    if len(argv) != 3:
        print(f"usage: {os.path.basename(argv[0])} FILE WORKDIR", file=sys.stderr)
        return 2
    path, work = os.path.abspath(argv[1]), os.path.abspath(argv[2])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    check_old_names(path, work)
    version = check_version()
    check_missing_numpy(work)

    venv = os.path.join(work, "venv")
    if not make_venv(venv, work):
        return SKIP
    vpy = os.path.join(venv, "bin", "python")
    bindir = os.path.join(venv, "bin")

    # pip install ./python, offline, on a copy of python/ (no build/ or *.egg-info from earlier builds)
    src = os.path.join(work, "src")
    shutil.copytree(PYDIR, os.path.join(src, "python"),
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "*.pyc"))
    r = run([vpy, "-m", "pip", "install", "--no-index", "--no-build-isolation", "./python"], cwd=src)
    if not report(r.returncode == 0 and "Successfully installed chokepoint" in r.stdout,
                  "pip install --no-index --no-build-isolation ./python in a --system-site-packages venv",
                  tail(r)):
        print(f"-- {len(failures)} failed")
        return 1

    # the installed copy, outside the checkout, without PYTHONPATH
    code = ("import chokepoint, importlib.metadata as m, os, sys\n"
            "print(os.path.realpath(chokepoint.__file__)); print(chokepoint.__version__)\n"
            "print(m.version('chokepoint'))\n"
            "print(sorted(e.name for e in m.entry_points(group='console_scripts') if e.value.startswith('chokepoint')))\n")
    r = run([vpy, "-c", code], cwd=work)
    lines = r.stdout.splitlines()
    site = os.path.realpath(os.path.join(venv, "lib"))
    report(r.returncode == 0 and len(lines) == 4 and lines[0].startswith(site + os.sep),
           "installed: `import chokepoint` outside the checkout is the venv's copy", tail(r))
    if len(lines) == 4:
        report(lines[1] == version and lines[2] == version,
               f"installed: __version__ and the distribution's version are {version}", str(lines))
        report(lines[3] == "['chokepoint-plot', 'chokepoint-plot-sensitivity', 'chokepoint-report']",
               "installed: console scripts chokepoint-plot, chokepoint-plot-sensitivity and chokepoint-report",
               lines[3])
    for exe in ("chokepoint-plot", "chokepoint-plot-sensitivity", "chokepoint-report"):
        report(os.access(os.path.join(bindir, exe), os.X_OK), f"installed: {venv}/bin/{exe} is executable")

    # the installed package reads FILE: the format checks and the rejections, against it (package_path.py
    # leaves sys.path alone under CHOKEPOINT_TEST_INSTALLED=1: first, that they then get the venv's copy)
    r = run([vpy, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import package_path, os, chokepoint; "
             "print(os.path.realpath(chokepoint.__file__))", HERE], cwd=work, CHOKEPOINT_TEST_INSTALLED="1")
    report(r.returncode == 0 and r.stdout.strip().startswith(site + os.sep),
           "installed: with CHOKEPOINT_TEST_INSTALLED=1 the tests import the venv's copy", tail(r))
    for script, args in (("test_output.py", [path]), ("test_reader_rejects.py", [])):
        r = run([vpy, os.path.join(HERE, script)] + args, cwd=work, CHOKEPOINT_TEST_INSTALLED="1", timeout=300)
        report(r.returncode == 0, f"installed: {script} passes against the installed package", tail(r))
    code = ("import os, sys, numpy as np, chokepoint\n"
            "from chokepoint.plots import weighted_exceedance\n"
            "print(os.path.realpath(chokepoint.__file__))\n"
            "with chokepoint.open_results(sys.argv[1]) as r:\n"
            "    b = r.scenario('baseline')\n"
            "    w = b.weights()\n"
            "    assert w.dtype == np.float64 and w.shape == (r.n_trials,) and (w == 1).all(), w\n"
            "    assert not b.importance_sampled and r.importance() is None\n"
            "    assert chokepoint.TRIAL_DIMS['weight'] == ('trial',), chokepoint.TRIAL_DIMS.get('weight')\n"
            "    sf, s = b.trials['shortfall'], b.summary\n"
            "    d = max(float(np.abs(weighted_exceedance(sf[:, j], w, s['exceedance_x'][j])\n"
            "                         - s['exceedance_p'][j]).max()) for j in range(sf.shape[1]))\n"
            "    assert d <= 1e-9, d\n"
            "print('OK')\n")
    r = run([vpy, "-c", code, path], cwd=work)
    lines = r.stdout.splitlines()
    report(r.returncode == 0 and lines[-1:] == ["OK"] and lines[0].startswith(site + os.sep),
           "installed: weights() (all ones), importance() (None), TRIAL_DIMS['weight'] and "
           "chokepoint.plots.weighted_exceedance (== the summary's exceedance_p) on FILE", tail(r))

    # ... and plots it
    outdir = os.path.join(work, "plots")
    r = run([os.path.join(bindir, "chokepoint-plot"), path, "--out", outdir], cwd=work)
    if report(r.returncode == 0, "installed: chokepoint-plot FILE --out DIR exits 0", tail(r)):
        pngs_ok([ln.strip() for ln in r.stdout.splitlines() if ln.strip()], outdir, "chokepoint-plot")
    r = run([vpy, os.path.join(HERE, "test_plots.py"), path, os.path.join(work, "test_plots")], cwd=work,
            CHOKEPOINT_TEST_INSTALLED="1", timeout=600)
    report(r.returncode == 0 and " -m chokepoint plot " in r.stdout,
           "installed: test_plots.py passes with `python -m chokepoint plot`", tail(r))
    r = run([os.path.join(bindir, "chokepoint-plot-sensitivity"), path, os.path.join(work, "sensitivity")],
            cwd=work)
    report(r.returncode == 0, "installed: chokepoint-plot-sensitivity FILE DIR exits 0", tail(r))
    page = os.path.join(work, "report", "report.html")
    os.makedirs(os.path.dirname(page))
    r = run([os.path.join(bindir, "chokepoint-report"), path, "--out", page], cwd=work)
    text = open(page, encoding="utf-8").read() if os.path.isfile(page) else ""
    report(r.returncode == 0 and r.stdout.strip() == page and text.startswith("<!DOCTYPE html>")
           and text.count('<img src="data:image/png;base64,') >= 3
           and os.listdir(os.path.dirname(page)) == ["report.html"],
           "installed: chokepoint-report FILE --out DIR/report.html writes one HTML page with embedded figures",
           tail(r))
    r = run([vpy, "-m", "chokepoint", "--version"], cwd=work)
    report(r.returncode == 0 and r.stdout.strip() == f"chokepoint (Python package) {version}",
           "installed: python -m chokepoint --version", tail(r))
    r = run([os.path.join(bindir, "chokepoint-plot"), os.path.join(work, "no_such.h5")], cwd=work)
    report(r.returncode == 2 and "chokepoint-plot: error:" in r.stderr and "no_such.h5" in r.stderr,
           "installed: chokepoint-plot on a missing file: exit 2, message names the program and the file",
           tail(r))

    print(f"-- {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
