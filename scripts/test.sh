#!/usr/bin/env bash
# The whole test suite from a fresh machine: dependencies, configure, build, ctest.
# GPU tests carry the label `gpu` and are reported as skipped where no CUDA device is present.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup-deps.sh
bash scripts/configure.sh
echo "[test] ctest"
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "${JOBS:-$(nproc)}" --timeout 900
