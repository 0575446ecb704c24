#!/usr/bin/env python3
"""Calibration of the shipped studies (docs/validation.md, "Calibration"): with every event
switched off, every demand of configs/gallium.yaml, samarium_cobalt.yaml and ndfeb.yaml is short
in under 2% of trials (the markets cleared in 2024), under the shipped rule.

usage: test_calibration.py CHOKEPOINT SOURCE_DIR [TRIALS]

Runs scripts/calibrate.py --max-p 0.02 on each (2,000 trials by default: at the measured
P(short) <= 0.8% the standard error is ~0.2%, so 2% is > 5 SE away). Exit 0 when all pass.
"""
import os
import subprocess
import sys


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
    print("calibration checks " + ("FAILED" if fails else "passed"))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
