#!/usr/bin/env python3
"""Check that a chokepoint results file matches docs/output-format.md (format 1.x).

    test_output.py FILE

Opens FILE with the chokepoint package's reader (python/chokepoint/reader.py) and checks: root attributes (presence and HDF5
type), /config, /model tables (lengths, index ranges), per-trial datasets (presence, dtype, shape,
storage: chunked + gzip + extendible along trial), value ranges, and that the summary agrees with
the per-trial data:
  eud, expected_demand, lose, p_short,
  mean_shortfall_share                    = means over trials          (1e-9 relative)
  their _se                               = std(ddof=1) / sqrt(n)      (1e-9 relative)
  eud_share                               = eud / expected_demand      (1e-9 relative; a ratio of
                                            means, written without a standard error)
  shortfall_quantiles                     = numpy.quantile(shortfall, quantile_levels, axis=0)
                                                                       (1e-12 relative)
  monthly_mean_shortfall                  = mean of monthly_shortfall over trials
                                                                       (1e-5 relative: float32 storage)
  facility_binding_{trial,month}_share and their _se, regime_share, event_fired_share from per-trial data.
The distribution, risk, conditional, fan-chart and chokepoint-share datasets (shortfall_quantiles_ci_*,
var, cvar, exceedance_*, p_share_above, *_given_*, *_by_regime, monthly_shortfall_bands,
*_binding_unserved_share) and the dimension scales are checked by test_statistics.py and
test_xarray.py; here they only count as documented.
Comparisons are |a - b| <= rtol * max(|a|, |b|) + atol, where atol is a tiny multiple (rtol * 1e-3)
of the largest magnitude of the data compared, so that values that should be 0 may differ by
rounding noise only.

Prints one line per check (PASS / FAIL / SKIP) and exits 1 if any check failed, 2 if the file
cannot be read at all.
"""

import datetime
import hashlib
import os
import re
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import package_path  # noqa: E402,F401  (the checkout's python/ first on sys.path)
from chokepoint import SUMMARY_DIMS, ChokepointFormatError, open_results  # noqa: E402

# Dimension-scale (coordinate) datasets of the trials and summary groups (docs/output-format.md).
TRIAL_COORDS = {"trial", "demand", "facility", "event", "month"}
SUMMARY_COORDS = {"demand", "facility", "node", "restriction", "event", "regime", "month", "grid", "quantile",
                  "var_level", "threshold", "band"}


class Checks:
    def __init__(self):
        self.failed = []
        self.passed = 0
        self.skipped = 0

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print(f"PASS  {what}")
        else:
            self.failed.append(what)
            print(f"FAIL  {what}" + (f": {detail}" if detail else ""))
        return bool(cond)

    def skip(self, what, why):
        self.skipped += 1
        print(f"SKIP  {what}: {why}")

    def close(self, what, actual, expected, rtol, scale=None):
        """Elementwise |a - e| <= rtol * max(|a|, |e|) + atol; reports the worst element."""
        a = np.asarray(actual, dtype=np.float64)
        e = np.asarray(expected, dtype=np.float64)
        if a.shape != e.shape:
            return self.ok(False, what, f"shape {a.shape}, expected {e.shape}")
        if a.size == 0:
            return self.ok(True, what + " (empty)")
        both_nan = np.isnan(a) & np.isnan(e)
        if scale is None:
            finite = np.abs(e[np.isfinite(e)])
            scale = float(finite.max()) if finite.size else 0.0
        atol = rtol * 1e-3 * scale
        diff = np.abs(a - e)
        tol = rtol * np.maximum(np.abs(a), np.abs(e)) + atol
        good = (diff <= tol) | both_nan
        if good.all():
            with np.errstate(invalid="ignore", divide="ignore"):
                rel = np.where(diff > 0, diff / np.maximum(np.abs(a), np.abs(e)), 0.0)
            return self.ok(True, f"{what} (max rel diff {np.nanmax(rel):.3g}, rtol {rtol:g})")
        bad = np.argwhere(~good)
        idx = tuple(bad[0])
        worst = tuple(np.unravel_index(np.nanargmax(np.where(good, -np.inf, diff)), a.shape))
        return self.ok(
            False,
            what,
            f"{len(bad)} of {a.size} elements differ beyond rtol {rtol:g}; first at {idx}: "
            f"file {a[idx]!r}, expected {e[idx]!r}; worst at {worst}: file {a[worst]!r}, "
            f"expected {e[worst]!r}",
        )


