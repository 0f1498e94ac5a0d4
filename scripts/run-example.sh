#!/usr/bin/env bash
# From a fresh machine: dependencies, configure, build the classifier example, train it on data it
# makes itself, and print where the run directory, best checkpoint and images are.
# Extra arguments go to the example, e.g. --epochs 10 --device cuda.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup-deps.sh
build=${BUILD_DIR:-build}
torch_prefix=$(.venv/bin/python -c 'import torch; print(torch.utils.cmake_prefix_path)')
echo "[example] configuring $build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} \
  -DCMAKE_PREFIX_PATH="$torch_prefix" -DTRAINSCOPE_PYTHON="$root/.venv/bin/python"
echo "[example] building the classifier example"
cmake --build "$build" --target classifier -j "${JOBS:-$(nproc)}"
echo "[example] training (runs go to $root/runs)"
"$build/examples/trainscope_example_classifier" --root "$root/runs" "$@"
