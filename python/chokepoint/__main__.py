"""python -m chokepoint COMMAND ...: the package's command lines.

    python -m chokepoint plot FILE [--out DIR]                 (= chokepoint-plot)
    python -m chokepoint plot-sensitivity FILE OUTDIR [...]    (= chokepoint-plot-sensitivity)
    python -m chokepoint report FILE [--out FILE.html]         (= chokepoint-report)
    python -m chokepoint --version
"""

import sys

USAGE = ("usage: python -m chokepoint {plot,plot-sensitivity,report} ARGS...  (or --version)\n"
         "  plot FILE [--out DIR]                     the figures of a results file (chokepoint-plot)\n"
         "  plot-sensitivity FILE OUTDIR [--top N] [--measure srrc|spearman]\n"
         "                                            tornado and Sobol' charts (chokepoint-plot-sensitivity)\n"
         "  report FILE [--out FILE.html]             one self-contained HTML page of the results\n"
         "                                            (chokepoint-report)\n"
         "  COMMAND --help                            that command's options\n")


def _need_packages(cmd):
    """The commands draw with numpy, h5py and matplotlib: without them, one line saying so (and
    where a Python with them may be), not an ImportError's traceback."""
    try:
        import h5py  # noqa: F401
        import matplotlib  # noqa: F401
        import numpy  # noqa: F401
    except ImportError as e:
        sys.exit(f"python -m chokepoint {cmd}: error: {e} (Python {sys.executable}). The commands need "
                 "h5py, numpy and matplotlib: on Debian/Ubuntu apt-get install python3-h5py "
                 "python3-numpy python3-matplotlib and use /usr/bin/python3, or any Python that has "
                 "them (scripts/find_python.sh finds one).")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, end="", file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "--version":
        from . import __version__

        print(f"chokepoint (Python package) {__version__}")
        return 0
    if cmd in ("plot", "plot-sensitivity", "report"):
        _need_packages(cmd)
    if cmd == "plot":
        from .plots import main as run
    elif cmd == "plot-sensitivity":
        from .sensitivity_plots import main as run
    elif cmd == "report":
        from .report import main as run
    else:
        print(f"python -m chokepoint: error: unknown command {cmd!r}\n{USAGE}", end="", file=sys.stderr)
        return 2
    return run(rest, prog=f"python -m chokepoint {cmd}")


if __name__ == "__main__":
    sys.exit(main())
