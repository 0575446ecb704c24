#!/usr/bin/env python3
"""Importance sampling (run.importance) on rare outcomes with closed forms (docs/importance.md).

    test_importance.py CHOKEPOINT SOURCE_DIR WORKDIR

The configs of configs/rare/ (and a cross-entropy variant of two_bans written here):
  two_bans       P(us_tier1 short) = 0.01^2 = 1e-4, P(us_tier2 short) = 1 - 0.99^2 (hand tilt)
  two_bans, LHS  the same, Latin hypercube of 10 replicates (errors from replicate means)
  two_bans, CE   the same, with the proposal fitted by the cross-entropy method
  hazard_window  P(buyer short) = 1 - exp(-0.001)
  capacity_tail  P(buyer short) = Phi(-4)

1. Accuracy: each estimate within 4 of its standard errors of the closed form.
2. Variance reduction: the closed-form variance of plain Monte Carlo at the same trials,
   p (1 - p) / n, over the squared standard error: at least 10 (printed; docs/importance.md).
3. Coverage: over 40 seeds of 2,000 trials, the 95% interval (+- 1.96 SE) covers the closed form
   at least 34 times (the 0.3% tail of binomial(40, 0.95)), for a hand tilt and for a tail tilt
   (not under CHOKEPOINT_TEST_QUICK, the sanitizer pass: the same C++ paths, 80 runs).
4. The same bits: the cross-entropy run on 1 and 2 threads (fitted proposal, weights, summary),
   resumed from a checkpoint, and in 2 shards merged; the hand-tilted run in 2 shards merged.
5. The file: trials/weight present, the summary's ess, weight_mean (~1), p_short_ess; /importance
   with the proposals; `summary` prints the ESS lines and --json carries them.
"""

import json
import math
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from clitest import fail, identical, ok, report, run  # noqa: E402

P_TWO = 1e-4
P_EITHER = 1 - 0.99 ** 2
P_HAZARD = -math.expm1(-0.001)
P_TAIL = 0.5 * math.erfc(4 / math.sqrt(2))


def estimate(h5, demand, scenario="baseline"):
    with h5py.File(h5, "r") as f:
        s = f[f"scenarios/{scenario}/summary"]
        ids = [x.decode() if isinstance(x, bytes) else x for x in s["demand"][:]]
        d = ids.index(demand)
        return float(s["p_short"][d]), float(s["p_short_se"][d]), int(f.attrs["trials"])


def simulate(exe, config, out, *extra):
    rc, _, err = run([exe, "run", config, "-o", out, "--overwrite", "-q", *extra])
    if rc != 0:
        fail(f"run {os.path.basename(config)} {' '.join(extra)}", f"exit {rc}: {err[-800:]}")
        return False
    return True


def accuracy(exe, cases, work):
    print("== 1-2. accuracy and variance reduction (20,000 trials each)")
    rows = []
    for name, config, demand, p in cases:
        h5 = os.path.join(work, f"{name}.h5")
        if not simulate(exe, config, h5):
            continue
        est, se, n = estimate(h5, demand)
        z = (est - p) / se if se > 0 else float("inf")
        vr = p * (1 - p) / n / se ** 2 if se > 0 else float("inf")
        rows.append((name, demand, p, est, se, z, vr))
        ok(f"{name} {demand}: {est:.4g} +- {se:.2g} vs closed form {p:.4g} (z = {z:+.2f})",
           abs(z) <= 4, "more than 4 SE from the closed form")
        ok(f"{name} {demand}: variance reduction {vr:,.0f}x at equal trials", vr >= 10,
           "below 10x")
    print("case | demand | closed form | estimate | SE | z | variance reduction")
    for r in rows:
        print(f"{r[0]} | {r[1]} | {r[2]:.4g} | {r[3]:.4g} | {r[4]:.2g} | {r[5]:+.2f} | {r[6]:,.0f}x")


