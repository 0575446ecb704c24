"""Helpers shared by the command-line tests (test_resume, test_sigkill, test_shards, test_mpi,
test_progress_cli): failure bookkeeping, running chokepoint with default signal dispositions,
comparing two results files with compare_runs.py, listing per-trial datasets, the final report.
"""
import contextlib
import io
import os
import shutil
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_runs  # noqa: E402

FAILS = []


def fail(where, what):
    FAILS.append(f"{where}: {what}")
    print(f"FAIL {where}: {what}")


def ok(where, cond, detail=""):
    """Prints `ok   where` when cond holds, else records the failure with `detail`; returns cond."""
    if cond:
        print(f"ok   {where}")
    else:
        fail(where, detail)
    return cond


def child_setup():
    # ctest or a CI shell may ignore these signals; chokepoint keeps ignored signals ignored
    # (nohup), so give it the dispositions a terminal would.
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)


def run(cmd, timeout=300, env=None):
    """(exit code, stdout, stderr) of cmd (in `env`, default this process's environment); exit
    code None when it timed out."""
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           preexec_fn=child_setup, env=env)
    except subprocess.TimeoutExpired:
        return None, "", f"timed out after {timeout} s"
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def identical(where, a, b):
    """compare_runs.py A B: True when identical; its report is printed only when they differ."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = compare_runs.main(["compare_runs.py", a, b])
    if rc != 0:
        print(buf.getvalue(), end="")
        fail(where, f"{a} differs from the reference {b} (compare_runs.py exit {rc})")
    else:
        print(f"{where}: {os.path.basename(a)} identical to {os.path.basename(b)}")
    return rc == 0


def trial_datasets(f):
    """name -> dataset of every per-trial dataset (first axis = trial; not a coordinate)."""
    out = {}
    for sname, sc in f["scenarios"].items():
        for name, ds in sc["trials"].items():
            cls = ds.attrs.get("CLASS", b"")
            if isinstance(cls, bytes):
                cls = cls.decode()
            if cls == "DIMENSION_SCALE" and name != "trial":
                continue
            out[f"scenarios/{sname}/trials/{name}"] = ds
    return out



def mpi_launcher(mpiexec):
    """[mpiexec, options...]: Open MPI needs --oversubscribe on a small machine (more ranks than
    cores) and --allow-run-as-root in a container running as root (CI). Asks `--version`, which
    Open MPI answers even as root (its `--help` refuses there)."""
    v = subprocess.run([mpiexec, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    opts = []
    if b"Open MPI" in v.stdout or b"OpenRTE" in v.stdout:
        opts.append("--oversubscribe")
        if os.geteuid() == 0:
            opts.append("--allow-run-as-root")
    return [mpiexec, *opts]

def report(what, work):
    """Prints the failures (or removes the work directory); the exit status."""
    if FAILS:
        print(f"{what} checks FAILED ({len(FAILS)}):")
        for x in FAILS:
            print(f"  {x}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print(f"all {what} checks passed")
    return 0
