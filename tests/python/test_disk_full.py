#!/usr/bin/env python3
"""A run that fills the disk loses nothing.

usage: test_disk_full.py fsize|tmpfs|sigterm CHOKEPOINT CONFIG WORKDIR

Writes a small results file (100 trials of CONFIG) at the target, then runs 20000 trials onto it
with --overwrite where the write must fail:
  fsize  a file-size limit (RLIMIT_FSIZE, `ulimit -f`) of the small file's size + 256 KiB: writes
         past it fail with EFBIG ("File too large"), as they would with ENOSPC; unprivileged.
  tmpfs  a real full file system: a 4 MiB tmpfs mounted in WORKDIR, filled up to 256 KiB free after
         the small run (root only; exit 77 = skipped when mounting is not permitted, e.g. in an
         unprivileged container).
Checks: exit code 1 (not a crash), an error naming the target and the system's reason, and
nothing else on stderr (no HDF5 "DataSet::~DataSet - H5Dclose failed" lines), the small file
byte-identical, no temporary `.out.h5.partial-*` file left.
  sigterm  SIGTERM when there is no room for the checkpoint: a 4 MiB tmpfs with 1 MiB free, a run
         of CONFIG in blocks of 200 trials without periodic checkpoints, the signal once its
         temporary file holds 60% of the free space (the checkpoint, a copy of it, cannot fit);
         checks exit 128 + 15 = 143 (docs/robustness.md: no checkpoint saved), one message naming
         the signal, the checkpoint and "No space left on device", and nothing left but the
         filler (no results file, checkpoint, temporary or staging file). Root only (skipped
         otherwise, exit 77).
Exit status 0 pass, 1 fail, 77 skipped. Needs only the standard library.
"""
import glob
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

SKIP = 77


def run(cmd, limit=None):
    def setup():
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # what a shell gives: the default, which kills
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=setup,
                          timeout=600)


def check(mode, exe, config, d):
    target = os.path.join(d, "out.h5")
    first = run([exe, "run", config, "-o", target, "-q", "--trials", "100", "--threads", "1"])
    if first.returncode != 0:
        print(f"FAIL: the small run failed (exit {first.returncode}):\n{first.stderr.decode()}")
        return False
    with open(target, "rb") as f:
        before = f.read()
    limit = None
    keep = ["out.h5"]
    if mode == "fsize":
        limit = len(before) + 256 * 1024
    else:  # leave 256 KiB free on the tmpfs
        st = os.statvfs(d)
        with open(os.path.join(d, "filler"), "wb") as f:
            f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - 256 * 1024))
        keep = ["filler", "out.h5"]
    cmd = [exe, "run", config, "-o", target, "--overwrite", "-q", "--trials", "20000"]
    r = run(cmd, limit)
    err = r.stderr.decode(errors="replace")
    reason = "File too large" if mode == "fsize" else "No space left on device"
    errors = []
    if r.returncode != 1:
        errors.append(f"exit code {r.returncode}, expected 1"
                      + (" (killed by a signal)" if r.returncode < 0 else ""))
    if f"writing '{target}' failed" not in err:
        errors.append("the error does not name the target")
    if reason not in err:
        errors.append(f"the error does not give the reason '{reason}'")
    lines = [x for x in err.splitlines() if x.strip()]
    if len(lines) != 1:
        errors.append(f"{len(lines)} lines on stderr, expected one error message")
    with open(target, "rb") as f:
        if f.read() != before:
            errors.append("the existing target changed")
    left = sorted(os.listdir(d))
    if left != keep:
        errors.append(f"directory holds {left}, expected {keep}")
    for e in errors:
        print(f"FAIL {mode}: {e}")
    print(f"--- {' '.join(cmd)} -> exit {r.returncode}\n--- stderr:\n{err}---")
    return not errors


def check_sigterm(exe, config, d):
    """SIGTERM with no room left for the checkpoint: exit 143, one message, nothing left."""
    cfg = os.path.join(os.path.dirname(d), "disk_full_sigterm.yaml")
    with open(config) as f:
        text = f.read()
    with open(cfg, "w") as f:
        f.write(text.replace("run:\n", "run:\n  block_size: 200\n", 1))
    free = 1024 * 1024
    st = os.statvfs(d)
    with open(os.path.join(d, "filler"), "wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - free))
    target = os.path.join(d, "out.h5")
    cmd = [exe, "run", cfg, "-o", target, "--trials", "1000000", "--threads", "1",
           "--checkpoint-every", "0", "-q"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: [signal.signal(s, signal.SIG_DFL)
                                             for s in (signal.SIGINT, signal.SIGTERM)])
    size = 0
    deadline = time.monotonic() + 120
    while p.poll() is None and time.monotonic() < deadline:
        tmp = glob.glob(os.path.join(d, ".out.h5.partial-*"))
        try:
            size = os.stat(tmp[0]).st_blocks * 512 if tmp else 0
        except FileNotFoundError:
            size = 0
        if size >= 0.6 * free:
            break
        time.sleep(0.002)
    errors = []
    if p.poll() is not None:
        errors.append(f"the run ended (exit {p.returncode}) before its file reached "
                      f"{0.6 * free:.0f} bytes")
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=120)
    err = err.decode(errors="replace")
    if p.returncode != 143:
        errors.append(f"exit code {p.returncode}, expected 143 (128 + SIGTERM)")
    for want in ("interrupted by signal 15", "out.h5.checkpoint' could not be saved",
                 "No space left on device"):
        if want not in err:
            errors.append(f"the message does not say {want!r}")
    lines = [x for x in err.splitlines() if x.strip()]
    if len(lines) != 1:
        errors.append(f"{len(lines)} lines on stderr, expected one message")
    left = sorted(os.listdir(d))
    if left != ["filler"]:
        errors.append(f"directory holds {left}, expected only the filler")
    for e in errors:
        print(f"FAIL sigterm: {e}")
    print(f"--- SIGTERM at {size} bytes of {free} free: {' '.join(cmd)} -> exit {p.returncode}\n"
          f"--- stderr:\n{err}---")
    return not errors


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("fsize", "tmpfs", "sigterm"):
        print(__doc__)
        return 2
    mode, exe, config, work = sys.argv[1:]
    d = os.path.join(work, f"disk_full_{mode}")
    if os.path.ismount(d):
        subprocess.run(["umount", d])
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    mounted = False
    try:
        if mode in ("tmpfs", "sigterm"):
            if os.geteuid() != 0:
                print("SKIP: mounting a tmpfs needs root")
                return SKIP
            m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", d],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if m.returncode != 0:
                print(f"SKIP: cannot mount a tmpfs here: {m.stdout.decode().strip()}")
                return SKIP
            mounted = True
        ok = check_sigterm(exe, config, d) if mode == "sigterm" else check(mode, exe, config, d)
    finally:
        if mounted:
            subprocess.run(["umount", d])
        shutil.rmtree(d, ignore_errors=True)
    print(f"disk full ({mode}): " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
