// Model runner on the host backend: tiny OPT, LLaMA, Qwen2 and Qwen3 models written to
// a model directory (config.json + safetensors, linear weights once dense and once
// encoded, tied and untied LM heads), loaded through the C API and compared with a
// float64 forward from scratch; config and weight refusals of the new families.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "spinfer.h"
#include "tiny_model.hpp"

using namespace spinfer::test;
using ref::Mat;
using ref::Vec;
namespace fs = std::filesystem;

namespace {

#define SP_OK(call) REQUIRE_MESSAGE((call) == SPINFER_STATUS_SUCCESS, spinfer_last_error_message())

int32_t argmax(const Vec& v) { return int32_t(std::max_element(v.begin(), v.end()) - v.begin()); }

// Gap between the two largest logits.
double margin(const Vec& v) {
  Vec s = v;
  std::partial_sort(s.begin(), s.begin() + 2, s.end(), std::greater<double>());
  return s[0] - s[1];
}

std::vector<double> f64(const float* p, size_t n) { return std::vector<double>(p, p + n); }

}  // namespace

TEST_CASE("model: tiny OPT, LLaMA, Qwen2, Qwen3, dense and encoded weights, prefill, batched decode, greedy") {
  std::mt19937_64 rng(21);
  const std::string root = (fs::temp_directory_path() / ("spinfer_model_test_" + std::to_string(::getpid()))).string();
  spinfer_context_t* ctx = nullptr;
  spinfer_context_config_t cc;
  spinfer_context_config_init(&cc);
  cc.backend = SPINFER_BACKEND_HOST;
  cc.host_threads = 2;
  SP_OK(spinfer_context_create_ex(&ctx, &cc));
  const double tol = 1e-4;  // fp32 activations, exact fp16 weights
  // Every family, dense and encoded, with its usual tie_word_embeddings (OPT and Qwen2
  // tied, LLaMA and Qwen3 not); then each family with the other choice (tied: no
  // lm_head.weight in the files).
  struct Case { Family family; bool encoded; int tied; };
  std::vector<Case> cases;
  for (Family f : {Family::opt, Family::llama, Family::qwen2, Family::qwen3})
    for (bool encoded : {false, true}) cases.push_back({f, encoded, -1});
  cases.push_back({Family::opt, true, 0});
  cases.push_back({Family::llama, true, 1});
  cases.push_back({Family::qwen2, true, 0});
  cases.push_back({Family::qwen3, true, 1});
  for (const Case& cs : cases) {
      const bool encoded = cs.encoded;
      TinyModel m = make_model(cs.family, rng, cs.tied);
      const bool opt = m.opt;
      const std::string family = family_name(cs.family);
      CAPTURE(family); CAPTURE(encoded); CAPTURE(m.tied);
      const std::string dir = root + "/" + family + (encoded ? "_enc" : "_dense") + (m.tied ? "_tied" : "");
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
      // Default-sized (kv_num_blocks 0): every slot at full length fits a tiny model.
      CHECK(info.kv_cache_tokens == 6 * 40);
      CHECK(info.kv_cache_bytes == uint64_t(info.kv_cache_tokens) * uint64_t(m.layers) * 2 *
                                       uint64_t(m.kv_heads) * uint64_t(m.hd) * 4);

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
      // A generation that cannot fit the context (40) is refused before any work: the
      // slot keeps its length and the output is untouched.
      std::vector<int32_t> untouched(40, -7);
      CHECK(spinfer_model_generate_greedy(ctx, model, 2, prompt.data(), 4, 40, -1, untouched.data(), &produced,
                                          nullptr) == SPINFER_STATUS_INVALID_ARGUMENT);
      CHECK(std::strstr(spinfer_last_error_message(), "max_sequence_length 40") != nullptr);
      SP_OK(spinfer_model_sequence_length(model, 2, &len));
      CHECK(len == 4 + 10 - 1);
      CHECK(untouched[0] == -7);
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

  // Weights that do not match the new families' configs are refused at load, the tensor
  // named: a Qwen3 q_norm of the wrong size, a Qwen2 checkpoint without its q/k/v biases,
  // an untied model without lm_head.weight.
  auto load_status = [&](const std::string& dir, const std::string& expect_in_message) {
    spinfer_model_t* mm = nullptr;
    const spinfer_status_t st = spinfer_model_load(ctx, &mm, dir.c_str(), nullptr, nullptr);
    const std::string message = spinfer_last_error_message();
    CHECK_MESSAGE(message.find(expect_in_message) != std::string::npos, message);
    CHECK(mm == nullptr);
    spinfer_model_destroy(mm);
    return st;
  };
  {
    TinyModel m = make_model(Family::qwen3, rng);
    m.L[1].attn.kn.push_back(1.0);
    write_model(m, root + "/qwen3_bad_norm", true);
    CHECK(load_status(root + "/qwen3_bad_norm", "model.layers.1.self_attn.k_norm.weight' has 33 elements, expected 32") ==
          SPINFER_STATUS_SHAPE_MISMATCH);
  }
  {
    TinyModel m = make_model(Family::qwen2, rng);
    m.L[0].attn.qb.clear();
    write_model(m, root + "/qwen2_no_bias", true);
    CHECK(load_status(root + "/qwen2_no_bias", "model.layers.0.self_attn.q_proj.bias") == SPINFER_STATUS_NOT_FOUND);
  }
  {
    TinyModel m = make_model(Family::llama, rng, 1);
    write_model(m, root + "/untied_no_head", true);
    auto cfg = nlohmann::json::parse(std::ifstream(root + "/untied_no_head/config.json"));
    cfg["tie_word_embeddings"] = false;
    std::ofstream(root + "/untied_no_head/config.json") << cfg.dump();
    CHECK(load_status(root + "/untied_no_head", "lm_head.weight") == SPINFER_STATUS_NOT_FOUND);
  }
  spinfer_context_destroy(ctx);
  fs::remove_all(root);
}

#include "common/error.hpp"
#include "runtime/model_config.hpp"

TEST_CASE("model config: Hugging Face fields, RoPE variants and refusals") {
  using spinfer::runtime::parse_model_config;
  const std::string base =
      R"("model_type": "llama", "vocab_size": 10, "hidden_size": 64, "num_hidden_layers": 1,
         "num_attention_heads": 4, "intermediate_size": 128)";
  auto parse = [&](const std::string& extra) { return parse_model_config("{" + base + extra + "}", "cfg"); };
  auto c = parse(R"(, "rope_theta": 500000.0, "num_key_value_heads": 2, "torch_dtype": "bfloat16")");
  CHECK(c.num_kv_heads == 2);
  CHECK(c.head_dim == 16);
  CHECK(c.dtype == spinfer::DType::bf16);
  REQUIRE(c.inv_freq.size() == 8);
  CHECK(c.inv_freq[1] == doctest::Approx(std::pow(500000.0, -2.0 / 16)).epsilon(1e-6));
  auto p = parse(R"(, "rope_parameters": {"rope_type": "default", "rope_theta": 1000.0})");
  CHECK(p.inv_freq[1] == doctest::Approx(std::pow(1000.0, -2.0 / 16)).epsilon(1e-6));
  auto lin = parse(R"(, "rope_scaling": {"type": "linear", "factor": 4.0})");
  CHECK(lin.inv_freq[3] == doctest::Approx(std::pow(10000.0, -6.0 / 16) / 4).epsilon(1e-6));
  // llama3: the highest frequencies are kept, the lowest divided by the factor.
  auto l3 = parse(R"(, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                    "high_freq_factor": 4.0, "original_max_position_embeddings": 64})");
  CHECK(l3.inv_freq[0] == doctest::Approx(1.0).epsilon(1e-6));                                   // wavelength 2*pi < 16
  CHECK(l3.inv_freq[7] == doctest::Approx(std::pow(10000.0, -14.0 / 16) / 8).epsilon(1e-6));     // wavelength > 64
  auto status_of = [&](const std::string& text) {
    try {
      parse_model_config(text, "cfg");
    } catch (const spinfer::Error& e) {
      return e.status();
    }
    return SPINFER_STATUS_SUCCESS;
  };
  CHECK(status_of("{" + base + R"(, "rope_scaling": {"rope_type": "yarn", "factor": 2.0}})") == SPINFER_STATUS_NOT_SUPPORTED);
  CHECK(status_of(R"({"model_type": "llama", "vocab_size": 10})") == SPINFER_STATUS_CORRUPT_DATA);
  CHECK(status_of("{" + base + R"(, "num_key_value_heads": 3})") == SPINFER_STATUS_CORRUPT_DATA);
  CHECK(status_of(R"({"model_type": "opt", "vocab_size": 10, "hidden_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 4, "ffn_dim": 128, "do_layer_norm_before": false})") ==
        SPINFER_STATUS_NOT_SUPPORTED);
  CHECK(status_of("not json") == SPINFER_STATUS_CORRUPT_DATA);
  CHECK(status_of("{" + base + R"(, "hidden_act": "relu6"})") == SPINFER_STATUS_NOT_SUPPORTED);
  // A quantized checkpoint's dtype is refused (it was read as fp16), the dtype named.
  CHECK(status_of("{" + base + R"(, "torch_dtype": "int8"})") == SPINFER_STATUS_NOT_SUPPORTED);
  CHECK(status_of("{" + base + R"(, "torch_dtype": "float32"})") == SPINFER_STATUS_SUCCESS);
  // JSON that Python's json module refuses, or reads ambiguously, is refused.
  CHECK(status_of("\xEF\xBB\xBF{" + base + "}") == SPINFER_STATUS_CORRUPT_DATA);
  CHECK(status_of("{" + base + R"(, "vocab_size": 11})") == SPINFER_STATUS_CORRUPT_DATA);
  // Values that would load and then give NaN logits everywhere are refused at load, the
  // field named in the message.
  for (const char* bad : {R"("rope_theta": 0)", R"("rope_theta": -10000.0)", R"("rope_theta": 1e-300)",
                          R"("rms_norm_eps": -1e-6)", R"("rms_norm_eps": 2.0)",
                          R"("rope_parameters": {"rope_theta": -1.0})",
                          R"("rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 4.0})"}) {
    CAPTURE(bad);
    std::string message;
    spinfer_status_t s = SPINFER_STATUS_SUCCESS;
    try {
      parse_model_config("{" + base + ", " + bad + "}", "cfg");
    } catch (const spinfer::Error& e) {
      s = e.status();
      message = e.what();
    }
    CHECK(s == SPINFER_STATUS_CORRUPT_DATA);
    const std::string field = std::string(bad).substr(2, std::string(bad).find('"', 2) - 2);
    const bool named = message.find(field) != std::string::npos || message.find("rope") != std::string::npos;
    CHECK_MESSAGE(named, message);
  }
}

