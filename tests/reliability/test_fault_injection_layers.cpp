// Fault injection for the layer and model entry points (spinfer.h section 7) on the
// host: KV cache, attention, decoder layer, model load / prefill / decode_step /
// generate. Every allocation (and, for the loader, every file operation) is failed in
// turn; the call must return an error status with a message, leak nothing and leave
// its handles usable: the same call then gives bit-identical results.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include "fault_sweep.hpp"
#include "host_fixtures.hpp"
#include "io/json_text.hpp"
#include "rollback_check.hpp"
#include "spinfer.h"
#include "tiny_model.hpp"

namespace fs = std::filesystem;
using spinfer::test::FaultScenario;
using spinfer::test::sweep_all;

namespace {

// One worker: deterministic failure-point numbering.
spinfer_context_t* host_context() { return spinfer::test::host_context(1); }
using spinfer::test::encode_f16;

std::vector<float> to_f32(const spinfer::test::Vec& v) { return {v.begin(), v.end()}; }

// The LLaMA-style tiny model's layer 0 as encoded matrices and float arrays.
struct Layer0 {
  spinfer::test::TinyModel m;
  spinfer_matrix_t *q, *k, *v, *o, *gate, *up, *down;
  std::vector<float> n1w, n2w;
  explicit Layer0(std::mt19937_64& rng) : m(spinfer::test::make_model(false, rng)) {
    const auto& w = m.L[0];
    q = encode_f16(w.attn.q); k = encode_f16(w.attn.k); v = encode_f16(w.attn.v); o = encode_f16(w.attn.o);
    gate = encode_f16(w.mlp.gate); up = encode_f16(w.mlp.up); down = encode_f16(w.mlp.down);
    n1w = to_f32(w.n1w);
    n2w = to_f32(w.n2w);
  }
  ~Layer0() {
    for (auto* x : {q, k, v, o, gate, up, down}) spinfer_matrix_destroy(x);
  }
};

spinfer_kv_cache_config_t cache_config(const spinfer::test::TinyModel& m) {
  spinfer_kv_cache_config_t kc;
  spinfer_kv_cache_config_init(&kc);
  kc.num_layers = 2;
  kc.num_kv_heads = m.kv_heads;
  kc.head_dim = m.hd;
  kc.block_size = 4;
  kc.num_blocks = 16;
  kc.max_sequences = 3;
  kc.max_sequence_length = 32;
  kc.dtype = SPINFER_DTYPE_F32;
  return kc;
}

int64_t seq_length(const spinfer_kv_cache_t* c, int32_t seq) {
  int64_t len = -1;
  spinfer_kv_cache_sequence_length(c, seq, &len);
  return len;
}

// `levels` nested objects and arrays (alternating), the innermost holding scalars.
std::string nested_json(int levels) {
  std::string open, close;
  for (int i = 0; i + 1 < levels; ++i) {
    open += i % 2 ? "[" : "{\"k\": ";
    close = (i % 2 ? "]" : "}") + close;
  }
  return open + (levels % 2 ? "{\"x\": 1, \"y\": \"text\"}" : "[1, -2, 3.5, null, true]") + close;
}

// Rewrites the config.json of `dir` with `extra` members first (JSON text, no braces).
void add_to_config(const fs::path& dir, const std::string& base, const std::string& extra) {
  std::ofstream(dir / "config.json") << "{" << extra << "," << base.substr(base.find('{') + 1);
}

int64_t free_blocks(const spinfer_kv_cache_t* c) {
  int64_t n = -1;
  spinfer_kv_cache_free_blocks(c, &n);
  return n;
}

}  // namespace

