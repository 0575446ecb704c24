#!/usr/bin/env python3
"""Calibration of the shipped studies (docs/validation.md, "Calibration"): with every event
switched off, every demand of configs/gallium.yaml, samarium_cobalt.yaml and ndfeb.yaml is short
in under 2% of trials (the markets cleared in 2024), under the shipped rule.

usage: test_calibration.py CHOKEPOINT SOURCE_DIR [TRIALS]

Runs scripts/calibrate.py --max-p 0.02 on each (2,000 trials by default: at the measured
P(short) <= 0.8% the standard error is ~0.2%, so 2% is > 5 SE away). Then the script's own
contract, on small configs made here:
  - an importance-sampled config (configs/rare/capacity_tail.yaml: P(short) = Phi(-4) = 3.2e-5
    with every event off) is calibrated as a plain Monte Carlo: P(short) <= 0.005 at 2,000 trials
    (its proposal once went into unweighted means: 0.015);
  - an include of a part one directory up (shared/part.yaml) is copied into the script's own temporary directory, and
    nothing is written beside the config's directories;
  - a missing config or program: exit 2 with a message, no traceback.
Exit 0 when all pass.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__)
        return 2
    exe, src = argv[1], argv[2]
    trials = argv[3] if len(argv) == 4 else "2000"
    fails = 0
    for name in ("gallium", "samarium_cobalt", "ndfeb"):
        cfg = os.path.join(src, "configs", name + ".yaml")
        r = subprocess.run([sys.executable, os.path.join(src, "scripts", "calibrate.py"), exe, cfg,
                            "--trials", trials, "--max-p", "0.02"], capture_output=True, text=True)
        print(r.stdout, end="")
        if r.returncode != 0:
            print(f"FAIL {name}: exit {r.returncode}: {r.stderr}")
            fails += 1
    script = os.path.join(src, "scripts", "calibrate.py")

    def calibrate(*args, env=None):
        return subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                              env=env)

    r = calibrate(exe, os.path.join(src, "configs", "rare", "capacity_tail.yaml"), "--trials",
                  "2000", "--json")
    try:
        p = max(d["p_short"] for d in json.loads(r.stdout)["demands"])
    except (ValueError, KeyError):
        p = None
    if r.returncode != 0 or p is None or p > 0.005:
        print(f"FAIL importance-sampled config: exit {r.returncode}, P(short) {p}: {r.stderr}")
        fails += 1
    else:
        print(f"ok   importance-sampled config calibrated as plain Monte Carlo: P(short) {p}")
    work = tempfile.mkdtemp(prefix="calibration_test_")
    try:
        os.makedirs(os.path.join(work, "a", "b"))
        with open(os.path.join(src, "configs", "examples", "tiny.yaml")) as f:
            text = f.read()
        # main.yaml includes the part one directory up, work/a/shared (inside `work` too).
        part = os.path.join(os.pardir, "shared", "part.yaml")
        with open(os.path.join(work, "a", "b", "main.yaml"), "w") as f:
            f.write(text.replace("name: tiny", f"name: tiny\ninclude: [{part}]", 1))
        os.makedirs(os.path.join(work, "a", "shared"))
        with open(os.path.join(work, "a", "shared", "part.yaml"), "w") as f:
            f.write("lanes: []\n")
        # The script's temporary directory inside `work`: a file written to its parent's
        # "shared" would land in work/shared.
        os.makedirs(os.path.join(work, "tmp"))
        before = sorted(os.listdir(work))
        r = calibrate(exe, os.path.join(work, "a", "b", "main.yaml"), "--trials", "200",
                      env=dict(os.environ, TMPDIR=os.path.join(work, "tmp")))
        stray = sorted(os.listdir(work)) != before or os.listdir(os.path.join(work, "tmp"))
        if r.returncode != 0 or stray:
            print(f"FAIL include with '..': exit {r.returncode}, stray files: {stray}: {r.stderr}")
            fails += 1
        else:
            print(f"ok   include of {part}: calibrated, nothing written outside")
        # Files that do not exist, named inside the test's own directory.
        for args, what in (((exe, os.path.join(work, "no_such_config.yaml")), "missing config"),
                           ((os.path.join(work, "no_such_chokepoint"),
                             os.path.join(src, "configs", "gallium.yaml")), "missing program")):
            r = calibrate(*args)
            if r.returncode != 2 or "Traceback" in r.stderr or "error:" not in r.stderr:
                print(f"FAIL {what}: exit {r.returncode}: {r.stderr[-300:]}")
                fails += 1
            else:
                print(f"ok   {what}: exit 2, {r.stderr.strip()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("calibration checks " + ("FAILED" if fails else "passed"))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
