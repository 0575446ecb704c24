#!/usr/bin/env python3
"""The model of scripts/bench/closed_form_chain.yaml, simulated with vectorised numpy.

An independent implementation of the same model from its closed form (see the config's header):
each input is drawn with numpy's own generator (so the numbers agree with chokepoint's only
statistically), every trial of a chunk is simulated at once, month by month. It prints, per
demand, the statistics chokepoint writes (eud, lose, p_short with their standard errors) and the
time it took, as JSON.

    closed_form_numpy.py [--trials N] [--seed S] [--chunk C]

It is half of a benchmark (scripts/bench.sh times it against `chokepoint run` on the config, per
core, and prints the ratio) and the oracle of tests/python/test_closed_form_chain.py. The model's
numbers are written here once more on purpose: the config is the other implementation's input,
and a change to one that is not made to the other is what the test exists to catch.
"""

import argparse
import json
import os
import sys
import time

# One core: numpy's elementwise work is single-threaded, but keep any BLAS pool out of the timing.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

H = 36  # months
RECIPE = 1.15  # t ore per t metal
SHORT_TOL = 1e-9  # a month is short when the shortfall exceeds this share of the want
DEMANDS = ("us_defense", "us_civil", "us_industry")


def pert(rng, n, lo, mode, hi, lam=4.0):
    a = 1 + lam * (mode - lo) / (hi - lo)
    b = 1 + lam * (hi - mode) / (hi - lo)
    return lo + (hi - lo) * rng.beta(a, b, n)


def end_month(onset, duration):
    """Active months [onset, end): max(1, round-half-up(duration)) months, cut at the horizon."""
    d = np.maximum(1.0, np.floor(duration + 0.5))
    return np.minimum(H, onset + d)


def simulate(rng, n):
    """Totals of n trials: per demand the shortfall (t) and the short months, each [n]."""
    months = np.arange(H)

    def monthly(cap, avail=None):
        c = cap / 12.0
        return c if avail is None else c * avail

    ore = (monthly(pert(rng, n, 60, 80, 100), rng.uniform(0.85, 1.0, n)) +
           monthly(pert(rng, n, 10, 15, 22), rng.uniform(0.8, 1.0, n)) +
           monthly(rng.uniform(5, 12, n), rng.uniform(0.7, 1.0, n)))
    cap_cn = monthly(pert(rng, n, 60, 75, 90))
    cap_us = np.repeat(monthly(pert(rng, n, 6, 9, 12))[:, None], H, axis=1)
    # Outages at the US refiner: Poisson arrivals at 0.6 a year; each lasts a PERT number of
    # months from the month it arrives in and removes a uniform share of capacity; overlapping
    # outages multiply what they keep.
    t = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        t = t + rng.exponential(12.0 / 0.6, n)
        alive &= t < H
        if not alive.any():
            break
        on = np.floor(t)
        end = end_month(on, pert(rng, n, 1, 2, 5))
        keep = 1.0 - rng.uniform(0.5, 1.0, n)
        hit = alive[:, None] & (months[None, :] >= on[:, None]) & (months[None, :] < end[:, None])
        cap_us = np.where(hit, cap_us * keep[:, None], cap_us)
    want = (monthly(pert(rng, n, 8, 10, 12)), monthly(pert(rng, n, 20, 25, 30)),
            monthly(rng.uniform(10, 20, n)))
    # China's export control on metal to the US.
    fires = rng.uniform(size=n) < 0.4
    onset = np.floor(rng.uniform(0, 36, n))
    end = end_month(onset, pert(rng, n, 3, 9, 18))
    leak = np.clip(pert(rng, n, 0.0, 0.05, 0.2), 0.0, 1.0)
    fires &= onset < H

    q = ore / RECIPE  # metal the month's ore allows
    level = np.full(n, 1.5)
    short_t = [np.zeros(n) for _ in DEMANDS]
    short_m = [np.zeros(n) for _ in DEMANDS]
    w1, w2a, w2b = want
    w2 = w2a + w2b
    for m in range(H):
        cu = cap_us[:, m]
        active = fires & (onset <= m) & (m < end)
        x_us = np.minimum(cu, q)
        x_cn = np.minimum(cap_cn, q - x_us)
        supply = np.where(active, x_us + leak * x_cn, np.minimum(cu + cap_cn, q))
        d1 = np.minimum(w1, supply)
        rest = supply - d1
        fill = np.minimum(1.0, rest / w2)
        gap1 = w1 - d1
        draw = np.minimum(np.minimum(gap1, 0.5), level)
        level = level - draw
        gaps = (gap1 - draw, w2a * (1.0 - fill), w2b * (1.0 - fill))
        left = rest - fill * w2
        level = level + np.minimum(np.minimum(0.3, 1.5 - level), np.maximum(left, 0.0))
        for k, (g, w) in enumerate(zip(gaps, want)):
            short_t[k] += g
            short_m[k] += g > SHORT_TOL * w
    return short_t, short_m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=200000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--chunk", type=int, default=50000, help="trials simulated at once")
    args = ap.parse_args()
    if args.trials < 2 or args.chunk < 1:
        sys.exit("closed_form_numpy.py: error: --trials must be >= 2 and --chunk >= 1")
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    sums = np.zeros((len(DEMANDS), 6))  # sum x, x^2 of shortfall, short months, short indicator
    done = 0
    while done < args.trials:
        n = min(args.chunk, args.trials - done)
        short_t, short_m = simulate(rng, n)
        for k in range(len(DEMANDS)):
            ind = (short_m[k] > 0).astype(float)
            for j, x in enumerate((short_t[k], short_m[k], ind)):
                sums[k, 2 * j] += x.sum()
                sums[k, 2 * j + 1] += (x * x).sum()
        done += n
    secs = time.perf_counter() - t0
    n = args.trials
    out = {"trials": n, "seconds": secs, "trials_per_s": n / secs, "demands": {}}
    for k, name in enumerate(DEMANDS):
        st = {}
        for j, key in enumerate(("eud", "lose", "p_short")):
            s, s2 = sums[k, 2 * j], sums[k, 2 * j + 1]
            mean = s / n
            var = max(0.0, (s2 - s * s / n) / (n - 1))
            st[key] = mean
            st[key + "_se"] = (var / n) ** 0.5
        out["demands"][name] = st
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
