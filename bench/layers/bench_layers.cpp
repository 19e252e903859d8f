// bench_layers -- decode-step time of sparse decoder layers and tokens/s of a whole
// 7B-shaped model against the same runtime with dense weights through cuBLAS, in one
// run (issue 6, item 5). Random weights are generated and encoded on the GPU.
//
//   bench_layers [--quick] [--layers-only | --model-only] [--reps N]
//
// Tables are markdown; the last lines ("TARGET ...") compare with the targets.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "bench_fill.hpp"
#include "common/error.hpp"
#include "cuda/cuda_backend.hpp"
#include "dense_gemm.hpp"
#include "layers/decoder_layer.hpp"
#include "layers/kv_cache.hpp"
#include "runtime/model.hpp"

using namespace spinfer;
using layers::Backend;

namespace {

void ck(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(SPINFER_STATUS_CUDA_ERROR, std::string(what) + ": " + cudaGetErrorString(e));
}

struct DeviceBuf {
  void* p = nullptr;
  size_t bytes = 0;
  explicit DeviceBuf(size_t n = 0) : bytes(n) {
    if (n) ck(cudaMalloc(&p, n), "cudaMalloc");
  }
  DeviceBuf(DeviceBuf&& o) noexcept : p(o.p), bytes(o.bytes) { o.p = nullptr; }
  DeviceBuf& operator=(DeviceBuf&& o) noexcept {
    std::swap(p, o.p);
    std::swap(bytes, o.bytes);
    return *this;
  }
  ~DeviceBuf() { if (p) cudaFree(p); }
  template <typename T> T* as() const { return static_cast<T*>(p); }
};

struct Shape {
  const char* name;
  int64_t H, I;
  int heads, kv_heads;
  bool opt;
};

// One decoder layer's weights in one mode: sparse (sparsity > 0, encoded on the GPU)
// or dense (sparsity < 0: contiguous [q;k;v] and [gate;up] blocks for cuBLAS).
struct LayerWeights {
  std::vector<cuda::DeviceMatrixPtr> mats;
  std::vector<DeviceBuf> dense;
  layers::DecoderWeights w;
  uint64_t bytes = 0;
};

uint64_t g_seed = 1;
std::vector<std::string> g_notes, g_targets;  // printed after the tables

layers::MatrixInput sparse_matrix(cuda::DeviceContext& ctx, LayerWeights& lw, int64_t rows, int64_t cols,
                                  double sparsity, cudaStream_t st) {
  DeviceBuf tmp(size_t(rows * cols) * 2);
  bench_fill_half(tmp.p, rows * cols, sparsity, 1.0f / std::sqrt(float(cols)), g_seed++, st);
  lw.mats.push_back(cuda::encode_device(ctx, tmp.p, DType::f16, rows, cols, cols, DType::f16, st));
  const cuda::DeviceMatrixSummary s = cuda::summary(*lw.mats.back());
  lw.bytes += s.values_count * 2 + s.bitmaps_count * 8 + s.offsets_count * 8;
  layers::MatrixInput in;
  in.device = lw.mats.back().get();
  return in;
}

// Dense rows [r0 + r1 + ...] in one allocation; returns one input per part.
std::vector<layers::MatrixInput> dense_block(LayerWeights& lw, const std::vector<int64_t>& rows, int64_t cols,
                                             cudaStream_t st) {
  int64_t total = 0;
  for (int64_t r : rows) total += r;
  lw.dense.emplace_back(size_t(total * cols) * 2);
  bench_fill_half(lw.dense.back().p, total * cols, 0.0, 1.0f / std::sqrt(float(cols)), g_seed++, st);
  lw.bytes += uint64_t(total * cols) * 2;
  std::vector<layers::MatrixInput> out;
  auto* base = lw.dense.back().as<unsigned char>();
  for (int64_t r : rows) {
    layers::MatrixInput in;
    in.dense = base;
    in.dense_rows = r;
    in.dense_cols = cols;
    in.dense_dtype = DType::f16;
    out.push_back(in);
    base += size_t(r * cols) * 2;
  }
  return out;
}

std::vector<float> host_random(int64_t n, float lo, float hi) {
  std::vector<float> v(static_cast<size_t>(n));
  uint64_t x = g_seed++ * 0x9e3779b97f4a7c15ull;
  for (auto& e : v) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    e = lo + (hi - lo) * float(x >> 40) / 16777216.0f;
  }
  return v;
}

