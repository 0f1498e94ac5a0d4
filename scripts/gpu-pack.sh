#!/usr/bin/env bash
# Packs everything the GPU runner needs into one folder (default .gpu-pack/, git-ignored, at most
# 64 MiB) so the device call spends no time compiling: the GPU test executables, the benchmark,
# libtrainscope*.so, the CUDA runtime they were linked with, the benchmark's tensor sets, the
# Python anchor scripts (bench/anchors/) and a manifest of the GPU tests the sources define. On the runner the
# binaries load libtorch from the runner's own torch (the same 2.11.0 as the pinned wheel).
#
# usage: scripts/gpu-pack.sh [--no-build]
#   Uses the CUDA build in $BUILD_DIR (default build/, made by scripts/configure.sh); builds the
#   targets it packs first unless --no-build. The build must include sm_90 (the runner's H200).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BUILD_DIR:-build}
pack=${PACK_DIR:-$root/.gpu-pack}
limit_mib=64
build_first=1
[ "${1:-}" = "--no-build" ] && build_first=0
say() { echo "[gpu-pack] $*"; }
die() { echo "[gpu-pack] error: $*" >&2; exit 1; }

manifest="$build/gpu-pack-manifest.txt"
[ -f "$manifest" ] || die "$manifest is missing: configure $build with CUDA and libtorch first (bash scripts/configure.sh)"
archs=$(sed -n 's/^cuda_architectures //p' "$manifest")
[[ ";$archs;" =~ \;90(-real|-virtual)?\; ]] || die "the build's CUDA architectures ($archs) lack sm_90, the runner's card"

mapfile -t tests < <(sed -n 's/^test //p' "$manifest")
mapfile -t sources < <(sed -n 's/^source //p' "$manifest")
mapfile -t libs < <(sed -n 's/^lib //p' "$manifest")
bench=$(sed -n 's/^bench //p' "$manifest")
if ((build_first)); then
  targets=()
  for t in "${tests[@]}" "$bench"; do [ -n "$t" ] && targets+=("$(basename "$t")"); done
  say "building ${targets[*]}"
  cmake --build "$build" -j "${JOBS:-$(nproc)}" --target "${targets[@]}"
fi

rm -rf "$pack"
mkdir -p "$pack/bin" "$pack/lib" "$pack/data"
for f in "${tests[@]}" "$bench"; do
  [ -n "$f" ] || continue
  [ -x "$f" ] || die "$f was not built"
  cp "$f" "$pack/bin/"
done
for f in "${libs[@]}"; do
  cp -L "$f" "$pack/lib/"
done
# The CUDA runtime the binaries were linked against (the runner has CUDA 13 too; this removes a
# dependency on where it is installed there).
cudart=$(ldd "$pack/lib/$(basename "${libs[0]}")" | awk '/libcudart/ {print $3}')
[ -n "$cudart" ] && cp -L "$cudart" "$pack/lib/"
strip --strip-unneeded "$pack"/bin/* "$pack"/lib/libtrainscope* 2>/dev/null || true

cp bench/data/tensor-sets.json "$pack/data/"
cp bench/anchors/anchors.py bench/anchors/overhead.py "$pack/data/"
python3 tests/support/check_gpu_labels.py --list-only "${sources[@]}" > "$pack/gpu-tests.txt"
{
  echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +changes)"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
  echo "cuda_architectures $archs"
  echo "torch $(.venv/bin/python -c 'import torch; print(torch.__version__)' 2>/dev/null || echo unknown)"
} > "$pack/BUILD"

size_kib=$(du -sk "$pack" | cut -f1)
say "packed $(ls "$pack/bin" | wc -l) executables, $(ls "$pack/lib" | wc -l) libraries, $(wc -l < "$pack/gpu-tests.txt") GPU tests into $pack ($((size_kib / 1024)) MiB)"
((size_kib <= limit_mib * 1024)) || die "the pack is $((size_kib / 1024)) MiB, over the $limit_mib MiB a device call carries"
