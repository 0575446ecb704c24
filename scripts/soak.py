#!/usr/bin/env python3
"""Soak benchmark of the allocation solver (docs/robustness.md, "Soak"): runs every shipped config
at many seeds and shard slices, and randomly generated valid configs, and reports trial-months
solved, allocation LPs per solver rung and failures.

    soak.py CHOKEPOINT [--quick] [--trials N] [--seeds S...] [--random N] [--jobs J] [--out DIR]
            [--seed S]
            [--configs FILE...] [--run-args "ARGS"]

--trials N   trials of each shipped config in all (default 1,000,000; --quick 2,000), run as
             seeds 1, 2, ... of 50,000 trials (--quick: 2,000) cut into 5 shards (--quick: 2),
             each shard one process (a shard needs at least one block of run.block_size)
             (0: none, only the random configs)
--seeds S..  run the shipped configs at these seeds instead (50,000 trials each)
--random N   random configs (default 10,000; --quick 40), from scripts/soak_configs.py with
             seed S (default 1), 200 trials each
--jobs J     processes at a time (default: the CPUs), each with --threads 1
--run-args   extra `chokepoint run` options for the shipped configs (e.g. "--scenario baseline")
--out DIR    work directory (default results/soak); failing runs keep their LP file, checkpoint
             and message there; a JSON summary is written to DIR/soak.json

Exit status 0 when every run finished, 1 when any failed (the report names them), 2 on bad use.
A run "fails" when chokepoint exits non-zero: an LP that no rung solved, or anything else.
"""
import argparse
import concurrent.futures as cf
import glob
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RUNGS = ["warm", "cold", "bland", "clp"]


def shipped_configs():
    return sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml")) +
                  glob.glob(os.path.join(ROOT, "configs", "examples", "*.yaml")))