def hdf5_attr_kind(f, name):
    """(kind, shape) of a root attribute's stored HDF5 type: kind is 'string' or a numpy dtype name."""
    aid = f.attrs.get_id(name)
    dt = aid.dtype
    shape = aid.shape
    if h5py.check_string_dtype(dt) is not None:
        return "string", shape
    return np.dtype(dt).name, shape


ROOT_ATTRS = [
    ("filetype", "string", ()),
    ("format_version", "int32", (2,)),
    ("program_version", "string", ()),
    ("git_commit", "string", ()),
    ("created_utc", "string", ()),
    ("seed", "uint64", ()),
    ("trials", "uint64", ()),
    ("horizon_months", "int32", ()),
    ("block_size", "uint64", ()),
    ("threads", "int32", ()),
    ("config_sha256", "string", ()),
    ("name", "string", ()),
    ("description", "string", ()),
    ("start", "string", ()),
    ("ranks", "int32", ()),
    ("trials_planned", "uint64", ()),
    ("blocks_total", "uint64", ()),
    ("first_block", "uint64", ()),
    ("end_block", "uint64", ()),
    ("shard_index", "int32", ()),
    ("shard_count", "int32", ()),
    ("complete", "int32", ()),
]

# name -> (dtype, second dimension: 'demand' / 'facility' / 'event' / None, third: 'month' or None)
TRIAL_DATASETS = {
    "shortfall": ("float64", "demand"),
    "demand_total": ("float64", "demand"),
    "shortfall_share": ("float64", "demand"),
    "short_months": ("int32", "demand"),
    "longest_run": ("int32", "demand"),
    "stockpile_min": ("float64", "demand"),
    "stockout_month": ("int32", "demand"),
    "facility_binding_months": ("int32", "facility"),
    "regime": ("int32", None),
    "event_onset": ("int32", "event"),
}

# per-demand summary vectors written with a standard error <name>_se
PER_DEMAND_SUMMARY = ["eud", "lose", "p_short", "expected_demand", "mean_shortfall_share"]


def check_root(c, res, f):
    print("-- root attributes")
    for name, kind, shape in ROOT_ATTRS:
        if not c.ok(name in f.attrs, f"root attribute {name} present"):
            continue
        k, s = hdf5_attr_kind(f, name)
        c.ok(
            k == kind and s == shape,
            f"root attribute {name} is {kind}{list(shape) if shape else ''}",
            f"stored as {k}{list(s) if s else ''} (shape {s})",
        )
    extra = sorted(set(f.attrs.keys()) - {a[0] for a in ROOT_ATTRS})
    if extra:
        print(f"NOTE  root attributes not in the format 1.1 doc: {extra}")
    at = res.attrs
    c.ok(at.get("filetype") == "chokepoint-results", "filetype == chokepoint-results", repr(at.get("filetype")))
    c.ok(tuple(at.get("format_version", ()))[:1] == (1,), "format_version major == 1", repr(at.get("format_version")))
    c.ok(at.get("complete") == 1, "complete == 1", repr(at.get("complete")))
    if "created_utc" in at:
        try:
            datetime.datetime.fromisoformat(str(at["created_utc"]).replace("Z", "+00:00"))
            good = True
        except ValueError:
            good = False
        c.ok(good, "created_utc is ISO 8601", repr(at["created_utc"]))
    if "start" in at:
        c.ok(re.fullmatch(r"(\d{4}-\d{2})?", str(at["start"])) is not None, "start is YYYY-MM or empty", repr(at["start"]))
    if "config_sha256" in at:
        c.ok(re.fullmatch(r"[0-9a-f]{64}", str(at["config_sha256"])) is not None,
             "config_sha256 is 64 lowercase hex digits", repr(at["config_sha256"]))
    for name in ("trials", "horizon_months", "block_size", "threads"):
        if name in at:
            c.ok(int(at[name]) >= 1, f"{name} >= 1", repr(at[name]))


