#include "layers/decoder_layer.hpp"

#include "common/error.hpp"

namespace spinfer::layers {

DecoderLayer::DecoderLayer(Backend& backend, const DecoderConfig& config,
                           const DecoderWeights& w, void* stream)
    : backend_(backend), config_(config) {
  QkNorm qk_norm;
  qk_norm.q_weight = w.q_norm_weight;
  qk_norm.k_weight = w.k_norm_weight;
  qk_norm.eps = config.norm_eps;
  attention_ = std::make_unique<Attention>(backend, config.attention, w.q, w.k, w.v, w.o, w.q_bias,
                                           w.k_bias, w.v_bias, w.o_bias, stream, qk_norm);
  mlp_ = std::make_unique<Mlp>(backend, config.mlp, w.gate, w.up, w.down, w.up_bias, w.down_bias,
                               stream);
  const int64_t h = attention_->hidden();
  require(mlp_->hidden() == h, SPINFER_STATUS_SHAPE_MISMATCH,
          "the MLP's hidden size differs from the attention block's");
  auto norm_param = [&](const std::vector<float>& v, const char* name, bool needed) {
    if (v.empty()) {
      require(!needed, SPINFER_STATUS_INVALID_ARGUMENT,
              [&] { return std::string("decoder layer needs ") + name; });
      return Buffer{};
    }
    require(int64_t(v.size()) == h, SPINFER_STATUS_SHAPE_MISMATCH,
            [&] { return std::string("decoder layer ") + name + " must have hidden_size elements"; });
    return to_backend(backend, v, DType::f32, stream);
  };
  const bool ln = config.norm == NormKind::layer_norm;
  attn_norm_w_ = norm_param(w.attn_norm_weight, "attn_norm_weight", true);
  mlp_norm_w_ = norm_param(w.mlp_norm_weight, "mlp_norm_weight", true);
  attn_norm_b_ = norm_param(w.attn_norm_bias, "attn_norm_bias", false);
  mlp_norm_b_ = norm_param(w.mlp_norm_bias, "mlp_norm_bias", false);
  require(ln || (!attn_norm_b_.get() && !mlp_norm_b_.get()), SPINFER_STATUS_INVALID_ARGUMENT,
          "RMSNorm takes no norm bias");
}

size_t DecoderLayer::scratch_bytes(int64_t n) const {
  const size_t es = dtype_size(backend_.act_dtype());
  const size_t io = 2 * Scratch::round(size_t(n * hidden()) * es);
  return io + std::max(attention_->scratch_bytes(n), mlp_->scratch_bytes(n));
}

void DecoderLayer::forward(KvCache& cache, int layer, float* hidden, int64_t n, Scratch& scratch,
                           void* stream, const void* pending, void* mlp_out) {
  const ScratchMark rewind_on_exit(scratch);
  const int64_t h = this->hidden();
  const size_t es = dtype_size(backend_.act_dtype());
  void* normed = scratch.take(size_t(n * h) * es);
  void* out = scratch.take(size_t(n * h) * es);
  backend_.add_norm(config_.norm, hidden, pending, h, n, h, attn_norm_w_.as<const float>(),
                    attn_norm_b_.as<const float>(), config_.norm_eps, normed, stream);
  attention_->forward(cache, layer, normed, n, out, scratch, stream);
  backend_.add_norm(config_.norm, hidden, out, h, n, h, mlp_norm_w_.as<const float>(),
                    mlp_norm_b_.as<const float>(), config_.norm_eps, normed, stream);
  if (mlp_out) {
    mlp_->forward(normed, n, mlp_out, scratch, stream);
  } else {
    mlp_->forward(normed, n, out, scratch, stream);
    backend_.add_to_hidden(hidden, out, n, h, h, stream);
  }
}

}  // namespace spinfer::layers
