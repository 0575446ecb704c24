#!/usr/bin/env python3
"""chokepoint and an independent numpy implementation agree on scripts/bench/closed_form_chain.yaml.

    test_closed_form_chain.py CHOKEPOINT WORKDIR

The benchmark chain of issue 13 (three mines, two refiners with a 1.15 recipe, outages, an export
control, a tier-1 demand with a stockpile, two tier-2 demands, 36 months) has a closed-form monthly
allocation; scripts/bench/closed_form_numpy.py simulates it from that closed form with numpy's own
random numbers. Every demand's eud, lose and p_short must agree within 4 standard errors of the
difference (scripts/bench/compare_closed_form.py). The check has teeth: in the numpy twin, an
outage rate of 0.5 a year instead of 0.6 moved a statistic by 8.9 standard errors, and durations
truncated instead of rounded by 15.8 (measured at 200,000 trials each; at this test's 100,000
chokepoint trials the combined error is about 1.2x larger).
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BENCH = os.path.join(ROOT, "scripts", "bench")


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    h5 = os.path.join(work, "closed_form_chain.h5")
    js = os.path.join(work, "numpy.json")
    subprocess.run([exe, "run", os.path.join(BENCH, "closed_form_chain.yaml"), "-o", h5,
                    "--overwrite", "--trials", "100000", "--threads", "2", "-q"], check=True)
    with open(js, "w") as f:
        subprocess.run([sys.executable, os.path.join(BENCH, "closed_form_numpy.py"),
                        "--trials", "200000", "--seed", "5"], check=True, stdout=f)
    return subprocess.run([sys.executable, os.path.join(BENCH, "compare_closed_form.py"), h5,
                           js]).returncode


if __name__ == "__main__":
    sys.exit(main())