def check_config(c, res, f):
    print("-- /config")
    if not c.ok("config" in f, "group /config present"):
        return
    for name in ("files", "texts"):
        if c.ok(name in f["config"], f"/config/{name} present"):
            c.ok(h5py.check_string_dtype(f["config"][name].dtype) is not None, f"/config/{name} is strings",
                 str(f["config"][name].dtype))
    files, texts = res.config_files, res.config_texts
    c.ok(len(files) >= 1 and len(files) == len(texts), "/config files and texts: same length >= 1",
         f"{len(files)} files, {len(texts)} texts")
    if texts and "config_sha256" in res.attrs:
        digest = hashlib.sha256("".join(texts).encode("utf-8")).hexdigest()
        c.ok(digest == str(res.attrs["config_sha256"]).lower(),
             "config_sha256 == sha256 of /config/texts concatenated (UTF-8)",
             f"attribute {res.attrs['config_sha256']}, computed {digest}")


def check_model(c, res, f):
    print("-- /model")
    m = res.model
    string_tables = ["products", "recipes", "facilities", "facility_country", "demands", "demand_country",
                     "events", "event_type", "regimes", "restrictions", "nodes", "countries"]
    int_tables = ["facility_product", "demand_product", "demand_tier", "demand_has_stockpile"]
    for name in string_tables:
        if c.ok(name in m, f"/model/{name} present"):
            c.ok(h5py.check_string_dtype(f["model"][name].dtype) is not None, f"/model/{name} is strings",
                 str(f["model"][name].dtype))
            c.ok(f["model"][name].ndim == 1, f"/model/{name} is 1-D", str(f["model"][name].shape))
    for name in int_tables:
        if c.ok(name in m, f"/model/{name} present"):
            c.ok(np.dtype(f["model"][name].dtype) == np.int32, f"/model/{name} is int32", str(f["model"][name].dtype))
    if c.ok("regime_weight" in m, "/model/regime_weight present"):
        c.ok(np.dtype(f["model"]["regime_weight"].dtype) == np.float64, "/model/regime_weight is float64",
             str(f["model"]["regime_weight"].dtype))

    extra = sorted(set(m) - set(string_tables) - set(int_tables) - {"regime_weight"})
    if extra:
        print(f"NOTE  /model tables not in the format 1.1 doc: {extra}")

    def n(name):
        return len(m[name]) if name in m else None

    def same_len(a, b):
        if n(a) is not None and n(b) is not None:
            c.ok(n(a) == n(b), f"len(/model/{a}) == len(/model/{b})", f"{n(a)} vs {n(b)}")

    same_len("recipes", "products")
    same_len("facility_product", "facilities")
    same_len("facility_country", "facilities")
    same_len("demand_product", "demands")
    same_len("demand_country", "demands")
    same_len("demand_tier", "demands")
    same_len("demand_has_stockpile", "demands")
    same_len("event_type", "events")
    same_len("regime_weight", "regimes")
    for idx in ("facility_product", "demand_product"):
        if idx in m and "products" in m:
            v = np.asarray(m[idx])
            c.ok(v.size == 0 or (v.min() >= 0 and v.max() < n("products")), f"/model/{idx} indexes products",
                 f"range [{v.min()}, {v.max()}], {n('products')} products")
    if "demand_tier" in m:
        v = np.asarray(m["demand_tier"])
        c.ok(v.size == 0 or v.min() >= 1, "/model/demand_tier >= 1", str(v))
    if "demand_has_stockpile" in m:
        v = np.asarray(m["demand_has_stockpile"])
        c.ok(np.isin(v, (0, 1)).all(), "/model/demand_has_stockpile in {0, 1}", str(v))
    if "countries" in m:
        c.ok(len(set(m["countries"])) == len(m["countries"]), "/model/countries unique")
        for name in ("facility_country", "demand_country"):
            if name in m:
                bad = sorted(set(m[name]) - set(m["countries"]))
                c.ok(not bad, f"/model/{name} are in /model/countries", str(bad))
    if "event_type" in m:
        bad = [t for t in m["event_type"] if t not in ("export_control", "capacity_shock")]
        c.ok(not bad, "/model/event_type in {export_control, capacity_shock}", str(bad))
    if "regime_weight" in m:
        w = np.asarray(m["regime_weight"])
        c.ok(w.size >= 1 and (w > 0).all(), "/model/regime_weight positive, >= 1 regime", str(w))
    if "nodes" in m:
        bad = [s for s in m["nodes"] if re.fullmatch(r"[^@]+@[^@]+", s) is None]
        c.ok(not bad, "/model/nodes are product@country", str(bad[:5]))
        if "products" in m:
            bad = [s for s in m["nodes"] if s.split("@")[0] not in m["products"]]
            c.ok(not bad, "/model/nodes name known products", str(bad[:5]))
    for name in ("products", "facilities", "demands", "events", "regimes", "restrictions", "nodes"):
        if name in m:
            c.ok(len(set(m[name])) == len(m[name]), f"/model/{name} unique")
    if "restrictions" in m and "events" in m and "event_type" in m:
        ec = [e for e, t in zip(m["events"], m["event_type"]) if t == "export_control"]
        tail = list(m["restrictions"])[len(m["restrictions"]) - len(ec):] if ec else []
        c.ok(tail == ec, "/model/restrictions end with the export-control events, in event order",
             f"restrictions {list(m['restrictions'])}, export-control events {ec}")


