#!/usr/bin/env python3
"""Check that two chokepoint results files hold identical results.

    compare_runs.py [--ignore-solver-counts] A B

Used to check that a result does not depend on the thread count (docs/model.md,
"Reproducibility"): run the same config with --threads 1 and --threads 2, then compare.

Every group, dataset and attribute of A must exist in B and vice versa, with the same dtype, shape
and values, compared exactly (bit for bit: float NaNs compare equal to NaNs, nothing else is
tolerated). Only the root attributes `threads`, `ranks`, `overwrite` (how the run was started) and
`created_utc` may differ. The per-trial and
summary datasets of /scenarios/baseline must be present (the comparison is not vacuous).

--ignore-solver-counts also ignores how many LPs were solved (root attributes `lps_*`, datasets
`scenarios/*/solver/*`): for runs whose results must agree while the work to get them differs (a
scenario copying the value chains it shares with the baseline, docs/performance.md).

Prints one line per difference; exits 0 when identical, 1 when not, 2 when a file cannot be read.
"""

import os
import sys

import h5py
import numpy as np

IGNORED_ROOT_ATTRS = {"threads", "ranks", "overwrite", "created_utc"}
REQUIRED = [
    "scenarios/baseline/trials/shortfall",
    "scenarios/baseline/trials/facility_binding_months",
    "scenarios/baseline/summary/eud",
    "scenarios/baseline/summary/shortfall_quantiles",
]


def same_values(a, b):
    """Exact equality of two numpy values/arrays, NaN equal to NaN, byte-wise for floats."""
    a = np.asarray(a)
    b = np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind == "f":
        # bitwise: distinguishes -0.0 from 0.0 and keeps NaN == NaN
        return a.tobytes() == b.tobytes()
    if a.dtype.kind == "O":
        return all(x == y for x, y in zip(a.ravel().tolist(), b.ravel().tolist()))
    return np.array_equal(a, b)


def collect(f):
    objs = {}
    f.visititems(lambda name, obj: objs.__setitem__(name, obj))
    return objs


# Dimension-scale bookkeeping holds object references (file addresses); what they say is
# compared instead through the dimension names of every dataset (see dims()).
SCALE_ATTRS = {"REFERENCE_LIST", "DIMENSION_LIST"}


def dims(obj):
    if not isinstance(obj, h5py.Dataset):
        return None
    return [[s.name for s in d.values()] for d in obj.dims]


def compare_attrs(where, a, b, ignored, diffs):
    ka, kb = set(a.keys()) - ignored - SCALE_ATTRS, set(b.keys()) - ignored - SCALE_ATTRS
    for k in sorted(ka ^ kb):
        diffs.append(f"{where}: attribute {k!r} only in {'A' if k in ka else 'B'}")
    for k in sorted(ka & kb):
        if not same_values(a[k], b[k]):
            diffs.append(f"{where}: attribute {k!r} differs: {a[k]!r} vs {b[k]!r}")


def main(argv):
    argv = list(argv)
    solver_free = "--ignore-solver-counts" in argv
    if solver_free:
        argv.remove("--ignore-solver-counts")
    if len(argv) != 3:
        print(f"usage: {os.path.basename(argv[0])} [--ignore-solver-counts] A B", file=sys.stderr)
        return 2
    pa, pb = argv[1], argv[2]
    try:
        fa, fb = h5py.File(pa, "r"), h5py.File(pb, "r")
    except OSError as e:
        print(f"FAIL  cannot open: {e}")
        return 2
    diffs = []
    with fa, fb:
        ignored = set(IGNORED_ROOT_ATTRS)
        if solver_free:
            ignored |= {k for k in set(fa.attrs) | set(fb.attrs) if k.startswith("lps_")}
        compare_attrs("/", fa.attrs, fb.attrs, ignored, diffs)
        oa, ob = collect(fa), collect(fb)
        if solver_free:
            for o in (oa, ob):
                for name in [n for n in o if "/solver/" in n]:
                    del o[name]
        for name in sorted(set(oa) ^ set(ob)):
            diffs.append(f"/{name}: only in {'A' if name in oa else 'B'}")
        for name in REQUIRED:
            if name not in oa:
                diffs.append(f"/{name}: missing (nothing to compare)")
        compared = 0
        for name in sorted(set(oa) & set(ob)):
            a, b = oa[name], ob[name]
            compare_attrs(f"/{name}", a.attrs, b.attrs, set(), diffs)
            if dims(a) != dims(b):
                diffs.append(f"/{name}: dimensions differ: {dims(a)} vs {dims(b)}")
            if isinstance(a, h5py.Dataset) != isinstance(b, h5py.Dataset):
                diffs.append(f"/{name}: a dataset in one file, a group in the other")
                continue
            if not isinstance(a, h5py.Dataset):
                continue
            va, vb = a[()], b[()]
            compared += 1
            if not same_values(va, vb):
                va, vb = np.asarray(va), np.asarray(vb)
                detail = f"dtype {va.dtype} vs {vb.dtype}, shape {va.shape} vs {vb.shape}"
                if va.shape == vb.shape and va.dtype == vb.dtype and va.dtype.kind in "fiu":
                    ne = np.argwhere(~((va == vb) | (np.isnan(va) & np.isnan(vb)) if va.dtype.kind == "f"
                                       else (va == vb)))
                    if ne.size:
                        i = tuple(ne[0])
                        detail += f"; {len(ne)} elements differ, first at {i}: {va[i]!r} vs {vb[i]!r}"
                diffs.append(f"/{name}: values differ ({detail})")
    for d in diffs:
        print(f"FAIL  {d}")
    print(f"-- compared {compared} datasets of {pa} and {pb}: {len(diffs)} differences "
          f"(ignoring root attributes {sorted(IGNORED_ROOT_ATTRS)})")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
