#include "baselines.hpp"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include <cublas_v2.h>
#include <cusparse.h>

namespace {
void check(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}
}  // namespace

// ---- cuBLAS ----
struct CublasDense::Impl {
  cublasHandle_t handle = nullptr;
  void* workspace = nullptr;
};

CublasDense::CublasDense(cudaStream_t stream) : impl_(new Impl) {
  check(cublasCreate(&impl_->handle) == CUBLAS_STATUS_SUCCESS, "cublasCreate");
  cublasSetStream(impl_->handle, stream);
  // A fixed workspace keeps cuBLAS from allocating during graph capture.
  const size_t ws = size_t(64) << 20;
  check(cudaMalloc(&impl_->workspace, ws) == cudaSuccess, "cudaMalloc(cuBLAS workspace)");
  cublasSetWorkspace(impl_->handle, impl_->workspace, ws);
}
CublasDense::~CublasDense() {
  cublasDestroy(impl_->handle);
  cudaFree(impl_->workspace);
}
void CublasDense::run(const void* w, int64_t m, int64_t k, const void* x, int64_t n, void* y,
                      bool bf16) {
  const float alpha = 1.f, beta = 0.f;
  const cudaDataType_t t = bf16 ? CUDA_R_16BF : CUDA_R_16F;
  // Column-major view: Y'[m, n] = W'^T[m, k] * X'[k, n].
  const cublasStatus_t st =
      cublasGemmEx(impl_->handle, CUBLAS_OP_T, CUBLAS_OP_N, int(m), int(n), int(k), &alpha, w, t,
                   int(k), x, t, int(k), &beta, y, t, int(m), CUBLAS_COMPUTE_32F,
                   CUBLAS_GEMM_DEFAULT);
  check(st == CUBLAS_STATUS_SUCCESS, "cublasGemmEx");
}

// ---- cuSPARSE ----
struct CusparseCsr::Impl {
  cusparseHandle_t handle = nullptr;
  cusparseSpMatDescr_t a = nullptr;
  void *values = nullptr, *cols = nullptr, *rows = nullptr;
  int64_t m = 0, k = 0, nnz = 0;
  bool bf16 = false;
  void* buffer = nullptr;
  size_t buffer_size = 0;
  cudaStream_t stream = nullptr;
};

CusparseCsr::CusparseCsr(const void* dense_w, int64_t m, int64_t k, bool bf16, cudaStream_t stream)
    : impl_(new Impl) {
  auto& s = *impl_;
  s.m = m;
  s.k = k;
  s.bf16 = bf16;
  s.stream = stream;
  const cudaDataType_t t = bf16 ? CUDA_R_16BF : CUDA_R_16F;
  check(cusparseCreate(&s.handle) == CUSPARSE_STATUS_SUCCESS, "cusparseCreate");
  cusparseSetStream(s.handle, stream);
  cusparseDnMatDescr_t dense;
  check(cusparseCreateDnMat(&dense, m, k, k, const_cast<void*>(dense_w), t, CUSPARSE_ORDER_ROW) ==
            CUSPARSE_STATUS_SUCCESS,
        "cusparseCreateDnMat");
  check(cudaMalloc(&s.rows, size_t(m + 1) * 4) == cudaSuccess, "cudaMalloc(csr rows)");
  check(cusparseCreateCsr(&s.a, m, k, 0, s.rows, nullptr, nullptr, CUSPARSE_INDEX_32I,
                          CUSPARSE_INDEX_32I, CUSPARSE_INDEX_BASE_ZERO, t) == CUSPARSE_STATUS_SUCCESS,
        "cusparseCreateCsr");
  size_t bsize = 0;
  cusparseDenseToSparse_bufferSize(s.handle, dense, s.a, CUSPARSE_DENSETOSPARSE_ALG_DEFAULT, &bsize);
  void* buf = nullptr;
  cudaMalloc(&buf, bsize ? bsize : 16);
  check(cusparseDenseToSparse_analysis(s.handle, dense, s.a, CUSPARSE_DENSETOSPARSE_ALG_DEFAULT,
                                       buf) == CUSPARSE_STATUS_SUCCESS,
        "cusparseDenseToSparse_analysis");
  int64_t r, c;
  cusparseSpMatGetSize(s.a, &r, &c, &s.nnz);
  check(cudaMalloc(&s.values, size_t(s.nnz ? s.nnz : 1) * 2) == cudaSuccess, "cudaMalloc(csr values)");
  check(cudaMalloc(&s.cols, size_t(s.nnz ? s.nnz : 1) * 4) == cudaSuccess, "cudaMalloc(csr cols)");
  cusparseCsrSetPointers(s.a, s.rows, s.cols, s.values);
  check(cusparseDenseToSparse_convert(s.handle, dense, s.a, CUSPARSE_DENSETOSPARSE_ALG_DEFAULT,
                                      buf) == CUSPARSE_STATUS_SUCCESS,
        "cusparseDenseToSparse_convert");
  cudaStreamSynchronize(stream);
  cudaFree(buf);
  cusparseDestroyDnMat(dense);
}