def check_trials(c, res, f, sizes):
    print("-- /scenarios/baseline/trials")
    sc = res.scenario("baseline")
    tg = sc.group["trials"]
    n = sizes["trial"]
    expected = dict(TRIAL_DATASETS)
    has_monthly = "monthly_shortfall" in tg
    if has_monthly:
        expected["monthly_shortfall"] = ("float32", "demand", "month")
    else:
        c.skip("monthly_shortfall", "not in file (run.store_monthly false?)")
    present = {}
    for name, spec in expected.items():
        if not c.ok(name in tg, f"trials/{name} present"):
            continue
        ds = tg[name]
        dtype = spec[0]
        shape = tuple([n] + [sizes[d] for d in spec[1:] if d is not None])
        c.ok(np.dtype(ds.dtype).name == dtype, f"trials/{name} dtype {dtype}", f"found {ds.dtype}")
        c.ok(ds.shape == shape, f"trials/{name} shape {list(shape)}", f"found {list(ds.shape)}")
        c.ok(ds.chunks is not None and ds.compression == "gzip" and ds.maxshape[0] is None,
             f"trials/{name} chunked, gzip, extendible along trial",
             f"chunks {ds.chunks}, compression {ds.compression}, maxshape {ds.maxshape}")
        present[name] = ds.shape == shape
    extra = sorted(set(tg.keys()) - set(expected) - TRIAL_COORDS)
    if extra:
        print(f"NOTE  trials datasets not in format 1.1 doc (allowed in a minor bump): {extra}")
    return present, has_monthly