def coverage(exe, name, config, demand, p, work, seeds=40, trials=2000):
    covered = 0
    for seed in range(1, seeds + 1):
        h5 = os.path.join(work, f"cov_{name}.h5")
        if not simulate(exe, config, h5, "--seed", str(seed), "--trials", str(trials)):
            return
        est, se, _ = estimate(h5, demand)
        covered += abs(est - p) <= 1.959963984540054 * se
    ok(f"coverage {name}: the 95% interval covers {p:.4g} in {covered} of {seeds} seeds",
       covered >= 34, "fewer than 34 of 40")


def same_bits(exe, src, ce_config, work):
    print("== 4. the same bits across threads and shards")
    one = os.path.join(work, "ce_t1.h5")
    two = os.path.join(work, "ce_t2.h5")
    if simulate(exe, ce_config, one, "--threads", "1") and \
            simulate(exe, ce_config, two, "--threads", "2"):
        identical("cross-entropy, 1 vs 2 threads", two, one)
        with h5py.File(one, "r") as a, h5py.File(two, "r") as b:
            for k in ("edges", "mass", "cross_entropy_rounds"):
                ok(f"cross-entropy /importance/{k} identical on 1 and 2 threads",
                   np.array_equal(a[f"importance/{k}"][:], b[f"importance/{k}"][:]))
    hand = os.path.join(src, "configs", "rare", "two_bans.yaml")
    whole = os.path.join(work, "whole.h5")
    parts = [os.path.join(work, f"part{k}.h5") for k in (1, 2)]
    merged = os.path.join(work, "merged.h5")
    if simulate(exe, hand, whole, "--trials", "4000") and all(
            simulate(exe, hand, parts[k - 1], "--trials", "4000", "--shard", f"{k}/2")
            for k in (1, 2)):
        rc, _, err = run([exe, "merge", merged, *parts, "--overwrite", "-q"])
        if ok("merge of 2 importance-sampled shards", rc == 0, err[-500:]):
            identical("2 shards merged vs one run", merged, whole)
    # A run stopped by a failing LP (test hook) resumes from its checkpoint to the same bits: the
    # resumed run refits the proposal and continues the weighted sums exactly.
    ref = os.path.join(work, "ce_ref5k.h5")
    out = os.path.join(work, "ce_resumed.h5")
    if simulate(exe, ce_config, ref, "--trials", "5000"):
        env = dict(os.environ, CHOKEPOINT_TEST_FAIL_LP="2500:0")
        r = subprocess.run([exe, "run", ce_config, "--trials", "5000", "-o", out, "--overwrite",
                            "-q", "--checkpoint-every", "0"], env=env, capture_output=True,
                           timeout=300)
        ckpt = out + ".checkpoint"
        if ok("cross-entropy run stopped by a failing LP leaves a checkpoint",
              r.returncode == 1 and os.path.isfile(ckpt), r.stderr.decode()[-500:]):
            rc, _, err = run([exe, "run", "--resume", ckpt, "-q"])
            if ok("resume of the importance-sampled checkpoint", rc == 0, err[-500:]):
                identical("cross-entropy: resumed vs uninterrupted", out, ref)
    # The cross-entropy run merged from shards: the same fitted proposal in /importance.
    ce_parts = [os.path.join(work, f"ce_part{k}.h5") for k in (1, 2)]
    ce_merged = os.path.join(work, "ce_merged.h5")
    if all(simulate(exe, ce_config, ce_parts[k - 1], "--shard", f"{k}/2") for k in (1, 2)):
        rc, _, err = run([exe, "merge", ce_merged, *ce_parts, "--overwrite", "-q"])
        if ok("merge of 2 cross-entropy shards", rc == 0, err[-500:]):
            identical("cross-entropy: 2 shards merged vs one run", ce_merged, one)


