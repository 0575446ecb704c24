"""Read a chokepoint results file (HDF5, format version 1.x).

The layout is described in docs/output-format.md. Usage (`pip install ./python`, or the repository's
python/ directory on PYTHONPATH; scripts/chokepoint_reader.py is the same module under its old name)::

    from chokepoint import open_results, ChokepointFormatError

    with open_results("results/critical_materials.h5") as res:
        print(res.attrs["name"], res.attrs["trials"])
        demands = res.model["demands"]             # list of str
        base = res.scenario("baseline")
        shortfall = base.trials["shortfall"]       # numpy array [trial, demand]
        eud = base.summary["eud"]                  # numpy array [demand]
        base.dims("var")                           # ('demand', 'var_level')
        base.value("cvar", demand="smco_us_defense", var_level=0.99)   # one number, by label
        ds = res.xarray("summary")                 # xarray.Dataset with named dimensions

        # format 1.1: scenarios, running estimates, paired differences, sensitivity
        res.scenario_ids                           # ['baseline', 'bigger_stockpile', ...]
        conv = res.convergence("baseline")         # {"trials": [k], "eud": [k, demand], ...}
        diff = res.differences("bigger_stockpile") # {"demand": [...], "eud": [demand], "eud_se": ...}
        sens = res.sensitivity("baseline")         # tornado data, or None without a `sensitivity` group
        res.stopping()                             # the stopping rule's outcome, or None

The summary holds every dataset of docs/output-format.md: means and their `_se`, quantiles with
their confidence intervals (`shortfall_quantiles_ci_low/_high`), `var`/`cvar`/`cvar_se`, the
exceedance curve (`exceedance_x/_p/_p_se`), `p_share_above`, the conditional views
(`eud_given_event`, `eud_by_regime`, ...), `monthly_shortfall_bands` and the chokepoint tables
(`*_binding_unserved_share`, ...). SUMMARY_DIMS lists each dataset's dimensions; the dimension
scales themselves (`demand`, `quantile`, `var_level`, ...) are in `Scenario.coords` (and also in
`summary`, as the file stores them as datasets).

Format 1.1 adds, per scenario group `/scenarios/<id>` (the baseline first; the root attribute
`scenarios` lists the ids in run order): `model` (the scenario's own model tables; its demands
may differ from the baseline's), `convergence` (the running EUD and P(short) estimates after each
block: `Scenario.convergence()`), paired differences against the baseline in the summary of every
other scenario (`diff_eud`, `diff_eud_se`, `diff_eud_se_independent`, ...:
`Scenario.differences()`), and the optional `sensitivity` / `sobol_indices` groups
(`Scenario.sensitivity()`, `Scenario.sobol_indices()`; chokepoint.sensitivity_plots draws them).
The root attributes `stop_*` report a stopping rule (`ChokepointResults.stopping()`).

Format 1.4 adds importance sampling (run.importance; docs/importance.md). In an importance-sampled
scenario `trials/weight` holds each trial's likelihood ratio w = p/q (`Scenario.weights()`: that
array, or ones for a scenario without it, so code can always weight), and every per-trial dataset
holds raw outcomes drawn under the tilted proposal: a statistic computed here from per-trial data
must weight each trial by w, e.g. P(X > x) = mean(w * (X > x)) over ALL n trials (not divided by
sum w), a histogram with weights=w / n (estimated probability mass, not trial counts). The summary
statistics are already weighted by the engine. `Scenario.importance_sampled` says which case a
scenario is; its summary attributes `estimator` (a sentence), `ess` (Kish effective sample size
(sum w)^2 / sum w^2) and `weight_mean` (mean w, about 1 for a sound proposal) are in
`Scenario.summary_attrs`, and `p_short_ess` / `eud_ess` ([demand]) in its summary.
`ChokepointResults.importance()` reads the root group /importance (the proposals, per tilted input,
on its quantile scale; the cross-entropy fit's settings and rounds), or returns None:

    with open_results("rare.h5") as res:
        base = res.scenario("baseline")
        w = base.weights()                         # float64 [trial]; ones without importance sampling
        p = np.mean(w * (base.trials["shortfall"][:, 0] > 10.0))   # P(shortfall > 10 t), unbiased
        imp = res.importance()                     # None, or {"inputs", "proposals", "fitted", ...}
        edges, mass = imp["proposals"][0]          # the first tilted input's bins and their masses

Per-trial datasets are read from the file when first asked for (they can be large) and then
kept; summary datasets and model tables are read when the file is opened. A dataset that is not
in the file raises ChokepointFormatError naming the file and the HDF5 path.

Only h5py and numpy are needed; `xarray()` also needs xarray and h5netcdf (imported only then).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

try:
    import numpy as np
except ImportError as _e:
    raise type(_e)(
        f"the chokepoint reader needs the Python package numpy ({_e}). Install it (Debian/Ubuntu: "
        "apt-get install python3-numpy python3-h5py, and use /usr/bin/python3), or use a Python "
        "that has numpy and h5py (scripts/find_python.sh finds one)") from None

try:
    import h5py
except ImportError as _e:  # Debian's h5py is not visible to pip as "h5py": not a declared dependency
    raise type(_e)(
        f"the chokepoint reader needs the Python package h5py ({_e}). Install it (Debian/Ubuntu: "
        "apt-get install python3-h5py; pip: pip install h5py, or pip install './python[h5py]'), "
        "or use a Python that has it (scripts/find_python.sh finds one)."
    ) from _e

FILETYPE = "chokepoint-results"
SUPPORTED_MAJOR = 1
# Newest minor version this reader was written against; newer minors only add things (1.2: the
# integrity digests of /state, in checkpoints and shards only; 1.3: CF-style attributes, a `time`
# coordinate, /model/product_units and each scenario's description; 1.4: importance sampling,
# trials/weight, the summary's ess attributes and *_ess datasets, the root group /importance;
# 1.5: the root attribute stop_effective_trials).
KNOWN_MINOR = 5

__all__ = [
    "ChokepointFormatError",
    "ChokepointResults",
    "Scenario",
    "open_results",
    "FILETYPE",
    "SUPPORTED_MAJOR",
    "decode_str",
    "SUMMARY_DIMS",
    "TRIAL_DIMS",
    "DIFFERENCE_DIMS",
    "CONVERGENCE_DIMS",
    "IMPORTANCE_SUMMARY_DIMS",
    "open_xarray",
    "XarrayMissingError",
]

# Dimensions of every summary dataset in format 1.0 (docs/output-format.md); `<name>_se` has the
# dimensions of `<name>`. Files written before the dimension scales (or by other tools) are read
# with this table; files that have scales are read from the scales (Scenario.dims).
SUMMARY_DIMS = {
    "eud": ("demand",),
    "expected_demand": ("demand",),
    "eud_share": ("demand",),
    "mean_shortfall_share": ("demand",),
    "lose": ("demand",),
    "p_short": ("demand",),
    "monthly_mean_shortfall": ("demand", "month"),
    "quantile_levels": ("quantile",),
    "shortfall_quantiles": ("demand", "quantile"),
    "shortfall_quantiles_ci_low": ("demand", "quantile"),
    "shortfall_quantiles_ci_high": ("demand", "quantile"),
    "var_levels": ("var_level",),
    "var": ("demand", "var_level"),
    "cvar": ("demand", "var_level"),
    "exceedance_x": ("demand", "grid"),
    "exceedance_p": ("demand", "grid"),
    "threshold_levels": ("threshold",),
    "p_share_above": ("demand", "threshold"),
    "monthly_band_levels": ("band",),
    "monthly_shortfall_bands": ("demand", "month", "band"),
    "eud_given_event": ("event", "demand"),
    "eud_given_no_event": ("event", "demand"),
    "p_short_given_event": ("event", "demand"),
    "p_short_given_no_event": ("event", "demand"),
    "eud_by_regime": ("regime", "demand"),
    "p_short_by_regime": ("regime", "demand"),
    "facility_binding_trial_share": ("facility",),
    "facility_binding_month_share": ("facility",),
    "facility_binding_unserved": ("facility",),
    "facility_binding_unserved_share": ("facility",),
    "node_binding_trial_share": ("node",),
    "node_binding_month_share": ("node",),
    "node_binding_unserved": ("node",),
    "node_binding_unserved_share": ("node",),
    "restriction_binding_trial_share": ("restriction",),
    "restriction_binding_month_share": ("restriction",),
    "restriction_binding_unserved": ("restriction",),
    "restriction_binding_unserved_share": ("restriction",),
    "regime_share": ("regime",),
    "event_fired_share": ("event",),
}

# Format 1.1 summary datasets of a scenario other than the baseline: paired differences against
# the baseline, over the scenario's own demands (NaN where the baseline lacks the demand), and
# (lhs/sobol designs) the per-replicate EUD. Kept apart from SUMMARY_DIMS, whose entries the
# output checks expect in every summary with dimension scales attached.
DIFFERENCE_STATS = ("eud", "lose", "p_short", "mean_shortfall_share")
DIFFERENCE_DIMS = {f"diff_{k}{suf}": ("demand",) for k in DIFFERENCE_STATS
                   for suf in ("", "_se", "_se_independent")}
DIFFERENCE_DIMS["diff_shortfall_quantiles"] = ("demand", "quantile")
DIFFERENCE_DIMS["diff_shortfall_quantiles_se"] = ("demand", "quantile")
# Format 1.4 (importance-sampled scenarios only): the effective number of trials behind each demand's
# P(short) and EUD.
IMPORTANCE_SUMMARY_DIMS = {"p_short_ess": ("demand",), "eud_ess": ("demand",)}
EXTRA_SUMMARY_DIMS = dict(DIFFERENCE_DIMS, replicate_eud=("replicate", "demand"), **IMPORTANCE_SUMMARY_DIMS)

# Dimensions of /scenarios/<id>/convergence (one row per finished block).
CONVERGENCE_DIMS = {
    "trials": ("trials",),
    "eud": ("trials", "demand"),
    "eud_se": ("trials", "demand"),
    "p_short": ("trials", "demand"),
    "p_short_se": ("trials", "demand"),
}

# Datasets of /scenarios/<id>/sensitivity (rank measures) and /scenarios/<id>/sobol_indices:
# [output, input] matrices and [output] vectors; `input` and `output` are the labels.
SENSITIVITY_FIELDS = ("spearman", "spearman_ci_low", "spearman_ci_high", "srrc", "srrc_ci_low",
                      "srrc_ci_high", "r2", "r2_ci_low", "r2_ci_high")
SOBOL_FIELDS = ("first_order", "first_order_ci_low", "first_order_ci_high", "total", "total_ci_low",
                "total_ci_high", "variance")

# Dimensions of the per-trial datasets.
TRIAL_DIMS = {
    "shortfall": ("trial", "demand"),
    "demand_total": ("trial", "demand"),
    "shortfall_share": ("trial", "demand"),
    "short_months": ("trial", "demand"),
    "longest_run": ("trial", "demand"),
    "stockpile_min": ("trial", "demand"),
    "stockout_month": ("trial", "demand"),
    "facility_binding_months": ("trial", "facility"),
    "regime": ("trial",),
    "event_onset": ("trial", "event"),
    "monthly_shortfall": ("trial", "demand", "month"),
    "weight": ("trial",),  # format 1.4, importance-sampled files only: the likelihood ratio p/q
}

# Columns of /importance/cross_entropy_rounds when the file does not name them (attribute
# cross_entropy_rounds_columns); those that count something are returned as integers.
CROSS_ENTROPY_ROUND_COLUMNS = ("round", "pilot_trials", "hits", "elites", "level", "hit_rate", "elite_ess",
                               "inputs_tilted")
_INTEGER_ROUND_COLUMNS = ("round", "pilot_trials", "hits", "elites", "inputs_tilted")

# Coordinate (dimension) -> the /model table holding its labels, for files without scales.
_MODEL_COORDS = {
    "demand": "demands",
    "facility": "facilities",
    "event": "events",
    "regime": "regimes",
    "node": "nodes",
    "restriction": "restrictions",
}
# Coordinate -> the summary dataset holding its values, for files without scales.
_LEVEL_COORDS = {
    "quantile": "quantile_levels",
    "var_level": "var_levels",
    "threshold": "threshold_levels",
    "band": "monthly_band_levels",
}


def _documented_dims(name, table):
    base = name[:-3] if name.endswith("_se") and name[:-3] in table else name
    return table.get(base)


def _is_scale(ds):
    """True if the h5py dataset is an HDF5 dimension scale (CLASS == DIMENSION_SCALE)."""
    cls = ds.attrs.get("CLASS")
    if cls is None:
        return False
    try:
        return decode_str(cls) == "DIMENSION_SCALE"
    except TypeError:
        return False


def _scale_dims(ds):
    """Dimension names of an h5py dataset from its attached scales, or None if any is missing."""
    names = []
    for dim in ds.dims:
        if len(dim) == 0:
            return None
        scale = dim[0]
        nm = scale.attrs.get("NAME")
        try:
            nm = decode_str(nm) if nm is not None else ""
        except TypeError:
            nm = ""
        if not nm or nm.startswith("This is a netCDF dimension but not a netCDF variable"):
            nm = scale.name.rsplit("/", 1)[-1]
        names.append(nm)
    return tuple(names)


class XarrayMissingError(ImportError):
    """xarray (or its h5netcdf engine) is not installed; raised by the xarray() helpers."""


def _import_xarray():
    try:
        import xarray  # noqa: F401
    except ImportError as e:
        raise XarrayMissingError(
            f"chokepoint: xarray() needs the Python packages xarray and h5netcdf ({e}). "
            "Install them (Debian/Ubuntu: apt-get install python3-xarray python3-h5netcdf; "
            "pip: pip install xarray h5netcdf), or read the file with h5py through "
            "open_results(), which needs only h5py and numpy."
        ) from None
    try:
        import h5netcdf  # noqa: F401
    except ImportError as e:
        raise XarrayMissingError(
            f"chokepoint: xarray() opens the file with xarray's h5netcdf engine, but h5netcdf "
            f"is not installed ({e}). Install it (Debian/Ubuntu: apt-get install python3-h5netcdf; "
            "pip: pip install h5netcdf)."
        ) from None
    return xarray


# Groups of a scenario that open_xarray / xarray() name by their short name.
_SCENARIO_GROUPS = ("summary", "trials", "convergence", "sensitivity", "sobol_indices")


def _group_path(group, scenario="baseline"):
    """'summary', 'trials', 'convergence', 'sensitivity', 'sobol_indices' -> the scenario's group;
    anything else is taken as an HDF5 path."""
    if group in _SCENARIO_GROUPS:
        return f"scenarios/{scenario}/{group}"
    return str(group).strip("/") or "/"


def _open_all_scenarios(xr, path, group, **kwargs):
    """Every scenario's `group` in one Dataset with a leading `scenario` dimension (the run's
    order, baseline first). Variables a scenario lacks (the baseline's paired differences) are
    NaN there; entities a scenario adds (a new facility) are NaN in the others."""
    with h5py.File(path, "r") as f:
        order = decode_str(f.attrs["scenarios"]).split(",") if "scenarios" in f.attrs \
            else list(f["scenarios"])
        descriptions = [decode_str(f[f"scenarios/{s}"].attrs.get("description", "")) for s in order]
        for s in order:
            if group not in f[f"scenarios/{s}"]:
                raise ChokepointFormatError(f"{path}: group /scenarios/{s}/{group} not found")
    parts = [xr.open_dataset(path, group=f"scenarios/{s}/{group}", engine="h5netcdf", **kwargs).load()
             for s in order]
    # A variable missing from one scenario (diff_* in the baseline) becomes NaN there, with the
    # dimensions it has elsewhere.
    template = {}
    for ds in parts:
        for name, var in ds.data_vars.items():
            template.setdefault(name, var)
    filled = []
    for ds in parts:
        missing = {}
        for name, var in template.items():
            if name not in ds.data_vars:
                shape = tuple(ds.sizes.get(d, var.sizes[d]) for d in var.dims)
                missing[name] = xr.Variable(var.dims, np.full(shape, np.nan), var.attrs)
        filled.append(ds.assign(missing) if missing else ds)
    out = xr.concat(filled, dim="scenario", join="outer", data_vars="all", coords="minimal",
                    compat="override", combine_attrs="override")
    out = out.assign_coords(scenario=order, scenario_description=("scenario", descriptions))
    out["scenario"].attrs["long_name"] = "scenario (baseline first; differences are against the baseline)"
    return out


def open_xarray(path, group="summary", scenario="baseline", **kwargs):
    """Open one group of a results file as an xarray.Dataset (engine h5netcdf, lazily loaded).

    group is "summary", "trials", "convergence", "sensitivity" or "sobol_indices" (of `scenario`),
    or an HDF5 path such as "scenarios/baseline/summary" or "model". scenario="all" returns every
    scenario's group in one Dataset with a `scenario` dimension (baseline first, paired differences
    NaN for the baseline; loaded into memory). Keyword arguments go to xarray.open_dataset;
    phony_dims defaults to "sort", so groups without dimension scales (/model, /config) open too,
    with dimensions named phony_dim_0, ...
    Raises XarrayMissingError (an ImportError) naming the packages when xarray or h5netcdf is
    missing, ChokepointFormatError when the file or group is not there.
    """
    xr = _import_xarray()
    path = os.fspath(path)
    open_results(path).close()  # the header checks: a results file, finished, format 1.x
    kwargs.setdefault("phony_dims", "sort")
    if scenario == "all":
        if group not in _SCENARIO_GROUPS:
            raise ValueError(f"scenario='all' needs one of the groups {', '.join(_SCENARIO_GROUPS)}, "
                             f"not {group!r}")
        return _open_all_scenarios(xr, path, group, **kwargs)
    gpath = _group_path(group, scenario)
    with h5py.File(path, "r") as f:
        if gpath != "/" and (gpath not in f or not isinstance(f[gpath], h5py.Group)):
            raise ChokepointFormatError(f"{path}: group /{gpath} not found")
    kwargs.setdefault("phony_dims", "sort")
    return xr.open_dataset(path, group=None if gpath == "/" else gpath, engine="h5netcdf", **kwargs)


class ChokepointFormatError(Exception):
    """The file is missing, is not HDF5, or is not a chokepoint results file this reader can read."""


def decode_str(value):
    """Turn an HDF5 string value (str, bytes, numpy.bytes_, 0-d or 1-element array) into str."""
    if isinstance(value, np.ndarray):
        if value.shape == () or value.size == 1:
            value = value.reshape(-1)[0]
        else:
            raise TypeError(f"expected one string, found an array of shape {value.shape}")
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    if isinstance(value, (str, np.str_)):
        return str(value)
    raise TypeError(f"expected a string, found {type(value).__name__}")


def _attr_value(value):
    """Root attribute as a plain Python value: str, int, float, or tuple for small arrays."""
    if isinstance(value, (bytes, np.bytes_, str, np.str_)):
        return decode_str(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind in ("S", "O", "U"):
            if value.size == 1:
                return decode_str(value)
            return [decode_str(v) for v in value.reshape(-1)]
        if value.shape == ():
            return value.item()
        return tuple(v.item() for v in value.reshape(-1))
    if isinstance(value, np.generic):
        return value.item()
    return value


def _read_dataset(ds):
    """Whole dataset as a numpy array; string datasets as a list of str."""
    if h5py.check_string_dtype(ds.dtype) is not None:
        data = ds.asstr()[()]
        if isinstance(data, str):
            return data
        return [str(s) for s in np.asarray(data, dtype=object).reshape(-1)]
    return ds[()]


class _CheckedDict(dict):
    """dict whose missing keys raise ChokepointFormatError naming the file and HDF5 path."""

    def __init__(self, data, path, where):
        super().__init__(data)
        self._path = path
        self._where = where

    def __missing__(self, key):
        raise ChokepointFormatError(
            f"{self._path}: dataset {self._where}/{key} not found "
            f"(present: {', '.join(sorted(self)) or 'none'})"
        )


class _LazyTrials(Mapping):
    """Per-trial datasets of one scenario, read on first access and cached."""

    def __init__(self, group, path):
        self._group = group
        self._path = path
        self._cache = {}

    def __getitem__(self, key):
        if key not in self._cache:
            if key not in self._group:
                raise ChokepointFormatError(
                    f"{self._path}: dataset {self._group.name}/{key} not found "
                    f"(present: {', '.join(sorted(self._group.keys())) or 'none'})"
                )
            self._cache[key] = _read_dataset(self._group[key])
        return self._cache[key]

    def __iter__(self):
        return iter(self._group.keys())

    def __len__(self):
        return len(self._group.keys())

    def __contains__(self, key):
        return key in self._group

    def dataset(self, key):
        """The h5py.Dataset itself, for partial reads (e.g. one demand of monthly_shortfall)."""
        if key not in self._group:
            raise ChokepointFormatError(f"{self._path}: dataset {self._group.name}/{key} not found")
        return self._group[key]


class Scenario:
    """One `/scenarios/<name>` group: `trials` (lazy mapping) and `summary` (dict of arrays)."""

    def __init__(self, name, group, path):
        self.name = name
        self.group = group
        if "trials" not in group or not isinstance(group["trials"], h5py.Group):
            raise ChokepointFormatError(f"{path}: group {group.name}/trials not found")
        if "summary" not in group or not isinstance(group["summary"], h5py.Group):
            raise ChokepointFormatError(f"{path}: group {group.name}/summary not found")
        self.trials = _LazyTrials(group["trials"], path)
        self.summary = _CheckedDict(
            {k: _read_dataset(v) for k, v in group["summary"].items() if isinstance(v, h5py.Dataset)},
            path,
            f"{group.name}/summary",
        )

        # Attributes of the summary group: se_method, replicates, differences_against, ...
        self.summary_attrs = {k: _attr_value(v) for k, v in group["summary"].attrs.items()}

        self._path = path
        self._model = None  # set by ChokepointResults: /model tables, for files without scales
        self._own_model = None
        self._coords = None
        self._convergence = None

    # -- format 1.1 ------------------------------------------------------------------------------
    @property
    def model(self):
        """The scenario's model tables (`/scenarios/<id>/model`: demands, facilities, ...; a
        scenario may add or remove entries), or the file's /model when the group has none (files
        before format 1.1, and the baseline of files that store only /model)."""
        if self._own_model is None:
            g = self.group.get("model")
            if isinstance(g, h5py.Group):
                self._own_model = _CheckedDict(
                    {k: _read_dataset(v) for k, v in g.items() if isinstance(v, h5py.Dataset)},
                    self._path, f"{self.group.name}/model")
            else:
                return self._model if self._model is not None else {}
        return self._own_model

    @property
    def demands(self):
        """Demand ids of this scenario, in the order of its per-demand arrays."""
        if "demand" in self.group["summary"]:
            return [str(v) for v in _as_list(_read_dataset(self.group["summary"]["demand"]))]
        return [str(v) for v in self.model.get("demands", [])]

    @property
    def has_convergence(self):
        """True when the file has this scenario's running estimates (`convergence` group)."""
        return isinstance(self.group.get("convergence"), h5py.Group)

    def convergence(self):
        """Running estimates after each finished block (the data of a convergence plot):

            {"trials": uint64 [k]          trials done after each block (ascending),
             "demand": list of str [demand],
             "eud", "eud_se":             float64 [k, demand]  EUD (t) and its standard error,
             "p_short", "p_short_se":     float64 [k, demand]  P(short in >= 1 month) and its SE}

        The last row equals the summary's eud / p_short of the whole run. Standard errors follow
        the summary's se_method (trial variance, or the spread of replicate means); they may be
        NaN while too few trials (replicates) are done. Raises ChokepointFormatError when the
        file has no convergence group (written before format 1.1)."""
        if self._convergence is None:
            g = self.group.get("convergence")
            if not isinstance(g, h5py.Group):
                raise ChokepointFormatError(
                    f"{self._path}: group {self.group.name}/convergence not found (written by format 1.1 "
                    "and later; present: " + ", ".join(sorted(self.group.keys())) + ")")
            missing = [k for k in CONVERGENCE_DIMS if k not in g]
            if missing:
                raise ChokepointFormatError(f"{self._path}: {g.name}: missing dataset(s) {', '.join(missing)}")
            out = {k: np.asarray(_read_dataset(g[k])) for k in CONVERGENCE_DIMS}
            out["trials"] = out["trials"].astype(np.uint64).reshape(-1)
            k = out["trials"].size
            if "demand" in g:
                out["demand"] = [str(v) for v in _as_list(_read_dataset(g["demand"]))]
            else:
                out["demand"] = self.demands
            for name in ("eud", "eud_se", "p_short", "p_short_se"):
                a = np.asarray(out[name], dtype=np.float64)
                if a.ndim == 1 and k:
                    a = a.reshape(k, -1)
                if a.shape != (k, len(out["demand"])):
                    raise ChokepointFormatError(f"{self._path}: {g.name}/{name}: shape {a.shape}, expected "
                                                f"({k}, {len(out['demand'])}) [trials, demand]")
                out[name] = a
            self._convergence = out
        return dict(self._convergence)

    @property
    def has_differences(self):
        """True when the summary holds paired differences against another scenario (diff_eud)."""
        return "diff_eud" in self.summary

    def differences(self):
        """Paired differences of this scenario against the baseline (common random numbers: the
        same trials in both), over this scenario's demands:

            {"demand": list of str [demand], "against": "baseline",
             "in_baseline": bool [demand]   False where the baseline lacks the demand (NaN below),
             "eud", "eud_se", "eud_se_independent":    float64 [demand]  t
             "lose", "lose_se", "lose_se_independent":  months short (mean) per demand
             "p_short", "p_short_se", "p_short_se_independent",
             "mean_shortfall_share", "mean_shortfall_share_se", "mean_shortfall_share_se_independent",
             "shortfall_quantiles", "shortfall_quantiles_se": float64 [demand, quantile] t
             "quantile": float64 [quantile] levels (when the summary has quantile_levels),
             "quantiles_bootstrap": int  bootstrap replicates behind shortfall_quantiles_se (or None)}

        Each value is this scenario minus the baseline (the summary's diff_* datasets without the
        prefix). `<stat>_se` is the standard error of the paired difference; `<stat>_se_independent`
        the one two independent runs of the same sizes would give (sqrt(se_s^2 + se_b^2)): their
        ratio shows how much the common random numbers tighten the comparison. Statistics missing
        from the file are left out. Raises ChokepointFormatError for the baseline and for files
        without differences."""
        s = self.summary
        if "diff_eud" not in s:
            raise ChokepointFormatError(
                f"{self._path}: {self.group.name}/summary has no paired differences (diff_eud); "
                + ("the baseline is what the others are compared with" if self.name == "baseline"
                   else "written by format 1.1 and later"))
        out = {"demand": self.demands,
               "against": str(self.summary_attrs.get("differences_against", "baseline"))}
        for name in DIFFERENCE_DIMS:
            if name in s:
                out[name[len("diff_"):]] = np.asarray(s[name], dtype=np.float64)
        out["in_baseline"] = np.isfinite(out["eud"])
        if "quantile_levels" in s:
            out["quantile"] = np.asarray(s["quantile_levels"], dtype=np.float64)
        b = self.summary_attrs.get("diff_quantiles_bootstrap")
        out["quantiles_bootstrap"] = int(b) if b is not None else None
        return out

    def _labelled_group(self, gname, fields):
        g = self.group.get(gname)
        if not isinstance(g, h5py.Group):
            return None
        missing = [k for k in ("input", "output") + fields if k not in g]
        if missing:
            raise ChokepointFormatError(f"{self._path}: {g.name}: missing dataset(s) {', '.join(missing)}")
        out = {"input": [str(v) for v in _as_list(_read_dataset(g["input"]))],
               "output": [str(v) for v in _as_list(_read_dataset(g["output"]))]}
        for k in fields:
            out[k] = np.asarray(g[k][()], dtype=np.float64)
        out["attrs"] = {k: _attr_value(v) for k, v in g.attrs.items()}
        return out

    @property
    def has_sensitivity(self):
        """True when the scenario has a `sensitivity` (rank) or `sobol_indices` group."""
        return any(isinstance(self.group.get(k), h5py.Group) for k in ("sensitivity", "sobol_indices"))

    def sensitivity(self):
        """Rank sensitivity of each demand's total shortfall to the inputs (run.sensitivity: rank),
        or None when the scenario has no `sensitivity` group:

            {"input": list of str [input], "output": list of str [output] (demands),
             "spearman", "srrc" and their "_ci_low" / "_ci_high": float64 [output, input],
             "r2", "r2_ci_low", "r2_ci_high": float64 [output] (R^2 of the rank regression),
             "attrs": {"bootstrap": B, "confidence": 0.95, "output_statistic": ...}}

        NaN where a measure is undefined (an output or input that does not vary)."""
        return self._labelled_group("sensitivity", SENSITIVITY_FIELDS)

    def sobol_indices(self):
        """Sobol' indices of each demand's total shortfall (run.sensitivity: sobol), or None:

            {"input", "output": list of str,
             "first_order", "total" and their "_ci_low" / "_ci_high": float64 [output, input],
             "variance": float64 [output],
             "attrs": {"base_samples": n, "bootstrap": B, "confidence": ...}}"""
        return self._labelled_group("sobol_indices", SOBOL_FIELDS)

    # -- format 1.4: importance sampling -----------------------------------------------------------
    @property
    def importance_sampled(self):
        """True when the scenario's trials were drawn from a tilted proposal (run.importance): its
        trials group has `weight`, the likelihood ratio of each trial."""
        return "weight" in self.trials

    def weights(self):
        """Each trial's likelihood ratio w = p/q (float64 [trial]): `trials/weight` of an
        importance-sampled scenario, else ones (every trial counts 1). A statistic computed from
        the per-trial data is then the same expression in either case: P(X > x) = mean(w * (X > x))
        over all n trials, a histogram's bar = sum of w in the bin / n. Raises ChokepointFormatError
        when `weight` does not have one value per trial (the length of trials/shortfall)."""
        if "weight" in self.trials:
            w = np.asarray(self.trials["weight"], dtype=np.float64).reshape(-1)
            n = self._trial_count()
            if n is not None and w.size != n:
                raise ChokepointFormatError(f"{self._path}: {self.group.name}/trials/weight has {w.size} values "
                                            f"for {n} trials")
            return w
        n = self._trial_count()
        return np.ones(0 if n is None else n, dtype=np.float64)

    def _trial_count(self):
        """Rows of the per-trial datasets (trials/shortfall, else the first per-trial dataset), or None."""
        g = self.group["trials"]
        for key in ("shortfall", "weight", "short_months", "demand_total"):
            if key in g and isinstance(g[key], h5py.Dataset) and g[key].ndim >= 1:
                return int(g[key].shape[0])
        return None

    @property
    def ess(self):
        """Kish effective sample size (sum w)^2 / sum w^2 of the trials: the summary attribute `ess`
        when the file has it, else computed from weights() (the number of trials without
        importance sampling)."""
        v = self.summary_attrs.get("ess")
        if v is not None:
            return float(v)
        w = self.weights()
        s2 = float(np.sum(w * w))
        return float(np.sum(w)) ** 2 / s2 if s2 > 0 else 0.0

    @property
    def has_monthly(self):
        """True when the per-trial monthly shortfall (and so the fan-chart bands) was stored."""
        return "monthly_shortfall" in self.trials

    def dims(self, name, group=None):
        """Dimension names of a summary dataset, e.g. dims("cvar") == ("demand", "var_level"), or
        of a per-trial one (group="trials"; without `group` the summary is searched first, so
        dims("regime") is the summary's coordinate `regime` and dims("regime", "trials") is
        ("trial",)). Read from the file's dimension scales; files without them fall back to
        SUMMARY_DIMS / TRIAL_DIMS."""
        if group not in (None, "summary", "trials"):
            raise ValueError(f"group must be 'summary' or 'trials', not {group!r}")
        for grp_name, table in (("summary", SUMMARY_DIMS), ("trials", TRIAL_DIMS)):
            if group is not None and grp_name != group:
                continue
            grp = self.group[grp_name]
            if name in grp and isinstance(grp[name], h5py.Dataset):
                ds = grp[name]
                if _is_scale(ds):
                    return (name,)
                found = _scale_dims(ds)
                if found is not None:
                    return found
                doc = _documented_dims(name, table)
                if doc is None and grp_name == "summary":
                    doc = EXTRA_SUMMARY_DIMS.get(name)
                if doc is not None and len(doc) == ds.ndim:
                    return doc
                raise ChokepointFormatError(
                    f"{self._path}: {ds.name} has no dimension scales and is not in the format 1.0 table")
        raise ChokepointFormatError(f"{self._path}: dataset {name!r} not found in {self.group.name}/summary "
                                    f"or {self.group.name}/trials")

    @property
    def coords(self):
        """Coordinate labels of the summary dimensions: {"demand": [...], "quantile": array, ...}.
        From the dimension scales of the summary group, else from /model and the *_levels datasets."""
        if self._coords is None:
            c = {}
            g = self.group["summary"]
            for k, v in g.items():
                if isinstance(v, h5py.Dataset) and _is_scale(v):
                    c[k] = _read_dataset(v)
            model = self.model or {}
            for dim, table in _MODEL_COORDS.items():
                if dim not in c and table in model:
                    c[dim] = list(model[table])
            for dim, src in _LEVEL_COORDS.items():
                if dim not in c and src in self.summary:
                    c[dim] = np.asarray(self.summary[src])
            if "month" not in c and "monthly_mean_shortfall" in self.summary:
                c["month"] = np.arange(np.asarray(self.summary["monthly_mean_shortfall"]).shape[1], dtype=np.int32)
            if "grid" not in c and "exceedance_x" in self.summary:
                c["grid"] = np.arange(np.asarray(self.summary["exceedance_x"]).shape[1], dtype=np.int32)
            self._coords = c
        return self._coords

    def index(self, dim, label):
        """Position of `label` along summary dimension `dim` (a name, or a level such as 0.99)."""
        if dim not in self.coords:
            raise ChokepointFormatError(f"{self._path}: {self.group.name}/summary has no dimension {dim!r}")
        values = self.coords[dim]
        if isinstance(values, list):
            try:
                return values.index(str(label))
            except ValueError:
                raise KeyError(f"{dim} {label!r} not found (known: {', '.join(values)})") from None
        arr = np.asarray(values)
        hit = np.flatnonzero(np.isclose(arr.astype(np.float64), float(label), rtol=1e-12, atol=0))
        if hit.size == 0:
            raise KeyError(f"{dim} {label!r} not found (known: {arr.tolist()})")
        return int(hit[0])

    def value(self, name, **labels):
        """A summary dataset selected by coordinate labels, e.g.
        value("var", demand="us_defense", var_level=0.99) -> float;
        value("eud_given_event", event="cn_export_control") -> array over demand.
        Dimensions not named are kept whole."""
        data = np.asarray(self.summary[name])
        dims = self.dims(name)
        unknown = set(labels) - set(dims)
        if unknown:
            raise KeyError(f"{name} has dimensions {dims}, not {sorted(unknown)}")
        idx = tuple(self.index(d, labels[d]) if d in labels else slice(None) for d in dims)
        out = data[idx]
        return out.item() if isinstance(out, np.ndarray) and out.ndim == 0 else out

    def xarray(self, which="summary", **kwargs):
        """This scenario's "summary", "trials", "convergence", "sensitivity" or "sobol_indices"
        group as an xarray.Dataset (see open_xarray)."""
        if which not in _SCENARIO_GROUPS:
            raise ValueError(f"which must be one of {', '.join(map(repr, _SCENARIO_GROUPS))}, not {which!r}")
        return open_xarray(self._path, which, scenario=self.name, **kwargs)

    def __repr__(self):
        return f"Scenario({self.name!r}, trials={sorted(self.trials)}, summary={sorted(self.summary)})"