TEST_CASE("fault injection: KV cache create and begin_step") {
  std::mt19937_64 rng(31);
  const auto m = spinfer::test::make_model(false, rng);
  spinfer_context_t* ctx = host_context();
  const auto kc = cache_config(m);

  spinfer_kv_cache_t* made = nullptr;
  sweep_all({"kv_cache_create", [&] { return spinfer_kv_cache_create(ctx, &made, &kc); },
             [&](bool ok) -> const char* { return ok == (made != nullptr) ? nullptr : "handle/status disagree"; },
             [&] { spinfer_kv_cache_destroy(made); made = nullptr; }},
            false);

  // A fresh cache's first step grows its step buffers (reserve_steps) and its block
  // tables. A failed step must change nothing: the cache then takes the same step.
  const int32_t seqs[2] = {0, 2}, tokens[2] = {5, 3};
  spinfer_kv_cache_t* cache = nullptr;
  sweep_all({"kv_cache create + begin_step",
             [&] {
               const spinfer_status_t st = spinfer_kv_cache_create(ctx, &cache, &kc);
               return st != SPINFER_STATUS_SUCCESS ? st : spinfer_kv_cache_begin_step(cache, seqs, tokens, 2, nullptr);
             },
             [&](bool ok) -> const char* {
               if (ok) return seq_length(cache, 0) == 5 && seq_length(cache, 2) == 3 && free_blocks(cache) == 16 - 3
                                  ? nullptr : "step lengths or free blocks wrong";
               if (!cache) return nullptr;
               const char* bad = nullptr;
               if (seq_length(cache, 0) != 0 || seq_length(cache, 2) != 0 || free_blocks(cache) != 16)
                 bad = "a failed begin_step changed the cache";
               else if (spinfer_kv_cache_begin_step(cache, seqs, tokens, 2, nullptr) != SPINFER_STATUS_SUCCESS ||
                        seq_length(cache, 0) != 5 || free_blocks(cache) != 16 - 3)
                 bad = "the cache cannot take the step after a failed one";
               spinfer_kv_cache_destroy(cache);
               cache = nullptr;
               return bad;
             },
             [&] { spinfer_kv_cache_destroy(cache); cache = nullptr; }},
            false);
  spinfer_context_destroy(ctx);
}

