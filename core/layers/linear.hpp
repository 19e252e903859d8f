// Sparse linear layer: y = act(x W^T + bias) (+ residual). The bias is fused into the
// SpMM; activation and residual run as one epilogue pass.
#pragma once

#include <vector>

#include "layers/weights.hpp"

namespace spinfer::layers {

class Linear {
 public:
  // `bias` is fp32 [rows] or empty.
  Linear(Backend& backend, const MatrixInput& w, const std::vector<float>& bias, Activation act,
         void* stream);
  int64_t in_features() const { return w_.weight.cols; }
  int64_t out_features() const { return w_.weight.rows; }
  // x [n, in], residual [n, out] or NULL, y [n, out]; all contiguous, act dtype.
  void forward(const void* x, int64_t n, const void* residual, void* y, void* stream);

 private:
  Backend& backend_;
  LayerMatrix w_;
  Buffer bias_;
  Activation act_;
};

}  // namespace spinfer::layers
