#!/usr/bin/env python3
"""A run stopped by a signal saves a checkpoint; resuming it gives the uninterrupted run's file.

usage: test_resume.py CHOKEPOINT CONFIG WORKDIR [TRIALS]

TRIALS (default 40000) should make at least ~30 blocks of CONFIG (tiny.yaml: 1000 a block, about
1 s on one thread). Steps, each checked and printed:

1. Reference: `chokepoint run CONFIG --trials TRIALS --threads 1` without interruption.
2. For SIGTERM, SIGINT (and SIGHUP once), at several points, reading the JSON lines of stderr as
   they come (`--log-format json`):
     - `--checkpoint-every 0.001` (a checkpoint after every block), signal after the 1st, or after
       the 3rd `checkpoint` event;
     - `--checkpoint-every 0 --progress-every 0` (a checkpoint only on the signal), signal after
       the 5th `progress` event;
     - SIGTERM as soon as the temporary file `.out.h5.partial-*` appears (often a checkpoint of
       0 trials, next_block 0);
   then: exit 75, a message naming OUT.checkpoint and `--resume`, OUT absent, the directory holds
   only OUT.checkpoint (no hidden `.partial-`/`.staging-` file), the checkpoint has complete=0,
   trials = rows of every per-trial dataset = /state next_block * block_size, trials_planned,
   blocks_total, first/end_block, shard attrs of an unsharded run, /state/baseline (uint64),
   the last `checkpoint` event and the `done` event (status "interrupted") agree with it, and its
   per-trial rows equal the reference's first rows. `--resume` on another thread count: exit 0,
   the checkpoint removed, nothing else left, the file identical to the reference
   (compare_runs.py).
3. A resumed run interrupted again (SIGINT after its 2nd checkpoint), then resumed again: identical.
4. A checkpoint resumed with `-o` elsewhere: that file identical to the reference.
5. A fresh run onto OUT while OUT.checkpoint exists: exit 2 with a message naming --resume, the
   checkpoint byte-identical, no OUT; the same with --overwrite: exit 0, identical, checkpoint gone.
6. Refusals (exit 2, nothing written): --resume of a finished results file (with -o, and named
   *.checkpoint), --resume with --seed / --trials / --shard / a CONFIG, --resume of a missing file,
   --resume of a file not named *.checkpoint without -o.

Exit status 0 when every check passes, 1 otherwise. Needs h5py and numpy.
"""
import glob
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_runs  # noqa: E402
from clitest import report, child_setup, fail, identical, trial_datasets  # noqa: E402



class Run:
    """A chokepoint process whose stderr lines are read as they come (a reader thread)."""

    def __init__(self, cmd):
        self.cmd = cmd
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  preexec_fn=child_setup)
        self.q = queue.Queue()
        self.err_lines = []
        self.out = b""
        self.t_err = threading.Thread(target=self._read_err, daemon=True)
        self.t_out = threading.Thread(target=self._read_out, daemon=True)
        self.t_err.start()
        self.t_out.start()

    def _read_err(self):
        for line in self.p.stderr:
            line = line.decode(errors="replace")
            self.err_lines.append(line)
            self.q.put(line)
        self.q.put(None)

    def _read_out(self):
        self.out = self.p.stdout.read()

    def wait_event(self, event, count, timeout=120):
        """Blocks until the count-th JSON line with this event; False if the run ends first."""
        seen = 0
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                return False
            if line is None:
                return False
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("event") == event:
                seen += 1
                if seen >= count:
                    return True

    def finish(self, timeout=300):
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            fail(" ".join(self.cmd), f"did not end within {timeout} s (killed)")
        self.t_err.join(10)
        self.t_out.join(10)
        return self.p.returncode

    @property
    def err(self):
        return "".join(self.err_lines)

    def events(self, name=None):
        evs = []
        for line in self.err_lines:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and (name is None or obj.get("event") == name):
                evs.append(obj)
        return evs


def run(cmd, timeout=300):
    r = Run(cmd)
    r.finish(timeout)
    return r


