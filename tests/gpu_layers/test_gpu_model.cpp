// The model runner on CUDA: tiny OPT, LLaMA, Qwen2 and Qwen3 directories
// (tiny_model.hpp) loaded on the GPU, logits after prefill and batched decode steps
// against the float64 forward, CUDA-graph replay identical to eager execution, greedy
// generation.
#include <algorithm>
#include <filesystem>
#include <limits>
#include <random>
#include <unistd.h>

#include "gpu_io.hpp"
#include "tiny_model.hpp"

using namespace spinfer::test;
namespace fs = std::filesystem;

namespace {

// Defaults: the 11-token prompt of the first test runs as two chunks.
spinfer_model_t* load(spinfer_context_t* ctx, const std::string& dir, int graphs, int64_t max_len = 48,
                      int64_t batch_tokens = 8) {
  spinfer_model_config_t mc;
  spinfer_model_config_init(&mc);
  mc.max_sequences = 4;
  mc.max_batch_tokens = batch_tokens;
  mc.max_sequence_length = max_len;
  mc.kv_block_size = 8;
  mc.use_cuda_graphs = graphs;
  spinfer_model_t* model = nullptr;
  SP_OK(spinfer_model_load(ctx, &model, dir.c_str(), &mc, nullptr));
  return model;
}

// One decode step of the same two sequences on the eager and the graphed model, into
// NaN-poisoned logits; the graph replay must match the eager run bit for bit.
void decode_both(spinfer_context_t* ctx, spinfer_model_t* eager, spinfer_model_t* graphed, const int32_t* seqs,
                 const int32_t* toks, std::vector<float>& le, std::vector<float>& lg) {
  std::fill(le.begin(), le.end(), std::numeric_limits<float>::quiet_NaN());
  std::fill(lg.begin(), lg.end(), std::numeric_limits<float>::quiet_NaN());
  SP_OK(spinfer_model_decode_step(ctx, eager, seqs, toks, 2, le.data(), nullptr));
  SP_OK(spinfer_model_decode_step(ctx, graphed, seqs, toks, 2, lg.data(), nullptr));
  CHECK(std::memcmp(le.data(), lg.data(), le.size() * 4) == 0);
}

double max_abs(const Vec& v) {
  double m = 0;
  for (double e : v) m = std::max(m, std::fabs(e));
  return m;
}

// Greedy tokens `out` (generated after `prompt`) against the reference model: the same
// token wherever the reference's top-two margin exceeds `margin` times its largest
// |logit|. Returns how many steps were compared.
int check_greedy(const TinyModel& m, std::vector<int32_t> seq, const std::vector<int32_t>& out,
                 int64_t produced, double margin) {
  int compared = 0;
  for (int64_t i = 0; i < produced; ++i) {
    Vec r = m.logits(seq);
    Vec s = r;
    std::partial_sort(s.begin(), s.begin() + 2, s.end(), std::greater<double>());
    if (s[0] - s[1] > margin * max_abs(r)) {
      CHECK(out[size_t(i)] == int32_t(std::max_element(r.begin(), r.end()) - r.begin()));
      ++compared;
    }
    seq.push_back(out[size_t(i)]);
  }
  return compared;
}

}  // namespace

