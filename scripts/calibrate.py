#!/usr/bin/env python3
"""Calibration check of a study (docs/validation.md, "Calibration"): with every event switched off
(the undisrupted market of the base years), are the demands served in full?

    calibrate.py CHOKEPOINT CONFIG [--trials N] [--seed S] [--rule RULE] [--max-p P] [--json]

Copies CONFIG and the files it includes to a temporary directory without their `events` and
`scenarios` (facility outages stay: they are a plant's normal life), and without the run settings
that would bias or reshape a plain Monte Carlo of that market (`run.importance`, whose tilts point
at the events or lean on rare inputs; `run.sensitivity`; correlations that name an event), runs
it, and prints per demand P(any short month) and the mean shortfall share, with their standard
errors, and the facilities that bind most often. --rule overrides allocation.rule. With
--max-p, exits 1 when a demand's P(short) exceeds P; bad arguments exit 2. Needs PyYAML and h5py
(Debian python3-yaml, python3-h5py).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import yaml


def strip(path, dst_dir, rule, names, main=True):
    """Writes the config at `path` (and, recursively, its includes) into dst_dir without events,
    each file under a name of its own (f<k>_<base name>: never outside dst_dir, whatever `..` an
    include holds), its include list pointing at those names; returns the name written."""
    path = os.path.abspath(path)
    if path in names:
        return names[path]
    with open(path) as f:
        d = yaml.safe_load(f)
    out_name = f"f{len(names)}_{os.path.basename(path)}"
    names[path] = out_name
    if isinstance(d, dict):
        d.pop("events", None)
        d.pop("scenarios", None)
        run = d.get("run")
        if isinstance(run, dict):
            # A plain Monte Carlo of the undisrupted market: no proposal (its weights would be
            # needed, and its tilts name events that are gone), no sensitivity design.
            for key in ("importance", "sensitivity", "sensitivity_inputs"):
                run.pop(key, None)
            if isinstance(run.get("correlations"), list):
                run["correlations"] = [
                    c for c in run["correlations"] if not isinstance(c, dict) or not any(
                        str(x).startswith("event/") for x in c.get("between") or [])]
        if rule and main:
            d.setdefault("allocation", {})["rule"] = rule
            if rule != "home_first":
                d["allocation"].pop("blocs", None)
            if rule != "proportional":
                d["allocation"].pop("reference", None)
                d["allocation"].pop("trade_shares", None)
        incs = d.get("include", []) or []
        if isinstance(incs, list):
            d["include"] = [strip(os.path.join(os.path.dirname(path), inc), dst_dir, rule, names,
                                  False) for inc in incs]
    with open(os.path.join(dst_dir, out_name), "w") as f:
        yaml.safe_dump(d, f, sort_keys=False)
    return out_name


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("chokepoint")
    ap.add_argument("config")
    ap.add_argument("--trials", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rule")
    ap.add_argument("--max-p", type=float)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv[1:])
    if not os.path.isfile(a.config):
        print(f"calibrate.py: error: config file not found: {a.config}", file=sys.stderr)
        return 2
    if not (os.path.isfile(a.chokepoint) and os.access(a.chokepoint, os.X_OK)):
        print(f"calibrate.py: error: not an executable: {a.chokepoint} (give the chokepoint "
              "program, e.g. build/chokepoint)", file=sys.stderr)
        return 2
    if a.trials < 1:
        print(f"calibrate.py: error: --trials must be at least 1, got {a.trials}", file=sys.stderr)
        return 2
    work = tempfile.mkdtemp(prefix="calibrate_")
    try:
        try:
            name = strip(a.config, work, a.rule, {})
        except (OSError, yaml.YAMLError) as e:
            print(f"calibrate.py: error: reading {a.config} or a file it includes: {e}",
                  file=sys.stderr)
            return 2
        out = os.path.join(work, "out.h5")
        r = subprocess.run([a.chokepoint, "run", os.path.join(work, name), "-o", out, "-q",
                            "--trials", str(a.trials), "--seed", str(a.seed)],
                           stderr=subprocess.PIPE)
        if r.returncode != 0:
            print(r.stderr.decode(errors="replace"), file=sys.stderr)
            return 2
        with h5py.File(out, "r") as f:
            g = f["scenarios/baseline/trials"]
            names = [x.decode() if isinstance(x, bytes) else x for x in g["demand"][:]]
            short = g["short_months"][:] > 0
            share = g["shortfall_share"][:]
            facs = [x.decode() if isinstance(x, bytes) else x for x in g["facility"][:]]
            fb = (g["facility_binding_months"][:] > 0).mean(axis=0)
        n = short.shape[0]
        rows = []
        for i, d in enumerate(names):
            p = short[:, i].mean()
            rows.append({"demand": d, "p_short": float(p),
                         "p_short_se": float(np.sqrt(p * (1 - p) / n)),
                         "mean_share": float(share[:, i].mean()),
                         "mean_share_se": float(share[:, i].std(ddof=1) / np.sqrt(n))})
        top = [{"facility": facs[i], "p_binding": float(fb[i])}
               for i in np.argsort(-fb)[:5] if fb[i] > 0]
        worst = max(r["p_short"] for r in rows)
        if a.json:
            print(json.dumps({"config": a.config, "trials": n, "seed": a.seed,
                              "rule": a.rule or "config", "demands": rows, "binding": top}))
        else:
            print(f"{a.config}: every event off, {n} trials, seed {a.seed}"
                  f"{', rule ' + a.rule if a.rule else ''}")
            for r in rows:
                print(f"  {r['demand']:24s} P(short) {r['p_short']:.4f} +- {r['p_short_se']:.4f}"
                      f"   mean shortfall share {r['mean_share']:.2e}")
            if top:
                print("  binds most often: " + ", ".join(
                    f"{t['facility']} {t['p_binding']:.3f}" for t in top))
        if a.max_p is not None and worst > a.max_p:
            print(f"FAIL: P(short) {worst:.4f} > {a.max_p}", file=sys.stderr)
            return 1
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
