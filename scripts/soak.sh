#!/usr/bin/env bash
# Soak benchmark of the allocation solver (docs/robustness.md, "Soak"): builds chokepoint
# (Release, build/) and runs scripts/soak.py: every shipped config at many seeds and shard slices
# (10^6 trials each) and 10^4 random configs, reporting trial-months, LPs per solver rung and
# failures. Not part of the test suite (a short version is: ctest -R soak_quick). Hours on 2 cores.
#
#   scripts/soak.sh                 the full soak
#   scripts/soak.sh --quick         about a minute
#   scripts/soak.sh [soak.py options: --trials N --random N --jobs J --out DIR --seed S]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install_deps.sh
# shellcheck source=scripts/find_python.sh
source scripts/find_python.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPython3_EXECUTABLE="$PY" >/dev/null
cmake --build build -j"$(nproc)" --target chokepoint
exec "$PY" scripts/soak.py build/chokepoint "$@"
