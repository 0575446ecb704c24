#!/usr/bin/env python3
"""Hostile and damaged input through the command line: every case must end within seconds with
exit 2, a message naming the file, and nothing changed on disk (docs/robustness.md).

usage: test_hostile_cli.py CHOKEPOINT CONFIG WORKDIR

CONFIG is a small config (configs/examples/tiny.yaml). Cases, each in a fresh directory whose
files are compared byte for byte (and by modification time) before and after:
  - non-finite numbers for every floating-point option (--checkpoint-every, --progress-every,
    --target-se: nan, inf, -inf, 1e400), with --overwrite onto an existing results file;
  - -o naming the config, a file it includes, the checkpoint being resumed; merge's output naming
    one of its shards;
  - FIFOs (named pipes) as the config, an included file, the file given to `summary` or `lp`, a
    `merge` input and `--resume`, and a device given to `lp`: refused at once, never read;
  - `--shard` values that are not K/N in digits with 1 <= K <= N <= 1,000,000, `--shard` with a
    stopping rule (run.stop_when), an empty `-o`; a demand whose want overflows (a quantity of
    1e308, growth of 1e300 a year): refused at its first trial;
  - long -o names: a 244-byte name works (its hidden temporary and staging names are shortened
    to 255 bytes), a 245-byte one (its checkpoint name would pass 255 bytes) and a 256-byte one
    are refused before anything is written;
  - damaged checkpoints (a flipped byte, a truncated file, a lowered next_block, a garbled
    statistics state, a deleted per-trial dataset, a changed per-trial value, a removed digest;
    the edits once as they are -- the seal at the end no longer matches or is gone -- and once
    sealed again, so that the digests inside must find them): `--resume` and `merge` exit 2
    saying the checkpoint (or shard) is damaged, and write nothing.
And a results file that appears at -o during a run without --overwrite (another run with the same
output): kept, the run's own results beside it as <stem>.conflict-<pid>.h5, exit 1.
One writer per output (the lock `.<name>.lock`): a second run, a resume or a merge onto an output
whose lock another process holds (this script, with fcntl.flock; and a real run in progress) exits
2 naming that process's pid and changes nothing; the run in progress goes on undisturbed (SIGTERM
then leaves its checkpoint, and its lock file is gone); a lock file left by a killed run (nobody holds it) blocks
nothing, and the next run removes it with the killed runs' temporary and staging files of this
machine (a live process's, another machine's, and names not in hidden_path's form are kept).
Each case runs under a 60 s timeout and must take under 20 s.
Exit status 0 when every check passes, 1 otherwise. Needs h5py and numpy.
"""
import fcntl
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clitest import child_setup, fail, report  # noqa: E402

LIMIT_S = 20


def run(cmd, cwd=None, timeout=60):
    t = time.monotonic()
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           preexec_fn=child_setup, cwd=cwd)
    except subprocess.TimeoutExpired:
        return None, "", f"timed out after {timeout} s", timeout
    return (r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace"),
            time.monotonic() - t)


def snapshot(d):
    """relative path -> (kind, size, mtime_ns, bytes) of everything under d (FIFOs by kind)."""
    snap = {}
    for root, dirs, files in os.walk(d):
        for name in dirs + files:
            full = os.path.join(root, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, d)
            if os.path.isdir(full):
                snap[rel] = ("dir",)
            elif not os.path.isfile(full):
                snap[rel] = ("special", st.st_mode)
            else:
                with open(full, "rb") as f:
                    snap[rel] = ("file", st.st_size, st.st_mtime_ns, f.read())
    return snap


