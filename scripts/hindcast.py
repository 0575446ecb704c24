#!/usr/bin/env python3
"""Hindcasts: run the configs of configs/history/ and compare them with what was observed.

    scripts/hindcast.py [--exe build/chokepoint] [--trials N] [--out results/hindcast]
                        [--episode ID ...] [--json FILE]

For each episode (configs/history/<id>.yaml) it runs `chokepoint run` (with --store-inputs), reads
the per-trial monthly shortfall of the results file and derives the quantity the episode is
compared on, month by month: mean over trials, its standard error, and the 5%-95% band across
trials (the model's own spread). The observed figures below are from the sources in
docs/sources.md (customs data reported in the press, USGS, industry bodies); docs/validation.md
explains each comparison and what the model gets wrong. `--json` writes every number for scripts
(tests/python/test_history.py uses the same functions on a few hundred trials).

How the model's quantities are derived (the engine reports deliveries per demand, not flows per
lane, and routes are not unique in general):
- a month's *supply index* of a demand = delivered / want = 1 - shortfall / want, with
  want = demand_total / horizon (the history configs have no growth, so every month wants the same);
- where a demand is "imports of Chinese X" and no other supplier can serve it (ga_licensing_2023,
  magnets_licensing_2025), delivered = China's exports to it, so the supply index is China's
  exports relative to their pre-episode rate;
- ree_japan_2010 has a second supplier (OTH): in a month in which Japan is short every lane into
  Japan is saturated (otherwise the fair allocation would send more), so China's exports to Japan
  equal the embargo's allowance, leakage x China's capacity / 12, and the rest of Japan's supply is
  OTH's whole capacity / 12; the script checks that the two add up to Japan's delivery.

Only h5py and numpy are needed (the dependencies of the chokepoint reader, python/chokepoint).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import subprocess
import sys
import tempfile

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HISTORY = os.path.join(ROOT, "configs", "history")

# --- observed figures (docs/sources.md has every source; "derived" ones say how) -----------------
# Indices are relative to the pre-episode rate named in `reference`; None = no figure found.

OBSERVED = {
    "ree_japan_2010": {
        "reference": "Jan-Aug 2010 monthly average",
        # Japan's rare-earth imports from China, t (Japan MoF via Reuters, 27 Dec 2010 and
        # 24 Jan 2011); Jan-Aug average derived: 2010 total 23,310 t less Sep-Dec = 15,072 t / 8.
        "jp_from_cn_t": {"2010-09": 2246, "2010-10": 1278, "2010-11": 634, "2010-12": 4080},
        "jp_from_cn_ref_t": 1884.0,
        # Japan's rare-earth imports from all origins, t: Nov 1,173 t (Reuters); Oct from "Nov -38%
        # on Oct" = 1,892 t; Sep from China's ~61% share = 3,682 t; the Jan-Aug average ~2,160 t
        # (derived, with December's total estimated at ~4,500 t: docs/validation.md).
        "jp_total_t": {"2010-09": 3682, "2010-10": 1892, "2010-11": 1173},
        "jp_total_ref_t": 2160.0,
        # Japan's imports from other origins (total - China), t; Jan-Aug average ~280 t (derived).
        "jp_other_t": {"2010-09": 1436, "2010-10": 614, "2010-11": 539},
        "jp_other_ref_t": 280.0,
    },
    "ga_licensing_2023": {
        "reference": "Jan-Jul 2023 monthly average (5.14 t)",
        # China's gallium exports, t (China customs via Reuters Aug / 20 Sep / 20 Nov 2023,
        # rawmaterials.net / germanium.com Dec 2023 - Apr 2024 and Jan 2025). Jul 2023 is wrought
        # gallium only (the others wrought and unwrought where the report says so; scopes differ
        # between reports). Dec 2023 derived from Dec 2024's 6.42 t being ~9% lower y/y; Feb 2024
        # from Mar 2024 (1.214 t) being "just over 1%" above Feb.
        "cn_exports_t": {"2023-07": 5.15, "2023-08": 0.0, "2023-09": 0.0, "2023-10": 0.25,
                         "2023-11": 1.53, "2023-12": 7.05, "2024-02": 1.20, "2024-03": 1.214},
        "cn_exports_ref_t": 5.14,
    },
    "ga_ban_us_2024": {
        "reference": "2024 monthly average of China's exports (69.4 t / 12 = 5.79 t)",
        # China's direct gallium exports to the US: none Jan-Oct 2024 (Reuters, Dec 2024), none
        # since Aug 2023 (Fastmarkets, Nov 2025).
        "cn_to_us_t": {m: 0.0 for m in ("2024-09", "2024-10", "2024-11", "2024-12", "2025-01",
                                         "2025-02", "2025-03", "2025-04", "2025-05", "2025-06",
                                         "2025-07", "2025-08", "2025-09", "2025-10")},
        # China's gallium exports, all destinations, t (customs via rohstoff.net, rawmaterials.net).
        "cn_exports_t": {"2024-12": 6.42, "2025-05": 0.0, "2025-06": 4.26},
        "cn_exports_ref_t": 69.44 / 12,
    },
    "magnets_licensing_2025": {
        "reference": "2024 monthly average (58,152 t / 12 = 4,846 t; US ~660 t)",
        # China's rare-earth magnet exports, t (China customs via Reuters, WSJ, Bloomberg, SCMP).
        # Jan-Mar: the H1 total 22,319 t less Apr-Jun, per month (derived); Apr from May being
        # -52.9% m/m (derived).
        "cn_exports_t": {"2025-01": 5088, "2025-02": 5088, "2025-03": 5088, "2025-04": 2628,
                         "2025-05": 1238, "2025-06": 3188, "2025-07": 5577, "2025-08": 6146,
                         "2025-09": 5774},
        "cn_exports_ref_t": 58152 / 12,
        # year on year, as reported: May -74%, Jun -38.1%, Jul +5.7%, Sep +17.5%
        "cn_exports_yoy": {"2025-05": 0.26, "2025-06": 0.619, "2025-07": 1.057, "2025-09": 1.175},
        # to the US, t: May 46.4 (-93.3% y/y), Jun 353, Jul 619 (+4.8% y/y)
        "us_t": {"2025-05": 46.4, "2025-06": 353, "2025-07": 619},
        "us_ref_t": 46.4 / 0.07,
        "us_yoy": {"2025-05": 0.067, "2025-07": 1.048},
    },
}

EPISODES = ["ree_japan_2010", "ga_licensing_2023", "ga_ban_us_2024", "magnets_licensing_2025"]


# --- running and reading ----------------------------------------------------------------------

def run(exe, config, out, trials=None, extra=()):
    cmd = [exe, "run", config, "-o", out, "--overwrite", "-q", "--store-inputs", *extra]
    if trials:
        cmd += ["--trials", str(trials)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} exited {r.returncode}:\n{r.stderr}")
    return cmd


def _strs(ds):
    return [x.decode() if isinstance(x, bytes) else str(x) for x in ds[:]]


class Results:
    """The per-trial datasets of one scenario of a results file, by demand id and label."""

    def __init__(self, path, scenario="baseline"):
        with h5py.File(path, "r") as f:
            self.start = f.attrs["start"]
            self.start = self.start.decode() if isinstance(self.start, bytes) else str(self.start)
            self.horizon = int(f.attrs["horizon_months"])
            self.seed = int(f.attrs["seed"])
            self.n = int(f.attrs["trials"])
            g = f[f"scenarios/{scenario}/trials"]
            self.demands = _strs(g["demand"])
            self.monthly = np.asarray(g["monthly_shortfall"][:], dtype=np.float64)
            self.total = np.asarray(g["demand_total"][:], dtype=np.float64)
            if "inputs" in g:
                self.input_names = _strs(g["input"])
                self.inputs = np.asarray(g["inputs"][:], dtype=np.float64)
            else:
                self.input_names, self.inputs = [], None
        y, m = (int(x) for x in self.start.split("-"))
        self.labels = [f"{y + (m - 1 + k) // 12:04d}-{(m - 1 + k) % 12 + 1:02d}"
                       for k in range(self.horizon)]

    def want(self, demand):
        """[trial] monthly want (no growth in the history configs)."""
        return self.total[:, self.demands.index(demand)] / self.horizon

    def delivered(self, demand):
        """[trial, month]"""
        d = self.demands.index(demand)
        return self.want(demand)[:, None] - self.monthly[:, d, :]

    def input(self, name):
        return self.inputs[:, self.input_names.index(name)]


def stats(x):
    """mean, standard error, 5% and 95% quantiles over trials of a [trial] array."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    se = float(np.std(x, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {"mean": float(np.mean(x)), "se": se, "q05": float(np.quantile(x, 0.05)),
            "q95": float(np.quantile(x, 0.95))}