CusparseCsr::~CusparseCsr() {
  auto& s = *impl_;
  cusparseDestroySpMat(s.a);
  cusparseDestroy(s.handle);
  cudaFree(s.values);
  cudaFree(s.cols);
  cudaFree(s.rows);
  cudaFree(s.buffer);
}

size_t CusparseCsr::bytes() const {
  return size_t(impl_->nnz) * 6 + size_t(impl_->m + 1) * 4;
}

void CusparseCsr::run(const void* x, int64_t n, void* y) {
  auto& s = *impl_;
  const cudaDataType_t t = s.bf16 ? CUDA_R_16BF : CUDA_R_16F;
  cusparseDnMatDescr_t b, c;
  // X[n, k] row-major = B[k, n] column-major; Y[n, m] row-major = C[m, n] column-major.
  cusparseCreateDnMat(&b, s.k, n, s.k, const_cast<void*>(x), t, CUSPARSE_ORDER_COL);
  cusparseCreateDnMat(&c, s.m, n, s.m, y, t, CUSPARSE_ORDER_COL);
  const float alpha = 1.f, beta = 0.f;
  size_t need = 0;
  cusparseSpMM_bufferSize(s.handle, CUSPARSE_OPERATION_NON_TRANSPOSE,
                          CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, s.a, b, &beta, c, CUDA_R_32F,
                          CUSPARSE_SPMM_ALG_DEFAULT, &need);
  if (need > s.buffer_size) {
    // Only while warming up (sizes are fixed afterwards), never inside a timed region.
    cudaFree(s.buffer);
    check(cudaMalloc(&s.buffer, need) == cudaSuccess, "cudaMalloc(cuSPARSE buffer)");
    s.buffer_size = need;
  }
  const cusparseStatus_t st =
      cusparseSpMM(s.handle, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE,
                   &alpha, s.a, b, &beta, c, CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, s.buffer);
  cusparseDestroyDnMat(b);
  cusparseDestroyDnMat(c);
  check(st == CUSPARSE_STATUS_SUCCESS, std::string("cusparseSpMM: ") + cusparseGetErrorString(st));
}

#ifndef SPINFER_BENCH_CUSPARSELT
struct CusparseLt::Impl {};
bool CusparseLt::available() { return false; }
CusparseLt::CusparseLt(const void*, int64_t, int64_t, int64_t, bool, int, cudaStream_t) {}
CusparseLt::~CusparseLt() = default;
bool CusparseLt::ok() const { return false; }
std::string CusparseLt::error() const { return "built without cuSPARSELt"; }
void CusparseLt::run(int, const void*, void*) {}
size_t CusparseLt::bytes() const { return 0; }
#endif