def check_values(c, res, sizes, present, has_monthly):
    print("-- per-trial values")
    t = res.scenario("baseline").trials
    H = sizes["month"]
    get = lambda k: t[k] if present.get(k) else None  # noqa: E731
    sf, dt, share = get("shortfall"), get("demand_total"), get("shortfall_share")
    sm, lr = get("short_months"), get("longest_run")
    if sf is not None:
        c.ok(np.isfinite(sf).all() and (sf >= 0).all(), "shortfall finite and >= 0", f"min {np.nanmin(sf)!r}")
    if dt is not None:
        c.ok(np.isfinite(dt).all() and (dt >= 0).all(), "demand_total finite and >= 0", f"min {np.nanmin(dt)!r}")
    if sf is not None and dt is not None:
        over = sf - dt
        c.ok((over <= 1e-9 * np.maximum(dt, 1e-300) + 1e-12).all(), "shortfall <= demand_total",
             f"max excess {over.max()!r}")
        if share is not None:
            exp = np.where(dt > 0, sf / np.where(dt > 0, dt, 1.0), 0.0)
            c.close("shortfall_share == shortfall / demand_total (0 when nothing wanted)", share, exp, 1e-9)
    if sm is not None:
        c.ok(((sm >= 0) & (sm <= H)).all(), "short_months in [0, horizon]", f"range [{sm.min()}, {sm.max()}]")
    if lr is not None and sm is not None:
        c.ok(((lr >= 0) & (lr <= sm)).all(), "0 <= longest_run <= short_months")
        c.ok(((lr > 0) == (sm > 0)).all(), "longest_run > 0 exactly when short_months > 0")
    if sf is not None and sm is not None:
        c.ok(((sf > 0) == (sm > 0)).all(), "shortfall > 0 exactly when short_months > 0",
             f"{int(((sf > 0) != (sm > 0)).sum())} (trial, demand) pairs disagree")
    if present.get("stockpile_min"):
        v = t["stockpile_min"]
        c.ok(np.isfinite(v).all() and (v >= 0).all(), "stockpile_min finite and >= 0", f"min {np.nanmin(v)!r}")
    if present.get("stockout_month"):
        v = t["stockout_month"]
        c.ok(((v >= -1) & (v < H)).all(), "stockout_month in {-1} or [0, horizon)", f"range [{v.min()}, {v.max()}]")
        # docs: "first month the stockpile was empty after drawing while needed" -- the month it ran
        # out, which need not be short (a stockpile that exactly covers the last unmet need)
        if present.get("stockpile_min"):
            smin = t["stockpile_min"]
            c.ok(((v < 0) | (smin == 0)).all(), "a stockout implies stockpile_min == 0",
                 f"{int(((v >= 0) & (smin != 0)).sum())} pairs with a stockout and stockpile_min > 0")
        if "demand_has_stockpile" in res.model:
            none = np.asarray(res.model["demand_has_stockpile"]) == 0
            if none.any():
                c.ok((v[:, none] == -1).all(), "stockout_month == -1 for demands without a stockpile")
                if present.get("stockpile_min"):
                    c.ok((t["stockpile_min"][:, none] == 0).all(),
                         "stockpile_min == 0 for demands without a stockpile")
    if present.get("facility_binding_months"):
        v = t["facility_binding_months"]
        c.ok(((v >= 0) & (v <= H)).all(), "facility_binding_months in [0, horizon]",
             f"range [{v.min() if v.size else 0}, {v.max() if v.size else 0}]")
    if present.get("regime"):
        v = t["regime"]
        c.ok(((v >= 0) & (v < sizes["regime"])).all(), "regime indexes /model/regimes",
             f"range [{v.min()}, {v.max()}], {sizes['regime']} regimes")
    if present.get("event_onset"):
        v = t["event_onset"]
        c.ok(((v >= -1) & (v < H)).all(), "event_onset in {-1} or [0, horizon)",
             f"range [{v.min() if v.size else 0}, {v.max() if v.size else 0}]")

    if has_monthly and present.get("monthly_shortfall"):
        ms = t["monthly_shortfall"]
        c.ok(np.isfinite(ms).all() and (ms >= 0).all(), "monthly_shortfall finite and >= 0",
             f"min {np.nanmin(ms)!r}")
        if sf is not None:
            c.close("sum over months of monthly_shortfall == shortfall (float32 storage)",
                    ms.astype(np.float64).sum(axis=2), sf, 1e-5)
        if sm is not None:
            cnt = (ms > 0).sum(axis=2)
            c.ok((cnt == sm).all(), "short_months == number of months with monthly_shortfall > 0",
                 f"{int((cnt != sm).sum())} (trial, demand) pairs disagree")
        if lr is not None:
            pos = ms > 0
            run = np.zeros(pos.shape[:2], dtype=np.int64)
            best = np.zeros(pos.shape[:2], dtype=np.int64)
            for m in range(pos.shape[2]):
                run = np.where(pos[:, :, m], run + 1, 0)
                best = np.maximum(best, run)
            c.ok((best == lr).all(), "longest_run == longest run of months with monthly_shortfall > 0",
                 f"{int((best != lr).sum())} (trial, demand) pairs disagree")