std::unique_ptr<LayerWeights> make_layer(cuda::DeviceContext& ctx, const Shape& s, double sparsity, cudaStream_t st) {
  auto lw = std::make_unique<LayerWeights>();
  const int hd = int(s.H / s.heads);
  const int64_t qd = int64_t(s.heads) * hd, kvd = int64_t(s.kv_heads) * hd;
  layers::DecoderWeights& w = lw->w;
  if (sparsity >= 0) {
    w.q = sparse_matrix(ctx, *lw, qd, s.H, sparsity, st);
    w.k = sparse_matrix(ctx, *lw, kvd, s.H, sparsity, st);
    w.v = sparse_matrix(ctx, *lw, kvd, s.H, sparsity, st);
    w.o = sparse_matrix(ctx, *lw, s.H, qd, sparsity, st);
    if (!s.opt) w.gate = sparse_matrix(ctx, *lw, s.I, s.H, sparsity, st);
    w.up = sparse_matrix(ctx, *lw, s.I, s.H, sparsity, st);
    w.down = sparse_matrix(ctx, *lw, s.H, s.I, sparsity, st);
  } else {
    auto qkv = dense_block(*lw, {qd, kvd, kvd}, s.H, st);
    w.q = qkv[0]; w.k = qkv[1]; w.v = qkv[2];
    w.o = dense_block(*lw, {s.H}, qd, st)[0];
    if (!s.opt) {
      auto gu = dense_block(*lw, {s.I, s.I}, s.H, st);
      w.gate = gu[0]; w.up = gu[1];
    } else {
      w.up = dense_block(*lw, {s.I}, s.H, st)[0];
    }
    w.down = dense_block(*lw, {s.H}, s.I, st)[0];
  }
  w.attn_norm_weight = host_random(s.H, 0.8f, 1.2f);
  w.mlp_norm_weight = host_random(s.H, 0.8f, 1.2f);
  if (s.opt) {
    w.q_bias = host_random(qd, -0.05f, 0.05f);
    w.k_bias = host_random(kvd, -0.05f, 0.05f);
    w.v_bias = host_random(kvd, -0.05f, 0.05f);
    w.o_bias = host_random(s.H, -0.05f, 0.05f);
    w.up_bias = host_random(s.I, -0.05f, 0.05f);
    w.down_bias = host_random(s.H, -0.05f, 0.05f);
    w.attn_norm_bias = host_random(s.H, -0.1f, 0.1f);
    w.mlp_norm_bias = host_random(s.H, -0.1f, 0.1f);
  }
  return lw;
}

