#!/usr/bin/env python3
"""`mpirun -np P chokepoint run` writes the file a 1-process run writes.

usage: test_mpi.py MPI_CHOKEPOINT CONFIG WORKDIR [MPIEXEC [CONFIG2]]

MPI_CHOKEPOINT is a build with -DCHOKEPOINT_MPI=ON; MPIEXEC defaults to `mpirun` (or `mpiexec`) on
PATH. With Open MPI the runs get --oversubscribe (the test machine may have fewer cores than
ranks), and --allow-run-as-root when running as root. CONFIG should be fast (tiny.yaml, block
size 1000: 5000 trials = 5 blocks); CONFIG2 (optional; critical_materials.yaml) is run with 2000
trials, --threads 1.

Checks, each printed:
1. For CONFIG (5000 trials) and CONFIG2 (2000 trials): the same binary without mpirun, --threads 1,
   is the reference; under `mpirun -np P` for P = 1, 2, 4 and P = 2 on 2 threads (CONFIG2: P = 2,
   --threads 1): exit 0, compare_runs.py identical to the reference, root attribute `ranks` = P,
   nothing but OUT in the directory.
2. Under MPI (P = 2), without -q: one summary table on stdout and one `done` event on stderr (only
   rank 0 reports); with CHOKEPOINT_STATS, every chunk of the trial tables was packed in
   parallel (rank 1's blocks by rank 1: rank 0 deflated none of their tables), and is stored as
   the plain run's chunk, byte for byte.
3. Under MPI (P = 2) with a checkpoint after every block: identical, no OUT.checkpoint left.
4. `--shard 2/3` under MPI (P = 2) equals the plain `--shard 2/3` file (ranks = 2); shards 1/3
   and 3/3 (plain) merged with it give the reference.
5. Signals reaching the ranks (as srun forwards them; Open MPI's mpirun would end the job itself,
   docs/clusters.md): a P = 2 run of 60 blocks with a checkpoint after every block gets SIGTERM,
   after its first checkpoint event, at every rank / only at rank 1 / only at rank 0 (the other
   rank is told to stop), and, with Open MPI, SIGUSR1 at mpirun itself (which forwards it): mpirun
   exit 75, OUT absent, OUT.checkpoint consistent (complete=0, trials = rows = next_block *
   block_size, ranks), no hidden file; resumed under mpirun with another P or without mpirun:
   identical to the plain run.
6. A stopping rule under P = 2 and 3: rank 0 tells the other ranks to stop when the rule is met
   (max_trials 4e9, which the other ranks would take hours to reach): exit 0 within the timeout,
   identical to the plain run.
7. `summary`, `merge` and `validate` under mpirun -np 2: refused (exit 2, one message, nothing
   written).

Exit status 0 when every check passes, 1 otherwise (77 when no MPI launcher is found). Needs h5py
and numpy.
"""
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import report, child_setup, fail, identical, mpi_launcher, run  # noqa: E402


def fresh(work, name):
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def attr(path, name):
    with h5py.File(path, "r") as f:
        return f.attrs[name]


def check_only(where, d, names):
    if sorted(os.listdir(d)) != sorted(names):
        fail(where, f"directory holds {sorted(os.listdir(d))}, expected {sorted(names)}")