def se_of(x):
    x = np.asarray(x, dtype=np.float64)
    return x.std(axis=0, ddof=1) / np.sqrt(x.shape[0])


def check_summary(c, res, sizes, present, has_monthly):
    print("-- /scenarios/baseline/summary")
    sc = res.scenario("baseline")
    s, t = sc.summary, sc.trials
    n, H = sizes["trial"], sizes["month"]
    shapes = {}
    for name in PER_DEMAND_SUMMARY:
        for k in (name, name + "_se"):
            shapes[k] = (sizes["demand"],)
    shapes["eud_share"] = (sizes["demand"],)  # ratio of means: no _se
    shapes["monthly_mean_shortfall"] = shapes["monthly_mean_shortfall_se"] = (sizes["demand"], H)
    for pre, dim in (("facility", "facility"), ("node", "node"), ("restriction", "restriction")):
        for suf in ("trial_share", "month_share", "unserved"):
            shapes[f"{pre}_binding_{suf}"] = shapes[f"{pre}_binding_{suf}_se"] = (sizes[dim],)
    shapes["regime_share"] = (sizes["regime"],)
    shapes["event_fired_share"] = shapes["event_fired_share_se"] = (sizes["event"],)
    shapes["quantile_levels"] = None
    shapes["shortfall_quantiles"] = None
    documented = set(SUMMARY_DIMS) | {k + "_se" for k in SUMMARY_DIMS} | SUMMARY_COORDS
    extra = sorted(set(s) - set(shapes) - documented)
    if extra:
        print(f"NOTE  summary datasets not in the format 1.1 doc: {extra}")
    ok = {}
    for name, shape in shapes.items():
        if not c.ok(name in s, f"summary/{name} present"):
            continue
        v = np.asarray(s[name])
        good = v.dtype.kind == "f"
        if shape is not None:
            good = c.ok(v.shape == shape and v.dtype.kind == "f", f"summary/{name} float, shape {list(shape)}",
                        f"found {v.dtype}, shape {list(v.shape)}")
        ok[name] = good
    if ok.get("quantile_levels"):
        q = np.asarray(s["quantile_levels"])
        c.ok(q.ndim == 1 and q.size >= 1 and ((q > 0) & (q < 1)).all(), "summary/quantile_levels 1-D in (0, 1)", str(q))
        if ok.get("shortfall_quantiles"):
            sq = np.asarray(s["shortfall_quantiles"])
            ok["shortfall_quantiles"] = c.ok(sq.shape == (sizes["demand"], q.size) and sq.dtype.kind == "f",
                                             f"summary/shortfall_quantiles float, shape [demand, quantile] = "
                                             f"{[sizes['demand'], q.size]}", f"found {sq.dtype}, {list(sq.shape)}")
    for name in shapes:
        if ok.get(name) and (name.endswith("_se") or "share" in name or name.endswith("unserved") or name in
                             ("eud", "lose", "expected_demand", "p_short")):
            v = np.asarray(s[name])
            c.ok(np.isfinite(v).all() and (v >= 0).all(), f"summary/{name} finite and >= 0", f"min {np.nanmin(v) if v.size else 0!r}")
            if name.endswith("share") and not name.startswith("eud"):
                c.ok((v <= 1 + 1e-12).all(), f"summary/{name} <= 1", f"max {v.max() if v.size else 0!r}")

    print("-- summary vs per-trial data")

    def against(name, data, rtol_mean=1e-9, undocumented=False):
        tag = " (undocumented dataset)" if undocumented else ""
        if data is None:
            c.skip(f"summary/{name}", "per-trial data missing")
            return
        if undocumented:
            for k in (name, name + "_se"):
                if k in s:
                    v = np.asarray(s[k])
                    ok[k] = c.ok(v.dtype.kind == "f" and v.shape == np.asarray(data).shape[1:],
                                 f"summary/{k} float, shape {list(np.asarray(data).shape[1:])}{tag}",
                                 f"found {v.dtype}, {list(v.shape)}")
        if ok.get(name):
            c.close(f"summary/{name} == mean over trials{tag}", s[name], np.asarray(data, np.float64).mean(axis=0),
                    rtol_mean)
        if ok.get(name + "_se"):
            if n < 2:
                c.skip(f"summary/{name}_se", "needs >= 2 trials")
            else:
                data64 = np.asarray(data, np.float64)
                c.close(f"summary/{name}_se == std(ddof=1)/sqrt(n){tag}", s[name + "_se"], se_of(data64), 1e-9,
                        scale=float(np.abs(data64).max(initial=0.0)) / np.sqrt(n))

    sf = t["shortfall"] if present.get("shortfall") else None
    dt = t["demand_total"] if present.get("demand_total") else None
    sm = t["short_months"] if present.get("short_months") else None
    against("eud", sf)
    against("expected_demand", dt)
    against("lose", sm)
    against("p_short", None if sm is None else (sm > 0).astype(np.float64))
    if ok.get("eud_share") and ok.get("eud") and ok.get("expected_demand"):
        ed = np.asarray(s["expected_demand"])
        c.close("summary/eud_share == eud / expected_demand", s["eud_share"],
                np.where(ed > 0, np.asarray(s["eud"]) / np.where(ed > 0, ed, 1.0), 0.0), 1e-9)
    if sf is not None and ok.get("quantile_levels") and ok.get("shortfall_quantiles"):
        q = np.asarray(s["quantile_levels"], dtype=np.float64)
        c.close("summary/shortfall_quantiles == numpy.quantile(shortfall, levels, axis=0) (linear)",
                s["shortfall_quantiles"], np.quantile(sf, q, axis=0).T, 1e-12)
    if has_monthly and present.get("monthly_shortfall"):
        ms = np.asarray(t["monthly_shortfall"], dtype=np.float64)
        if ok.get("monthly_mean_shortfall"):
            c.close("summary/monthly_mean_shortfall == mean over trials of monthly_shortfall (float32 storage)",
                    s["monthly_mean_shortfall"], ms.mean(axis=0), 1e-5)
        if ok.get("monthly_mean_shortfall_se") and n >= 2:
            c.close("summary/monthly_mean_shortfall_se == std(ddof=1)/sqrt(n) of monthly_shortfall "
                    "(float32 storage)", s["monthly_mean_shortfall_se"], se_of(ms), 1e-4,
                    scale=float(ms.max(initial=0.0)) * 10 / np.sqrt(n))
    else:
        c.skip("summary/monthly_mean_shortfall vs trials", "no monthly_shortfall in file")
    if ok.get("monthly_mean_shortfall") and ok.get("eud"):
        c.close("summary: sum over months of monthly_mean_shortfall == eud",
                np.asarray(s["monthly_mean_shortfall"]).sum(axis=1), s["eud"], 1e-9)
    if present.get("facility_binding_months"):
        fb = t["facility_binding_months"]
        if ok.get("facility_binding_trial_share"):
            c.close("summary/facility_binding_trial_share == mean(facility_binding_months > 0)",
                    s["facility_binding_trial_share"], (fb > 0).mean(axis=0), 1e-9)
        if ok.get("facility_binding_month_share"):
            c.close("summary/facility_binding_month_share == mean(facility_binding_months) / horizon",
                    s["facility_binding_month_share"], fb.mean(axis=0) / H, 1e-9)
    against("mean_shortfall_share", t["shortfall_share"] if present.get("shortfall_share") else None)
    if present.get("facility_binding_months") and n >= 2:
        fb = np.asarray(t["facility_binding_months"], dtype=np.float64)
        for k, data in (("facility_binding_trial_share_se", fb > 0), ("facility_binding_month_share_se", fb / H)):
            if ok.get(k):
                data = np.asarray(data, dtype=np.float64)
                c.close(f"summary/{k} == std(ddof=1)/sqrt(n)", s[k], se_of(data), 1e-9,
                        scale=float(np.abs(data).max(initial=0.0)) / np.sqrt(n))
    if present.get("regime") and ok.get("regime_share"):
        c.close("summary/regime_share == share of trials per regime", s["regime_share"],
                np.bincount(t["regime"], minlength=sizes["regime"]) / n, 1e-9)
    if present.get("event_onset"):
        against("event_fired_share", (t["event_onset"] >= 0).astype(np.float64))
    for pre in ("facility", "node", "restriction"):
        a, b = f"{pre}_binding_trial_share", f"{pre}_binding_month_share"
        if ok.get(a) and ok.get(b):
            # a unit binding in a share m of trial-months binds in at least m of trials
            c.ok((np.asarray(s[b]) <= np.asarray(s[a]) + 1e-12).all(), f"summary/{b} <= {a}")


