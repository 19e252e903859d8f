// Vendor baselines of bench_spmm, each computing Y[n, m] = X[n, k] * W[m, k]^T with the
// same row-major layouts as spinfer: dense cuBLAS, cuSPARSE CSR SpMM, cuSPARSELt 2:4.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <cuda_runtime.h>

// Dense GEMM through cuBLAS (fp16/bf16 tensor ops, fp32 accumulation).
class CublasDense {
 public:
  explicit CublasDense(cudaStream_t stream);
  ~CublasDense();
  void run(const void* w, int64_t m, int64_t k, const void* x, int64_t n, void* y, bool bf16);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// CSR SpMM through cuSPARSE, built from a dense device matrix.
class CusparseCsr {
 public:
  CusparseCsr(const void* dense_w, int64_t m, int64_t k, bool bf16, cudaStream_t stream);
  ~CusparseCsr();
  void run(const void* x, int64_t n, void* y);
  size_t bytes() const;  // values + column indices + row pointers

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// 2:4 structured sparsity (50 %) through cuSPARSELt, pruned from a dense device matrix;
// the algorithm is searched once (cusparseLtMatmulSearch) per shape.
class CusparseLt {
 public:
  static bool available();
  CusparseLt(const void* dense_w, int64_t m, int64_t k, int64_t n, bool bf16, int instances,
             cudaStream_t stream);
  ~CusparseLt();
  bool ok() const;
  std::string error() const;
  void run(int instance, const void* x, void* y);
  size_t bytes() const;  // compressed A of one instance

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
