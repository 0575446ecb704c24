#!/usr/bin/env python3
"""The HTML report (`python -m chokepoint report`), built from real runs and opened in a real browser.

    test_report.py CHOKEPOINT CONFIG WORKDIR

CONFIG is configs/examples/tiny.yaml (the scenarios below name its demands and facilities);
WORKDIR is emptied and used for everything written. Three studies are run with CHOKEPOINT:
  plain      CONFIG as it is (one scenario, no sensitivity, no stored inputs);
  scenarios  CONFIG included by a study whose description holds HTML (<script>, <b>, &), with
             run.sensitivity: rank and four scenarios: a demand surge and a second refinery
             (differences), one that sets a value to what it already is (no difference at all)
             and one that removes a demand and adds another; a copy of its file with a paired
             difference at rounding level written into it (2.84e-18 ± 5.7e-18 t);
  inputs     CONFIG with --store-inputs (tornado charts computed from the stored inputs);
  importance CONFIG with run.importance (the export control's occurrence tilted; format 1.4) and
             --store-inputs: the section #importance (the estimator sentence, the effective sample
             size, each demand's ESS behind P(short), the tilted input) with importance.png, and no
             tornado chart (importance-sampled inputs describe the proposal, not the model); the
             plain page has no such section.
For each results file, `python -m chokepoint report FILE` must exit 0, print the path and write
FILE's stem + _report.html next to it (`--out` elsewhere), and the page must:
  - be self-contained: every <img> a data:image/png;base64 URI whose PNG matches its width and
    height attributes; no attribute or style sheet referring to anything outside the page (only
    data: and #anchors; no http:, https:, // or url(...)); no <script>, <link>, <iframe>, <object>,
    <embed>, <base>;
  - escape the text from the file (the description's <script> and <b> appear as text only);
  - hold the sections the file calls for and no others (no scenarios section for one scenario, no
    sensitivity section without sensitivity or inputs), none of them empty;
  - show the baseline's P(short) and EUD of each demand as the file stores them, the paired
    differences of a scenario that changed something, "no demand ... differs" for the one that
    did not, and a difference at rounding level as identical (no number like 2.84e-18 anywhere);
  - load in headless Chromium (`chromium --headless --dump-dom`) with every figure: a copy of the
    page with a probe script appended reports, after the load event, each <img> that is complete
    with naturalWidth > 0; their number must equal the <img> count of the page, their names
    (data-figure) the figures the file calls for, computed here from the file (risk, exceedance,
    monthly, chokepoints, stockouts, events, regimes, convergence_<s>, differences_<s>,
    scenarios, tornado_<s>_<demand> for the outputs with a defined value, importance for an
    importance-sampled file);
  - render to a screenshot (`chromium --headless --screenshot`): a PNG of the window's size that
    is not blank (many colours, most of it not background).
Also: a file that is not HDF5 gives exit 2 and a message naming it, and no report.
Chromium is required (scripts/install_deps.sh installs Debian's `chromium`): without it the test
fails. Exit status 0 when every check passes, 1 otherwise. Needs h5py, numpy and matplotlib.
"""

import base64
import glob
import html
import html.parser
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys

import h5py
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.image  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import package_path  # noqa: E402,F401  (the checkout's python/ first on sys.path)
from test_plots import changed_beyond_rounding  # noqa: E402  (the same rounding rule as the plots' test)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WINDOW = (1280, 2000)
# The description written into the scenarios study: what the report must escape.
HOSTILE = 'Toy <script>alert("x")</script> & <b>bold</b> study'

failures = []


