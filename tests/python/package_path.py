"""Imported by the tests that use the chokepoint Python package, before `import chokepoint`:
puts the checkout's python/ directory at the front of sys.path, so that the tests check the
package in this tree rather than a copy installed in the running Python.

With CHOKEPOINT_TEST_INSTALLED=1 in the environment sys.path is left alone: the tests then check
the chokepoint package installed in the running Python (test_package.py runs some of them so,
in a venv where `pip install ./python` put it).
"""

import os
import sys

PYDIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
INSTALLED = os.environ.get("CHOKEPOINT_TEST_INSTALLED") == "1"

if not INSTALLED and PYDIR not in sys.path:
    sys.path.insert(0, PYDIR)
