#!/usr/bin/env bash
# The GPU runner's job in one call of at most 8 minutes, ordered by value, each step under its own
# timeout, results written to $OUT as they come (a failing step keeps its log tail and the later
# steps still run):
#   1. the GPU tests, serially, each binary under a timeout          → gpu-tests.log
#   2. the benchmark, every case, both tensor sets (histograms under both schedules, side by side)
#                                                                     → bench.json, bench.md
#   3. the Python anchors, re-measured on this card                   → anchors.json
#   4. compute-sanitizer memcheck and racecheck on a subset of tests  → sanitizer.log
#   5. the training-step overhead anchor (wandb.watch-style, Python)  → overhead.json
# Step output goes to steps.log and the verdicts to summary.txt: 8 files at most.
#
# Prepared here (no compile time on the device):  bash scripts/gpu-pack.sh   (fills .gpu-pack/)
# then one device call carrying .gpu-pack:        bash scripts/gpu-check.sh
# Without .gpu-pack/ it falls back to building on the runner (carry .devdeps from
# ../shared/device/pack-deps.sh): only the targets the check needs, examples off.
#
#   --dry-run  here, without a GPU: builds the pack if needed, checks its size, that every binary
#              resolves its libraries and starts (--gtest_list_tests), that the binaries list
#              every GPU test the sources define, and walks the steps with the GPU ones skipped.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dry=0
[ "${1:-}" = "--dry-run" ] && dry=1
out=${OUT:-$root/gpu-check-out}
mkdir -p "$out"
pack=${PACK_DIR:-$root/.gpu-pack}
summary="$out/summary.txt"
steps="$out/steps.log"
: > "$summary"
: > "$steps"
failures=0
note() { echo "[gpu-check] $*" | tee -a "$summary"; }
fail() { note "FAIL: $*"; failures=$((failures + 1)); }
# step NAME SECONDS COMMAND...: runs under a timeout, output appended to steps.log; on failure the
# tail of its output goes into the summary.
step() {
  local name=$1 seconds=$2; shift 2
  local start=$(date +%s) rc
  echo "===== $name ($(date -u +%H:%M:%S), limit ${seconds}s): $*" >> "$steps"
  timeout --kill-after=10 "$seconds" "$@" > "$out/.step.log" 2>&1
  rc=$?
  cat "$out/.step.log" >> "$steps"
  if [ $rc -eq 0 ]; then
    note "$name: ok in $(( $(date +%s) - start ))s"
  else
    [ $rc -eq 124 ] && fail "$name: timed out after ${seconds}s" || fail "$name: rc=$rc after $(( $(date +%s) - start ))s"
    tail -25 "$out/.step.log" | sed 's/^/    /' >> "$summary"
  fi
  rm -f "$out/.step.log"
  return $rc
}
skip() { note "$1: skipped ($2)"; }

python=python3
[ $dry -eq 1 ] && [ -x .venv/bin/python ] && python=.venv/bin/python
note "$( [ $dry -eq 1 ] && echo "dry run on" || echo "device call on") $(hostname), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
if command -v nvidia-smi > /dev/null; then
  note "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | head -1)"
fi
note "torch: $($python -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -1)"
torch_lib=$($python -c 'import os, torch; print(os.path.join(torch.__path__[0], "lib"))' 2>/dev/null)

# ---- 0. the binaries: the pack, or a build on the runner ----------------------------------
if [ $dry -eq 1 ] && { [ ! -d "$pack/bin" ] || [ -n "${GPU_PACK_ARGS+set}" ]; }; then
  # shellcheck disable=SC2086
  step "pack" 1500 env PACK_DIR="$pack" bash scripts/gpu-pack.sh ${GPU_PACK_ARGS:-} || { note "no pack: stopping"; exit 1; }
fi
if [ -d "$pack/bin" ]; then
  bin="$pack/bin"
  export LD_LIBRARY_PATH="$pack/lib:$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  sets="$pack/data/tensor-sets.json"
  anchors_dir="$pack/data"
  note "pack: $(tr '\n' ' ' < "$pack/BUILD"); $(du -sh "$pack" | cut -f1)"
  size_kib=$(du -sk "$pack" | cut -f1)
  ((size_kib <= 64 * 1024)) || fail "pack is $((size_kib / 1024)) MiB, over 64 MiB"
