// Device buffers of fp16/bf16 activations for the GPU layer tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include "common/dtype.hpp"
#include "spinfer.h"

namespace spinfer::test {

#define SP_OK(call) REQUIRE_MESSAGE((call) == SPINFER_STATUS_SUCCESS, spinfer_last_error_message())

// A device array of `count` 16-bit elements of dtype `dt`, filled with NaN.
struct DevArray {
  void* p = nullptr;
  size_t count = 0;
  spinfer_dtype_t dt;
  DevArray(size_t n, spinfer_dtype_t dtype) : count(n), dt(dtype) {
    REQUIRE(cudaMalloc(&p, n * 2 + 16) == cudaSuccess);
    std::vector<uint16_t> nan(n, dt == SPINFER_DTYPE_F16 ? 0x7e00 : 0x7fc0);
    REQUIRE(cudaMemcpy(p, nan.data(), n * 2, cudaMemcpyHostToDevice) == cudaSuccess);
  }
  DevArray(const std::vector<double>& v, spinfer_dtype_t dtype) : DevArray(v.size(), dtype) { set(v); }
  ~DevArray() { cudaFree(p); }
  DevArray(const DevArray&) = delete;
  DevArray& operator=(const DevArray&) = delete;
  void set(const std::vector<double>& v) {
    std::vector<uint16_t> h(v.size());
    for (size_t i = 0; i < v.size(); ++i) h[i] = float_to_storage(float(v[i]), DType(dt));
    REQUIRE(cudaMemcpy(p, h.data(), h.size() * 2, cudaMemcpyHostToDevice) == cudaSuccess);
  }
  std::vector<double> get() const {
    std::vector<uint16_t> h(count);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    REQUIRE(cudaMemcpy(h.data(), p, count * 2, cudaMemcpyDeviceToHost) == cudaSuccess);
    std::vector<double> out(count);
    for (size_t i = 0; i < count; ++i) out[i] = storage_to_float(h[i], DType(dt));
    return out;
  }
};

// Values rounded to dtype (the inputs the GPU actually sees).
inline std::vector<double> rounded(const std::vector<double>& v, spinfer_dtype_t dt) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = storage_to_float(float_to_storage(float(v[i]), DType(dt)), DType(dt));
  return out;
}

inline spinfer_context_t* cuda_context() {
  spinfer_context_t* ctx = nullptr;
  SP_OK(spinfer_context_create(&ctx, SPINFER_BACKEND_CUDA));
  return ctx;
}

}  // namespace spinfer::test
