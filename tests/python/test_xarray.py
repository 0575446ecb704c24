#!/usr/bin/env python3
"""xarray reads a results file with named dimensions (docs/output-format.md, "Coordinates").

    test_xarray.py FILE

Opens /scenarios/<scenario>/summary and /trials with xarray.open_dataset(FILE, group=...,
engine="h5netcdf") -- without phony_dims, so a dataset without dimension scales fails -- and checks
dimension names and coordinates against /model (read with h5py), that .sel(demand=...) picks the
same numbers as positional indexing, and the reader's xarray() helper, including its error when
xarray is missing. Exits 77 (ctest: skipped) when xarray or h5netcdf is not installed, 1 if a
check failed, 0 otherwise.
"""

import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import package_path  # noqa: E402,F401  (the checkout's python/ first on sys.path)
from chokepoint import SUMMARY_DIMS, TRIAL_DIMS, open_results  # noqa: E402

SKIP = 77
failures = []


def report(ok, what, detail=""):
    print(("PASS  " if ok else "FAIL  ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(what)
    return ok


def main(argv):
    if len(argv) != 2:
        print(f"usage: {os.path.basename(argv[0])} FILE", file=sys.stderr)
        return 2
    path = argv[1]
    try:
        import h5netcdf  # noqa: F401
        import xarray as xr
    except ImportError as e:
        print(f"SKIP  xarray/h5netcdf not installed ({e}); Debian: apt-get install python3-xarray python3-h5netcdf")
        return SKIP

    with open_results(path) as res:
        m = res.model
        H = res.horizon_months
        n = res.n_trials
        names = {"demand": m["demands"], "facility": m["facilities"], "event": m["events"],
                 "regime": m["regimes"], "node": m["nodes"], "restriction": m["restrictions"]}
        for sname, sc in res.scenarios.items():
            grp = f"scenarios/{sname}/summary"
            s = xr.open_dataset(path, group=grp, engine="h5netcdf")
            with s:
                report(s["eud"].dims == ("demand",), f"{grp}: eud.dims == ('demand',)", str(s["eud"].dims))
                for var in s.data_vars:
                    base = var[:-3] if var.endswith("_se") and var[:-3] in SUMMARY_DIMS else var
                    if base in SUMMARY_DIMS:
                        report(s[var].dims == SUMMARY_DIMS[base], f"{grp}: {var}.dims == {SUMMARY_DIMS[base]}",
                               str(s[var].dims))
                    else:
                        print(f"NOTE  {grp}: {var} {s[var].dims} is not in the format 1.0 table")
                for dim, ref in names.items():
                    report(dim in s.coords and [str(v) for v in s[dim].values] == list(ref),
                           f"{grp}: coordinate {dim} == /model names",
                           str(s[dim].values[:4]) if dim in s.coords else "missing")
                for dim, src in (("quantile", "quantile_levels"), ("var_level", "var_levels"),
                                 ("threshold", "threshold_levels"), ("band", "monthly_band_levels")):
                    if src in sc.summary:
                        report(dim in s.coords and np.array_equal(s[dim].values, sc.summary[src]),
                               f"{grp}: coordinate {dim} == {src}")
                report(np.array_equal(s["month"].values, np.arange(H)), f"{grp}: coordinate month == 0..{H - 1}")
                report(np.array_equal(s["grid"].values, np.arange(101)), f"{grp}: coordinate grid == 0..100")
                # selection by label == positional
                j = len(m["demands"]) - 1
                d = m["demands"][j]
                report(float(s["eud"].sel(demand=d)) == float(sc.summary["eud"][j]),
                       f"{grp}: eud.sel(demand={d!r}) == eud[{j}]")
                got = s["cvar"].sel(demand=d, var_level=0.99).item()
                report(got == float(sc.summary["cvar"][j, 1]), f"{grp}: cvar.sel(demand={d!r}, var_level=0.99)")
                q = float(sc.summary["quantile_levels"][-1])
                report(s["shortfall_quantiles"].sel(demand=d, quantile=q).item()
                       == float(sc.summary["shortfall_quantiles"][j, -1]),
                       f"{grp}: shortfall_quantiles.sel(demand=..., quantile={q:g})")
                if len(m["events"]):
                    e = m["events"][0]
                    report(np.array_equal(s["eud_given_event"].sel(event=e).values, sc.summary["eud_given_event"][0]),
                           f"{grp}: eud_given_event.sel(event={e!r})")
                if "monthly_shortfall_bands" in s:
                    report(np.array_equal(s["monthly_shortfall_bands"].sel(demand=d, band=0.5).values,
                                          sc.summary["monthly_shortfall_bands"][j, :, 2]),
                           f"{grp}: monthly_shortfall_bands.sel(demand=..., band=0.5) == median over months")

            grp = f"scenarios/{sname}/trials"
            t = xr.open_dataset(path, group=grp, engine="h5netcdf")
            with t:
                for var in t.data_vars:
                    if var in TRIAL_DIMS:
                        report(t[var].dims == TRIAL_DIMS[var], f"{grp}: {var}.dims == {TRIAL_DIMS[var]}",
                               str(t[var].dims))
                if "monthly_shortfall" in t:
                    report(t["monthly_shortfall"].dims == ("trial", "demand", "month"),
                           f"{grp}: monthly_shortfall.dims == ('trial', 'demand', 'month')")
                for dim in ("demand", "facility", "event"):
                    report([str(v) for v in t[dim].values] == list(names[dim]), f"{grp}: coordinate {dim} == /model names")
                report(np.array_equal(t["trial"].values, np.arange(n)), f"{grp}: coordinate trial == 0..{n - 1}")
                d = m["demands"][0]
                report(np.array_equal(t["shortfall"].sel(demand=d).values, sc.trials["shortfall"][:, 0]),
                       f"{grp}: shortfall.sel(demand={d!r}) == shortfall[:, 0]")
                report(float(t["shortfall"].sel(demand=d).mean()) == float(np.mean(sc.trials["shortfall"][:, 0])),
                       f"{grp}: mean over trial via xarray == numpy")

        # the reader's helper
        s = res.xarray("summary")
        with s:
            report(s["eud"].dims == ("demand",) and np.array_equal(s["eud"].values, res.summary["eud"]),
                   "reader: res.xarray('summary') reads eud over demand")
        t = res.scenario().xarray("trials")
        with t:
            report("trial" in t.dims, "reader: Scenario.xarray('trials') has dimension trial")
        mdl = res.xarray("model")
        with mdl:
            report("demands" in mdl, "reader: res.xarray('model') opens a group without dimension scales")

    # Without xarray: a clear ImportError that says what to install (in a child process, so that
    # this one keeps its xarray).
    code = ("import sys; sys.modules['xarray'] = None; sys.path.insert(0, sys.argv[1]); import package_path\n"
            "from chokepoint import open_results, XarrayMissingError\n"
            "res = open_results(sys.argv[2])\n"
            "try:\n    res.xarray('summary')\nexcept XarrayMissingError as e:\n"
            "    print('MSG', e); sys.exit(0 if isinstance(e, ImportError) else 3)\nsys.exit(4)\n")
    r = subprocess.run([sys.executable, "-c", code, HERE, path], capture_output=True, text=True)
    report(r.returncode == 0 and "xarray" in r.stdout and "h5netcdf" in r.stdout and "apt-get" in r.stdout,
           "reader: xarray() without xarray raises XarrayMissingError (ImportError) naming what to install",
           f"exit {r.returncode}, stdout {r.stdout!r}, stderr {r.stderr[-500:]!r}")
    r = subprocess.run([sys.executable, "-c", "import sys; sys.modules['xarray'] = None; sys.path.insert(0, sys.argv[1]);"
                        "import package_path; import chokepoint as c; r = c.open_results(sys.argv[2]); "
                        "print(r.summary['eud'][0])",
                        HERE, path], capture_output=True, text=True)
    report(r.returncode == 0, "reader: open_results works without xarray (lazy import)", r.stderr[-500:])

    print(f"-- {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
