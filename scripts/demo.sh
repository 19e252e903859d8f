#!/usr/bin/env bash
# The main job: build and run `spinfer demo` (random weights pruned to 50 % by magnitude,
# encoded, saved, loaded, multiplied on the best backend, checked against float64).
# Needs only a C++ compiler, CMake, Ninja, nlohmann-json and CLI11 (Debian: cmake ninja-build
# g++ nlohmann-json3-dev libcli11-dev), no Python.
# Without a GPU it builds the host backend only (no CUDA compile); with one, the CUDA
# kernels for the GPU in this machine. Arguments go to `spinfer demo` (--help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for tool in cmake ninja c++; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  echo "demo.sh: missing ${missing[*]}; on Debian: sudo apt-get install cmake ninja-build g++ nlohmann-json3-dev libcli11-dev" >&2
  exit 1
fi
cuda=(-DSPINFER_CUDA=OFF)
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 && command -v nvcc >/dev/null; then
  cuda=(-DSPINFER_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=native)
fi
cmake -S . -B build-demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPINFER_TESTS=OFF \
  -DSPINFER_EXAMPLES=OFF -DSPINFER_BENCH=OFF "${cuda[@]}" >/dev/null
if grep -q '^CLI11_DIR:PATH=.*NOTFOUND' build-demo/CMakeCache.txt; then
  echo "demo.sh: CLI11 (the tool's command line) is missing; on Debian: sudo apt-get install libcli11-dev" >&2
  exit 1
fi
cmake --build build-demo --target spinfer_cli -j "$(nproc)"
./build-demo/tools/spinfer demo "$@"