class ChokepointResults:
    """An open results file. Use as a context manager or call close()."""

    def __init__(self, path, h5file):
        self.path = path
        self.h5 = h5file  # the h5py.File, for low-level access
        f = h5file

        self.attrs = {k: _attr_value(v) for k, v in f.attrs.items()}
        fv = self.attrs["format_version"]
        self.format_version = (int(fv[0]), int(fv[1]))

        for required in ("model", "scenarios"):
            if required not in f or not isinstance(f[required], h5py.Group):
                raise ChokepointFormatError(
                    f"{path}: group /{required} not found; a chokepoint results file "
                    f"(format {self.format_version[0]}.{self.format_version[1]}) must have it"
                )

        self.model = _CheckedDict(
            {k: _read_dataset(v) for k, v in f["model"].items() if isinstance(v, h5py.Dataset)},
            path,
            "/model",
        )

        self.config_files = []
        self.config_texts = []
        if "config" in f:
            cfg = f["config"]
            if "files" in cfg:
                self.config_files = list(_as_list(_read_dataset(cfg["files"])))
            if "texts" in cfg:
                self.config_texts = list(_as_list(_read_dataset(cfg["texts"])))

        # In run order: the root attribute `scenarios` (format 1.1: "baseline,a,b"), then any other
        # group (HDF5 lists groups alphabetically), the baseline first.
        listed = [s.strip() for s in str(self.attrs.get("scenarios", "") or "").split(",") if s.strip()]
        groups = [k for k, v in f["scenarios"].items() if isinstance(v, h5py.Group)]
        order = [k for k in listed if k in groups] + [k for k in groups if k not in listed]
        if "baseline" in order:
            order.remove("baseline")
            order.insert(0, "baseline")
        self.scenarios = {}
        for name in order:
            self.scenarios[name] = Scenario(name, f["scenarios"][name], path)
            self.scenarios[name]._model = self.model
        if not self.scenarios:
            raise ChokepointFormatError(f"{path}: /scenarios holds no scenario group")

    # -- convenience -------------------------------------------------------------------------
    def scenario(self, name="baseline"):
        try:
            return self.scenarios[name]
        except KeyError:
            raise ChokepointFormatError(
                f"{self.path}: scenario {name!r} not found (present: {', '.join(self.scenarios)})"
            ) from None

    @property
    def trials(self):
        """Per-trial datasets of the baseline scenario."""
        return self.scenario("baseline").trials

    @property
    def summary(self):
        """Summary datasets of the baseline scenario."""
        return self.scenario("baseline").summary

    @property
    def scenario_ids(self):
        """Scenario ids in run order, the baseline first."""
        return list(self.scenarios)

    def convergence(self, scenario="baseline"):
        """The scenario's running estimates after each block: see Scenario.convergence()."""
        return self.scenario(scenario).convergence()

    def differences(self, scenario):
        """Paired differences of `scenario` against the baseline: see Scenario.differences()."""
        return self.scenario(scenario).differences()

    def sensitivity(self, scenario="baseline"):
        """Rank sensitivity (tornado data) of the scenario, or None: see Scenario.sensitivity()."""
        return self.scenario(scenario).sensitivity()

    def sobol_indices(self, scenario="baseline"):
        """Sobol' indices of the scenario, or None: see Scenario.sobol_indices()."""
        return self.scenario(scenario).sobol_indices()

    def stopping(self):
        """The stopping rule's outcome (run.stop_when), or None for a run of fixed size:
        {"rule": str, "target_met": bool, "estimate": float, "se": float, "se_below": float or
        None, "effective_trials": float (NaN in files before it), "trials": int}, from the root
        attributes stop_rule, stop_target_met, stop_estimate, stop_se, stop_se_below and
        stop_effective_trials."""
        a = self.attrs
        if "stop_rule" not in a:
            return None

        def num(k):
            v = a.get(k)
            return float(v) if v is not None else float("nan")

        return {"rule": str(a["stop_rule"]), "target_met": bool(int(a.get("stop_target_met", 0))),
                "estimate": num("stop_estimate"), "se": num("stop_se"),
                "effective_trials": num("stop_effective_trials"),
                "se_below": float(a["stop_se_below"]) if "stop_se_below" in a else None,
                "trials": int(a.get("trials", 0))}

    @property
    def importance_sampled(self):
        """True when some scenario was importance-sampled (has trials/weight) or the file has an
        /importance group (format 1.4)."""
        return "importance" in self.h5 or any(sc.importance_sampled for sc in self.scenarios.values())

    def importance(self):
        """The proposals of an importance-sampled run (root group /importance, format 1.4), or None
        when the file has no such group:

            {"inputs": list of str [tilt]   the tilted inputs ("event/ban_a/occurs", ...),
             "bins": int [tilt]            bins of each proposal,
             "proposals": list of (edges, mass) per tilt: float64 arrays of bins + 1 edges and bins
                          masses on the input's quantile scale (0, 1); the proposal density on a bin
                          is mass / width, the model's is 1 (uniform),
             "fitted": bool [tilt]         True where the cross-entropy method fitted it (False: by hand),
             "estimator": str              how the summary's estimates are formed,
             "attrs": dict                 every attribute of the group,
             "cross_entropy": None, or {"demand", "shortfall_above", "pilot_trials", "rarity",
                          "defensive", "smoothing", "reached" (bool), ... (the attributes
                          cross_entropy_* without the prefix), "columns": list of str,
                          "rounds": {column: array [rounds]} (round, pilot_trials, hits, elites and
                          inputs_tilted as int64, the others float64)}}

        Raises ChokepointFormatError when the concatenated edges and masses do not match `bins`."""
        g = self.h5.get("importance") if self.h5 is not None else None
        if not isinstance(g, h5py.Group):
            return None
        where = "/importance"
        missing = [k for k in ("inputs", "bins", "edges", "mass") if k not in g]
        if missing:
            raise ChokepointFormatError(f"{self.path}: {where}: missing dataset(s) {', '.join(missing)}")
        inputs = [str(v) for v in _as_list(_read_dataset(g["inputs"]))]
        bins = np.asarray(g["bins"][()], dtype=np.int64).reshape(-1)
        edges = np.asarray(g["edges"][()], dtype=np.float64).reshape(-1)
        mass = np.asarray(g["mass"][()], dtype=np.float64).reshape(-1)
        if bins.size != len(inputs) or (bins < 1).any():
            raise ChokepointFormatError(f"{self.path}: {where}: {bins.size} bin counts {bins.tolist()} for "
                                        f"{len(inputs)} inputs (each needs >= 1 bin)")
        if int(bins.sum()) != mass.size or int((bins + 1).sum()) != edges.size:
            raise ChokepointFormatError(
                f"{self.path}: {where}: bins {bins.tolist()} call for {int(bins.sum())} masses and "
                f"{int((bins + 1).sum())} edges; the file has {mass.size} and {edges.size}")
        proposals = []
        e0 = m0 = 0
        for b in bins:
            b = int(b)
            proposals.append((edges[e0:e0 + b + 1].copy(), mass[m0:m0 + b].copy()))
            e0 += b + 1
            m0 += b
        if "fitted" in g:
            fitted = np.asarray(g["fitted"][()]).reshape(-1).astype(bool)
            if fitted.size != len(inputs):
                raise ChokepointFormatError(f"{self.path}: {where}/fitted: {fitted.size} values for "
                                            f"{len(inputs)} inputs")
        else:
            fitted = np.zeros(len(inputs), dtype=bool)
        attrs = {k: _attr_value(v) for k, v in g.attrs.items()}
        out = {"inputs": inputs, "bins": bins, "proposals": proposals, "fitted": fitted,
               "estimator": str(attrs.get("estimator", "")), "attrs": attrs, "cross_entropy": None}
        pre = "cross_entropy_"
        ce_attrs = {k[len(pre):]: v for k, v in attrs.items() if k.startswith(pre) and k != pre + "rounds_columns"}
        if ce_attrs or pre + "rounds" in g:
            ce = dict(ce_attrs)
            if "reached" in ce:
                ce["reached"] = bool(int(ce["reached"]))
            cols = attrs.get(pre + "rounds_columns")
            cols = [c.strip() for c in str(cols).split(",")] if cols else list(CROSS_ENTROPY_ROUND_COLUMNS)
            rounds = {c: np.zeros(0, dtype=np.int64 if c in _INTEGER_ROUND_COLUMNS else np.float64) for c in cols}
            if pre + "rounds" in g:
                r = np.asarray(g[pre + "rounds"][()], dtype=np.float64)
                if r.ndim == 1 and r.size == len(cols):
                    r = r.reshape(1, -1)
                if r.size == 0:
                    r = r.reshape(0, len(cols))
                if r.ndim != 2 or r.shape[1] != len(cols):
                    raise ChokepointFormatError(f"{self.path}: {where}/{pre}rounds: shape {r.shape}, expected "
                                                f"[rounds, {len(cols)}] ({', '.join(cols)})")
                for i, c in enumerate(cols):
                    col = r[:, i]
                    rounds[c] = (np.rint(col).astype(np.int64) if c in _INTEGER_ROUND_COLUMNS and np.isfinite(col).all()
                                 else col.copy())
            ce["columns"] = cols
            ce["rounds"] = rounds
            out["cross_entropy"] = ce
        return out

    def xarray(self, group="summary", scenario="baseline", **kwargs):
        """One group as an xarray.Dataset with named dimensions (engine h5netcdf, lazy):
        group "summary", "trials", "convergence", "sensitivity" or "sobol_indices" of `scenario`
        (scenario="all": every scenario along a `scenario` dimension),
        or an HDF5 path ("model", "scenarios/x/summary").
        xarray is imported only here; without it this raises XarrayMissingError (an ImportError)
        saying what to install."""
        if group in _SCENARIO_GROUPS and scenario != "all":
            self.scenario(scenario)  # a clear error for an unknown scenario
        return open_xarray(self.path, group, scenario=scenario, **kwargs)

    @property
    def n_trials(self):
        return int(self.attrs["trials"])

    @property
    def horizon_months(self):
        return int(self.attrs["horizon_months"])

    def close(self):
        if self.h5 is not None:
            self.h5.close()
            self.h5 = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return (
            f"ChokepointResults({self.path!r}, name={self.attrs.get('name')!r}, "
            f"trials={self.attrs.get('trials')}, scenarios={list(self.scenarios)})"
        )


