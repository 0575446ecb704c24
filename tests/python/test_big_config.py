#!/usr/bin/env python3
"""Loading a large config is linear in its size (docs/robustness.md, "Large configs").

usage: test_big_config.py CHOKEPOINT WORKDIR

Generates (make_big_config.py, not committed) configs of 25,000 and 50,000 facilities (~3 and
~6 MB) with 3 scenarios, valid and with an unknown product in the last facility, and runs
`chokepoint validate` on each, measuring the child's CPU time and peak memory (getrusage):
  - the valid ones validate (exit 0), the bad ones exit 2 naming the file, line and key path;
  - doubling the facilities at most triples the CPU time and the memory (linear, with slack for
    a shared machine; the quadratic parts this test guards against -- did-you-mean over every id,
    a PERT table per distribution and scenario, a re-parse per scenario -- made it 4x or more);
  - the 50,000-facility load takes under 60 s of CPU time and 3 GB of memory (generous: the
    sanitizer build runs it too; docs/robustness.md gives the plain build's figures).
Exit status 0 when every check passes, 1 otherwise. Needs only the standard library.
"""
import os
import resource
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def validate(exe, path):
    """(exit code, stderr, CPU seconds, peak resident MB) of `chokepoint validate path`."""
    pid = os.fork()
    if pid == 0:
        fd = os.open(path + ".err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execv(exe, [exe, "validate", path])
    _, status, ru = os.wait4(pid, 0)
    with open(path + ".err") as f:
        err = f.read()
    return os.waitstatus_to_exitcode(status), err, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    exe, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    fails = []
    figures = {}
    for n in (25000, 50000):
        for kind in ("none", "unknown_product"):
            path = os.path.join(work, f"big_{n}_{kind}.yaml")
            subprocess.run([sys.executable, os.path.join(HERE, "make_big_config.py"), path,
                            str(n), "3", kind], check=True)
            rc, err, cpu, mb = validate(exe, path)
            size = os.path.getsize(path) / 1e6
            print(f"{n} facilities, 3 scenarios, {kind}: {size:.1f} MB, exit {rc}, "
                  f"{cpu:.2f} s CPU, {mb:.0f} MB peak")
            figures[(n, kind)] = (cpu, mb)
            if kind == "none" and rc != 0:
                fails.append(f"{path}: exit {rc}, expected 0: {err[:300]}")
            if kind == "unknown_product":
                want = f"big_{n}_{kind}.yaml:"
                if rc != 2 or want not in err or f"facilities[{n - 1}].product" not in err \
                        or "unknown product 'no_such_product'" not in err:
                    fails.append(f"{path}: exit {rc}, message {err[:300]!r}")
            if cpu > 60 or mb > 3000:
                fails.append(f"{path}: {cpu:.1f} s CPU, {mb:.0f} MB: over 60 s or 3 GB")
    for kind in ("none", "unknown_product"):
        (c1, m1), (c2, m2) = figures[(25000, kind)], figures[(50000, kind)]
        print(f"{kind}: x2 facilities -> x{c2 / c1:.2f} CPU time, x{m2 / m1:.2f} memory")
        if c2 > 3 * c1 + 1.0:
            fails.append(f"{kind}: CPU time x{c2 / c1:.2f} for x2 facilities (superlinear)")
        if m2 > 3 * m1:
            fails.append(f"{kind}: memory x{m2 / m1:.2f} for x2 facilities (superlinear)")
    for f in fails:
        print(f"FAIL {f}")
    if not fails:
        shutil.rmtree(work, ignore_errors=True)
        print("big configs: passed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
