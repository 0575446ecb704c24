#!/usr/bin/env python3
"""`chokepoint summary` and the file's netCDF-style metadata, as an analyst meets them.

    test_summary_cli.py CHOKEPOINT SCENARIOS_CONFIG TINY_CONFIG WORKDIR

1. The table: fits 100 columns; the baseline in full (a row per demand, a median column); for
   every other scenario only the demands its paired differences move ("no demand changes" for a
   scenario that rewrites the model as it was); --scenario shows one in full, --demand filters
   rows, --diff-only drops the baseline's table; an unknown scenario or demand exits 2 naming it.
2. --csv: one row per (scenario, demand) whose numbers equal the file's to the last bit.
3. --json: program_version, units, each demand's unit, se_dof and ci95_t.
4. CF-style attributes: Conventions, units and long_name on every numeric dataset of summary and
   trials, _FillValue -1 on the month markers, flag_values/flag_meanings on the regime index, a
   time coordinate from run.start that xarray decodes to the first day of each month.
5. The reader's scenario="all": every scenario along a `scenario` dimension, the baseline's
   differences NaN, each slice equal to that scenario's own group.
6. Replicate designs: se_dof = R - 1 and ci95_t = t(0.975, R - 1) (2.2622 for R = 10); plain
   Monte Carlo: n - 1 and ~1.96. A Sobol' design whose replicates are not 2^k rows long is
   warned about by `run` and `validate`; one of 2^k rows is not.
"""

import csv
import io
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import package_path  # noqa: E402,F401  (the checkout's python/ first on sys.path)
from chokepoint import open_results  # noqa: E402
from chokepoint.reader import open_xarray  # noqa: E402
from clitest import fail, ok, report  # noqa: E402

T975_9 = 2.2621571627409915  # Student's t, 0.975 quantile, 9 degrees of freedom


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def text_checks(exe, h5, demands):
    rc, out, err = run([exe, "summary", h5])
    if not ok("summary: exit 0", rc == 0, err):
        return
    widest = max(len(line) for line in out.splitlines())
    ok("summary: fits 100 columns", widest <= 100, f"widest line {widest}")
    lines = out.splitlines()
    ok("summary: the baseline's table", "scenario 'baseline'" in out and "median" in out)
    for d in demands:
        ok(f"summary: a row for {d}", any(line.startswith(d + " ") for line in lines))
    block = out.split("scenario 'same'")[1].split("scenario '")[0]
    ok("summary: a scenario that changes nothing says so", "no demand changes" in block, block)
    block = out.split("scenario 'stockpile'")[1].split("scenario '")[0]
    ok("summary: scenario 'stockpile' lists the defense demand", "  defense " in block, block)
    ok("summary: other scenarios show no full table", "median" not in block, block)

    rc, out, err = run([exe, "summary", h5, "--scenario", "stockpile"])
    ok("--scenario stockpile: its table and differences",
       rc == 0 and "scenario 'stockpile'" in out and "scenario 'baseline'" not in out
       and "median" in out and "paired differences" in out, out + err)
    rc, out, err = run([exe, "summary", h5, "--demand", "civil"])
    rows = [line for line in out.splitlines() if line.startswith("defense ") or
            line.startswith("  defense ")]
    ok("--demand civil: no defense rows", rc == 0 and not rows and "civil" in out, out + err)
    rc, out, err = run([exe, "summary", h5, "--demand", "civil", "--scenario", "same"])
    ok("--demand civil --scenario same: the unchanged demand is shown with 0",
       rc == 0 and any(line.split()[:2] == ["civil", "0"] for line in out.splitlines()), out)
    rc, out, err = run([exe, "summary", h5, "--diff-only"])
    ok("--diff-only: no baseline table", rc == 0 and "scenario 'baseline'" not in out
       and out.count("paired differences") == 3, out + err)
    for opt, value in (("--scenario", "nope"), ("--demand", "nope")):
        rc, out, err = run([exe, "summary", h5, opt, value])
        ok(f"{opt} {value}: exit 2 naming it", rc == 2 and f"'{value}'" in err, f"{rc}: {err}")