def refused(where, cmd, d, words, cwd=None):
    """cmd must exit 2 within LIMIT_S, name every word of `words` on stderr, change nothing in d."""
    before = snapshot(d)
    rc, _, err, secs = run(cmd, cwd=cwd)
    msg = err.strip()
    ok = True
    if rc != 2:
        fail(where, f"exit {rc}, expected 2 ({' '.join(cmd)}): {msg[:500]}")
        ok = False
    if secs > LIMIT_S:
        fail(where, f"took {secs:.1f} s (limit {LIMIT_S} s)")
        ok = False
    for w in words:
        if w not in msg:
            fail(where, f"message does not mention {w!r}: {msg[:500]!r}")
            ok = False
    if "::~" in msg or "HDF5-DIAG" in msg:
        fail(where, f"HDF5 noise on stderr: {msg[:500]!r}")
        ok = False
    after = snapshot(d)
    if before != after:
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        fail(where, f"files changed: {changed}")
        ok = False
    if ok:
        print(f"ok   {where}: exit 2 in {secs:.2f} s: {msg.splitlines()[0][:160] if msg else ''}")
    return ok


def fresh(work, name):
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def make_checkpoint(exe, config, d, name="out.h5", trials=40000, extra=()):
    """Runs until the 3rd checkpoint (one after every block), stops it with SIGTERM: the
    checkpoint path, or None."""
    out = os.path.join(d, name)
    cmd = [exe, "run", config, "-o", out, "--trials", str(trials), "--threads", "1",
           "--checkpoint-every", "0.001", "--log-format", "json", *extra]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=child_setup)
    seen = 0
    for line in p.stderr:
        if b'"event":"checkpoint"' in line.replace(b" ", b""):
            seen += 1
            if seen == 3:
                p.send_signal(signal.SIGTERM)
                break
    p.communicate(timeout=120)
    ckpt = out + ".checkpoint"
    if p.returncode != 75 or not os.path.exists(ckpt):
        fail("make_checkpoint", f"exit {p.returncode}, no checkpoint at {ckpt}")
        return None
    return ckpt


def cli_nonfinite(exe, config, work):
    d = fresh(work, "nonfinite")
    out = os.path.join(d, "out.h5")
    rc, _, err, _ = run([exe, "run", config, "-o", out, "-q", "--trials", "200"])
    if rc != 0:
        fail("nonfinite", f"the first run failed: {err}")
        return
    for opt in ("--checkpoint-every", "--progress-every", "--target-se"):
        for value in ("nan", "NaN", "inf", "-inf", "1e400"):
            refused(f"{opt} {value}",
                    [exe, "run", config, "-o", out, "--overwrite", "-q", "--trials", "200", opt,
                     value], d, [opt, "finite"])