TEST_CASE("gpu model: tiny OPT and LLaMA logits, graphs, greedy generation") {
  spinfer_context_t* ctx = cuda_context();
  std::mt19937_64 rng(41);
  const std::string root = (fs::temp_directory_path() / ("spinfer_gpu_model_" + std::to_string(::getpid()))).string();
  for (bool opt : {true, false}) {
    CAPTURE(opt);
    TinyModel m = make_model(opt, rng);
    const std::string dir = root + (opt ? "/opt" : "/llama");
    write_model(m, dir, true);
    const double tol = 5e-3;  // fp16 activations through two layers, LM head and norms
    spinfer_model_t* eager = load(ctx, dir, 0);
    spinfer_model_t* graphed = load(ctx, dir, 1);
    std::vector<int32_t> a = {3, 17, 42, 8, 8, 1, 49, 0, 23, 5, 9}, b = {5, 11};
    const size_t V = size_t(m.vocab);
    std::vector<float> le(2 * V), lg(2 * V);
    for (spinfer_model_t* model : {eager, graphed}) {
      std::vector<float>& l = model == eager ? le : lg;
      SP_OK(spinfer_model_prefill(ctx, model, 0, a.data(), int64_t(a.size()), l.data(), nullptr));
      SP_OK(spinfer_model_prefill(ctx, model, 3, b.data(), int64_t(b.size()), l.data() + V, nullptr));
    }
    Vec ra = m.logits(a), rb = m.logits(b);
    CHECK(ref::rel_err(std::vector<double>(le.begin(), le.begin() + V), ra) < tol);
    CHECK(ref::rel_err(std::vector<double>(le.begin() + V, le.end()), rb) < tol);
    for (int step = 0; step < 6; ++step) {
      CAPTURE(step);
      int32_t seqs[2] = {3, 0};
      int32_t toks[2] = {int32_t((7 * step + 2) % m.vocab), int32_t((13 * step + 4) % m.vocab)};
      decode_both(ctx, eager, graphed, seqs, toks, le, lg);
      b.push_back(toks[0]);
      a.push_back(toks[1]);
      CHECK(ref::rel_err(std::vector<double>(le.begin(), le.begin() + V), m.logits(b)) < tol);
      CHECK(ref::rel_err(std::vector<double>(le.begin() + V, le.end()), m.logits(a)) < tol);
    }
    // Greedy generation: same token as the reference wherever its top-two margin is
    // larger than the tolerance (relative to the largest logit).
    std::vector<int32_t> prompt = {1, 2, 3, 4}, out(16, -1);
    int64_t produced = 0;
    SP_OK(spinfer_model_generate_greedy(ctx, graphed, 1, prompt.data(), 4, 16, -1, out.data(), &produced, nullptr));
    CHECK(produced == 16);
    const int compared = check_greedy(m, prompt, out, produced, tol);
    MESSAGE("greedy steps compared: " << compared << " of " << produced);
    spinfer_model_info_t info{};
    info.struct_size = sizeof(info);
    SP_OK(spinfer_model_get_info(graphed, &info));
    CHECK(info.dtype == SPINFER_DTYPE_F16);
    spinfer_model_destroy(eager);
    spinfer_model_destroy(graphed);
  }
  spinfer_context_destroy(ctx);
  fs::remove_all(root);
}

// Qwen2 (q/k/v biases fused into the joined QKV SpMM, tied LM head) and Qwen3 (per-head
// q/k RMSNorm kernel before RoPE, head_dim 32 with hidden 64), in F16 and BF16.
TEST_CASE("gpu model: tiny Qwen2 and Qwen3, fp16 and bf16, graphs, greedy generation") {
  spinfer_context_t* ctx = cuda_context();
  std::mt19937_64 rng(47);
  const std::string root = (fs::temp_directory_path() / ("spinfer_gpu_qwen_" + std::to_string(::getpid()))).string();
  for (Family family : {Family::qwen2, Family::qwen3})
    for (spinfer::DType dtype : {spinfer::DType::f16, spinfer::DType::bf16}) {
      const bool bf16 = dtype == spinfer::DType::bf16;
      const std::string name = std::string(family_name(family)) + (bf16 ? "_bf16" : "_f16");
      CAPTURE(name);
      TinyModel m = make_model(family, rng);
      const std::string dir = root + "/" + name;
      write_model(m, dir, true, dtype);
      const double tol = bf16 ? 3e-2 : 5e-3;  // activations rounded to 8 / 11 significant bits
      spinfer_model_t* eager = load(ctx, dir, 0);
      spinfer_model_t* graphed = load(ctx, dir, 1);
      std::vector<int32_t> a = {3, 17, 42, 8, 8, 1, 49, 0, 23, 5, 9}, b = {5, 11};
      const size_t V = size_t(m.vocab);
      std::vector<float> le(2 * V, std::numeric_limits<float>::quiet_NaN()), lg(2 * V);
      for (spinfer_model_t* model : {eager, graphed}) {
        std::vector<float>& l = model == eager ? le : lg;
        SP_OK(spinfer_model_prefill(ctx, model, 0, a.data(), int64_t(a.size()), l.data(), nullptr));
        SP_OK(spinfer_model_prefill(ctx, model, 3, b.data(), int64_t(b.size()), l.data() + V, nullptr));
      }
      CHECK(ref::rel_err(std::vector<double>(le.begin(), le.begin() + V), m.logits(a)) < tol);
      CHECK(ref::rel_err(std::vector<double>(le.begin() + V, le.end()), m.logits(b)) < tol);
      for (int step = 0; step < 5; ++step) {
        CAPTURE(step);
        int32_t seqs[2] = {3, 0};
        int32_t toks[2] = {int32_t((5 * step + 1) % m.vocab), int32_t((11 * step + 6) % m.vocab)};
        decode_both(ctx, eager, graphed, seqs, toks, le, lg);
        b.push_back(toks[0]);
        a.push_back(toks[1]);
        CHECK(ref::rel_err(std::vector<double>(le.begin(), le.begin() + V), m.logits(b)) < tol);
        CHECK(ref::rel_err(std::vector<double>(le.begin() + V, le.end()), m.logits(a)) < tol);
      }
      std::vector<int32_t> prompt = {2, 7, 1, 8}, out(12, -1);
      int64_t produced = 0;
      SP_OK(spinfer_model_generate_greedy(ctx, graphed, 1, prompt.data(), 4, 12, -1, out.data(), &produced, nullptr));
      CHECK(produced == 12);
      const int compared = check_greedy(m, prompt, out, produced, 2 * tol);
      MESSAGE(name << ": greedy steps compared: " << compared << " of " << produced);
      spinfer_model_info_t info{};
      info.struct_size = sizeof(info);
      SP_OK(spinfer_model_get_info(graphed, &info));
      CHECK(info.dtype == (bf16 ? SPINFER_DTYPE_BF16 : SPINFER_DTYPE_F16));
      CHECK(info.head_dim == m.hd);
      spinfer_model_destroy(eager);
      spinfer_model_destroy(graphed);
    }
  spinfer_context_destroy(ctx);
  fs::remove_all(root);
}

