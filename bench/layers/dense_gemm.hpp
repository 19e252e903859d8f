// The dense comparison path of bench_layers: Y = X * W^T through cuBLAS (fp16 in/out,
// fp32 accumulation), plugged into the layer runtime as layers::DenseGemm.
#pragma once

#include <cublas_v2.h>

#include "layers/backend.hpp"

class CublasGemm final : public spinfer::layers::DenseGemm {
 public:
  CublasGemm();
  ~CublasGemm() override;
  void gemm(const void* w, int64_t rows, int64_t cols, const void* x, int64_t n, int64_t ldx, void* y,
            int64_t ldy, spinfer::DType dtype, void* stream) override;

 private:
  static constexpr size_t kWorkspaceBytes = size_t(32) << 20;
  cublasHandle_t handle_ = nullptr;
  void* workspace_ = nullptr;
};
