#!/usr/bin/env bash
# Submit a sharded chokepoint run to SLURM: a job array of SHARDS tasks (array.sbatch), then a
# merge job (merge.sbatch) that starts when every task has succeeded.
#
#   scripts/slurm/submit.sh CONFIG OUTDIR [SHARDS]      # SHARDS default 8
#
# Writes OUTDIR/shard-K-of-N.h5 (K = 1..N), OUTDIR/result.h5 (or CHOKEPOINT_RESULT) and the job
# logs in OUTDIR/logs/. The config is checked with `chokepoint validate` first, so a bad config
# fails here, not on the cluster.
#
# Environment (all optional):
#   CHOKEPOINT_BIN        chokepoint executable (default: chokepoint on PATH); resolved to an
#                         absolute path, which must be valid on the compute nodes too
#   CHOKEPOINT_RUN_ARGS   extra `chokepoint run` options for every shard, e.g.
#                         "--trials 1000000 --seed 7 --checkpoint-every 600"
#   CHOKEPOINT_RESULT     merged file (default OUTDIR/result.h5)
#   CHOKEPOINT_CONTINUE   1: OUTDIR already holds shards of this run; finished shards are skipped,
#                         checkpointed ones resumed (without it, existing shard files are refused)
#   CHOKEPOINT_OVERWRITE  1: the merge replaces an existing result file
#   CHOKEPOINT_MAX_RUNNING  run at most this many array tasks at once (--array=1-N%M)
#   CHOKEPOINT_SBATCH_ARGS        extra sbatch options for both jobs, split on spaces,
#                                 e.g. "--account=proj --partition=batch"
#   CHOKEPOINT_ARRAY_SBATCH_ARGS  extra sbatch options for the array only,
#                                 e.g. "--time=12:00:00 --cpus-per-task=32 --mem=32G"
#   CHOKEPOINT_MERGE_SBATCH_ARGS  extra sbatch options for the merge only
# sbatch's own input variables (SBATCH_ACCOUNT, SBATCH_PARTITION, ...) apply to both jobs too.
set -euo pipefail

prog="submit.sh"
say() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { local code=$1; shift; say "error: $*"; exit "$code"; }
usage() {
    echo "usage: scripts/slurm/submit.sh CONFIG OUTDIR [SHARDS]   (SHARDS default 8)" >&2
    exit 2
}

if [ $# -lt 2 ] || [ $# -gt 3 ]; then usage; fi
case "$1" in -h | --help) usage ;; esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
config="$1"
outdir="$2"
shards="${3:-8}"

case "$shards" in
    '' | *[!0-9]* | 0) die 2 "SHARDS must be a positive integer, got '$shards'" ;;
esac
[ -f "$config" ] || die 2 "config file '$config' not found"
command -v sbatch >/dev/null 2>&1 || die 1 "sbatch not found: run this on a SLURM login node"

bin="${CHOKEPOINT_BIN:-chokepoint}"
bin_path="$(command -v "$bin" 2>/dev/null)" || die 2 "chokepoint executable '$bin' not found (set CHOKEPOINT_BIN)"
case "$bin_path" in
    /*) ;;
    *) die 2 "'$bin' is not an executable file (set CHOKEPOINT_BIN to the chokepoint binary)" ;;
esac

# absolute paths: the jobs may start in another directory
config="$(cd "$(dirname "$config")" && pwd)/$(basename "$config")"
say "validating $config"
if ! "$bin_path" validate "$config" >/dev/null; then
    die 2 "config rejected by chokepoint validate (message above); nothing submitted"
fi

mkdir -p "$outdir/logs"
outdir="$(cd "$outdir" && pwd)"
result="${CHOKEPOINT_RESULT:-$outdir/result.h5}"
case "$result" in /*) ;; *) result="$(pwd)/$result" ;; esac

# values travel in --export=ALL,NAME=value,...: a comma would split them
for v in "$config" "$outdir" "$result" "$bin_path"; do
    case "$v" in *,*) die 2 "path '$v' contains a comma, which sbatch --export cannot pass" ;; esac
done

# shard files from an earlier submission
shopt -s nullglob
existing=("$outdir"/shard-*-of-*.h5 "$outdir"/shard-*-of-*.h5.checkpoint)
shopt -u nullglob
if [ "${#existing[@]}" -gt 0 ]; then
    other=()
    for f in "${existing[@]}"; do
        base="${f##*/}"
        case "$base" in
            *-of-"$shards".h5 | *-of-"$shards".h5.checkpoint) ;;
            *) other+=("$base") ;;
        esac
    done
    if [ "${#other[@]}" -gt 0 ]; then
        die 2 "$outdir holds shard files of another shard count: ${other[*]}; use another OUTDIR or delete them"
    fi
    if [ "${CHOKEPOINT_CONTINUE:-0}" != "1" ]; then
        die 2 "$outdir already holds ${#existing[@]} shard file(s) or checkpoint(s) (e.g. ${existing[0]##*/}); to continue that run set CHOKEPOINT_CONTINUE=1 (same config and options!), otherwise use another OUTDIR or delete them"
    fi
    say "continuing: finished shards are skipped, checkpoints resumed (${#existing[@]} file(s) present)"