TEST_CASE("fault injection: attention and decoder layer on the host") {
  std::mt19937_64 rng(32);
  Layer0 w(rng);
  const auto& m = w.m;
  spinfer_context_t* ctx = host_context();
  const auto kc = cache_config(m);
  spinfer_kv_cache_t* cache = nullptr;
  REQUIRE(spinfer_kv_cache_create(ctx, &cache, &kc) == SPINFER_STATUS_SUCCESS);
  const int64_t N = 5, H = m.H;
  std::vector<float> x(size_t(N * H)), residual(size_t(N * H), 0.5f);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (auto& e : x) e = value(rng);
  const int32_t seq = 1, n32 = int32_t(N);

  spinfer_attention_config_t acfg;
  spinfer_attention_config_init(&acfg);
  acfg.num_heads = m.heads;
  acfg.num_kv_heads = m.kv_heads;
  acfg.max_tokens = 8;
  spinfer_attention_t* attn_made = nullptr;
  sweep_all({"attention_create (GQA, fused)",
             [&] {
               return spinfer_attention_create(ctx, &attn_made, w.q, w.k, w.v, w.o, nullptr, nullptr, nullptr,
                                               nullptr, SPINFER_DTYPE_F32, &acfg, nullptr);
             },
             [&](bool ok) -> const char* { return ok == (attn_made != nullptr) ? nullptr : "handle/status disagree"; },
             [&] { spinfer_attention_destroy(attn_made); attn_made = nullptr; }},
            false);

  // Forward: the step restarts the sequence each run, so every run computes the same.
  spinfer_attention_t* attn = nullptr;
  REQUIRE(spinfer_attention_create(ctx, &attn, w.q, w.k, w.v, w.o, nullptr, nullptr, nullptr, nullptr,
                                   SPINFER_DTYPE_F32, &acfg, nullptr) == SPINFER_STATUS_SUCCESS);
  auto attention_step = [&](std::vector<float>& y) {
    std::fill(y.begin(), y.end(), NAN);
    spinfer_status_t st = spinfer_kv_cache_release_sequence(cache, seq);  // may fail too
    if (st == SPINFER_STATUS_SUCCESS) st = spinfer_kv_cache_begin_step(cache, &seq, &n32, 1, nullptr);
    if (st != SPINFER_STATUS_SUCCESS) return st;
    return spinfer_attention_forward(ctx, attn, cache, 0, x.data(), N, residual.data(), y.data(),
                                     SPINFER_DTYPE_F32, nullptr);
  };
  std::vector<float> abase(x.size()), ay(x.size());
  REQUIRE(attention_step(abase) == SPINFER_STATUS_SUCCESS);
  for (float e : abase) REQUIRE(std::isfinite(e));
  sweep_all({"attention begin_step+forward", [&] { return attention_step(ay); },
             [&](bool ok) -> const char* { return !ok || ay == abase ? nullptr : "attention result differs from the baseline"; },
             [] {}},
            false);

  spinfer_decoder_weights_t dw;
  spinfer_decoder_weights_init(&dw);
  dw.q_proj = w.q; dw.k_proj = w.k; dw.v_proj = w.v; dw.o_proj = w.o;
  dw.gate_proj = w.gate; dw.up_proj = w.up; dw.down_proj = w.down;
  dw.attn_norm_weight = w.n1w.data();
  dw.mlp_norm_weight = w.n2w.data();
  dw.dense_dtype = SPINFER_DTYPE_F32;
  spinfer_decoder_config_t dcfg;
  spinfer_decoder_config_init(&dcfg);
  dcfg.arch = SPINFER_ARCH_LLAMA;
  dcfg.hidden_size = H;
  dcfg.intermediate_size = m.I;
  dcfg.num_heads = m.heads;
  dcfg.num_kv_heads = m.kv_heads;
  dcfg.norm_eps = 1e-6;
  dcfg.max_tokens = 8;
  spinfer_decoder_layer_t* layer_made = nullptr;
  sweep_all({"decoder_layer_create (LLaMA)",
             [&] { return spinfer_decoder_layer_create(ctx, &layer_made, &dw, &dcfg, nullptr); },
             [&](bool ok) -> const char* { return ok == (layer_made != nullptr) ? nullptr : "handle/status disagree"; },
             [&] { spinfer_decoder_layer_destroy(layer_made); layer_made = nullptr; }},
            false);

  spinfer_decoder_layer_t* layer = nullptr;
  REQUIRE(spinfer_decoder_layer_create(ctx, &layer, &dw, &dcfg, nullptr) == SPINFER_STATUS_SUCCESS);
  auto layer_step = [&](std::vector<float>& y) {
    std::fill(y.begin(), y.end(), NAN);
    spinfer_status_t st = spinfer_kv_cache_release_sequence(cache, seq);  // may fail too
    if (st == SPINFER_STATUS_SUCCESS) st = spinfer_kv_cache_begin_step(cache, &seq, &n32, 1, nullptr);
    if (st != SPINFER_STATUS_SUCCESS) return st;
    return spinfer_decoder_layer_forward(ctx, layer, cache, 1, x.data(), N, y.data(), SPINFER_DTYPE_F32, nullptr);
  };
  std::vector<float> dbase(x.size()), dy(x.size());
  REQUIRE(layer_step(dbase) == SPINFER_STATUS_SUCCESS);
  for (float e : dbase) REQUIRE(std::isfinite(e));
  sweep_all({"decoder_layer begin_step+forward", [&] { return layer_step(dy); },
             [&](bool ok) -> const char* { return !ok || dy == dbase ? nullptr : "decoder result differs from the baseline"; },
             [] {}},
            false);

  spinfer_decoder_layer_destroy(layer);
  spinfer_attention_destroy(attn);
  spinfer_kv_cache_destroy(cache);
  spinfer_context_destroy(ctx);
}

