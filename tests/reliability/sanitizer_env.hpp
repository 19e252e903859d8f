// Whether the test runs under compute-sanitizer. The tools keep their own device
// allocations alive (free-memory accounting is meaningless then) and slow every launch
// down by orders of magnitude (many threads x many launches exceed any time limit, and
// racecheck's launch tracking has failed with 8 host threads). tools/sanitize_gpu.sh and
// tools/sanitize_cases.sh set SPINFER_UNDER_COMPUTE_SANITIZER; the injection variable
// the tool itself sets differs between its versions.
#pragma once

#include <cstdlib>

namespace spinfer::test {

inline bool under_compute_sanitizer() {
  return std::getenv("SPINFER_UNDER_COMPUTE_SANITIZER") != nullptr ||
         std::getenv("CUDA_INJECTION64_PATH") != nullptr;
}

}  // namespace spinfer::test
