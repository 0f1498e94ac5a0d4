#!/usr/bin/env bash
# Configures and builds trainscope into build/ (or $BUILD_DIR) against .venv's libtorch.
# Extra arguments go to cmake's configure step, e.g. -DTRAINSCOPE_CUDA=OFF.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BUILD_DIR:-build}
torch_prefix=$(.venv/bin/python -c 'import torch; print(torch.utils.cmake_prefix_path)')
jobs=${JOBS:-$(nproc)}
echo "[build] configuring $build (libtorch from $torch_prefix)"
# TRAINSCOPE_CUDA is always passed: a build/ first configured by scripts/run-example.sh (CUDA off
# without a GPU) then still builds the kernels for the tests. Arguments given here win.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} \
  -DCMAKE_PREFIX_PATH="$torch_prefix" -DTRAINSCOPE_PYTHON="$root/.venv/bin/python" \
  -DTRAINSCOPE_CUDA=AUTO "$@"
echo "[build] building with $jobs jobs"
cmake --build "$build" -j "$jobs"
