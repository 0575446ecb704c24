#!/usr/bin/env bash
# Build chokepoint (Release), run a study and plot it.
#
#   scripts/run.sh                      # configs/critical_materials.yaml -> results/critical_materials.h5
#   scripts/run.sh CONFIG [ARGS...]     # CONFIG -> results/<CONFIG stem>.h5
#   scripts/run.sh [--trials N ...]     # extra ARGS go to `chokepoint run` (e.g. --trials, --seed, --threads)
#   scripts/run.sh CONFIG -o OUT.h5     # the results file named (relative to where you ran this)
#
# Plots go to results/<stem>_plots/ (with -o OUT.h5: OUT_plots/). Set CHOKEPOINT_SKIP_DEPS=1 to skip the package check.
set -euo pipefail

caller_pwd="$(pwd)"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

config="configs/critical_materials.yaml"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    # first argument that is not an option: the config file (relative to where you ran this)
    case "$1" in
        /*) config="$1" ;;
        *) if [ -f "$caller_pwd/$1" ]; then config="$caller_pwd/$1"; else config="$1"; fi ;;
    esac
    shift
fi
if [ ! -f "$config" ]; then
    echo "run.sh: error: config file not found: $config" >&2
    echo "usage: scripts/run.sh [CONFIG.yaml] [chokepoint run options...]" >&2
    exit 2
fi
stem="$(basename "$config")"
stem="${stem%.*}"
out="results/${stem}.h5"
# An -o/--output among the options names the results file instead (relative to where you ran
# this); it is taken out of the options, which get this script's own -o.
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        -o | --output)
            if [ $# -lt 2 ] || [ -z "$2" ]; then
                echo "run.sh: error: $1 needs a file name" >&2
                exit 2
            fi
            out="$2"
            shift 2
            ;;
        --output=*) out="${1#--output=}"; shift ;;
        -o?*) out="${1#-o}"; shift ;;
        *) args+=("$1"); shift ;;
    esac
done
set -- ${args[@]+"${args[@]}"}
if [ "$out" != "results/${stem}.h5" ]; then
    case "$out" in
        /*) ;;
        *) out="$caller_pwd/$out" ;;
    esac
fi
plots="${out%.h5}_plots"

echo "== run.sh: checking system packages"
bash scripts/install_deps.sh

# Python for plotting; also handed to CMake so that its tests use an interpreter with h5py
# shellcheck source=scripts/find_python.sh
source scripts/find_python.sh

echo "== run.sh: configuring and building (Release) in build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCHOKEPOINT_BUILD_TESTS=OFF -DPython3_EXECUTABLE="$PY"
cmake --build build -j"$(nproc)"

mkdir -p "$(dirname "$out")"
echo "== run.sh: build/chokepoint run $config -o $out --overwrite $*"
status=0
build/chokepoint run "$config" -o "$out" --overwrite "$@" || status=$?
if [ "$status" -ne 0 ]; then
    echo "run.sh: error: chokepoint run failed (exit $status); see the messages above" >&2
    exit "$status"
fi

echo "== run.sh: plotting into $plots/"
"$PY" scripts/plot_results.py "$out" --out "$plots"

# The HTML report: one self-contained page next to the results (<stem>_report.html, docs/report.md).
echo "== run.sh: writing the HTML report"
report="$(PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m chokepoint report "$out")"

echo "== run.sh: done: results in $out, plots in $plots/"
echo "== run.sh: report: $report"
