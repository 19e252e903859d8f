// Helpers of the GPU tests: device buffers, random sparse matrices, the float64 host
// reference and the cuBLAS baseline.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include <cuda_runtime.h>

#include "common/dtype.hpp"
#include "cuda/cuda_backend.hpp"

namespace gpu_test {

using spinfer::DType;

// Aborts the test (doctest REQUIRE) on a CUDA error.
void cuda_ok(cudaError_t err, const char* what);

// Owning device buffer.
struct DeviceBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  explicit DeviceBuffer(size_t n_bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  // upload and poison return when the device memory holds the data (safe for any stream).
  void upload(const void* src, size_t n) const;
  void download(void* dst, size_t n) const;
  void poison() const;  // 0xFF bytes: NaN in fp16 and bf16
};

// Dense [rows, ld] storage-dtype matrix with about `sparsity` zeros (random pattern,
// random non-zero values in [-1, 1]); columns in [cols, ld) are NaN when pad_nan.
std::vector<uint16_t> random_sparse(int64_t rows, int64_t cols, int64_t ld, double sparsity,
                                    DType dtype, std::mt19937_64& rng, bool pad_nan = false);

// Float64 reference of Y = X * W^T (+ bias) from storage-dtype arrays.
std::vector<double> reference_spmm(const std::vector<uint16_t>& w, int64_t m, int64_t k,
                                   int64_t ldw, const std::vector<uint16_t>& x, int64_t n,
                                   int64_t ldx, const std::vector<uint16_t>* bias, DType dtype);

// ||out - ref|| / ||ref|| over the [n, m] block of `out` (leading dimension ldy);
// returns +inf when any output is not finite.
double relative_error(const std::vector<uint16_t>& out, int64_t n, int64_t m, int64_t ldy,
                      const std::vector<double>& ref, DType dtype);

// Y = X * W^T with cuBLAS on a dense device W (fp32 accumulation, tensor ops).
void cublas_reference(const void* w_dense, int64_t m, int64_t k, const void* x, int64_t n,
                      int64_t ldx, void* y, int64_t ldy, DType dtype);

double tolerance(DType dtype);

}  // namespace gpu_test
