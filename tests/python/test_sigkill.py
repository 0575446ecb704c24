#!/usr/bin/env python3
"""SIGKILL at any moment leaves a usable checkpoint (or none) and never a damaged results file.

usage: test_sigkill.py CHOKEPOINT CONFIG WORKDIR [ROUNDS [TRIALS]]

ROUNDS (default 20) runs of `chokepoint run CONFIG --trials TRIALS --threads 1
--checkpoint-every 0.001` (a checkpoint after every block; TRIALS default 30000 = 30 blocks of
tiny.yaml, about 1 s) are killed with SIGKILL at seeded-random moments spread over the duration of
one such run left to finish (stratified: round i is killed in the i-th of ROUNDS equal slices of
1.1 x that duration, so the last rounds may find the run finished). The seed is
$CHOKEPOINT_TEST_SEED, default 20261128; it is printed.

After each kill:
  - OUT exists only if the run finished (exit 0; then it is identical to the reference and there
    is no OUT.checkpoint);
  - OUT.checkpoint is absent or a valid file: h5py opens it, complete=0, the root attribute trials =
    rows of every per-trial dataset = /state next_block * block_size, and those rows equal the
    reference's first rows;
  - any other file is a hidden `.out.h5.partial-*` or `.out.h5.checkpoint.staging-*` leftover or
    the output's lock file `.out.h5.lock`: SIGKILL cannot be cleaned up after, so these are
    allowed (docs/robustness.md), but they are never at OUT or OUT.checkpoint;
  - with a checkpoint: `run --resume` (2 threads) to completion: exit 0, OUT identical to the
    reference (compare_runs.py), OUT.checkpoint removed, and no hidden file left: the completing
    run, holding the output's lock, removed the killed runs' leftovers and its own lock file. In about a third of these rounds (seeded) the resumed run is
    SIGKILLed as well at a random moment, checked the same way, and resumed again.
  - without a checkpoint: a fresh run onto OUT (beside the leftovers) gives the reference file,
    and again no hidden file is left.

Exit status 0 when every check passes, 1 otherwise. Needs h5py and numpy.
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_runs  # noqa: E402
from clitest import FAILS, report, child_setup, fail, identical, trial_datasets  # noqa: E402

OUT_NAME = "out.h5"
CKPT_NAME = OUT_NAME + ".checkpoint"
LEFTOVER_PREFIXES = ("." + OUT_NAME + ".partial-", "." + CKPT_NAME + ".staging-",
                     "." + OUT_NAME + ".lock")


def check_dir_after_kill(where, d, finished):
    """Only OUT (if finished), OUT.checkpoint and hidden leftovers; returns the leftovers."""
    names = sorted(os.listdir(d))
    leftovers = [n for n in names if n.startswith(LEFTOVER_PREFIXES)]
    others = [n for n in names if n not in leftovers and n not in (OUT_NAME, CKPT_NAME)]
    if others:
        fail(where, f"unexpected files {others}")
    if not finished and OUT_NAME in names:
        fail(where, f"{OUT_NAME} exists although the run was killed before finishing")
    for n in (OUT_NAME, CKPT_NAME):
        p = os.path.join(d, n)
        if os.path.lexists(p) and not os.path.isfile(p):
            fail(where, f"{n} is not a regular file")
    return leftovers


def check_checkpoint(where, ckpt, ref):
    """A valid checkpoint, a prefix of the reference. Returns next_block, or None."""
    try:
        f = h5py.File(ckpt, "r")
    except OSError as e:
        fail(where, f"h5py cannot open {ckpt}: {e}")
        return None
    try:
        with f:
            complete = int(f.attrs["complete"])
            trials = int(f.attrs["trials"])
            nb = int(f["state"].attrs["next_block"])
            bs = int(f.attrs["block_size"])
            if complete != 0:
                fail(where, f"checkpoint has complete={complete}")
            if int(f.attrs["trials_planned"]) != ref["trials"]:
                fail(where, f"checkpoint trials_planned {f.attrs['trials_planned']}, "
                            f"expected {ref['trials']}")
            if trials != nb * bs:
                fail(where, f"attr trials {trials} != next_block {nb} * block_size {bs}")
            if not 0 <= nb < ref["blocks"]:
                fail(where, f"next_block {nb} outside [0, {ref['blocks']})")
            if f["state/baseline"].dtype.str not in ("<u8", ">u8"):
                fail(where, f"/state/baseline dtype {f['state/baseline'].dtype}")
            for name, ds in trial_datasets(f).items():
                if ds.shape[0] != trials:
                    fail(where, f"/{name} has {ds.shape[0]} rows, attr trials is {trials}")
                elif not compare_runs.same_values(ds[()], ref["data"][name][:trials]):
                    fail(where, f"/{name}: rows differ from the reference's first {trials}")
    except (KeyError, OSError, ValueError) as e:
        fail(where, f"checkpoint {ckpt} is not readable as a checkpoint: {e!r}")
        return None
    return nb


def kill_at(cmd, delay):
    """Starts cmd, SIGKILLs it `delay` seconds later (unless it ended); returns (rc, stderr)."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         preexec_fn=child_setup)
    try:
        p.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
    try:
        _, err = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    return p.returncode, err.decode(errors="replace")


