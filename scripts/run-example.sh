#!/usr/bin/env bash
# From a fresh machine: dependencies, configure, build the classifier example (and the rest of
# what `cmake --install` installs), train it on data it makes itself, and print where the run
# directory, best checkpoint and images are.
# Extra arguments go to the example, e.g. --epochs 10 --device cuda.
#
# CUDA is built only for a GPU that is present: without one (nvidia-smi missing or listing no GPU)
# the kernels are left out (-DTRAINSCOPE_CUDA=OFF; the CPU paths give identical results), with one
# only its architecture is compiled. The build goes to build/ unless build/ was configured
# differently (e.g. by scripts/test.sh); then to build-example/, so neither undoes the other.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup-deps.sh

gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
if [ "${gpus:-0}" -gt 0 ]; then
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' ')
  arch=${cap/./}
  cuda_args=(-DTRAINSCOPE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch")
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$cap}
  echo "[example] GPU found (compute capability $cap): CUDA kernels for sm_$arch only"
else
  cuda_args=(-DTRAINSCOPE_CUDA=OFF)
  arch=
  echo "[example] no GPU found (nvidia-smi lists none): building without CUDA, training on the CPU"
fi

# build/ if it is new or configured like this; otherwise build-example/.
cached() { sed -n "s/^$1:[A-Z]*=//p" "build/CMakeCache.txt" 2>/dev/null; }
want_cuda=${cuda_args[0]#-DTRAINSCOPE_CUDA=}
if [ -n "${BUILD_DIR:-}" ]; then
  build=$BUILD_DIR
elif [ ! -f build/CMakeCache.txt ] ||
     { [ "$(cached TRAINSCOPE_CUDA)" = "$want_cuda" ] &&
       { [ -z "$arch" ] || [ "$(cached CMAKE_CUDA_ARCHITECTURES)" = "$arch" ]; }; }; then
  build=build
else
  build=build-example
  echo "[example] build/ is configured differently (TRAINSCOPE_CUDA=$(cached TRAINSCOPE_CUDA)); using $build/"
fi

torch_prefix=$(.venv/bin/python -c 'import torch; print(torch.utils.cmake_prefix_path)')
echo "[example] configuring $build (${cuda_args[*]})"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} \
  -DCMAKE_PREFIX_PATH="$torch_prefix" -DTRAINSCOPE_PYTHON="$root/.venv/bin/python" "${cuda_args[@]}"
# The example, and the command-line tool: with it, every installed target is built, so
# `cmake --install $build` works after this job.
echo "[example] building the classifier example and the trainscope tool"
cmake --build "$build" --target classifier trainscope_cli -j "${JOBS:-$(nproc)}"
echo "[example] training (runs go to $root/runs)"
"$build/examples/trainscope_example_classifier" --root "$root/runs" "$@"