def csv_checks(exe, h5):
    rc, out, err = run([exe, "summary", h5, "--csv"])
    if not ok("--csv: exit 0", rc == 0, err):
        return
    rows = list(csv.DictReader(io.StringIO(out)))
    with h5py.File(h5, "r") as f:
        order = f.attrs["scenarios"].split(",") if isinstance(f.attrs["scenarios"], str) \
            else f.attrs["scenarios"].decode().split(",")
        want = 0
        bad = []
        for sc in order:
            s = f[f"scenarios/{sc}/summary"]
            names = [x.decode() if isinstance(x, bytes) else x for x in f[f"scenarios/{sc}/model/demands"][:]]
            want += len(names)
            for i, d in enumerate(names):
                r = [r for r in rows if r["scenario"] == sc and r["demand"] == d]
                if len(r) != 1:
                    bad.append(f"{sc}/{d}: {len(r)} rows")
                    continue
                r = r[0]
                for col in ("eud", "eud_se", "lose", "lose_se", "p_short", "p_short_se"):
                    if float(r[col]) != float(s[col][i]):
                        bad.append(f"{sc}/{d}/{col}: {r[col]} != {s[col][i]!r}")
                if sc != "baseline" and float(r["diff_eud"]) != float(s["diff_eud"][i]):
                    bad.append(f"{sc}/{d}/diff_eud")
                if sc == "baseline" and r["diff_eud"] != "":
                    bad.append("baseline has a diff_eud")
    ok("--csv: one row per scenario and demand", len(rows) == want, f"{len(rows)} rows, want {want}")
    ok("--csv: every number equals the file's, bit for bit", not bad, "; ".join(bad[:5]))


def json_checks(exe, h5):
    rc, out, err = run([exe, "summary", h5, "--json"])
    if not ok("--json: exit 0", rc == 0, err):
        return
    j = json.loads(out)
    with h5py.File(h5, "r") as f:
        version = f.attrs["program_version"]
        version = version.decode() if isinstance(version, bytes) else version
    ok("--json: program_version", j.get("program_version") == version, str(j.get("program_version")))
    ok("--json: units", j.get("units", {}).get("lose") == "months" and "eud" in j["units"])
    sc = j["scenarios"][0]
    ok("--json: each demand's unit", all(d.get("unit") == "t" for d in sc["demands"]))
    ok("--json: se_dof and ci95_t", sc.get("se_dof", 0) > 1000 and abs(sc["ci95_t"] - 1.96) < 0.01,
       f"{sc.get('se_dof')} {sc.get('ci95_t')}")


def cf_checks(h5_tiny):
    with h5py.File(h5_tiny, "r") as f:
        conv = f.attrs.get("Conventions")
        ok("CF: Conventions", conv in ("CF-1.8", b"CF-1.8"), str(conv))
        missing = []
        for gname in ("summary", "trials"):
            g = f[f"scenarios/baseline/{gname}"]
            for name, ds in g.items():
                if not isinstance(ds, h5py.Dataset) or ds.dtype.kind in "OSU":
                    continue
                if "units" not in ds.attrs or "long_name" not in ds.attrs:
                    missing.append(f"{gname}/{name}")
        ok("CF: units and long_name on every numeric dataset", not missing, ", ".join(missing))
        t = f["scenarios/baseline/trials"]
        ok("CF: _FillValue -1 on stockout_month and event_onset",
           all(int(t[n].attrs.get("_FillValue", 0)) == -1 for n in ("stockout_month", "event_onset")))
        ok("CF: regime flags", "flag_values" in t["regime"].attrs and "flag_meanings" in t["regime"].attrs)
        ok("CF: eud in the product's unit", t.file["scenarios/baseline/summary/eud"].attrs["units"] in ("t", b"t"))
        start = f.attrs["start"]
        start = start.decode() if isinstance(start, bytes) else start
    ds = open_xarray(h5_tiny, "summary")
    times = ds["time"].values
    ok("CF: xarray decodes time as the first day of each month",
       np.issubdtype(times.dtype, np.datetime64) and str(times[0])[:10] == f"{start}-01"
       and str(times[13])[:7] == f"{int(start[:4]) + 1}-02", str(times[:2]))


