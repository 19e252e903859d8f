// One host context used from several threads at once for the layer and model entry
// points (spinfer.h section 7): each thread owns its layer, KV cache and model handles
// (the header's rule), the matrices and the model directory are shared. Every result
// must be bit-identical to the single-threaded run, error messages stay per thread.
// Run under ThreadSanitizer by .ci/reliability.sh.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "host_fixtures.hpp"
#include "spinfer.h"
#include "tiny_model.hpp"

namespace fs = std::filesystem;

namespace {

constexpr int kThreads = 4;

// Two workers per context: each call also forks its own.
spinfer_context_t* host_context() { return spinfer::test::host_context(2); }
using spinfer::test::encode_f16;

// What one thread computes with its own model: prefill logits of two sequences, one
// decode step over both, and a greedy continuation.
struct ModelRun {
  std::vector<float> prefill, decode;
  std::vector<int32_t> generated;
  bool operator==(const ModelRun&) const = default;
};

spinfer_status_t run_model(spinfer_context_t* ctx, const std::string& dir, int64_t vocab, ModelRun& r) {
  spinfer_model_config_t mc;
  spinfer_model_config_init(&mc);
  mc.max_sequences = 2;
  mc.max_batch_tokens = 4;
  mc.max_sequence_length = 24;
  mc.kv_block_size = 4;
  spinfer_model_t* model = nullptr;
  spinfer_status_t st = spinfer_model_load(ctx, &model, dir.c_str(), &mc, nullptr);
  if (st != SPINFER_STATUS_SUCCESS) return st;
  const std::vector<int32_t> a = {3, 17, 42, 8, 1, 49}, b = {5, 11};
  r.prefill.assign(size_t(2 * vocab), NAN);
  r.decode.assign(size_t(2 * vocab), NAN);
  r.generated.assign(6, -1);
  int64_t n = 0;
  const int32_t seqs[2] = {0, 1}, next[2] = {7, 9};
  if (st == SPINFER_STATUS_SUCCESS) st = spinfer_model_prefill(ctx, model, 0, a.data(), 6, r.prefill.data(), nullptr);
  if (st == SPINFER_STATUS_SUCCESS)
    st = spinfer_model_prefill(ctx, model, 1, b.data(), 2, r.prefill.data() + vocab, nullptr);
  if (st == SPINFER_STATUS_SUCCESS) st = spinfer_model_decode_step(ctx, model, seqs, next, 2, r.decode.data(), nullptr);
  if (st == SPINFER_STATUS_SUCCESS) st = spinfer_model_release_sequence(model, 0);
  if (st == SPINFER_STATUS_SUCCESS)
    st = spinfer_model_generate_greedy(ctx, model, 0, a.data(), 6, 6, -1, r.generated.data(), &n, nullptr);
  if (st == SPINFER_STATUS_SUCCESS && n != 6) st = SPINFER_STATUS_INTERNAL_ERROR;
  spinfer_model_destroy(model);
  return st;
}

}  // namespace

TEST_CASE("one host context, many threads: each its own model from one directory") {
  std::mt19937_64 rng(41);
  const fs::path root = fs::temp_directory_path() / ("spinfer_conc_models_" + std::to_string(::getpid()));
  const spinfer::test::TinyModel opt = spinfer::test::make_model(true, rng), llama = spinfer::test::make_model(false, rng);
  const std::string dirs[2] = {(root / "opt").string(), (root / "llama").string()};
  spinfer::test::write_model(opt, dirs[0], true);
  spinfer::test::write_model(llama, dirs[1], true);
  const int64_t vocab[2] = {opt.vocab, llama.vocab};
  spinfer_context_t* ctx = host_context();

  ModelRun single[2];
  for (int k = 0; k < 2; ++k) {
    REQUIRE_MESSAGE(run_model(ctx, dirs[k], vocab[k], single[k]) == SPINFER_STATUS_SUCCESS,
                    std::string(spinfer_last_error_message()));
    // The single-threaded run itself is right (float64 reference of the tiny model).
    const auto ref = (k ? llama : opt).logits({3, 17, 42, 8, 1, 49});
    double num = 0, den = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      num += (single[k].prefill[i] - ref[i]) * (single[k].prefill[i] - ref[i]);
      den += ref[i] * ref[i];
    }
    CHECK(std::sqrt(num / den) <= 1e-3);
  }

  std::atomic<int> failures{0}, mismatches{0}, wrong_messages{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 2; ++rep) {
        const int k = (t + rep) % 2;
        ModelRun r;
        if (run_model(ctx, dirs[k], vocab[k], r) != SPINFER_STATUS_SUCCESS) ++failures;
        else if (!(r == single[k])) ++mismatches;
        // This thread's failure message names this thread's bad argument.
        const std::string dir = dirs[k] + "/missing_" + std::to_string(t);
        spinfer_model_t* model = nullptr;
        if (spinfer_model_load(ctx, &model, dir.c_str(), nullptr, nullptr) == SPINFER_STATUS_SUCCESS ||
            model != nullptr || std::strstr(spinfer_last_error_message(), ("missing_" + std::to_string(t)).c_str()) == nullptr)
          ++wrong_messages;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(mismatches == 0);
  CHECK(wrong_messages == 0);
  spinfer_context_destroy(ctx);
  fs::remove_all(root);
}

