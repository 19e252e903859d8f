// A prefill, decode step or generation that fails part-way (out of memory at any point,
// also after a first prefill chunk is in the KV cache) must leave every sequence at its
// length from before the call, and the next decode step must give bit for bit the
// logits of a fresh model that never saw the failed call. Shared by the host fault
// tests and the CUDA ones (the same check on either backend's context).
#pragma once

#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include "fault_sweep.hpp"
#include "spinfer.h"
#include "tiny_model.hpp"

namespace spinfer::test {

// `sites`: the fault sites armed; `persistent_too`: also sweep with every later point
// failing; `tol`: RMS error of the fresh model's logits against the float64 model.
inline void check_model_rollback(spinfer_context_t* ctx, unsigned sites, bool persistent_too, double tol) {
  namespace fs = std::filesystem;
  std::mt19937_64 rng(35);
  const auto m = make_model(false, rng);
  const fs::path dir = fs::temp_directory_path() / ("spinfer_fault_rollback_" + std::to_string(::getpid()));
  write_model(m, dir.string(), true);
  spinfer_model_config_t mc;
  spinfer_model_config_init(&mc);
  mc.max_sequences = 2;
  mc.max_batch_tokens = 4;  // the failing 6-token prefill runs as two chunks
  mc.max_sequence_length = 16;
  mc.kv_block_size = 4;     // and grows sequence 0 from 1 block to 3
  const size_t V = size_t(m.vocab);
  const std::vector<int32_t> start0 = {3, 17, 42}, start1 = {5, 11}, prompt = {8, 1, 49, 2, 30, 12};
  const int32_t seqs[2] = {0, 1}, next[2] = {7, 9};

  auto load = [&] {
    spinfer_model_t* model = nullptr;
    REQUIRE(spinfer_model_load(ctx, &model, dir.c_str(), &mc, nullptr) == SPINFER_STATUS_SUCCESS);
    return model;
  };
  auto start = [&](spinfer_model_t* model) {  // sequence 0 holds start0, sequence 1 start1
    REQUIRE(spinfer_model_release_sequence(model, 0) == SPINFER_STATUS_SUCCESS);
    REQUIRE(spinfer_model_release_sequence(model, 1) == SPINFER_STATUS_SUCCESS);
    REQUIRE(spinfer_model_prefill(ctx, model, 0, start0.data(), 3, nullptr, nullptr) == SPINFER_STATUS_SUCCESS);
    REQUIRE(spinfer_model_prefill(ctx, model, 1, start1.data(), 2, nullptr, nullptr) == SPINFER_STATUS_SUCCESS);
  };
  auto decode = [&](spinfer_model_t* model, std::vector<float>& logits) {
    std::fill(logits.begin(), logits.end(), NAN);
    REQUIRE(spinfer_model_decode_step(ctx, model, seqs, next, 2, logits.data(), nullptr) == SPINFER_STATUS_SUCCESS);
  };
  auto length = [&](spinfer_model_t* model, int32_t seq) {
    int64_t n = -1;
    REQUIRE(spinfer_model_sequence_length(model, seq, &n) == SPINFER_STATUS_SUCCESS);
    return n;
  };

  // Expected: a fresh model's decode step, checked against the float64 model.
  std::vector<float> expected(2 * V), got(2 * V);
  spinfer_model_t* fresh = load();
  start(fresh);
  decode(fresh, expected);
  spinfer_model_destroy(fresh);
  const auto ref0 = m.logits({3, 17, 42, 7}), ref1 = m.logits({5, 11, 9});
  double num = 0, den = 0;
  for (size_t i = 0; i < V; ++i) {
    num += (expected[i] - ref0[i]) * (expected[i] - ref0[i]) + (expected[V + i] - ref1[i]) * (expected[V + i] - ref1[i]);
    den += ref0[i] * ref0[i] + ref1[i] * ref1[i];
  }
  REQUIRE(std::sqrt(num / den) <= tol);

  spinfer_model_t* model = load();
  std::vector<float> scratch(2 * V);
  std::vector<int32_t> out(3);
  int64_t generated = 0;
  const std::pair<const char*, std::function<spinfer_status_t()>> calls[] = {
      {"prefill", [&] { return spinfer_model_prefill(ctx, model, 0, prompt.data(), 6, scratch.data(), nullptr); }},
      {"decode_step", [&] { return spinfer_model_decode_step(ctx, model, seqs, next, 2, scratch.data(), nullptr); }},
      {"generate_greedy",
       [&] { return spinfer_model_generate_greedy(ctx, model, 0, prompt.data(), 6, 3, -1, out.data(), &generated, nullptr); }},
  };
  for (const auto& [name, call] : calls)
    for (bool persistent : {false, true}) {
      if (persistent && !persistent_too) continue;
      uint64_t failures = 0;
      for (uint64_t i = 0;; ++i) {
        REQUIRE(i < 100000);
        start(model);
        fault::arm(sites, i, persistent);
        const spinfer_status_t st = call();
        fault::disarm();
        if (fault::injected() == 0) {
          REQUIRE(st == SPINFER_STATUS_SUCCESS);
          break;
        }
        const std::string what = std::string(name) + ", " + mode_name(persistent) + ", failure point " +
                                 std::to_string(i) + ", message '" + spinfer_last_error_message() + "'";
        INFO(what);
        REQUIRE(st == SPINFER_STATUS_OUT_OF_MEMORY);
        ++failures;
        REQUIRE(length(model, 0) == 3);
        REQUIRE(length(model, 1) == 2);
        decode(model, got);
        REQUIRE(got == expected);
      }
      std::printf("rollback: %-16s %-10s %5llu failure points, lengths and next logits unchanged\n", name,
                  mode_name(persistent), (unsigned long long)failures);
      CHECK(failures > 0);
    }

  spinfer_model_destroy(model);
  fs::remove_all(dir);
}

}  // namespace spinfer::test
