#!/usr/bin/env python3
"""Do chokepoint and the numpy closed form agree on scripts/bench/closed_form_chain.yaml?

    compare_closed_form.py RESULTS.h5 NUMPY.json [--z 4]

RESULTS.h5 is `chokepoint run scripts/bench/closed_form_chain.yaml`; NUMPY.json is the output of
scripts/bench/closed_form_numpy.py. The two draw their inputs from different generators, so they
agree only statistically: for every demand and statistic (eud, lose, p_short) it prints the
difference in units of its standard error, sqrt(se_a^2 + se_b^2), and exits 1 when any exceeds
--z (default 4: a false alarm about once in 16,000 comparisons of a correct implementation).
"""

import argparse
import json
import math
import sys

import h5py


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results")
    ap.add_argument("numpy_json")
    ap.add_argument("--z", type=float, default=4.0)
    args = ap.parse_args()
    with open(args.numpy_json) as f:
        ref = json.load(f)
    worst = 0.0
    with h5py.File(args.results, "r") as h5:
        ids = [x.decode() if isinstance(x, bytes) else str(x) for x in h5["model/demands"][:]]
        s = h5["scenarios/baseline/summary"]
        print(f"{'demand':<14}{'statistic':<10}{'chokepoint':>22}{'numpy':>22}{'z':>7}")
        for d, name in enumerate(ids):
            want = ref["demands"][name]
            for key in ("eud", "lose", "p_short"):
                a, sa = float(s[key][d]), float(s[key + "_se"][d])
                b, sb = want[key], want[key + "_se"]
                se = math.hypot(sa, sb)
                z = (a - b) / se if se > 0 else (0.0 if a == b else math.inf)
                worst = max(worst, abs(z))
                print(f"{name:<14}{key:<10}{a:>13.5g} ± {sa:<7.2g}{b:>13.5g} ± {sb:<7.2g}{z:>7.2f}")
    ok = worst <= args.z
    print(f"largest |z| {worst:.2f}: {'agree' if ok else 'DISAGREE'} (limit {args.z})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
