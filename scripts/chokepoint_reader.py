"""The chokepoint results reader under its old name: this module *is* chokepoint.reader
(python/chokepoint/reader.py), so that code that puts scripts/ on sys.path and writes

    from chokepoint_reader import open_results, ChokepointFormatError

keeps working, with the same classes. New code: `from chokepoint import open_results` after
`pip install ./python`, or with the repository's python/ directory on PYTHONPATH.

The checkout's own python/ directory is used when it is there (so the reader matches the engine
built from the same checkout); otherwise an installed chokepoint package.
"""

import os
import sys

_PYDIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python")
if os.path.isfile(os.path.join(_PYDIR, "chokepoint", "__init__.py")) and _PYDIR not in sys.path:
    sys.path.insert(0, _PYDIR)

import chokepoint.reader as _reader  # noqa: E402

if __name__ != "__main__":
    sys.modules[__name__] = _reader
