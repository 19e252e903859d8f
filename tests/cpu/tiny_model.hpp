// A tiny random OPT, LLaMA, Qwen2 or Qwen3 model: float64 reference forward and a
// writer of its Hugging Face-layout directory (config.json + safetensors; linear
// weights dense or as spinfer matrices). Shared by the host and GPU model tests.
#pragma once

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "format/encode.hpp"
#include "io/matrix_file.hpp"
#include "io/safetensors.hpp"
#include "layers_reference.hpp"

namespace spinfer::test {

using ref::Mat;
using ref::Vec;

// Qwen2: LLaMA with q/k/v biases (no o bias), rope_theta 1e6, tied embeddings.
// Qwen3: LLaMA with per-head q/k RMSNorm and head_dim 32 != hidden / heads.
enum class Family { opt, llama, qwen2, qwen3 };

inline const char* family_name(Family f) {
  return f == Family::opt ? "opt" : f == Family::llama ? "llama" : f == Family::qwen2 ? "qwen2" : "qwen3";
}

struct TinyModel {
  bool opt = false;
  Family family = Family::llama;
  bool tied = false;  // LM head = token embedding (tie_word_embeddings)
  int64_t vocab = 50, H = 64, I = 128, layers = 2, max_pos = 64;
  int heads = 4, kv_heads = 2, hd = 16;
  double theta = 10000.0;
  Mat embed, positions, lm_head;
  std::vector<ref::LayerWeights> L;
  Vec final_w, final_b;

