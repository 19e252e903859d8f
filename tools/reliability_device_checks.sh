#!/usr/bin/env bash
# One device call for the GPU reliability checks of docs/reliability.md, over binaries
# built here for sm_90a and carried (no build there): the GPU fault-injection tests (the
# CUDA rollback of a failed prefill / decode / generate, graphs included) plainly and
# under initcheck, then racecheck case by case over the SpMM and concurrency suites
# (tools/sanitize_cases.sh). Each step is skipped once the call nears LIMIT_S.
#   cmake -S . -B build-fi90 -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a \
#     -DSPINFER_FAULT_INJECTION=ON && ninja -C build-fi90 spinfer_fault_gpu_tests spinfer_concurrency_gpu_tests
#   mkdir build-rel && cp build-fi90/tests/reliability/spinfer_{fault,concurrency}_gpu_tests \
#     build-sm90/tests/gpu/spinfer_gpu_tests build-rel/ && cp tools/{reliability_device_checks,sanitize_cases}.sh build-rel/
#   (device, carry build-rel) OUT=$OUT bash build-rel/reliability_device_checks.sh
# All three link the library statically; the fault tests need the fault-injection build.
# Environment: RACECHECK (binaries for racecheck, default both suites), PARALLEL (8),
# LIMIT_S (540).
cd "$(dirname "$0")"
export LD_LIBRARY_PATH=$PWD:/usr/local/cuda/lib64:/usr/local/cuda/lib
RACECHECK=${RACECHECK-"./spinfer_gpu_tests ./spinfer_concurrency_gpu_tests"}
PARALLEL=${PARALLEL:-8}; LIMIT_S=${LIMIT_S:-540}
nvidia-smi --query-gpu=name --format=csv,noheader
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s]"; }; left() { [ $(( $(date +%s) - T0 )) -lt $(( LIMIT_S - $1 )) ]; }
summary() { grep -E '^\[doctest\] (test cases|assertions)' "$1" | tr '\n' ' '; }

timeout 120 ./spinfer_fault_gpu_tests > $OUT/fault_gpu.log 2>&1
echo "$(el) fault_gpu rc=$? $(summary $OUT/fault_gpu.log)"; grep -B2 -A12 -m3 "ERROR" $OUT/fault_gpu.log | head -40
if left 200; then
  SPINFER_UNDER_COMPUTE_SANITIZER=1 timeout 180 compute-sanitizer --tool initcheck --error-exitcode 99 \
    ./spinfer_fault_gpu_tests > $OUT/fault_gpu_initcheck.log 2>&1
  echo "$(el) fault_gpu initcheck rc=$? $(grep 'ERROR SUMMARY' $OUT/fault_gpu_initcheck.log | tail -1) $(summary $OUT/fault_gpu_initcheck.log)"
fi
if [ -n "$RACECHECK" ] && left 120; then
  OUT=$OUT/racecheck TOOL=racecheck PARALLEL=$PARALLEL RUN_TIMEOUT=$(( LIMIT_S - ($(date +%s) - T0) - 20 )) \
    bash ./sanitize_cases.sh $RACECHECK > /dev/null 2>&1
  echo "$(el) racecheck per case:"; cat $OUT/racecheck/cases-summary.txt
fi
