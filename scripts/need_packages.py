"""Standard library only: makes a plotting script run under a Python that has h5py, numpy and
matplotlib (e.g. when `#!/usr/bin/env python3` finds a pyenv build without them)."""
import os
import sys


def need_packages(script, hint=""):
    """Imports h5py, numpy, matplotlib; if this Python lacks them, reruns `script` once under
    /usr/bin/python3 with the same arguments, else exits with a clear message."""
    try:
        import h5py  # noqa: F401
        import matplotlib  # noqa: F401
        import numpy  # noqa: F401

        return
    except ImportError as e:
        err = e
    alt = "/usr/bin/python3"
    if (os.environ.get("CHOKEPOINT_PLOT_REEXEC") != "1" and os.access(alt, os.X_OK)
            and os.path.realpath(sys.executable) != os.path.realpath(alt)):
        os.environ["CHOKEPOINT_PLOT_REEXEC"] = "1"
        os.execv(alt, [alt, os.path.abspath(script)] + sys.argv[1:])
    sys.exit(f"{os.path.basename(script)}: error: {err} (Python {sys.executable}). It needs h5py, "
             "numpy and matplotlib: on Debian/Ubuntu apt-get install python3-h5py python3-numpy "
             "python3-matplotlib, or run it with a Python that has them" + hint + ".")
