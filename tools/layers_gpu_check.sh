#!/usr/bin/env bash
# GPU check of issue 6 (layers, KV cache, model runner) on the device machine:
#   1. build (CUDA, sm_90a, benchmarks on) only the targets needed,
#   2. GPU layer/model tests (tests/gpu_layers) + the host layer tests,
#   3. the Hugging Face reference comparison (tests/gpu/hf_reference.py),
#   4. bench_layers (full grid when time allows, else --quick),
# all within a time budget (LAYERS_CHECK_BUDGET seconds, default 570), logs in $OUT,
# and a summary at the end (also in $OUT/SUMMARY.txt).
#
#   bash tools/layers_gpu_check.sh            # everything
#   bash tools/layers_gpu_check.sh bench      # one stage: build | test | hf | bench
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/layers_gpu_out}
mkdir -p "$OUT"
BUDGET=${LAYERS_CHECK_BUDGET:-570}
BUILD=${LAYERS_BUILD_DIR:-$ROOT/build-gpu-layers}
STAGE=${1:-all}
START=$SECONDS
SUMMARY=()

left() { echo $((BUDGET - (SECONDS - START))); }
note() { SUMMARY+=("$1"); echo "== $1"; }
# run_stage NAME MAX_SECONDS LOG CMD...: runs with a timeout of min(MAX, time left - 10).
run_stage() {
  local name=$1 max=$2 log=$3; shift 3
  local t=$(( $(left) - 10 )); (( t > max )) && t=$max
  if (( t < 20 )); then note "$name: SKIPPED (time budget spent)"; return 124; fi
  echo "== $name (timeout ${t}s) -> $log"
  timeout --kill-after=10 "$t" "$@" >"$log" 2>&1
  local rc=$?
  tail -n 25 "$log"
  if (( rc == 0 )); then note "$name: OK"; elif (( rc == 77 )); then note "$name: SKIPPED (no GPU)"; elif (( rc == 124 || rc == 137 )); then note "$name: TIMEOUT after ${t}s"; else note "$name: FAILED (rc $rc)"; fi
  return $rc
}

{
  echo "date: $(date -u)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || true
  nvcc --version 2>&1 | tail -n 2 || true
  python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" 2>&1 || true
} | tee "$OUT/device.txt"

if [[ $STAGE == all || $STAGE == build ]]; then
  run_stage "configure" 120 "$OUT/configure.log" \
    cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPINFER_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_PREFIX_PATH="$ROOT/.deps" -DSPINFER_BENCH=ON \
      -DSPINFER_EXAMPLES=OFF
  run_stage "build" 330 "$OUT/build.log" \
    cmake --build "$BUILD" -j "$(nproc)" --target spinfer spinfer_layers_tests spinfer_gpu_layers_tests bench_layers
fi

if [[ $STAGE == all || $STAGE == test ]]; then
  run_stage "host layer tests" 60 "$OUT/test_layers_host.log" "$BUILD/tests/spinfer_layers_tests"
  run_stage "GPU layer tests" 150 "$OUT/test_layers_gpu.log" \
    "$BUILD/tests/gpu_layers/spinfer_gpu_layers_tests" --duration=true
fi

if [[ $STAGE == all || $STAGE == hf ]]; then
  run_stage "HF reference" 200 "$OUT/hf_reference.log" \
    python3 "$ROOT/tests/gpu/hf_reference.py" "$BUILD/capi/libspinfer.so" --out "$OUT/hf_models_tmp"
  rm -rf "$OUT/hf_models_tmp"  # model files: do not send them back
  # The same comparison through the host backend (independent of the CUDA kernels).
  run_stage "HF reference (host backend)" 90 "$OUT/hf_reference_host.log" \
    python3 "$ROOT/tests/gpu/hf_reference.py" "$BUILD/capi/libspinfer.so" --host --out "$OUT/hf_host_tmp"
  rm -rf "$OUT/hf_host_tmp"
fi

if [[ $STAGE == all || $STAGE == bench ]]; then
  if (( $(left) > 260 )); then
    run_stage "bench_layers (full)" 400 "$OUT/bench_layers.md" "$BUILD/bench/layers/bench_layers"
  else
    run_stage "bench_layers (--quick)" 200 "$OUT/bench_layers.md" "$BUILD/bench/layers/bench_layers" --quick
  fi
fi

{
  echo
  echo "================ layers GPU check summary ($(date -u), $((SECONDS - START)) s) ================"
  head -n 3 "$OUT/device.txt" 2>/dev/null
  for s in "${SUMMARY[@]}"; do echo "$s"; done
  [[ -f $OUT/test_layers_gpu.log ]] && grep -E "test cases:|assertions:" "$OUT/test_layers_gpu.log" | sed 's/^/GPU tests: /'
  [[ -f $OUT/test_layers_gpu.log ]] && grep -E "ERROR|FAILED|MESSAGE|greedy" "$OUT/test_layers_gpu.log" | head -n 30
  [[ -f $OUT/hf_reference.log ]] && sed -n '/HF reference summary/,$p' "$OUT/hf_reference.log"
  [[ -f $OUT/hf_reference_host.log ]] && grep -E "^==== [0-9]+ passed" "$OUT/hf_reference_host.log" | sed 's/^/host backend vs HF: /'
  [[ -f $OUT/bench_layers.md ]] && grep -E "^TARGET|^Device|error" "$OUT/bench_layers.md"
  echo "logs: $OUT"
} | tee "$OUT/SUMMARY.txt"
