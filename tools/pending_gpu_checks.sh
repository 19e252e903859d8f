#!/usr/bin/env bash
# The GPU checks still owed (no device was lent on 2026-12-07 (3)): the warp-K kernel and the
# dense path, their tests and benches (decode N <= 16, prefill N = 128-2048), ncu counts of
# warp-K, and the C API / layer GPU tests not yet run. One device call, under ~400 s:
#   mkdir build-run && cp build-sm90/{tests/gpu/spinfer_gpu_tests,tests/gpu/spinfer_gpu_capi_tests,\
#     tests/gpu_layers/spinfer_gpu_layers_tests,bench/spmm/bench_spmm} build-run/ &&
#     cp build-sm90/capi/libspinfer.so.0.1.0 build-run/libspinfer.so.0 && cp tools/pending_gpu_checks.sh build-run/
#   (device, carry build-run) OUT=$OUT bash build-run/pending_gpu_checks.sh
cd "$(dirname "$0")"
export LD_LIBRARY_PATH=$PWD:/usr/local/cuda/lib64:/usr/local/cuda/lib
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv,noheader
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 ))s]"; }; left() { [ $(( $(date +%s) - T0 )) -lt $1 ]; }
SPINFER_TEST_KERNELS=specialised,warp_k,dense_gemm timeout 120 ./spinfer_gpu_tests -tc='spmm*,dense*,*lazy*' > $OUT/spmm_tests.log 2>&1; echo "$(el) spmm+dense tests rc=$? $(grep -E '^\[doctest\] (test cases|assertions)' $OUT/spmm_tests.log | tr '\n' ' ')"
grep -B3 -A14 -m3 "ERROR" $OUT/spmm_tests.log | head -50
timeout 100 ./bench_spmm --quick --max-n 16 --dtype f16 --no-cusparse --csv $OUT/bench_quick.csv > $OUT/bench_quick.txt 2>&1; echo "$(el) bench rc=$?"
sed -n '/^Summary/,$p' $OUT/bench_quick.txt
left 250 && { timeout 80 ./bench_spmm --quick --ns 128,512,2048 --dtype f16 --no-cusparse --csv $OUT/bench_prefill.csv > $OUT/bench_prefill.txt 2>&1; echo "$(el) prefill bench rc=$?"; grep -E "N >= 128" $OUT/bench_prefill.txt; }
metrics=gpu__time_duration.sum,smsp__inst_executed.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum,l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__warps_active.avg.pct_of_peak_sustained_active,smsp__issue_active.avg.pct_of_peak_sustained_active
for c in "28672 8192 8 0.3" "28672 8192 8 0.7"; do
  left 330 || break
  set -- $c; groups=$(( ($1 + 63) / 64 * (($2 + 63) / 64) ))
  echo "== case $c kernel warp_k groups $groups" >> $OUT/ncu.txt
  timeout 30 ncu --metrics $metrics -k regex:spmm_smbd -c 1 ./bench_spmm --dtype f16 --case $c --kernel warp_k >> $OUT/ncu.txt 2>&1
done
[ -f $OUT/ncu.txt ] && awk '/^== case/{c=$3" "$4" "$5" "$6; k=$8; g=$10}
     /dram__throughput/{d=$NF} /gpu__time_duration.sum/{t=$NF} /sm__warps_active/{wa=$NF}
     /l1tex__data_bank_conflicts/{gsub(",","",$NF); b=$NF}
     /l1tex__data_pipe_lsu_wavefronts_mem_shared.sum/{gsub(",","",$NF); w=$NF}
     /smsp__inst_executed.sum/{gsub(",","",$NF); ins=$NF}
     /smsp__issue_active/{ia=$NF; printf "%-20s %-7s %8s us inst/GT %5.0f wav/GT %4.0f confl/GT %4.0f DRAM %s%% issue %s%% warps %s%%\n", c, k, t, ins/g, w/g, b/g, d, ia, wa}' $OUT/ncu.txt
for t in spinfer_gpu_capi_tests spinfer_gpu_layers_tests; do left 380 || break; timeout 40 ./$t > $OUT/$t.log 2>&1; echo "$(el) $t rc=$? $(grep -E '^\[doctest\] (test cases|assertions)' $OUT/$t.log | tr '\n' ' ')"; grep -B2 -A10 -m2 "ERROR" $OUT/$t.log | head -24; done
echo "$(el) end"