def after_kill(where, d, rc, err, ref, exe, duration, rng, depth):
    """Checks the directory after a kill; resumes (or reruns) to completion and compares."""
    out, ckpt = os.path.join(d, OUT_NAME), os.path.join(d, CKPT_NAME)
    finished = rc == 0
    if rc not in (0, -signal.SIGKILL):
        fail(where, f"exit {rc}, expected 0 (finished) or killed by SIGKILL; stderr:\n{err}")
    # Killed after the results were moved into place (while removing the checkpoint, printing,
    # or exiting): OUT is the finished file, and a checkpoint may be left beside it.
    killed_after_rename = rc == -signal.SIGKILL and os.path.exists(out)
    leftovers = check_dir_after_kill(where, d, finished or killed_after_rename)
    if finished or killed_after_rename:
        if finished and os.path.exists(ckpt):
            fail(where, "a finished run left OUT.checkpoint")
        identical(where, out, ref["path"])
        return ("finished" if finished else "killed after the results were in place"), None
    nb = None
    if os.path.exists(ckpt):
        nb = check_checkpoint(where, ckpt, ref)
        if nb is None:
            return "bad checkpoint", None
        cmd = [exe, "run", "--resume", ckpt, "--threads", "2", "-q"]
        what = f"checkpoint at block {nb}/{ref['blocks']}"
        if depth == 0 and rng.random() < 1 / 3:
            # kill the resumed run too, then go on from whatever it left
            delay = rng.uniform(0, duration * (1 - nb / ref["blocks"]))
            rc2, err2 = kill_at(cmd, delay)
            state, _ = after_kill(f"{where} (resume killed at {delay:.2f} s)", d, rc2, err2, ref,
                                  exe, duration, rng, depth + 1)
            return what + f"; resume killed at {delay:.2f} s -> {state}", nb
    else:
        cmd = [exe, "run", ref["config"], "-o", out, "--trials", str(ref["trials"]),
               "--threads", "2", "-q"]
        what = "no checkpoint"
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       preexec_fn=child_setup, timeout=300)
    if r.returncode != 0:
        fail(where, f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.decode(errors='replace')}")
        return what, nb
    names = sorted(os.listdir(d))
    if names != [OUT_NAME]:
        fail(where, f"after completing, the directory holds {names}; expected {OUT_NAME} only "
                    f"(the killed run's leftovers {leftovers} removed)")
    identical(where, out, ref["path"])
    return what + (f" ({len(leftovers)} hidden leftover(s) removed)" if leftovers else ""), nb