def monthly_stats(arr, labels):
    """{label: stats} of a [trial, month] array."""
    return {lab: stats(arr[:, k]) for k, lab in enumerate(labels)}


# --- the episodes -----------------------------------------------------------------------------

def with_rule(config, rule, tmpdir):
    """A copy of config with its top-level `allocation:` block replaced by {rule: RULE}: a
    scenario cannot switch away from proportional with trade_shares (set: cannot delete the
    reference keys), but a separate run with the same seed draws the same inputs in every trial."""
    text = open(config, encoding="utf-8").read()
    new, k = re.subn(r"(?ms)^allocation:\n(?:[ #].*\n|\n)*?(?=^\S)", f"allocation:\n  rule: {rule}\n\n", text)
    if k != 1:
        raise RuntimeError(f"{config}: no top-level allocation block to replace")
    path = os.path.join(tmpdir, os.path.basename(config))
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)
    return path


def episode_ree_japan_2010(exe, out_dir, trials, tmpdir):
    cfg = os.path.join(HISTORY, "ree_japan_2010.yaml")
    h5 = os.path.join(out_dir, "ree_japan_2010.h5")
    cmd = run(exe, cfg, h5, trials)
    r = Results(h5)
    jp = r.delivered("ree_jp")
    jp_index = jp / r.want("ree_jp")[:, None]
    cap_cn = 130000.0  # the config's fixed Chinese capacity
    leak = r.input("event/cn_jp_embargo_2010/leakage")
    oth = r.input("facility/ree_oth/capacity") / 12
    emb = [k for k, lab in enumerate(r.labels) if lab in ("2010-10", "2010-11")]
    cn_to_jp = leak * cap_cn / 12
    # the derivation holds when Japan is short: allowance + OTH = Japan's delivery
    for k in emb:
        short = r.monthly[:, r.demands.index("ree_jp"), k] > 1e-9 * r.want("ree_jp")
        gap = np.abs(cn_to_jp + oth - jp[:, k])[short]
        if len(gap) and gap.max() > 1e-3 * jp[:, k].max():
            raise RuntimeError(f"ree_japan_2010: CN->JP + OTH != JP delivered in month {k}")
    res = {
        "config": os.path.relpath(cfg, ROOT), "trials": r.n, "seed": r.seed,
        "command": _cmdline(cmd),
        "labels": r.labels,
        "jp_supply_index": monthly_stats(jp_index, r.labels),
        "cn_to_jp_index_embargo": stats(cn_to_jp / OBSERVED["ree_japan_2010"]["jp_from_cn_ref_t"]),
        "oth_to_jp_t_embargo": stats(oth),
        "jp_short_share_embargo": float(np.mean(
            (r.monthly[:, r.demands.index("ree_jp"), emb] > 0).all(axis=1))),
        "row_max_shortfall": float(r.monthly[:, r.demands.index("ree_row"), :].max()),
        "cn_max_shortfall": float(r.monthly[:, r.demands.index("ree_cn_use"), :].max()),
        "jp_short_months": sorted({r.labels[k] for k in range(r.horizon)
                                   if (r.monthly[:, r.demands.index("ree_jp"), k] > 0).any()}),
    }
    # the same trials under the coordinated rule (a separate run: see with_rule)
    h5c = os.path.join(out_dir, "ree_japan_2010_coordinated.h5")
    run(exe, with_rule(cfg, "coordinated", tmpdir), h5c, trials)
    rc = Results(h5c)
    diff = rc.monthly[:, rc.demands.index("ree_jp"), :] - r.monthly[:, r.demands.index("ree_jp"), :]
    res["coordinated_minus_rule_jp_shortfall_t"] = stats(diff.sum(axis=1))
    return res