  // Float64 logits of the last token of `tokens` (the whole sequence from scratch).
  Vec logits(const std::vector<int32_t>& tokens) const {
    const int64_t n = int64_t(tokens.size());
    Vec h(size_t(n * H));
    for (int64_t t = 0; t < n; ++t)
      for (int64_t j = 0; j < H; ++j)
        h[size_t(t * H + j)] = embed.at(tokens[size_t(t)], j) + (opt ? positions.at(t + 2, j) : 0.0);
    for (const auto& lw : L) h = ref::decoder_seq(h, n, lw);
    Vec last(h.end() - H, h.end());
    Vec normed = ref::norm(last, 1, H, final_w, final_b, !opt, L[0].eps);
    return ref::linear(normed, 1, tied ? embed : lm_head, {});
  }
};

// `tied` < 0: the family's usual choice (OPT and Qwen2 tied, LLaMA and Qwen3 not).
inline TinyModel make_model(Family family, std::mt19937_64& rng, int tied = -1) {
  TinyModel m;
  m.family = family;
  m.opt = family == Family::opt;
  const bool opt = m.opt;
  m.tied = tied < 0 ? (family == Family::opt || family == Family::qwen2) : tied != 0;
  if (opt) { m.kv_heads = m.heads; m.I = 160; }
  if (family == Family::qwen2) m.theta = 1000000.0;
  if (family == Family::qwen3) m.hd = 32;  // q is [4 * 32, 64]: wider than the hidden size
  m.embed = ref::random_mat(m.vocab, m.H, 0.0, 0, rng);
  if (opt) m.positions = ref::random_mat(m.max_pos + 2, m.H, 0.0, 1, rng);
  if (!m.tied) m.lm_head = ref::random_mat(m.vocab, m.H, 0.5, 0, rng);
  for (int i = 0; i < m.layers; ++i) {
    m.L.push_back(ref::random_layer(opt, m.heads, m.kv_heads, m.hd, m.H, m.I, {}, rng));
    ref::LayerWeights& w = m.L.back();
    w.theta = m.theta;
    const int64_t qd = int64_t(m.heads) * m.hd, kvd = int64_t(m.kv_heads) * m.hd;
    if (family == Family::qwen2) {
      w.attn.qb = ref::random_vec(qd, -0.5, 0.5, rng);
      w.attn.kb = ref::random_vec(kvd, -0.5, 0.5, rng);
      w.attn.vb = ref::random_vec(kvd, -0.5, 0.5, rng);
    }
    if (family == Family::qwen3) {
      w.attn.qn = ref::random_vec(m.hd, 0.5, 1.5, rng);
      w.attn.kn = ref::random_vec(m.hd, 0.5, 1.5, rng);
      w.attn.qk_eps = w.eps;
    }
  }
  m.final_w = ref::random_vec(m.H, 0.5, 1.5, rng);
  if (opt) m.final_b = ref::random_vec(m.H, -0.5, 0.5, rng);
  return m;
}

inline TinyModel make_model(bool opt, std::mt19937_64& rng) {
  return make_model(opt ? Family::opt : Family::llama, rng);
}

// Writes the model in Hugging Face layout: config.json, dense tensors in
// dense.safetensors, linear weights either there (dense) or as spinfer matrices in
// matrices.safetensors.
// `dtype` (F16 or BF16) is the config's torch_dtype and the encoded matrices' storage;
// every weight value of make_model is exact in both.
inline void write_model(const TinyModel& m, const std::string& dir, bool encoded,
                        spinfer::DType dtype = spinfer::DType::f16) {
  std::filesystem::create_directories(dir);
  nlohmann::json cfg = {{"vocab_size", m.vocab}, {"hidden_size", m.H}, {"num_hidden_layers", m.layers},
                        {"num_attention_heads", m.heads}, {"max_position_embeddings", m.max_pos},
                        {"torch_dtype", dtype == spinfer::DType::bf16 ? "bfloat16" : "float16"}};
  if (m.opt) {
    cfg.update({{"model_type", "opt"}, {"ffn_dim", m.I}, {"do_layer_norm_before", true},
                {"word_embed_proj_dim", m.H}, {"activation_function", "relu"}, {"enable_bias", true}});
    if (!m.tied) cfg["tie_word_embeddings"] = false;  // OPT ties by default
  } else {
    cfg.update({{"model_type", family_name(m.family)}, {"intermediate_size", m.I},
                {"num_key_value_heads", m.kv_heads}, {"rms_norm_eps", 1e-6}, {"rope_theta", m.theta},
                {"hidden_act", "silu"}, {"tie_word_embeddings", m.tied}, {"rope_scaling", nullptr}});
    if (m.family == Family::qwen2)  // the window is ignored while use_sliding_window is false
      cfg.update({{"use_sliding_window", false}, {"sliding_window", 8}, {"max_window_layers", 1}});
    if (m.family == Family::qwen3)
      cfg.update({{"head_dim", m.hd}, {"attention_bias", false}, {"use_sliding_window", false},
                  {"sliding_window", nullptr}, {"layer_types", {"full_attention", "full_attention"}}});
  }
  std::ofstream(dir + "/config.json") << cfg.dump(2);

  std::vector<std::vector<float>> keep;  // storage of the dense tensors until written
  std::vector<spinfer::io::TensorToWrite> dense;
  std::vector<spinfer::HostMatrix> encoded_store;
  std::vector<std::string> encoded_names;
  encoded_store.reserve(64);
  auto add_dense = [&](const std::string& name, const Vec& v, std::vector<uint64_t> shape) {
    keep.emplace_back(v.begin(), v.end());
    dense.push_back({name, "F32", shape, keep.back().data(), keep.back().size() * 4});
  };
  auto add_matrix = [&](const std::string& name, const Mat& w) {
    if (!encoded) return add_dense(name, w.a, {uint64_t(w.rows), uint64_t(w.cols)});
    std::vector<float> f(w.a.begin(), w.a.end());
    encoded_store.push_back(spinfer::encode(f.data(), spinfer::DType::f32, w.rows, w.cols, w.cols, dtype));
    encoded_names.push_back(name);
  };
  keep.reserve(256);
  const std::string pre = m.opt ? "model.decoder.layers." : "model.layers.";
  for (int i = 0; i < m.layers; ++i) {
    const auto& w = m.L[size_t(i)];
    const std::string p = pre + std::to_string(i) + ".";
    add_matrix(p + "self_attn.q_proj.weight", w.attn.q);
    add_matrix(p + "self_attn.k_proj.weight", w.attn.k);
    add_matrix(p + "self_attn.v_proj.weight", w.attn.v);
    add_matrix(p + (m.opt ? "self_attn.out_proj.weight" : "self_attn.o_proj.weight"), w.attn.o);
    const uint64_t H = uint64_t(m.H);
    if (m.opt) {
      add_matrix(p + "fc1.weight", w.mlp.up);
      add_matrix(p + "fc2.weight", w.mlp.down);
      add_dense(p + "self_attn.q_proj.bias", w.attn.qb, {H});
      add_dense(p + "self_attn.k_proj.bias", w.attn.kb, {H});
      add_dense(p + "self_attn.v_proj.bias", w.attn.vb, {H});
      add_dense(p + "self_attn.out_proj.bias", w.attn.ob, {H});
      add_dense(p + "fc1.bias", w.mlp.up_b, {uint64_t(m.I)});
      add_dense(p + "fc2.bias", w.mlp.down_b, {H});
      add_dense(p + "self_attn_layer_norm.weight", w.n1w, {H});
      add_dense(p + "self_attn_layer_norm.bias", w.n1b, {H});
      add_dense(p + "final_layer_norm.weight", w.n2w, {H});
      add_dense(p + "final_layer_norm.bias", w.n2b, {H});
    } else {
      add_matrix(p + "mlp.gate_proj.weight", w.mlp.gate);
      add_matrix(p + "mlp.up_proj.weight", w.mlp.up);
      add_matrix(p + "mlp.down_proj.weight", w.mlp.down);
      add_dense(p + "input_layernorm.weight", w.n1w, {H});
      add_dense(p + "post_attention_layernorm.weight", w.n2w, {H});
      if (!w.attn.qb.empty()) {
        add_dense(p + "self_attn.q_proj.bias", w.attn.qb, {uint64_t(w.attn.qb.size())});
        add_dense(p + "self_attn.k_proj.bias", w.attn.kb, {uint64_t(w.attn.kb.size())});
        add_dense(p + "self_attn.v_proj.bias", w.attn.vb, {uint64_t(w.attn.vb.size())});
      }
      if (!w.attn.qn.empty()) {
        add_dense(p + "self_attn.q_norm.weight", w.attn.qn, {uint64_t(w.attn.qn.size())});
        add_dense(p + "self_attn.k_norm.weight", w.attn.kn, {uint64_t(w.attn.kn.size())});
      }
    }
  }
  const uint64_t V = uint64_t(m.vocab), H = uint64_t(m.H);
  if (m.opt) {
    add_dense("model.decoder.embed_tokens.weight", m.embed.a, {V, H});
    add_dense("model.decoder.embed_positions.weight", m.positions.a, {uint64_t(m.max_pos + 2), H});
    add_dense("model.decoder.final_layer_norm.weight", m.final_w, {H});
    add_dense("model.decoder.final_layer_norm.bias", m.final_b, {H});
  } else {
    add_dense("model.embed_tokens.weight", m.embed.a, {V, H});
    add_dense("model.norm.weight", m.final_w, {H});
  }
  if (!m.tied) add_matrix("lm_head.weight", m.lm_head);
  spinfer::io::write_safetensors(dir + "/dense.safetensors", dense, {{"format", "pt"}});
  if (encoded) {
    std::vector<std::pair<std::string, const spinfer::HostMatrix*>> list;
    for (size_t i = 0; i < encoded_store.size(); ++i) list.push_back({encoded_names[i], &encoded_store[i]});
    spinfer::io::save_matrices(dir + "/matrices.safetensors", list);
  }
}

}  // namespace spinfer::test
