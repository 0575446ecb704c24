#!/usr/bin/env bash
# Checks that every C++ source of the tree is clang-formatted (.clang-format); lists the files
# that are not and exits 1. `scripts/check_format.sh --fix` formats them in place.
# Exit 77 (skipped) when clang-format is not installed (scripts/install_deps.sh installs it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v clang-format >/dev/null 2>&1; then
    echo "check_format.sh: clang-format not installed: skipped" >&2
    exit 77
fi
mapfile -t files < <(find src tests -name '*.cpp' -o -name '*.hpp' | sort)
if [ "${1:-}" = "--fix" ]; then
    clang-format -i "${files[@]}"
    echo "check_format.sh: formatted ${#files[@]} files"
    exit 0
fi
bad=()
for f in "${files[@]}"; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
        bad+=("$f")
    fi
done
if [ "${#bad[@]}" -gt 0 ]; then
    echo "check_format.sh: ${#bad[@]} of ${#files[@]} files are not clang-formatted:" >&2
    printf '  %s\n' "${bad[@]}" >&2
    echo "run scripts/check_format.sh --fix (clang-format $(clang-format --version | grep -o '[0-9][0-9.]*' | head -1))" >&2
    exit 1
fi
echo "check_format.sh: all ${#files[@]} C++ files are clang-formatted"