def snapshot(dirs):
    """path -> (size, mtime_ns, content) of every file in dirs."""
    snap = {}
    for d in dirs:
        for p in sorted(os.listdir(d)):
            full = os.path.join(d, p)
            st = os.stat(full)
            with open(full, "rb") as f:
                snap[full] = (st.st_size, st.st_mtime_ns, f.read())
    return snap


def listing(d):
    return sorted(os.listdir(d))


class Reference:
    def __init__(self, path):
        self.path = path
        with h5py.File(path, "r") as f:
            self.attrs = dict(f.attrs)
            self.data = {k: ds[()] for k, ds in trial_datasets(f).items()}
            self.block_size = int(f.attrs["block_size"])
            self.trials = int(f.attrs["trials"])
        self.blocks = (self.trials + self.block_size - 1) // self.block_size


def check_checkpoint(where, ckpt, ref, run_=None, min_next=0):
    """The checkpoint file is consistent and a prefix of the reference; returns next_block."""
    try:
        f = h5py.File(ckpt, "r")
    except OSError as e:
        fail(where, f"cannot open the checkpoint {ckpt}: {e}")
        return None
    with f:
        a = f.attrs
        want = {"complete": 0, "trials_planned": ref.trials, "blocks_total": ref.blocks,
                "first_block": 0, "end_block": ref.blocks, "shard_index": 0, "shard_count": 0,
                "block_size": ref.block_size, "seed": int(ref.attrs["seed"])}
        for k, v in want.items():
            if k not in a:
                fail(where, f"checkpoint lacks root attribute {k!r}")
            elif int(a[k]) != v:
                fail(where, f"checkpoint attribute {k} = {a[k]!r}, expected {v}")
        if a.get("config_sha256") != ref.attrs.get("config_sha256"):
            fail(where, "checkpoint config_sha256 differs from the reference's")
        if "state" not in f:
            fail(where, "checkpoint has no /state group")
            return None
        nb = int(f["state"].attrs.get("next_block", -1))
        trials = int(a.get("trials", -1))
        if "baseline" not in f["state"]:
            fail(where, "checkpoint has no /state/baseline")
        elif f["state/baseline"].dtype != np.uint64:
            fail(where, f"/state/baseline has dtype {f['state/baseline'].dtype}, "
                        "not uint64")
        if not (min_next <= nb < ref.blocks):
            fail(where, f"/state next_block {nb} not in [{min_next}, {ref.blocks})")
        if trials != nb * ref.block_size:
            fail(where, f"attr trials {trials} != next_block {nb} * block_size {ref.block_size}")
        for name, ds in trial_datasets(f).items():
            if ds.shape[0] != trials:
                fail(where, f"/{name} has {ds.shape[0]} rows, attr trials is {trials}")
                continue
            if not compare_runs.same_values(ds[()], ref.data[name][:trials]):
                fail(where, f"/{name}: the checkpoint's {trials} rows differ from the "
                            "reference's first rows")
    if run_ is not None:
        cks = run_.events("checkpoint")
        if not cks:
            fail(where, "no checkpoint event on stderr")
        else:
            last = cks[-1]
            if last.get("path") != ckpt:
                fail(where, f"last checkpoint event path {last.get('path')!r}, expected {ckpt!r}")
            if last.get("next_block") != nb or last.get("trials_done") != trials:
                fail(where, f"last checkpoint event {last} does not match the file "
                            f"(next_block {nb}, trials {trials})")
        done = run_.events("done")
        if len(done) != 1:
            fail(where, f"{len(done)} done events, expected 1")
        else:
            d = done[0]
            if d.get("status") != "interrupted":
                fail(where, f"done event status {d.get('status')!r}, expected 'interrupted'")
            if d.get("trials_done") != trials:
                fail(where, f"done event trials_done {d.get('trials_done')}, checkpoint has "
                            f"{trials}")
    print(f"{where}: checkpoint next_block {nb}, {trials} trials of {ref.trials}: consistent, "
          "a prefix of the reference")
    return nb


def check_interrupted(where, r, d, out, ckpt):
    rc = r.p.returncode
    if rc != 75:
        fail(where, f"exit code {rc}, expected 75")
    if f"'{ckpt}'" not in r.err or "--resume" not in r.err:
        fail(where, "no message naming the checkpoint and --resume on stderr")
    if os.path.exists(out):
        fail(where, f"{out} exists after an interrupted run")
    if listing(d) != [os.path.basename(ckpt)]:
        fail(where, f"directory holds {listing(d)}, expected only {os.path.basename(ckpt)}")
    return rc == 75 and os.path.exists(ckpt)