def main():
    if not 4 <= len(sys.argv) <= 6:
        print(__doc__)
        return 2
    exe, config, work = (os.path.abspath(a) for a in sys.argv[1:4])
    rounds = int(sys.argv[4]) if len(sys.argv) >= 5 else 20
    trials = int(sys.argv[5]) if len(sys.argv) >= 6 else 30000
    seed = int(os.environ.get("CHOKEPOINT_TEST_SEED", "20261128"))
    rng = random.Random(seed)
    os.makedirs(work, exist_ok=True)
    t_all = time.monotonic()

    rd = os.path.join(work, "reference")
    shutil.rmtree(rd, ignore_errors=True)
    os.makedirs(rd)
    ref_path = os.path.join(rd, "ref.h5")
    r = subprocess.run([exe, "run", config, "-o", ref_path, "--trials", str(trials),
                        "--threads", "1", "-q"], stderr=subprocess.PIPE)
    if r.returncode != 0:
        fail("reference", f"exit {r.returncode}: {r.stderr.decode(errors='replace')}")
        return 1
    with h5py.File(ref_path, "r") as f:
        bs = int(f.attrs["block_size"])
        ref = {"path": ref_path, "config": config, "trials": trials,
               "blocks": (trials + bs - 1) // bs,
               "data": {k: ds[()] for k, ds in trial_datasets(f).items()}}
    # One unkilled run with a checkpoint after every block: its duration spreads the kills.
    timed = os.path.join(rd, "timed.h5")
    cmd = [exe, "run", config, "-o", timed, "--trials", str(trials), "--threads", "1",
           "--checkpoint-every", "0.001", "-q"]
    t = time.monotonic()
    r = subprocess.run(cmd, stderr=subprocess.PIPE)
    duration = time.monotonic() - t
    if r.returncode != 0:
        fail("timed run", f"exit {r.returncode}: {r.stderr.decode(errors='replace')}")
        return 1
    identical("timed run (a checkpoint after every block)", timed, ref_path)
    if os.path.exists(timed + ".checkpoint"):
        fail("timed run", "OUT.checkpoint left after a finished run")
    print(f"reference: {trials} trials, {ref['blocks']} blocks of {bs}; with a checkpoint after "
          f"every block: {duration:.2f} s; seed {seed}, {rounds} rounds")
    if ref["blocks"] < 10:
        fail("reference", f"only {ref['blocks']} blocks: give more TRIALS")

    counts = {"checkpoint": 0, "none": 0, "finished": 0}
    for i in range(rounds):
        d = os.path.join(work, f"round{i:02d}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        delay = 1.1 * duration * (i + rng.random()) / rounds
        where = f"round {i} (SIGKILL at {delay:.3f} s)"
        cmd = [exe, "run", config, "-o", os.path.join(d, OUT_NAME), "--trials", str(trials),
               "--threads", "1", "--checkpoint-every", "0.001", "-q"]
        t = time.monotonic()
        rc, err = kill_at(cmd, delay)
        n_fail = len(FAILS)
        what, nb = after_kill(where, d, rc, err, ref, exe, duration, rng, 0)
        counts["finished" if rc == 0 else "checkpoint" if nb is not None else "none"] += 1
        print(f"{where}: {'finished' if rc == 0 else 'killed'}; {what}; "
              f"{'ok' if len(FAILS) == n_fail else 'FAILED'} ({time.monotonic() - t:.1f} s)")
        if len(FAILS) == n_fail:
            shutil.rmtree(d, ignore_errors=True)
    print(f"-- {rounds} rounds: {counts['checkpoint']} killed with a checkpoint, {counts['none']} "
          f"killed before the first checkpoint, {counts['finished']} finished before the kill; "
          f"{time.monotonic() - t_all:.1f} s in all")
    if rounds >= 5 and counts["checkpoint"] == 0:
        fail("rounds", "no round was killed with a checkpoint in place: the test checked nothing")
    return report("SIGKILL", work)


if __name__ == "__main__":
    sys.exit(main())
