#!/usr/bin/env bash
# compute-sanitizer over every GPU test binary, in one device call (docs/reliability.md):
# memcheck (with device leak check), racecheck, initcheck and synccheck. Configures and
# builds for sm_90a first, then writes one log per (tool, binary) and summary.txt to
# $OUT (default build/sanitize). Exit status 0 only when every run is clean.
#
# Environment:
#   BUILD_DIR     build directory (default build)
#   TOOLS         subset of "memcheck racecheck initcheck synccheck" (default: all four)
#   SKIP_BUILD=1  reuse an existing build of BUILD_DIR
#   RUN_TIMEOUT   seconds per (tool, binary) run (default 300)
#   FILTER        regex on binary names (default: all)
#   TEST_ARGS     extra arguments for every test binary (doctest), e.g.
#                 TEST_ARGS="-tc=*split-K*" or TEST_ARGS="-tce=*cuBLAS*"
#   RACECHECK_FULL=1  racecheck runs spinfer_gpu_tests whole. By default (and when
#                 TEST_ARGS is empty) it runs only RACECHECK_GPU_TESTS_CASES there: the
#                 forced split-K x tile-size sweep (every kernel instantiation, the split-K
#                 reduction) and the CUDA-graph replay; the whole suite takes minutes
#                 under racecheck, the subset seconds.
#   EXCLUDE_KERNELS  regex on mangled kernel names the tools do not instrument (default:
#                 cuBLAS's GEMM kernels, which the tests run as a reference; racecheck
#                 reported hazards inside them, not ours). EXCLUDE_KERNELS= checks all.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/build/sanitize}
BUILD_DIR=${BUILD_DIR:-build}
TOOLS=${TOOLS:-memcheck racecheck initcheck synccheck}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
FILTER=${FILTER:-.}
TEST_ARGS=${TEST_ARGS:-}
RACECHECK_FULL=${RACECHECK_FULL:-}
RACECHECK_GPU_TESTS_CASES=${RACECHECK_GPU_TESTS_CASES:-*forced split-K*,*CUDA graph*}
EXCLUDE_KERNELS=${EXCLUDE_KERNELS-nvjet|xmma|cutlass|gemv|gemmSN|splitKreduce}
exclude=()
[[ -n $EXCLUDE_KERNELS ]] && exclude=(--kernel-name-exclude "regex=$EXCLUDE_KERNELS")
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT"
T0=$SECONDS

if [[ -z ${SKIP_BUILD:-} ]]; then
  echo "=== configure + build ($BUILD_DIR, sm_90a)"
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPINFER_CUDA=ON \
    -DSPINFER_TESTS=ON -DSPINFER_EXAMPLES=OFF -DSPINFER_FAULT_INJECTION=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90a -DCMAKE_PREFIX_PATH="$ROOT/.deps" -DCMAKE_CUDA_FLAGS=-lineinfo \
    >"$OUT/configure.log" 2>&1 || { tail -40 "$OUT/configure.log"; exit 1; }
  cmake --build "$BUILD_DIR" -j "$JOBS" >"$OUT/build.log" 2>&1 || { tail -60 "$OUT/build.log"; exit 1; }
  echo "    built in $((SECONDS - T0)) s"
fi

CS=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
# The GPU suites (tests/gpu, tests/gpu_layers) and the GPU reliability tests.
mapfile -t BINS < <( { find "$BUILD_DIR/tests/gpu" "$BUILD_DIR/tests/gpu_layers" -maxdepth 1 -type f -executable 2>/dev/null;
                       find "$BUILD_DIR/tests/reliability" -maxdepth 1 -type f -executable -name '*gpu*' 2>/dev/null; } |
                     grep -E "$FILTER" | sort)
if ((${#BINS[@]} == 0)); then
  echo "no GPU test binaries under $BUILD_DIR/tests/{gpu,gpu_layers,reliability}"
  exit 1
fi

status=0
: >"$OUT/summary.txt"
for tool in $TOOLS; do
  case $tool in
    memcheck) opts=(--leak-check full) ;;
    racecheck) opts=(--racecheck-report analysis) ;;
    initcheck) opts=() ;;
    synccheck) opts=() ;;
    *) echo "unknown tool $tool"; exit 2 ;;
  esac
  for bin in "${BINS[@]}"; do
    name=$(basename "$bin")
    log="$OUT/$tool-$name.log"
    t=$SECONDS
    # TEST_ARGS is split on blanks (doctest options; quote nothing inside it).
    read -r -a targs <<<"$TEST_ARGS"
    if [[ $tool == racecheck && $name == spinfer_gpu_tests && -z $RACECHECK_FULL && -z $TEST_ARGS ]]; then
      targs=("-tc=$RACECHECK_GPU_TESTS_CASES")
    fi
    echo "args: ${targs[*]}" >"$OUT/$tool-$name.stdout"
    SPINFER_UNDER_COMPUTE_SANITIZER=1 timeout "$RUN_TIMEOUT" "$CS" --tool "$tool" "${opts[@]}" "${exclude[@]}" \
      --error-exitcode 99 --log-file "$log" \
      "$bin" "${targs[@]}" >>"$OUT/$tool-$name.stdout" 2>&1
    rc=$?
    errors=$(grep -h "ERROR SUMMARY" "$log" 2>/dev/null | tail -1)
    verdict=clean
    [[ $rc -eq 77 ]] && verdict=skipped
    [[ $rc -ne 0 && $rc -ne 77 ]] && { verdict="FAILED (rc=$rc)"; status=1; }
    [[ $rc -eq 124 ]] && verdict="TIMEOUT after $RUN_TIMEOUT s"
    line=$(printf "%-10s %-40s %-22s %4d s  %s%s" "$tool" "$name" "$verdict" "$((SECONDS - t))" "$errors" \
      "${targs[*]:+  [${targs[*]}]}")
    echo "$line" | tee -a "$OUT/summary.txt"
  done
done
echo "=== total $((SECONDS - T0)) s; logs in $OUT" | tee -a "$OUT/summary.txt"
exit $status
