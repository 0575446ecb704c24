#!/usr/bin/env bash
# Build chokepoint with tests (RelWithDebInfo, into build-test/) and run the whole test suite.
# Exit status: ctest's. Set CHOKEPOINT_TEST_BUILD_TYPE=Debug for a debug build,
# CHOKEPOINT_SKIP_DEPS=1 to skip the package check.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_type="${CHOKEPOINT_TEST_BUILD_TYPE:-RelWithDebInfo}"

echo "== test.sh: checking system packages"
bash scripts/install_deps.sh

# shellcheck source=scripts/find_python.sh
source scripts/find_python.sh
echo "== test.sh: Python for the output tests: $PY"

echo "== test.sh: configuring and building ($build_type) in build-test/"
cmake -S . -B build-test -DCMAKE_BUILD_TYPE="$build_type" -DPython3_EXECUTABLE="$PY"
cmake --build build-test -j"$(nproc)"

echo "== test.sh: running tests"
set +e
ctest --test-dir build-test --output-on-failure -j2
status=$?
set -e
if [ "$status" -eq 0 ]; then
    echo "== test.sh: all tests passed"
else
    echo "== test.sh: tests FAILED (ctest exit $status)" >&2
fi
exit "$status"