// Long sequences: with a 1024-token capacity the decode attention cuts each sequence
// into several key ranges and combines them (at 48 tokens, above, it runs one range).
// The ranges are fixed by the capacity, so a CUDA graph captured at the first step must
// replay later steps (other lengths, other block tables) bit for bit as eager runs do.
TEST_CASE("gpu model: long sequences, split decode attention under graph replay") {
  spinfer_context_t* ctx = cuda_context();
  std::mt19937_64 rng(43);
  TinyModel m = make_model(false, rng);
  m.max_pos = 1024;  // LLaMA: RoPE positions, no table; the runtime's default capacity
  const std::string dir = (fs::temp_directory_path() / ("spinfer_gpu_long_" + std::to_string(::getpid()))).string();
  write_model(m, dir, true);
  spinfer_model_t* eager = load(ctx, dir, 0, 1024, 256);
  spinfer_model_t* graphed = load(ctx, dir, 1, 1024, 256);
  std::uniform_int_distribution<int32_t> token(0, int32_t(m.vocab - 1));
  std::vector<int32_t> a(700), b(130);  // prefilled as three chunks of <= 256 tokens, and one
  for (auto& t : a) t = token(rng);
  for (auto& t : b) t = token(rng);
  const size_t V = size_t(m.vocab);
  const double tol = 5e-3;
  std::vector<float> le(2 * V), lg(2 * V);
  for (spinfer_model_t* model : {eager, graphed}) {
    SP_OK(spinfer_model_prefill(ctx, model, 0, a.data(), int64_t(a.size()), nullptr, nullptr));
    SP_OK(spinfer_model_prefill(ctx, model, 2, b.data(), int64_t(b.size()), nullptr, nullptr));
  }
  for (int step = 0; step < 4; ++step) {
    CAPTURE(step);
    int32_t seqs[2] = {2, 0};
    int32_t toks[2] = {token(rng), token(rng)};
    decode_both(ctx, eager, graphed, seqs, toks, le, lg);
    b.push_back(toks[0]);
    a.push_back(toks[1]);
    if (step % 3 == 0) {  // the float64 forward over 700 tokens is slow: two steps checked
      CHECK(ref::rel_err(std::vector<double>(le.begin(), le.begin() + V), m.logits(b)) < tol);
      CHECK(ref::rel_err(std::vector<double>(le.begin() + V, le.end()), m.logits(a)) < tol);
    }
  }
  spinfer_model_destroy(eager);
  spinfer_model_destroy(graphed);
  spinfer_context_destroy(ctx);
  fs::remove_all(dir);
}
