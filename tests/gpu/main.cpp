// GPU test runner: skips (exit 77) when no CUDA device can be used.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "cuda/cuda_backend.hpp"

int main(int argc, char** argv) {
  if (!spinfer::cuda::device_available(0)) {
    std::printf("SKIPPED: no CUDA device\n");
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