def cli_words(exe, config, work):
    """Unknown subcommands are named; --trials takes 2e4 and 20_000 and explains what it refuses."""
    d = fresh(work, "words")
    refused("unknown subcommand", [exe, "frobnicate"], d, ["unknown subcommand 'frobnicate'",
                                                          "run", "summary"])
    for value in ("10k", "1.5", "2.5e-1", "5e9", "0", "-3", "1e", "_5", "1_"):
        refused(f"--trials {value}", [exe, "run", config, "-o", os.path.join(d, "x.h5"),
                                      "--trials", value], d, ["--trials", "whole number", value])
    # Without -o the output is named after the config file, as scripts/run.sh names it (the
    # study's `name` here is "tiny", the file "my_study.yaml").
    shutil.copy(config, os.path.join(d, "my_study.yaml"))
    os.makedirs(os.path.join(d, "results"))
    rc, _, err, _ = run([exe, "run", "my_study.yaml", "-q", "--trials", "200"], cwd=d)
    if rc != 0 or not os.path.exists(os.path.join(d, "results", "my_study.h5")):
        fail("default output name", f"exit {rc}, results/: {os.listdir(os.path.join(d, 'results'))}"
                                    f" {err.strip()[:300]}")
    else:
        print("ok   default output: results/my_study.h5 (the config file's stem)")
    # --shard: K/N in digits, N at most 1,000,000 (sscanf's %d once wrapped 1/4294967297 to a
    # 1/1 run of everything); an empty -o (once the default name, silently)
    for value in ("1/4294967297", "2/4294967298", "0/3", "3/2", " 1/2", "+1/2", "1/2x", "1/"):
        refused(f"--shard {value!r}", [exe, "run", config, "-o", os.path.join(d, "x.h5"),
                                       "--shard", value], d, ["--shard", "K/N"])
    refused("-o ''", [exe, "run", config, "-o", "", "--trials", "200"], d,
            ["-o/--output is empty"], cwd=d)
    # a run setting found wrong after loading (the cross-entropy pilot rounds): the message
    # names the config file, as the loader's do
    ce = os.path.join(d, "ce.yaml")
    with open(config) as f:
        text = f.read()
    with open(ce, "w") as f:
        f.write(text.replace("\nrun:\n", "\nrun:\n  importance:\n    cross_entropy: {demand: us_defense, "
                             "pilot_trials: 200, inputs: [\"event/*\"]}\n", 1))
    refused("cross-entropy pilots that find nothing", [exe, "run", ce, "-o", os.path.join(d, "x.h5"),
                                                        "--trials", "300"], d,
            [ce + ": run.importance.cross_entropy", "pilot trials"])
    # a directory where the checkpoint would go: refused even with --overwrite (which once
    # removed it at the end, when empty)
    os.makedirs(os.path.join(d, "c.h5.checkpoint"))
    refused("a directory at OUT.checkpoint", [exe, "run", config, "-o", os.path.join(d, "c.h5"),
                                              "--overwrite", "--trials", "200"], d,
            ["c.h5.checkpoint", "not a regular file"])
    # a stopping rule cannot be sharded: each shard would stop on its own trials
    stop_cfg = os.path.join(d, "stop.yaml")
    assert "\nrun:\n" in text
    with open(stop_cfg, "w") as f:
        f.write(text.replace("\nrun:\n", "\nrun:\n  stop_when: {statistic: eud, demand: us_defense, "
                                         "se_below: 0.001, min_trials: 200, max_trials: 2000}\n", 1))
    refused("--shard with run.stop_when", [exe, "run", stop_cfg, "-o", os.path.join(d, "x.h5"),
                                           "--trials", "2000", "--shard", "1/2"], d,
            ["--shard cannot be used with run.stop_when"])
    # numbers that overflow once drawn: refused at the first trial, nothing written
    for what, edit in (("a quantity of 1e308", lambda t: t.replace("quantity:", "quantity: 1e308 #", 1)),
                       ("growth that overflows", lambda t: t.replace("quantity:", "growth: 1e300\n    quantity:", 1))):
        big = os.path.join(d, "big.yaml")
        with open(big, "w") as f:
            f.write(edit(text))
        refused(f"run with {what}", [exe, "run", big, "-o", os.path.join(d, "x.h5"), "--trials",
                                     "200"], d, ["big.yaml", "the want of demand", "at most 1e15"])
    for value, n in (("2e3", 2000), ("2.5E3", 2500), ("1_000", 1000), ("1e+3", 1000)):
        out = os.path.join(d, f"t{n}.h5")
        rc, _, err, _ = run([exe, "run", config, "-o", out, "-q", "--overwrite", "--trials", value])
        if rc != 0:
            fail(f"--trials {value}", f"exit {rc}: {err.strip()[:300]}")
            continue
        with h5py.File(out, "r") as f:
            got = int(f.attrs["trials"])
        if got != n:
            fail(f"--trials {value}", f"ran {got} trials, expected {n}")
        else:
            print(f"ok   --trials {value}: {got} trials")