TEST_CASE("model config: Qwen2 and Qwen3 fields, sliding windows refused, bad values named") {
  using spinfer::runtime::Family;
  using spinfer::runtime::parse_model_config;
  const std::string common =
      R"("vocab_size": 10, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "intermediate_size": 128)";
  auto parse = [&](const std::string& type, const std::string& extra) {
    return parse_model_config(R"({"model_type": ")" + type + "\", " + common + extra + "}", "cfg");
  };
  // Qwen2: q/k/v biases (required), no o bias, whatever attention_bias says; head_dim
  // hidden / heads; rope_theta read as for LLaMA.
  auto q2 = parse("qwen2", R"(, "attention_bias": false, "rope_theta": 1000000.0, "tie_word_embeddings": true)");
  CHECK(q2.family == Family::qwen2);
  CHECK(q2.arch == SPINFER_ARCH_LLAMA);
  CHECK((q2.qkv_bias && !q2.o_bias && q2.biases_required && !q2.qk_norm && !q2.mlp_bias));
  CHECK(q2.tie_word_embeddings);
  CHECK(q2.head_dim == 16);
  CHECK(q2.inv_freq[1] == doctest::Approx(std::pow(1e6, -2.0 / 16)).epsilon(1e-6));
  // Qwen3: q/k norm; explicit head_dim that differs from hidden / heads; without one the
  // transformers default 128; attention_bias gives q/k/v and o biases as in LLaMA.
  auto q3 = parse("qwen3", R"(, "head_dim": 32)");
  CHECK((q3.family == Family::qwen3 && q3.qk_norm && !q3.qkv_bias && !q3.o_bias));
  CHECK(q3.head_dim == 32);
  CHECK(q3.inv_freq.size() == 16);
  CHECK(parse("qwen3", "").head_dim == 128);
  auto q3b = parse("qwen3", R"(, "head_dim": 16, "attention_bias": true)");
  CHECK((q3b.qkv_bias && q3b.o_bias && !q3b.biases_required));
  // tie_word_embeddings per family: OPT defaults to tied, the others to untied.
  CHECK(!parse("llama", "").tie_word_embeddings);
  CHECK(parse("llama", R"(, "tie_word_embeddings": true)").tie_word_embeddings);
  CHECK(!parse("qwen2", "").tie_word_embeddings);
  // Sliding windows: ignored while use_sliding_window is false or no layer reaches
  // max_window_layers; refused (NOT_SUPPORTED, the fields named) when a layer would slide.
  CHECK(parse("qwen2", R"(, "use_sliding_window": false, "sliding_window": 4, "max_window_layers": 0)").num_layers == 2);
  CHECK(parse("qwen2", R"(, "use_sliding_window": true, "sliding_window": 4, "max_window_layers": 2)").num_layers == 2);
  CHECK(parse("qwen3", R"(, "layer_types": ["full_attention", "full_attention"])").num_layers == 2);
  auto outcome = [&](const std::string& type, const std::string& extra) {
    try {
      parse(type, extra);
    } catch (const spinfer::Error& e) {
      return std::make_pair(e.status(), std::string(e.what()));
    }
    return std::make_pair(SPINFER_STATUS_SUCCESS, std::string());
  };
  struct Bad { const char* type; const char* extra; spinfer_status_t status; const char* named; };
  for (const Bad& b : {
           Bad{"qwen2", R"(, "use_sliding_window": true, "sliding_window": 4, "max_window_layers": 1)",
               SPINFER_STATUS_NOT_SUPPORTED, "use_sliding_window"},
           Bad{"qwen3", R"(, "use_sliding_window": true, "sliding_window": 4096, "max_window_layers": 0)",
               SPINFER_STATUS_NOT_SUPPORTED, "max_window_layers 0"},
           Bad{"qwen3", R"(, "layer_types": ["full_attention", "sliding_attention"])", SPINFER_STATUS_NOT_SUPPORTED,
               "layer_types[1] is 'sliding_attention'"},
           Bad{"qwen2", R"(, "layer_types": ["full_attention"])", SPINFER_STATUS_CORRUPT_DATA, "layer_types"},
           Bad{"qwen2", R"(, "layer_types": "full_attention")", SPINFER_STATUS_CORRUPT_DATA, "layer_types"},
           Bad{"qwen2", R"(, "use_sliding_window": 1)", SPINFER_STATUS_CORRUPT_DATA, "use_sliding_window"},
           Bad{"qwen3", R"(, "head_dim": 0)", SPINFER_STATUS_CORRUPT_DATA, "'head_dim' is out of range: 0"},
           Bad{"qwen3", R"(, "head_dim": -32)", SPINFER_STATUS_CORRUPT_DATA, "'head_dim' is out of range: -32"},
           Bad{"qwen3", R"(, "head_dim": 512)", SPINFER_STATUS_CORRUPT_DATA, "'head_dim' is out of range: 512"},
           Bad{"qwen3", R"(, "head_dim": 30.5)", SPINFER_STATUS_CORRUPT_DATA, "'head_dim' is not an integer"},
           Bad{"qwen3", R"(, "head_dim": 33)", SPINFER_STATUS_NOT_SUPPORTED, "head_dim 33"},
           Bad{"qwen2", R"(, "rms_norm_eps": -1.0)", SPINFER_STATUS_CORRUPT_DATA, "rms_norm_eps"},
           Bad{"qwen2", R"(, "rope_scaling": {"rope_type": "yarn", "factor": 4.0})", SPINFER_STATUS_NOT_SUPPORTED,
               "yarn"},
           Bad{"qwen3", R"(, "tie_word_embeddings": "yes")", SPINFER_STATUS_CORRUPT_DATA, "tie_word_embeddings"}}) {
    CAPTURE(b.extra);
    const auto result = outcome(b.type, b.extra);  // no structured binding: CHECK_MESSAGE captures it
    const spinfer_status_t status = result.first;
    const std::string& message = result.second;
    CHECK(status == b.status);
    CHECK_MESSAGE(message.find(b.named) != std::string::npos, message);
  }
  CHECK(outcome("qwen4", "").first == SPINFER_STATUS_NOT_SUPPORTED);
}

