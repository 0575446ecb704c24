# shellcheck shell=bash
# Sourced by the other scripts: sets and exports PY to a Python interpreter that can
# `import h5py, numpy, matplotlib`. Tries, in order: $PY if already set, /usr/bin/python3,
# `PYENV_VERSION=system python3` (pyenv's view of the system Python), then `python3` on PATH.
# PY is always an absolute path to the interpreter itself (not a pyenv shim).
# Returns 1 (without exiting the caller's shell) with a clear message when none works.

_chokepoint_py_ok() {
    # $@: command that runs a python; prints its sys.executable when the imports work
    "$@" -c 'import sys, h5py, numpy, matplotlib; print(sys.executable)' 2>/dev/null
}

_chokepoint_find_python() {
    local exe=""
    if [ -n "${PY:-}" ]; then
        exe="$(_chokepoint_py_ok "$PY")" || exe=""
        if [ -z "$exe" ]; then
            echo "find_python.sh: PY=$PY cannot import h5py, numpy and matplotlib; looking for another" >&2
        fi
    fi
    if [ -z "$exe" ] && [ -x /usr/bin/python3 ]; then
        exe="$(_chokepoint_py_ok /usr/bin/python3)" || exe=""
    fi
    if [ -z "$exe" ] && command -v python3 >/dev/null 2>&1; then
        exe="$(_chokepoint_py_ok env PYENV_VERSION=system python3)" || exe=""
    fi
    if [ -z "$exe" ] && command -v python3 >/dev/null 2>&1; then
        exe="$(_chokepoint_py_ok python3)" || exe=""
    fi
    if [ -z "$exe" ]; then
        {
            echo "find_python.sh: error: no Python 3 found that can \`import h5py, numpy, matplotlib\`"
            echo "  (tried \$PY, /usr/bin/python3, \`PYENV_VERSION=system python3\`, \`python3\`)."
            echo "  On Debian/Ubuntu install: sudo apt-get install python3-h5py python3-numpy python3-matplotlib"
            echo "  (scripts/install_deps.sh does this), or set PY to an interpreter that has them."
        } >&2
        return 1
    fi
    PY="$exe"
    export PY
    return 0
}

_chokepoint_find_python
