// A whole LLaMA-2-7B-shaped model with random weights for the whole-model sections of
// bench_layers (decode tokens/s and time to first token): `layers` decoder layers, vocab
// 32000, embeddings and LM head dense (cuBLAS) in every mode, the layers sparse or dense.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <cuda_runtime.h>

#include "bench_weights.hpp"
#include "dense_gemm.hpp"
#include "runtime/model.hpp"

namespace bench {

inline constexpr int64_t kBenchVocab = 32000;

struct BenchModel {
  std::vector<std::unique_ptr<LayerWeights>> weights;  // what the layers point to
  DeviceBuf lm_head;
  uint64_t weight_bytes = 0;  // layers + embeddings + LM head as stored
  std::unique_ptr<spinfer::runtime::Model> model;  // last: destroyed before what it points to
};

// sparsity < 0: dense layers through `gemm`; else TCA-BME layers at that sparsity.
// `max_positions` is the config's max_position_embeddings (>= rt.max_sequence_length).
std::unique_ptr<BenchModel> build_llama7b_model(spinfer::cuda::DeviceContext& ctx, CublasGemm& gemm,
                                                double sparsity, int layers,
                                                const spinfer::runtime::RuntimeConfig& rt,
                                                int64_t max_positions, cudaStream_t st);

}  // namespace bench
