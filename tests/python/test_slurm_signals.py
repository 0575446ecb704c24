#!/usr/bin/env python3
"""scripts/slurm/array.sbatch and mpi.sbatch requeue after the time-limit warning, never after scancel.

    test_slurm_signals.py CHOKEPOINT WORKDIR [MPIRUN]

Each script runs as SLURM would run its batch shell, with a stand-in `scontrol` (and `srun`) on
PATH: `scontrol show job` answers JobState=COMPLETING, the state a job really shows while its
processes wind down after `scancel` (the old scripts looked for CANCELLED and so requeued a
cancelled task); `scontrol requeue` is recorded. While chokepoint runs, the batch shell gets
  USR1 (what `--signal=B:USR1@180` sends before the time limit): checkpoint, requeue, exit 0;
  TERM (what `scancel` sends):                                     checkpoint, no requeue, exit 75.
With MPIRUN (Open MPI's mpirun; CHOKEPOINT then an MPI build), mpi.sbatch also runs with
CHOKEPOINT_LAUNCHER=mpirun and 2 ranks: Open MPI's mpirun ends the job itself on TERM (exit 1),
so the script sends it USR1, which it forwards to the ranks: the same outcomes (requeue and exit 0
after the batch shell's USR1; exit 75 and no requeue after its TERM).
A real Slurm is not started here (see docs/clusters.md).
"""

import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def stand_ins(bindir, log):
    os.makedirs(bindir, exist_ok=True)
    with open(os.path.join(bindir, "scontrol"), "w") as f:
        f.write(f"""#!/bin/sh
echo "$*" >> {log}
case "$1" in
    show) echo "JobId=$3 JobName=t JobState=COMPLETING Reason=None" ;;
esac
exit 0
""")
    with open(os.path.join(bindir, "srun"), "w") as f:
        f.write("#!/bin/bash\nwhile [[ \"$1\" == --* ]]; do shift; done\nexec \"$@\"\n")
    for name in ("scontrol", "srun"):
        os.chmod(os.path.join(bindir, name), 0o755)


def run_case(exe, work, script, sig, expect_rc, expect_requeue, mpirun=None):
    case = os.path.join(work, f"{script}-{sig.name}" + ("-mpirun" if mpirun else ""))
    if os.path.exists(case):
        shutil.rmtree(case)
    os.makedirs(case, exist_ok=True)
    log = os.path.join(case, "scontrol.log")
    open(log, "w").close()
    stand_ins(os.path.join(case, "bin"), log)
    env = dict(os.environ)
    env["PATH"] = os.path.join(case, "bin") + os.pathsep + env["PATH"]
    env.update({
        "SLURM_JOB_ID": "77", "SLURM_ARRAY_JOB_ID": "76", "SLURM_ARRAY_TASK_ID": "1",
        "SLURM_ARRAY_TASK_COUNT": "2", "SLURM_NTASKS": "1", "SLURM_CPUS_PER_TASK": "1",
        "CHOKEPOINT_BIN": exe, "CHOKEPOINT_OUTDIR": case,
        "CHOKEPOINT_OUT": os.path.join(case, "out.h5"),
        "CHOKEPOINT_CONFIG": os.path.join(ROOT, "configs", "examples", "tiny.yaml"),
        "CHOKEPOINT_RUN_ARGS": "--trials 50000000 --threads 1",
    })
    if mpirun:
        # after the stand-ins: mpirun's directory may hold a real scontrol too
        env["PATH"] = (os.path.join(case, "bin") + os.pathsep + os.path.dirname(mpirun) +
                       os.pathsep + os.environ["PATH"])
        env.update({"CHOKEPOINT_LAUNCHER": "mpirun", "SLURM_NTASKS": "2",
                    "CHOKEPOINT_LAUNCHER_ARGS": "--oversubscribe" +
                    (" --allow-run-as-root" if os.geteuid() == 0 else "")})
    out = os.path.join(case, "shard-1-of-2.h5" if script == "array" else "out.h5")
    p = subprocess.Popen(["bash", os.path.join(ROOT, "scripts", "slurm", f"{script}.sbatch")],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)  # its own group: nothing outlives the case
    # Wait until chokepoint has started (its progress goes to the log) before signalling the shell.
    time.sleep(2)
    p.send_signal(sig)
    try:
        text, _ = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        text = "(timed out)"
    finally:
        try:  # a shell killed by the signal (no trap) leaves chokepoint running: end it too
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if text == "(timed out)":
        text, _ = p.communicate()
    with open(log) as f:
        calls = f.read()
    what = f"{script}.sbatch, {sig.name}" + (" (mpirun, 2 ranks)" if mpirun else "")
    print(f"--- {what}: exit {p.returncode}\n{text[-1500:]}")
    check(p.returncode == expect_rc, f"{what}: exit {p.returncode} (expected {expect_rc})")
    check(os.path.exists(out + ".checkpoint"), f"{what}: the checkpoint was written")
    check(not os.path.exists(out), f"{what}: no finished file (the run was stopped)")
    check(("requeue" in calls) == expect_requeue,
          f"{what}: {'requeued' if expect_requeue else 'not requeued'} (scontrol calls: {calls!r})")


def main():
    exe, work = os.path.abspath(sys.argv[1]), sys.argv[2]
    os.makedirs(work, exist_ok=True)
    for script in ("array", "mpi"):
        run_case(exe, work, script, signal.SIGUSR1, 0, True)
        run_case(exe, work, script, signal.SIGTERM, 75, False)
    if len(sys.argv) > 3:
        mpirun = os.path.abspath(sys.argv[3])
        run_case(exe, work, "mpi", signal.SIGUSR1, 0, True, mpirun)
        run_case(exe, work, "mpi", signal.SIGTERM, 75, False, mpirun)
    print(f"{len(FAILS)} check(s) failed" if FAILS else "all checks passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
