#!/usr/bin/env bash
# Download the wheels named in scripts/gpu-wheels.txt (CPython 3.12, manylinux x86-64) into a
# wheelhouse, default .whl/ at the repo root, for scripts/gpu-check.sh on the GPU machine.
# Usage: bash scripts/gpu-wheels.sh [DEST]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${1:-$here/../.whl}"
mkdir -p "$dest"
mapfile -t wheels < <(grep -Ev '^\s*(#|$)' "$here/gpu-wheels.txt")
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 -d "$dest" "${wheels[@]}"
du -sh "$dest"
