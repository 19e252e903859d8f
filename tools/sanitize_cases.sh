#!/usr/bin/env bash
# One compute-sanitizer tool over every doctest case of the given GPU test binaries, each
# case in its own process and PARALLEL processes at a time: racecheck over a whole suite
# takes longer than one device call when run as one process, and the cases are
# independent. Writes OUT/<tool>-<binary>-<n>.log per case and OUT/cases-summary.txt;
# exit status 0 only when every case is clean.
#   OUT=... TOOL=racecheck PARALLEL=4 RUN_TIMEOUT=300 bash tools/sanitize_cases.sh BIN...
# EXCLUDE_KERNELS: regex on mangled kernel names left unchecked, as in sanitize_gpu.sh
# (default: cuBLAS's GEMM kernels, the tests' reference; EXCLUDE_KERNELS= checks all).
set -uo pipefail
OUT=${OUT:-build/sanitize}
TOOL=${TOOL:-racecheck}
PARALLEL=${PARALLEL:-4}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
mkdir -p "$OUT"
case $TOOL in
  memcheck) OPTS="--leak-check full" ;;
  racecheck) OPTS="--racecheck-report analysis" ;;
  *) OPTS="" ;;
esac
EXCLUDE_KERNELS=${EXCLUDE_KERNELS-nvjet|xmma|cutlass|gemv|gemmSN|splitKreduce}
[[ -n $EXCLUDE_KERNELS ]] && OPTS="$OPTS --kernel-name-exclude regex=$EXCLUDE_KERNELS"
export OUT TOOL CS OPTS RUN_TIMEOUT

# run_case BIN INDEX NAME: one case under the tool; prints one summary line.
run_case() {
  local bin=$1 index=$2 name=$3 t=$SECONDS
  local log="$OUT/$TOOL-$(basename "$bin")-$index.log"
  # doctest filters: ',' separates filters and '\' escapes; '?' matches any one character.
  local filter=${name//,/?}
  filter=${filter//\\/?}
  # shellcheck disable=SC2086
  SPINFER_UNDER_COMPUTE_SANITIZER=1 timeout "$RUN_TIMEOUT" "$CS" --tool "$TOOL" $OPTS --error-exitcode 99 \
    --log-file "$log" "$bin" "-tc=$filter" >"$log.stdout" 2>&1
  local rc=$? verdict=clean
  ((rc == 77)) && verdict=skipped
  ((rc != 0 && rc != 77)) && verdict="FAILED(rc=$rc)"
  ((rc == 124)) && verdict="TIMEOUT"
  grep -q 'test cases: 0 ' "$log.stdout" && verdict="NO-MATCH"  # the filter selected nothing
  printf '%-9s %-36s %-12s %4ds  %s | %s\n' "$TOOL" "$(basename "$bin")" "$verdict" $((SECONDS - t)) \
    "$(grep -h 'ERROR SUMMARY\|RACECHECK SUMMARY' "$log" 2>/dev/null | tail -1)" "$name"
}
export -f run_case

: >"$OUT/cases-summary.txt"
for bin in "$@"; do
  # The case names, one per line, between doctest's banner lines.
  "$bin" -ltc 2>/dev/null | grep -v '^\[doctest\]\|^=====' | sed '/^$/d' | awk -v b="$bin" '{print b "\t" NR "\t" $0}'
done | while IFS=$'\t' read -r bin index name; do printf '%s\0%s\0%s\0' "$bin" "$index" "$name"; done |
  xargs -0 -n 3 -P "$PARALLEL" bash -c 'run_case "$@"' _ | tee -a "$OUT/cases-summary.txt"
total=$(wc -l <"$OUT/cases-summary.txt")
bad=$(grep -vc ' clean \| skipped ' "$OUT/cases-summary.txt")
echo "=== $TOOL: $total cases, $bad not clean" | tee -a "$OUT/cases-summary.txt"
((bad == 0))
