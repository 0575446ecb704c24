#!/usr/bin/env python3
"""Scenarios copy the value chains they share with the baseline (engine/chain_reuse.hpp): the same
results, bit for bit, as simulating every chain, with fewer LPs.

    test_chain_reuse.py CHOKEPOINT SOURCE_DIR WORKDIR

On the default study (configs/critical_materials.yaml and its three included chains, copied with
run.block_size 200 so that 600 trials make 3 blocks on 2 threads; under CHOKEPOINT_TEST_QUICK,
the sanitizer pass, block_size 100 and 200 trials):
1. With reuse (the default) and without (CHOKEPOINT_NO_CHAIN_REUSE=1), every dataset and attribute
   of the two files is identical except the solver counts (compare_runs.py
   --ignore-solver-counts): per-trial results, summaries, paired differences, chokepoints
   (with reuse, a copied demand's monthly bands are the baseline's, taken rather than selected
   again; without, selected from the scenario's own table).
2. The work saved is real: each scenario that edits one chain (a reserve, a refinery, a feed
   circuit) solves fewer LPs with reuse; the baseline and the scenarios that change every chain
   (the allocation rules, the allied bloc) solve exactly as many as without.
3. With reuse, 1 and 2 threads give the same file (the reuse is a function of the models only).
4. So do more threads than the machine has cores, and no run prints a TBB warning (the summary's
   parallel parts are capped at the cores).
5. In a scenario that edits one chain, a demand whose shortfalls equal the baseline's bit for bit
   has quantile differences of exactly 0 with a bootstrap standard error of exactly 0 (the
   summary skips resampling identical columns); a demand of the edited chain that differs has
   its standard error from the bootstrap (some > 0).
"""

import os
import re
import shutil
import subprocess
import sys

import h5py

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from clitest import child_setup, fail, identical, report  # noqa: E402
import compare_runs  # noqa: E402

ONE_CHAIN = ["ga_us_reserve_12m", "smco_us_reserve_6m", "ga_allied_refinery", "ga_us_feed"]
EVERY_CHAIN = ["baseline", "rule_coordinated", "rule_proportional", "allied_bloc"]


QUICK = bool(os.environ.get("CHOKEPOINT_TEST_QUICK"))
TRIALS = "200" if QUICK else "600"
BLOCK = "100" if QUICK else "200"


def run(exe, config, out, threads, reuse):
    env = dict(os.environ)
    env.pop("CHOKEPOINT_NO_CHAIN_REUSE", None)
    if not reuse:
        env["CHOKEPOINT_NO_CHAIN_REUSE"] = "1"
    r = subprocess.run([exe, "run", config, "--trials", TRIALS, "--threads", str(threads), "-o", out,
                        "--overwrite", "-q"], env=env, capture_output=True, preexec_fn=child_setup,
                       timeout=900)
    if r.returncode != 0:
        fail(f"run ({threads} threads, reuse {reuse})", f"exit {r.returncode}: "
             f"{r.stderr.decode()[-800:]}")
        return False
    if b"TBB Warning" in r.stderr:
        # More threads than cores is allowed (the bits do not depend on it); it must stay quiet.
        fail(f"run ({threads} threads, reuse {reuse})", "TBB warned: "
             f"{r.stderr.decode()[-400:]}")
        return False
    return True


def lps(path):
    with h5py.File(path, "r") as f:
        return {s: int(f[f"scenarios/{s}/solver/lps"][()].sum()) for s in f["scenarios"]}


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    exe, src, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    for name in ("critical_materials.yaml", "gallium.yaml", "samarium_cobalt.yaml", "ndfeb.yaml"):
        text = open(os.path.join(src, "configs", name)).read()
        if name == "critical_materials.yaml":
            shortened = re.sub(r"(?m)^  block_size: \d+$", f"  block_size: {BLOCK}", text)
            if shortened == text:
                fail("config", "critical_materials.yaml has no 'block_size: N' to shorten")
                return report("chain reuse", work)
            text = shortened
        with open(os.path.join(work, name), "w") as f:
            f.write(text)
    config = os.path.join(work, "critical_materials.yaml")
    full = os.path.join(work, "full.h5")
    reused = os.path.join(work, "reused.h5")
    reused1 = os.path.join(work, "reused_t1.h5")
    if not (run(exe, config, full, 2, False) and run(exe, config, reused, 2, True)):
        return report("chain reuse", work)
    rc = compare_runs.main(["compare_runs.py", "--ignore-solver-counts", reused, full])
    if rc != 0:
        fail("1. reuse vs every chain simulated", "the results differ (see above)")
    else:
        print("ok   1. reuse vs every chain simulated: identical but for the solver counts")
    a, b = lps(reused), lps(full)
    for s in ONE_CHAIN:
        if s not in a:
            fail("2.", f"scenario {s} missing from the default study")
        elif not a[s] < b[s]:
            fail(f"2. {s}", f"{a[s]} LPs with reuse, {b[s]} without: nothing saved")
        else:
            print(f"ok   2. {s}: {a[s]:,} LPs with reuse, {b[s]:,} without ({a[s] / b[s]:.0%})")
    for s in EVERY_CHAIN:
        if s in a and a[s] != b[s]:
            fail(f"2. {s}", f"{a[s]} LPs with reuse, {b[s]} without: it changes every chain")
        elif s in a:
            print(f"ok   2. {s}: {a[s]:,} LPs either way (no chain to reuse)")
    if run(exe, config, reused1, 1, True):
        identical("3. reuse on 1 thread vs 2", reused1, reused)
    # More threads than the machine has cores (the summary's parallel parts are capped at the
    # cores): the same file, and no TBB warning (run() checks).
    many = 2 * (os.cpu_count() or 1) + 1
    reused_many = os.path.join(work, "reused_many.h5")
    if run(exe, config, reused_many, many, True):
        identical(f"4. reuse on {many} threads vs 2", reused_many, reused)
    check_unchanged_demands(reused)
    return report("chain reuse", work)


def check_unchanged_demands(path):
    with h5py.File(path, "r") as f:
        base = f["scenarios/baseline/trials/shortfall"][:]
        for s in ONE_CHAIN:
            x = f[f"scenarios/{s}/trials/shortfall"][:]
            qd = f[f"scenarios/{s}/summary/diff_shortfall_quantiles"][:]
            qse = f[f"scenarios/{s}/summary/diff_shortfall_quantiles_se"][:]
            if x.shape != base.shape:
                fail(f"5. {s}", f"shortfall {x.shape} against the baseline's {base.shape}")
                continue
            same = [d for d in range(x.shape[1]) if x[:, d].tobytes() == base[:, d].tobytes()]
            bad = [d for d in same if not ((qd[d] == 0).all() and (qse[d] == 0).all())]
            spread = [d for d in range(x.shape[1]) if d not in same and (qse[d] > 0).any()]
            if not same or bad:
                fail(f"5. {s}", f"unchanged demands {same}; with a non-zero difference {bad}")
            elif not spread:
                fail(f"5. {s}", "no changed demand has a bootstrap standard error > 0")
            else:
                print(f"ok   5. {s}: {len(same)} unchanged demands with differences and standard "
                      f"errors of 0; {len(spread)} changed with a bootstrap spread")


if __name__ == "__main__":
    sys.exit(main())
