#!/usr/bin/env python3
"""The hindcasts of configs/history/ keep the signatures docs/validation.md claims for them.

    test_history.py CHOKEPOINT WORKDIR

Every configs/history/*.yaml must validate and be one of scripts/hindcast.py's episodes; each is
run on a few hundred trials through the same functions that produce docs/validation.md's tables,
and the qualitative signature of each episode is asserted (the months in which the episode's
demand is short and those in which it is not, the size of the cut within wide bounds, what the
scenarios change). A change of the engine or of a config that stopped reproducing an episode fails
here. Exit 0 when every check passes.
"""

import glob
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import hindcast  # noqa: E402

TRIALS = 300
FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def mean(s):
    return s["mean"]


def main(exe, work):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    configs = sorted(glob.glob(os.path.join(ROOT, "configs", "history", "*.yaml")))
    check(len(configs) >= 4, f"configs/history has the four episodes ({len(configs)} configs)")
    for cfg in configs:
        r = subprocess.run([exe, "validate", cfg], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        check(r.returncode == 0 and "config OK" in r.stdout,
              f"validate {os.path.basename(cfg)} (exit {r.returncode}) {r.stderr.strip()}")
        stem = os.path.splitext(os.path.basename(cfg))[0]
        check(stem in hindcast.EPISODES,
              f"{stem} is an episode of scripts/hindcast.py (every history config is compared)")

    # The script's own command line: bad arguments are one line and exit 2, before any run (a
    # missing program, --trials 0 and an unwritable --json once gave tracebacks, the last after
    # every run had finished, and --trials 0 silently ran the configs' own trial counts).
    script = os.path.join(ROOT, "scripts", "hindcast.py")
    for args, word in ((["--exe", os.path.join(work, "no_such_chokepoint")], "--exe"),
                       (["--exe", exe, "--trials", "0"], "--trials"),
                       (["--exe", exe, "--json", os.path.join(work, "no_dir", "x.json")], "--json")):
        r = subprocess.run([sys.executable, script, *args], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=60)
        check(r.returncode == 2 and word in r.stderr and "Traceback" not in r.stderr
              and not r.stdout.strip(),
              f"hindcast.py {' '.join(args[-2:])}: exit 2, one line naming {word} (exit {r.returncode}: "
              f"{r.stderr.strip()[-200:]})")

    res = hindcast.run_episodes(exe, work, TRIALS)

    # --- 2010: embargo on Japan, Oct-Nov 2010 --------------------------------------------------
    e = res["ree_japan_2010"]
    check(e["jp_short_months"] == ["2010-10", "2010-11"],
          f"2010: Japan short exactly in Oct and Nov 2010 ({e['jp_short_months']})")
    check(e["jp_short_share_embargo"] == 1.0, "2010: Japan short in both embargo months in every trial")
    for lab in ("2010-10", "2010-11"):
        check(0.15 < mean(e["jp_supply_index"][lab]) < 0.6,
              f"2010: Japan's supply in {lab} cut to 15-60% of its want "
              f"({mean(e['jp_supply_index'][lab]):.3f})")
    for lab in ("2010-07", "2010-08", "2010-09", "2010-12", "2011-01", "2011-03"):
        check(e["jp_supply_index"][lab]["q05"] > 1 - 1e-6, f"2010: Japan served in full in {lab}")
    check(e["row_max_shortfall"] == 0 and e["cn_max_shortfall"] == 0,
          "2010: the rest of the world and China are never short")
    check(mean(e["cn_to_jp_index_embargo"]) < 0.2,
          f"2010: China's exports to Japan in the embargo under 20% of normal "
          f"({mean(e['cn_to_jp_index_embargo']):.3f})")
    check(300 < mean(e["oth_to_jp_t_embargo"]) < 900,
          f"2010: non-China supply to Japan in the embargo 300-900 t/month, observed 539-614 "
          f"({mean(e['oth_to_jp_t_embargo']):.0f})")
    check(abs(mean(e["coordinated_minus_rule_jp_shortfall_t"])) < 1e-3,
          "2010: the coordinated rule gives Japan the same deliveries")

    # --- 2023: gallium licensing from Aug 2023 ------------------------------------------------
    e = res["ga_licensing_2023"]
    idx = e["cn_exports_index"]
    for lab in ("2023-05", "2023-06", "2023-07"):
        check(idx[lab]["q05"] > 1 - 1e-6, f"2023: China's gallium exports normal in {lab}")
    for lab in ("2023-08", "2023-09"):
        check(idx[lab]["q95"] < 0.05, f"2023: China's gallium exports ~0 in {lab} "
                                      f"({mean(idx[lab]):.4f})")
    for lab in ("2023-10", "2024-01", "2024-04"):
        check(0.7 < mean(idx[lab]) <= 1.0, f"2023: exports back to 70-100% in {lab} "
                                           f"({mean(idx[lab]):.3f})")
    check(e["cn_use_max_shortfall"] == 0, "2023: China's own use never short")
    check(abs(mean(e["coordinated_minus_rule_row_shortfall_t"])) < 1e-6,
          "2023: the coordinated rule gives the same deliveries")

    # --- Dec 2024: gallium ban to the US ------------------------------------------------------
    e = res["ga_ban_us_2024"]
    check(abs(mean(e["no_us_measures_minus_baseline_us_shortfall_t"])) < 1e-6
          and e["no_us_measures_minus_baseline_us_shortfall_t"]["q95"] < 1e-6,
          "2024: the US-specific measures change no US delivery (third-country refiners)")
    for lab in e["labels"]:
        check(abs(mean(e["us_supply_index"][lab]) - mean(e["others_supply_index"][lab])) < 1e-6,
              f"2024: the US is served like Japan in {lab}")
    ban = ["2024-12", "2025-01", "2025-05", "2025-10"]
    out = ["2024-09", "2024-11", "2025-11", "2026-02"]
    cut = e["reexport_minus_coordinated_us_shortfall_share"]
    for lab in ban:
        check(mean(cut[lab]) > 0.2 and cut[lab]["q05"] > 0,
              f"2024: with re-exports banned the US is short from the ban month, {lab} "
              f"({mean(cut[lab]):.3f} of its want)")
    for lab in out:
        check(abs(mean(cut[lab])) < 1e-6, f"2024: re-export ban changes nothing in {lab}")

    may = e["may_2025_halt_us_supply_index"]
    check(mean(may["2025-05"]) < 0.8, f"2024: scenario may_2025_halt cuts US supply in May 2025 "
                                      f"({mean(may['2025-05']):.3f})")
    for lab in ("2025-04", "2025-06"):
        check(abs(mean(may[lab]) - mean(e["us_supply_index"][lab])) < 1e-9,
              f"2024: scenario may_2025_halt changes nothing in {lab}")

    # --- Apr 2025: magnet licensing -----------------------------------------------------------
    e = res["magnets_licensing_2025"]
    b = e["baseline"]
    for lab in ("2025-01", "2025-02", "2025-03"):
        check(b["total_index"][lab]["q05"] > 1 - 1e-6, f"2025: magnet exports normal in {lab}")
    for lab in ("2025-04", "2025-05"):
        check(0.15 < mean(b["total_index"][lab]) < 0.35,
              f"2025: exports cut to 15-35% in {lab} (observed May 26%) "
              f"({mean(b['total_index'][lab]):.3f})")
    for lab in ("2025-06", "2025-09"):
        check(0.5 < mean(b["total_index"][lab]) < 0.7,
              f"2025: exports at 50-70% in {lab} (observed Jun 62-66%) "
              f"({mean(b['total_index'][lab]):.3f})")
    for lab in e["labels"]:
        check(abs(mean(b["us_index"][lab]) - mean(b["row_index"][lab])) < 1e-6,
              f"2025: one approval rate -> the US cut like everyone in {lab}")
    for lab in ("2025-04", "2025-05"):
        check(mean(e["us_deprioritised"]["us_index"][lab]) < 0.1,
              f"2025: scenario us_deprioritised cuts the US below 10% in {lab} (observed May 7%)")
    check(abs(mean(e["coordinated"]["total_index"]["2025-05"])
              - mean(b["total_index"]["2025-05"])) < 1e-9,
          "2025: the coordinated rule gives the same deliveries")
    check(e["cn_use_max_shortfall"] == 0, "2025: China's own use never short")

    if FAILS:
        print(f"history checks FAILED ({len(FAILS)}):")
        for f in FAILS:
            print("  " + f)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print("all history checks passed")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
