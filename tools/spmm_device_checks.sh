#!/usr/bin/env bash
# One device call over binaries built here for sm_90a and carried (no build there): the
# SpMM GPU tests, the decode bench (N <= MAX_N, every kernel and cuBLAS in the same run),
# the prefill bench (dense path column), Nsight Compute counts of one kernel, and the C API
# and layer GPU tests. Each step stops being started once the call nears its time limit.
#   mkdir build-run && cp build-sm90/{tests/gpu/spinfer_gpu_tests,tests/gpu/spinfer_gpu_capi_tests,\
#     tests/gpu_layers/spinfer_gpu_layers_tests,bench/spmm/bench_spmm} build-run/ &&
#     cp build-sm90/capi/libspinfer.so.0.1.0 build-run/libspinfer.so.0 && cp tools/spmm_device_checks.sh build-run/
#   (device, carry build-run) OUT=$OUT bash build-run/spmm_device_checks.sh
# Environment: TESTS (doctest -tc filter, default 'spmm*,dense*,*lazy*'), MAX_N (16),
# DTYPES ("f16"), PREFILL_NS ("128,512,2048"; empty skips), NCU_KERNEL (warp_k),
# NCU_CASES ("M K N sparsity;..."), SANITIZE (compute-sanitizer tools, e.g. "memcheck
# racecheck", over SANITIZE_TESTS with SANITIZE_KERNELS; default none), TTFT (arguments of
# bench_layers' prefill sweep, e.g. "--ttft --quick", run last if bench_layers was carried
# and time is left; default none), HF_REFERENCE (families for tests/gpu/hf_reference.py
# against transformers on the GPU, e.g. "qwen2,qwen3"; default none), LIMIT_S (380).
cd "$(dirname "$0")"
export LD_LIBRARY_PATH=$PWD:/usr/local/cuda/lib64:/usr/local/cuda/lib
TESTS=${TESTS-'spmm*,dense*,*lazy*'}; MAX_N=${MAX_N:-16}; DTYPES=${DTYPES:-f16}
PREFILL_NS=${PREFILL_NS-128,512,2048}; NCU_KERNEL=${NCU_KERNEL:-warp_k}
NCU_CASES=${NCU_CASES-28672 8192 8 0.3;28672 8192 8 0.7}; LIMIT_S=${LIMIT_S:-380}
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s]"; }; left() { [ $(( $(date +%s) - T0 )) -lt $(( LIMIT_S - $1 )) ]; }
if [ -n "$TESTS" ]; then
  timeout 150 ./spinfer_gpu_tests -tc="$TESTS" > $OUT/spmm_tests.log 2>&1; echo "$(el) spmm tests rc=$? $(grep -E '^\[doctest\] (test cases|assertions)' $OUT/spmm_tests.log | tr '\n' ' ')"
  grep -B3 -A14 -m3 "ERROR" $OUT/spmm_tests.log | head -50
fi
for dt in $DTYPES; do
  left 60 || break
  timeout 120 ./bench_spmm --quick --max-n $MAX_N --dtype $dt --no-cusparse --csv $OUT/bench_quick_$dt.csv > $OUT/bench_quick_$dt.txt 2>&1; echo "$(el) bench $dt rc=$?"
  sed -n '/^Summary/,$p' $OUT/bench_quick_$dt.txt
done
[ -n "$PREFILL_NS" ] && left 100 && { timeout 90 ./bench_spmm --quick --ns $PREFILL_NS --dtype f16 --no-cusparse --csv $OUT/bench_prefill.csv > $OUT/bench_prefill.txt 2>&1; echo "$(el) prefill bench rc=$?"; grep -E "N >= 128" $OUT/bench_prefill.txt; }
metrics=gpu__time_duration.sum,smsp__inst_executed.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active,smsp__issue_active.avg.pct_of_peak_sustained_active
IFS=';' read -ra cases <<< "$NCU_CASES"
for c in "${cases[@]}"; do
  left 60 || break
  set -- $c; groups=$(( ($1 + 63) / 64 * (($2 + 63) / 64) ))
  echo "== case $c kernel $NCU_KERNEL groups $groups" >> $OUT/ncu.txt
  timeout 30 ncu --metrics $metrics -k regex:spmm_smbd -c 1 ./bench_spmm --dtype f16 --case $c --kernel $NCU_KERNEL >> $OUT/ncu.txt 2>&1
done
[ -f $OUT/ncu.txt ] && awk '/^== case/{c=$3" "$4" "$5" "$6; k=$8; g=$10}
     /^case /{split_k=$0; sub(/.*split_k /, "", split_k); sub(/:.*/, "", split_k)}
     /dram__throughput/{d=$NF} /gpu__time_duration.sum/{t=$NF} /sm__warps_active/{wa=$NF}
     /l1tex__data_bank_conflicts/{gsub(",","",$NF); b=$NF}
     /l1tex__data_pipe_lsu_wavefronts_mem_shared.sum/{gsub(",","",$NF); w=$NF}
     /smsp__inst_executed.sum/{gsub(",","",$NF); ins=$NF}
     /smsp__issue_active/{ia=$NF; printf "%-20s %-7s split %s %8s us inst/GT %5.0f wav/GT %4.0f confl/GT %4.0f DRAM %s%% issue %s%% warps %s%%\n", c, k, split_k, t, ins/g, w/g, b/g, d, ia, wa}' $OUT/ncu.txt
SANITIZE_TESTS=${SANITIZE_TESTS-'*forced split-K*,*non-uniform*,dense path through*'}
for tool in ${SANITIZE:-}; do
  left 90 || break
  SPINFER_TEST_KERNELS=${SANITIZE_KERNELS:-warp_k,dense_gemm} timeout 80 compute-sanitizer --tool $tool \
    --kernel-name-exclude "regex=nvjet|xmma|cutlass|gemv|gemmSN|splitKreduce" \
    ./spinfer_gpu_tests -tc="$SANITIZE_TESTS" > $OUT/sanitize_$tool.log 2>&1
  echo "$(el) compute-sanitizer $tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/sanitize_$tool.log | tail -1) $(grep -E '^\[doctest\] test cases' $OUT/sanitize_$tool.log)"
done
for t in spinfer_gpu_capi_tests spinfer_gpu_layers_tests; do left 40 || break; timeout 40 ./$t > $OUT/$t.log 2>&1; echo "$(el) $t rc=$? $(grep -E '^\[doctest\] (test cases|assertions)' $OUT/$t.log | tr '\n' ' ')"; grep -B2 -A10 -m2 "ERROR" $OUT/$t.log | head -24; done
if [ -n "${HF_REFERENCE:-}" ] && left 60; then
  (cd .. && timeout 60 python3 tests/gpu/hf_reference.py build-run/libspinfer.so.0 --only "$HF_REFERENCE") > $OUT/hf_reference.log 2>&1
  echo "$(el) hf_reference $HF_REFERENCE rc=$? $(tail -1 $OUT/hf_reference.log)"; grep -E "^FAIL" $OUT/hf_reference.log | head -5
fi
if [ -n "${TTFT:-}" ] && [ -x ./bench_layers ] && left 60; then
  timeout $(( LIMIT_S - $(date +%s) + T0 - 10 )) ./bench_layers $TTFT --csv $OUT/ttft.csv > $OUT/ttft.txt 2>&1
  echo "$(el) bench_layers $TTFT rc=$?"; grep -E "TARGET|^\|" $OUT/ttft.txt | head -20
fi
echo "$(el) end"
