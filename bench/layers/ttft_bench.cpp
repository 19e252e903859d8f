#include "ttft_bench.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_model.hpp"
#include "bench_stats.hpp"

namespace bench {

using namespace spinfer;

namespace {

// Event pair around a stretch of stream work.
struct EventTimer {
  cudaEvent_t start = nullptr, stop = nullptr;
  EventTimer() {
    ck(cudaEventCreate(&start), "cudaEventCreate");
    ck(cudaEventCreate(&stop), "cudaEventCreate");
  }
  ~EventTimer() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
};

// `batch` prompts of `length` token ids, different per sequence (never all one token).
std::vector<std::vector<int32_t>> make_prompts(int batch, int length) {
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(batch));
  uint64_t x = next_seed() * 0x9e3779b97f4a7c15ull;
  for (auto& p : out) {
    p.resize(static_cast<size_t>(length));
    for (auto& t : p) {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      t = int32_t(x % uint64_t(kBenchVocab));
    }
  }
  return out;
}

// Median TTFT (ms) of one cell: all `batch` sequences prefilled from empty, each call
// asking for its last token's logits (the final norm and LM head run).
double time_cell(runtime::Model& model, const TtftCell& cell, const TtftPlan& plan, cudaStream_t st) {
  const auto prompts = make_prompts(cell.batch, cell.prompt);
  std::vector<float> logits(static_cast<size_t>(kBenchVocab));
  EventTimer ev;
  auto run_once = [&] {
    for (int q = 0; q < cell.batch; ++q) model.release(q);
    ck(cudaStreamSynchronize(st), "before prefill");
    ck(cudaEventRecord(ev.start, st), "cudaEventRecord");
    for (int q = 0; q < cell.batch; ++q)
      model.prefill(q, prompts[size_t(q)].data(), cell.prompt, logits.data(), st);
    ck(cudaEventRecord(ev.stop, st), "cudaEventRecord");
    ck(cudaEventSynchronize(ev.stop), "prefill timing");
    float ms = 0;
    ck(cudaEventElapsedTime(&ms, ev.start, ev.stop), "cudaEventElapsedTime");
    if (!std::isfinite(logits[0])) throw std::runtime_error("the prefill's logits are not finite");
    return double(ms);
  };
  for (int w = 0; w < plan.warmups; ++w) run_once();
  std::vector<double> t;
  for (int r = 0; r < plan.reps; ++r) t.push_back(run_once());
  for (int q = 0; q < cell.batch; ++q) model.release(q);
  return median(t);
}

runtime::RuntimeConfig runtime_for(const TtftPlan& plan) {
  runtime::RuntimeConfig rt;
  rt.max_sequences = plan.max_batch();
  rt.max_batch_tokens = std::max<int64_t>(plan.max_prompt(), rt.max_sequences);  // one chunk per prompt
  rt.max_sequence_length = plan.max_prompt();
  rt.kv_block_size = plan.kv_block;
  rt.kv_num_blocks = plan.kv_blocks();  // every sequence of the largest batch at the longest prompt
  return rt;
}

}  // namespace

TtftResults run_ttft_sweep(cuda::DeviceContext& ctx, CublasGemm& gemm, const TtftPlan& plan, cudaStream_t st) {
  TtftResults r;
  r.ms.assign(plan.modes(), std::vector<double>(plan.cells.size(), std::nan("")));
  const runtime::RuntimeConfig rt = runtime_for(plan);
  const int64_t max_positions = std::max<int64_t>(4096, plan.max_prompt());
  for (size_t m = 0; m < plan.modes(); ++m) {
    const double sparsity = m ? plan.sparsities[m - 1] : -1.0;
    const std::string label = sparsity_label(sparsity);
    std::unique_ptr<BenchModel> bm;
    try {
      bm = build_llama7b_model(ctx, gemm, sparsity, plan.layers, rt, max_positions, st);
    } catch (const std::exception& e) {
      r.errors.push_back("TTFT " + label + " model: " + e.what());
      cudaGetLastError();
      if (m == 0) break;
      continue;
    }
    for (size_t c = 0; c < plan.cells.size(); ++c) try {
      r.ms[m][c] = time_cell(*bm->model, plan.cells[c], plan, st);
    } catch (const std::exception& e) {
      r.errors.push_back("TTFT " + label + " prompt " + std::to_string(plan.cells[c].prompt) + " batch " +
                         std::to_string(plan.cells[c].batch) + ": " + e.what());
      cudaGetLastError();
      try {  // the next cell starts from empty sequences
        for (int q = 0; q < plan.cells[c].batch; ++q) bm->model->release(q);
      } catch (const std::exception&) {
      }
    }
    std::printf("- TTFT %s: %.2f GB weights, KV cache %.2f GB, done\n", label.c_str(), double(bm->weight_bytes) / 1e9,
                double(bm->model->kv_cache_bytes()) / 1e9);
    std::fflush(stdout);
  }
  return r;
}

}  // namespace bench
