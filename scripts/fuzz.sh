#!/usr/bin/env bash
# Fuzz the config loader with libFuzzer + ASan + UBSan (tests/fuzz/fuzz_config.cpp).
#
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer options...]      (default 600 s)
#   scripts/fuzz.sh --checkpoint [SECONDS] [extra options...]   checkpoint/shard reader instead
#   scripts/fuzz.sh --coverage     line coverage of the loader by the kept corpus (llvm-cov)
#
# --checkpoint fuzzes read_stored_run() (tests/fuzz/fuzz_checkpoint.cpp), what `run --resume` and
# `merge` read: seeds are shards and a checkpoint written by the same (sanitized) build from a
# small tiny.yaml run; corpus build-fuzz/corpus-checkpoint/, findings
# build-fuzz/artifacts-checkpoint/, log build-fuzz/fuzz-checkpoint.log; regression inputs go to
# tests/fuzz/checkpoint_crashes/.
#
# Builds build-fuzz/fuzz_config with clang (-DCHOKEPOINT_FUZZ=ON; installs clang and
# libclang-rt-14-dev with apt-get when missing, via sudo when not root), then fuzzes for SECONDS
# from the seed corpus: the shipped configs, tests/data/, tests/bad_configs/, tests/fuzz/seeds/
# and tests/fuzz/crashes/, with the key dictionary tests/fuzz/config.dict. New inputs accumulate in
# build-fuzz/corpus/ (kept between runs); crashes, leaks, timeouts (> 10 s) and out-of-memory
# inputs (> 2 GB) are written to build-fuzz/artifacts/. The log is build-fuzz/fuzz.log.
# libFuzzer runs in fork mode (-fork=1 -ignore_crashes=1 ...), so that a finding does not end
# the run: every distinct finding of the whole SECONDS is kept.
# Exit status: 0 no finding, 1 findings (listed at the end), 2 setup failure.
# A finding becomes a regression input: copy it to tests/fuzz/crashes/ (ctest replays that
# directory through fuzz_config_replay and expects a Model or an InputError).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build=build-fuzz
mode=fuzz
target=config
if [ "${1:-}" = "--checkpoint" ]; then
    target=checkpoint
    shift
fi
seconds="${1:-600}"
shift || true
if [ "$seconds" = "--coverage" ]; then
    mode=coverage
fi

# --- clang and its runtime (libFuzzer, sanitizers) ------------------------------------------
need=()
command -v clang++ >/dev/null 2>&1 || need+=(clang)
if ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
    need+=(libclang-rt-14-dev)
fi
if [ "${#need[@]}" -gt 0 ]; then
    echo "== fuzz.sh: installing ${need[*]}"
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update ||
        { echo "fuzz.sh: apt-get update failed" >&2; exit 2; }
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" ||
        { echo "fuzz.sh: cannot install ${need[*]}" >&2; exit 2; }
fi

# --- coverage: replay the kept corpus through an instrumented build ------------------------------
if [ "$mode" = coverage ]; then
    cov=build-fuzz-cov
    llvm_bin="$(dirname "$(readlink -f "$(command -v clang++)")")"
    [ -d "$build/corpus" ] || { echo "fuzz.sh: no corpus in $build/corpus; fuzz first" >&2; exit 2; }
    echo "== fuzz.sh: building $cov/tests/fuzz_config_replay with source-based coverage"
    cmake -S . -B "$cov" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
        -DCMAKE_CXX_COMPILER=clang++ -DCHOKEPOINT_PYTHON_TESTS=OFF \
        "-DCMAKE_CXX_FLAGS=-fprofile-instr-generate -fcoverage-mapping" >/dev/null ||
        { echo "fuzz.sh: cmake configure failed" >&2; exit 2; }
    cmake --build "$cov" --target fuzz_config_replay -j"$(nproc)" >/dev/null ||
        { echo "fuzz.sh: build failed" >&2; exit 2; }
    rm -f "$cov"/replay-*.profraw
    LLVM_PROFILE_FILE="$root/$cov/replay-%p.profraw" "$cov/tests/fuzz_config_replay" \
        "$build/corpus" configs tests/fuzz/seeds tests/fuzz/crashes 2>/dev/null | tail -1
    "$llvm_bin/llvm-profdata" merge -o "$cov/replay.profdata" "$cov"/replay-*.profraw
    "$llvm_bin/llvm-cov" report "$cov/tests/fuzz_config_replay" -instr-profile="$cov/replay.profdata" \
        src/config/config.cpp src/model/distribution.cpp src/engine/simulate.cpp src/engine/allocation.cpp src/engine/lp.cpp
    exit 0
fi

# --- build ------------------------------------------------------------------------------------
echo "== fuzz.sh: building $build/fuzz_$target (clang, -fsanitize=fuzzer,address,undefined)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DCHOKEPOINT_FUZZ=ON -DCHOKEPOINT_BUILD_TESTS=OFF >/dev/null ||
    { echo "fuzz.sh: cmake configure failed" >&2; exit 2; }
