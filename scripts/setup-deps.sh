#!/usr/bin/env bash
# Installs everything trainscope builds and tests with; idempotent, prints what it does.
#   Debian packages: compilers' companions and the C++ libraries (found by CMake's find_package).
#   .venv/: a project-local Python with the pinned torch wheel (libtorch for C++ comes from it)
#           and the Python packages the tests compare against (tensorboard's reader).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

TORCH_VERSION=2.11.0   # the GPU runner's torch; PyPI's Linux wheel of it carries CUDA 13.0
PY_PACKAGES=("torch==${TORCH_VERSION}" "numpy" "tensorboard")
DEB_PACKAGES=(build-essential cmake ninja-build pkg-config python3-venv
              nlohmann-json3-dev libcurl4-openssl-dev libssl-dev libpng-dev zlib1g-dev
              libgtest-dev libgmock-dev libsleef-dev)

say() { echo "[setup] $*"; }

missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "Debian packages present"
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
want=()
for spec in "${PY_PACKAGES[@]}"; do
  name=${spec%%==*}
  have=$(.venv/bin/python -m pip show "$name" 2>/dev/null | sed -n "s/^Version: //p" || true)
  if [ -z "$have" ] || { [[ $spec == *==* ]] && [ "$have" != "${spec#*==}" ]; }; then want+=("$spec"); fi
done
if ((${#want[@]})); then
  say "installing into .venv: ${want[*]} (the torch wheel and its CUDA libraries are a few GB)"
  .venv/bin/python -m pip install -q --disable-pip-version-check "${want[@]}"
else
  say ".venv has ${PY_PACKAGES[*]}"
fi
say "libtorch: $(.venv/bin/python -c 'import torch; print(torch.__version__, "at", torch.utils.cmake_prefix_path)')"
