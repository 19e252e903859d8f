#!/usr/bin/env bash
# One device call for SpMM kernel work: builds the GPU tests and bench_spmm only (Release,
# sm_90a), runs the SpMM GPU tests (every kernel the device runs), compute-sanitizer on
# SpMM cases, the quick benchmark (the dispatcher's kernel and the block kernel in the same
# run, against cuBLAS), and Nsight Compute counts per kernel: issued warp instructions
# and shared-memory wavefronts per GroupTile, the numbers of the cost model
# (docs/performance.md).
#   OUT=... tools/spmm_kernels.sh [build] [bench] [test] [ncu] [sanitize]   (default: all, in this order)
# Needs the header-only test dependencies in .deps (DEVELOPERS.md, "The GPU machine").
# Without the build step it runs binaries built elsewhere for sm_90a (BUILD_DIR=build-sm90,
# carried to the device): CUDA 13 on both sides, the CUDA runtime linked statically.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/spmm_kernels_out}
mkdir -p "$OUT"
BUILD=${BUILD_DIR:-build-gpu}
steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(build bench test ncu sanitize)
has() { local s; for s in "${steps[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}
BENCH=${BENCH:-$BUILD/bench/spmm/bench_spmm}
TESTS=${TESTS:-$BUILD/tests/gpu/spinfer_gpu_tests}
rc=0

if has build; then
  { nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader; nvcc --version | tail -1; } >"$OUT/build.log" 2>&1
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
    -DCMAKE_PREFIX_PATH="$PWD/.deps" -DSPINFER_BENCH=ON -DSPINFER_EXAMPLES=OFF \
    -DSPINFER_PYTHON=OFF -DSPINFER_JAVA=OFF >>"$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
  ninja -C "$BUILD" -j"$(nproc)" spinfer_gpu_tests bench_spmm >>"$OUT/build.log" 2>&1 ||
    { grep -E "error" "$OUT/build.log" | head -20; exit 1; }
  echo "build: ok ($(head -1 "$OUT/build.log"))"
fi

if has bench; then
  "$BENCH" --quick ${BENCH_ARGS:-} --dtype f16 --no-cusparse --csv "$OUT/bench_quick.csv" >"$OUT/bench_quick.txt" 2>&1 || rc=1
  sed -n '/^Summary/,$p' "$OUT/bench_quick.txt"
fi

if has test; then
  "$TESTS" -tc='spmm*' >"$OUT/tests.log" 2>&1 || rc=1
  echo "tests: $(grep -E '^\[doctest\] (test cases|assertions)' "$OUT/tests.log" | tr '\n' ' ')"
  grep -B3 -A12 -m3 "ERROR" "$OUT/tests.log" | head -60
fi

if has ncu && command -v ncu >/dev/null; then
  # Per case and kernel: duration, warp instructions and shared-memory wavefronts.
  metrics=gpu__time_duration.sum,smsp__inst_executed.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed
  for c in "28672 8192 8 0.3" "28672 8192 8 0.7" "4096 11008 64 0.5"; do
    set -- $c
    groups=$(( ($1 + 63) / 64 * (($2 + 63) / 64) ))
    for k in block specialised wgmma warp_k; do
      [ "$k" = warp_k ] && [ "$3" -gt 16 ] && continue  # warp-K serves token tiles 8 and 16
      echo "== case $c kernel $k groups $groups" >>"$OUT/ncu.txt"
      ncu --metrics $metrics -k regex:spmm_smbd -c 1 "$BENCH" --dtype f16 --case $c --kernel $k \
        >>"$OUT/ncu.txt" 2>&1
    done
  done
  # instructions and wavefronts per GroupTile, one line per case and kernel
  # (ncu prints the metrics sorted by name: smsp__inst_executed comes last)
  awk '/^== case/{c=$3" "$4" "$5" "$6; k=$8; g=$10}
       /dram__throughput/{d=$NF}
       /gpu__time_duration.sum/{t=$NF}
       /l1tex__data_bank_conflicts/{gsub(",","",$NF); b=$NF}
       /l1tex__data_pipe_lsu_wavefronts_mem_shared.sum/{gsub(",","",$NF); w=$NF}
       /smsp__inst_executed.sum/{gsub(",","",$NF); printf "%-22s %-12s %8s us  inst/GT %6.0f  smem wavefronts/GT %5.0f  conflicts/GT %5.0f  DRAM %s%%\n", c, k, t, $NF/g, w/g, b/g, d}' \
    "$OUT/ncu.txt" | tee "$OUT/ncu_summary.txt"
fi
if has sanitize; then
  # Small cases of every kernel (the non-uniform test and the bias / split-K / tile test).
  for tool in memcheck racecheck synccheck; do
    compute-sanitizer --tool $tool --error-exitcode 99 "$TESTS" \
      -tc='*non-uniform*,*forced split-K*' >>"$OUT/sanitize.log" 2>&1
    r=$?
    echo "$tool: exit $r $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitize.log" | tail -1)"
    [ $r -ne 0 ] && rc=1
  done
fi

exit $rc
