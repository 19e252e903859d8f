#include "dense_gemm.hpp"

#include <string>

#include "common/error.hpp"

CublasGemm::CublasGemm() {
  spinfer::require(cublasCreate(&handle_) == CUBLAS_STATUS_SUCCESS, SPINFER_STATUS_CUDA_ERROR, "cublasCreate failed");
  spinfer::require(cudaMalloc(&workspace_, kWorkspaceBytes) == cudaSuccess, SPINFER_STATUS_OUT_OF_MEMORY,
                   "cuBLAS workspace allocation failed");
}

CublasGemm::~CublasGemm() {
  cublasDestroy(handle_);
  cudaFree(workspace_);
}

void CublasGemm::gemm(const void* w, int64_t rows, int64_t cols, const void* x, int64_t n, int64_t ldx, void* y,
                      int64_t ldy, spinfer::DType dtype, void* stream) {
  // Row-major W [rows, cols] is column-major [cols, rows]; Y^T = W * X^T in column-major.
  const cudaDataType_t t = dtype == spinfer::DType::bf16 ? CUDA_R_16BF : CUDA_R_16F;
  const float alpha = 1.0f, beta = 0.0f;
  // A user workspace keeps cuBLAS from allocating inside a graph capture; cublasSetStream
  // resets it, so set it again after every stream change.
  cublasSetStream(handle_, static_cast<cudaStream_t>(stream));
  cublasSetWorkspace(handle_, workspace_, kWorkspaceBytes);
  const cublasStatus_t st =
      cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, int(rows), int(n), int(cols), &alpha, w, t, int(cols), x, t,
                   int(ldx), &beta, y, t, int(ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  spinfer::require(st == CUBLAS_STATUS_SUCCESS, SPINFER_STATUS_CUDA_ERROR,
                   [&] { return "cublasGemmEx failed with status " + std::to_string(int(st)); });
}
