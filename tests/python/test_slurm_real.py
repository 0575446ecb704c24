#!/usr/bin/env python3
"""scripts/slurm/ under a real single-node Slurm that this test starts and stops itself.

usage: test_slurm_real.py CHOKEPOINT CONFIG [WORKDIR] [--scripts DIR] [--keep]

CONFIG: a small config with `run.block_size: 1000` (configs/examples/tiny.yaml). WORKDIR (default:
a new temporary directory) receives the runs and the job logs; it is removed when every check
passes (unless --keep) and kept, with copies of the daemons' logs in WORKDIR/slurm-logs, when
one fails. --scripts DIR runs the batch scripts of DIR instead of scripts/slurm (to show that a
broken copy fails the checks).

Needs the Debian packages slurm-wlm (slurmctld, slurmd, sbatch, squeue, scontrol, scancel) and
munge (munged), which scripts/install_deps.sh installs, and root (slurmd launches the jobs). A
missing package or a non-root user is a FAILURE, not a skip.

The cluster is private to the test: a temporary directory (/tmp/cp-slurm-*) holds its own munge
key, munged socket, slurm.conf, state and spool directories, pid and log files; slurmctld and
slurmd listen on two free ports of this machine; every Slurm command gets SLURM_CONF and the
daemons AuthInfo=socket=<our munged socket>. Nothing under /etc, no systemctl, no system munged or
slurmd is used or touched. One node, this machine (NodeName and its CPUs and memory as `slurmd -C`
reports them), no cgroups (proctrack/linuxproc, task/none), select/cons_tres with CR_CPU (a job of
--cpus-per-task=1 takes one CPU), sched/builtin with sched_interval=2 and cred_expire=5 (a
requeued job may start again 6 s after the requeue instead of 2 minutes), SlurmctldDebug=debug2
(its log shows when it checks the time limits: see (b)). The daemons are stopped in a finally
block and by atexit (jobs cancelled, then SIGTERM, then SIGKILL of every process that carries
this run's marker variable CHOKEPOINT_SLURM_TEST=<its directory>), and die with the test
(PR_SET_PDEATHSIG) if it is killed; what a killed run leaves (slurmstepd, job processes) is
ended by the next run, which finds it by the marker of a directory whose owner process is gone.

Checks, each printed (about 90-140 s on 2 cores):

(a) submit -> array -> merge equals one run: scripts/slurm/submit.sh CONFIG OUTDIR 3 with
    CHOKEPOINT_RUN_ARGS="--trials 60000 --seed 11": three array tasks COMPLETED (exit 0:0, no
    restart), the merge job (afterok) COMPLETED, the three shard files there and no checkpoint,
    and OUTDIR/result.h5 identical (compare_runs.py: every dataset and attribute, bit for bit) to
    `chokepoint run CONFIG --trials 60000 --seed 11 --threads 1`. That reference run also gives
    the rate (trials/s on one thread) that sizes the runs of (b) and (c).
(c) scancel stops for good: array.sbatch as one task of a long run (about 30 s of work), cancelled
    with `scancel JOBID_1` once its progress lines show trials done. The task ends CANCELLED with
    Restarts=0; its log says the script got SIGTERM and did not requeue, and has chokepoint's
    `interrupted` event (signal 15); OUT.checkpoint is kept (complete=0, trials done > 0, fewer than
    planned) and OUT is not written. Checked again at the very end (about a minute later, long
    after a requeued task would have run again): still CANCELLED, Restarts=0, one start in its log.
(b) the time-limit warning checkpoints and requeues: array.sbatch as the only task of a run
    with `--time=3` and the script's own `#SBATCH --signal=B:USR1@180`, so the warning is due from
    the start and slurmctld sends it at its first time-limit check after the task started. It
    checks every 30 s from its start (its debug2 log shows when); the task is submitted 10 s
    before the next check, so the warning comes about 10 s into a run of about 33 s of work at
    the measured rate (the rate of a short run varies by up to ~1.6x). Once the script has logged
    the warning, the test raises the task's limit to 10 minutes (scontrol update), so that the
    resumed run is not warned again. Then: the log shows SIGUSR1 (sent by slurmctld, never by this
    test), chokepoint's `checkpoint` and `interrupted` events, "requeueing"; while the task waits
    to run again (PENDING, Restarts >= 1) OUT.checkpoint is there (complete=0, next_block > 0) and
    OUT is not; the task runs again ("restart 1", "resuming from"), ends COMPLETED with exit 0:0,
    the checkpoint removed; merge.sbatch (afterok on the array, submitted beside it) COMPLETED,
    and its result is identical to `chokepoint run CONFIG --trials T --seed 12 --threads 1`
    (run meanwhile on the other CPU).
At the end the queue holds no job of this cluster.

The checks can fail: with --scripts pointing at a copy of scripts/slurm whose array.sbatch
requeues after scancel's TERM too (every signal counted as the warning; or the old test of the
job state alone, which sees COMPLETING, not CANCELLED), (c) fails: the cancelled task is
requeued by real Slurm (PENDING, Restarts=1) and runs again.

Exit status 0 when every check passes, 1 otherwise. Needs h5py and numpy (compare_runs.py).
"""
import argparse
import atexit
import ctypes
import datetime
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import h5py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from clitest import FAILS, child_setup, fail, identical  # noqa: E402

