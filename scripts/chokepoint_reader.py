"""Read a chokepoint results file (HDF5, format version 1.x).

The layout is described in docs/output-format.md. Usage::

    from chokepoint_reader import open_results, ChokepointFormatError

    with open_results("results/critical_materials.h5") as res:
        print(res.attrs["name"], res.attrs["trials"])
        demands = res.model["demands"]             # list of str
        base = res.scenario("baseline")
        shortfall = base.trials["shortfall"]       # numpy array [trial, demand]
        eud = base.summary["eud"]                  # numpy array [demand]

Per-trial datasets are read from the file when first asked for (they can be large) and then
kept; summary datasets and model tables are read when the file is opened. A dataset that is not
in the file raises ChokepointFormatError naming the file and the HDF5 path.

Only h5py and numpy are needed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import h5py
import numpy as np

FILETYPE = "chokepoint-results"
SUPPORTED_MAJOR = 1
# Newest minor version this reader was written against; newer minors only add things.
KNOWN_MINOR = 0

__all__ = [
    "ChokepointFormatError",
    "ChokepointResults",
    "Scenario",
    "open_results",
    "FILETYPE",
    "SUPPORTED_MAJOR",
    "decode_str",
]


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

        self.scenarios = {}
        for name, grp in f["scenarios"].items():
            if isinstance(grp, h5py.Group):
                self.scenarios[name] = Scenario(name, grp, path)
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