def file_checks(exe, h5):
    print("== 5. the file and the summary")
    with h5py.File(h5, "r") as f:
        s = f["scenarios/baseline/summary"]
        w = f["scenarios/baseline/trials/weight"][:]
        n = int(f.attrs["trials"])
        ok("trials/weight: one finite positive weight per trial",
           w.shape == (n,) and bool(np.all(np.isfinite(w) & (w > 0))))
        ess = float(s.attrs["ess"])
        ok(f"summary ess {ess:.1f} = (sum w)^2 / sum w^2",
           math.isclose(ess, w.sum() ** 2 / (w ** 2).sum(), rel_tol=1e-9))
        wm = float(s.attrs["weight_mean"])
        ok(f"summary weight_mean {wm:.4f} within 4 SE of 1",
           abs(wm - 1) <= 4 * w.std(ddof=1) / math.sqrt(n))
        sm = f["scenarios/baseline/trials/short_months"][:, 0] > 0
        pe = float(s["p_short_ess"][0])
        ok("p_short_ess = (sum w 1)^2 / sum w^2 1 over short trials",
           math.isclose(pe, w[sm].sum() ** 2 / (w[sm] ** 2).sum(), rel_tol=1e-9))
        ok("p_short = mean of w 1{short} over all trials",
           math.isclose(float(s["p_short"][0]), float((w * sm).mean()), rel_tol=1e-12))
        imp = f["importance"]
        ok("/importance names the tilted inputs",
           sorted(x.decode() for x in imp["inputs"][:]) ==
           ["event/ban_a/occurs", "event/ban_b/occurs"])
        # The quantile estimator: the smallest x whose weighted exceedance is <= 1 - p.
        x = f["scenarios/baseline/trials/shortfall"][:, 1]
        levels = s["quantile_levels"][:]
        q = s["shortfall_quantiles"][1]
        for lv, qv in zip(levels, q):
            vals = np.unique(x)
            tail = np.array([(w * (x > v)).sum() / n for v in vals])
            expect = vals[np.argmax(tail <= 1 - lv)]
            ok(f"weighted quantile {lv}: {qv} = min{{x : P(X > x) <= {1 - lv:.2g}}}",
               qv == expect, f"expected {expect}")
        # The quantiles' 95% intervals, by inverting the exceedance estimate (docs/importance.md):
        # walking down the distinct values, each end is the last v of the run from the top with
        # P(X > v) -+ z se <= 1 - p, so that lo <= q <= hi. Both demands: us_tier1's quantiles
        # all sit on the atom at 0 (P(short) 1e-4: the upper end was NaN), us_tier2's 0.99
        # quantile is 50 t on a two-point distribution (the upper end was 0, below it).
        z = 1.959963984540054
        for d in (0, 1):
            xd = f["scenarios/baseline/trials/shortfall"][:, d]
            vals = np.unique(xd)[::-1]  # descending
            tails = np.array([(w * (xd > v)).sum() / n for v in vals])
            ses = np.array([math.sqrt(max(0.0, ((w * (xd > v)) ** 2).sum() - n * t * t) / (n - 1) / n)
                            for v, t in zip(vals, tails)])
            lo_got, hi_got = s["shortfall_quantiles_ci_low"][d], s["shortfall_quantiles_ci_high"][d]
            for k, lv in enumerate(levels):
                t = 1 - lv
                def run_end(cond):  # the last value of the run from the top where cond holds
                    return vals[(np.argmin(cond) - 1) if not cond.all() else len(vals) - 1]

                hi = run_end(tails + z * ses <= t)
                lo = run_end(tails - z * ses <= t)
                qv = s["shortfall_quantiles"][d][k]
                ok(f"demand {d}, weighted quantile {lv}: interval [{lo_got[k]:.6g}, {hi_got[k]:.6g}] "
                   f"inverts the exceedance estimate and holds the estimate {qv:.6g}",
                   math.isclose(hi_got[k], hi, rel_tol=1e-12, abs_tol=1e-12)
                   and math.isclose(lo_got[k], lo, rel_tol=1e-12, abs_tol=1e-12)
                   and lo_got[k] <= qv <= hi_got[k], f"expected [{lo}, {hi}]")
        # CVaR (Rockafellar-Uryasev), the exceedance curve and a conditional view, recomputed.
        var = s["var"][1]
        for a, lv in enumerate(s["var_levels"][:]):
            cv = var[a] + (w * np.maximum(x - var[a], 0)).mean() / (1 - lv)
            ok(f"weighted CVaR {lv}: {s['cvar'][1][a]:.6g} = VaR + E[w (X - VaR)+] / (1 - a)",
               math.isclose(float(s["cvar"][1][a]), float(cv), rel_tol=1e-9, abs_tol=1e-12))
        gx, ge = s["exceedance_x"][1], s["exceedance_p"][1]
        exp_e = np.array([(w * (x > g)).mean() for g in gx])
        ok("weighted exceedance curve = mean of w 1{X > x}",
           np.allclose(ge, exp_e, rtol=1e-9, atol=1e-15))
        onset = f["scenarios/baseline/trials/event_onset"][:, 0]
        short1 = f["scenarios/baseline/trials/short_months"][:, 1] > 0
        fired = onset >= 0
        expect = (w[fired] * short1[fired]).sum() / w[fired].sum()
        ok("p_short_given_event = sum w 1{short} / sum w over trials where the event fired",
           math.isclose(float(s["p_short_given_event"][0][1]), float(expect), rel_tol=1e-9))
    config = os.path.join(os.path.dirname(os.path.dirname(HERE)), "configs", "rare",
                          "two_bans.yaml")
    rc, out, err = run([exe, "validate", config])
    ok("validate describes the tilts", rc == 0 and
       "tilt event/ban_a/occurs: quantiles [0.99, 1) get 0.5 of the proposal" in out, out + err)
    rc, out, err = run([exe, "summary", h5])
    ok("summary prints the ESS lines", rc == 0 and "ESS behind P(short)" in out and
       "Importance-sampled" in out, out + err)
    rc, out, err = run([exe, "summary", h5, "--json"])
    if ok("summary --json exits 0", rc == 0, err):
        j = json.loads(out)
        sc = j["scenarios"][0]
        ok("--json: importance_sampling.ess and each demand's p_short_ess",
           "importance_sampling" in sc and "p_short_ess" in sc["demands"][0])


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    exe, src, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    rare = os.path.join(src, "configs", "rare")
    # The cross-entropy variant of two_bans: the same model, the proposal fitted.
    text = open(os.path.join(rare, "two_bans.yaml")).read()
    head, rest = text.split("  importance:\n", 1)
    rest = rest.split("\nproducts:", 1)[1]
    ce_config = os.path.join(work, "two_bans_ce.yaml")
    with open(ce_config, "w") as f:
        f.write(head + "  importance:\n    cross_entropy: {demand: us_tier1}\n\nproducts:" + rest)
    # A Latin hypercube of 10 replicates under the same tilt: the tilt maps strata to strata of the
    # proposal; the error comes from the replicate means of w x.
    lhs_config = os.path.join(work, "two_bans_lhs.yaml")
    with open(lhs_config, "w") as f:
        f.write(text.replace("  store_monthly: false\n",
                             "  store_monthly: false\n  sampler: lhs\n  replicates: 10\n"))
    cases = [
        ("two_bans", os.path.join(rare, "two_bans.yaml"), "us_tier1", P_TWO),
        ("two_bans_lhs", lhs_config, "us_tier1", P_TWO),
        ("two_bans", os.path.join(rare, "two_bans.yaml"), "us_tier2", P_EITHER),
        ("two_bans_ce", ce_config, "us_tier1", P_TWO),
        ("hazard_window", os.path.join(rare, "hazard_window.yaml"), "buyer", P_HAZARD),
        ("capacity_tail", os.path.join(rare, "capacity_tail.yaml"), "buyer", P_TAIL),
    ]
    accuracy(exe, cases, work)
    if os.environ.get("CHOKEPOINT_TEST_QUICK"):
        # The sanitizer pass: the same C++ paths as one seed; the statistics are the plain pass's.
        print("== 3. coverage: skipped under CHOKEPOINT_TEST_QUICK (the sanitizer pass)")
    else:
        print("== 3. coverage of the 95% interval over seeds")
        coverage(exe, "two_bans", cases[0][1], "us_tier1", P_TWO, work)
        coverage(exe, "capacity_tail", cases[5][1], "buyer", P_TAIL, work)
    same_bits(exe, src, ce_config, work)
    file_checks(exe, os.path.join(work, "two_bans.h5"))
    return report("importance sampling", work)


if __name__ == "__main__":
    sys.exit(main())
