#!/usr/bin/env python3
"""Golden whole-run regressions: every shipped config, run at a fixed seed and trial count with all
its scenarios, gives the summary committed in tests/golden/<name>.json (docs/architecture.md).

A drift in the numbers that stays the same on every thread count (which the thread, rank, shard
and resume tests cannot see) fails here. Compared per scenario and demand: EUD, its standard
error, LOSE, P(short), the shortfall quantiles, CVaR; the paired differences of each scenario;
the tonnes unserved while each node binds; and the LPs answered by each rung of the solver ladder.
Floats agree to a relative 1e-9 (absolute 1e-9 of the quantity's scale near 0): the same binary
gives the same bits, the tolerance absorbs only last-digit differences of another compiler or libm.
Counts (trials, LPs per rung) must be equal.

usage: test_golden.py CHOKEPOINT [--update] [--only NAME] [--work DIR]
  --update   run every config and rewrite tests/golden/*.json (then read `git diff tests/golden`
             and commit it, saying why the numbers moved)
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "golden")

# name -> (config, trials). Trial counts keep the whole set to about a minute on 2 cores while
# every scenario and most events are exercised; seed 20261205, 2 threads (the file is the same
# at any thread count).
CASES = {
    "critical_materials": ("configs/critical_materials.yaml", 200),
    "gallium": ("configs/gallium.yaml", 400),
    "ndfeb": ("configs/ndfeb.yaml", 300),
    "samarium_cobalt": ("configs/samarium_cobalt.yaml", 400),
    "tiny": ("configs/examples/tiny.yaml", 2000),
    "history_ga_ban_us_2024": ("configs/history/ga_ban_us_2024.yaml", 300),
    "history_ga_licensing_2023": ("configs/history/ga_licensing_2023.yaml", 300),
    "history_magnets_licensing_2025": ("configs/history/magnets_licensing_2025.yaml", 300),
    "history_ree_japan_2010": ("configs/history/ree_japan_2010.yaml", 300),
}
SEED = 20261205
PER_DEMAND = ("eud", "eud_se", "lose", "p_short")
PER_DEMAND_Q = ("shortfall_quantiles", "cvar")
DIFFS = ("diff_eud", "diff_eud_se", "diff_p_short")
REL = 1e-9


def clean(a):
    """JSON-safe nested lists (NaN and inf as strings)."""
    a = np.asarray(a, dtype=float)
    if a.ndim == 0:
        x = float(a)
        return x if math.isfinite(x) else repr(x)
    return [clean(x) for x in a]


def summarize(path):
    out = {}
    with h5py.File(path, "r") as f:
        out["trials"] = int(f.attrs["trials"])
        out["lps"] = {r: int(f.attrs["lps_" + r])
                      for r in ("warm", "cold", "bland", "clp", "relaxed")}
        for s, g in f["scenarios"].items():
            sm = g["summary"]
            demands = [x.decode() if isinstance(x, bytes) else str(x)
                       for x in g["model"]["demands"][()]]
            nodes = [x.decode() if isinstance(x, bytes) else str(x)
                     for x in g["model"]["nodes"][()]]
            sc = {"demands": {}, "nodes_binding_unserved": {}}
            for i, d in enumerate(demands):
                row = {k: clean(sm[k][i]) for k in PER_DEMAND}
                for k in PER_DEMAND_Q:
                    row[k] = clean(sm[k][i])
                for k in DIFFS:
                    if k in sm:
                        row[k] = clean(sm[k][i])
                sc["demands"][d] = row
            unserved = sm["node_binding_unserved"][()]
            for i, n in enumerate(nodes):
                if unserved[i] != 0:
                    sc["nodes_binding_unserved"][n] = clean(unserved[i])
            sc["lps"] = {str(r.decode() if isinstance(r, bytes) else r): int(n) for r, n in
                         zip(g["solver"]["rung"][()], g["solver"]["lps"][()])}
            out.setdefault("scenarios", {})[s] = sc
    return out


def compare(where, want, got, scale, problems):
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(want) != set(got):
            problems.append(f"{where}: keys {sorted(want) if isinstance(want, dict) else want} "
                            f"!= {sorted(got) if isinstance(got, dict) else got}")
            return
        for k in want:
            compare(f"{where}/{k}", want[k], got[k], scale, problems)
    elif isinstance(want, list):
        if not isinstance(got, list) or len(want) != len(got):
            problems.append(f"{where}: {len(want)} values, now {got!r:.80}")
            return
        for i, (a, b) in enumerate(zip(want, got)):
            compare(f"{where}[{i}]", a, b, scale, problems)
    elif isinstance(want, str) or isinstance(want, int) and not isinstance(want, bool) \
            and isinstance(got, int):
        if want != got:
            problems.append(f"{where}: {want!r} -> {got!r}")
    else:
        if isinstance(got, str) or got is None:
            problems.append(f"{where}: {want!r} -> {got!r}")
            return
        tol = REL * max(abs(want), abs(got), scale)
        if abs(want - got) > tol:
            problems.append(f"{where}: {want!r} -> {got!r} (|diff| {abs(want - got):.3g} > "
                            f"{tol:.3g})")


def scale_of(summary):
    """The scale of the case's numbers (largest |value|), for the absolute part of the tolerance."""
    biggest = [0.0]

    def walk(x):
        if isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        elif isinstance(x, float):
            biggest[0] = max(biggest[0], abs(x))
    walk(summary.get("scenarios", {}))
    return biggest[0] * 1e-3