def main(argv):
    if len(argv) != 2:
        print(f"usage: {os.path.basename(argv[0])} FILE", file=sys.stderr)
        return 2
    path = argv[1]
    try:
        res = open_results(path)
    except ChokepointFormatError as e:
        print(f"FAIL  open {path}: {e}")
        return 2
    c = Checks()
    print(f"checking {path} against docs/output-format.md (format "
          f"{res.format_version[0]}.{res.format_version[1]})")
    with res:
        f = res.h5
        check_root(c, res, f)
        check_config(c, res, f)
        check_model(c, res, f)
        m = res.model
        if not c.ok("baseline" in res.scenarios, "scenario baseline present", str(list(res.scenarios))):
            return finish(c)
        sizes = {
            "trial": int(res.attrs.get("trials", 0)),
            "month": int(res.attrs.get("horizon_months", 0)),
            "demand": len(m["demands"]) if "demands" in m else 0,
            "facility": len(m["facilities"]) if "facilities" in m else 0,
            "event": len(m["events"]) if "events" in m else 0,
            "regime": len(m["regimes"]) if "regimes" in m else 0,
            "node": len(m["nodes"]) if "nodes" in m else 0,
            "restriction": len(m["restrictions"]) if "restrictions" in m else 0,
        }
        print(f"      sizes: {sizes}")
        present, has_monthly = check_trials(c, res, f, sizes)
        check_values(c, res, sizes, present, has_monthly)
        check_summary(c, res, sizes, present, has_monthly)
    return finish(c)


def finish(c):
    print(f"-- {c.passed} passed, {len(c.failed)} failed, {c.skipped} skipped")
    if c.failed:
        print("failed checks:")
        for w in c.failed:
            print(f"  {w}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