# Packages and the programs they provide: missing ones are a failure, not a skip.
PROGRAMS = {"slurmctld": "slurmctld (slurm-wlm)", "slurmd": "slurmd (slurm-wlm)",
            "sbatch": "slurm-client (slurm-wlm)", "squeue": "slurm-client (slurm-wlm)",
            "scontrol": "slurm-client (slurm-wlm)", "scancel": "slurm-client (slurm-wlm)",
            "sinfo": "slurm-client (slurm-wlm)", "munged": "munge"}
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/local/sbin"])
MARKER = "CHOKEPOINT_SLURM_TEST"  # set in every process this test starts, to find them again
WARN_LEAD = 10.0  # (b): seconds between the task's start and the time-limit check that warns it
CHECK_PERIOD = 30.0  # slurmctld checks time limits every 30 s (PERIODIC_TIMEOUT); 30-31 s apart


T0 = time.time()


def ok(what):
    print(f"ok   {what}")


def note(what):
    print(f"[{time.time() - T0:5.1f} s] {what}", flush=True)


def check(cond, where, what):
    if cond:
        ok(f"{where}: {what}")
    else:
        fail(where, what)
    return cond


class Cluster:
    """slurmctld + slurmd + munged in a private temporary directory."""

    def __init__(self):
        self.dir = None
        self.procs = {}
        self.env = None
        self.stopped = False
        self.ctld_started = 0.0

    # -- set up -------------------------------------------------------------------------------
    def start(self):
        self.dir = tempfile.mkdtemp(prefix="cp-slurm-", dir="/tmp")  # short: the socket path
        os.chmod(self.dir, 0o755)  # munged wants its socket directory searchable by all
        d = self.dir
        for sub, mode in (("run", 0o755), ("key", 0o700), ("state", 0o700), ("spool", 0o755),
                          ("log", 0o755)):
            os.mkdir(os.path.join(d, sub), mode)
        with open(os.path.join(d, "owner"), "w") as f:
            f.write(f"{os.getpid()} {start_time(os.getpid())}\n")
        self.sock = os.path.join(d, "run", "munge.sock")
        self.conf = os.path.join(d, "slurm.conf")

        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLURM_", "SBATCH_", "SALLOC_", "SRUN_", "SQUEUE_", "SINFO_",
                                    "SCONTROL_", "SCANCEL_", "SACCT_", "CHOKEPOINT_", "MUNGE"))}
        env["PATH"] = SBIN_PATH
        env["SLURM_CONF"] = self.conf
        env[MARKER] = d
        self.env = env

        key = os.path.join(d, "key", "munge.key")
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, os.urandom(1024))
        os.close(fd)
        self._daemon("munged", ["munged", "--foreground", f"--socket={self.sock}",
                                f"--key-file={key}", f"--log-file={d}/log/munged.log",
                                f"--pid-file={d}/run/munged.pid",
                                f"--seed-file={d}/key/munged.seed"])
        wait_for(lambda: os.path.exists(self.sock), 20, "munged's socket")

        node = self._node_line()
        ctld_port, slurmd_port = free_ports(2)
        plugstack = os.path.join(d, "plugstack.conf")
        open(plugstack, "w").close()
        user = "root"
        with open(self.conf, "w") as f:
            f.write(f"""# written by tests/python/test_slurm_real.py: a private one-node cluster
ClusterName=cptest
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.sock},cred_expire=5
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/run/slurmctld.pid
SlurmdPidFile={d}/run/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
SlurmctldDebug=debug2
SlurmdDebug=info
PlugStackConfig={plugstack}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=2
ReturnToService=2
KillWait=30
MinJobAge=900
{node} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=cptest Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
        self.node = re.search(r"NodeName=(\S+)", node).group(1)
        self._daemon("slurmctld", ["slurmctld", "-D", "-f", self.conf])
        self.ctld_started = time.time()
        self._daemon("slurmd", ["slurmd", "-D", "-f", self.conf, "-N", self.node])
        state = ""

        def idle():
            nonlocal state
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited with {p.returncode} while starting "
                                       f"(its log: {self.dir}/log/)")
            rc, out, _ = self.cmd(["sinfo", "-h", "-N", "-o", "%T"])
            state = out.strip()
            return rc == 0 and state == "idle"

        wait_for(idle, 60, "the node to be idle")
        ok(f"private Slurm up in {self.dir}: node {self.node} idle "
           f"(ports {ctld_port}/{slurmd_port}, {time.time() - self.ctld_started:.1f} s)")

    def _node_line(self):
        """`slurmd -C`'s NodeName line: this machine's CPUs, sockets, cores, memory."""
        env = dict(self.env)
        env["SLURM_CONF"] = os.path.join(self.dir, "none.conf")  # no config read for -C
        r = subprocess.run(["slurmd", "-C"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60)
        line = next((x for x in r.stdout.splitlines() if x.startswith("NodeName=")), None)
        if r.returncode != 0 or line is None:
            raise RuntimeError(f"slurmd -C failed (exit {r.returncode}): {r.stdout}")
        return line.strip()

    def _daemon(self, name, argv):
        out = open(os.path.join(self.dir, "log", f"{name}.out"), "w")

        self.procs[name] = subprocess.Popen(argv, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            preexec_fn=die_with_test, start_new_session=True)
        out.close()

    # -- use ----------------------------------------------------------------------------------
    def cmd(self, argv, env=None, timeout=60):
        r = subprocess.run(argv, env=env or self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        return r.returncode, r.stdout, r.stderr

    def sbatch(self, args, extra_env=None):
        env = dict(self.env)
        env.update(extra_env or {})
        rc, out, err = self.cmd(["sbatch", "--parsable", *args], env=env)
        if rc != 0:
            raise RuntimeError(f"sbatch {' '.join(args)}: exit {rc}: {err.strip()}")
        return out.strip().split(";")[0]

    def job(self, jobid):
        """Fields of `scontrol show job -o JOBID` (one task of an array: JOBID_K)."""
        rc, out, err = self.cmd(["scontrol", "show", "job", "-o", jobid])
        if rc != 0 or not out.strip():
            return {}
        line = out.strip().splitlines()[0]
        return dict(re.findall(r"(\w+)=(\S*)", line))

    def time_limit_checks(self):
        """Times (epoch s) at which slurmctld checked the time limits (its debug2 log)."""
        times = []
        try:
            with open(os.path.join(self.dir, "log", "slurmctld.log")) as f:
                for line in f:
                    if "Testing job time limits" in line:
                        m = re.match(r"\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?\]", line)
                        if m:
                            t = time.mktime(datetime.datetime.strptime(
                                m.group(1), "%Y-%m-%dT%H:%M:%S").timetuple())
                            times.append(t + float(m.group(2) or 0))
        except OSError:
            pass
        return times

    # -- tear down ----------------------------------------------------------------------------
    def stop(self, keep_logs_in=None):
        if self.stopped or self.dir is None:
            return
        self.stopped = True
        ctld = self.procs.get("slurmctld")
        if ctld is not None and ctld.poll() is None:
            try:  # end the jobs first: slurmstepd and the job processes outlive slurmd
                self.cmd(["scancel", "--quiet", "--partition=cptest"], timeout=20)
                deadline = time.time() + 15
                while time.time() < deadline:
                    rc, out, _ = self.cmd(["squeue", "-h", "-o", "%i"], timeout=20)
                    if rc != 0 or not out.strip():
                        break
                    time.sleep(0.5)
            except (OSError, subprocess.SubprocessError):
                pass
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.get(name)
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        # whatever is left (slurmstepd, job shells, chokepoint): found by our marker variable
        for _ in range(5):
            left = marked_processes(self.dir)
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.3)
        left = marked_processes(self.dir)
        if left:
            print(f"warning: processes of the test cluster still alive: {left}")
        if keep_logs_in:
            dst = os.path.join(keep_logs_in, "slurm-logs")
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(os.path.join(self.dir, "log"), dst, dirs_exist_ok=True)
            shutil.copy(self.conf, dst)
            print(f"the daemons' logs and slurm.conf are in {dst}")
        shutil.rmtree(self.dir, ignore_errors=True)


def die_with_test():
    """preexec_fn: default signal dispositions, and SIGKILL when the test dies, even of SIGKILL
    (PR_SET_PDEATHSIG = 1)."""
    child_setup()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def start_time(pid):
    """The start time of process pid (field 22 of /proc/PID/stat), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def sweep_stale():
    """A run killed with SIGKILL (its daemons die with it) can leave slurmstepd and job processes:
    end those of clusters whose test process is gone, found by the marker, and their directory."""
    for d in glob.glob("/tmp/cp-slurm-*"):
        try:
            with open(os.path.join(d, "owner")) as f:
                pid, started = f.read().split()
        except (OSError, ValueError):
            continue
        if start_time(int(pid)) == started:
            continue  # another run of this test, still going
        for p in marked_processes(d):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(d, ignore_errors=True)
        print(f"note: removed the leftovers of an earlier run that was killed ({d})")


def marked_processes(marker_value):
    needle = f"{MARKER}={marker_value}\0".encode()
    me = os.getpid()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if needle in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def wait_for(cond, timeout, what, every=0.2):
    deadline = time.time() + timeout
    while True:
        if cond():
            return True
        if time.time() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def events(log_text):
    """chokepoint's JSON progress lines (stderr is not a terminal in a job: JSON lines)."""
    out = []
    for line in log_text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def checkpoint_attrs(path):
    """(complete, trials, trials_planned, next_block) of a checkpoint, read from a copy."""
    copy = path + ".copy-for-test"
    shutil.copyfile(path, copy)
    try:
        with h5py.File(copy, "r") as f:
            return (int(f.attrs["complete"]), int(f.attrs["trials"]),
                    int(f.attrs["trials_planned"]), int(f["state"].attrs["next_block"]))
    finally:
        os.remove(copy)


def reference(exe, config, out, trials, seed):
    """A plain single run, one thread; returns its rate (trials per second of compute)."""
    r = subprocess.run([exe, "run", config, "-o", out, "--trials", str(trials), "--seed", str(seed),
                        "--threads", "1", "--log-format", "json", "--progress-every", "0"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600,
                       preexec_fn=die_with_test)
    if r.returncode != 0:
        raise RuntimeError(f"reference run failed (exit {r.returncode}): {r.stderr[-2000:]}")
    done = [e for e in events(r.stderr) if e.get("event") == "done"]
    return float(done[-1]["rate_per_s"]) if done else 0.0


def tail(text, n=25):
    return "\n".join("    | " + x for x in text.splitlines()[-n:])


# -- (a) ----------------------------------------------------------------------------------------
def part_a(cl, exe, config, scripts, work):
    where = "(a) submit.sh array+merge"
    trials, seed, shards = 60000, 11, 3
    ref = os.path.join(work, "ref-a.h5")
    rate = reference(exe, config, ref, trials, seed)
    out = os.path.join(work, "a")
    env = {"CHOKEPOINT_BIN": exe, "CHOKEPOINT_RUN_ARGS": f"--trials {trials} --seed {seed}",
           "CHOKEPOINT_ARRAY_SBATCH_ARGS": "--cpus-per-task=1 --time=10",
           "CHOKEPOINT_MERGE_SBATCH_ARGS": "--cpus-per-task=1 --time=10"}
    e = dict(cl.env)
    e.update(env)
    rc, so, se = cl.cmd(["bash", os.path.join(scripts, "submit.sh"), config, out, str(shards)],
                        env=e)
    if not check(rc == 0, where, f"submit.sh exit {rc}"):
        print(tail(so + se))
        return rate
    m_arr = re.search(r"^array job (\d+)", so, re.M)
    m_mrg = re.search(r"^merge job (\d+)", so, re.M)
    if not check(m_arr and m_mrg, where, "submit.sh printed both job ids"):
        print(tail(so + se))
        return rate
    arr, mrg = m_arr.group(1), m_mrg.group(1)

    def finished(j):
        return cl.job(j).get("JobState") in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT",
                                              "OUT_OF_MEMORY", "NODE_FAIL")

    t0 = time.time()
    try:
        wait_for(lambda: finished(mrg), 120, "the merge job")
    except TimeoutError as x:
        fail(where, str(x))
    for k in range(1, shards + 1):
        info = cl.job(f"{arr}_{k}")
        check(info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0"
              and info.get("Restarts") == "0", where,
              f"task {arr}_{k}: {info.get('JobState')} exit {info.get('ExitCode')} "
              f"restarts {info.get('Restarts')} (expected COMPLETED 0:0, no restart)")
        check(os.path.isfile(os.path.join(out, f"shard-{k}-of-{shards}.h5")), where,
              f"shard-{k}-of-{shards}.h5 written")
    info = cl.job(mrg)
    check(info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0", where,
          f"merge job {mrg}: {info.get('JobState')} exit {info.get('ExitCode')} "
          f"({time.time() - t0:.1f} s after submission)")
    check(not glob.glob(os.path.join(out, "*.checkpoint")), where, "no checkpoint left")
    mlog = read(os.path.join(out, "logs", f"merge-{mrg}.log"))
    check("merged into" in mlog, where, "merge log says 'merged into'")
    result = os.path.join(out, "result.h5")
    if check(os.path.isfile(result), where, "result.h5 written"):
        identical(where, result, ref)
    else:
        print(tail(mlog))
    return rate


def submit_one_task(cl, exe, config, scripts, out, trials, seed, progress_every, minutes):
    """array.sbatch as the only task (index 1 of 1) of a run into `out`: the array job's id."""
    env = {"CHOKEPOINT_BIN": exe, "CHOKEPOINT_CONFIG": config, "CHOKEPOINT_OUTDIR": out,
           "CHOKEPOINT_SHARDS": "1",
           "CHOKEPOINT_RUN_ARGS": f"--trials {trials} --seed {seed} --progress-every {progress_every}"}
    return cl.sbatch(["--array=1", "--cpus-per-task=1", f"--time={minutes}",
                      f"--output={out}/logs/shard-%a-of-1.log", f"--chdir={out}",
                      os.path.join(scripts, "array.sbatch")], env)


# -- (c) ----------------------------------------------------------------------------------------
def part_c_submit(cl, exe, config, scripts, work, rate):
    where = "(c) scancel"
    trials, seed = max(50000, int(rate * 30)), 13
    out = os.path.join(work, "c")
    os.makedirs(os.path.join(out, "logs"))
    arr = submit_one_task(cl, exe, config, scripts, out, trials, seed, 0.5, 10)
    task = f"{arr}_1"
    log = os.path.join(out, "logs", "shard-1-of-1.log")
    note(f"{where}: task {task}, {trials} trials (about 30 s of work)")

    def progressed():
        ev = events(read(log))
        # 20 blocks of tiny: written, not only in flight (progress counts those too)
        return any(e.get("event") == "progress" and e.get("trials_done", 0) >= 20000 for e in ev)

    wait_for(progressed, 60, f"{task} to report progress")
    rc, _, err = cl.cmd(["scancel", task])
    check(rc == 0, where, f"scancel {task} exit {rc} {err.strip()}")
    # the task's processes end (chokepoint checkpoints and exits 75) and the job leaves COMPLETING
    wait_for(lambda: cl.job(task).get("JobState") not in ("RUNNING", "COMPLETING") and
             not cl.cmd(["squeue", "-h", "-t", "CG", "-j", task])[1].strip(), 90,
             f"{task} to end")
    return {"task": task, "log": log, "out": os.path.join(out, "shard-1-of-1.h5"),
            "trials": trials, "cancelled_at": time.time()}


def part_c_check(cl, c, final=False):
    where = "(c) scancel" + (" (a minute later)" if final else "")
    info = cl.job(c["task"])
    text = read(c["log"])
    starts = text.count("array.sbatch: job ")
    check(info.get("JobState") == "CANCELLED", where,
          f"{c['task']} state {info.get('JobState')} (expected CANCELLED)")
    check(info.get("Restarts") == "0", where,
          f"{c['task']} restarts {info.get('Restarts')} (expected 0: not requeued)")
    check(starts == 1, where, f"the script started {starts} time(s) (expected 1)")
    check("array.sbatch: requeueing" not in text and "not requeueing" in text, where,
          "log: the script did not requeue ('not requeueing')")
    if final:
        if FAILS:
            print(tail(text))
        return
    check("got SIGTERM" in text, where, "log: the script got SIGTERM (from scancel)")
    intr = [e for e in events(text) if e.get("event") == "interrupted"]
    check(intr and intr[-1].get("signal") == 15, where,
          f"chokepoint's 'interrupted' event, signal 15 ({intr[-1] if intr else 'none'})")
    ck = c["out"] + ".checkpoint"
    if check(os.path.isfile(ck), where, f"the checkpoint {os.path.basename(ck)} is kept"):
        complete, trials, planned, next_block = checkpoint_attrs(ck)
        check(complete == 0 and 0 < trials < planned == c["trials"] and next_block > 0, where,
              f"checkpoint complete={complete}, {trials} of {planned} trials, next_block "
              f"{next_block}")
    check(not os.path.exists(c["out"]), where, "no finished shard file")
    if FAILS:
        print(tail(text))


# -- (b) ----------------------------------------------------------------------------------------
def part_b(cl, exe, config, scripts, work, rate):
    where = "(b) time-limit warning"
    out = os.path.join(work, "b")
    os.makedirs(os.path.join(out, "logs"))
    seed = 12
    # Submit WARN_LEAD s before slurmctld's next time-limit check (its debug2 log line).
    # slurmctld checks every 30 s (30.0-30.3 s apart) from its start; its log (debug2) shows when.
    checks = cl.time_limit_checks()
    if checks or time.time() < cl.ctld_started + CHECK_PERIOD + 2:
        nxt = (checks[-1] if checks else cl.ctld_started) + CHECK_PERIOD
        while nxt - WARN_LEAD < time.time() + 0.5:
            nxt += CHECK_PERIOD
        work_s = (WARN_LEAD + 12) * 1.5  # the rate of a short run varies by up to ~1.6x
    else:
        # no such log line (another Slurm version): submit now, with work for more than a period
        note(f"{where}: note: slurmctld's log does not show its time-limit checks; not aligned")
        nxt = time.time() + WARN_LEAD
        work_s = CHECK_PERIOD + 15
    trials = max(100000, int(rate * work_s))
    ref = os.path.join(work, "ref-b.h5")
    # the reference runs on the other CPU meanwhile
    refp = subprocess.Popen([exe, "run", config, "-o", ref, "--trials", str(trials), "--seed",
                             str(seed), "--threads", "1", "-q"], preexec_fn=die_with_test,
                            env=cl.env,  # with the marker: the clean-up finds it too
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(max(0.0, nxt - WARN_LEAD - time.time()))
    # --time=3 (180 s) and the script's --signal=B:USR1@180: the warning is due from the start
    arr = submit_one_task(cl, exe, config, scripts, out, trials, seed, 1, 3)
    submitted = time.time()
    task = f"{arr}_1"
    mrg = cl.sbatch(["--dependency=afterok:" + arr, "--kill-on-invalid-dep=yes",
                     "--cpus-per-task=1", "--time=10", f"--output={out}/logs/merge-%j.log",
                     f"--chdir={out}", os.path.join(scripts, "merge.sbatch")],
                    {"CHOKEPOINT_BIN": exe, "CHOKEPOINT_OUTDIR": out, "CHOKEPOINT_SHARDS": "1"})
    note(f"{where}: task {task} ({trials} trials, about {trials / rate:.0f} s of work at "
          f"{rate:.0f}/s) submitted {nxt - submitted:.1f} s before the time-limit check due at "
          f"{time.strftime('%H:%M:%S', time.localtime(nxt))}; merge job {mrg}")
    log = os.path.join(out, "logs", "shard-1-of-1.log")
    shard = os.path.join(out, "shard-1-of-1.h5")
    ck = shard + ".checkpoint"
    seen_pending = None
    t_warn = None
    deadline = time.time() + 150
    while time.time() < deadline:
        info = cl.job(task)
        st, restarts = info.get("JobState"), int(info.get("Restarts", "0") or 0)
        if t_warn is None and "got SIGUSR1" in read(log):
            t_warn = time.time()
            # the run resumed after the requeue has room: no second warning
            rc, _, err = cl.cmd(["scontrol", "update", f"JobId={task}", "TimeLimit=10"])
            note(f"{where}: warned; scontrol update JobId={task} TimeLimit=10: exit {rc} "
                  f"{err.strip()}")
        if seen_pending is None and restarts >= 1 and st == "PENDING":
            exists = os.path.isfile(ck)
            attrs = checkpoint_attrs(ck) if exists else None
            seen_pending = (exists, attrs, os.path.exists(shard), info.get("Reason"))
        if st in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"):
            break
        if refp.poll() is None or st != "RUNNING":
            time.sleep(0.1)
        else:
            time.sleep(0.2)
    text = read(log)
    info = cl.job(task)
    if t_warn is not None:
        note(f"{where}: the script logged SIGUSR1 {t_warn - submitted:.1f} s after submission")
    check("got SIGUSR1" in text, where, "log: the script got SIGUSR1 (slurmctld's warning)")
    ev = events(text)
    cks = [e for e in ev if e.get("event") == "checkpoint" and e.get("next_block", 0) > 0]
    check(bool(cks), where, f"chokepoint's 'checkpoint' event with next_block > 0 "
                            f"({cks[0] if cks else 'none'})")
    intr = [e for e in ev if e.get("event") == "interrupted"]
    check(bool(intr) and intr[0].get("signal") == 15 and
          0 < intr[0].get("trials_done", 0) < trials, where,
          f"chokepoint's 'interrupted' event: signal 15, part of the trials done "
          f"({intr[0] if intr else 'none'})")
    check("array.sbatch: requeueing" in text, where, "log: the script requeued the task")
    if check(seen_pending is not None, where, "seen PENDING again after the requeue"):
        exists, attrs, shard_there, reason = seen_pending
        check(exists and not shard_there, where,
              f"while pending ({reason}): the checkpoint there, no shard file")
        if attrs:
            complete, done, planned, next_block = attrs
            check(complete == 0 and 0 < done < planned == trials and next_block > 0, where,
                  f"checkpoint complete={complete}, {done} of {planned} trials, next_block "
                  f"{next_block}")
    check("restart 1" in text and "resuming from" in text, where,
          "log: the task ran again ('restart 1') and resumed from the checkpoint")
    done = [e for e in ev if e.get("event") == "done"]
    check(bool(done) and done[-1].get("status") == "complete", where,
          f"the resumed run completed ({done[-1] if done else 'no done event'})")
    check(info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0"
          and int(info.get("Restarts", "0") or 0) >= 1, where,
          f"task {task}: {info.get('JobState')} exit {info.get('ExitCode')} restarts "
          f"{info.get('Restarts')} (expected COMPLETED 0:0, >= 1)")
    check(os.path.isfile(shard) and not os.path.exists(ck), where,
          "shard file written, checkpoint removed")
    try:
        wait_for(lambda: cl.job(mrg).get("JobState") in ("COMPLETED", "FAILED", "CANCELLED"), 60,
                 "the merge job")
    except TimeoutError as x:
        fail(where, str(x))
    minfo = cl.job(mrg)
    check(minfo.get("JobState") == "COMPLETED" and minfo.get("ExitCode") == "0:0", where,
          f"merge job {mrg} (afterok on the requeued array): {minfo.get('JobState')} exit "
          f"{minfo.get('ExitCode')}")
    _, referr = refp.communicate(timeout=600)
    if not check(refp.returncode == 0, where, f"reference run exit {refp.returncode}"):
        print(referr[-2000:])
        return
    result = os.path.join(out, "result.h5")
    if check(os.path.isfile(result), where, "result.h5 written"):
        identical(where, result, ref)
    if FAILS:
        print(tail(text, 40))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("chokepoint")
    ap.add_argument("config")
    ap.add_argument("workdir", nargs="?")
    ap.add_argument("--scripts", default=os.path.join(ROOT, "scripts", "slurm"),
                    help="directory of submit.sh, array.sbatch and merge.sbatch")
    ap.add_argument("--keep", action="store_true", help="keep WORKDIR when everything passes")
    a = ap.parse_args()
    exe, config = os.path.abspath(a.chokepoint), os.path.abspath(a.config)
    scripts = os.path.abspath(a.scripts)

    missing = [f"{p} ({pkg})" for p, pkg in PROGRAMS.items() if not shutil.which(p, path=SBIN_PATH)]
    if missing:
        print("FAIL Slurm/munge programs not found: " + ", ".join(missing) +
              "\n     install the Debian packages slurm-wlm and munge "
              "(scripts/install_deps.sh does)")
        return 1
    if os.geteuid() != 0:
        # slurmd must run as root to launch jobs. Where the user has password-less sudo (as
        # scripts/install_deps.sh uses to install packages), the test runs itself under it.
        if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
            print("-- not root: running this test under sudo -n")
            return subprocess.run(["sudo", "-n", "-E", sys.executable, os.path.abspath(__file__)] +
                                  sys.argv[1:]).returncode
        print("FAIL this test starts slurmd, which must run as root to launch jobs: run it as root "
              "(or as a user with password-less sudo)")
        return 1

    work = os.path.abspath(a.workdir) if a.workdir else tempfile.mkdtemp(prefix="cp-slurm-work-")
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    os.chmod(work, 0o755)

    sweep_stale()
    cl = Cluster()
    atexit.register(cl.stop)

    def on_signal(sig, _frame):
        raise SystemExit(f"stopped by signal {sig}")

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)

    try:
        cl.start()
        note("(a) submit.sh: 3 shards, then the merge")
        rate = part_a(cl, exe, config, scripts, work)
        if rate <= 0:
            raise RuntimeError("no rate from the reference run")
        c = part_c_submit(cl, exe, config, scripts, work, rate)
        part_c_check(cl, c)
        part_b(cl, exe, config, scripts, work, rate)
        note(f"(c) scancel: checking again, {time.time() - c['cancelled_at']:.0f} s after the "
             "cancel")
        part_c_check(cl, c, final=True)
        rc, out, _ = cl.cmd(["squeue", "-h", "-o", "%i %T"])
        check(rc == 0 and not out.strip(), "end", f"no job left in the queue ({out.strip()!r})")
    except Exception as x:  # noqa: BLE001 -- any error: a failure, with the logs kept
        traceback.print_exc()
        fail("test", f"{type(x).__name__}: {x}")
    finally:
        cl.stop(keep_logs_in=work if FAILS else None)
    note("done")
    if FAILS:
        print(f"{len(FAILS)} check(s) FAILED:")
        for x in FAILS:
            print(f"  {x}")
        print(f"work directory kept: {work}")
        return 1
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    print("all real-Slurm checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
