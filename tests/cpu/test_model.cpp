// Model runner on the host backend: a tiny OPT and a tiny LLaMA written to a model
// directory (config.json + safetensors, linear weights once dense and once encoded),
// loaded through the C API and compared with a float64 forward from scratch.
#include <doctest/doctest.h>

#include <algorithm>
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
#include "spinfer.h"

using namespace spinfer::test;
using ref::Mat;
using ref::Vec;
namespace fs = std::filesystem;

namespace {

#define SP_OK(call) REQUIRE_MESSAGE((call) == SPINFER_STATUS_SUCCESS, spinfer_last_error_message())

struct TinyModel {
  bool opt = false;
  int64_t vocab = 50, H = 64, I = 128, layers = 2, max_pos = 64;
  int heads = 4, kv_heads = 2, hd = 16;
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
    return ref::linear(normed, 1, opt ? embed : lm_head, {});
  }
};

TinyModel make_model(bool opt, std::mt19937_64& rng) {
  TinyModel m;
  m.opt = opt;
  if (opt) { m.kv_heads = m.heads; m.I = 160; }
  m.embed = ref::random_mat(m.vocab, m.H, 0.0, 0, rng);
  if (opt) m.positions = ref::random_mat(m.max_pos + 2, m.H, 0.0, 1, rng);
  else m.lm_head = ref::random_mat(m.vocab, m.H, 0.5, 0, rng);
  for (int i = 0; i < m.layers; ++i) {
    ref::LayerWeights w;
    w.opt = opt; w.heads = m.heads; w.kv_heads = m.kv_heads; w.hd = m.hd;
    w.eps = opt ? 1e-5 : 1e-6;
    w.theta = 10000.0;
    const int64_t kvd = int64_t(m.kv_heads) * m.hd;
    w.attn.q = ref::random_mat(m.H, m.H, 0.6, 2, rng);
    w.attn.k = ref::random_mat(kvd, m.H, 0.6, 2, rng);
    w.attn.v = ref::random_mat(kvd, m.H, 0.6, 2, rng);
    w.attn.o = ref::random_mat(m.H, m.H, 0.6, 2, rng);
    w.mlp.gated = !opt;
    w.mlp.activation = opt ? 1 : 4;
    w.mlp.up = ref::random_mat(m.I, m.H, 0.6, 2, rng);
    w.mlp.down = ref::random_mat(m.H, m.I, 0.6, 2, rng);
    if (!opt) w.mlp.gate = ref::random_mat(m.I, m.H, 0.6, 2, rng);
    w.n1w = ref::random_vec(m.H, 0.5, 1.5, rng);
    w.n2w = ref::random_vec(m.H, 0.5, 1.5, rng);
    if (opt) {
      w.attn.qb = ref::random_vec(m.H, -0.5, 0.5, rng);
      w.attn.kb = ref::random_vec(kvd, -0.5, 0.5, rng);
      w.attn.vb = ref::random_vec(kvd, -0.5, 0.5, rng);
      w.attn.ob = ref::random_vec(m.H, -0.5, 0.5, rng);
      w.mlp.up_b = ref::random_vec(m.I, -0.5, 0.5, rng);
      w.mlp.down_b = ref::random_vec(m.H, -0.5, 0.5, rng);
      w.n1b = ref::random_vec(m.H, -0.5, 0.5, rng);
      w.n2b = ref::random_vec(m.H, -0.5, 0.5, rng);
    }
    m.L.push_back(w);
  }
  m.final_w = ref::random_vec(m.H, 0.5, 1.5, rng);
  if (opt) m.final_b = ref::random_vec(m.H, -0.5, 0.5, rng);
  return m;
}