def one_run(task):
    """Runs one chokepoint process; returns a result dict."""
    exe, config, args, out = task
    cmd = [exe, "run", config, "-o", out, "--overwrite", "--threads", "1", "--log-format",
           "json", "--progress-every", "1e9", "--checkpoint-every", "0"] + args
    t0 = time.time()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = r.stderr.decode(errors="replace")
    res = {"config": os.path.relpath(config, ROOT), "args": args, "rc": r.returncode,
           "seconds": time.time() - t0, "trials": 0, "trial_months": 0,
           "lps": {k: 0 for k in RUNGS + ["relaxed", "failed"]}, "message": ""}
    done = None
    for line in err.splitlines():
        if line.startswith('{"event":"done"'):
            done = json.loads(line)
    if done:
        res["trials"] = done.get("trials_done", 0)
        for k, v in done.get("lp_rungs", {}).items():
            res["lps"][k] = v
    if r.returncode == 0:
        try:
            import h5py
            with h5py.File(out, "r") as f:
                scen = f.attrs["scenarios"]
                scen = scen.decode() if isinstance(scen, bytes) else scen
                res["trial_months"] = (int(f.attrs["trials"]) * int(f.attrs["horizon_months"]) *
                                       len(scen.split(",")))
        except Exception as e:  # noqa: BLE001 - reported, not fatal
            res["message"] = f"cannot read {out}: {e}"
        for p in (out,):
            if os.path.exists(p):
                os.remove(p)
    else:
        res["message"] = "\n".join(x for x in err.splitlines() if not x.startswith("{"))[-2000:]
    return res


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("chokepoint")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--trials", type=int)
    ap.add_argument("--random", type=int)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "soak"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seeds", type=int, nargs="*",
                    help="the seeds of the shipped configs' runs (default 1, 2, ...)")
    ap.add_argument("--configs", nargs="*")
    ap.add_argument("--run-args", default="")
    a = ap.parse_args(argv[1:])
    trials = a.trials if a.trials is not None else (2000 if a.quick else 1_000_000)
    n_random = a.random if a.random is not None else (40 if a.quick else 10_000)
    per_seed, shards = (2000, 2) if a.quick else (50_000, 5)
    os.makedirs(a.out, exist_ok=True)

    tasks = []
    configs = a.configs if a.configs else shipped_configs()
    if trials == 0 and not a.seeds:
        configs = []  # --trials 0: random configs only
    for config in configs:
        stem = os.path.splitext(os.path.basename(config))[0]
        n_seeds = max(1, (trials + per_seed - 1) // per_seed)
        seeds = a.seeds if a.seeds else range(1, n_seeds + 1)
        for s in seeds:
            for k in range(1, shards + 1):
                out = os.path.join(a.out, f"{stem}_s{s}_{k}of{shards}.h5")
                tasks.append((a.chokepoint, config, ["--trials", str(per_seed), "--seed", str(s),
                                                      "--shard", f"{k}/{shards}"] +
                              a.run_args.split(), out))
    if n_random:
        rdir = os.path.join(a.out, "random_configs")
        subprocess.run([sys.executable, os.path.join(HERE, "soak_configs.py"), rdir,
                        str(n_random), str(a.seed)], check=True)
        for i in range(n_random):
            tasks.append((a.chokepoint, os.path.join(rdir, f"random_{i}.yaml"), [],
                          os.path.join(a.out, f"random_{i}.h5")))

    t0 = time.time()
    results = []
    with cf.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        for i, r in enumerate(ex.map(one_run, tasks)):
            results.append(r)
            if r["rc"] != 0:
                print(f"FAILED (exit {r['rc']}): {r['config']} {' '.join(r['args'])}\n"
                      f"  {r['message']}", flush=True)
            if (i + 1) % 200 == 0:
                print(f"soak: {i + 1}/{len(tasks)} runs, {time.time() - t0:.0f} s", flush=True)

    groups = {}
    for r in results:
        key = "random configs" if "random_configs" in r["config"] else r["config"]
        g = groups.setdefault(key, {"runs": 0, "failed_runs": 0, "trials": 0, "trial_months": 0,
                                    "lps": {k: 0 for k in RUNGS + ["relaxed", "failed"]},
                                    "seconds": 0.0})
        g["runs"] += 1
        g["failed_runs"] += r["rc"] != 0
        g["trials"] += r["trials"]
        g["trial_months"] += r["trial_months"]
        g["seconds"] += r["seconds"]
        for k, v in r["lps"].items():
            g["lps"][k] += v
    print(f"\nsoak: {len(results)} runs in {time.time() - t0:.0f} s ({a.jobs} jobs)")
    head = f"{'':34} {'runs':>6} {'trials':>10} {'trial-months':>13} " + " ".join(
        f"{k:>11}" for k in RUNGS) + f" {'relaxed':>8} {'failed':>7}"
    print(head)
    total = {"runs": 0, "failed_runs": 0, "trials": 0, "trial_months": 0,
             "lps": {k: 0 for k in RUNGS + ["relaxed", "failed"]}}
    for key, g in groups.items():
        print(f"{key[-34:]:34} {g['runs']:>6} {g['trials']:>10} {g['trial_months']:>13} " +
              " ".join(f"{g['lps'][k]:>11}" for k in RUNGS) +
              f" {g['lps']['relaxed']:>8} {g['failed_runs']:>7}")
        for k in ("runs", "failed_runs", "trials", "trial_months"):
            total[k] += g[k]
        for k in g["lps"]:
            total["lps"][k] += g["lps"][k]
    lps = sum(total["lps"][k] for k in RUNGS)
    print(f"{'total':34} {total['runs']:>6} {total['trials']:>10} {total['trial_months']:>13} " +
          " ".join(f"{total['lps'][k]:>11}" for k in RUNGS) +
          f" {total['lps']['relaxed']:>8} {total['failed_runs']:>7}")
    last = total["lps"]["clp"]
    print(f"allocation LPs: {lps}; answered by the last rung (clp): {last}"
          f" ({last / lps if lps else 0:.2g} of all; goal < 1e-5); failed runs: "
          f"{total['failed_runs']}")
    with open(os.path.join(a.out, "soak.json"), "w") as f:
        json.dump({"groups": groups, "total": total, "runs": results}, f, indent=1)
    return 1 if total["failed_runs"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
