#!/usr/bin/env python3
"""A run that fills the disk loses nothing.

usage: test_disk_full.py fsize|tmpfs CHOKEPOINT CONFIG WORKDIR

Writes a small results file (100 trials of CONFIG) at the target, then runs 20000 trials onto it
with --overwrite where the write must fail:
  fsize  a file-size limit (RLIMIT_FSIZE, `ulimit -f`) of the small file's size + 256 KiB: writes
         past it fail with EFBIG ("File too large"), as they would with ENOSPC; unprivileged.
  tmpfs  a real full file system: a 4 MiB tmpfs mounted in WORKDIR, filled up to 256 KiB free after
         the small run (root only; exit 77 = skipped when mounting is not permitted, e.g. in an
         unprivileged container).
Checks: exit code 1 (not a crash), an error naming the target and the system's reason, the small
file byte-identical, no temporary `.out.h5.partial-*` file left.
Exit status 0 pass, 1 fail, 77 skipped. Needs only the standard library.
"""
import os
import resource
import shutil
import signal
import subprocess
import sys

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


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("fsize", "tmpfs"):
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
        if mode == "tmpfs":
            if os.geteuid() != 0:
                print("SKIP: mounting a tmpfs needs root")
                return SKIP
            m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", d],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if m.returncode != 0:
                print(f"SKIP: cannot mount a tmpfs here: {m.stdout.decode().strip()}")
                return SKIP
            mounted = True
        ok = check(mode, exe, config, d)
    finally:
        if mounted:
            subprocess.run(["umount", d])
        shutil.rmtree(d, ignore_errors=True)
    print(f"disk full ({mode}): " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
