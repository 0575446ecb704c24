#!/usr/bin/env python3
"""A run stopped by a signal loses nothing.

usage: test_signals.py CHOKEPOINT CONFIG WORKDIR

For SIGTERM, SIGINT, SIGHUP and SIGUSR1 (Slurm's --signal=USR1@T; what Open MPI's mpirun
forwards): starts `chokepoint run CONFIG --trials 20000 --threads 1
--overwrite` onto a target that already holds a file, waits until the run writes its temporary
file (`.out.h5.partial-*`) and one more second, sends the signal, then checks: exit code 75
(stopped, checkpoint saved), a message naming the signal and the checkpoint, the existing target
byte-identical, no temporary file left, and a checkpoint `out.h5.checkpoint` beside it (resume and
its exactness are tested by test_resume.py). SIGTERM once more with no file at the target: only
the checkpoint is left.
Exit status 0 when every check passes, 1 otherwise. Needs only the standard library.
"""
import glob
import os
import shutil
import signal
import subprocess
import sys
import time

TRIALS = "20000"
BEFORE = b"an earlier results file that must survive a stopped run\n" * 2000


def child_setup():
    # The parent (ctest, a CI shell) may ignore these signals; chokepoint keeps ignored signals
    # ignored (nohup), so give it the default dispositions a terminal would.
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(s, signal.SIG_DFL)


def case(exe, config, work, sig, existing):
    name = f"{signal.Signals(sig).name}{'' if existing else '_new'}"
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    target = os.path.join(d, "out.h5")
    if existing:
        with open(target, "wb") as f:
            f.write(BEFORE)
    cmd = [exe, "run", config, "-o", target, "--overwrite", "--trials", TRIALS, "--threads", "1"]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=child_setup)
    errors = []
    try:
        deadline = t0 + 120
        while not glob.glob(os.path.join(d, ".out.h5.partial-*")):
            if p.poll() is not None:
                errors.append(f"the run ended (exit {p.returncode}) before writing its temporary file")
                break
            if time.monotonic() > deadline:
                errors.append("no temporary file after 120 s")
                break
            time.sleep(0.01)
        if not errors:
            time.sleep(1.0)
            if p.poll() is not None:
                errors.append(f"the run ended (exit {p.returncode}) within 1 s of starting to "
                              "write: the config is too small for this test")
            else:
                p.send_signal(sig)
                t_sig = time.monotonic()
        out, err = p.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        errors.append("the run did not stop within 300 s of the signal")
    err = err.decode(errors="replace")
    if not errors:
        stop_s = time.monotonic() - t_sig
        expected = 75
        if p.returncode != expected:
            errors.append(f"exit code {p.returncode}, expected {expected}")
        if f"interrupted by signal {sig}" not in err:
            errors.append("no 'interrupted by signal' message on stderr")
        if "checkpoint saved to" not in err or "--resume" not in err:
            errors.append("no message naming the checkpoint and how to resume it")
        if existing:
            with open(target, "rb") as f:
                if f.read() != BEFORE:
                    errors.append("the existing target changed")
        left = sorted(os.listdir(d))
        want = ["out.h5", "out.h5.checkpoint"] if existing else ["out.h5.checkpoint"]
        if left != want:
            errors.append(f"directory holds {left}, expected {want}")
        print(f"{name}: exit {p.returncode} {stop_s:.2f} s after the signal "
              f"({time.monotonic() - t0:.1f} s in all)")
    for e in errors:
        print(f"FAIL {name}: {e}")
    if errors:
        print(f"--- command: {' '.join(cmd)}\n--- stderr:\n{err}")
    shutil.rmtree(d, ignore_errors=True)
    return not errors


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    exe, config, work = sys.argv[1:]
    os.makedirs(work, exist_ok=True)
    ok = True
    for sig, existing in ((signal.SIGTERM, True), (signal.SIGINT, True), (signal.SIGHUP, True),
                          (signal.SIGUSR1, True), (signal.SIGTERM, False)):
        ok &= case(exe, config, work, sig, existing)
    print("all signal checks passed" if ok else "signal checks FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
