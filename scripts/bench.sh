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

rows=() phases=() finish_lines=()
for trials in $trials_list; do
    for threads in $threads_list; do
        echo "== bench.sh: $trials trials, $threads thread(s)"
        status=0
        CHOKEPOINT_STATS=1 /usr/bin/time -v -o "$tmp/time.txt" \
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
        # "phases: setup S s, pipeline P s (writer stage, serial, W s; C chunks ...), finish F s"
        read -r ph_setup ph_pipe ph_writer ph_finish < <(awk '/^phases:/ {
            gsub(/[,();]/, " "); print $3, $6, $11, $(NF - 1) }' "$tmp/log.txt")
        phases+=("$trials $threads ${ph_setup:-0} ${ph_pipe:-0} ${ph_writer:-0} ${ph_finish:-0}")
        # "finish: statistics S s, distribution D s, bands B s, differences X s, ..."
        finish_lines+=("$(printf '%10s %8s  ' "$trials" "$threads")$(sed -n 's/^finish: //p' "$tmp/log.txt")")
        rows+=("$(printf '%10s %8s %10s %12s %14s %10.3f %10.3f' "$trials" "$threads" "$secs" \
            "$rate" "$rss_mib" "${ph_writer:-0}" "${ph_finish:-0}")")
        rm -f "$tmp/bench.h5"
    done
done

echo
echo "config: $config   ($(nproc) CPUs; output written to a temporary file and deleted)"
printf '%10s %8s %10s %12s %14s %10s %10s\n' "trials" "threads" "seconds" "trials/s" \
    "peak RSS MiB" "writer s" "finish s"
for r in "${rows[@]}"; do
    echo "$r"
done
echo "the summary's phases (finish s, split):"
printf '%10s %8s  %s\n' "trials" "threads" "phases"
for r in "${finish_lines[@]}"; do
    echo "$r"
done
# Issue 13, target 4: efficiency at 16 threads, estimated (not measured) from the phases of a
# 1- and a 2-thread run of the same trials: the summary's serial part s = 2 F2 - F1 and its
# parallel part F1 - s; the pipeline (P1 on one thread) scaling perfectly but no faster than its
# serial writer stage (W1); T16 = setup + max(P1 / 16, W1) + s + (F1 - s) / 16.
printf '%s\n' "${phases[@]}" | awk '
    { key = $1; if ($2 == 1) { one[key] = $0 } else if ($2 == 2) { two[key] = $0 } }
    END {
        for (k in one) if (k in two) {
            split(one[k], a, " "); split(two[k], b, " ")
            s = 2 * b[6] - a[6]; if (s < 0) s = 0; if (s > a[6]) s = a[6]
            pipe = a[4] / 16; if (a[5] > pipe) pipe = a[5]
            t1 = a[3] + a[4] + a[6]; t16 = a[3] + pipe + s + (a[6] - s) / 16
            printf "%s trials: serial summary ~%.2f s of %.2f s, writer stage %.2f s; " \
                   "estimated 16-thread efficiency %.0f%% (an estimate from the 1- and 2-thread " \
                   "phases, not a measurement)\n", k, s, a[6], a[5], 100 * t1 / (16 * t16)
        }
    }'

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