else
  note "no $pack: building on the runner (only the GPU tests and the bench)"
  # shellcheck disable=SC1091
  [ -f .devdeps/env.sh ] && source .devdeps/env.sh
  build=build-gpu
  step "build" 420 bash -c "cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTRAINSCOPE_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES=90 -DTRAINSCOPE_EXAMPLES=OFF -DTRAINSCOPE_PYTHON=$(command -v python3) \
      ${CURL_INCLUDE_DIR:+-DCURL_INCLUDE_DIR=$CURL_INCLUDE_DIR} -DCMAKE_PREFIX_PATH=${CMAKE_PREFIX_PATH:-${TORCH_PREFIX:-}} && \
      PACK_DIR=$pack BUILD_DIR=$build bash scripts/gpu-pack.sh" || { note "no binaries: stopping"; exit 1; }
  bin="$pack/bin"
  export LD_LIBRARY_PATH="$pack/lib:$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  sets="$pack/data/tensor-sets.json"
  anchors_dir=.devdeps
fi

# Every binary resolves its libraries (from the pack, the runner's torch, the system) and starts.
mapfile -t test_bins < <(ls "$bin" | grep -v '^trainscope_bench$')
listed="$out/.listed"
: > "$listed"
for b in "${test_bins[@]}" trainscope_bench; do
  [ -x "$bin/$b" ] || { fail "$b missing from the pack"; continue; }
  resolved=$(ldd "$bin/$b" 2>&1)
  missing=$(grep "not found" <<< "$resolved")
  [ -z "$missing" ] || fail "$b: unresolved libraries: $missing"
  # trainscope's own libraries must come from the pack, not from a build tree the runner lacks.
  stray=$(grep -E "libtrainscope" <<< "$resolved" | grep -v "=> $pack/lib/" || true)
  [ -z "$stray" ] || fail "$b loads trainscope from outside the pack: $stray"
done
for b in "${test_bins[@]}"; do
  if "$bin/$b" --gtest_list_tests > "$out/.list" 2>&1; then
    awk '/^[^ ]/ {suite=$1} /^  / {print suite $1}' "$out/.list" >> "$listed"
  else
    fail "$b does not start:"; tail -5 "$out/.list" | sed 's/^/    /' >> "$summary"
  fi