def episode_ga_licensing_2023(exe, out_dir, trials, tmpdir):
    cfg = os.path.join(HISTORY, "ga_licensing_2023.yaml")
    h5 = os.path.join(out_dir, "ga_licensing_2023.h5")
    cmd = run(exe, cfg, h5, trials)
    r = Results(h5)
    row = r.delivered("ga_row_imports")
    res = {
        "config": os.path.relpath(cfg, ROOT), "trials": r.n, "seed": r.seed,
        "command": _cmdline(cmd), "labels": r.labels,
        # delivered to ROW = China's exports; relative to ROW's want (its pre-control rate)
        "cn_exports_index": monthly_stats(row / r.want("ga_row_imports")[:, None], r.labels),
        "cn_exports_t": monthly_stats(row, r.labels),
        "cn_use_max_shortfall": float(r.monthly[:, r.demands.index("ga_cn_use"), :].max()),
    }
    rc = Results(h5, "coordinated")
    res["coordinated_minus_rule_row_shortfall_t"] = stats(
        (rc.monthly - r.monthly)[:, r.demands.index("ga_row_imports"), :].sum(axis=1))
    return res


def episode_ga_ban_us_2024(exe, out_dir, trials, tmpdir):
    cfg = os.path.join(HISTORY, "ga_ban_us_2024.yaml")
    h5 = os.path.join(out_dir, "ga_ban_us_2024.h5")
    cmd = run(exe, cfg, h5, trials)
    r = Results(h5)
    us = "ga_us_6n_use"
    d = r.demands.index(us)
    res = {
        "config": os.path.relpath(cfg, ROOT), "trials": r.n, "seed": r.seed,
        "command": _cmdline(cmd), "labels": r.labels,
        "us_supply_index": monthly_stats(r.delivered(us) / r.want(us)[:, None], r.labels),
        "others_supply_index": monthly_stats(
            r.delivered("ga_jp_6n_use") / r.want("ga_jp_6n_use")[:, None], r.labels),
    }
    for sc in ("no_us_measures", "coordinated", "reexport_enforced", "may_2025_halt"):
        s = Results(h5, sc)
        res[f"{sc}_us_supply_index"] = monthly_stats(
            s.delivered(us) / s.want(us)[:, None], s.labels)
        res[f"{sc}_minus_baseline_us_shortfall_t"] = stats(
            (s.monthly[:, s.demands.index(us), :] - r.monthly[:, d, :]).sum(axis=1))
    # reexport_enforced runs under the coordinated rule: its effect is against `coordinated`
    a, b = Results(h5, "reexport_enforced"), Results(h5, "coordinated")
    res["reexport_minus_coordinated_us_shortfall_share"] = monthly_stats(
        (a.monthly[:, a.demands.index(us), :] - b.monthly[:, b.demands.index(us), :])
        / a.want(us)[:, None], a.labels)
    return res