def report(ok, what, detail=""):
    print(("PASS  " if ok else "FAIL  ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(what)
    return ok


def env():
    """The children's environment: the package under test importable (the checkout's python/,
    or the installed one under CHOKEPOINT_TEST_INSTALLED=1)."""
    e = dict(os.environ)
    if not package_path.INSTALLED:
        e["PYTHONPATH"] = package_path.PYDIR + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


SCENARIOS_YAML = """\
# written by tests/python/test_report.py
name: report_scenarios
description: '{description}'
include: [{config}]
run:
  trials: 1000
  seed: 7
  horizon_months: 24
  start: "2027-01"
  block_size: 250
  sensitivity: rank
  bootstrap: 50
scenarios:
  - id: defense_surge
    description: 'US defense wants <i>30 t/yr</i>'
    set:
      demands/us_defense/quantity: 30
  - id: us_refinery
    description: a second US refinery
    add:
      facilities:
        - {{id: metal_us2, product: metal, country: US, capacity: {{pert: {{min: 5, mode: 10, max: 15}}}}}}
  - id: unchanged
    description: sets the US defense quantity to the value it has
    set:
      demands/us_defense/quantity: 5
  - id: new_buyer
    description: a battery maker replaces the civil buyer
    remove:
      demands: [us_civil]
    add:
      demands:
        - {{id: us_battery, product: metal, country: US, tier: 2, quantity: {{pert: {{min: 20, mode: 30, max: 40}}}}}}
"""


def run_study(exe, args, out):
    cmd = [exe, "run"] + args + ["-o", out, "--overwrite", "-q", "--threads", "2"]
    print("-- " + " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return report(r.returncode == 0 and os.path.isfile(out), f"chokepoint run -> {os.path.basename(out)}",
                  f"exit {r.returncode}: {r.stderr[-2000:]}")


def add_rounding_difference(src, dst):
    """Copy src to dst; in scenario us_refinery, demand us_defense (identical to the baseline in
    every trial) gets a paired EUD difference at rounding level, as floating-point sums leave."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        s = f["scenarios/us_refinery/summary"]
        dem = [v.decode() if isinstance(v, bytes) else str(v) for v in s["demand"][()]]
        j = dem.index("us_defense")
        for name, value in (("diff_eud", 2.84e-18), ("diff_eud_se", 5.7e-18)):
            a = s[name][()]
            a[j] = value
            s[name][...] = a


# -- what the file calls for ---------------------------------------------------------------------
def names(ds):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in ds[()]]


def expected_figures(path):
    """Stems of the figures the report of `path` must show (a stem matches STEM or STEM_<k>)."""
    stems = ["risk", "exceedance", "monthly"]
    with h5py.File(path, "r") as f:
        m = f["model"]
        base = f["scenarios/baseline"]
        bs = base["summary"]
        if "weight" in base["trials"]:
            stems.append("importance")
        if any(k in bs and (bs[k][()] > 0).any() for k in ("facility_binding_month_share", "node_binding_month_share",
                                                           "restriction_binding_month_share")):
            stems.append("chokepoints")
        if "demand_has_stockpile" in m and (m["demand_has_stockpile"][()] == 1).any():
            stems.append("stockouts")
        if "events" in m and m["events"].shape[0] > 0:
            stems.append("events")
        if "regimes" in m and m["regimes"].shape[0] >= 2:
            stems.append("regimes")
        scen = list(f["scenarios"])
        if len(scen) >= 2:
            stems.append("scenarios")
        for name in scen:
            g = f["scenarios"][name]
            if "convergence" in g and (np.abs(g["convergence/eud"][()]) > 0).any():
                stems.append(f"convergence_{name}")
            s = g["summary"]
            if name != "baseline" and "diff_eud" in s and changed_beyond_rounding(s):
                stems.append(f"differences_{name}")
            if "sensitivity" in g:
                sg = g["sensitivity"]
                defined = np.isfinite(sg["srrc"][()]).any(axis=1) | np.isfinite(sg["spearman"][()]).any(axis=1)
                stems += [f"tornado_{name}_{o}" for o, d in zip(names(sg["output"]), defined) if d]
            elif "inputs" in g["trials"] and "weight" not in g["trials"]:  # (importance-sampled: no chart)
                sf = g["trials/shortfall"][()]
                varies = (sf != sf[:1]).any(axis=0)  # a constant output has no rank correlation
                stems += [f"tornado_{name}_{o}" for o, v in zip(names(g["trials/demand"]), varies) if v]
    return stems


def matches(name, stem):
    return name == stem or (name.startswith(stem + "_") and name[len(stem) + 1:].isdigit())


# -- the static page -------------------------------------------------------------------------------
class Page(html.parser.HTMLParser):
    """Tags, attributes, section ids, the text of each section and the style sheets of a page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []  # (tag, attrs dict)
        self.sections = {}  # id -> {"text": str, "content": count of img/table/p/ul/dl}
        self.current = None
        self.styles = []
        self.in_style = False
        self.text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "section":
            self.current = a.get("id", "?")
            self.sections[self.current] = {"text": "", "content": 0}
        elif self.current and tag in ("img", "table", "p", "ul", "dl"):
            self.sections[self.current]["content"] += 1
        self.in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "section":
            self.current = None
        if tag == "style":
            self.in_style = False

    def handle_data(self, data):
        if self.in_style:
            self.styles.append(data)
            return
        self.text.append(data)
        if self.current:
            self.sections[self.current]["text"] += data


def png_size(data):
    return struct.unpack(">II", data[16:24])


def check_static(tag, text, expect_sections, absent_sections):
    """Self-containment, escaping and sections of a report's HTML; returns the parsed Page."""
    page = Page()
    page.feed(text)
    imgs = [a for t, a in page.tags if t == "img"]
    report(len(imgs) > 0, f"{tag}: the page has figures", "no <img>")
    good = True
    for a in imgs:
        src = a.get("src", "")
        if not src.startswith("data:image/png;base64,"):
            good = False
            print(f"      <img> src is not an embedded PNG: {src[:60]!r}")
            continue
        data = base64.b64decode(src[len("data:image/png;base64,"):], validate=True)
        size = (str(png_size(data)[0]), str(png_size(data)[1])) if data[:8] == PNG_MAGIC else None
        try:
            pixels = matplotlib.image.imread(io.BytesIO(data), format="png")
        except Exception as e:  # noqa: BLE001  (any decoding error: a damaged image)
            pixels = None
            print(f"      {a.get('data-figure')}: the PNG does not decode: {e}")
        if size != (a.get("width"), a.get("height")) or pixels is None or pixels.shape[:2] != (
                int(size[1]), int(size[0])):
            good = False
            print(f"      {a.get('data-figure')}: not a whole PNG of its width x height attributes")
    report(good, f"{tag}: every <img> is an embedded PNG (data: URI) that decodes whole, of its width and height")
    external = []
    for t, a in page.tags:
        if t in ("script", "link", "iframe", "object", "embed", "base", "frame", "audio", "video", "source"):
            external.append(f"<{t}>")
        for k, v in a.items():
            v = (v or "").strip()
            if k in ("src", "href", "srcset", "action", "formaction", "data", "poster", "background",
                     "xlink:href", "manifest", "ping", "cite", "longdesc"):
                if not (v.startswith("data:") or v.startswith("#")):
                    external.append(f"<{t} {k}={v[:60]!r}>")
            elif k == "style" and re.search(r"url\s*\(|@import", v, re.I):
                external.append(f"<{t} style={v[:60]!r}>")
            if k not in ("src",) and re.search(r"(?i)https?:|^//|\s//", v):
                external.append(f"<{t} {k}={v[:60]!r}>")
    css = "".join(page.styles)
    if re.search(r"url\s*\(|@import|https?:|//", css, re.I):
        external.append("a style sheet refers to something outside the page")
    report(not external, f"{tag}: no external reference, no script, link, frame or object",
           "; ".join(external[:8]))
    for sid in expect_sections:
        sec = page.sections.get(sid)
        report(sec is not None, f"{tag}: section #{sid} present", f"sections: {list(page.sections)}")
    for sid in absent_sections:
        report(sid not in page.sections, f"{tag}: no section #{sid}", f"sections: {list(page.sections)}")
    empty = [sid for sid, s in page.sections.items() if s["content"] == 0 or len(s["text"].strip()) < 20]
    report(not empty, f"{tag}: no empty section", f"empty: {empty}")
    alltext = "".join(page.text)
    tiny_numbers = re.findall(r"[+-]?\d(?:\.\d+)?e-(?:1[0-9]|[2-9][0-9])\b", alltext)
    report(not tiny_numbers, f"{tag}: no number at rounding level (e-10 or smaller) in the page's text",
           str(tiny_numbers[:5]))
    return page


# -- the browser -----------------------------------------------------------------------------------
# Appended to a copy of the page: after the load event, each image that is complete, has a natural
# size and is decoded to its last row (drawn into a canvas, the last row is opaque: matplotlib's
# PNGs are; a truncated PNG leaves it transparent) counts as loaded. Writes the result into the DOM.
PROBE = """<script>
window.addEventListener("load", function () {
  function decoded(i) {
    if (!i.complete || !(i.naturalWidth > 0) || !(i.naturalHeight > 0)) return false;
    var c = document.createElement("canvas");
    c.width = i.naturalWidth;
    c.height = i.naturalHeight;
    var g = c.getContext("2d");
    g.drawImage(i, 0, 0);
    var row = g.getImageData(0, i.naturalHeight - 1, i.naturalWidth, 1).data;
    for (var k = 3; k < row.length; k += 4) if (row[k] !== 255) return false;
    return true;
  }
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(decoded);
  var out = document.createElement("pre");
  out.id = "report-probe";
  out.textContent = JSON.stringify({total: imgs.length, loaded: ok.length,
    names: ok.map(function (i) { return i.getAttribute("data-figure"); })});
  document.body.appendChild(out);
});
</script>
"""


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def browser(exe, work, args, url, timeout=180):
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           "--disable-dev-shm-usage", f"--user-data-dir={os.path.join(work, 'chromium-profile')}"] + args + [url]
    print("-- " + " ".join(cmd))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def check_browser(tag, exe, work, path, text, expected):
    """Load the page (with a probe appended) in headless Chromium: every figure loads, and they are
    the expected ones; then a screenshot of the page itself."""
    probe_path = os.path.join(os.path.dirname(path), "probe_" + os.path.basename(path))
    with open(probe_path, "w", encoding="utf-8") as f:
        f.write(text.replace("</body>", PROBE + "</body>"))
    r = browser(exe, work, ["--dump-dom"], "file://" + probe_path)
    m = re.search(r'<pre id="report-probe">(.*?)</pre>', r.stdout, re.S)
    if not report(r.returncode == 0 and m is not None, f"{tag}: chromium --dump-dom loads the page and runs the probe",
                  f"exit {r.returncode}; stdout {r.stdout[-300:]!r}; stderr {r.stderr[-1500:]}"):
        return
    got = json.loads(html.unescape(m.group(1)))
    n_img = text.count("<img ")
    report(got["total"] == n_img, f"{tag}: the browser sees every <img> of the page ({n_img})", str(got["total"]))
    report(got["loaded"] == got["total"] and got["loaded"] > 0,
           f"{tag}: every figure loaded (complete, naturalWidth > 0, decoded to its last row): "
           f"{got['loaded']} of {got['total']}")
    loaded = got["names"]
    missing = [s for s in expected if not any(matches(n, s) for n in loaded)]
    extra = [n for n in loaded if not any(matches(n, s) for s in expected)]
    report(not missing, f"{tag}: every figure the file calls for is on the page ({len(expected)} kinds)",
           f"missing {missing}")
    report(not extra, f"{tag}: no figure the file does not call for", f"unexpected {extra}")
    report(len(loaded) == len(set(loaded)), f"{tag}: no figure twice")

    shot = os.path.join(work, f"{tag}_screenshot.png")
    if os.path.exists(shot):
        os.remove(shot)
    r = browser(exe, work, [f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}"], "file://" + path)
    if not report(r.returncode == 0 and os.path.isfile(shot), f"{tag}: chromium --screenshot writes a PNG",
                  f"exit {r.returncode}: {r.stderr[-1500:]}"):
        return
    with open(shot, "rb") as f:
        data = f.read()
    report(data[:8] == PNG_MAGIC and png_size(data) == WINDOW,
           f"{tag}: the screenshot is a {WINDOW[0]}x{WINDOW[1]} PNG", str(png_size(data)))
    px = matplotlib.image.imread(shot)[..., :3]
    flat = (np.round(px * 255).astype(np.int64) @ np.array([65536, 256, 1])).ravel()
    colours = np.unique(flat).size
    background = np.bincount(flat).max() / flat.size
    report(colours >= 200 and background < 0.97,
           f"{tag}: the screenshot is not blank ({colours} colours, {100 * background:.0f}% background)")


# -- one report -------------------------------------------------------------------------------------
def make_report(tag, results, out=None):
    """Run `python -m chokepoint report`; returns the HTML text, or None (reported)."""
    want = out or os.path.join(os.path.dirname(os.path.abspath(results)),
                               os.path.splitext(os.path.basename(results))[0] + "_report.html")
    cmd = [sys.executable, "-m", "chokepoint", "report", results] + (["--out", out] if out else [])
    print("-- " + " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env())
    if r.stderr:
        print(r.stderr.rstrip())
    if not report(r.returncode == 0 and os.path.isfile(want),
                  f"{tag}: report exits 0 and writes {os.path.basename(want)}", f"exit {r.returncode}: {r.stderr[-2000:]}"):
        return None, want
    report(os.path.samefile(r.stdout.strip(), want), f"{tag}: report prints the path written", r.stdout)
    with open(want, encoding="utf-8") as f:
        return f.read(), want


def tonnes(x):
    """A quantity as the report writes it: 0, 3 significant digits below 0.001 t, 4 below 1000 t,
    then whole tonnes with thousands separators."""
    if x == 0:
        return "0"
    if abs(x) < 1e-3 or abs(x) >= 1e9:
        return f"{x:.3g}"
    return f"{x:.4g}" if abs(x) < 1000 else f"{x:,.0f}"


def row_of(text, demand):
    """The <tr> of the risk table whose first cell names `demand`."""
    m = re.search(r"<tr><td><b>" + re.escape(demand) + r"</b>.*?</tr>", text, re.S)
    return m.group(0) if m else ""


def check_numbers(tag, text, path):
    """The risk table's P(short) and EUD of each baseline demand are the file's."""
    with h5py.File(path, "r") as f:
        s = f["scenarios/baseline/summary"]
        dem = names(s["demand"])
        ps, eud = s["p_short"][()], s["eud"][()]
    risk = text[text.index('<section id="risk">'):]
    risk = risk[:risk.index("</section>")]
    for j, d in enumerate(dem):
        row = row_of(risk, d)
        p = "0%" if ps[j] == 0 else f"{100 * ps[j]:.3g}%"
        e = tonnes(eud[j])
        report(row and f"<td class=num>{p}" in row and f"<td class=num>{e}" in row,
               f"{tag}: risk table row {d}: P(short) {p}, EUD {e} t as in the file", row[:400])


IMPORTANCE_RUN = """run:
  importance:
    tilt:
      - {input: event/cn_export_control/occurs, probability: 0.8}
"""


def check_importance(text, path):
    """The section #importance of an importance-sampled file's page: the summary's estimator sentence
    (escaped), the ESS, each demand's ESS behind P(short), the tilted input and importance.png."""
    with h5py.File(path, "r") as f:
        s = f["scenarios/baseline/summary"]
        est = s.attrs["estimator"]
        est = est.decode() if isinstance(est, bytes) else str(est)
        ess, p_ess, dem = float(s.attrs["ess"]), s["p_short_ess"][()], names(s["demand"])
        inputs = names(f["importance/inputs"])
    sec = text[text.index('<section id="importance">'):] if '<section id="importance">' in text else ""
    sec = sec[:sec.index("</section>")] if sec else ""
    report(html.escape(est, quote=True) in sec and f"<b>{ess:,.0f}</b>" in sec,
           f"importance: #importance gives the estimator sentence (escaped) and the ESS {ess:,.0f}")
    report(all(re.search(r"<td><b>" + re.escape(d) + r"</b></td>.*?<td class=num>" + re.escape(f"{p_ess[j]:,.0f}")
                         + "</td>", sec) for j, d in enumerate(dem)),
           "importance: #importance gives each demand's ESS behind P(short)", str(list(p_ess)))
    report(all(f"<td>{html.escape(i)}</td>" in sec for i in inputs) and 'data-figure="importance"' in sec,
           "importance: #importance lists the tilted inputs and shows importance.png", str(inputs))
    report(not re.search(r'data-figure="tornado_', text),
           "importance: no tornado chart from the stored (tilted) inputs")


def main(argv):
    if len(argv) != 4:
        print(__doc__)
        return 2
    exe, config, work = os.path.abspath(argv[1]), os.path.abspath(argv[2]), os.path.abspath(argv[3])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    browser_exe = chromium()
    report(browser_exe is not None, "chromium is installed (Debian package chromium; scripts/install_deps.sh)",
           "not found on PATH: apt-get install chromium")

    plain = os.path.join(work, "plain.h5")
    scen = os.path.join(work, "scenarios.h5")
    inputs = os.path.join(work, "inputs.h5")
    cfg = os.path.join(work, "scenarios.yaml")
    with open(cfg, "w") as f:
        f.write(SCENARIOS_YAML.format(description=HOSTILE.replace("'", "''"), config=config))
    ok_plain = run_study(exe, [config, "--trials", "1000"], plain)
    ok_scen = run_study(exe, [cfg], scen)
    ok_inputs = run_study(exe, [config, "--trials", "1000", "--store-inputs"], inputs)
    importance = os.path.join(work, "importance.h5")
    with open(config) as f:
        text = f.read()
    ok_importance = report("run:\n" in text, "CONFIG has a run section (to add run.importance to)")
    if ok_importance:
        icfg = os.path.join(work, "importance.yaml")
        with open(icfg, "w") as f:
            f.write(text.replace("run:\n", IMPORTANCE_RUN, 1))
        ok_importance = run_study(exe, [icfg, "--trials", "2000", "--store-inputs"], importance)
    rounding = os.path.join(work, "rounding.h5")
    if ok_scen:
        add_rounding_difference(scen, rounding)
    # A shard is a slice of a run: the page says so at the top (once it read as a whole study).
    shard = os.path.join(work, "shard.h5")
    if run_study(exe, [config, "--trials", "2000", "--shard", "1/2"], shard):
        stext, _ = make_report("shard", shard, None)
        if stext is not None:
            glance = stext[stext.index('<section id="glance">'):]
            glance = glance[:glance.index("</section>")]
            report("A shard, not the whole study" in glance and "shard 1 of 2" in glance,
                   "shard: 'At a glance' says the file is shard 1 of 2, not the whole study")

    studies = []
    if ok_plain:
        studies.append(("plain", plain, None, ["risk", "exceedance", "monthly", "chokepoints", "provenance"],
                        ["scenarios", "sensitivity", "importance"]))
    if ok_scen:
        studies.append(("scenarios", scen, os.path.join(work, "out", "scenarios.html"),
                        ["risk", "scenarios", "sensitivity", "convergence", "provenance"], []))
        studies.append(("rounding", rounding, None, ["scenarios"], []))
    if ok_inputs:
        studies.append(("inputs", inputs, None, ["sensitivity"], ["scenarios", "importance"]))
    if ok_importance:
        studies.append(("importance", importance, None, ["risk", "importance", "convergence", "provenance"],
                        ["scenarios", "sensitivity"]))
    os.makedirs(os.path.join(work, "out"), exist_ok=True)

    for tag, path, out, present, absent in studies:
        text, written = make_report(tag, path, out)
        if text is None:
            continue
        check_static(tag, text, present, absent)
        check_numbers(tag, text, path)
        if browser_exe and tag != "rounding":  # (rounding: the scenarios page with one number changed)
            check_browser(tag, browser_exe, work, written, text, expected_figures(path))
        if tag == "scenarios":
            report(HOSTILE not in text and "<b>bold</b>" not in text and "<script>" not in text,
                   "scenarios: the description's HTML is not in the page as markup")
            report(html.escape(HOSTILE, quote=True) in text or html.escape(HOSTILE, quote=False) in text,
                   "scenarios: the description appears escaped (as text)")
            report("&lt;i&gt;30 t/yr&lt;/i&gt;" in text, "scenarios: a scenario's description appears escaped")
            sec = text[text.index('<section id="scenarios">'):]
            sec = sec[:sec.index("</section>")]
            unchanged = sec[sec.index("<h3>unchanged</h3>"):]
            unchanged = unchanged[:unchanged.index("<h3>", 4)]
            report("No demand it shares with the baseline differs from it beyond rounding" in unchanged
                   and "<img" not in unchanged and "<table" not in unchanged,
                   "scenarios: the scenario that changes nothing says so, with no table and no chart")
            with h5py.File(path, "r") as f:
                s = f["scenarios/defense_surge/summary"]
                v = s["diff_eud"][()][names(s["demand"]).index("us_civil")]
            surge = sec[sec.index("<h3>defense_surge</h3>"):sec.index("<h3>us_refinery</h3>")]
            report(re.search(r"<td><b>us_civil</b></td><td class=\"num[^\"]*\">" + re.escape(f"{v:+.3g}") + " t",
                             surge) is not None,
                   f"scenarios: defense_surge's paired EUD difference of us_civil ({v:+.3g} t) is in its table")
            report('data-figure="differences_defense_surge"' in surge,
                   "scenarios: defense_surge's differences chart is in its part of the page")
            buyer = sec[sec.index("<h3>new_buyer</h3>"):]
            report("us_battery" in buyer and "us_civil" in buyer,
                   "scenarios: new_buyer names the demand it adds and the one it removes")
        if tag == "rounding":
            sec = text[text.index("<h3>us_refinery</h3>"):]
            sec = sec[:sec.index("<h3>", 4)]
            report("<td><b>us_defense</b></td>" not in sec and "Identical to the baseline up to rounding: us_defense"
                   in sec, "rounding: a paired difference of 2.84e-18 ± 5.7e-18 t counts as identical (no row)")
            report("e-18" not in text and "0.0000000000" not in text,
                   "rounding: 2.84e-18 and its SE appear nowhere in the page")
        if tag == "plain":
            report("Importance sampling" not in text and 'data-figure="importance"' not in text
                   and "likelihood ratio" not in text,
                   "plain: no importance-sampling section, figure or mention without importance sampling")
        if tag == "importance":
            check_importance(text, path)
        if tag == "inputs":
            report('data-figure="tornado_baseline_us_civil"' in text
                   and 'data-figure="tornado_baseline_us_defense"' not in text,
                   "inputs: a tornado chart from the stored inputs for the demand that is short, none for the "
                   "demand that never is")

    # a file that is not a results file
    bad = os.path.join(work, "not_results.h5")
    with open(bad, "w") as f:
        f.write("not HDF5\n")
    r = subprocess.run([sys.executable, "-m", "chokepoint", "report", bad], capture_output=True, text=True,
                       timeout=120, env=env())
    report(r.returncode == 2 and bad in r.stderr and not r.stdout.strip()
           and not glob.glob(os.path.join(work, "not_results_report.html*")),
           "report of a non-HDF5 file: exit 2, message names the file, nothing written",
           f"exit {r.returncode}, stderr {r.stderr!r}")

    print(f"-- {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
