#!/usr/bin/env python3
"""Plot the global sensitivity results of a chokepoint results file (HDF5) to PNG files.

    plot_sensitivity.py RESULTS.h5 OUTDIR [--top 15] [--measure srrc|spearman]

The command line of chokepoint.sensitivity_plots (python/chokepoint/sensitivity_plots.py, whose
docstring describes the charts and the layout read); after `pip install ./python` the same is
`chokepoint-plot-sensitivity`. Imported, this module is chokepoint.sensitivity_plots (plot_tornado,
plot_sobol, plot_file). Run, it reruns itself under /usr/bin/python3 when this Python lacks h5py,
numpy or matplotlib (need_packages.py). The checkout's own python/ directory is used when it is
there, otherwise an installed chokepoint package.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if __name__ == "__main__":
    sys.path.insert(0, _HERE)
    from need_packages import need_packages

    need_packages(__file__, " (scripts/find_python.sh finds one)")

_PYDIR = os.path.join(os.path.dirname(_HERE), "python")
if os.path.isfile(os.path.join(_PYDIR, "chokepoint", "__init__.py")) and _PYDIR not in sys.path:
    sys.path.insert(0, _PYDIR)

import chokepoint.sensitivity_plots as _sensitivity_plots  # noqa: E402

if __name__ == "__main__":
    sys.exit(_sensitivity_plots.main(prog="plot_sensitivity.py"))
sys.modules[__name__] = _sensitivity_plots