targets=(--target "fuzz_$target")
[ "$target" = checkpoint ] && targets+=(--target chokepoint)
cmake --build "$build" "${targets[@]}" -j"$(nproc)" || { echo "fuzz.sh: build failed" >&2; exit 2; }

if [ "$target" = checkpoint ]; then
    corpus="$build/corpus-checkpoint" seeds="$build/seeds-checkpoint"
    artifacts="$build/artifacts-checkpoint" log="$build/fuzz-checkpoint.log"
    mkdir -p "$corpus" "$seeds" "$artifacts"
    rm -f "$seeds/"*
    # Small files: a short horizon, no monthly data, blocks of 10 trials.
    sed -e 's/^  horizon_months: 24.*/  horizon_months: 6\n  store_monthly: false\n  block_size: 10/' \
        configs/examples/tiny.yaml >"$seeds/small.yaml"
    export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
    for k in 1 2; do
        "$build/chokepoint" run "$seeds/small.yaml" -o "$seeds/shard$k.h5" --shard "$k/2" \
            --trials 40 -q || { echo "fuzz.sh: cannot write seed shards" >&2; exit 2; }
    done
    "$build/chokepoint" run "$seeds/small.yaml" -o "$seeds/ckpt.h5" --trials 1000000 --threads 1 \
        --checkpoint-every 0.001 -q &
    pid=$!
    sleep 3
    kill -TERM "$pid"
    wait "$pid" || true
    [ -f "$seeds/ckpt.h5.checkpoint" ] || { echo "fuzz.sh: no seed checkpoint" >&2; exit 2; }
    rm -f "$seeds/small.yaml" "$seeds/ckpt.h5"
    for f in tests/fuzz/checkpoint_crashes/*; do
        [ -f "$f" ] && case "$f" in *.md) ;; *) cp "$f" "$seeds/" ;; esac
    done
    echo "== fuzz.sh: $(ls "$seeds" | wc -l) seed files, $(ls "$corpus" | wc -l) in the kept corpus"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
    echo "== fuzz.sh: fuzzing read_stored_run for ${seconds} s (log: $log)"
    set +e
    "$build/fuzz_checkpoint" "$corpus" "$seeds" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -max_len=400000 -artifact_prefix="$artifacts/" -print_final_stats=1 \
        -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 "$@" >"$log" 2>&1
    rc=$?
    set -e
    grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true
    grep -E '^stat::|^INFO: exiting' "$log" || true
    findings=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
        -o -name 'oom-*' -o -name 'slow-unit-*' \) | sort)
    if [ "$rc" -ne 0 ] || [ -n "$findings" ]; then
        echo "== fuzz.sh: FINDINGS (libFuzzer exit $rc); see $log" >&2
        [ -n "$findings" ] && echo "$findings" >&2
        echo "  reproduce: $build/fuzz_checkpoint <file>; keep it: cp <file> tests/fuzz/checkpoint_crashes/" >&2
        exit 1
    fi
    echo "== fuzz.sh: no findings"
    exit 0
fi

# --- corpus -----------------------------------------------------------------------------------
mkdir -p "$build/corpus" "$build/seeds" "$build/artifacts"
rm -f "$build/seeds/"*
for f in configs/*.yaml configs/examples/*.yaml tests/data/*.yaml tests/bad_configs/*.yaml \
         tests/fuzz/seeds/* tests/fuzz/crashes/*; do
    [ -f "$f" ] || continue
    case "$f" in *.md) continue ;; esac
    cp "$f" "$build/seeds/$(echo "$f" | tr '/' '_')"
done
echo "== fuzz.sh: $(ls "$build/seeds" | wc -l) seed inputs, $(ls "$build/corpus" | wc -l) in the kept corpus"

# --- fuzz -------------------------------------------------------------------------------------
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
echo "== fuzz.sh: fuzzing for ${seconds} s (log: $build/fuzz.log)"
set +e
"$build/fuzz_config" "$build/corpus" "$build/seeds" \
    -dict=tests/fuzz/config.dict -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -artifact_prefix="$build/artifacts/" -print_final_stats=1 \
    -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 "$@" \
    >"$build/fuzz.log" 2>&1
rc=$?
set -e
# fork mode: the last status line holds executions, coverage and crash counts
grep -E '^#[0-9]+: cov:' "$build/fuzz.log" | tail -1 || true
grep -E '^stat::|^INFO: exiting' "$build/fuzz.log" || true

findings=$(find "$build/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
    -o -name 'oom-*' -o -name 'slow-unit-*' \) | sort)
if [ "$rc" -ne 0 ] || [ -n "$findings" ]; then
    echo "== fuzz.sh: FINDINGS (libFuzzer exit $rc); see $build/fuzz.log" >&2
    [ -n "$findings" ] && echo "$findings" >&2
    echo "  reproduce: $build/fuzz_config <file>; keep it: cp <file> tests/fuzz/crashes/" >&2
    exit 1
fi
echo "== fuzz.sh: no findings"