def _as_list(value):
    if isinstance(value, str):
        return [value]
    return value


def _check_header(path, f):
    """Raise ChokepointFormatError unless filetype and major format_version are right."""
    if "filetype" not in f.attrs:
        raise ChokepointFormatError(
            f"{path}: not a chokepoint results file: root attribute 'filetype' not found "
            f"(expected filetype = {FILETYPE!r})"
        )
    try:
        filetype = decode_str(f.attrs["filetype"])
    except (TypeError, UnicodeDecodeError) as e:
        raise ChokepointFormatError(
            f"{path}: root attribute 'filetype' is not a string ({e}); expected {FILETYPE!r}"
        ) from None
    if filetype != FILETYPE:
        raise ChokepointFormatError(
            f"{path}: not a chokepoint results file: filetype is {filetype!r}, expected {FILETYPE!r}"
        )
    if "format_version" not in f.attrs:
        raise ChokepointFormatError(
            f"{path}: root attribute 'format_version' not found "
            f"(expected [major, minor] with major = {SUPPORTED_MAJOR})"
        )
    fv = np.asarray(f.attrs["format_version"])
    if fv.shape != (2,) or fv.dtype.kind not in "iu":
        raise ChokepointFormatError(
            f"{path}: root attribute 'format_version' is {fv!r} (dtype {fv.dtype}, shape {fv.shape}); "
            f"expected two integers [major, minor] with major = {SUPPORTED_MAJOR}"
        )
    major, minor = int(fv[0]), int(fv[1])
    if major != SUPPORTED_MAJOR:
        raise ChokepointFormatError(
            f"{path}: format_version is {major}.{minor}; this reader reads major version "
            f"{SUPPORTED_MAJOR} (format {SUPPORTED_MAJOR}.x) only"
        )
    if "complete" in f.attrs and int(np.asarray(f.attrs["complete"])) != 1:
        done = int(np.asarray(f.attrs.get("trials", 0)))
        planned = int(np.asarray(f.attrs.get("trials_planned", 0)))
        raise ChokepointFormatError(
            f"{path}: a checkpoint of an unfinished run ({done} of {planned} trials), not a "
            f"results file; finish it with `chokepoint run --resume {path}`"
        )


def open_results(path):
    """Open a chokepoint results file and check its header.

    Raises ChokepointFormatError (message names the file) when the file is missing, not HDF5,
    has a filetype other than "chokepoint-results", or a major format_version other than 1.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ChokepointFormatError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ChokepointFormatError(f"{path}: is a directory, expected a chokepoint results file (HDF5)")
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as e:
        raise ChokepointFormatError(f"{path}: cannot be read: {e}") from None
    if not is_hdf5:
        raise ChokepointFormatError(
            f"{path}: not an HDF5 file; expected a chokepoint results file (HDF5, filetype {FILETYPE!r})"
        )
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ChokepointFormatError(f"{path}: cannot be opened as HDF5: {e}") from None
    try:
        _check_header(path, f)
        return ChokepointResults(path, f)
    except ChokepointFormatError:
        f.close()
        raise
    except Exception as e:  # any other structural surprise: still name the file
        f.close()
        raise ChokepointFormatError(f"{path}: unexpected layout: {type(e).__name__}: {e}") from e