def descendants(pid):
    """pids of every descendant of pid (from /proc)."""
    children = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(p))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def rank_pids(mpirun_pid, exe, nranks, timeout=30):
    """rank -> pid of the chokepoint ranks under mpirun (rank from the launcher's environment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ranks = {}
        for pid in descendants(mpirun_pid):
            try:
                if os.path.realpath(f"/proc/{pid}/exe") != os.path.realpath(exe):
                    continue
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
            except OSError:
                continue
            for k in (b"OMPI_COMM_WORLD_RANK", b"PMIX_RANK", b"PMI_RANK"):
                if k in env:
                    ranks[int(env[k])] = pid
                    break
        if len(ranks) == nranks:
            return ranks
        time.sleep(0.05)
    return None


def signal_ranks(where, mpi, exe, config, work, trials, which, resume_with, ref,
                 sig=signal.SIGTERM, ranks=2):
    """A run of `ranks` ranks gets `sig` at the ranks `which` (or at the launcher, "launcher")
    after its first checkpoint; then resumed."""
    d = fresh(work, f"signal_{where.replace(' ', '_')}")
    out = os.path.join(d, "out.h5")
    ckpt = out + ".checkpoint"
    cmd = [*mpi, "-np", str(ranks), exe, "run", config, "-o", out, "--trials", str(trials),
           "--threads", "1", "--checkpoint-every", "0.001", "--log-format", "json"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=child_setup)
    q = queue.Queue()
    lines = []

    def reader():
        for line in p.stderr:
            q.put(line.decode(errors="replace"))
        q.put(None)
    threading.Thread(target=reader, daemon=True).start()
    threading.Thread(target=p.stdout.read, daemon=True).start()
    pids = rank_pids(p.pid, exe, ranks)
    sent = []
    while True:
        try:
            line = q.get(timeout=120)
        except queue.Empty:
            break
        if line is None:
            break
        lines.append(line)
        if not sent and line.startswith("{"):
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "checkpoint" and pids:
                for r in ([] if which == "launcher" else which):
                    try:
                        os.kill(pids[r], sig)
                        sent.append(r)
                    except ProcessLookupError:
                        pass
                if which == "launcher":
                    os.kill(p.pid, sig)
                    sent = "launcher"
    try:
        p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    err = "".join(lines)
    where = f"{signal.Signals(sig).name} to {where}"
    if pids is None:
        fail(where, "could not find the ranks' pids under the launcher")
        return
    if (sent != which) if which == "launcher" else sorted(sent) != sorted(which):
        fail(where, f"the run ended (exit {p.returncode}) before the signal could be sent")
        return
    if p.returncode != 75:
        fail(where, f"launcher exit {p.returncode}, expected 75; stderr:\n{err}")
        return
    if os.path.exists(out):
        fail(where, "OUT exists after the interrupted run")
    check_only(where, d, ["out.h5.checkpoint"])
    with h5py.File(ckpt, "r") as f:
        nb = int(f["state"].attrs["next_block"])
        bs = int(f.attrs["block_size"])
        t = int(f.attrs["trials"])
        rows = f["scenarios/baseline/trials/shortfall"].shape[0]
        if int(f.attrs["complete"]) != 0 or t != nb * bs or rows != t:
            fail(where, f"checkpoint complete {f.attrs['complete']}, trials {t}, rows {rows}, "
                        f"next_block {nb}: inconsistent")
        if int(f.attrs["ranks"]) != ranks:
            fail(where, f"checkpoint ranks {f.attrs['ranks']}, expected {ranks}")
    rc, _, rerr = run(resume_with(ckpt))
    if rc != 0:
        fail(where, f"resume exit {rc}: {rerr}")
        return
    check_only(where, d, ["out.h5"])
    if identical(where, out, ref):
        print(f"{where}: exit 75 with a checkpoint at block {nb}; resumed "
              f"({' '.join(os.path.basename(x) for x in resume_with(ckpt)[:3])} ...): identical")


def main():
    if not 4 <= len(sys.argv) <= 6:
        print(__doc__)
        return 2
    exe, config, work = (os.path.abspath(a) for a in sys.argv[1:4])
    mpiexec = sys.argv[4] if len(sys.argv) >= 5 else (shutil.which("mpirun") or
                                                      shutil.which("mpiexec"))
    config2 = os.path.abspath(sys.argv[5]) if len(sys.argv) >= 6 else None
    if not mpiexec:
        print("no mpirun/mpiexec found: skipped")
        return 77
    mpi = mpi_launcher(mpiexec)
    print(f"launcher: {' '.join(mpi)}")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    t_all = time.monotonic()

    runs = [(config, 5000, [(1, 1), (2, 1), (4, 1), (2, 2)], [])]
    if config2:
        # The default study with one of its scenarios (paired differences travel too), on 2
        # ranks (P = 1 and 4 are tried on CONFIG); all eight of its models, or more P, would
        # take minutes here.
        runs.append((config2, 2000, [(2, 1)], ["--scenario", "ga_us_reserve_12m"]))
    refs = {}
    for cfg, trials, plan, extra in runs:
        name = os.path.splitext(os.path.basename(cfg))[0]
        d = fresh(work, f"{name}_plain")
        ref = os.path.join(d, "plain.h5")
        t = time.monotonic()
        rc, _, err = run([exe, "run", cfg, "-o", ref, "--trials", str(trials), "--threads", "1",
                          "-q"] + extra)
        if rc != 0:
            fail(f"{name} plain", f"exit {rc}: {err}")
            continue
        refs[cfg] = ref
        print(f"{name}: plain run of {trials} trials (no mpirun): {time.monotonic() - t:.1f} s, "
              f"ranks {attr(ref, 'ranks')}")
        for P, threads in plan:
            where = f"{name} mpirun -np {P} --threads {threads}"
            d = fresh(work, f"{name}_np{P}_t{threads}")
            out = os.path.join(d, "out.h5")
            t = time.monotonic()
            rc, so, err = run([*mpi, "-np", str(P), exe, "run", cfg, "-o", out, "--trials",
                               str(trials), "--threads", str(threads), "-q"] + extra)
            if rc != 0:
                fail(where, f"exit {rc}: {err}")
                continue
            check_only(where, d, ["out.h5"])
            ok = identical(where, out, ref)
            if int(attr(out, "ranks")) != P:
                fail(where, f"root attribute ranks = {attr(out, 'ranks')}, expected {P}")
                ok = False
            if ok:
                print(f"{where}: identical to the plain run, ranks = {P} "
                      f"({time.monotonic() - t:.1f} s)")

    if config not in refs:
        return 1
    ref = refs[config]

    # 2. only rank 0 reports
    where = "mpirun -np 2, summary and JSON lines"
    d = fresh(work, "np2_loud")
    out = os.path.join(d, "out.h5")
    rc, so, err = run([*mpi, "-np", "2", exe, "run", config, "-o", out, "--trials", "5000",
                       "--threads", "1", "--log-format", "json"],
                      env=dict(os.environ, CHOKEPOINT_STATS="1"))
    if rc != 0:
        fail(where, f"exit {rc}: {err}")
    else:
        n_tables = so.count("scenario 'baseline'")
        n_done = sum(1 for x in err.splitlines() if '"event":"done"' in x)
        if n_tables != 1 or n_done != 1:
            fail(where, f"{n_tables} summary tables on stdout and {n_done} done events on "
                        "stderr, expected one each (rank 0 only)")
        else:
            print(f"{where}: one summary table, one done event")
        identical(where, out, ref)
        # Every chunk of the trial tables, rank 1's blocks included, was deflated in parallel
        # (BlockPacker) and stored as packed: the same bytes as the plain run's.
        packed = re.search(r"(\d+) chunks packed in parallel, (\d+) tables of other ranks' "
                           r"blocks deflated here", err)
        chunks, same = 0, 0
        with h5py.File(out, "r") as fa, h5py.File(ref, "r") as fb:
            for scen in fa["scenarios"]:
                for name, da in fa[f"scenarios/{scen}/trials"].items():
                    if not isinstance(da, h5py.Dataset) or da.chunks is None:
                        continue
                    db = fb[f"scenarios/{scen}/trials"][name]
                    for i in range(da.id.get_num_chunks()):
                        off = da.id.get_chunk_info(i).chunk_offset
                        chunks += 1
                        same += da.id.read_direct_chunk(off) == db.id.read_direct_chunk(off)
        if (not packed or int(packed.group(1)) != chunks or int(packed.group(2)) != 0
                or same != chunks or chunks == 0):
            fail(where, f"chunks packed: {packed.group(0) if packed else 'no stats line'}, "
                        f"{same} of {chunks} stored chunks as the plain run's")
        else:
            print(f"{where}: all {chunks} chunks packed in parallel (rank 1's by rank 1), "
                  "stored as the plain run's")

    # 3. periodic checkpoints under MPI
    where = "mpirun -np 2 --checkpoint-every 0.001"
    d = fresh(work, "np2_ckpt")
    out = os.path.join(d, "out.h5")
    rc, _, err = run([*mpi, "-np", "2", exe, "run", config, "-o", out, "--trials", "5000",
                      "--threads", "1", "--checkpoint-every", "0.001", "-q"])
    if rc != 0:
        fail(where, f"exit {rc}: {err}")
    else:
        check_only(where, d, ["out.h5"])
        if identical(where, out, ref):
            print(f"{where}: identical, no checkpoint left")

    # 4. --shard under MPI
    d = fresh(work, "shards")
    plain = {}
    for k in (1, 2, 3):
        p = os.path.join(d, f"plain-{k}-of-3.h5")
        rc, _, err = run([exe, "run", config, "-o", p, "--trials", "5000", "--shard", f"{k}/3",
                          "--threads", "1", "-q"])
        if rc != 0:
            fail(f"plain --shard {k}/3", f"exit {rc}: {err}")
        plain[k] = p
    where = "mpirun -np 2 --shard 2/3"
    mp = os.path.join(d, "mpi-2-of-3.h5")
    rc, _, err = run([*mpi, "-np", "2", exe, "run", config, "-o", mp, "--trials", "5000",
                      "--shard", "2/3", "--threads", "1", "-q"])
    if rc != 0:
        fail(where, f"exit {rc}: {err}")
    else:
        if int(attr(mp, "ranks")) != 2:
            fail(where, f"root attribute ranks = {attr(mp, 'ranks')}, expected 2")
        elif identical(where, mp, plain[2]):
            print(f"{where}: identical to the plain shard 2/3, ranks = 2")
        merged = os.path.join(d, "merged.h5")
        rc, _, err = run([exe, "merge", merged, plain[3], mp, plain[1], "-q"])
        if rc != 0:
            fail(where + " merge", f"exit {rc}: {err}")
        elif identical(where + " merged with plain 1/3, 3/3", merged, ref):
            print(f"{where}: merged with the plain shards 1/3 and 3/3: identical to the plain run")

    # 5. signals at the ranks, then resume
    d = fresh(work, "signal_ref")
    ref60 = os.path.join(d, "plain60.h5")
    rc, _, err = run([exe, "run", config, "-o", ref60, "--trials", "60000", "--threads", "2",
                      "-q"])
    if rc != 0:
        fail("plain run of 60000 trials", f"exit {rc}: {err}")
    else:
        signal_ranks("every rank", mpi, exe, config, work, 60000, [0, 1],
                     lambda c: [*mpi, "-np", "3", exe, "run", "--resume", c, "--threads", "1",
                                "-q"], ref60)
        signal_ranks("rank 1 only", mpi, exe, config, work, 60000, [1],
                     lambda c: [exe, "run", "--resume", c, "--threads", "2", "-q"], ref60)
        signal_ranks("rank 0 only", mpi, exe, config, work, 60000, [0],
                     lambda c: [*mpi, "-np", "2", exe, "run", "--resume", c, "--threads", "1",
                                "-q"], ref60)
        # P = 3, the last rank only: rank 0 notices its early end at once (not when it reaches
        # that rank's next block), and stops rank 1 too
        signal_ranks("rank 2 of 3 only", mpi, exe, config, work, 60000, [2],
                     lambda c: [exe, "run", "--resume", c, "--threads", "2", "-q"], ref60, ranks=3)

        # Open MPI's mpirun ends the job itself on TERM (exit 1) but forwards USR1 to the ranks,
        # which checkpoint and exit 75 (scripts/slurm/mpi.sbatch sends it USR1 therefore).
        if "open mpi" in mpi_version(mpi).lower():
            signal_ranks("the launcher (mpirun)", mpi, exe, config, work, 60000, "launcher",
                         lambda c: [exe, "run", "--resume", c, "--threads", "2", "-q"], ref60,
                         sig=signal.SIGUSR1)

    # 6. a stopping rule: rank 0 tells the other ranks to stop. max_trials 4e9 would take the
    # other ranks hours to simulate to the end; the run must end within the timeout, with the
    # plain run's bits.
    stop_rule_stops_ranks(mpi, exe, config, work)

    # 7. the other subcommands are refused under mpirun (each process would do the whole
    # command: two summaries, merges racing for one file)
    d = fresh(work, "subcommands")
    merged = os.path.join(d, "merged.h5")
    for args in (["summary", ref60], ["merge", merged, ref60], ["validate", config]):
        rc, out, err = run([*mpi, "-np", "2", exe, *args], timeout=120)
        where = f"mpirun -np 2 chokepoint {args[0]}"
        if rc != 2 or "only `chokepoint run` divides its work" not in err or out.strip() or \
                os.path.exists(merged):
            fail(where, f"exit {rc}, stdout {out[:200]!r}, stderr {err[-400:]!r}")
        else:
            print(f"{where}: refused, exit 2, nothing written")

    print(f"-- {time.monotonic() - t_all:.1f} s in all")
    return report("MPI", work)


def mpi_version(mpi):
    try:
        r = subprocess.run([mpi[0], "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        return r.stdout.decode(errors="replace")
    except (OSError, subprocess.TimeoutExpired):
        return ""


def stop_rule_stops_ranks(mpi, exe, config, work):
    where = "stop_when under MPI"
    d = fresh(work, "stop_rule")
    with open(config) as f:
        text = f.read()
    if "\nrun:\n" not in text or "us_civil" not in text:
        fail(where, f"{config} has no run: section or no demand us_civil (tiny.yaml expected)")
        return
    cfg = os.path.join(d, "stop.yaml")
    with open(cfg, "w") as f:
        f.write(text.replace("\nrun:\n", "\nrun:\n  block_size: 500\n  stop_when: {statistic: eud, "
                             "demand: us_civil, relative_se_below: 0.03, min_trials: 1000, "
                             "max_trials: 4000000000}\n", 1))
    ref = os.path.join(d, "plain.h5")
    rc, _, err = run([exe, "run", cfg, "-o", ref, "--threads", "1", "-q"])
    if rc != 0:
        fail(where, f"plain run: exit {rc}: {err}")
        return
    for P in (2, 3):
        out = os.path.join(d, f"np{P}.h5")
        t0 = time.monotonic()
        rc, _, err = run([*mpi, "-np", str(P), exe, "run", cfg, "-o", out, "--threads", "1", "-q"],
                         timeout=120)
        if rc != 0:
            fail(where, f"-np {P}: exit {rc} (a timeout: the other ranks ran on to max_trials): "
                        f"{err[-500:]}")
        elif identical(f"{where} -np {P}", out, ref):
            with h5py.File(out, "r") as f:
                print(f"{where} -np {P}: stopped at {int(f.attrs['trials'])} trials of at most 4e9 "
                      f"in {time.monotonic() - t0:.1f} s, identical to the plain run")


if __name__ == "__main__":
    sys.exit(main())