def resume_and_check(where, exe, d, out, ckpt, ref, threads, extra=()):
    cmd = [exe, "run", "--resume", ckpt, "--threads", str(threads), "--log-format", "json",
           *extra]
    t = time.monotonic()
    r = run(cmd)
    if r.p.returncode != 0:
        fail(where, f"resume exit {r.p.returncode}, expected 0; stderr:\n{r.err}")
        return False
    if listing(d) != [os.path.basename(out)]:
        fail(where, f"after resuming the directory holds {listing(d)}, expected only "
                    f"{os.path.basename(out)}")
    done = r.events("done")
    if (not done or done[-1].get("status") != "complete"
            or done[-1].get("trials_done") != ref.trials):
        fail(where, f"resumed run's done event {done[-1] if done else None} is not "
                    f"complete with {ref.trials} trials")
    print(f"{where}: resumed on {threads} thread(s) in {time.monotonic() - t:.2f} s")
    with h5py.File(out, "r") as f:
        if int(f.attrs.get("complete", 0)) != 1:
            fail(where, "resumed file has complete != 1")
        if "state" in f:
            fail(where, "resumed (unsharded) file has a /state group")
    return identical(where, out, ref.path)


def fresh_dir(work, name):
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def interrupt(where, exe, config, trials, d, sig, event, count, threads, ckpt_every, ref):
    """Starts a run, sends sig after the count-th `event` line, checks the checkpoint."""
    out = os.path.join(d, "out.h5")
    ckpt = out + ".checkpoint"
    cmd = [exe, "run", config, "-o", out, "--trials", str(trials), "--threads", str(threads),
           "--checkpoint-every", str(ckpt_every), "--log-format", "json"]
    if event == "progress":
        cmd += ["--progress-every", "0"]
    r = Run(cmd)
    if event == "partial":
        # as soon as the run has created its temporary file (usually before any block is done)
        deadline = time.monotonic() + 60
        while (not glob.glob(os.path.join(d, ".out.h5.partial-*")) and r.p.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.001)
        started = r.p.poll() is None
    else:
        started = r.wait_event(event, count)
    if not started:
        r.finish()
        fail(where, f"the run ended (exit {r.p.returncode}) before {count} {event} event(s): "
                    f"too few trials for this test?\n{r.err}")
        return None, out, ckpt
    r.p.send_signal(sig)
    t = time.monotonic()
    r.finish()
    when = ("the temporary file appeared" if event == "partial"
            else f"{count} {event} event(s)")
    print(f"{where}: {signal.Signals(sig).name} after {when}: exit "
          f"{r.p.returncode} {time.monotonic() - t:.2f} s later")
    if not check_interrupted(where, r, d, out, ckpt):
        print(f"--- command: {' '.join(cmd)}\n--- stderr:\n{r.err}")
        return None, out, ckpt
    return r, out, ckpt


