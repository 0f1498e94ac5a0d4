#!/usr/bin/env bash
# The GPU runner's job, in one call: build Release with CUDA, run every test (gpu label included),
# run the benchmarks and the Python anchors side by side, and leave logs and results under $OUT.
# Prepare on the development machine:  ../shared/device/pack-deps.sh   (fills .devdeps/)
# Then on the runner, with .devdeps carried:  bash scripts/gpu-check.sh
# At most 8 files come back from $OUT; this script writes exactly: build.log, ctest.log,
# ctest-gpu.log, bench.json, bench.md, anchors.json, anchors.log, summary.txt.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-$root/gpu-check-out}
mkdir -p "$out"
summary="$out/summary.txt"
: > "$summary"
note() { echo "[gpu-check] $*" | tee -a "$summary"; }

if [ -f .devdeps/env.sh ]; then
  # shellcheck disable=SC1091
  source .devdeps/env.sh
else
  note "no .devdeps/ (run ../shared/device/pack-deps.sh here first and carry .devdeps)"
  TORCH_PREFIX=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
fi
note "host: $(hostname); $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
note "torch: $(python3 -c 'import torch; print(torch.__version__, torch.version.cuda)' 2>&1)"
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
build=build-gpu
start=$(date +%s)
{
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTRAINSCOPE_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" -DTRAINSCOPE_PYTHON="$(command -v python3)" \
    ${CURL_INCLUDE_DIR:+-DCURL_INCLUDE_DIR=$CURL_INCLUDE_DIR} \
    -DCMAKE_PREFIX_PATH="${CMAKE_PREFIX_PATH:-$TORCH_PREFIX}" &&
  cmake --build "$build" -j "$(nproc)"
} > "$out/build.log" 2>&1
rc=$?
note "build: rc=$rc in $(( $(date +%s) - start ))s"
[ $rc -eq 0 ] || { tail -40 "$out/build.log"; exit $rc; }

# GPU tests first, serially (they share one card); then everything else that needs no network.
ctest --test-dir "$build" -L gpu --output-on-failure --timeout 300 > "$out/ctest-gpu.log" 2>&1
note "ctest -L gpu: rc=$? — $(grep -E 'tests passed|tests failed' "$out/ctest-gpu.log" | tail -1)"
ctest --test-dir "$build" -LE gpu --output-on-failure -j 8 --timeout 300 > "$out/ctest.log" 2>&1
note "ctest -LE gpu: rc=$? — $(grep -E 'tests passed|tests failed' "$out/ctest.log" | tail -1)"

if [ -x "$build/bench/trainscope_bench" ]; then
  "$build/bench/trainscope_bench" --out-dir "$out" > "$out/bench.log" 2>&1
  note "bench: rc=$? ($(ls "$out" | grep -c bench) files)"
  cat "$out/bench.md" 2>/dev/null | tee -a "$summary"
  rm -f "$out/bench.log"
else
  note "bench: $build/bench/trainscope_bench not built"
fi
if [ -f .devdeps/anchors.py ]; then
  OUT="$out" python3 .devdeps/anchors.py > "$out/anchors.log" 2>&1
  note "anchors.py: rc=$?"
fi
note "total: $(( $(date +%s) - start ))s"