def episode_magnets_licensing_2025(exe, out_dir, trials, tmpdir):
    cfg = os.path.join(HISTORY, "magnets_licensing_2025.yaml")
    h5 = os.path.join(out_dir, "magnets_licensing_2025.h5")
    cmd = run(exe, cfg, h5, trials)
    res = {"config": os.path.relpath(cfg, ROOT), "command": _cmdline(cmd)}
    for sc in ("baseline", "coordinated", "us_deprioritised"):
        r = Results(h5, sc)
        us, row = r.delivered("nd_us_imports"), r.delivered("nd_row_imports")
        wus, wrow = r.want("nd_us_imports")[:, None], r.want("nd_row_imports")[:, None]
        res[sc] = {
            "total_index": monthly_stats((us + row) / (wus + wrow), r.labels),
            "us_index": monthly_stats(us / wus, r.labels),
            "row_index": monthly_stats(row / wrow, r.labels),
        }
        res.update(trials=r.n, seed=r.seed, labels=r.labels)
        res["cn_use_max_shortfall"] = float(r.monthly[:, r.demands.index("nd_cn_use"), :].max())
    return res


def _cmdline(cmd):
    """The command as run, with paths inside the source tree relative to it."""
    def rel(c):
        if os.path.isabs(c) and os.path.commonpath([c, ROOT]) == ROOT:
            return os.path.relpath(c, ROOT)
        return c
    return shlex.join(rel(c) for c in cmd)


