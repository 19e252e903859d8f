#!/usr/bin/env bash
# The main job: set up, build, and run `spinfer demo` (random weights pruned to 50 %
# by magnitude, encoded, saved, loaded, multiplied on the best backend, checked).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPINFER_TESTS=OFF >/dev/null
cmake --build build --target spinfer_cli -j "$(nproc)"
./build/tools/spinfer demo "$@"
