#!/usr/bin/env bash
# All tests: set up, build once (library, C/C++ tests, Python and Java bindings, every
# CUDA architecture), install to build/prefix, then run the CPU test suite, the
# Python, Java and Rust binding suites and the examples. GPU tests (ctest label `gpu`)
# skip themselves without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
JOBS=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSPINFER_TESTS=ON -DSPINFER_JAVA=ON \
  -DSPINFER_BENCH=ON -DCMAKE_INSTALL_PREFIX="$PWD/build/prefix"
cmake --build build -j "$JOBS"
cmake --install build >/dev/null
(cd build && ctest --output-on-failure -j "$JOBS")
echo "=== installed package: CMake find_package and pkg-config ==="
cmake -S tests/install -B build/install-test -G Ninja -DCMAKE_PREFIX_PATH="$PWD/build/prefix" >/dev/null
cmake --build build/install-test >/dev/null
LD_LIBRARY_PATH="$PWD/build/prefix/lib" ./build/install-test/consumer
PKG_CONFIG_PATH="$PWD/build/prefix/lib/pkgconfig" cc tests/install/consumer.c \
  $(PKG_CONFIG_PATH="$PWD/build/prefix/lib/pkgconfig" pkg-config --cflags --libs spinfer) -o build/consumer-pc
LD_LIBRARY_PATH="$PWD/build/prefix/lib" ./build/consumer-pc
# Installed elsewhere with --prefix: spinfer.pc and the `spinfer` tool follow the files.
rm -rf build/prefix-moved && cmake --install build --prefix "$PWD/build/prefix-moved" >/dev/null
moved_libdir=$(PKG_CONFIG_PATH="$PWD/build/prefix-moved/lib/pkgconfig" pkg-config --variable=libdir spinfer)
[[ $(realpath "$moved_libdir") == "$PWD/build/prefix-moved/lib" ]] || { echo "spinfer.pc points at $moved_libdir"; exit 1; }
env -u LD_LIBRARY_PATH build/prefix-moved/bin/spinfer --help >/dev/null
export SPINFER_PREFIX="$PWD/build/prefix"
echo "=== reliability: ASan+UBSan suite, TSan, fuzzers, fault injection ==="
bash .ci/reliability.sh
for binding in python java rust; do
  if [[ -f .ci/$binding.sh ]]; then
    echo "=== $binding binding ==="
    bash .ci/$binding.sh build
  fi
done
echo "=== all tests passed ==="