TEST_CASE("fault injection: model load, prefill, decode_step, generate on the host") {
  std::mt19937_64 rng(33);
  const auto m = spinfer::test::make_model(false, rng);
  const fs::path dir = fs::temp_directory_path() / ("spinfer_fault_model_" + std::to_string(::getpid()));
  spinfer::test::write_model(m, dir.string(), true);
  spinfer_context_t* ctx = host_context();
  spinfer_model_config_t mc;
  spinfer_model_config_init(&mc);
  mc.max_sequences = 2;
  mc.max_batch_tokens = 4;  // the 6-token prompt runs as two chunks
  mc.max_sequence_length = 16;
  mc.kv_block_size = 4;

  spinfer_model_t* made = nullptr;
  sweep_all({"model_load (LLaMA, encoded)",
             [&] { return spinfer_model_load(ctx, &made, dir.c_str(), &mc, nullptr); },
             [&](bool ok) -> const char* { return ok == (made != nullptr) ? nullptr : "handle/status disagree"; },
             [&] { spinfer_model_destroy(made); made = nullptr; }},
            true);

  spinfer_model_t* model = nullptr;
  REQUIRE(spinfer_model_load(ctx, &model, dir.c_str(), &mc, nullptr) == SPINFER_STATUS_SUCCESS);
  const std::vector<int32_t> prompt = {3, 17, 42, 8, 1, 49}, other = {5, 11};
  const size_t V = size_t(m.vocab);

  // Prefill, checked once against the float64 model (the sweep then demands the same bits).
  auto prefill = [&](std::vector<float>& logits) {
    std::fill(logits.begin(), logits.end(), NAN);
    const spinfer_status_t st = spinfer_model_release_sequence(model, 0);
    if (st != SPINFER_STATUS_SUCCESS) return st;
    return spinfer_model_prefill(ctx, model, 0, prompt.data(), int64_t(prompt.size()), logits.data(), nullptr);
  };
  std::vector<float> pbase(V), py(V);
  REQUIRE(prefill(pbase) == SPINFER_STATUS_SUCCESS);
  const auto ref = m.logits(prompt);
  double num = 0, den = 0;
  for (size_t i = 0; i < V; ++i) {
    num += (pbase[i] - ref[i]) * (pbase[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  REQUIRE(std::sqrt(num / den) <= 1e-3);
  sweep_all({"model_prefill (2 chunks)", [&] { return prefill(py); },
             [&](bool ok) -> const char* { return !ok || py == pbase ? nullptr : "prefill logits differ from the baseline"; },
             [] {}},
            false);

  // Two prefills then one decode step over both sequences.
  auto decode = [&](std::vector<float>& logits) {
    std::fill(logits.begin(), logits.end(), NAN);
    spinfer_status_t st = spinfer_model_release_sequence(model, 1);
    if (st == SPINFER_STATUS_SUCCESS) st = prefill(py);
    if (st == SPINFER_STATUS_SUCCESS)
      st = spinfer_model_prefill(ctx, model, 1, other.data(), int64_t(other.size()), nullptr, nullptr);
    const int32_t seqs[2] = {0, 1}, next[2] = {7, 9};
    if (st == SPINFER_STATUS_SUCCESS) st = spinfer_model_decode_step(ctx, model, seqs, next, 2, logits.data(), nullptr);
    return st;
  };
  std::vector<float> dbase(2 * V), dy(2 * V);
  REQUIRE(decode(dbase) == SPINFER_STATUS_SUCCESS);
  for (float e : dbase) REQUIRE(std::isfinite(e));
  sweep_all({"model prefill x2 + decode_step", [&] { return decode(dy); },
             [&](bool ok) -> const char* { return !ok || dy == dbase ? nullptr : "decode logits differ from the baseline"; },
             [] {}},
            false);

  // Greedy generation.
  std::vector<int32_t> gbase(5, -1), gy(5, -1);
  int64_t gn = 0, gn_base = 0;
  auto generate = [&](std::vector<int32_t>& out, int64_t& n) {
    std::fill(out.begin(), out.end(), -1);
    n = -1;
    const spinfer_status_t st = spinfer_model_release_sequence(model, 0);
    if (st != SPINFER_STATUS_SUCCESS) return n = 0, st;
    return spinfer_model_generate_greedy(ctx, model, 0, prompt.data(), int64_t(prompt.size()), 5, -1,
                                         out.data(), &n, nullptr);
  };
  REQUIRE(generate(gbase, gn_base) == SPINFER_STATUS_SUCCESS);
  REQUIRE(gn_base == 5);
  sweep_all({"model_generate_greedy (5 tokens)", [&] { return generate(gy, gn); },
             [&](bool ok) -> const char* {
               if (!ok) return gn == 0 ? nullptr : "a failed generate reported tokens";
               return gy == gbase && gn == gn_base ? nullptr : "generated tokens differ from the baseline";
             },
             [] {}},
            false);

  spinfer_model_destroy(model);
  spinfer_context_destroy(ctx);
  fs::remove_all(dir);
}

// Persistent out-of-memory inside JSON parsing (config.json, safetensors headers and
// matrix metadata): nlohmann's json::parse freed its half-built document inside a
// noexcept destructor that allocates, so the process terminated. Now every failure is
// OUT_OF_MEMORY with a message, also for a config nested as deep as parse_json allows,
// with nested objects and arrays beside it. (A repeated key is refused: CORRUPT_DATA.)
TEST_CASE("fault injection: out of memory while parsing JSON (model load)") {
  std::mt19937_64 rng(34);
  const auto m = spinfer::test::make_model(false, rng);
  const fs::path dir = fs::temp_directory_path() / ("spinfer_fault_json_" + std::to_string(::getpid()));
  spinfer::test::write_model(m, dir.string(), true);
  std::stringstream base;
  base << std::ifstream(dir / "config.json").rdbuf();
  // Root object + (kMaxJsonDepth - 1) levels: the deepest document accepted.
  const int deepest = spinfer::io::kMaxJsonDepth - 1;
  add_to_config(dir, base.str(),
                "\"task_specific_params\": " + nested_json(deepest) +
                    ", \"extra_a\": {\"a\": [1, {\"b\": [2]}]}, \"extra_b\": [3, [4]]");
  spinfer_context_t* ctx = host_context();
  spinfer_model_config_t mc;
  spinfer_model_config_init(&mc);
  mc.max_sequence_length = 16;

  // The sweep demands OUT_OF_MEMORY for every failure of a host_alloc-only sweep.
  spinfer_model_t* made = nullptr;
  sweep_all({"model_load (config nested 64 deep)",
             [&] { return spinfer_model_load(ctx, &made, dir.c_str(), &mc, nullptr); },
             [&](bool ok) -> const char* { return ok == (made != nullptr) ? nullptr : "handle/status disagree"; },
             [&] { spinfer_model_destroy(made); made = nullptr; }},
            false);

  // A repeated key is refused (which value a reader keeps is not defined by JSON).
  add_to_config(dir, base.str(), "\"repeated\": {\"a\": [1]}, \"repeated\": [3, [4]]");
  REQUIRE(spinfer_model_load(ctx, &made, dir.c_str(), &mc, nullptr) == SPINFER_STATUS_CORRUPT_DATA);
  CHECK(std::string(spinfer_last_error_message()).find("appears twice") != std::string::npos);

  // One level deeper is refused as corrupt; out of memory at any point before that
  // (persistent) is still OUT_OF_MEMORY, with nothing leaked.
  add_to_config(dir, base.str(), "\"task_specific_params\": " + nested_json(deepest + 1));
  REQUIRE(spinfer_model_load(ctx, &made, dir.c_str(), &mc, nullptr) == SPINFER_STATUS_CORRUPT_DATA);
  CHECK(std::string(spinfer_last_error_message()).find("nest deeper than") != std::string::npos);
  for (uint64_t i = 0;; ++i) {
    REQUIRE(i < 100000);
    const int64_t live_before = spinfer::test::live_allocations();
    spinfer::fault::arm(spinfer::test::kHostAlloc, i, true);
    const spinfer_status_t st = spinfer_model_load(ctx, &made, dir.c_str(), &mc, nullptr);
    spinfer::fault::disarm();
    const int64_t leaked = spinfer::test::live_allocations() - live_before;
    const std::string what = "failure point " + std::to_string(i) + ": " + spinfer_last_error_message();
    INFO(what);
    REQUIRE(made == nullptr);
    REQUIRE(leaked == 0);
    if (spinfer::fault::injected() == 0) {
      REQUIRE(st == SPINFER_STATUS_CORRUPT_DATA);
      break;
    }
    REQUIRE(st == SPINFER_STATUS_OUT_OF_MEMORY);
    REQUIRE(spinfer_last_error_message()[0] != '\0');
  }

  spinfer_context_destroy(ctx);
  fs::remove_all(dir);
}

// Failed prefill / decode_step / generate roll the KV cache back (rollback_check.hpp).
TEST_CASE("fault injection: a failed model call rolls the KV cache back") {
  spinfer_context_t* ctx = host_context();
  spinfer::test::check_model_rollback(ctx, spinfer::test::kHostAlloc, true, 1e-3);
  spinfer_context_destroy(ctx);
}
