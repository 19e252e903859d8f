// One pre-norm decoder layer:
//   h += attention(norm1(h));  h += mlp(norm2(h))
// with LayerNorm (OPT) or RMSNorm (LLaMA) and the residual stream h kept in fp32.
#pragma once

#include <memory>
#include <vector>

#include "layers/attention.hpp"
#include "layers/mlp.hpp"

namespace spinfer::layers {

struct DecoderConfig {
  NormKind norm = NormKind::rms_norm;
  float norm_eps = 1e-5f;
  AttentionConfig attention;
  MlpConfig mlp;
};

// Host-side weights of one layer; dense vectors are fp32 (empty = absent).
struct DecoderWeights {
  MatrixInput q, k, v, o, gate, up, down;
  std::vector<float> q_bias, k_bias, v_bias, o_bias, up_bias, down_bias;
  std::vector<float> attn_norm_weight, attn_norm_bias, mlp_norm_weight, mlp_norm_bias;
  // Qwen3: per-head RMSNorm weights of q and k ([head_dim], eps = norm_eps); empty = none.
  std::vector<float> q_norm_weight, k_norm_weight;
};

class DecoderLayer {
 public:
  DecoderLayer(Backend& backend, const DecoderConfig& config, const DecoderWeights& weights,
               void* stream);
  int64_t hidden() const { return attention_->hidden(); }
  const Attention& attention() const { return *attention_; }
  const Mlp& mlp() const { return *mlp_; }
  NormKind norm_kind() const { return config_.norm; }
  float norm_eps() const { return config_.norm_eps; }
  size_t scratch_bytes(int64_t n) const;
  // hidden [n, hidden] fp32, updated in place.
  //
  // Residual deferral (saves one pass per layer in a stack of layers): `pending`, when
  // not NULL, is the previous layer's MLP output [n, hidden] (act dtype) still to be
  // added to hidden; it is added in the same pass as this layer's first norm. When
  // `mlp_out` is not NULL this layer's MLP output is written there instead of being
  // added, and the caller adds it (to the next layer as `pending`, or by add_norm).
  // `pending` and `mlp_out` may be the same buffer.
  void forward(KvCache& cache, int layer, float* hidden, int64_t n, Scratch& scratch, void* stream,
               const void* pending = nullptr, void* mlp_out = nullptr);

 private:
  Backend& backend_;
  DecoderConfig config_;
  std::unique_ptr<Attention> attention_;
  std::unique_ptr<Mlp> mlp_;
  Buffer attn_norm_w_, attn_norm_b_, mlp_norm_w_, mlp_norm_b_;
};

}  // namespace spinfer::layers
