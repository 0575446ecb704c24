#!/usr/bin/env python3
"""Months served in full without an LP are served in full by the LPs too (docs/model.md, "Months
that need no LP"): the differential check of the certificates over whole runs.

    test_certificates.py CHOKEPOINT SOURCE_DIR WORKDIR

Runs, with CHOKEPOINT_VERIFY_CERTIFICATES=1 (every month taken as monotone or certified is
solved by the LPs as well, and the run stops if they deliver anything but every want and refill):
1. every shipped study with all its scenarios (the allocation rules, reserves, refineries, allied
   blocs; export controls and static lanes active in most months);
2. 30 random value chains from scripts/soak_configs.py (seed 13): multi-input recipes, export
   controls with zero and fractional leakage that overlap, static lanes, capacity shocks, every
   rule, stockpiles that refill.
The check also covers the partial certificates: a month whose demands (not its refills) are all
served in full, a home's phase 1 under home_first, and a round of progressive filling whose
demands are all served in full are solved by the LPs as well and must give every want. Each run must exit 0, and every kind of certificate must have fired (the
counters of CHOKEPOINT_STATS), so the check is not vacuous.
The same runs check the report of the summary's phases: the `finish:` line names its six
phases, none negative, and their sum lies within the `finish` seconds of the `phases:` line
(they are parts of it).
Under CHOKEPOINT_TEST_QUICK (the sanitizer pass): fewer trials and random chains.
"""

import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from clitest import fail, ok, report, run  # noqa: E402

QUICK = bool(os.environ.get("CHOKEPOINT_TEST_QUICK"))
STUDY_TRIALS = "100" if QUICK else "300"
RANDOM_TRIALS = "50" if QUICK else "150"
RANDOM_CHAINS = 10 if QUICK else 30
STUDIES = ["critical_materials", "gallium", "ndfeb", "samarium_cobalt", "examples/tiny"]
STATS = re.compile(r"allocator: (\d+) component-months, (\d+) repeated, (\d+) monotone, "
                   r"(\d+) certified, (\d+) LPs.*without an LP: (\d+) months' demands, "
                   r"(\d+) homes' phase 1, (\d+) filling rounds")
FINISH = re.compile(r"^phases: .*, finish ([0-9.e+-]+) s$", re.M)
FINISH_PARTS = re.compile(r"^finish: statistics (\S+) s, distribution (\S+) s, bands (\S+) s, "
                          r"differences (\S+) s, labels and sensitivity (\S+) s, file (\S+) s$",
                          re.M)


def verified_run(exe, config, trials, out, where):
    """Runs config with every certificate checked; (monotone, certified, demands certified,
    homes certified, progressive-filling rounds certified), or None."""
    env = dict(os.environ, CHOKEPOINT_VERIFY_CERTIFICATES="1", CHOKEPOINT_STATS="1")
    cmd = [exe, "run", config, "--trials", trials, "--threads", "2", "-o", out, "--overwrite",
           "--log-format", "text"]
    rc, stdout, stderr = run(cmd, timeout=900, env=env)
    m = STATS.search(stdout + stderr)
    if rc != 0 or not m:
        fail(where, f"exit {rc}: {(stderr or stdout).strip()[-600:]}")
        return None
    whole, parts = FINISH.search(stderr), FINISH_PARTS.search(stderr)
    if not whole or not parts:
        fail(where, "no 'phases: ... finish' and 'finish:' lines in the CHOKEPOINT_STATS report")
    else:
        secs = [float(x) for x in parts.groups()]
        if min(secs) < 0 or sum(secs) > float(whole.group(1)) + 1e-3:
            fail(where, f"the summary's phases {secs} are not parts of its {whole.group(1)} s")
    print(f"ok   {where}: {m.group(3)} monotone and {m.group(4)} certified months, "
          f"{m.group(6)} months' demands, {m.group(7)} homes' phase 1 and {m.group(8)} filling rounds "
          f"served in full by the LPs too ({m.group(5)} LPs)")
    return tuple(int(m.group(i)) for i in (3, 4, 6, 7, 8))


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    exe, src, work = sys.argv[1:]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    certified = homes = rounds = 0
    for name in STUDIES:
        got = verified_run(exe, os.path.join(src, "configs", name + ".yaml"), STUDY_TRIALS,
                           os.path.join(work, os.path.basename(name) + ".h5"), name)
        certified += got[1] if got else 0
        homes += got[3] if got else 0
        rounds += got[4] if got else 0
    chains = os.path.join(work, "random")
    subprocess.run([sys.executable, os.path.join(src, "scripts", "soak_configs.py"), chains,
                    str(RANDOM_CHAINS), "13"], check=True, stdout=subprocess.DEVNULL)
    random_certified = random_demands = 0
    for i in range(RANDOM_CHAINS):
        got = verified_run(exe, os.path.join(chains, f"random_{i}.yaml"), RANDOM_TRIALS,
                           os.path.join(work, f"random_{i}.h5"), f"random chain {i}")
        random_certified += got[1] if got else 0
        random_demands += got[2] if got else 0
    # Not vacuous: the default study alone certifies thousands of months with its export
    # controls and static lanes active (12,665 in 1,000 baseline trials).
    ok("the shipped studies certify months", certified > 1000, f"only {certified}")
    ok("the shipped studies certify homes' phase 1", homes > 1000, f"only {homes}")
    ok("the shipped studies certify filling rounds", rounds > 1000, f"only {rounds}")
    ok("the random chains certify months", random_certified > 100, f"only {random_certified}")
    ok("the random chains certify months' demands", random_demands > 10,
       f"only {random_demands}")
    return report("certificate", work)


if __name__ == "__main__":
    sys.exit(main())
