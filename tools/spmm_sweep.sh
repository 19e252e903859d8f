#!/usr/bin/env bash
# Tile / split-K sweep of the CUDA SpMM for the token counts where the dispatch matters
# most (N = 16-64), plus Nsight Compute source-level profiles of two cases: the data for
# retuning core/cuda/spmm_dispatch.hpp and for the next kernel change, in one device call.
#   OUT=... tools/spmm_sweep.sh [BUILD_DIR]        (BUILD_DIR from tools/gpu_check.sh build)
# Writes $OUT/sweep.csv (dtype f16, warm L2: compare rows with each other, not with the
# cold-L2 numbers of bench_spmm's table) and $OUT/ncu_*.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-gpu}
OUT=${OUT:-$PWD/sweep_out}
mkdir -p "$OUT"
BENCH=$BUILD/bench/spmm/bench_spmm
[[ -x $BENCH ]] || { echo "spmm_sweep: $BENCH not built (tools/gpu_check.sh build)"; exit 1; }

csv=$OUT/sweep.csv
echo "M,K,N,sparsity,tile_n,split_k_asked,split_k,us" >"$csv"
for shape in "4096 11008" "11008 4096" "28672 8192"; do
  for n in 16 32 64; do
    for s in 0.5 0.7; do
      for tile in 8 16 32 64; do
        ((tile > n)) && continue
        for split in 0 1 4; do  # 0: the dispatcher's choice
          line=$("$BENCH" --dtype f16 --case $shape $n $s --tile-n $tile --split-k $split 2>&1 | grep '^case ')
          # "case MxKxN sparsity S tile_n T split_k K: U us (L2 warm)", K the split that ran
          used=$(sed -n 's/.*split_k \([0-9]*\):.*/\1/p' <<<"$line")
          us=$(sed -n 's/.*: \([0-9.]*\) us.*/\1/p' <<<"$line")
          echo "${shape// /,},$n,$s,$tile,$split,${used:-nan},${us:-nan}" | tee -a "$csv"
        done
      done
    done
  done
done

# Where the instructions and stalls of the decode loop go (per SASS line with
# --import-source; open the .ncu-rep in Nsight Compute, or read the text summaries).
if command -v ncu >/dev/null; then
  for c in "4096 11008 8 0.5" "4096 11008 64 0.5"; do
    name=ncu_${c// /_}
    ncu --set full --import-source yes -k regex:spmm_smbd -c 1 -o "$OUT/$name" \
      "$BENCH" --dtype f16 --case $c >"$OUT/$name.txt" 2>&1
    ncu --import "$OUT/$name.ncu-rep" --page details >>"$OUT/$name.txt" 2>&1
  done
fi
echo "spmm_sweep: $(($(wc -l <"$csv") - 1)) rows in $csv"