def main():
    if len(sys.argv) not in (4, 5):
        print(__doc__)
        return 2
    exe, config, work = sys.argv[1:4]
    trials = int(sys.argv[4]) if len(sys.argv) == 5 else 40000
    exe = os.path.abspath(exe)
    work = os.path.abspath(work)
    os.makedirs(work, exist_ok=True)
    t_all = time.monotonic()

    # 1. reference
    rd = fresh_dir(work, "reference")
    ref_path = os.path.join(rd, "ref.h5")
    t = time.monotonic()
    r = run([exe, "run", config, "-o", ref_path, "--trials", str(trials), "--threads", "1", "-q"])
    if r.p.returncode != 0:
        fail("reference", f"exit {r.p.returncode}: {r.err}")
        return 1
    ref = Reference(ref_path)
    print(f"reference: {ref.trials} trials, {ref.blocks} blocks of {ref.block_size}, "
          f"{time.monotonic() - t:.2f} s")
    if ref.blocks < 10:
        fail("reference", f"only {ref.blocks} blocks: give more TRIALS")
        return 1

    # 2. interrupt at several points, resume on another thread count
    cases = [
        # name, signal, event, count, threads, checkpoint-every, resume threads
        ("term_ckpt1", signal.SIGTERM, "checkpoint", 1, 1, 0.001, 2),
        ("term_ckpt3", signal.SIGTERM, "checkpoint", 3, 1, 0.001, 2),
        ("term_signal_only", signal.SIGTERM, "progress", 5, 2, 0, 1),
        ("int_ckpt1", signal.SIGINT, "checkpoint", 1, 2, 0.001, 1),
        ("int_ckpt3", signal.SIGINT, "checkpoint", 3, 1, 0.001, 2),
        ("int_signal_only", signal.SIGINT, "progress", 5, 1, 0, 2),
        ("hup_ckpt1", signal.SIGHUP, "checkpoint", 1, 1, 0.001, 2),
        ("term_at_start", signal.SIGTERM, "partial", 1, 1, 0.001, 2),
    ]
    for name, sig, event, count, threads, every, rthreads in cases:
        d = fresh_dir(work, name)
        r, out, ckpt = interrupt(name, exe, config, trials, d, sig, event, count, threads, every,
                                 ref)
        if r is None:
            continue
        nb = check_checkpoint(name, ckpt, ref, r)
        if every == 0 and len(r.events("checkpoint")) != 1:
            fail(name, f"{len(r.events('checkpoint'))} checkpoint events with --checkpoint-every "
                       "0, expected exactly 1 (on the signal)")
        if nb is not None:
            resume_and_check(name, exe, d, out, ckpt, ref, rthreads)
        shutil.rmtree(d, ignore_errors=True)

    # 3. interrupt the resumed run too, then resume again
    name = "resume_twice"
    d = fresh_dir(work, name)
    r, out, ckpt = interrupt(name, exe, config, trials, d, signal.SIGTERM, "checkpoint", 1, 1,
                             0.001, ref)
    nb1 = check_checkpoint(name + " (1st stop)", ckpt, ref, r) if r else None
    if nb1 is not None:
        cmd = [exe, "run", "--resume", ckpt, "--threads", "2", "--checkpoint-every", "0.001",
               "--log-format", "json"]
        r2 = Run(cmd)
        if not r2.wait_event("checkpoint", 2):
            r2.finish()
            fail(name, f"the resumed run ended (exit {r2.p.returncode}) before 2 checkpoints")
        else:
            r2.p.send_signal(signal.SIGINT)
            r2.finish()
            print(f"{name}: resumed run stopped by SIGINT: exit {r2.p.returncode}")
            if check_interrupted(name + " (2nd stop)", r2, d, out, ckpt):
                nb2 = check_checkpoint(name + " (2nd stop)", ckpt, ref, r2, min_next=nb1 + 2)
                if nb2 is not None:
                    resume_and_check(name, exe, d, out, ckpt, ref, 1)
    shutil.rmtree(d, ignore_errors=True)

    # 4. resume with -o elsewhere
    name = "resume_elsewhere"
    d = fresh_dir(work, name)
    r, out, ckpt = interrupt(name, exe, config, trials, d, signal.SIGTERM, "checkpoint", 2, 1,
                             0.001, ref)
    if r and check_checkpoint(name, ckpt, ref, r) is not None:
        od = os.path.join(d, "other")
        os.makedirs(od)
        other = os.path.join(od, "other.h5")
        r2 = run([exe, "run", "--resume", ckpt, "-o", other, "--threads", "2", "-q"])
        if r2.p.returncode != 0:
            fail(name, f"resume -o {other}: exit {r2.p.returncode}: {r2.err}")
        else:
            if listing(od) != ["other.h5"]:
                fail(name, f"{od} holds {listing(od)}, expected only other.h5")
            identical(name, other, ref.path)
            if os.path.exists(out):
                fail(name, f"resume -o elsewhere wrote {out}")
    shutil.rmtree(d, ignore_errors=True)

    # 5. a fresh run while OUT.checkpoint exists
    name = "fresh_run_over_checkpoint"
    d = fresh_dir(work, name)
    r, out, ckpt = interrupt(name, exe, config, trials, d, signal.SIGTERM, "checkpoint", 1, 1,
                             0.001, ref)
    if r:
        with open(ckpt, "rb") as f:
            before = f.read()
        base = [exe, "run", config, "-o", out, "--trials", str(trials), "--threads", "2", "-q"]
        r2 = run(base)
        if r2.p.returncode != 2:
            fail(name, f"exit {r2.p.returncode}, expected 2")
        if "--resume" not in r2.err or ckpt not in r2.err:
            fail(name, f"message does not name the checkpoint and --resume: {r2.err.strip()!r}")
        with open(ckpt, "rb") as f:
            if f.read() != before:
                fail(name, "the refused run changed the checkpoint")
        if listing(d) != ["out.h5.checkpoint"]:
            fail(name, f"after the refusal the directory holds {listing(d)}")
        print(f"{name}: refused with exit {r2.p.returncode}: {r2.err.strip()}")
        r3 = run(base + ["--overwrite"])
        if r3.p.returncode != 0:
            fail(name, f"with --overwrite: exit {r3.p.returncode}, expected 0: {r3.err}")
        else:
            if listing(d) != ["out.h5"]:
                fail(name, f"after --overwrite the directory holds {listing(d)}, expected "
                           "only out.h5 (the stale checkpoint removed)")
            identical(name + " --overwrite", out, ref.path)

    # 6. refusals of --resume
    d2 = fresh_dir(work, "refusals")
    done_ckpt = os.path.join(d2, "finished.h5.checkpoint")
    shutil.copyfile(ref.path, done_ckpt)
    # a real checkpoint for the option refusals
    d3 = fresh_dir(work, "refusals_ckpt")
    r4, out4, ckpt4 = interrupt("refusals", exe, config, trials, d3, signal.SIGTERM,
                                "checkpoint", 1, 1, 0.001, ref)
    have_ckpt = r4 is not None
    refusals = [
        ("--resume of a finished file, -o", [exe, "run", "--resume", ref.path, "-o",
                                              os.path.join(d2, "x.h5")], ref.path),
        ("--resume of a finished file named *.checkpoint", [exe, "run", "--resume", done_ckpt],
         done_ckpt),
        ("--resume of a missing file", [exe, "run", "--resume",
                                        os.path.join(d2, "missing.h5.checkpoint")],
         "missing.h5.checkpoint"),
    ]
    if have_ckpt:
        notck = os.path.join(d3, "copy.h5")
        shutil.copyfile(ckpt4, notck)
        refusals += [
            ("--resume with --seed", [exe, "run", "--resume", ckpt4, "--seed", "5"], "--seed"),
            ("--resume with --trials", [exe, "run", "--resume", ckpt4, "--trials", "5000"],
             "--trials"),
            ("--resume with --shard", [exe, "run", "--resume", ckpt4, "--shard", "1/2"], "--shard"),
            ("--resume with a CONFIG", [exe, "run", config, "--resume", ckpt4], None),
            ("--resume of a file not named *.checkpoint, no -o", [exe, "run", "--resume", notck],
             ".checkpoint"),
        ]
    for what, cmd, word in refusals:
        before = snapshot((d2, d3))
        r5 = run(cmd + ["-q"])
        msg = r5.err.strip()
        if r5.p.returncode != 2:
            fail(what, f"exit {r5.p.returncode}, expected 2 ({' '.join(cmd)}): {msg}")
        elif word and word not in msg:
            fail(what, f"message does not mention {word!r}: {msg!r}")
        else:
            print(f"{what}: exit 2: {msg.splitlines()[0] if msg else '(no message)'}")
        if os.path.exists(os.path.join(d2, "x.h5")) or os.path.exists(
                os.path.join(d2, "finished.h5")):
            fail(what, "a refused resume wrote a file")
        after = snapshot((d2, d3))
        if before != after:
            fail(what, f"a refused resume changed files: {sorted(before)} -> {sorted(after)} "
                       "(or their contents)")
    if not have_ckpt:
        fail("refusals", "no checkpoint to test the option refusals with")

    print(f"-- {time.monotonic() - t_all:.1f} s in all")
    return report("resume", work)


if __name__ == "__main__":
    sys.exit(main())