def output_is_input(exe, config, work):
    d = fresh(work, "output_is_input")
    cfg = os.path.join(d, "study.yaml")
    part = os.path.join(d, "part.yaml")
    with open(config) as f:
        text = f.read()
    with open(cfg, "w") as f:
        f.write(text)
    os.makedirs(os.path.join(d, "sub"))
    refused("-o the config (--overwrite)",
            [exe, "run", cfg, "-o", cfg, "--overwrite", "-q", "--trials", "200"], d,
            ["is the config", "study.yaml"])
    # the same file through another path
    refused("-o the config by another path",
            [exe, "run", "study.yaml", "-o", "./sub/../study.yaml", "--overwrite", "-q",
             "--trials", "200"], d, ["is the config"], cwd=d)
    with open(part, "w") as f:
        f.write("lanes: []\n")
    with open(cfg, "w") as f:
        f.write(text.replace("name: tiny", "name: tiny\ninclude: [part.yaml]"))
    refused("-o a file the config includes",
            [exe, "run", cfg, "-o", part, "--overwrite", "-q", "--trials", "200"], d,
            ["is a file the config includes", "part.yaml"])
    # a checkpoint resumed onto itself
    d2 = fresh(work, "output_is_checkpoint")
    ckpt = make_checkpoint(exe, config, d2)
    if ckpt:
        refused("-o the checkpoint being resumed",
                [exe, "run", "--resume", ckpt, "-o", ckpt, "--overwrite", "-q"], d2,
                ["is the checkpoint being resumed"])
    # merge onto a shard
    d3 = fresh(work, "merge_onto_shard")
    shards = []
    for k in (1, 2):
        s = os.path.join(d3, f"s{k}.h5")
        rc, _, err, _ = run([exe, "run", config, "-o", s, "-q", "--trials", "2000",
                             "--shard", f"{k}/2"])
        if rc != 0:
            fail("merge_onto_shard", f"shard {k}: exit {rc}: {err}")
            return
        shards.append(s)
    refused("merge output = a shard",
            [exe, "merge", shards[0], *shards, "--overwrite", "-q"], d3,
            ["is a shard being merged"])


def fifos(exe, config, work):
    d = fresh(work, "fifos")
    fifo = os.path.join(d, "pipe.yaml")
    os.mkfifo(fifo)
    refused("validate a FIFO", [exe, "validate", fifo], d, ["pipe.yaml", "FIFO"])
    refused("run a FIFO", [exe, "run", fifo, "-o", os.path.join(d, "x.h5"), "-q"], d,
            ["pipe.yaml", "FIFO"])
    inc = os.path.join(d, "inc.yaml")
    with open(inc, "w") as f:
        f.write("name: inc\ninclude: [pipe.yaml]\n")
    refused("include a FIFO", [exe, "validate", inc], d, ["inc.yaml:2:", "pipe.yaml", "FIFO"])
    h5 = os.path.join(d, "pipe.h5")
    os.mkfifo(h5)
    refused("summary of a FIFO", [exe, "summary", h5], d, ["pipe.h5", "FIFO"])
    refused("merge of a FIFO", [exe, "merge", os.path.join(d, "m.h5"), h5, h5], d,
            ["pipe.h5", "FIFO"])
    refused("--resume a FIFO", [exe, "run", "--resume", h5, "-o", os.path.join(d, "r.h5")], d,
            ["pipe.h5", "FIFO"])
    lp = os.path.join(d, "pipe.lp")
    os.mkfifo(lp)
    refused("lp of a FIFO", [exe, "lp", lp], d, ["pipe.lp", "FIFO"])
    refused("lp of a device", [exe, "lp", "/dev/zero"], d, ["/dev/zero", "not a regular file"])
    ck = os.path.join(d, "p.h5.checkpoint")
    os.mkfifo(ck)
    refused("--resume a FIFO named *.checkpoint", [exe, "run", "--resume", ck], d,
            ["p.h5.checkpoint", "FIFO"])


