// Self-attention block over a paged KV cache: sparse Q/K/V projections (one joined
// SpMM when the row counts allow), optional per-head RMSNorm of q and k (Qwen3),
// optional RoPE, cache append, causal attention (multi-head or grouped-query), sparse
// output projection.
#pragma once

#include <vector>

#include "layers/kv_cache.hpp"
#include "layers/weights.hpp"

namespace spinfer::layers {

struct AttentionConfig {
  int num_heads = 0;
  int num_kv_heads = 0;          // 0 = num_heads
  int head_dim = 0;              // 0 = hidden / num_heads
  bool rope = false;
  std::vector<float> inv_freq;   // RoPE frequencies [head_dim / 2]; empty = theta 10000
  double rope_theta = 10000.0;   // used when inv_freq is empty
  float scale = 0.0f;            // 0 = 1 / sqrt(head_dim)
  bool fuse_qkv = true;
};

// Per-head RMSNorm of q and k after the projections, before RoPE (Qwen3's q_norm /
// k_norm): every head vector x of length head_dim becomes x / rms(x) * weight. Both
// weights fp32 [head_dim], or both empty (none).
struct QkNorm {
  std::vector<float> q_weight, k_weight;
  float eps = 1e-6f;
  bool present() const { return !q_weight.empty() || !k_weight.empty(); }
};

// RoPE frequencies theta^(-2i/d), i < d/2 (HF default rotary initialisation).
std::vector<float> rope_inv_freq(int head_dim, double theta);

class Attention {
 public:
  // Biases fp32 (empty = none).
  Attention(Backend& backend, const AttentionConfig& config, const MatrixInput& q,
            const MatrixInput& k, const MatrixInput& v, const MatrixInput& o,
            const std::vector<float>& q_bias, const std::vector<float>& k_bias,
            const std::vector<float>& v_bias, const std::vector<float>& o_bias, void* stream,
            const QkNorm& qk_norm = {});
  int64_t hidden() const { return hidden_; }
  int num_heads() const { return heads_; }
  int num_kv_heads() const { return kv_heads_; }
  int head_dim() const { return head_dim_; }
  bool fused() const { return fused_; }
  bool qk_norm() const { return q_norm_.get() != nullptr; }
  size_t scratch_bytes(int64_t n) const;
  // out [n, hidden] = attention(x [n, hidden]) for the cache's current step (n must be
  // its token count), appending K/V to cache layer `layer`.
  void forward(KvCache& cache, int layer, const void* x, int64_t n, void* out, Scratch& scratch,
               void* stream);

 private:
  Backend& backend_;
  int64_t hidden_ = 0;
  int heads_ = 0, kv_heads_ = 0, head_dim_ = 0;
  bool rope_ = false, fused_ = false;
  float scale_ = 1.0f, qk_norm_eps_ = 0.0f;
  LayerMatrix q_, k_, v_, o_, qkv_;
  Buffer q_bias_, k_bias_, v_bias_, qkv_bias_, o_bias_, inv_freq_, q_norm_, k_norm_;
};

}  // namespace spinfer::layers
