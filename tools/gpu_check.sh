#!/usr/bin/env bash
# Builds spinfer in Release on a GPU machine, runs the GPU tests, compute-sanitizer
# (memcheck + racecheck) on a small test subset, and the SpMM benchmark.
# Logs go under $OUT (default ./gpu_check_out).
#   tools/gpu_check.sh [build] [test] [sanitize] [bench] [bench-quick]   (default: all but bench-quick)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
BUILD=${BUILD_DIR:-build-gpu}
ARCH=${CUDA_ARCH:-90a}
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(build test sanitize bench)
has() { local s; for s in "${steps[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
rc=0

if has build; then
  echo "== build (CUDA arch $ARCH)"
  { nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv; nvcc --version | tail -1; } 2>&1 | tee "$OUT/build.log"
  # cuSPARSELt from the Python env's pip package, when present (optional baseline).
  CSLT=$(python3 -c "import nvidia.cusparselt as m; print(list(m.__path__)[0])" 2>/dev/null || true)
  echo "cuSPARSELt root: ${CSLT:-none}" | tee -a "$OUT/build.log"
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
    -DCMAKE_PREFIX_PATH="$PWD/.deps" -DSPINFER_BENCH=ON -DSPINFER_EXAMPLES=OFF \
    -DSPINFER_PYTHON=OFF -DSPINFER_JAVA=OFF ${CSLT:+-DCUSPARSELT_ROOT=$CSLT} >>"$OUT/build.log" 2>&1 \
    || { tail -30 "$OUT/build.log"; exit 1; }
  # Everything (so every ctest of label gpu can run); if some other part of the tree does
  # not build, at least the CUDA backend's own tests and benchmark.
  if ! ninja -C "$BUILD" -j"$(nproc)" >>"$OUT/build.log" 2>&1; then
    grep -E "error|FAILED" "$OUT/build.log" | head -20
    targets="spinfer_gpu_tests spinfer_gpu_capi_tests bench_spmm"
    if ! ninja -C "$BUILD" -j"$(nproc)" $targets >>"$OUT/build.log" 2>&1; then
      # Retry without cuSPARSELt if only its baseline failed to build.
      cmake "$BUILD" -DCUSPARSELT_INCLUDE_DIR=CUSPARSELT_INCLUDE_DIR-NOTFOUND -DCUSPARSELT_ROOT=/nonexistent >>"$OUT/build.log" 2>&1
      ninja -C "$BUILD" -j"$(nproc)" $targets >>"$OUT/build.log" 2>&1 || { grep -E "error|FAILED" "$OUT/build.log" | tail -20; exit 1; }
    fi
  fi
fi

if has test; then
  echo "== GPU tests"
  (cd "$BUILD" && ctest -L gpu --output-on-failure) >"$OUT/ctest_gpu.log" 2>&1 || rc=1
  tail -25 "$OUT/ctest_gpu.log"
fi

if has sanitize; then
  echo "== compute-sanitizer"
  T="$BUILD/tests/gpu/spinfer_gpu_tests"
  SUBSET='-tc=*bias*,*graph*,*bad arguments*,*upload*,*bit-identical*'
  for tool in memcheck racecheck; do
    compute-sanitizer --tool $tool --error-exitcode 99 "$T" "$SUBSET" >"$OUT/sanitizer_$tool.log" 2>&1
    r=$?; echo "$tool exit $r: $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|status:' "$OUT/sanitizer_$tool.log" | tr '\n' ' ')"
    [ $r -ne 0 ] && rc=1
    if [ -x "$BUILD/tests/gpu/spinfer_gpu_capi_tests" ]; then
      compute-sanitizer --tool $tool --error-exitcode 99 "$BUILD/tests/gpu/spinfer_gpu_capi_tests" >>"$OUT/sanitizer_$tool.log" 2>&1
      r=$?; echo "$tool (C API test) exit $r"
      [ $r -ne 0 ] && rc=1
    fi
  done
fi

if has bench; then
  echo "== benchmark"
  # One dtype per invocation keeps each run well inside a 10-minute device call.
  "$BUILD/bench/spmm/bench_spmm" --dtype f16 --csv "$OUT/spmm_h100_f16.csv" >"$OUT/spmm_h100_f16.txt" 2>&1 || rc=1
  "$BUILD/bench/spmm/bench_spmm" --dtype bf16 --no-cusparse --csv "$OUT/spmm_h100_bf16.csv" >"$OUT/spmm_h100_bf16.txt" 2>&1 || rc=1
  tail -11 "$OUT/spmm_h100_f16.txt" "$OUT/spmm_h100_bf16.txt"
fi
if has bench-quick; then
  "$BUILD/bench/spmm/bench_spmm" --quick --csv "$OUT/spmm_quick.csv" >"$OUT/bench_quick.txt" 2>&1 || rc=1
  tail -60 "$OUT/bench_quick.txt"
fi
exit $rc
