// bench_layers -- decode-step time of sparse decoder layers, tokens/s of a whole
// 7B-shaped model and its time to first token, against the same runtime with dense
// weights through cuBLAS, in one run (issue 6, item 5; issue 14, point 2). Random weights
// are generated and encoded on the GPU.
//
//   bench_layers [--quick] [--layers-only | --model-only | --ttft] [--reps N]
//                [--sparsities LIST] [--model-layers N] [--prompts LIST] [--batches LIST] [--csv FILE]
//
// Tables are markdown; the last lines ("TARGET ...") compare with the targets.
// Files: bench_options (command line), bench_weights (random layers), bench_model (the
// whole model), ttft_plan / ttft_report / ttft_bench (the TTFT sweep).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "bench_fill.hpp"
#include "bench_model.hpp"
#include "bench_options.hpp"
#include "bench_stats.hpp"
#include "bench_weights.hpp"
#include "common/error.hpp"
#include "cuda/cuda_backend.hpp"
#include "dense_gemm.hpp"
#include "layers/decoder_layer.hpp"
#include "layers/kv_cache.hpp"
#include "runtime/model.hpp"
#include "ttft_bench.hpp"
#include "ttft_plan.hpp"
#include "ttft_report.hpp"

using namespace spinfer;
using namespace bench;
using layers::Backend;