// Writes the model in Hugging Face layout: config.json, dense tensors in
// dense.safetensors, linear weights either there (dense) or as spinfer matrices in
// matrices.safetensors.
void write_model(const TinyModel& m, const std::string& dir, bool encoded) {
  fs::create_directories(dir);
  nlohmann::json cfg = {{"vocab_size", m.vocab}, {"hidden_size", m.H}, {"num_hidden_layers", m.layers},
                        {"num_attention_heads", m.heads}, {"max_position_embeddings", m.max_pos},
                        {"torch_dtype", "float16"}};
  if (m.opt) {
    cfg.update({{"model_type", "opt"}, {"ffn_dim", m.I}, {"do_layer_norm_before", true},
                {"word_embed_proj_dim", m.H}, {"activation_function", "relu"}, {"enable_bias", true}});
  } else {
    cfg.update({{"model_type", "llama"}, {"intermediate_size", m.I}, {"num_key_value_heads", m.kv_heads},
                {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0}, {"hidden_act", "silu"},
                {"tie_word_embeddings", false}, {"rope_scaling", nullptr}});
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
    encoded_store.push_back(spinfer::encode(f.data(), spinfer::DType::f32, w.rows, w.cols, w.cols,
                                            spinfer::DType::f16));
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
    add_matrix("lm_head.weight", m.lm_head);
  }
  spinfer::io::write_safetensors(dir + "/dense.safetensors", dense, {{"format", "pt"}});
  if (encoded) {
    std::vector<std::pair<std::string, const spinfer::HostMatrix*>> list;
    for (size_t i = 0; i < encoded_store.size(); ++i) list.push_back({encoded_names[i], &encoded_store[i]});
    spinfer::io::save_matrices(dir + "/matrices.safetensors", list);
  }
}

int32_t argmax(const Vec& v) { return int32_t(std::max_element(v.begin(), v.end()) - v.begin()); }

// Gap between the two largest logits.
double margin(const Vec& v) {
  Vec s = v;
  std::partial_sort(s.begin(), s.begin() + 2, s.end(), std::greater<double>());
  return s[0] - s[1];
}

std::vector<double> f64(const float* p, size_t n) { return std::vector<double>(p, p + n); }

}  // namespace