layers::DecoderConfig decoder_config(const Shape& s) {
  layers::DecoderConfig c;
  c.norm = s.opt ? layers::NormKind::layer_norm : layers::NormKind::rms_norm;
  c.norm_eps = 1e-5f;
  c.attention.num_heads = s.heads;
  c.attention.num_kv_heads = s.kv_heads;
  c.attention.head_dim = int(s.H / s.heads);
  c.attention.rope = !s.opt;
  c.attention.fuse_qkv = true;
  c.mlp.gated = !s.opt;
  c.mlp.activation = s.opt ? layers::Activation::relu : layers::Activation::silu;
  c.mlp.fuse_gate_up = true;
  return c;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

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
  bench_fill_half(kv.k, pool, 0.0, 1.0f, g_seed++, st);
  bench_fill_half(kv.v, pool, 0.0, 1.0f, g_seed++, st);
  std::vector<int32_t> seqs(static_cast<size_t>(batch)), ctx_len(size_t(batch), context), ones(size_t(batch), 1);
  for (int i = 0; i < batch; ++i) seqs[size_t(i)] = i;
  cache.begin_step(seqs.data(), ctx_len.data(), batch, st);  // the context, as if prefilled
  cache.begin_step(seqs.data(), ones.data(), batch, st);     // the decode step timed
  layers::Scratch scratch(b, layer.scratch_bytes(batch));
  DeviceBuf hidden(size_t(batch * s.H) * 4);
  bench_fill_float(hidden.as<float>(), batch * s.H, -1.0f, 1.0f, g_seed++, st);
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

struct Options {
  bool quick = false, layers = true, model = true;
  int reps = 30;
};

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
  std::printf("\n## Decoder layer, one decode step (CUDA graph replay), fp16\n\n");
  std::printf("Median of %d replays. `x dense` = dense time / sparse time; `bound` = weight bytes / copy "
              "bandwidth.\n\n",
              o.reps);
  std::printf("| layer | batch | context | dense ms | dense / bound |");
  for (double sp : sparsities) std::printf(" %d%% ms | %d%% x dense |", int(sp * 100), int(sp * 100));
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
          times[m].push_back(time_layer(*backends.back(), *layer.back(), s, bsz, c, o.reps, st, int64_t(bsz) * 100000 + c));
      g_notes.push_back(std::string("weights of one ") + s.name + " layer, " +
                        (modes[m] < 0 ? "dense" : std::to_string(int(modes[m] * 100)) + "%") + ": " +
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
  const Shape s = {"LLaMA-2-7B", 4096, 11008, 32, 32, false};
  const int64_t V = 32000;
  size_t free0 = 0, total = 0;
  ck(cudaMemGetInfo(&free0, &total), "cudaMemGetInfo");
  runtime::ModelParts p;
  runtime::ModelConfig& c = p.config;
  c.arch = SPINFER_ARCH_LLAMA;
  c.vocab_size = V;
  c.hidden_size = s.H;
  c.intermediate_size = s.I;
  c.num_layers = layers_count;
  c.num_heads = c.num_kv_heads = s.heads;
  c.head_dim = 128;
  c.max_position_embeddings = 4096;
  c.norm_eps = 1e-5f;
  c.inv_freq = layers::rope_inv_freq(128, 10000.0);
  c.activation = layers::Activation::silu;
  c.dtype = DType::f16;
  p.backend = layers::make_cuda_backend(ctx, DType::f16);
  p.backend->set_dense_gemm(&gemm);
  std::vector<std::unique_ptr<LayerWeights>> weights;
  uint64_t bytes = 0;
  for (int l = 0; l < layers_count; ++l) {
    weights.push_back(make_layer(ctx, s, sparsity, st));
    bytes += weights.back()->bytes;
    p.layers.push_back(std::make_unique<layers::DecoderLayer>(*p.backend, decoder_config(s), weights.back()->w, st));
  }
  DeviceBuf lm(size_t(V * s.H) * 2);  // the LM head stays dense (cuBLAS) in both modes
  bench_fill_half(lm.p, V * s.H, 0.0, 1.0f / 64, g_seed++, st);
  p.lm_head.weight.dense = lm.p;
  p.lm_head.weight.rows = V;
  p.lm_head.weight.cols = s.H;
  p.embed_tokens = layers::Buffer(*p.backend, size_t(V * s.H) * 2);
  bench_fill_half(p.embed_tokens.get(), V * s.H, 0.0, 1.0f, g_seed++, st);
  p.embed_dtype = DType::f16;
  p.final_norm_weight = layers::to_backend(*p.backend, host_random(s.H, 0.9f, 1.1f), DType::f32, st);
  bytes += 2 * uint64_t(V * s.H) * 2;
  p.weight_bytes = bytes;
  runtime::RuntimeConfig rt;
  rt.max_sequences = *std::max_element(batches.begin(), batches.end());
  rt.max_batch_tokens = 512;
  rt.max_sequence_length = 1024;
  rt.kv_block_size = 16;
  runtime::Model model(std::move(p), rt);
  ck(cudaStreamSynchronize(st), "model build");
  size_t free1 = 0;
  ck(cudaMemGetInfo(&free1, &total), "cudaMemGetInfo");
  ModelResult r;
  r.weight_gb = double(bytes) / 1e9;
  r.kv_gb = double(model.kv_cache_bytes()) / 1e9;
  r.used_gb = double(free0 - free1) / 1e9;
  std::vector<int32_t> prompt(512);
  for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 7919 + 13) % V);
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

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) o.quick = true;
    else if (!std::strcmp(argv[i], "--layers-only")) o.model = false;
    else if (!std::strcmp(argv[i], "--model-only")) o.layers = false;
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) o.reps = std::max(3, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: %s [--quick] [--layers-only | --model-only] [--reps N]\n", argv[0]);
      return 2;
    }
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
    if (o.model) {
      const std::vector<int> batches = o.quick ? std::vector<int>{1, 8} : std::vector<int>{1, 8, 16};
      const int n_layers = 32, steps = o.quick ? 10 : 20;
      std::printf("\n## Whole model: %d LLaMA-2-7B-shaped layers, vocab 32000, context 512, fp16\n\n", n_layers);
      std::printf("Decode tokens/s (median step, host-timed, CUDA graphs); LM head and embeddings dense in "
                  "both.\n\n| weights | GB weights | GB used on GPU (incl. KV %s) |",
                  "cache");
      for (int bsz : batches) std::printf(" tok/s b=%d | x dense |", bsz);
      std::printf("\n|---|---|---|");
      for (size_t i = 0; i < batches.size(); ++i) std::printf("---|---|");
      std::printf("\n");
      std::vector<double> modes = o.quick ? std::vector<double>{-1, 0.6} : std::vector<double>{-1, 0.5, 0.6, 0.7};
      ModelResult dense;
      for (double sp : modes) {
        ModelResult r;
        try {
          r = bench_model(*ctx, gemm, sp, batches, n_layers, steps, st);
        } catch (const std::exception& e) {
          std::printf("| %s | error: %s |\n", sp < 0 ? "dense" : std::to_string(int(sp * 100)).c_str(), e.what());
          cudaGetLastError();
          if (sp < 0) break;  // no baseline: the ratios would mean nothing
          continue;
        }
        if (sp < 0) dense = r;
        std::printf("| %s | %.2f (%.3fx) | %.2f (KV %.2f) |", sp < 0 ? "dense" : (std::to_string(int(sp * 100)) + "%").c_str(),
                    r.weight_gb, r.weight_gb / dense.weight_gb, r.used_gb, r.kv_gb);
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