def all_scenarios_checks(h5):
    ds = open_xarray(h5, "summary", scenario="all")
    with open_results(h5) as r:
        ids = r.scenario_ids
        ok("reader all: a scenario dimension in the run's order", list(ds["scenario"].values) == ids,
           str(ds["scenario"].values))
        ok("reader all: the baseline's differences are NaN",
           bool(np.all(np.isnan(ds["diff_eud"].sel(scenario="baseline").values))))
        same = True
        for s in ids:
            own = r.xarray("summary", scenario=s)
            for var in ("eud", "p_short_se", "lose"):
                a = ds[var].sel(scenario=s).sel(demand=own["demand"].values).values
                same = same and np.array_equal(a, own[var].values)
        ok("reader all: each slice equals that scenario's group", same)
        ok("reader all: scenario descriptions",
           "scenario_description" in ds.coords and
           str(ds["scenario_description"].sel(scenario="stockpile").values).startswith("the defense"))
    t = open_xarray(h5, "trials", scenario="all")
    ok("reader all: trials too", t["shortfall"].dims[0] == "scenario" and t["shortfall"].shape[0] == len(ids))


def design_checks(exe, tiny, work):
    text = open(tiny).read()

    def config(name, run_extra):
        path = os.path.join(work, name)
        body = text.replace("run:\n", "run:\n" + run_extra, 1)
        open(path, "w").write(body)
        return path

    lhs = config("lhs.yaml", "  sampler: lhs\n  replicates: 10\n")
    out = os.path.join(work, "lhs.h5")
    rc, _, err = run([exe, "run", lhs, "-o", out, "-q", "--overwrite", "--trials", "2000"])
    if ok("lhs run", rc == 0, err):
        with h5py.File(out, "r") as f:
            s = f["scenarios/baseline/summary"]
            ok("lhs: se_dof = R - 1 = 9", int(s.attrs["se_dof"]) == 9, str(s.attrs["se_dof"]))
            ok("lhs: ci95_t = t(0.975, 9)", abs(float(s.attrs["ci95_t"]) - T975_9) < 1e-9,
               str(s.attrs["ci95_t"]))
        rc, so, _ = run([exe, "summary", out])
        ok("lhs summary: states the degrees of freedom and the t factor",
           "9 degrees of freedom" in so and "2.262" in so, so[:400])
    sobol = config("sobol.yaml", "  sampler: sobol\n  replicates: 10\n")
    for trials, warned in (("1000", True), ("1280", False)):
        rc, _, err = run([exe, "run", sobol, "-o", os.path.join(work, "sobol.h5"), "--overwrite",
                          "--trials", trials, "--log-format", "text"])
        has = "not a power of two" in err
        ok(f"sobol {trials} trials / 10 replicates: {'a' if warned else 'no'} warning",
           rc == 0 and has == warned, err[-400:])
    rc, so, _ = run([exe, "validate", sobol])  # tiny.yaml's 2000 trials: 200 rows a replicate
    ok("validate: warns of a Sobol' design off 2^k", rc == 0 and "not a power of two" in so,
       so[-400:])


def main():
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    exe, scen_cfg, tiny, work = (os.path.abspath(a) for a in sys.argv[1:5])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    h5 = os.path.join(work, "scen.h5")
    rc, _, err = run([exe, "run", scen_cfg, "-o", h5, "-q", "--trials", "2000"])
    if rc != 0:
        fail("run", err)
        return report("summary and metadata", work)
    h5_tiny = os.path.join(work, "tiny.h5")
    rc, _, err = run([exe, "run", tiny, "-o", h5_tiny, "-q", "--trials", "1000"])
    if rc != 0:
        fail("run tiny", err)
        return report("summary and metadata", work)
    with h5py.File(h5, "r") as f:
        demands = [x.decode() if isinstance(x, bytes) else x for x in f["model/demands"][:]]
    text_checks(exe, h5, demands)
    csv_checks(exe, h5)
    json_checks(exe, h5)
    cf_checks(h5_tiny)
    all_scenarios_checks(h5)
    design_checks(exe, tiny, work)
    return report("summary and metadata", work)


if __name__ == "__main__":
    sys.exit(main())