def run_case(exe, name, work):
    config, trials = CASES[name]
    out = os.path.join(work, name + ".h5")
    cmd = [exe, "run", os.path.join(ROOT, config), "--trials", str(trials), "--seed", str(SEED),
           "--threads", "2", "-o", out, "-q", "--overwrite"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.decode()[-2000:]}")
    return summarize(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("chokepoint")
    ap.add_argument("--update", action="store_true")
    ap.add_argument("--only", action="append")
    ap.add_argument("--work")
    a = ap.parse_args()
    names = a.only or list(CASES)
    for n in names:
        if n not in CASES:
            print(f"unknown case {n!r}; cases: {', '.join(CASES)}")
            return 2
    work = a.work or tempfile.mkdtemp(prefix="chokepoint-golden-")
    os.makedirs(work, exist_ok=True)
    failed = []
    for n in names:
        got = run_case(os.path.abspath(a.chokepoint), n, work)
        path = os.path.join(GOLDEN, n + ".json")
        if a.update:
            os.makedirs(GOLDEN, exist_ok=True)
            with open(path, "w") as f:
                json.dump({"config": CASES[n][0], "trials": CASES[n][1], "seed": SEED,
                           "summary": got}, f, indent=1, sort_keys=True)
                f.write("\n")
            print(f"{n}: wrote {os.path.relpath(path, ROOT)}")
            continue
        if not os.path.isfile(path):
            failed.append(n)
            print(f"FAIL {n}: no {os.path.relpath(path, ROOT)} (run with --update, then commit)")
            continue
        with open(path) as f:
            want = json.load(f)
        if (want.get("config"), want.get("trials"), want.get("seed")) != \
                (CASES[n][0], CASES[n][1], SEED):
            failed.append(n)
            print(f"FAIL {n}: the golden file was made for another case; run with --update")
            continue
        problems = []
        compare(n, want["summary"], got, scale_of(want["summary"]), problems)
        if problems:
            failed.append(n)
            print(f"FAIL {n}: {len(problems)} values moved (first 20):")
            for p in problems[:20]:
                print("   ", p)
        else:
            print(f"{n}: {CASES[n][1]} trials, {len(got['scenarios'])} scenarios, summary as "
                  f"committed")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    if failed:
        print(f"golden: {len(failed)} of {len(names)} cases differ: {', '.join(failed)}")
        print("If the change is meant to move numbers: test_golden.py CHOKEPOINT --update, read "
              "`git diff tests/golden`, commit with the reason.")
        return 1
    if not a.update:
        print(f"golden: all {len(names)} cases as committed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
