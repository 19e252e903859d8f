#include "layers/attention.hpp"

#include <cmath>

#include "common/error.hpp"

namespace spinfer::layers {

std::vector<float> rope_inv_freq(int head_dim, double theta) {
  std::vector<float> f(size_t(head_dim / 2));
  for (int i = 0; i < head_dim / 2; ++i)
    f[size_t(i)] = float(1.0 / std::pow(theta, double(2 * i) / double(head_dim)));
  return f;
}

Attention::Attention(Backend& backend, const AttentionConfig& c, const MatrixInput& q,
                     const MatrixInput& k, const MatrixInput& v, const MatrixInput& o,
                     const std::vector<float>& q_bias, const std::vector<float>& k_bias,
                     const std::vector<float>& v_bias, const std::vector<float>& o_bias,
                     void* stream, const QkNorm& qk_norm)
    : backend_(backend), rope_(c.rope) {
  require(q.present() && k.present() && v.present() && o.present(), SPINFER_STATUS_INVALID_ARGUMENT,
          "attention needs the q, k, v and o matrices");
  require(c.num_heads >= 1, SPINFER_STATUS_INVALID_ARGUMENT, "attention num_heads must be >= 1");
  hidden_ = q.cols();
  heads_ = c.num_heads;
  kv_heads_ = c.num_kv_heads ? c.num_kv_heads : c.num_heads;
  require(kv_heads_ >= 1 && heads_ % kv_heads_ == 0, SPINFER_STATUS_INVALID_ARGUMENT,
          "num_heads must be a multiple of num_kv_heads");
  if (c.head_dim) {
    head_dim_ = c.head_dim;
  } else {
    require(hidden_ % heads_ == 0, SPINFER_STATUS_SHAPE_MISMATCH,
            "hidden size is not a multiple of num_heads; set head_dim");
    head_dim_ = int(hidden_ / heads_);
  }
  require(head_dim_ >= 2 && head_dim_ <= 256 && head_dim_ % 2 == 0, SPINFER_STATUS_INVALID_ARGUMENT,
          "head_dim must be even and in [2, 256]");
  const int64_t qd = int64_t(heads_) * head_dim_, kvd = int64_t(kv_heads_) * head_dim_;
  auto shape = [&](const MatrixInput& m, int64_t rows, int64_t cols, const char* name) {
    require(m.rows() == rows && m.cols() == cols, SPINFER_STATUS_SHAPE_MISMATCH, [&] {
      return std::string("attention ") + name + " matrix is [" + std::to_string(m.rows()) + ", " +
             std::to_string(m.cols()) + "], expected [" + std::to_string(rows) + ", " + std::to_string(cols) +
             "]";
    });
  };
  shape(q, qd, hidden_, "q");
  shape(k, kvd, hidden_, "k");
  shape(v, kvd, hidden_, "v");
  shape(o, hidden_, qd, "o");
  auto bias_len = [&](const std::vector<float>& b, int64_t len, const char* name) {
    require(b.empty() || int64_t(b.size()) == len, SPINFER_STATUS_SHAPE_MISMATCH,
            [&] { return std::string("attention ") + name + " bias has the wrong length"; });
  };
  bias_len(q_bias, qd, "q");
  bias_len(k_bias, kvd, "k");
  bias_len(v_bias, kvd, "v");
  bias_len(o_bias, hidden_, "o");
  if (qk_norm.present()) {
    auto norm_len = [&](const std::vector<float>& w, const char* name) {
      require(int64_t(w.size()) == head_dim_, SPINFER_STATUS_SHAPE_MISMATCH, [&] {
        return std::string("attention ") + name + " norm weight has " + std::to_string(w.size()) +
               " elements, expected head_dim " + std::to_string(head_dim_);
      });
    };
    norm_len(qk_norm.q_weight, "q");
    norm_len(qk_norm.k_weight, "k");
    require(qk_norm.eps >= 0.0f && std::isfinite(qk_norm.eps), SPINFER_STATUS_INVALID_ARGUMENT,
            [&] { return "attention q/k norm eps must be finite and >= 0, got " + std::to_string(qk_norm.eps); });
  }
  require(std::isfinite(c.scale), SPINFER_STATUS_INVALID_ARGUMENT, [&] {
    return "attention scale must be finite (0 = 1 / sqrt(head_dim)), got " + std::to_string(c.scale);
  });
  scale_ = c.scale != 0.0f ? c.scale : float(1.0 / std::sqrt(double(head_dim_)));

  const DType act = backend.act_dtype();
  fused_ = c.fuse_qkv && can_concat_rows({q, k, v});
  if (fused_) {
    bind_concat(backend, {q, k, v}, qkv_, stream);
    if (!q_bias.empty() || !k_bias.empty() || !v_bias.empty()) {
      std::vector<float> joined(size_t(qd + 2 * kvd), 0.0f);
      std::copy(q_bias.begin(), q_bias.end(), joined.begin());
      std::copy(k_bias.begin(), k_bias.end(), joined.begin() + qd);
      std::copy(v_bias.begin(), v_bias.end(), joined.begin() + qd + kvd);
      qkv_bias_ = to_backend(backend, joined, act, stream);
    }
  } else {
    bind_matrix(backend, q, q_, stream, "q");
    bind_matrix(backend, k, k_, stream, "k");
    bind_matrix(backend, v, v_, stream, "v");
    q_bias_ = to_backend(backend, q_bias, act, stream);
    k_bias_ = to_backend(backend, k_bias, act, stream);
    v_bias_ = to_backend(backend, v_bias, act, stream);
  }
  bind_matrix(backend, o, o_, stream, "o");
  o_bias_ = to_backend(backend, o_bias, act, stream);
  if (qk_norm.present()) {
    q_norm_ = to_backend(backend, qk_norm.q_weight, DType::f32, stream);
    k_norm_ = to_backend(backend, qk_norm.k_weight, DType::f32, stream);
    qk_norm_eps_ = qk_norm.eps;
  }
  if (rope_) {
    std::vector<float> f = c.inv_freq.empty() ? rope_inv_freq(head_dim_, c.rope_theta) : c.inv_freq;
    require(int64_t(f.size()) == head_dim_ / 2, SPINFER_STATUS_INVALID_ARGUMENT,
            "RoPE frequency table must have head_dim / 2 entries");
    require(!c.inv_freq.empty() || (c.rope_theta > 0 && std::isfinite(c.rope_theta)),
            SPINFER_STATUS_INVALID_ARGUMENT, [&] {
              return "attention rope_theta must be finite and > 0, got " + std::to_string(c.rope_theta);
            });
    for (const float v : f)
      require(std::isfinite(v), SPINFER_STATUS_INVALID_ARGUMENT, [&] {
        return "the RoPE frequencies hold NaN or infinity (rope_theta " + std::to_string(c.rope_theta) +
               " is too small)";
      });
    inv_freq_ = to_backend(backend, f, DType::f32, stream);
  }
}

// Leading dimensions are rounded up to 8 elements: the CUDA SpMM needs 16-byte rows.
static int64_t pad8(int64_t v) { return (v + 7) / 8 * 8; }

size_t Attention::scratch_bytes(int64_t n) const {
  const size_t es = dtype_size(backend_.act_dtype());
  const int64_t qd = pad8(int64_t(heads_) * head_dim_), kvd = pad8(int64_t(kv_heads_) * head_dim_);
  return Scratch::round(size_t(n * (qd + 2 * kvd)) * es) + Scratch::round(size_t(n * qd) * es) +
         Scratch::round(backend_.attention_workspace_bytes(n, heads_, head_dim_));
}

void Attention::forward(KvCache& cache, int layer, const void* x, int64_t n, void* out,
                        Scratch& scratch, void* stream) {
  const StepLayout& step = cache.step();
  require(n == step.num_tokens, SPINFER_STATUS_SHAPE_MISMATCH, [&] {
    return "attention got " + std::to_string(n) + " tokens but the KV cache step has " +
           std::to_string(step.num_tokens);
  });
  const KvLayer kv = cache.layer(layer);
  require(kv.kv_heads == kv_heads_ && kv.head_dim == head_dim_, SPINFER_STATUS_SHAPE_MISMATCH,
          "the KV cache's kv_heads/head_dim do not match the attention block");
  require(kv.dtype == backend_.act_dtype() || !backend_.is_cuda(), SPINFER_STATUS_UNSUPPORTED_DTYPE,
          "the KV cache dtype differs from the activations'");
  const ScratchMark rewind_on_exit(scratch);
  const size_t es = dtype_size(backend_.act_dtype());
  // Row layout [q | k | v], each part padded to 8 elements (no padding when fused:
  // joined matrices have row counts that are multiples of 64).
  const int64_t qd = pad8(int64_t(heads_) * head_dim_), kvd = pad8(int64_t(kv_heads_) * head_dim_);
  const int64_t ld = qd + 2 * kvd;
  auto* qkv = static_cast<unsigned char*>(scratch.take(size_t(n * ld) * es));
  void* q = qkv;
  void* k = qkv + size_t(qd) * es;
  void* v = qkv + size_t(qd + kvd) * es;
  if (fused_) {
    backend_.linear(qkv_.weight, x, n, hidden_, qkv_bias_.get(), q, ld, stream);
  } else {
    backend_.linear(q_.weight, x, n, hidden_, q_bias_.get(), q, ld, stream);
    backend_.linear(k_.weight, x, n, hidden_, k_bias_.get(), k, ld, stream);
    backend_.linear(v_.weight, x, n, hidden_, v_bias_.get(), v, ld, stream);
  }
  if (q_norm_.get())
    backend_.qk_head_norm(q, ld, heads_, q_norm_.as<const float>(), k, ld, kv_heads_, k_norm_.as<const float>(),
                          head_dim_, n, qk_norm_eps_, stream);
  backend_.rope_append(q, ld, heads_, k, ld, v, ld, rope_ ? inv_freq_.as<const float>() : nullptr, kv,
                       step, stream);
  void* att = scratch.take(size_t(n * qd) * es);
  const size_t ws_bytes = backend_.attention_workspace_bytes(n, heads_, head_dim_);
  void* ws = ws_bytes ? scratch.take(ws_bytes) : nullptr;
  backend_.attention(kv, step, q, ld, heads_, scale_, att, qd, ws, ws_bytes, stream);
  backend_.linear(o_.weight, att, n, qd, o_bias_.get(), out, hidden_, stream);
}

}  // namespace spinfer::layers