#include "runtime/model.hpp"

TEST_CASE("model: a default-sized KV cache takes what fits, at most half the free memory") {
  using spinfer::runtime::default_kv_blocks;
  spinfer::layers::KvCacheConfig kc;
  kc.num_layers = 32;
  kc.num_kv_heads = 8;
  kc.head_dim = 128;
  kc.block_size = 16;
  kc.max_sequences = 8;
  kc.max_sequence_length = 8192;  // a Llama-3-8B-shaped cache: 8 x 8192 tokens
  kc.dtype = spinfer::DType::f16;
  const uint64_t per_block = 32ull * 2 * 16 * 8 * 128 * 2;  // 2 MiB
  const int64_t full = 8 * 8192 / 16;
  CHECK(default_kv_blocks(kc, 0) == full);                              // memory unknown
  CHECK(default_kv_blocks(kc, uint64_t(full) * per_block * 4) == full);  // all of it fits
  // 3000 blocks' worth free (~6 GB, less than the 8.6 GB of the full cache): half of it.
  const uint64_t avail = 3000ull * per_block;
  CHECK(default_kv_blocks(kc, avail) == 1500);
  // Less than one block per slot fits: OUT_OF_MEMORY naming the sizes.
  std::string message;
  spinfer_status_t st = SPINFER_STATUS_SUCCESS;
  try {
    default_kv_blocks(kc, 10 * per_block);
  } catch (const spinfer::Error& e) {
    st = e.status();
    message = e.what();
  }
  CHECK(st == SPINFER_STATUS_OUT_OF_MEMORY);
  CHECK_MESSAGE(message.find("max_sequences") != std::string::npos, message);
  // The same shape in f32 (the host backend's activations) needs twice the bytes per block.
  kc.dtype = spinfer::DType::f32;
  CHECK(default_kv_blocks(kc, avail) == 750);
}