namespace {

std::vector<std::string> g_notes, g_targets;  // printed after the tables

// Copy bandwidth (read + write bytes per second) over 2 GiB: the roofline reference.
double copy_bandwidth(cudaStream_t st) {
  const size_t bytes = size_t(1) << 30;
  DeviceBuf a(bytes), b(bytes);
  bench_fill_half(a.p, int64_t(bytes / 2), 0.0, 1.0f, 7, st);
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<double> t;
  for (int i = 0; i < 12; ++i) {
    cudaEventRecord(e0, st);
    bench_copy16(b.p, a.p, bytes, st);
    cudaEventRecord(e1, st);
    ck(cudaEventSynchronize(e1), "copy timing");
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    if (i >= 2) t.push_back(ms);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return 2.0 * double(bytes) / (median(t) * 1e-3);
}

// Median time (ms) of one decode step of `layer` for `batch` sequences of `context`
// cached tokens, replayed from a CUDA graph.
double time_layer(Backend& b, layers::DecoderLayer& layer, const Shape& s, int batch, int context, int reps,
                  cudaStream_t st, int64_t key) {
  const int hd = int(s.H / s.heads);
  layers::KvCacheConfig kc;
  kc.num_layers = 1;
  kc.num_kv_heads = s.kv_heads;
  kc.head_dim = hd;
  kc.block_size = 16;
  kc.max_sequences = batch;
  kc.max_sequence_length = context + 16;
  kc.num_blocks = int64_t(batch) * ((context + 16) / 16 + 1);
  kc.dtype = DType::f16;
  layers::KvCache cache(b, kc);
  const layers::KvLayer kv = cache.layer(0);
  const int64_t pool = kc.num_blocks * kc.block_size * s.kv_heads * hd;
  bench_fill_half(kv.k, pool, 0.0, 1.0f, next_seed(), st);
  bench_fill_half(kv.v, pool, 0.0, 1.0f, next_seed(), st);
  std::vector<int32_t> seqs(static_cast<size_t>(batch)), ctx_len(size_t(batch), context), ones(size_t(batch), 1);
  for (int i = 0; i < batch; ++i) seqs[size_t(i)] = i;
  cache.begin_step(seqs.data(), ctx_len.data(), batch, st);  // the context, as if prefilled
  cache.begin_step(seqs.data(), ones.data(), batch, st);     // the decode step timed
  layers::Scratch scratch(b, layer.scratch_bytes(batch));
  DeviceBuf hidden(size_t(batch * s.H) * 4);
  bench_fill_float(hidden.as<float>(), batch * s.H, -1.0f, 1.0f, next_seed(), st);
  auto body = [&] { layer.forward(cache, 0, hidden.as<float>(), batch, scratch, st); };
  b.run_graph(key, st, body);  // capture + first launch
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  std::vector<double> t;
  for (int r = 0; r < reps + 3; ++r) {
    cudaEventRecord(e0, st);
    b.run_graph(key, st, body);
    cudaEventRecord(e1, st);
    ck(cudaEventSynchronize(e1), "layer timing");
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    if (r >= 3) t.push_back(ms);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  ck(cudaStreamSynchronize(st), "layer step");
  return median(t);
}

void bench_layers(cuda::DeviceContext& ctx, CublasGemm& gemm, const Options& o, double bw, cudaStream_t st) {
  std::vector<Shape> shapes = {{"LLaMA-2-7B", 4096, 11008, 32, 32, false},
                               {"LLaMA-3-8B", 4096, 14336, 32, 8, false},
                               {"OPT-13B", 5120, 20480, 40, 40, true}};
  std::vector<int> batches = {1, 8, 16, 32}, contexts = {512, 2048};
  std::vector<double> sparsities = {0.5, 0.6, 0.7};
  if (o.quick) {
    shapes.resize(1);
    batches = {1, 16};
    contexts = {512};
    sparsities = {0.6};
  }
  if (!o.sparsities.empty()) sparsities = o.sparsities;
  const int reps = o.reps ? o.reps : 30;
  std::printf("\n## Decoder layer, one decode step (CUDA graph replay), fp16\n\n");
  std::printf("Median of %d replays. `x dense` = dense time / sparse time; `bound` = weight bytes / copy "
              "bandwidth.\n\n",
              reps);
  std::printf("| layer | batch | context | dense ms | dense / bound |");
  for (double sp : sparsities) {
    const std::string l = sparsity_label(sp);
    std::printf(" %s ms | %s x dense |", l.c_str(), l.c_str());
  }
  std::printf("\n|---|---|---|---|---|");
  for (size_t i = 0; i < sparsities.size(); ++i) std::printf("---|---|");
  std::printf("\n");
  for (const Shape& s : shapes) try {
    // dense first, then each sparsity; one backend each (graphs are per backend)
    std::vector<std::unique_ptr<LayerWeights>> weights;
    std::vector<std::unique_ptr<Backend>> backends;
    std::vector<std::unique_ptr<layers::DecoderLayer>> layer;
    std::vector<double> modes = {-1.0};
    modes.insert(modes.end(), sparsities.begin(), sparsities.end());
    std::vector<std::vector<double>> times(modes.size());
    for (size_t m = 0; m < modes.size(); ++m) {
      backends.push_back(layers::make_cuda_backend(ctx, DType::f16));
      backends.back()->set_dense_gemm(&gemm);
      weights.push_back(make_layer(ctx, s, modes[m], st));
      layer.push_back(std::make_unique<layers::DecoderLayer>(*backends.back(), decoder_config(s), weights.back()->w, st));
      ck(cudaStreamSynchronize(st), "layer build");
      for (int c : contexts)
        for (int bsz : batches)
          times[m].push_back(time_layer(*backends.back(), *layer.back(), s, bsz, c, reps, st, int64_t(bsz) * 100000 + c));
      g_notes.push_back(std::string("weights of one ") + s.name + " layer, " +
                        sparsity_label(modes[m]) + ": " +
                        std::to_string(weights.back()->bytes / 1000000) + " MB");
      if (m > 0) {  // free this sparse layer before building the next
        layer.back().reset();
        weights.back().reset();
      }
    }
    size_t i = 0;
    for (int c : contexts)
      for (int bsz : batches) {
        const double bound_ms = double(weights[0]->bytes) / bw * 1e3;
        std::printf("| %s | %d | %d | %.3f | %.2f |", s.name, bsz, c, times[0][i], times[0][i] / bound_ms);
        for (size_t m = 1; m < modes.size(); ++m) std::printf(" %.3f | %.2f |", times[m][i], times[0][i] / times[m][i]);
        std::printf("\n");
        ++i;
      }
    std::fflush(stdout);
  } catch (const std::exception& e) {
    std::printf("| %s | error: %s |\n", s.name, e.what());
    cudaGetLastError();
  }
}

struct ModelResult {
  double weight_gb = 0, used_gb = 0, kv_gb = 0;
  std::vector<double> tokens_per_s;
};

ModelResult bench_model(cuda::DeviceContext& ctx, CublasGemm& gemm, double sparsity, const std::vector<int>& batches,
                        int layers_count, int steps, cudaStream_t st) {
  size_t free0 = 0, total = 0;
  ck(cudaMemGetInfo(&free0, &total), "cudaMemGetInfo");
  runtime::RuntimeConfig rt;
  rt.max_sequences = *std::max_element(batches.begin(), batches.end());
  rt.max_batch_tokens = 512;
  rt.max_sequence_length = 1024;
  rt.kv_block_size = 16;
  const std::unique_ptr<BenchModel> bm = build_llama7b_model(ctx, gemm, sparsity, layers_count, rt, 4096, st);
  runtime::Model& model = *bm->model;
  size_t free1 = 0;
  ck(cudaMemGetInfo(&free1, &total), "cudaMemGetInfo");
  ModelResult r;
  r.weight_gb = double(bm->weight_bytes) / 1e9;
  r.kv_gb = double(model.kv_cache_bytes()) / 1e9;
  r.used_gb = double(free0 - free1) / 1e9;
  std::vector<int32_t> prompt(512);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 7919 + 13) % kBenchVocab);
  for (int bsz : batches) {
    for (int q = 0; q < rt.max_sequences; ++q) model.release(q);
    for (int q = 0; q < bsz; ++q) model.prefill(q, prompt.data(), int64_t(prompt.size()), nullptr, st);
    std::vector<int32_t> seqs(static_cast<size_t>(bsz)), toks(size_t(bsz), 42);
    for (int q = 0; q < bsz; ++q) seqs[size_t(q)] = q;
    std::vector<double> t;
    for (int step = 0; step < steps + 3; ++step) {
      ck(cudaStreamSynchronize(st), "step");
      const auto t0 = std::chrono::steady_clock::now();
      model.decode_step(seqs.data(), toks.data(), bsz, nullptr, st);
      ck(cudaStreamSynchronize(st), "step");
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (step >= 3) t.push_back(ms);
    }
    r.tokens_per_s.push_back(double(bsz) / (median(t) * 1e-3));
  }
  return r;
}

// Whole-model decode: tokens/s of dense and each sparsity, weight and GPU memory.
void model_section(cuda::DeviceContext& ctx, CublasGemm& gemm, const Options& o, double bw, cudaStream_t st) {
  const std::vector<int> batches = o.quick ? std::vector<int>{1, 8} : std::vector<int>{1, 8, 16};
  const int n_layers = o.model_layers, steps = o.quick ? 10 : 20;
  std::printf("\n## Whole model: %d LLaMA-2-7B-shaped layers, vocab 32000, context 512, fp16\n\n", n_layers);
  std::printf("Decode tokens/s (median step, host-timed, CUDA graphs); LM head and embeddings dense in "
              "both.\n\n| weights | GB weights | GB used on GPU (incl. KV %s) |",
              "cache");
  for (int bsz : batches) std::printf(" tok/s b=%d | x dense |", bsz);
  std::printf("\n|---|---|---|");
  for (size_t i = 0; i < batches.size(); ++i) std::printf("---|---|");
  std::printf("\n");
  std::vector<double> modes = {-1.0};
  if (!o.sparsities.empty()) modes.insert(modes.end(), o.sparsities.begin(), o.sparsities.end());
  else if (o.quick) modes.push_back(0.6);
  else modes.insert(modes.end(), {0.5, 0.6, 0.7});
  ModelResult dense;
  for (double sp : modes) {
    ModelResult r;
    try {
      r = bench_model(ctx, gemm, sp, batches, n_layers, steps, st);
    } catch (const std::exception& e) {
      std::printf("| %s | error: %s |\n", sparsity_label(sp).c_str(), e.what());
      cudaGetLastError();
      if (sp < 0) break;  // no baseline: the ratios would mean nothing
      continue;
    }
    if (sp < 0) dense = r;
    std::printf("| %s | %.2f (%.3fx) | %.2f (KV %.2f) |", sparsity_label(sp).c_str(), r.weight_gb,
                r.weight_gb / dense.weight_gb, r.used_gb, r.kv_gb);
    for (size_t i = 0; i < batches.size(); ++i)
      std::printf(" %.1f | %.2f |", r.tokens_per_s[i], r.tokens_per_s[i] / dense.tokens_per_s[i]);
    std::printf("\n");
    std::fflush(stdout);
    char line[256];
    if (sp < 0) {
      const double step_ms = 1e3 / dense.tokens_per_s[0];
      const double bound_ms = dense.weight_gb * 1e9 / bw * 1e3;
      std::snprintf(line, sizeof line,
                    "TARGET dense batch-1 step %.3f ms vs weight-streaming bound %.3f ms: %.2fx (target <= 1.25x)",
                    step_ms, bound_ms, step_ms / bound_ms);
      g_targets.push_back(line);
    } else if (sp == 0.6 || sp == 0.7) {
      for (size_t i = 0; i < batches.size(); ++i) {
        std::snprintf(line, sizeof line, "TARGET %d%% batch %d: %.2fx dense tokens/s (target >= %.1fx)",
                      int(sp * 100), batches[i], r.tokens_per_s[i] / dense.tokens_per_s[i], sp == 0.6 ? 1.5 : 1.8);
        g_targets.push_back(line);
      }
      if (sp == 0.6) {
        std::snprintf(line, sizeof line, "TARGET 60%% weight memory %.3fx dense (target <= 0.47x)",
                      r.weight_gb / dense.weight_gb);
        g_targets.push_back(line);
      }
    }
  }
}

// Time to first token of the whole model (issue 14, point 2): the header first, the
// table once every mode has run, CSV on request.
void ttft_section(cuda::DeviceContext& ctx, CublasGemm& gemm, const Options& o, cudaStream_t st) {
  const TtftPlan plan = make_ttft_plan(o);
  std::printf("%s\n", ttft_header(plan).c_str());
  std::fflush(stdout);
  const TtftResults r = run_ttft_sweep(ctx, gemm, plan, st);
  std::printf("%s", ttft_table(plan, r).c_str());
  for (const std::string& e : r.errors) g_notes.push_back("error: " + e);
  for (const std::string& t : ttft_targets(plan, r)) g_targets.push_back(t);
  if (!o.csv.empty()) {
    std::ofstream f(o.csv);
    f << ttft_csv(plan, r);
    if (!f) throw Error(SPINFER_STATUS_IO_ERROR, "cannot write '" + o.csv + "'");
    g_notes.push_back("TTFT rows written to " + o.csv);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse_options(argc, argv);
  } catch (const OptionError& e) {
    std::fprintf(stderr, "bench_layers: %s (--help lists the options)\n", e.what());
    return 2;
  }
  if (o.help) {
    std::printf("%s", usage(argv[0]).c_str());
    return 0;
  }
  try {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
      std::printf("SKIPPED: no CUDA device\n");
      return 77;
    }
    cudaDeviceProp prop{};
    ck(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    auto ctx = cuda::create_context(0);
    cudaStream_t st;
    ck(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), "cudaStreamCreate");
    CublasGemm gemm;
    const double bw = copy_bandwidth(st);
    std::printf("# bench_layers\n\nDevice: %s (%d SMs, %.1f GB). Copy bandwidth %.0f GB/s (read + write).\n",
                prop.name, prop.multiProcessorCount, double(prop.totalGlobalMem) / 1e9, bw / 1e9);
    if (o.layers) bench_layers(*ctx, gemm, o, bw, st);
    if (o.model) model_section(*ctx, gemm, o, bw, st);
    if (o.ttft) ttft_section(*ctx, gemm, o, st);
    std::printf("\n");
    for (const auto& n : g_notes) std::printf("- %s\n", n.c_str());
    std::printf("\n");
    for (const auto& t : g_targets) std::printf("%s\n", t.c_str());
    cudaStreamDestroy(st);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_layers: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
