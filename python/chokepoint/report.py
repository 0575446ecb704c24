"""Write a one-page HTML report of a chokepoint results file (HDF5).

    chokepoint-report RESULTS.h5 [--out FILE.html]      (installed with `pip install ./python`)
    python -m chokepoint report RESULTS.h5 [--out FILE.html]

Writes ONE self-contained HTML file (default: next to RESULTS, <RESULTS stem>_report.html): the
figures are PNG images embedded as base64 data URIs, the style sheet is inline, nothing is
fetched from the network and there is no JavaScript. Sections, each only when the file has
something for it:
  at a glance        the demands most likely to be short, the largest expected shortfall relative to
                     want, the top chokepoint, what each scenario changes
  risk               per demand of the baseline: expected want, P(short), EUD (expected unserved
                     demand), its share of want, LOSE (expected short months), the median, VaR and
                     CVaR at each stored level, each with its 95 % interval; the VaR/CVaR chart
  scenarios          per scenario, the paired differences against the baseline (EUD, P(short), LOSE)
                     of the demands whose difference is not at rounding level, with 95 % intervals,
                     and chokepoint.plots' differences and scenario comparison charts
  exceedance, monthly fan charts, chokepoints (ranked by unserved demand while binding, tied
                     constraints of one stage grouped), stockpiles, events and regimes
  sensitivity        tornado / Sobol' charts (a `sensitivity` or `sobol_indices` group, or Spearman
                     charts from stored per-trial inputs); scenarios other than the baseline folded
  importance sampling  (importance-sampled files only, format 1.4) how the estimates are formed (the
                     summary's estimator sentence), the effective sample size (ESS) overall and the mean
                     likelihood ratio, per demand P(short) with the ESS behind it and the ESS behind
                     EUD, the tilted inputs (/importance: by hand or fitted by cross-entropy, their bins
                     and most favoured range), the cross-entropy rounds, and chokepoint.plots'
                     importance.png
  convergence        the baseline's running estimates (the other scenarios folded)
  provenance         study, seed, trials, versions, dates, config SHA-256, sampler, solver counts,
                     and the config texts stored in the file
Every text taken from the file is HTML-escaped. Each image carries data-figure="<name>" (the PNG
name chokepoint.plots would write). Prints the path written. Exit status 0 on success, 2 on bad
input, 1 on other failures (the output cannot be written).
Needs h5py, numpy and matplotlib.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import html
import os
import struct
import sys

import numpy as np

from . import __version__
from .plots import (Z95, Plotter, changed_demands, chokepoint_groups, ci_factor, fmt_se, fmt_t,
                    round_to_zero, short_list)
from .reader import ChokepointFormatError, open_results

PROG = "chokepoint-report"
# Summary statistics whose _se comes from the replicate means when the design has replicates.
REPLICATE_SE = ("eud", "expected_demand", "mean_shortfall_share", "lose", "p_short")
TOP_GLANCE = 3

CSS = """
body { font: 15px/1.45 "DejaVu Sans", Arial, Helvetica, sans-serif; color: #1d2327; margin: 0;
       background: #f4f5f7; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 28px 60px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 34px 0 10px; padding-top: 10px; border-top: 2px solid #d9dde3; }
h3 { font-size: 16px; margin: 22px 0 6px; }
p.lead { color: #3c434a; margin: 4px 0 10px; }
p.meta, p.note, figcaption { color: #50575e; font-size: 13px; }
nav { font-size: 13px; margin: 12px 0; }
nav a { margin-right: 12px; color: #2f6eb5; text-decoration: none; }
ul.glance { margin: 6px 0; padding-left: 22px; }
.wide { overflow-x: auto; }
table { border-collapse: collapse; font-size: 12.5px; margin: 6px 0 10px; }
th, td { border: 1px solid #dcdcde; padding: 3px 6px; vertical-align: top; }
th { background: #eef0f2; text-align: center; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #f8f9fa; }
td small, th small { color: #646970; }
.better { color: #1a7f37; font-weight: bold; }
.worse { color: #b32d2e; font-weight: bold; }
figure { margin: 14px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e2e4e7; }
details { margin: 10px 0; }
summary { cursor: pointer; color: #2f6eb5; }
pre { background: #f6f7f7; border: 1px solid #dcdcde; padding: 8px; font-size: 12px; overflow-x: auto; }
dl.prov { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; font-size: 13px; }
dl.prov dt { color: #50575e; }
dl.prov dd { margin: 0; word-break: break-all; }
"""

# What each figure of chokepoint.plots shows, for the image's alt text (by file-name stem).
FIGURE_ALT = {
    "exceedance": "exceedance curves: P(total shortfall over the horizon > x) per demand",
    "monthly": "monthly fan charts of shortfall per demand",
    "chokepoints": "chokepoint ranking by unserved demand while binding",
    "stockouts": "stockpile depletion per demand with a stockpile",
    "risk": "VaR and CVaR per demand as % of expected demand",
    "events": "EUD given each event fired or not, per demand",
    "regimes": "EUD and P(short) per regime",
    "scenarios": "EUD per demand in each scenario",
    "convergence": "running EUD estimate after each block of trials",
    "differences": "paired differences against the baseline per value chain",
    "tornado": "tornado chart of input importance",
    "sobol": "Sobol' indices of input importance",
    "importance": "importance sampling: likelihood ratios, effective sample sizes and proposal densities",
}


def esc(x):
    """Text from the file (or anything else) as HTML."""
    return html.escape(str(x), quote=True)


def png_size(data):
    """(width, height) of a PNG from its IHDR chunk."""
    return struct.unpack(">II", data[16:24])


def fmt_pct(p, digits=3):
    """A share as a percentage, `digits` significant digits: 45.2%, 0.05%."""
    p = float(p)
    if not np.isfinite(p):
        return "n/a"
    return "0%" if p == 0 else f"{100 * p:.{digits}g}%"


def pm(v, half, unit=""):
    """ "value ± half" as HTML (half: the half-width of the 95 % interval); only the value when the
    half-width is 0 or missing. `unit` (text) follows each number."""
    out = esc(fmt_t(v) + unit)
    if np.isfinite(half) and half > 0:
        out += f" <small>± {esc(fmt_se(half) + unit)}</small>"
    return out


def pm_pct(p, half):
    """A probability or share and its 95 % half-width, in percent: "57.9% ± 2.2%"."""
    out = esc(fmt_pct(p))
    if np.isfinite(half) and half > 0:
        out += f" <small>± {esc(fmt_se(100 * half))}%</small>"
    return out


def interval(v, lo, hi):
    """ "value [lo, hi]" as HTML (a 95 % confidence interval)."""
    out = esc(fmt_t(v))
    if np.isfinite(lo) or np.isfinite(hi):
        out += f" <small>[{esc(fmt_t(lo))}, {esc(fmt_t(hi))}]</small>"
    return out


class Report:
    """Builds the HTML of one open results file (chokepoint.reader.ChokepointResults)."""

    def __init__(self, res):
        self.res = res
        self.at = res.attrs
        self.pl = Plotter(res)  # figures kept in memory
        self.base = res.scenario("baseline")
        self.demands = list(res.model["demands"])
        self.sections = []  # (id, title, html)
        self.reps = int(self.base.summary_attrs.get("replicates", 1) or 1)
        self.z_rep, self.dof = ci_factor(self.base)
        m = res.model
        units = list(m.get("product_units", []))
        dprod = m.get("demand_product")
        # each demand's unit: its product's (/model/product_units, format 1.3), else t
        self.units = [str(units[int(dprod[j])]) if units and dprod is not None else "t"
                      for j in range(len(self.demands))]
        self.unit_of = dict(zip(self.demands, self.units))

    # -- helpers -------------------------------------------------------------------------------
    def figures(self, step):
        """Run one of the Plotter's methods and return the (name, PNG bytes) it drew."""
        start = len(self.pl.figures)
        step()
        return self.pl.figures[start:]

    def img(self, name, data):
        """One figure: the PNG embedded as a data URI, named by data-figure (its file-name stem)."""
        stem = os.path.splitext(name)[0]
        kind = stem.split("_", 1)[0]
        w, h = png_size(data)
        alt = FIGURE_ALT.get(kind, stem)
        b64 = base64.b64encode(data).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{b64}" width="{w}" height="{h}" alt="{esc(alt)}" '
                f'data-figure="{esc(stem)}"><figcaption>{esc(stem)}.png</figcaption></figure>\n')

    def imgs(self, figs):
        return "".join(self.img(n, d) for n, d in figs)

    def add(self, sid, title, body):
        if body.strip():
            self.sections.append((sid, title, body))

    def half(self, scen, name, j):
        """Half-width of the 95 % interval of summary `name` (by its `_se`) at demand j."""
        se = scen.summary.get(name + "_se")
        if se is None:
            return float("nan")
        z = ci_factor(scen)[0] if name in REPLICATE_SE else Z95
        return z * float(np.asarray(se, dtype=np.float64)[j])

    def labels(self):
        m = self.res.model
        prods = list(m.get("products", []))
        out = []
        for j in range(len(self.demands)):
            bits = []
            if "demand_product" in m and prods:
                bits.append(prods[int(m["demand_product"][j])])
            if "demand_country" in m:
                bits.append(str(m["demand_country"][j]))
            if "demand_tier" in m:
                bits.append(f"tier {int(m['demand_tier'][j])}")
            out.append(" · ".join(bits))
        return out

    def scenario_descriptions(self):
        """{scenario id: description}: the scenario group's `description` attribute, else the
        main config's `scenarios:` list when PyYAML is there to read it."""
        out = {}
        for nm, sc in self.res.scenarios.items():
            d = sc.group.attrs.get("description")
            if d is not None:
                out[nm] = d.decode() if isinstance(d, bytes) else str(d)
        if len(out) < len(self.res.scenarios) - 1 and self.res.config_texts:
            try:
                import yaml

                cfg = yaml.safe_load(self.res.config_texts[0]) or {}
                for entry in cfg.get("scenarios", []) or []:
                    if isinstance(entry, dict) and "id" in entry and "description" in entry:
                        out.setdefault(str(entry["id"]), str(entry["description"]))
            except Exception:  # noqa: BLE001  (PyYAML missing or a config it cannot read: no descriptions)
                pass
        return out

    # -- sections ------------------------------------------------------------------------------
    def header(self):
        at = self.at
        name = at.get("name", "?") or "?"
        bits = [f"seed {at.get('seed', '?')}", f"{int(at.get('trials', 0)):,} trials",
                f"{at.get('horizon_months', '?')} months from {at.get('start') or 'month 0'}",
                f"chokepoint {at.get('program_version', '?')}", f"finished {at.get('created_utc', '?')}",
                f"config SHA-256 {str(at.get('config_sha256', ''))[:12] or '?'}"]
        if len(self.res.scenarios) > 1:
            bits.insert(2, f"{len(self.res.scenarios)} scenarios")
        return (f"<h1>{esc(name)}: supply-risk report</h1>\n"
                + (f'<p class="lead">{esc(at.get("description"))}</p>\n' if at.get("description") else "")
                + f'<p class="meta">{" · ".join(esc(b) for b in bits)} · file {esc(os.path.basename(self.res.path))}'
                "</p>\n")

    def glance(self):
        s = self.base.summary
        items = []
        if int(self.at.get("shard_count", 0) or 0) > 0:
            items.append(f"<b>A shard, not the whole study</b>: shard {esc(self.at.get('shard_index'))} of "
                         f"{esc(self.at.get('shard_count'))}, {int(self.at.get('trials', 0)):,} of the run's "
                         "trials. Every figure here is of this slice alone; <code>chokepoint merge</code> combines the "
                         "shards into the study's file.")
        if self.base.importance_sampled:
            ess, n = self.pl.ess_of(self.base)
            items.append(f"Importance-sampled: every estimate weights the trials by their likelihood ratio; "
                         f"effective sample size {esc(f'{ess:,.0f}')} of {esc(f'{n:,}')} trials "
                         '(<a href="#importance">Importance sampling</a>).')
        ps, eud = np.asarray(s["p_short"], float), np.asarray(s["eud"], float)
        ed = np.asarray(s["expected_demand"], float) if "expected_demand" in s else np.full(len(ps), np.nan)
        short = [j for j in np.argsort(-ps, kind="stable")[:TOP_GLANCE] if ps[j] > 0]
        if short:
            items.append("Most likely to be short in at least one month: " + "; ".join(
                f"<b>{esc(self.demands[j])}</b> {pm_pct(ps[j], self.half(self.base, 'p_short', j))}"
                for j in short) + ".")
        else:
            items.append(f"No demand is short in any of the {int(self.at.get('trials', 0)):,} trials.")
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(ed > 0, eud / ed, np.nan)
        big = [j for j in np.argsort(-np.nan_to_num(share, nan=-1), kind="stable")[:TOP_GLANCE] if share[j] > 0]
        if big:
            items.append("Largest expected unserved demand relative to want: " + "; ".join(
                f"<b>{esc(self.demands[j])}</b> {esc(fmt_pct(share[j]))} of {esc(fmt_t(ed[j]))} {esc(self.units[j])} "
                f"(EUD {pm(eud[j], self.half(self.base, 'eud', j), ' ' + self.units[j])})" for j in big) + ".")
        never = [self.demands[j] for j in range(len(ps)) if ps[j] == 0]
        if never and short:
            items.append(f"Never short: {esc(short_list(never, 160))}.")
        for kind, what in (("node", "(product, country) node"), ("facility", "facility")):
            groups = chokepoint_groups(s, self.res.model, kind)
            if groups and np.isfinite(groups[0]["unserved"]):
                g = groups[0]
                items.append(f"Top chokepoint: <b>{esc(g['label'])}</b> ({what}): "
                             f"{pm(g['unserved'], Z95 * g['unserved_se'], ' t')} of its value chain's demand unserved "
                             f"in the months it binds (mean per trial), binding in {esc(fmt_pct(g['month_share']))} "
                             "of trial-months.")
                break
        for nm, sc in self.res.scenarios.items():
            if nm == "baseline" or not sc.has_differences:
                continue
            d = sc.differences()
            better, worse = self.significant(sc, d)
            if not better and not worse:
                verdict = "no demand's EUD changes beyond its 95 % interval"
            else:
                verdict = "; ".join(x for x in (
                    f"EUD lower for {len(better)} ({esc(short_list(better, 80))})" if better else "",
                    f"higher for {len(worse)} ({esc(short_list(worse, 80))})" if worse else "") if x)
            items.append(f"Scenario <b>{esc(nm)}</b>: {verdict}.")
        return "<ul class=\"glance\">\n" + "".join(f"<li>{i}</li>\n" for i in items) + "</ul>\n"

    def want(self, sc, n):
        """Expected total want of each of scenario `sc`'s n demands (0 where unknown): the scale of
        the rounding level of its differences."""
        return np.nan_to_num(self.pl.expected_demand(sc)) if len(sc.demands) == n else np.zeros(n)

    def significant(self, sc, d):
        """(demands whose EUD the scenario lowers, ... raises): the paired 95 % interval excludes 0."""
        ed = self.want(sc, len(d["demand"]))
        v = round_to_zero(d["eud"], ed)
        se = round_to_zero(d.get("eud_se", np.full(v.size, np.nan)), ed)
        z = ci_factor(sc)[0]
        dem = list(d["demand"])
        better = [dem[j] for j in range(v.size) if np.isfinite(v[j]) and v[j] < 0 and -v[j] > z * np.nan_to_num(se[j])]
        worse = [dem[j] for j in range(v.size) if np.isfinite(v[j]) and v[j] > 0 and v[j] > z * np.nan_to_num(se[j])]
        return better, worse

    def risk(self):
        s = self.base.summary
        D = len(self.demands)
        labels = self.labels()
        unit = esc(self.units[0]) if len(set(self.units)) == 1 else "the product's unit"
        cols = ["demand<br><small>product · country · tier · expected want</small>",
                "P(short)<br><small>≥ 1 month</small>", f"EUD<br><small>{unit}; % of want</small>",
                "LOSE<br><small>short months</small>"]
        ql = np.asarray(s["quantile_levels"], float) if "quantile_levels" in s else np.zeros(0)
        med = np.flatnonzero(np.isclose(ql, 0.5, rtol=0, atol=1e-12))
        if med.size:
            cols.append(f"median shortfall<br><small>{unit} [95% CI]</small>")
        lv = np.asarray(s["var_levels"], float) if "var" in s and "var_levels" in s else np.zeros(0)
        for level in lv:
            cols += [f"VaR {100 * level:g}%<br><small>{unit} [95% CI]</small>",
                     f"CVaR {100 * level:g}%<br><small>{unit}</small>"]
        got = self.pl.var_cvar() if lv.size else None
        rows = []
        ed = self.pl.expected_demand()
        for j in range(D):
            share = esc(fmt_pct(s["eud"][j] / ed[j])) if np.isfinite(ed[j]) else "n/a"
            r = [f"<b>{esc(self.demands[j])}</b><br><small>{esc(labels[j])} · "
                 f"{esc(fmt_t(np.nan_to_num(ed[j])))} {esc(self.units[j])}</small>",
                 pm_pct(s["p_short"][j], self.half(self.base, "p_short", j)),
                 f"{pm(s['eud'][j], self.half(self.base, 'eud', j))}<br><small>{share} of want</small>",
                 pm(s["lose"][j], self.half(self.base, "lose", j)) if "lose" in s else "n/a"]
            if med.size:
                k = med[0]
                lo = s.get("shortfall_quantiles_ci_low")
                hi = s.get("shortfall_quantiles_ci_high")
                r.append(interval(s["shortfall_quantiles"][j][k], lo[j][k] if lo is not None else np.nan,
                                  hi[j][k] if hi is not None else np.nan))
            if got is not None:
                vals, err, _ = got  # VaR: distances to its 95 % CI; CVaR: its standard error in cvar_se
                cse = s.get("cvar_se")
                for a in range(lv.size):
                    v, e = vals[j, 2 * a], err[j, 2 * a]
                    r.append(interval(v, v - e[0], v + e[1]))
                    r.append(pm(vals[j, 2 * a + 1], Z95 * cse[j][a] if cse is not None else np.nan))
            rows.append(r)
        head = "".join(f"<th>{c}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td{'' if i == 0 else ' class=num'}>{c}</td>" for i, c in enumerate(r))
                       + "</tr>\n" for r in rows)
        if self.reps > 1:
            dof = f" with {self.dof} degrees of freedom" if self.dof is not None else ""
            how = (f"± is the half-width of the 95 % interval: Student t{dof} ({self.z_rep:.3f}) times the standard "
                   f"error from the spread of the {self.reps} replicate means for P(short), EUD and LOSE; 1.96 "
                   "standard errors for CVaR")
        else:
            how = f"± is the half-width of the 95 % interval ({self.z_rep:.3g} standard errors)"
        note = (f'<p class="note">Baseline, total shortfall over the {esc(self.at.get("horizon_months", "?"))}-month '
                "horizon. P(short): probability of a shortfall in at least one month; EUD: expected unserved "
                "demand; LOSE: loss-of-supply expectation, the expected number of short months; VaR: the "
                "quantile of total shortfall at that level, with its "
                + ("" if self.base.importance_sampled else "distribution-free ") + "95 % interval; CVaR: the "
                f"mean of the worst trials beyond it. {how}.</p>\n")
        if self.base.importance_sampled:
            note += ('<p class="note">Importance sampling: each statistic weights the trials by their likelihood '
                     'ratio (see <a href="#importance">Importance sampling</a>); the quantiles\' intervals invert '
                     "the weighted exceedance estimate.</p>\n")
        figs = self.figures(self.pl.risk)
        return f'<div class="wide"><table><tr>{head}</tr>\n{body}</table></div>\n{note}' + self.imgs(figs)

    def scenarios(self):
        if len(self.res.scenarios) < 2:
            return ""
        desc = self.scenario_descriptions()
        diff_figs = {n: d for n, d in self.figures(self.pl.differences)}
        out = ['<p class="lead">Each scenario runs the same trials as the baseline (common random numbers), '
               "so each difference is paired trial by trial. ± is the half-width of the paired 95 % interval; "
               "differences at the level of floating-point rounding (at most 1e-9 of the demand's expected "
               "want) count as 0.</p>\n"]
        for nm, sc in self.res.scenarios.items():
            if nm == "baseline":
                continue
            out.append(f"<h3>{esc(nm)}</h3>\n")
            if nm in desc:
                out.append(f'<p class="meta">{esc(desc[nm])}</p>\n')
            if not sc.has_differences:
                out.append("<p>The file holds no paired differences for this scenario.</p>\n")
                continue
            out.append(self.difference_table(sc, sc.differences()))
            out.append(self.imgs([(n, d) for n, d in diff_figs.items() if _is_page(n, f"differences_{_stem(nm)}")]))
        overview = self.figures(self.pl.scenarios)
        if overview:
            out.append("<h3>All scenarios side by side</h3>\n" + self.imgs(overview))
        return "".join(out)

    def difference_table(self, sc, d):
        dem = list(d["demand"])
        ed = self.want(sc, len(dem))
        changed = changed_demands(d, ed)
        same = [dem[j] for j in range(len(dem)) if np.isfinite(d["eud"][j]) and not changed[j]]
        added = [dem[j] for j in range(len(dem)) if not np.isfinite(d["eud"][j])]
        removed = [x for x in self.demands if x not in dem]
        z = ci_factor(sc)[0]
        rows = []
        for j in np.flatnonzero(changed):
            cells = [f"<td><b>{esc(dem[j])}</b></td>"]
            for key, total, scale, unit in (("eud", ed[j], 1.0, " " + self.unit_of.get(dem[j], "t")),
                                            ("p_short", 1.0, 100.0, " pp"),
                                            ("lose", float(self.at.get("horizon_months", 1)), 1.0, " months")):
                if key not in d:
                    cells.append("<td class=num>n/a</td>")
                    continue
                v = scale * float(round_to_zero(d[key][j], total))
                se = scale * float(round_to_zero(d.get(key + "_se", np.full(len(dem), np.nan))[j], total))
                cls = "num"
                if v != 0 and np.isfinite(se) and abs(v) > z * se:
                    cls += " better" if v < 0 else " worse"
                half = f" <small>± {esc(fmt_se(z * se))}</small>" if np.isfinite(se) and se > 0 else ""
                cells.append(f'<td class="{cls}">{esc("0" if v == 0 else f"{v:+.3g}")}{esc(unit)}{half}</td>')
            rows.append("<tr>" + "".join(cells) + "</tr>\n")
        parts = []
        if rows:
            head = "<tr><th>demand</th><th>Δ EUD</th><th>Δ P(short)</th><th>Δ LOSE</th></tr>\n"
            body = "".join(rows)
            parts.append(f'<div class="wide"><table>{head}{body}</table></div>\n'
                         '<p class="note">Scenario minus baseline; green: lower than the baseline beyond the 95 % '
                         "interval, red: higher.</p>\n")
        else:
            parts.append("<p>No demand it shares with the baseline differs from it beyond rounding: every trial "
                         "gives them the same shortfall.</p>\n")
        if same and rows:
            parts.append(f'<p class="note">Identical to the baseline up to rounding: {esc(", ".join(same))}.</p>\n')
        if added:
            parts.append(f'<p class="note">Demands only this scenario has (no difference): {esc(", ".join(added))}.'
                         "</p>\n")
        if removed:
            parts.append(f'<p class="note">Demands of the baseline this scenario removes: {esc(", ".join(removed))}.'
                         "</p>\n")
        return "".join(parts)

    def chokepoints(self):
        s = self.base.summary
        figs = self.figures(self.pl.chokepoints)
        rows = []
        for kind, what in (("facility", "facility"), ("node", "node"), ("restriction", "restriction")):
            for g in chokepoint_groups(s, self.res.model, kind)[:5]:
                members = f"<br><small>{esc(short_list(g['members'], 90))}</small>" if g["members"] else ""
                rows.append(f"<tr><td>{esc(what)}</td><td>{esc(g['label'])}{members}</td>"
                            f"<td class=num>{pm(g['unserved'], Z95 * g['unserved_se'])}</td>"
                            f"<td class=num>{esc(fmt_pct(g['unserved_share']))}</td>"
                            f"<td class=num>{pm_pct(g['month_share'], Z95 * g['month_share_se'])}</td>"
                            f"<td class=num>{esc(fmt_pct(g['trial_share']))}</td></tr>\n")
        table = ""
        if rows:
            table = ('<div class="wide"><table><tr><th>kind</th><th>constraint</th>'
                     "<th>unserved while binding<br><small>t, mean per trial</small></th>"
                     "<th>share of chain EUD</th><th>trial-months binding</th><th>trials binding</th></tr>\n"
                     + "".join(rows) + "</table></div>\n"
                     '<p class="note">The five largest of each kind, baseline. A constraint is a chokepoint in a month '
                     "when it limits what can be delivered; constraints of one stage with exactly the same "
                     "statistics bind together and are one row.</p>\n")
        return table + self.imgs(figs)

    def folded(self, figs, own, summary):
        """The figures of `own` (a name prefix) shown, the others folded into a <details>."""
        shown = [(n, d) for n, d in figs if n.startswith(own)]
        rest = [(n, d) for n, d in figs if not n.startswith(own)]
        out = self.imgs(shown)
        if rest:
            out += f"<details><summary>{esc(summary)} ({len(rest)} charts)</summary>\n{self.imgs(rest)}</details>\n"
        return out

    def importance(self):
        """The "Importance sampling" section (importance-sampled files only; "" for the others)."""
        base = self.base
        if not base.importance_sampled:
            return ""
        at = base.summary_attrs
        s = base.summary
        ess, n = self.pl.ess_of(base)
        w = base.weights()
        wmean = float(at["weight_mean"]) if at.get("weight_mean") is not None else float(w.mean())
        wse = float(w.std(ddof=1) / np.sqrt(w.size)) if w.size > 1 else float("nan")
        out = []
        est = at.get("estimator")
        if est:
            out.append('<p class="lead">The trials were drawn from a tilted proposal q instead of the model p, and '
                       f"each counts with its likelihood ratio w = p/q (trials/weight). Estimator: {esc(est)}.</p>\n")
        out.append(f"<p>Effective sample size (Kish, (Σ w)² / Σ w²): <b>{esc(f'{ess:,.0f}')}</b> of "
                   f"{esc(f'{n:,}')} trials ({esc(fmt_pct(ess / n if n else float('nan')))}); mean likelihood "
                   f"ratio {esc(f'{wmean:.4g}')}"
                   + (f" <small>± {esc(fmt_se(Z95 * wse))}</small>" if np.isfinite(wse) and wse > 0 else "")
                   + " (about 1 when the proposal covers the model's range).</p>\n")
        if np.isfinite(wse) and wse > 0 and abs(wmean - 1.0) > 3 * wse:
            out.append('<p class="note worse">The mean likelihood ratio differs from 1 by more than three standard '
                       "errors: the proposal may give too little mass to part of the model's range.</p>\n")
        p_ess, e_ess = self.pl.demand_ess(base)
        rows = []
        for j, d in enumerate(self.demands):
            pv = float(s["p_short"][j])
            rows.append(f"<tr><td><b>{esc(d)}</b></td><td class=num>{pm_pct(pv, self.half(base, 'p_short', j))}</td>"
                        f"<td class=num>{esc(f'{p_ess[j]:,.0f}')}</td><td class=num>{esc(f'{e_ess[j]:,.0f}')}</td>"
                        "</tr>\n")
        out.append('<div class="wide"><table><tr><th>demand</th><th>P(short)<br><small>≥ 1 month, 95 % interval'
                   "</small></th><th>ESS behind P(short)<br><small>(Σ w 1)² / Σ (w 1)² over short trials"
                   "</small></th>"
                   "<th>ESS behind EUD<br><small>(Σ w x)² / Σ (w x)²</small></th></tr>\n" + "".join(rows)
                   + "</table></div>\n"
                   '<p class="note">Baseline. The effective sample size behind an estimate is the number of '
                   "unweighted trials that would give it the same precision; an estimate resting on a few "
                   "effective trials is uncertain whatever the number of trials run.</p>\n")
        others = [(nm, self.pl.ess_of(sc)[0]) for nm, sc in self.res.scenarios.items()
                  if nm != "baseline" and sc.importance_sampled]
        if others:
            out.append('<p class="note">Effective sample size of the other scenarios: '
                       + "; ".join(f"{esc(nm)} {esc(f'{e:,.0f}')}" for nm, e in others) + ".</p>\n")
        try:
            imp = self.res.importance()
        except ChokepointFormatError as e:
            out.append(f'<p class="note">The /importance group cannot be read: {esc(e)}.</p>\n')
            imp = None
        if imp is None:
            out.append('<p class="note">The file does not store the proposals (/importance).</p>\n')
        else:
            trows = []
            for i, nm in enumerate(imp["inputs"]):
                edges, dens = self.pl.proposal_density(*imp["proposals"][i])
                fin = np.isfinite(dens)
                top = int(np.nanargmax(np.where(fin, dens, -np.inf))) if fin.any() else 0
                low = float(np.nanmin(dens)) if fin.any() else float("nan")
                trows.append(f"<tr><td>{esc(nm)}</td><td>{'cross-entropy' if imp['fitted'][i] else 'by hand'}</td>"
                             f"<td class=num>{int(imp['bins'][i])}</td>"
                             f"<td class=num>[{esc(f'{edges[top]:.6g}')}, {esc(f'{edges[top + 1]:.6g}')}]</td>"
                             f"<td class=num>{esc(f'{dens[top]:.3g}')}</td>"
                             f"<td class=num>{esc(f'{low:.3g}')}</td></tr>\n")
            out.append("<h3>Tilted inputs</h3>\n"
                       '<div class="wide"><table><tr><th>input</th><th>proposal</th><th>bins</th>'
                       "<th>most favoured quantiles</th><th>largest q/p</th><th>smallest q/p</th></tr>\n"
                       + "".join(trows) + "</table></div>\n"
                       "<p class=\"note\">Each proposal q is a density on the input's quantile scale (0, 1), uniform "
                       "on each of its bins; the model's density p there is 1, so where q/p is above 1 the input's "
                       "values are drawn more often than the model would draw them, and weighted down by w.</p>\n")
            ce = imp.get("cross_entropy")
            if ce:
                bits = [f"target: demand <b>{esc(ce.get('demand', '?'))}</b> short by more than "
                        f"{esc(fmt_t(ce.get('shortfall_above', 0.0)))}"]
                for key, label in (("pilot_trials", "pilot trials per round"), ("rarity", "elite share"),
                                   ("defensive", "defensive (uniform) share"), ("smoothing", "smoothing")):
                    if key in ce:
                        v = ce[key]
                        txt = f"{v:g}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)
                        bits.append(f"{esc(label)} {esc(txt)}")
                if "reached" in ce:
                    bits.append("the target level was reached" if ce["reached"]
                                else '<span class="worse">the target level was NOT reached</span>')
                out.append("<h3>Cross-entropy fit</h3>\n<p>" + "; ".join(bits) + ".</p>\n")
                r = ce.get("rounds", {})
                cols = [c for c in ce.get("columns", list(r)) if c in r]
                k = len(r[cols[0]]) if cols else 0
                if k:
                    head = "".join(f"<th>{esc(c.replace('_', ' '))}</th>" for c in cols)
                    body = ""
                    for i in range(k):
                        cells = []
                        for c in cols:
                            v = r[c][i]
                            txt = (f"{int(v):,}" if np.issubdtype(np.asarray(r[c]).dtype, np.integer)
                                   else f"{float(v):.4g}")
                            cells.append(f"<td class=num>{esc(txt)}</td>")
                        body += "<tr>" + "".join(cells) + "</tr>\n"
                    out.append(f'<div class="wide"><table><tr>{head}</tr>\n{body}</table></div>\n'
                               '<p class="note">One row per pilot round: the trials drawn, those that reached the '
                               "target (hits), the elite trials the next proposal was fitted to, the shortfall "
                               "level they reached, the estimated hit rate, the elites' effective sample size and "
                               "the inputs tilted.</p>\n")
            if imp.get("estimator") and imp["estimator"] != est:
                out.append(f'<p class="note">Proposals (/importance): {esc(imp["estimator"])}.</p>\n')
        out.append(self.imgs(self.figures(self.pl.importance)))
        return "".join(out)

    def provenance(self):
        at = self.at
        rows = [("study", at.get("name")), ("description", at.get("description")),
                ("results file", os.path.abspath(self.res.path)),
                ("format version", ".".join(str(v) for v in self.res.format_version)),
                ("chokepoint", f"{at.get('program_version', '?')} (commit {at.get('git_commit', '?')})"),
                ("finished (UTC)", at.get("created_utc")), ("seed", at.get("seed")),
                ("trials", f"{int(at.get('trials', 0)):,}"),
                ("horizon", f"{at.get('horizon_months', '?')} months from {at.get('start') or 'month 0'}"),
                ("block size", at.get("block_size")), ("config SHA-256", at.get("config_sha256")),
                ("config files", ", ".join(self.res.config_files)),
                ("scenarios", ", ".join(self.res.scenarios)),
                ("standard errors", self.base.summary_attrs.get("se_method")),
                ("threads, MPI ranks", f"{at.get('threads', '?')}, {at.get('ranks', '?')} (no result depends on them)")]
        if "trials_requested" in at and at.get("trials_requested") != at.get("trials"):
            rows.append(("trials requested", at.get("trials_requested")))
        if int(at.get("shard_count", 0) or 0) > 0:
            rows.append(("shard", f"{at.get('shard_index')} of {at.get('shard_count')}"))
        st = self.res.stopping()
        if st is not None:
            eff = st.get("effective_trials", float("nan"))
            rows.append(("stopping rule", f"{st['rule']}: target {'met' if st['target_met'] else 'NOT met'}, "
                                          f"estimate {fmt_t(st['estimate'])}, SE {fmt_se(st['se'])}"
                                          + (f", on {eff:,.0f} effective trials" if eff == eff else "")))
        if at.get("resumed_by_version"):
            rows.append(("resumed by", at.get("resumed_by_version")))
        lps = [f"{k[4:]} {int(at[k]):,}" for k in ("lps_warm", "lps_cold", "lps_bland", "lps_clp", "lps_relaxed")
               if k in at]
        if lps:
            rows.append(("allocation LPs", ", ".join(lps)))
        rows.append(("report", f"chokepoint Python package {__version__}, "
                               f"{datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}"))
        out = '<dl class="prov">\n' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>\n" for k, v in rows
                                               if v is not None and str(v) != "") + "</dl>\n"
        for path, text in zip(self.res.config_files, self.res.config_texts):
            out += f"<details><summary>config file {esc(path)}</summary>\n<pre>{esc(text)}</pre></details>\n"
        return out

    # -- the page ------------------------------------------------------------------------------
    def build(self):
        pl = self.pl
        self.add("risk", "Risk per demand", self.risk())
        self.add("importance", "Importance sampling", self.importance())
        self.add("scenarios", "Scenarios against the baseline", self.scenarios())
        self.add("exceedance", "Exceedance curves", self.imgs(self.figures(pl.exceedance)))
        self.add("monthly", "Shortfall month by month", self.imgs(self.figures(pl.monthly)))
        self.add("chokepoints", "Chokepoints", self.chokepoints())
        self.add("stockpiles", "Stockpiles", self.imgs(self.figures(pl.stockouts)))
        self.add("events", "Events and regimes", self.imgs(self.figures(pl.events) + self.figures(pl.regimes)))
        self.add("sensitivity", "Which inputs matter",
                 self.folded(self.figures(pl.sensitivity), ("tornado_baseline_", "sobol_baseline_"),
                             "the other scenarios' sensitivity charts"))
        self.add("convergence", "How settled the estimates are",
                 self.folded(self.figures(pl.convergence), "convergence_baseline", "the other scenarios"))
        self.add("provenance", "Provenance", self.provenance())
        if pl.failed:
            raise ChokepointFormatError(f"{self.res.path}: figures that could not be drawn: {', '.join(pl.failed)}")
        glance = self.glance()
        toc = " ".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title, _ in self.sections)
        body = "".join(f'<section id="{sid}">\n<h2>{esc(title)}</h2>\n{html_}</section>\n'
                       for sid, title, html_ in self.sections)
        title = f"{self.at.get('name', '?') or '?'}: supply-risk report"
        return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
                f'<meta name="generator" content="chokepoint-report {esc(__version__)}">\n'
                f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
                f"{self.header()}<nav>{toc}</nav>\n<section id=\"glance\">\n<h2>At a glance</h2>\n{glance}</section>\n"
                f"{body}</main>\n</body>\n</html>\n")


def _stem(name):
    """A scenario id as chokepoint.plots puts it in a file name."""
    out = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in str(name)).strip("_")
    return out or "x"


def _is_page(name, stem):
    """True when `name` is STEM.png or a page STEM_<k>.png."""
    if name == f"{stem}.png":
        return True
    rest = name[len(stem) + 1:-4] if name.startswith(f"{stem}_") and name.endswith(".png") else ""
    return rest.isdigit()


def default_output(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    return os.path.join(os.path.dirname(os.path.abspath(path)), stem + "_report.html")


def write_report(path, out=None):
    """Write the report of results file `path` to `out` (default: default_output(path)) and return
    the path written. Raises ChokepointFormatError for a file it cannot read, OSError when the
    output cannot be written (a partial file is never left: it is written next to it and renamed)."""
    out = out or default_output(path)
    with open_results(path) as res:
        if not list(res.model.get("demands", [])):
            raise ChokepointFormatError(f"{path}: /model/demands is empty; nothing to report")
        if int(res.attrs.get("trials", 0)) < 1:
            raise ChokepointFormatError(f"{path}: the file holds no trials")
        try:
            page = Report(res).build()
        except KeyError as e:
            raise ChokepointFormatError(f"{path}: missing {e}") from None
    if os.path.isdir(out):
        raise IsADirectoryError(f"{out}: is a directory; give the HTML file to write (--out FILE.html)")
    tmp = f"{out}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(page)
        os.replace(tmp, out)
    except OSError as e:  # named by the file asked for, not the temporary one beside it
        raise type(e)(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out


def main(argv=None, prog=None):
    """The command line (chokepoint-report); returns the exit status."""
    global PROG
    if prog:
        PROG = prog
    ap = argparse.ArgumentParser(prog=PROG, description="Write a self-contained one-page HTML report of a "
                                 "chokepoint results file (figures embedded, no network, no JavaScript).",
                                 epilog="Default FILE.html: next to the results, <results stem>_report.html")
    ap.add_argument("file", help="results file written by `chokepoint run` (.h5)")
    ap.add_argument("--out", metavar="FILE.html", help="the HTML file to write")
    a = ap.parse_args(argv)
    try:
        path = write_report(a.file, a.out)
    except ChokepointFormatError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