TEST_CASE("one host context, many threads: own MLP, attention and KV cache over shared matrices") {
  std::mt19937_64 rng(42);
  const auto m = spinfer::test::make_model(false, rng);
  const auto& w = m.L[0];
  spinfer_matrix_t *q = encode_f16(w.attn.q), *k = encode_f16(w.attn.k), *v = encode_f16(w.attn.v), *o = encode_f16(w.attn.o),
                   *gate = encode_f16(w.mlp.gate), *up = encode_f16(w.mlp.up), *down = encode_f16(w.mlp.down);
  spinfer_context_t* ctx = host_context();
  const int64_t N = 6, H = m.H;
  std::vector<float> x(size_t(N * H));
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (auto& e : x) e = value(rng);

  // MLP then attention over two steps (prefill of N-1 tokens, one decode token).
  auto run_layers = [&](std::vector<float>& mlp_y, std::vector<float>& attn_y, int bad_n) -> int {
    int errors = 0;
    spinfer_mlp_config_t mcfg;
    spinfer_mlp_config_init(&mcfg);
    mcfg.max_tokens = 8;
    spinfer_attention_config_t acfg;
    spinfer_attention_config_init(&acfg);
    acfg.num_heads = m.heads;
    acfg.num_kv_heads = m.kv_heads;
    acfg.max_tokens = 8;
    spinfer_kv_cache_config_t kc;
    spinfer_kv_cache_config_init(&kc);
    kc.num_layers = 1;
    kc.num_kv_heads = m.kv_heads;
    kc.head_dim = m.hd;
    kc.block_size = 4;
    kc.num_blocks = 4;
    kc.max_sequences = 1;
    kc.max_sequence_length = 16;
    kc.dtype = SPINFER_DTYPE_F32;
    spinfer_mlp_t* mlp = nullptr;
    spinfer_attention_t* attn = nullptr;
    spinfer_kv_cache_t* cache = nullptr;
    mlp_y.assign(x.size(), NAN);
    attn_y.assign(x.size(), NAN);
    if (spinfer_mlp_create(ctx, &mlp, gate, up, down, nullptr, nullptr, SPINFER_DTYPE_F32, &mcfg, nullptr) ||
        spinfer_attention_create(ctx, &attn, q, k, v, o, nullptr, nullptr, nullptr, nullptr, SPINFER_DTYPE_F32,
                                 &acfg, nullptr) ||
        spinfer_kv_cache_create(ctx, &cache, &kc))
      ++errors;
    else {
      const int32_t seq = 0, first = int32_t(N - 1), one = 1;
      if (spinfer_mlp_forward(ctx, mlp, x.data(), N, nullptr, mlp_y.data(), SPINFER_DTYPE_F32, nullptr) ||
          spinfer_kv_cache_begin_step(cache, &seq, &first, 1, nullptr) ||
          spinfer_attention_forward(ctx, attn, cache, 0, x.data(), first, nullptr, attn_y.data(), SPINFER_DTYPE_F32,
                                    nullptr) ||
          spinfer_kv_cache_begin_step(cache, &seq, &one, 1, nullptr) ||
          spinfer_attention_forward(ctx, attn, cache, 0, x.data() + first * H, 1, nullptr,
                                    attn_y.data() + first * H, SPINFER_DTYPE_F32, nullptr))
        ++errors;
      // n beyond max_tokens: INVALID_ARGUMENT naming this call's n.
      if (bad_n > 0) {
        std::vector<float> big(size_t(bad_n * H), 0.0f), out(big.size());
        if (spinfer_mlp_forward(ctx, mlp, big.data(), bad_n, nullptr, out.data(), SPINFER_DTYPE_F32, nullptr) ==
                SPINFER_STATUS_SUCCESS ||
            std::strstr(spinfer_last_error_message(), std::to_string(bad_n).c_str()) == nullptr)
          errors += 1000;
      }
    }
    spinfer_kv_cache_destroy(cache);
    spinfer_attention_destroy(attn);
    spinfer_mlp_destroy(mlp);
    return errors;
  };

  std::vector<float> mlp_single, attn_single;
  REQUIRE(run_layers(mlp_single, attn_single, 0) == 0);
  for (float e : mlp_single) REQUIRE(std::isfinite(e));
  for (float e : attn_single) REQUIRE(std::isfinite(e));

  std::atomic<int> errors{0}, mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep) {
        std::vector<float> my, ay;
        errors += run_layers(my, ay, 9 + 10 * t);  // 9, 19, 29, 39 > max_tokens 8
        if (my != mlp_single || ay != attn_single) ++mismatches;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(errors == 0);
  CHECK(mismatches == 0);

  spinfer_context_destroy(ctx);
  for (auto* e : {q, k, v, o, gate, up, down}) spinfer_matrix_destroy(e);
}
