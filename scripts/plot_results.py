#!/usr/bin/env python3
"""Plot a chokepoint results file (HDF5) to PNG files.

    plot_results.py FILE [--out DIR]

The command line of chokepoint.plots (python/chokepoint/plots.py, whose docstring lists the
figures); after `pip install ./python` the same is `chokepoint-plot FILE [--out DIR]`. Reruns
itself under /usr/bin/python3 when this Python lacks h5py, numpy or matplotlib (need_packages.py).
The checkout's own python/ directory is used when it is there, otherwise an installed chokepoint
package. Exit status 0 on success, 2 on bad input, 1 on other failures.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
from need_packages import need_packages  # noqa: E402

need_packages(__file__)

_PYDIR = os.path.join(os.path.dirname(_HERE), "python")
if os.path.isfile(os.path.join(_PYDIR, "chokepoint", "__init__.py")) and _PYDIR not in sys.path:
    sys.path.insert(0, _PYDIR)

import chokepoint.plots as _plots  # noqa: E402

if __name__ == "__main__":
    sys.exit(_plots.main(prog="plot_results.py"))
sys.modules[__name__] = _plots