RUNNERS = {
    "ree_japan_2010": episode_ree_japan_2010,
    "ga_licensing_2023": episode_ga_licensing_2023,
    "ga_ban_us_2024": episode_ga_ban_us_2024,
    "magnets_licensing_2025": episode_magnets_licensing_2025,
}


def run_episodes(exe, out_dir, trials=None, episodes=EPISODES):
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmpdir:
        return {e: RUNNERS[e](exe, out_dir, trials, tmpdir) for e in episodes}


# --- printing -----------------------------------------------------------------------------------

def fmt(s, pct=False):
    if s is None:
        return "-"
    k = 100 if pct else 1
    return (f"{k * s['mean']:.{0 if pct else 3}f} ± {k * s['se']:.{1 if pct else 3}f} "
            f"[{k * s['q05']:.0f}-{k * s['q95']:.0f}]" if pct else
            f"{s['mean']:.3f} ± {s['se']:.3f} [{s['q05']:.3f}, {s['q95']:.3f}]")


def pct(x):
    return "-" if x is None else f"{100 * x:.0f}%"


def report(res):
    out = []
    o = OBSERVED
    if "ree_japan_2010" in res:
        e, ob = res["ree_japan_2010"], o["ree_japan_2010"]
        out.append(f"## ree_japan_2010 ({e['trials']} trials, seed {e['seed']}): `{e['command']}`")
        out.append("| month | Japan's supply, observed (all origins) | Japan's supply, model (% of want) "
                   "| China -> Japan, observed | China -> Japan, model |")
        out.append("| --- | --- | --- | --- | --- |")
        for lab in e["labels"]:
            tot = ob["jp_total_t"].get(lab)
            fc = ob["jp_from_cn_t"].get(lab)
            model_cn = (fmt(e["cn_to_jp_index_embargo"], True) + "%"
                        if lab in ("2010-10", "2010-11") else "not identified (Japan served in full)")
            out.append(f"| {lab} | {pct(tot / ob['jp_total_ref_t']) if tot is not None else '-'} "
                       f"| {fmt(e['jp_supply_index'][lab], True)}% "
                       f"| {pct(fc / ob['jp_from_cn_ref_t']) if fc is not None else '-'} | {model_cn} |")
        out.append(f"non-China supply to Japan in the embargo months, model: "
                   f"{fmt(e['oth_to_jp_t_embargo'])} t/month; observed Oct 614, Nov 539 t "
                   f"(Jan-Aug ~{ob['jp_other_ref_t']:.0f} t/month)")
        out.append(f"coordinated minus proportional, Japan's shortfall over the horizon: "
                   f"{fmt(e['coordinated_minus_rule_jp_shortfall_t'])} t")
        out.append("")
    if "ga_licensing_2023" in res:
        e, ob = res["ga_licensing_2023"], o["ga_licensing_2023"]
        out.append(f"## ga_licensing_2023 ({e['trials']} trials, seed {e['seed']}): `{e['command']}`")
        out.append("| month | China's exports, observed | China's exports, model (% of pre-control rate) |")
        out.append("| --- | --- | --- |")
        for lab in e["labels"]:
            v = ob["cn_exports_t"].get(lab)
            obs = f"{v:g} t = {pct(v / ob['cn_exports_ref_t'])}" if v is not None else "-"
            if lab == "2023-07":
                obs += " (wrought only)"
            out.append(f"| {lab} | {obs} | {fmt(e['cn_exports_index'][lab], True)}% |")
        out.append(f"coordinated minus proportional, ROW shortfall: "
                   f"{fmt(e['coordinated_minus_rule_row_shortfall_t'])} t")
        out.append("")
    if "ga_ban_us_2024" in res:
        e, ob = res["ga_ban_us_2024"], o["ga_ban_us_2024"]
        out.append(f"## ga_ban_us_2024 ({e['trials']} trials, seed {e['seed']}): `{e['command']}`")
        out.append("| month | China -> US, observed | US 6N supply, model (% of want) | same, no US-specific measure "
                   "| same, re-exports to the US banned (coordinated) | China's exports (all), observed |")
        out.append("| --- | --- | --- | --- | --- | --- |")
        for lab in e["labels"]:
            v = ob["cn_to_us_t"].get(lab)
            x = ob["cn_exports_t"].get(lab)
            out.append(f"| {lab} | {'-' if v is None else f'{v:g} t'} "
                       f"| {fmt(e['us_supply_index'][lab], True)}% "
                       f"| {fmt(e['no_us_measures_us_supply_index'][lab], True)}% "
                       f"| {fmt(e['reexport_enforced_us_supply_index'][lab], True)}% "
                       f"| {'-' if x is None else f'{x:g} t = ' + pct(x / ob['cn_exports_ref_t'])} |")
        for sc in ("no_us_measures", "coordinated", "reexport_enforced", "may_2025_halt"):
            out.append(f"{sc} minus baseline, US shortfall over the horizon: "
                       f"{fmt(e[f'{sc}_minus_baseline_us_shortfall_t'])} t")
        out.append(f"scenario may_2025_halt, US supply in 2025-05: "
                   f"{fmt(e['may_2025_halt_us_supply_index']['2025-05'], True)}%")
        out.append("")
    if "magnets_licensing_2025" in res:
        e, ob = res["magnets_licensing_2025"], o["magnets_licensing_2025"]
        out.append(f"## magnets_licensing_2025 ({e['trials']} trials, seed {e['seed']}): `{e['command']}`")
        out.append("| month | exports, observed (vs 2024 avg; y/y) | exports, model | to the US, observed "
                   "| to the US, model | to the US, model, scenario us_deprioritised |")
        out.append("| --- | --- | --- | --- | --- | --- |")
        for lab in e["labels"]:
            v = ob["cn_exports_t"].get(lab)
            y = ob["cn_exports_yoy"].get(lab)
            u = ob["us_t"].get(lab)
            uy = ob["us_yoy"].get(lab)
            obs = "-" if v is None else f"{v:,} t = {pct(v / ob['cn_exports_ref_t'])}" + (
                f"; y/y {pct(y)}" if y is not None else "")
            obu = "-" if u is None else f"{u:g} t = {pct(u / ob['us_ref_t'])}" + (
                f"; y/y {pct(uy)}" if uy is not None else "")
            out.append(f"| {lab} | {obs} | {fmt(e['baseline']['total_index'][lab], True)}% | {obu} "
                       f"| {fmt(e['baseline']['us_index'][lab], True)}% "
                       f"| {fmt(e['us_deprioritised']['us_index'][lab], True)}% |")
        out.append("")
    out.append("Model cells: mean ± standard error over trials [5%-95% of trials], in % of the "
               "demand's want (its pre-episode rate).")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exe", default=os.path.join(ROOT, "build", "chokepoint"))
    ap.add_argument("--trials", type=int, default=None, help="override each config's run.trials")
    ap.add_argument("--out", default=os.path.join(ROOT, "results", "hindcast"))
    ap.add_argument("--episode", action="append", choices=EPISODES)
    ap.add_argument("--json", default=None, help="also write every number to this JSON file")
    a = ap.parse_args(argv)
    if a.trials is not None and a.trials < 1:
        ap.error(f"--trials must be at least 1, got {a.trials}")
    if not (os.path.isfile(a.exe) and os.access(a.exe, os.X_OK)):
        ap.error(f"--exe {a.exe}: not an executable (build chokepoint first, or give its path)")
    if a.json:  # before the runs: a JSON path that cannot be written fails now, not after them
        jdir = os.path.dirname(os.path.abspath(a.json))
        if not os.path.isdir(jdir):
            ap.error(f"--json {a.json}: directory {jdir} does not exist")
    try:
        res = run_episodes(a.exe, a.out, a.trials, a.episode or EPISODES)
    except RuntimeError as e:
        print(f"hindcast.py: error: {e}", file=sys.stderr)
        return 1
    print(report(res))
    if a.json:
        try:
            with open(a.json, "w", encoding="utf-8") as f:
                json.dump({"observed": OBSERVED, "model": res}, f, indent=1)
        except OSError as e:
            print(f"hindcast.py: error: writing {a.json}: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
