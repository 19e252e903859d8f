// Fixtures shared by the host reliability tests: a host context with a given number of
// worker threads, and a float64 reference matrix encoded to fp16 through the C API.
#pragma once

#include <doctest/doctest.h>

#include <vector>

#include "layers_reference.hpp"  // tests/cpu
#include "spinfer.h"

namespace spinfer::test {

// threads = 1 gives deterministic failure-point numbering in the fault sweeps.
inline spinfer_context_t* host_context(int threads) {
  spinfer_context_config_t cfg;
  spinfer_context_config_init(&cfg);
  cfg.backend = SPINFER_BACKEND_HOST;
  cfg.host_threads = threads;
  spinfer_context_t* ctx = nullptr;
  REQUIRE(spinfer_context_create_ex(&ctx, &cfg) == SPINFER_STATUS_SUCCESS);
  return ctx;
}

inline spinfer_matrix_t* encode_f16(const ref::Mat& m) {
  std::vector<float> f(m.a.begin(), m.a.end());
  spinfer_matrix_t* out = nullptr;
  REQUIRE(spinfer_matrix_encode(&out, f.data(), SPINFER_DTYPE_F32, m.rows, m.cols, m.cols, SPINFER_DTYPE_F16) ==
          SPINFER_STATUS_SUCCESS);
  return out;
}

}  // namespace spinfer::test
