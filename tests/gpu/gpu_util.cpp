#include "gpu_util.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include <cublas_v2.h>

namespace gpu_test {

void cuda_ok(cudaError_t err, const char* what) {
  INFO(what << ": " << cudaGetErrorString(err));
  REQUIRE(err == cudaSuccess);
}

DeviceBuffer::DeviceBuffer(size_t n_bytes) : bytes(n_bytes) {
  cuda_ok(cudaMalloc(&ptr, n_bytes ? n_bytes : 16), "cudaMalloc");
}
DeviceBuffer::~DeviceBuffer() { cudaFree(ptr); }
// cudaMemcpy from pageable memory and cudaMemset run on the legacy default stream and
// may still be in flight when they return; the tests also launch on non-blocking streams,
// which do not wait for the legacy stream. Wait here so the data is in place for any
// stream (a race of this kind made the first SpMM of the C API test return NaN under
// initcheck).
void DeviceBuffer::upload(const void* src, size_t n) const {
  cuda_ok(cudaMemcpy(ptr, src, n, cudaMemcpyHostToDevice), "cudaMemcpy H2D");
  cuda_ok(cudaDeviceSynchronize(), "cudaMemcpy H2D (sync)");
}
void DeviceBuffer::download(void* dst, size_t n) const {
  cuda_ok(cudaMemcpy(dst, ptr, n, cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
}
void DeviceBuffer::poison() const {
  cuda_ok(cudaMemset(ptr, 0xFF, bytes), "cudaMemset");
  cuda_ok(cudaDeviceSynchronize(), "cudaMemset (sync)");
}

std::vector<uint16_t> random_sparse(int64_t rows, int64_t cols, int64_t ld, double sparsity,
                                    DType dtype, std::mt19937_64& rng, bool pad_nan) {
  std::vector<uint16_t> a(size_t(rows * ld), 0);
  std::uniform_real_distribution<double> keep(0.0, 1.0);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  const uint16_t nan = dtype == DType::f16 ? 0x7e00 : 0x7fc0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < ld; ++c) {
      uint16_t& e = a[size_t(r * ld + c)];
      if (c >= cols) {
        e = pad_nan ? nan : 0;
        continue;
      }
      if (keep(rng) < sparsity) continue;
      do {
        e = spinfer::float_to_storage(value(rng), dtype);
      } while (spinfer::storage_is_zero(e));
    }
  }
  return a;
}

std::vector<double> reference_spmm(const std::vector<uint16_t>& w, int64_t m, int64_t k,
                                   int64_t ldw, const std::vector<uint16_t>& x, int64_t n,
                                   int64_t ldx, const std::vector<uint16_t>* bias, DType dtype) {
  std::vector<double> wf(size_t(m * k)), xf(size_t(n * k));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < k; ++j)
      wf[size_t(i * k + j)] = spinfer::storage_to_float(w[size_t(i * ldw + j)], dtype);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j)
      xf[size_t(i * k + j)] = spinfer::storage_to_float(x[size_t(i * ldx + j)], dtype);
  std::vector<double> y(size_t(n * m));
  for (int64_t t = 0; t < n; ++t) {
    const double* xr = &xf[size_t(t * k)];
    for (int64_t i = 0; i < m; ++i) {
      const double* wr = &wf[size_t(i * k)];
      double s = bias ? spinfer::storage_to_float((*bias)[size_t(i)], dtype) : 0.0;
      for (int64_t j = 0; j < k; ++j) s += wr[j] * xr[j];
      y[size_t(t * m + i)] = s;
    }
  }
  return y;
}

double relative_error(const std::vector<uint16_t>& out, int64_t n, int64_t m, int64_t ldy,
                      const std::vector<double>& ref, DType dtype) {
  double num = 0, den = 0;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t i = 0; i < m; ++i) {
      const double o = spinfer::storage_to_float(out[size_t(t * ldy + i)], dtype);
      if (!std::isfinite(o)) return std::numeric_limits<double>::infinity();
      const double r = ref[size_t(t * m + i)];
      num += (o - r) * (o - r);
      den += r * r;
    }
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

void cublas_reference(const void* w_dense, int64_t m, int64_t k, const void* x, int64_t n,
                      int64_t ldx, void* y, int64_t ldy, DType dtype) {
  cublasHandle_t h = nullptr;
  REQUIRE(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
  // cuBLAS' split-K reduction reads parts of its workspace its GEMM kernel never wrote
  // (thousands of initcheck reports in cublasLt::splitKreduce_kernel, none affecting the
  // result): give it a zeroed workspace so initcheck logs show only findings of ours.
  constexpr size_t kWorkspaceBytes = size_t(32) << 20;
  DeviceBuffer workspace(kWorkspaceBytes);
  cuda_ok(cudaMemset(workspace.ptr, 0, kWorkspaceBytes), "cudaMemset(cuBLAS workspace)");
  cuda_ok(cudaDeviceSynchronize(), "cudaMemset(cuBLAS workspace) sync");
  REQUIRE(cublasSetWorkspace(h, workspace.ptr, kWorkspaceBytes) == CUBLAS_STATUS_SUCCESS);
  const float alpha = 1.0f, beta = 0.0f;
  const cudaDataType_t t = dtype == DType::f16 ? CUDA_R_16F : CUDA_R_16BF;
  // Row-major Y[n, m] = X[n, k] * W[m, k]^T is column-major Y'[m, n] = W'^T X' .
  const cublasStatus_t st =
      cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, int(m), int(n), int(k), &alpha, w_dense, t, int(k),
                   x, t, int(ldx), &beta, y, t, int(ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  cublasDestroy(h);
  REQUIRE(st == CUBLAS_STATUS_SUCCESS);
  cuda_ok(cudaDeviceSynchronize(), "cuBLAS");
}

double tolerance(DType dtype) { return dtype == DType::f16 ? 1e-3 : 1e-2; }

}  // namespace gpu_test
