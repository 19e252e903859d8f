#!/usr/bin/env bash
# Reliability checks (docs/reliability.md), CPU only, about 10-12 minutes on 2 cores:
#   1. ASan + UBSan build (gcc) with the fault-injection hook compiled in; the whole CPU
#      test suite (ctest -L cpu) under it, including the fault-injection sweep
#      (cpu_fault_injection) and the host concurrency test.
#   2. TSan build of the host concurrency test, run.
#   3. libFuzzer targets (clang-14, ASan + UBSan), from the committed seed corpus:
#      safetensors_load, matrix_arrays, capi_args FUZZ_SECONDS each (default 60);
#      model_load, layer_args LAYER_FUZZ_SECONDS each (default FUZZ_SECONDS if set, else 45).
#      cli_args (the `spinfer` command line, parse only) and inspect_file (bytes as a file
#      for `spinfer inspect`) CLI_FUZZ_SECONDS each (default 20).
#      Any crash, leak or sanitizer report fails the script.
# Build directories: build-asan, build-tsan, build-fuzz (all under /build*, ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}
LAYER_FUZZ_SECONDS=${LAYER_FUZZ_SECONDS:-${FUZZ_SECONDS:-45}}
CLI_FUZZ_SECONDS=${CLI_FUZZ_SECONDS:-20}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
T0=$SECONDS
stamp() { echo "=== [$((SECONDS - T0)) s] $*"; }

# clang + its runtime libraries (libFuzzer, sanitizers) from Debian.
if ! command -v clang++-14 >/dev/null 2>&1 || ! dpkg -s libclang-rt-14-dev >/dev/null 2>&1; then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

# ---- 1. ASan + UBSan: whole CPU suite, fault injection included -----------------------
stamp "ASan + UBSan build"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSPINFER_CUDA=OFF -DSPINFER_TESTS=ON \
  -DSPINFER_EXAMPLES=OFF -DSPINFER_FAULT_INJECTION=ON "-DCMAKE_C_FLAGS=$SAN" "-DCMAKE_CXX_FLAGS=$SAN" >/dev/null
cmake --build build-asan -j "$JOBS"
stamp "ctest -L cpu under ASan + UBSan"
# Tests run by Python load libspinfer.so into an interpreter not built with ASan: they
# run second, with the runtime preloaded and without leak checks of the interpreter.
PY_TESTS=$(cd build-asan && ctest -L cpu --show-only=json-v1 | python3 -c '
import json, os, sys
tests = json.load(sys.stdin)["tests"]
print("|".join("^%s$" % t["name"] for t in tests
               if os.path.basename(t.get("command", [""])[0]).startswith("python")))')
echo "Python-hosted tests: ${PY_TESTS:-none}"
(cd build-asan && ctest -L cpu ${PY_TESTS:+-E "$PY_TESTS"} --output-on-failure -j "$JOBS")
# The sweep's per-call lines, from the log of the run above (not a second run).
grep -h "^fault sweep" build-asan/Testing/Temporary/LastTest.log || true
if [[ -n $PY_TESTS ]]; then
  (cd build-asan && LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)" \
     ASAN_OPTIONS=detect_leaks=0 ctest -L cpu -R "$PY_TESTS" --output-on-failure)
fi

# ---- 2. TSan: one context from many threads -------------------------------------------
stamp "TSan build of the host concurrency test"
TSAN="-fsanitize=thread -g -O1"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSPINFER_CUDA=OFF -DSPINFER_TESTS=ON \
  -DSPINFER_EXAMPLES=OFF "-DCMAKE_C_FLAGS=$TSAN" "-DCMAKE_CXX_FLAGS=$TSAN" >/dev/null
cmake --build build-tsan -j "$JOBS" --target spinfer_concurrency_host_tests
stamp "host concurrency test under TSan"
build-tsan/tests/reliability/spinfer_concurrency_host_tests

# ---- 3. libFuzzer ----------------------------------------------------------------------
stamp "fuzz build (clang-14, ASan + UBSan)"
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSPINFER_FUZZ=ON -DSPINFER_CUDA=OFF -DSPINFER_TESTS=OFF -DSPINFER_EXAMPLES=OFF \
  "-DCMAKE_C_FLAGS=$SAN" "-DCMAKE_CXX_FLAGS=$SAN" >/dev/null
cmake --build build-fuzz -j "$JOBS" --target spinfer_fuzzers
targets=(safetensors_load matrix_arrays capi_args model_load layer_args)
[[ -x build-fuzz/fuzz/fuzz_cli_args ]] && targets+=(cli_args inspect_file)  # built where CLI11 is installed
for target in "${targets[@]}"; do
  secs=$FUZZ_SECONDS
  [[ $target == model_load || $target == layer_args ]] && secs=$LAYER_FUZZ_SECONDS
  maxlen=16384 extra=()
  # Command lines: short inputs, and the tool's words as a dictionary.
  [[ $target == cli_args ]] && secs=$CLI_FUZZ_SECONDS maxlen=1024 extra=(-dict="$ROOT/fuzz/cli_args.dict")
  [[ $target == inspect_file ]] && secs=$CLI_FUZZ_SECONDS
  stamp "fuzz_$target for $secs s"
  work=build-fuzz/run/$target
  rm -rf "$work" && mkdir -p "$work/corpus"
  # New inputs go to a scratch corpus; the committed seeds are only read.
  (cd "$work" && "$ROOT/build-fuzz/fuzz/fuzz_$target" -max_total_time="$secs" \
     -max_len="$maxlen" -rss_limit_mb=2048 -timeout=30 -print_final_stats=1 "${extra[@]}" \
     corpus "$ROOT/fuzz/corpus/$target" > log.txt 2>&1) || {
    tail -60 "$work/log.txt"
    echo "fuzz_$target failed; the crashing input is in $work (crash-*, leak-*, timeout-*)"
    exit 1
  }
  grep -E "^stat::number_of_executed_units|^Done" "$work/log.txt" | tail -2
done
stamp "reliability checks passed"
