#!/usr/bin/env bash
# One device call that verifies everything that needs a GPU, from one build:
#   GPU ctest suites (SpMM, layers, reliability), the Python binding with torch/CuPy,
#   the Hugging Face reference check of the layers, compute-sanitizer (memcheck,
#   racecheck, initcheck, synccheck) and a quick layer benchmark (TTFT_BENCH=1: the
#   time-to-first-token sweep too), inside BUDGET seconds.
# Logs: $OUT/logs.tgz (all) and $OUT/SUMMARY.txt.
#   OUT=... bash tools/device_verify.sh
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
FINAL=${OUT:-$ROOT/verify_out}
LOGS=/tmp/spinfer_verify
rm -rf "$LOGS"; mkdir -p "$LOGS" "$FINAL"
BUDGET=${BUDGET:-570}
BUILD=$ROOT/build-verify
START=$SECONDS
summary() { echo "$*" | tee -a "$LOGS/SUMMARY.txt"; }
left() { echo $((BUDGET - (SECONDS - START))); }
# step NAME MAX_SECONDS CMD...: runs with min(MAX, time left) and records the verdict.
step() {
  local name=$1 max=$2; shift 2
  local t; t=$(left); (( t > max )) && t=$max
  if (( t < 15 )); then summary "$name: SKIPPED (budget spent)"; return; fi
  local log="$LOGS/$(echo "$name" | tr ' /' '__').log" t0=$SECONDS
  timeout --kill-after=5 "$t" "$@" >"$log" 2>&1
  local rc=$?
  local verdict=OK
  ((rc == 124 || rc == 137)) && verdict="TIMEOUT ${t}s"
  ((rc != 0 && rc != 124 && rc != 137)) && verdict="FAILED rc=$rc"
  summary "$(printf '%-28s %-14s %4ds' "$name" "$verdict" $((SECONDS - t0)))"
  [[ $verdict == OK ]] || tail -n 30 "$log"
}

if [[ -d .whl ]]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH
fi
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; nvcc --version | tail -1; swig -version | head -2; } >"$LOGS/device.txt" 2>&1
summary "device: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null) $(date -u)"

step configure 120 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
  -DCMAKE_CUDA_FLAGS=-lineinfo -DCMAKE_PREFIX_PATH="$ROOT/.deps" -DSPINFER_BENCH=ON -DSPINFER_PYTHON=ON \
  -DSPINFER_FAULT_INJECTION=ON -DPython_EXECUTABLE="$(command -v python3)"
step build 300 cmake --build "$BUILD" -j "$(nproc)"
step "ctest gpu" 150 bash -c "cd '$BUILD' && ctest -L gpu --output-on-failure"
[[ -z ${SKIP_PYTHON:-} ]] && step "python pytest (torch, cupy)" 100 env PYTHONPATH="$BUILD/bindings/python:${PYTHONPATH:-}" \
  python3 -m pytest -q -rs -p no:cacheprovider bindings/python/tests
[[ -z ${SKIP_PYTHON:-} ]] && step "python torch example" 40 env PYTHONPATH="$BUILD/bindings/python:${PYTHONPATH:-}" \
  python3 examples/python/sparse_linear_torch.py
step "HF reference (layers)" 150 python3 tests/gpu/hf_reference.py "$BUILD/capi/libspinfer.so" --out /tmp/hf_models
step "spinfer demo (cuda)" 30 "$BUILD/tools/spinfer" demo --rows 4096 --cols 11008 --tokens 8 --sparsity 0.6
for tool in memcheck racecheck initcheck synccheck; do
  step "sanitizer $tool" 90 env OUT="$LOGS/sanitize" BUILD_DIR="$BUILD" SKIP_BUILD=1 TOOLS=$tool RUN_TIMEOUT=80 \
    bash tools/sanitize_gpu.sh
done
if [[ -n ${FULL_LAYER_BENCH:-} ]]; then
  step "bench_layers (full)" 400 "$BUILD/bench/layers/bench_layers"
else
  step "bench_layers --quick" 120 "$BUILD/bench/layers/bench_layers" --quick
fi
# TTFT_BENCH=1: the time-to-first-token sweep too (issue 14, point 2; ~2-3 min on an H100).
[[ -n ${TTFT_BENCH:-} ]] && step "bench_layers --ttft" 240 "$BUILD/bench/layers/bench_layers" --ttft \
  --csv "$LOGS/bench_layers_ttft.csv"
cp "$LOGS/bench_layers"* "$FINAL/" 2>/dev/null
cp "$LOGS/SUMMARY.txt" "$FINAL/SUMMARY.txt"
tar czf "$FINAL/logs.tgz" -C "$LOGS" .
cat "$LOGS/SUMMARY.txt"
