#!/usr/bin/env bash
# Install the Debian/Ubuntu packages chokepoint needs to build, test, plot and benchmark.
# Only missing packages are installed (checked with dpkg-query); `apt-get update` runs once,
# and only when something is missing. Uses sudo when not root.
# Set CHOKEPOINT_SKIP_DEPS=1 to skip this step (e.g. on a machine you manage yourself).
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config
    libtbb-dev libboost-dev libboost-math-dev libhdf5-dev zlib1g-dev catch2 libyaml-cpp-dev libcli11-dev
    libbenchmark-dev libjemalloc-dev
    coinor-libclp-dev
    openmpi-bin
    libopenmpi-dev
    python3 python3-h5py python3-numpy python3-matplotlib python3-xarray python3-h5netcdf
    python3-jsonschema python3-yaml
    python3-scipy
    python3-pip python3-setuptools python3-wheel python3-venv
    time
    clang-format
    slurm-wlm munge
    chromium fonts-dejavu-core
)

if [ "${CHOKEPOINT_SKIP_DEPS:-0}" = "1" ]; then
    echo "install_deps.sh: CHOKEPOINT_SKIP_DEPS=1, not checking system packages"
    exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_deps.sh: warning: not a Debian/Ubuntu system (no dpkg-query/apt-get);" >&2
    echo "  install the equivalents of these packages yourself: ${PACKAGES[*]}" >&2
    exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
    if [ "$status" != "installed" ]; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install_deps.sh: all ${#PACKAGES[@]} required packages are installed"
    exit 0
fi

echo "install_deps.sh: installing missing packages: ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install_deps.sh: error: not root and sudo is not available; as root run:" >&2
        echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update; then
    echo "install_deps.sh: error: apt-get update failed" >&2
    exit 1
fi
if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; then
    echo "install_deps.sh: error: apt-get install failed for: ${missing[*]}" >&2
    exit 1
fi
echo "install_deps.sh: installed ${missing[*]}"
