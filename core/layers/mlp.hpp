// MLP blocks. Plain (OPT): down(act(up x + b1)) + b2. Gated (LLaMA):
// down(act(gate x) * up x), with gate and up joined into one SpMM when possible.
#pragma once

#include <vector>

#include "layers/weights.hpp"

namespace spinfer::layers {

struct MlpConfig {
  bool gated = true;
  Activation activation = Activation::silu;
  bool fuse_gate_up = true;
};

class Mlp {
 public:
  // Biases fp32 (empty = none): up_bias [inter], down_bias [hidden].
  Mlp(Backend& backend, const MlpConfig& config, const MatrixInput& gate, const MatrixInput& up,
      const MatrixInput& down, const std::vector<float>& up_bias,
      const std::vector<float>& down_bias, void* stream);
  int64_t hidden() const { return hidden_; }
  int64_t intermediate() const { return inter_; }
  bool fused() const { return fused_; }
  size_t scratch_bytes(int64_t n) const;
  // out [n, hidden] = mlp(x [n, hidden]); act dtype, contiguous.
  void forward(const void* x, int64_t n, void* out, Scratch& scratch, void* stream);

 private:
  Backend& backend_;
  MlpConfig config_;
  int64_t hidden_ = 0, inter_ = 0;
  bool fused_ = false;
  LayerMatrix gate_, up_, down_, gate_up_;
  Buffer up_bias_, down_bias_;
};

}  // namespace spinfer::layers