TEST_CASE("model: tiny OPT and LLaMA, dense and encoded weights, prefill, batched decode, greedy") {
  std::mt19937_64 rng(21);
  const std::string root = (fs::temp_directory_path() / ("spinfer_model_test_" + std::to_string(::getpid()))).string();
  spinfer_context_t* ctx = nullptr;
  spinfer_context_config_t cc;
  spinfer_context_config_init(&cc);
  cc.backend = SPINFER_BACKEND_HOST;
  cc.host_threads = 2;
  SP_OK(spinfer_context_create_ex(&ctx, &cc));
  const double tol = 1e-4;  // fp32 activations, exact fp16 weights
  for (bool opt : {true, false})
    for (bool encoded : {false, true}) {
      CAPTURE(opt); CAPTURE(encoded);
      TinyModel m = make_model(opt, rng);
      const std::string dir = root + (opt ? "/opt" : "/llama") + (encoded ? "_enc" : "_dense");
      write_model(m, dir, encoded);
      spinfer_model_config_t mc;
      spinfer_model_config_init(&mc);
      mc.max_sequences = 6;
      mc.max_batch_tokens = 6;  // a 9-token prompt runs as two chunks
      mc.max_sequence_length = 40;
      mc.kv_block_size = 4;
      spinfer_model_t* model = nullptr;
      SP_OK(spinfer_model_load(ctx, &model, dir.c_str(), &mc, nullptr));
      spinfer_model_info_t info{};
      info.struct_size = sizeof(info);
      SP_OK(spinfer_model_get_info(model, &info));
      CHECK(info.arch == (opt ? SPINFER_ARCH_OPT : SPINFER_ARCH_LLAMA));
      CHECK(info.vocab_size == m.vocab);
      CHECK(info.num_layers == m.layers);
      CHECK(info.num_kv_heads == m.kv_heads);
      CHECK(info.weight_bytes > 0);
      CHECK(info.kv_cache_bytes > 0);

      // Prefill two sequences, then decode them together.
      std::vector<int32_t> a = {3, 17, 42, 8, 8, 1, 49, 0, 23}, b = {5, 11};
      std::vector<float> logits(size_t(2 * m.vocab), std::numeric_limits<float>::quiet_NaN());
      SP_OK(spinfer_model_prefill(ctx, model, 0, a.data(), int64_t(a.size()), logits.data(), nullptr));
      CHECK(ref::rel_err(f64(logits.data(), size_t(m.vocab)), m.logits(a)) < tol);
      SP_OK(spinfer_model_prefill(ctx, model, 5, b.data(), int64_t(b.size()), logits.data(), nullptr));
      CHECK(ref::rel_err(f64(logits.data(), size_t(m.vocab)), m.logits(b)) < tol);
      for (int step = 0; step < 4; ++step) {
        CAPTURE(step);
        int32_t seqs[2] = {5, 0};
        int32_t toks[2] = {int32_t((7 * step + 2) % m.vocab), int32_t((13 * step + 4) % m.vocab)};
        std::fill(logits.begin(), logits.end(), std::numeric_limits<float>::quiet_NaN());
        SP_OK(spinfer_model_decode_step(ctx, model, seqs, toks, 2, logits.data(), nullptr));
        b.push_back(toks[0]);
        a.push_back(toks[1]);
        CHECK(ref::rel_err(f64(logits.data(), size_t(m.vocab)), m.logits(b)) < tol);
        CHECK(ref::rel_err(f64(logits.data() + m.vocab, size_t(m.vocab)), m.logits(a)) < tol);
      }
      int64_t len = 0;
      SP_OK(spinfer_model_sequence_length(model, 0, &len));
      CHECK(len == int64_t(a.size()));

      // Greedy generation on a fresh slot agrees with the reference's arg-max at every
      // step where the reference's top-two margin exceeds the tolerance.
      std::vector<int32_t> prompt = {1, 2, 3, 4}, out(10, -1);
      int64_t produced = 0;
      SP_OK(spinfer_model_generate_greedy(ctx, model, 2, prompt.data(), 4, 10, -1, out.data(), &produced, nullptr));
      CHECK(produced == 10);
      std::vector<int32_t> seq = prompt;
      for (int64_t i = 0; i < produced; ++i) {
        Vec r = m.logits(seq);
        if (margin(r) > 1e-3) CHECK(out[size_t(i)] == argmax(r));
        seq.push_back(out[size_t(i)]);
      }
      // Releasing frees the slot for reuse from position 0.
      SP_OK(spinfer_model_release_sequence(model, 2));
      SP_OK(spinfer_model_sequence_length(model, 2, &len));
      CHECK(len == 0);
      SP_OK(spinfer_model_prefill(ctx, model, 2, prompt.data(), 4, logits.data(), nullptr));
      CHECK(ref::rel_err(f64(logits.data(), size_t(m.vocab)), m.logits(prompt)) < tol);

      // Bad calls.
      int32_t bad_tok = int32_t(m.vocab);
      CHECK(spinfer_model_prefill(ctx, model, 1, &bad_tok, 1, nullptr, nullptr) == SPINFER_STATUS_INVALID_ARGUMENT);
      int32_t seq9 = 9, tok = 1;
      CHECK(spinfer_model_decode_step(ctx, model, &seq9, &tok, 1, nullptr, nullptr) == SPINFER_STATUS_INVALID_ARGUMENT);
      spinfer_model_destroy(model);
    }

  // Directory problems are reported, not crashed on.
  spinfer_model_t* model = nullptr;
  CHECK(spinfer_model_load(ctx, &model, (root + "/missing").c_str(), nullptr, nullptr) == SPINFER_STATUS_IO_ERROR);
  fs::create_directories(root + "/badcfg");
  std::ofstream(root + "/badcfg/config.json") << R"({"model_type": "gpt2", "vocab_size": 5})";
  CHECK(spinfer_model_load(ctx, &model, (root + "/badcfg").c_str(), nullptr, nullptr) != SPINFER_STATUS_SUCCESS);
  std::ofstream(root + "/badcfg/config.json") << R"({"model_type": "llama", "vocab_size": 5})";
  CHECK(spinfer_model_load(ctx, &model, (root + "/badcfg").c_str(), nullptr, nullptr) == SPINFER_STATUS_CORRUPT_DATA);
  CHECK(std::string(spinfer_last_error_message()).find("hidden_size") != std::string::npos);
  CHECK(model == nullptr);
  spinfer_context_destroy(ctx);
  fs::remove_all(root);
}