fi
if [ -e "$result" ] && [ "${CHOKEPOINT_OVERWRITE:-0}" != "1" ]; then
    die 2 "$result exists; the merge would refuse it: remove it, set CHOKEPOINT_RESULT, or set CHOKEPOINT_OVERWRITE=1"
fi

# extra sbatch options, split on blanks (no quoting inside)
common=() array_extra=() merge_extra=()
[ -z "${CHOKEPOINT_SBATCH_ARGS:-}" ] || read -r -a common <<<"$CHOKEPOINT_SBATCH_ARGS"
[ -z "${CHOKEPOINT_ARRAY_SBATCH_ARGS:-}" ] || read -r -a array_extra <<<"$CHOKEPOINT_ARRAY_SBATCH_ARGS"
[ -z "${CHOKEPOINT_MERGE_SBATCH_ARGS:-}" ] || read -r -a merge_extra <<<"$CHOKEPOINT_MERGE_SBATCH_ARGS"

range="1-$shards"
if [ -n "${CHOKEPOINT_MAX_RUNNING:-}" ]; then
    case "$CHOKEPOINT_MAX_RUNNING" in
        *[!0-9]* | 0) die 2 "CHOKEPOINT_MAX_RUNNING must be a positive integer" ;;
    esac
    range="$range%$CHOKEPOINT_MAX_RUNNING"
fi

stem="$(basename "$config")"
stem="${stem%.*}"

array_out="$(sbatch --parsable \
    --array="$range" \
    --job-name="chokepoint-$stem" \
    --output="$outdir/logs/shard-%a-of-$shards.log" \
    --open-mode=append \
    --export="ALL,CHOKEPOINT_CONFIG=$config,CHOKEPOINT_OUTDIR=$outdir,CHOKEPOINT_SHARDS=$shards,CHOKEPOINT_BIN=$bin_path" \
    "${common[@]}" "${array_extra[@]}" \
    "$here/array.sbatch")" || die 1 "sbatch of the array failed"
array_id="${array_out%%;*}" # --parsable prints "jobid" or "jobid;cluster"
case "$array_id" in '' | *[!0-9]*) die 1 "unexpected sbatch output: '$array_out'" ;; esac

merge_out="$(sbatch --parsable \
    --dependency="afterok:$array_id" \
    --kill-on-invalid-dep=yes \
    --job-name="chokepoint-$stem-merge" \
    --output="$outdir/logs/merge-%j.log" \
    --export="ALL,CHOKEPOINT_OUTDIR=$outdir,CHOKEPOINT_SHARDS=$shards,CHOKEPOINT_RESULT=$result,CHOKEPOINT_BIN=$bin_path" \
    "${common[@]}" "${merge_extra[@]}" \
    "$here/merge.sbatch")" || die 1 "sbatch of the merge failed (array job $array_id is queued; cancel it with: scancel $array_id)"
merge_id="${merge_out%%;*}"

echo "array job $array_id: $shards shards of $config -> $outdir/shard-K-of-$shards.h5 (logs: $outdir/logs/shard-K-of-$shards.log)"
echo "merge job $merge_id: -> $result after all shards succeed (log: $outdir/logs/merge-$merge_id.log)"
