#include "bench_model.hpp"

#include <utility>

#include "bench_fill.hpp"

namespace bench {

using namespace spinfer;

std::unique_ptr<BenchModel> build_llama7b_model(cuda::DeviceContext& ctx, CublasGemm& gemm, double sparsity,
                                                int layers_count, const runtime::RuntimeConfig& rt,
                                                int64_t max_positions, cudaStream_t st) {
  const Shape& s = kLlama7b;
  const int64_t V = kBenchVocab;
  auto out = std::make_unique<BenchModel>();
  runtime::ModelParts p;
  runtime::ModelConfig& c = p.config;
  c.arch = SPINFER_ARCH_LLAMA;
  c.vocab_size = V;
  c.hidden_size = s.H;
  c.intermediate_size = s.I;
  c.num_layers = layers_count;
  c.num_heads = c.num_kv_heads = s.heads;
  c.head_dim = 128;
  c.max_position_embeddings = max_positions;
  c.norm_eps = 1e-5f;
  c.inv_freq = layers::rope_inv_freq(128, 10000.0);
  c.activation = layers::Activation::silu;
  c.dtype = DType::f16;
  p.backend = layers::make_cuda_backend(ctx, DType::f16);
  p.backend->set_dense_gemm(&gemm);
  uint64_t bytes = 0;
  for (int l = 0; l < layers_count; ++l) {
    out->weights.push_back(make_layer(ctx, s, sparsity, st));
    bytes += out->weights.back()->bytes;
    p.layers.push_back(
        std::make_unique<layers::DecoderLayer>(*p.backend, decoder_config(s), out->weights.back()->w, st));
  }
  out->lm_head = DeviceBuf(size_t(V * s.H) * 2);  // the LM head stays dense (cuBLAS) in both modes
  bench_fill_half(out->lm_head.p, V * s.H, 0.0, 1.0f / 64, next_seed(), st);
  p.lm_head.weight.dense = out->lm_head.p;
  p.lm_head.weight.rows = V;
  p.lm_head.weight.cols = s.H;
  p.embed_tokens = layers::Buffer(*p.backend, size_t(V * s.H) * 2);
  bench_fill_half(p.embed_tokens.get(), V * s.H, 0.0, 1.0f, next_seed(), st);
  p.embed_dtype = DType::f16;
  p.final_norm_weight = layers::to_backend(*p.backend, host_random(s.H, 0.9f, 1.1f), DType::f32, st);
  bytes += 2 * uint64_t(V * s.H) * 2;
  p.weight_bytes = bytes;
  out->weight_bytes = bytes;
  out->model = std::make_unique<runtime::Model>(std::move(p), rt);
  ck(cudaStreamSynchronize(st), "model build");
  return out;
}

}  // namespace bench