def publish_conflict(exe, config, work):
    """A file that appears at -o while a run (without --overwrite) is going (another run with the
    same output) is left as it is: the run ends with exit 1 naming both, its results complete in
    <stem>.conflict-<pid>.h5 beside it (once, the later run replaced the earlier one's file)."""
    d = fresh(work, "publish_conflict")
    out = os.path.join(d, "out.h5")
    p = subprocess.Popen([exe, "run", config, "-o", out, "--trials", "600000", "--threads", "1",
                          "--log-format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=child_setup)
    line = p.stderr.readline().decode(errors="replace")  # the start event: the checks are done
    with open(out, "w") as f:
        f.write("another run's results\n")
    _, err = p.communicate(timeout=120)
    err = line + err.decode(errors="replace")
    alt = os.path.join(d, f"out.conflict-{p.pid}.h5")
    with open(out) as f:
        kept = f.read() == "another run's results\n"
    if p.returncode != 1 or not kept or alt not in err or not os.path.exists(alt):
        fail("publish conflict", f"exit {p.returncode}, other file kept: {kept}, "
                                 f"{os.listdir(d)}: {err.strip()[-400:]}")
        return
    rc, _, serr, _ = run([exe, "summary", alt])
    with h5py.File(alt, "r") as f:
        trials = int(f.attrs["trials"])
    if rc != 0 or trials != 600000:
        fail("publish conflict", f"the conflict file: summary exit {rc}, {trials} trials: {serr[:300]}")
    else:
        print(f"ok   publish conflict: exit 1, the other file kept, results in {os.path.basename(alt)}")


def output_lock(exe, config, work):
    d = fresh(work, "output_lock")
    out = os.path.join(d, "out.h5")
    lock = os.path.join(d, ".out.h5.lock")
    # A lock held by this process, as a running chokepoint would hold it.
    rc, _, err, _ = run([exe, "run", config, "-o", os.path.join(d, "s1.h5"), "--trials", "2000",
                         "--shard", "1/2", "-q"])
    rc2, _, err2, _ = run([exe, "run", config, "-o", os.path.join(d, "s2.h5"), "--trials", "2000",
                           "--shard", "2/2", "-q"])
    if rc != 0 or rc2 != 0:
        fail("output lock", f"shards: exit {rc}, {rc2}: {err[:300]} {err2[:300]}")
        return
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, b"4242\n")
        refused("run onto a locked output", [exe, "run", config, "-o", out, "--trials", "500"], d,
                ["out.h5", "pid 4242", "another chokepoint process"])
        refused("--overwrite onto a locked output",
                [exe, "run", config, "-o", out, "--trials", "500", "--overwrite"], d,
                ["out.h5", "pid 4242"])
        refused("merge onto a locked output",
                [exe, "merge", out, os.path.join(d, "s1.h5"), os.path.join(d, "s2.h5")], d,
                ["out.h5", "pid 4242"])
    finally:
        os.close(fd)  # releases the lock; the file stays, as after a SIGKILL
    # Leftovers of killed runs beside the stale lock file: removed by the next run, which takes
    # the lock over; a live pid's file and names not in hidden_path's form are kept.
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = re.sub(r"[^A-Za-z0-9._]", "_", socket.gethostname())[:64] or "host"
    stale = [f".out.h5.partial-{dead.pid}@{host}-0a1b2c3d",
             f".out.h5.checkpoint.staging-{dead.pid}@{host}-deadbeef"]
    kept = [f".out.h5.partial-{os.getpid()}@{host}-0a1b2c3d",  # a live process
            f".out.h5.partial-{dead.pid}@other-node-0a1b2c3d",  # another machine's
            f".out.h5.partial-{dead.pid}-0a1b2c3d",  # a version before the lock
            f".out.h5.partial-{dead.pid}@{host}-xyz", f".other.h5.partial-1@{host}-0a1b2c3d"]
    for n in stale + kept:
        with open(os.path.join(d, n), "w") as f:
            f.write("leftover\n")
    rc, _, err, _ = run([exe, "run", config, "-o", out, "--trials", "500", "-q"])
    names = set(os.listdir(d))
    if (rc != 0 or any(n in names for n in stale) or not all(n in names for n in kept)
            or ".out.h5.lock" in names or not all(n in err for n in stale)):
        fail("output lock", f"after a stale lock: exit {rc}, {sorted(names)}: {err[:500]}")
    else:
        print("ok   output lock: a stale lock file and the killed runs' leftovers removed, "
              "the rest kept")
    for n in kept:
        os.remove(os.path.join(d, n))
    # A real run in progress: a second run refused naming its pid; the first undisturbed.
    out2 = os.path.join(d, "long.h5")
    p = subprocess.Popen([exe, "run", config, "-o", out2, "--trials", "3000000", "--threads", "1",
                          "--log-format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=child_setup)
    p.stderr.readline()  # the start event: it holds the lock
    # (not `refused`: the run in progress changes its own temporary file meanwhile)
    rc, _, err2, _ = run([exe, "run", config, "-o", out2, "--trials", "500", "--overwrite"])
    if rc != 2 or f"pid {p.pid}" not in err2 or "long.h5" not in err2:
        fail("a second run while one runs", f"exit {rc}: {err2[:500]}")
    else:
        print(f"ok   a second run while one runs: exit 2: {err2.splitlines()[0][:160]}")
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    names = sorted(os.listdir(d))
    if p.returncode != 75 or names != ["long.h5.checkpoint", "out.h5", "s1.h5", "s2.h5"]:
        fail("output lock", f"the run in progress: exit {p.returncode}, {names}: "
                            f"{err.decode(errors='replace')[-300:]}")
    else:
        print("ok   output lock: the run in progress went on, and SIGTERM left its checkpoint")


def long_names(exe, config, work):
    d = fresh(work, "long_names")
    # 244 bytes: the longest name whose checkpoint name (+ ".checkpoint") fits in 255
    name = "a" * 241 + ".h5"
    out = os.path.join(d, name)
    p = subprocess.Popen([exe, "run", config, "-o", out, "-q", "--trials", "40000", "--threads",
                          "1", "--checkpoint-every", "0.001"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, preexec_fn=child_setup)
    hidden = set()
    while p.poll() is None:
        hidden.update(n for n in os.listdir(d) if n.startswith("."))
        time.sleep(0.005)
    err = p.stderr.read().decode(errors="replace")
    if p.returncode != 0:
        fail("244-byte -o", f"exit {p.returncode}: {err}")
    elif os.listdir(d) != [name]:
        fail("244-byte -o", f"directory holds {os.listdir(d)}")
    else:
        longest = max((len(n.encode()) for n in hidden), default=0)
        kinds = sorted({n.split(".")[-1].split("-")[0] for n in hidden})
        if not hidden or longest > 255:
            fail("244-byte -o", f"hidden names seen: {sorted(hidden)}")
        else:
            print(f"ok   244-byte -o: exit 0; hidden names ({', '.join(kinds)}) of at most "
                  f"{longest} bytes")
    os.remove(out)
    for n in (245, 255):
        refused(f"{n}-byte -o (its checkpoint name would exceed 255 bytes)",
                [exe, "run", config, "-o", os.path.join(d, "b" * (n - 3) + ".h5"), "-q",
                 "--trials", "200"], d, ["too long for its checkpoint", "at most 255"])
    refused("256-byte -o", [exe, "run", config, "-o", os.path.join(d, "c" * 256), "-q",
                            "--trials", "200"], d, ["256 bytes long", "at most 255"])


def reseal(path):
    """Appends a seal that matches the file's bytes (what seal_file writes, docs/output-format.md):
    damage that also rewrote the seal, so that the digests inside must find it."""
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "ab") as f:
        f.write(b"\n#chokepoint-sha256:" + hashlib.sha256(data).hexdigest().encode() + b"\n")


def damage(path, how):
    """Damages the checkpoint or shard at `path` in place, one way. Edits through h5py drop the
    seal at the end (HDF5 truncates the file to its allocated size); "(resealed)" seals it again."""
    if how.endswith(" (resealed)"):
        damage(path, how[:-len(" (resealed)")])
        reseal(path)
        return
    if how == "byte flipped":
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            b = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([b[0] ^ 0x20]))
        return
    if how == "truncated":
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.truncate(size * 2 // 3)
        return
    with h5py.File(path, "r+") as f:
        st = f["state"]
        if how == "next_block lowered":
            st.attrs["next_block"] = np.uint64(int(st.attrs["next_block"]) - 1)
        elif how == "state garbled":
            words = st["baseline"][()]
            words[len(words) // 2] ^= np.uint64(1 << 17)
            st["baseline"][...] = words
        elif how == "dataset deleted":
            del f["scenarios/baseline/trials/shortfall_share"]
        elif how == "trial value changed":
            ds = f["scenarios/baseline/trials/shortfall"]
            row = ds[5]
            row[0] += 1.0
            ds[5] = row
        elif how == "digest removed":
            del st.attrs["sha256"]
        else:
            raise ValueError(how)


def damaged_checkpoints(exe, config, work):
    d = fresh(work, "damaged_source")
    ckpt = make_checkpoint(exe, config, d)
    if not ckpt:
        return
    ways = ["byte flipped", "truncated", "next_block lowered", "state garbled", "dataset deleted",
            "trial value changed", "digest removed"]
    ways += [w + " (resealed)" for w in ways[2:]]
    for how in ways:
        dd = fresh(work, "damaged_" + how.replace(" ", "_").replace("(", "").replace(")", ""))
        bad = os.path.join(dd, "out.h5.checkpoint")
        shutil.copyfile(ckpt, bad)
        # an earlier results file at the target: a resume must not replace it
        with open(os.path.join(dd, "out.h5"), "wb") as f:
            f.write(b"an earlier results file\n")
        damage(bad, how)
        refused(f"--resume, {how}", [exe, "run", "--resume", bad, "--overwrite", "-q"], dd,
                ["out.h5.checkpoint", "damaged"])
    # the undamaged one resumes (the test can fail)
    rc, _, err, _ = run([exe, "run", "--resume", ckpt, "-q"])
    if rc != 0:
        fail("undamaged checkpoint", f"resume exit {rc}: {err}")
    else:
        print("ok   undamaged checkpoint: resumed, exit 0")
    # shards: merge refuses a damaged one
    ds = fresh(work, "damaged_shards")
    shards = []
    for k in (1, 2):
        s = os.path.join(ds, f"s{k}.h5")
        rc, _, err, _ = run([exe, "run", config, "-o", s, "-q", "--trials", "4000",
                             "--shard", f"{k}/2"])
        if rc != 0:
            fail("damaged shards", f"shard {k}: exit {rc}: {err}")
            return
        shards.append(s)
    for how in ("byte flipped", "state garbled (resealed)", "trial value changed (resealed)",
                "dataset deleted (resealed)", "trial value changed"):
        dd = fresh(work, "damaged_shard_" + how.replace(" ", "_").replace("(", "").replace(")", ""))
        copies = []
        for s in shards:
            c = os.path.join(dd, os.path.basename(s))
            shutil.copyfile(s, c)
            copies.append(c)
        damage(copies[1], how)
        refused(f"merge, shard {how}",
                [exe, "merge", os.path.join(dd, "merged.h5"), *copies, "-q"], dd,
                ["s2.h5", "damaged"])


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    exe, config, work = (os.path.abspath(a) for a in sys.argv[1:4])
    os.makedirs(work, exist_ok=True)
    t0 = time.monotonic()
    cli_nonfinite(exe, config, work)
    cli_words(exe, config, work)
    output_is_input(exe, config, work)
    fifos(exe, config, work)
    publish_conflict(exe, config, work)
    output_lock(exe, config, work)
    long_names(exe, config, work)
    damaged_checkpoints(exe, config, work)
    print(f"-- {time.monotonic() - t0:.1f} s in all")
    return report("hostile input", work)


if __name__ == "__main__":
    sys.exit(main())
