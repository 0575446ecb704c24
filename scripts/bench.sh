#!/usr/bin/env bash
# Benchmark (not a test): build Release, then time `chokepoint run` on a config at a few trial
# counts and thread counts; print wall time, throughput and peak resident memory.
#
#   scripts/bench.sh [CONFIG]          default configs/critical_materials.yaml
#   BENCH_TRIALS="10000 40000" BENCH_THREADS="1 2" scripts/bench.sh
#   BENCH_CF_TRIALS=200000 scripts/bench.sh           trials of the closed-form chain vs numpy
#   BENCH_ARGS="--scenario baseline" scripts/bench.sh   extra `chokepoint run` options (here: the
#                                                       baseline only; a trial of a study with S
#                                                       scenarios simulates S + 1 models)
#
# Output files go to a temporary directory that is deleted afterwards.
set -euo pipefail

caller_pwd="$(pwd)"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

config="${1:-configs/critical_materials.yaml}"
case "$config" in
    /*) ;;
    *) if [ -f "$caller_pwd/$config" ]; then config="$caller_pwd/$config"; fi ;;
esac
if [ ! -f "$config" ]; then
    echo "bench.sh: error: config file not found: $config" >&2
    exit 2
fi
trials_list="${BENCH_TRIALS:-10000 40000}"
threads_list="${BENCH_THREADS:-1 2}"
read -r -a extra_args <<<"${BENCH_ARGS:-}"

echo "== bench.sh: checking system packages"
bash scripts/install_deps.sh
if [ ! -x /usr/bin/time ]; then
    echo "bench.sh: error: /usr/bin/time not found (Debian package: time)" >&2
    exit 1
fi

echo "== bench.sh: configuring and building (Release) in build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCHOKEPOINT_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/chokepoint-bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

rows=()
for trials in $trials_list; do
    for threads in $threads_list; do
        echo "== bench.sh: $trials trials, $threads thread(s)"
        status=0
        /usr/bin/time -v -o "$tmp/time.txt" \
            build/chokepoint run "$config" -o "$tmp/bench.h5" --overwrite \
            --trials "$trials" --threads "$threads" -q "${extra_args[@]}" >"$tmp/log.txt" 2>&1 ||
            status=$?
        if [ "$status" -ne 0 ]; then
            echo "bench.sh: error: chokepoint run failed (exit $status); its output:" >&2
            cat "$tmp/log.txt" >&2
            cat "$tmp/time.txt" >&2 || true
            exit 1
        fi
        # "Elapsed (wall clock) time (h:mm:ss or m:ss): 1:02.34"
        secs="$(awk -F': ' '/Elapsed \(wall clock\)/ {
                    n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i];
                    printf "%.2f", s }' "$tmp/time.txt")"
        rss_kb="$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tmp/time.txt")"
        rate="$(awk -v t="$trials" -v s="$secs" 'BEGIN { if (s > 0) printf "%.0f", t / s; else print "inf" }')"
        rss_mib="$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')"
        rows+=("$(printf '%10s %8s %10s %12s %14s' "$trials" "$threads" "$secs" "$rate" "$rss_mib")")
        rm -f "$tmp/bench.h5"
    done
done

echo
echo "config: $config   ($(nproc) CPUs; output written to a temporary file and deleted)"
printf '%10s %8s %10s %12s %14s\n' "trials" "threads" "seconds" "trials/s" "peak RSS MiB"
for r in "${rows[@]}"; do
    echo "$r"
done

# The closed-form chain (issue 13, target 3): chokepoint and the vectorised numpy script of the
# same model, each on one core, timed side by side as whole processes (start-up, file output and
# the summary included for chokepoint; interpreter start-up and imports for numpy); then whether
# their statistics agree.
if [ -z "${BENCH_SKIP_CLOSED_FORM:-}" ]; then
    # shellcheck source=scripts/find_python.sh
    . scripts/find_python.sh
    cf_trials="${BENCH_CF_TRIALS:-200000}"
    cf_cfg=scripts/bench/closed_form_chain.yaml
    echo
    echo "== bench.sh: closed-form chain, $cf_trials trials, one core each (BENCH_SKIP_CLOSED_FORM=1 skips)"
    wall() { awk -F': ' '/Elapsed \(wall clock\)/ {
                 n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i];
                 printf "%.2f", s }' "$1"; }
    cf_c=() cf_n=()
    for rep in 1 2 3; do # alternate the two, three times: this machine's speed drifts
        /usr/bin/time -v -o "$tmp/time_c.txt" build/chokepoint run "$cf_cfg" -o "$tmp/cf.h5" \
            --overwrite --trials "$cf_trials" --threads 1 -q >"$tmp/log.txt" 2>&1 || {
            cat "$tmp/log.txt" >&2
            exit 1
        }
        /usr/bin/time -v -o "$tmp/time_n.txt" "$PY" scripts/bench/closed_form_numpy.py \
            --trials "$cf_trials" --seed "$rep" >"$tmp/numpy.json"
        cf_c+=("$(wall "$tmp/time_c.txt")")
        cf_n+=("$(wall "$tmp/time_n.txt")")
        echo "  run $rep: chokepoint ${cf_c[-1]} s, numpy ${cf_n[-1]} s"
    done
    best() { printf '%s\n' "$@" | sort -g | head -1; }
    bc_="$(best "${cf_c[@]}")" bn_="$(best "${cf_n[@]}")"
    awk -v t="$cf_trials" -v c="$bc_" -v n="$bn_" 'BEGIN {
        printf "closed-form chain, one core, best of 3: chokepoint %.0f trials/s, numpy %.0f trials/s\n", t / c, t / n
        printf "ratio chokepoint / numpy per core: %.2f (issue 13 target: >= 3)\n", n / c }'
    "$PY" scripts/bench/compare_closed_form.py "$tmp/cf.h5" "$tmp/numpy.json"
fi

# Per-chain single-thread figures and where the time goes (LPs, cold solves and pivots per trial).
if [ -x build/bench_engine ] && [ -z "${BENCH_SKIP_MICRO:-}" ]; then
    echo
    echo "== bench.sh: micro-benchmarks (one thread; BENCH_SKIP_MICRO=1 skips them)"
    build/bench_engine --benchmark_min_time=1
fi
