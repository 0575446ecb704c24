#!/usr/bin/env python3
"""The reader must refuse files it cannot read, with a ChokepointFormatError naming the file.

    test_reader_rejects.py

Builds small files with h5py in a temporary directory: wrong filetype, no filetype, format_version
[2, 0], malformed format_version, a text file, a missing path, a checkpoint; checks each is refused
with a message that names the file, by open_results, open_xarray (when xarray is installed) and
the sensitivity charts (which must not make their output directory first). Also checks that a minor bump ([1, 7]) with the minimal groups is
accepted. Prints one line per check; exits 1 if any failed.
"""

import os
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import package_path  # noqa: E402,F401  (the checkout's python/ first on sys.path)
from chokepoint import ChokepointFormatError, open_results  # noqa: E402

failures = []


def report(ok, what, detail=""):
    print(("PASS  " if ok else "FAIL  ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(what)


def also_rejected_elsewhere(path, what):
    """open_xarray and the sensitivity charts refuse the file as open_results does (they once
    opened checkpoints and raised raw OSError), and the charts make no directory for it."""
    try:
        from chokepoint.reader import XarrayMissingError, open_xarray
        try:
            open_xarray(path, "summary")
            report(False, f"{what}: open_xarray refuses it", "opened")
        except XarrayMissingError:
            pass  # xarray or h5netcdf not installed: nothing to check
        except ChokepointFormatError as e:
            report(path in str(e), f"{what}: open_xarray refuses it naming the file", str(e))
        except Exception as e:
            report(False, f"{what}: open_xarray refuses it with ChokepointFormatError",
                   f"raised {type(e).__name__}: {e}")
    except ImportError:
        pass
    try:
        from chokepoint import sensitivity_plots
    except ImportError:  # no matplotlib
        return
    out = path + "_charts"
    try:
        sensitivity_plots.plot_file(path, out)
        report(False, f"{what}: the sensitivity charts refuse it", "plotted")
    except sensitivity_plots.FormatError as e:
        report(path in str(e) and not os.path.exists(out),
               f"{what}: the sensitivity charts refuse it, no directory made", str(e))
    except Exception as e:
        report(False, f"{what}: the sensitivity charts refuse it with FormatError",
               f"raised {type(e).__name__}: {e}")


def expect_rejected(path, what, must_mention=()):
    also_rejected_elsewhere(path, what)
    try:
        res = open_results(path)
    except ChokepointFormatError as e:
        msg = str(e)
        print(f"      message: {msg}")
        report(path in msg, f"{what}: refused, message names the file", msg)
        for word in must_mention:
            report(word in msg, f"{what}: message mentions {word!r}", msg)
        return
    except Exception as e:  # wrong exception type
        report(False, f"{what}: refused with ChokepointFormatError", f"raised {type(e).__name__}: {e}")
        return
    res.close()
    report(False, f"{what}: refused", "open_results accepted it")


def write_minimal(path, filetype="chokepoint-results", version=(1, 0), groups=True):
    with h5py.File(path, "w") as f:
        if filetype is not None:
            f.attrs["filetype"] = filetype
        if version is not None:
            f.attrs.create("format_version", np.asarray(version, dtype=np.int32))
        if groups:
            f.create_group("model")
            f.create_dataset("model/demands", data=["d1"], dtype=h5py.string_dtype())
            f.create_group("scenarios/baseline/trials")
            f.create_group("scenarios/baseline/summary")


def main():
    with tempfile.TemporaryDirectory(prefix="chokepoint-reader-test-") as d:
        p = os.path.join(d, "wrong_filetype.h5")
        write_minimal(p, filetype="openmc-statepoint")
        expect_rejected(p, "wrong filetype", ("openmc-statepoint", "chokepoint-results"))

        p = os.path.join(d, "no_filetype.h5")
        write_minimal(p, filetype=None)
        expect_rejected(p, "no filetype attribute", ("filetype",))

        p = os.path.join(d, "version_2_0.h5")
        write_minimal(p, version=(2, 0))
        expect_rejected(p, "format_version [2, 0]", ("2.0", "1"))

        p = os.path.join(d, "version_bad.h5")
        write_minimal(p, version=(1, 0, 0))
        expect_rejected(p, "format_version with 3 numbers", ("format_version",))

        p = os.path.join(d, "no_version.h5")
        write_minimal(p, version=None)
        expect_rejected(p, "no format_version attribute", ("format_version",))

        p = os.path.join(d, "not_hdf5.h5")
        with open(p, "w") as f:
            f.write("this is not an HDF5 file\n")
        expect_rejected(p, "text file", ("HDF5",))

        p = os.path.join(d, "does_not_exist.h5")
        expect_rejected(p, "missing file", ("no such file",))

        p = os.path.join(d, "no_scenarios.h5")
        write_minimal(p, groups=False)
        expect_rejected(p, "no /model or /scenarios groups", ("/model",))

        p = os.path.join(d, "checkpoint.h5")
        write_minimal(p)
        with h5py.File(p, "a") as f:
            f.attrs["complete"] = np.int32(0)
            f.attrs["trials"] = np.uint64(300)
            f.attrs["trials_planned"] = np.uint64(1000)
        expect_rejected(p, "a checkpoint (complete = 0)", ("checkpoint", "--resume"))

        p = os.path.join(d, "version_1_7.h5")
        write_minimal(p, version=(1, 7))
        try:
            with open_results(p) as res:
                report(res.format_version == (1, 7), "format_version [1, 7] (minor bump) accepted")
                report(res.model["demands"] == ["d1"], "model names decoded to str", repr(res.model["demands"]))
                try:
                    res.summary["eud"]
                    report(False, "missing summary dataset raises ChokepointFormatError")
                except ChokepointFormatError as e:
                    report(p in str(e) and "eud" in str(e),
                           "missing summary dataset raises ChokepointFormatError naming file and dataset", str(e))
        except ChokepointFormatError as e:
            report(False, "format_version [1, 7] (minor bump) accepted", str(e))

    print(f"-- {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
