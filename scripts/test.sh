#!/usr/bin/env bash
# Build chokepoint with tests and run the whole test suite, in two passes:
#   1. RelWithDebInfo with MPI (-DCHOKEPOINT_MPI=ON: the MPI tests run mpirun -np 1, 2, 4), into
#      build-test/: every test (ctest labels `fast` and `slow`, the golden regressions, the
#      format and layer checks);
#   2. AddressSanitizer + UBSan (-DCHOKEPOINT_SANITIZE=ON, -O1), into build-test-asan/: the tests
#      labelled `sanitize` (every test that runs our C++; docs/architecture.md), with
#      CHOKEPOINT_TEST_QUICK=1 for fewer rounds; any memory error, leak or undefined behaviour
#      fails the test that hit it.
# Exit status: 0 when both passes pass, otherwise the first failing ctest's exit status.
#
#   scripts/test.sh                  both passes (the README's test command; CI)
#   scripts/test.sh --fast           the edit loop: pass 1 built incrementally, `fast` tests only
#   scripts/test.sh --no-sanitize    pass 1 only (also CHOKEPOINT_TEST_SANITIZE=0)
#   scripts/test.sh --sanitize-only  pass 2 only
#
# Set CHOKEPOINT_TEST_BUILD_TYPE=Debug for debug builds, CHOKEPOINT_SKIP_DEPS=1 to skip the
# package check. The fuzzer is separate: scripts/fuzz.sh (docs/robustness.md).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_type="${CHOKEPOINT_TEST_BUILD_TYPE:-RelWithDebInfo}"
plain=1
sanitize=1
fast=0
[ "${CHOKEPOINT_TEST_SANITIZE:-1}" = "0" ] && sanitize=0
for arg in "$@"; do
    case "$arg" in
        --fast) fast=1; sanitize=0 ;;
        --no-sanitize) sanitize=0 ;;
        --sanitize-only) plain=0; sanitize=1 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "test.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
    esac
done

echo "== test.sh: checking system packages"
bash scripts/install_deps.sh

# shellcheck source=scripts/find_python.sh
source scripts/find_python.sh
echo "== test.sh: Python for the output tests: $PY"

status=0

# run_pass NAME BUILD_DIR CTEST_LABEL [extra cmake options...] (an empty label runs every test)
run_pass() {
    local name="$1" dir="$2" label="$3"
    shift 3
    local t0=$SECONDS
    echo "== test.sh [$name]: configuring and building ($build_type) in $dir/"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$build_type" -DPython3_EXECUTABLE="$PY" "$@"
    cmake --build "$dir" -j"$(nproc)"
    local t1=$SECONDS
    echo "== test.sh [$name]: running tests"
    set +e
    local select=()
    [ -n "$label" ] && select=(-L "^${label}\$")
    ctest --test-dir "$dir" --output-on-failure -j2 "${select[@]}"
    local rc=$?
    set -e
    echo "== test.sh [$name]: build $((t1 - t0)) s, tests $((SECONDS - t1)) s"
    if [ "$rc" -eq 0 ]; then
        echo "== test.sh [$name]: all tests passed"
    else
        echo "== test.sh [$name]: tests FAILED (ctest exit $rc)" >&2
        [ "$status" -eq 0 ] && status=$rc
    fi
}

if [ "$plain" = 1 ]; then
    if [ "$fast" = 1 ]; then
        run_pass fast build-test fast -DCHOKEPOINT_MPI=ON
    else
        run_pass plain build-test "" -DCHOKEPOINT_MPI=ON
    fi
fi
if [ "$sanitize" = 1 ]; then
    # halt_on_error: UBSan reports fail the test (gcc's UBSan would otherwise print and go on);
    # the Python tests run the sanitized chokepoint as a subprocess and inherit these.
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
    # Without MPI: Open MPI's own allocations would drown LeakSanitizer's reports; the MPI code
    # path (pack/unpack, the gather) is exercised by the plain pass and by the unit tests here.
    export CHOKEPOINT_TEST_QUICK=1
    run_pass "asan+ubsan" build-test-asan sanitize -DCHOKEPOINT_SANITIZE=ON -DCHOKEPOINT_MPI=OFF
    unset CHOKEPOINT_TEST_QUICK
fi

if [ "$status" -eq 0 ]; then
    echo "== test.sh: all tests passed"
else
    echo "== test.sh: tests FAILED" >&2
fi
exit "$status"
