"""chokepoint: read and plot the HDF5 results files of the chokepoint supply-risk engine.

    from chokepoint import open_results, ChokepointFormatError

    with open_results("results/critical_materials.h5") as res:
        base = res.scenario("baseline")
        print(res.model["demands"], base.summary["eud"])

Modules: chokepoint.reader (open_results and the classes it returns; everything it exports is
also importable from chokepoint itself), chokepoint.plots (the figures of a results file;
command line `chokepoint-plot FILE [--out DIR]`), chokepoint.sensitivity_plots (tornado and
Sobol' charts; `chokepoint-plot-sensitivity FILE OUTDIR`), chokepoint.report (one self-contained
HTML page of a results file; `chokepoint-report FILE [--out FILE.html]`). `python -m chokepoint`
runs any of them.
The file layout is docs/output-format.md. Needs h5py and numpy; the plots also matplotlib,
`xarray()` also xarray and h5netcdf.
"""

# The engine's version (CMakeLists.txt, project(... VERSION ...)); pyproject.toml reads it from here.
__version__ = "0.1.0"

import sys as _sys  # noqa: E402

try:
    from . import reader  # noqa: E402
except ImportError as _e:
    if _sys.argv[:1] == ["-m"]:  # `python -m chokepoint ...`: one line, not a traceback
        _sys.exit(f"python -m chokepoint: error: {_e} (Python {_sys.executable})")
    raise
from .reader import *  # noqa: E402,F401,F403

__all__ = list(reader.__all__)