done
"$bin/trainscope_bench" --help > /dev/null 2>&1 || fail "trainscope_bench does not start"
# The binaries list every GPU test the sources define (the gpu label's wiring, seen from the pack).
while read -r name; do
  if [[ $name == \*/* ]]; then  # parametrised: */Suite.Name/*
    core=${name#*/}; core=${core%/*}
    grep -q "/$core/" "$listed" || grep -q "^$core/" "$listed" || fail "GPU test $name is not in any packed binary"
  else
    grep -qx "$name" "$listed" || fail "GPU test $name is not in any packed binary"
  fi
done < "$pack/gpu-tests.txt"
note "binaries: ${#test_bins[@]} test executables listing $(wc -l < "$listed") tests; $(wc -l < "$pack/gpu-tests.txt") GPU tests defined"
rm -f "$out/.list" "$listed"

# ---- 1. GPU tests, serially ---------------------------------------------------------------
gpu_log="$out/gpu-tests.log"
: > "$gpu_log"
if [ $dry -eq 1 ]; then
  skip "gpu tests" "dry run: ${#test_bins[@]} binaries ready"
else
  for b in "${test_bins[@]}"; do
    start=$(date +%s)
    timeout --kill-after=10 120 "$bin/$b" --gtest_color=no >> "$gpu_log" 2>&1
    rc=$?
    verdict=$(grep -E '^\[  (PASSED|FAILED)  \]|tests? ran' "$gpu_log" | tail -2 | tr '\n' ' ')
    if [ $rc -eq 0 ]; then note "gpu tests $b: ok in $(( $(date +%s) - start ))s: $verdict"
    else fail "gpu tests $b: rc=$rc in $(( $(date +%s) - start ))s: $verdict"
      grep -E '^\[  FAILED  \]|Failure|error' "$gpu_log" | tail -15 | sed 's/^/    /' >> "$summary"
    fi
  done
fi

# ---- 2. the benchmark ----------------------------------------------------------------------
if [ $dry -eq 1 ]; then
  step "bench (small, CPU)" 300 "$bin/trainscope_bench" --cpu --small --sets "$sets" --out-dir "$out/.bench-dry"
  rm -rf "$out/.bench-dry"
else
  step "bench" 200 "$bin/trainscope_bench" --sets "$sets" --out-dir "$out" && cat "$out/bench.md" >> "$summary"
fi

# ---- 3. the Python anchors -------------------------------------------------------------------
if [ ! -f "$anchors_dir/anchors.py" ]; then
  skip "anchors" "no anchors.py in $anchors_dir"
elif [ $dry -eq 1 ]; then
  skip "anchors" "dry run: $anchors_dir/anchors.py packed (it needs a GPU)"
else
  step "anchors" 90 env OUT="$out" python3 "$anchors_dir/anchors.py"
fi

# ---- 4. compute-sanitizer on a subset --------------------------------------------------------
# Histograms under the two-pass schedule and the L2-resident one with a small window (many
# windows, streamed tensors: the persistent kernel's every path).
subset="Schedules/HistogramGpu.PlanFollowsNewDataPointers/TwoPass:Schedules/HistogramGpu.PlanFollowsNewDataPointers/L2ResidentSmallWindow"
subset+=":Schedules/HistogramGpu.CaptureThenEagerWithOtherDataThenReplays/TwoPass"
subset+=":Schedules/HistogramGpu.CaptureThenEagerWithOtherDataThenReplays/L2ResidentSmallWindow"
subset+=":MaskToRgbGpu.*:LabelsGpu.IdenticalToCpuOnRandomAndAdversarialData:SegmentationGpu.IdenticalToCpuInBothLayouts"
# One case per labels mapping with misaligned rows: head/tail bounds (memcheck) and the block per
# row's shared-memory merge (racecheck).
subset+=":Mappings/LabelsGpuMapping.MatchesCpu/fp32_N20011_C10_shifted_k5:Mappings/LabelsGpuMapping.MatchesCpu/fp16_N2053_C65_padded_k5"
subset+=":Mappings/LabelsGpuMapping.MatchesCpu/bf16_N203_C50257_offset_k5:Mappings/LabelsGpuMapping.MatchesCpu/fp32_N20011_C1_offset_k2"
if [ $dry -eq 1 ] || ! command -v compute-sanitizer > /dev/null; then
  skip "sanitizer" "$( [ $dry -eq 1 ] && echo "dry run" || echo "no compute-sanitizer")"
else
  : > "$out/sanitizer.log"
  for tool in memcheck racecheck; do
    for b in histogram_gpu_test labels_gpu_test colorize_gpu_test; do
      [ -x "$bin/$b" ] || continue
      step "compute-sanitizer $tool $b" 45 bash -c "compute-sanitizer --tool $tool --error-exitcode 3 \
          $bin/$b --gtest_filter='$subset' >> '$out/sanitizer.log' 2>&1"
    done
  done
fi

# ---- 5. the step-overhead anchor -------------------------------------------------------------
# trainscope's own step overhead is the bench's callback_step_overhead case (step 2).
if [ ! -f "$anchors_dir/overhead.py" ]; then
  skip "overhead anchor" "no overhead.py in $anchors_dir"
elif [ $dry -eq 1 ]; then
  skip "overhead anchor" "dry run"
else
  step "overhead anchor" 60 env OUT="$out" python3 "$anchors_dir/overhead.py"
fi

note "done: $failures failure(s) in $(( SECONDS ))s; files: $(ls "$out" | tr '\n' ' ')"
[ $failures -eq 0 ]
