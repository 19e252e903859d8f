// Decoder-only language model runner: token embedding (+ learned positions for OPT),
// N decoder layers, final norm, LM head, over a paged KV cache. Prefill and decode
// steps return logits; CUDA decode steps replay captured graphs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/decoder_layer.hpp"
#include "layers/kv_cache.hpp"
#include "runtime/model_config.hpp"

namespace spinfer::runtime {

// Share of the memory available after the weights that a default-sized KV cache may take.
inline constexpr double kKvMemoryFraction = 0.5;

// Blocks of a KV cache whose size the caller left to the library (kv_num_blocks 0):
// every slot at full length, but at most kKvMemoryFraction of `available` (the memory
// free after the weights; 0 = unknown: no limit) — a Llama-3-8B-shaped config at
// 8 x 8192 tokens would ask for ~137 GB — and never less than one block per slot
// (OUT_OF_MEMORY, with the sizes, when even that does not fit).
int64_t default_kv_blocks(const layers::KvCacheConfig& kc, uint64_t available);

struct RuntimeConfig {
  int max_sequences = 8;
  int64_t max_batch_tokens = 512;
  int64_t max_sequence_length = 0;  // 0 = max_position_embeddings
  int kv_block_size = 16;
  int64_t kv_num_blocks = 0;        // 0 = every slot at full length
  bool use_cuda_graphs = true;
};

// Everything a model is made of, already bound to its backend.
struct ModelParts {
  ModelConfig config;
  std::unique_ptr<layers::Backend> backend;
  std::vector<std::unique_ptr<layers::DecoderLayer>> layers;
  layers::Buffer embed_tokens;     // [vocab, hidden] in embed_dtype
  layers::Buffer embed_positions;  // OPT: [max_pos + 2, hidden] in embed_dtype
  DType embed_dtype = DType::f32;
  layers::Buffer final_norm_weight, final_norm_bias;  // fp32 [hidden]
  layers::LayerMatrix lm_head;     // [vocab, hidden]
  std::vector<std::unique_ptr<HostMatrix>> host_matrices;  // host backend: what layers refer to
  uint64_t weight_bytes = 0, dense_weight_bytes = 0;
};

class Model {
 public:
  Model(ModelParts parts, const RuntimeConfig& runtime);
  ~Model();

  const ModelConfig& config() const { return parts_.config; }
  layers::Backend& backend() { return *parts_.backend; }
  uint64_t weight_bytes() const { return parts_.weight_bytes; }
  uint64_t dense_weight_bytes() const { return parts_.dense_weight_bytes; }
  uint64_t kv_cache_bytes() const { return cache_->pool_bytes(); }
  int64_t kv_cache_tokens() const { return cache_->config().num_blocks * cache_->config().block_size; }
  const layers::KvCache& cache() const { return *cache_; }

  // Appends `count` tokens to `seq` (in chunks of max_batch_tokens); logits of the last
  // token to `logits` ([vocab], host) unless NULL.
  void prefill(int32_t seq, const int32_t* tokens, int64_t count, float* logits, void* stream);
  // One token per listed sequence; logits [count, vocab] (host) unless NULL.
  void decode_step(const int32_t* seq_ids, const int32_t* tokens, int32_t count, float* logits,
                   void* stream);
  // Greedy generation; returns the number of tokens written to out.
  int64_t generate_greedy(int32_t seq, const int32_t* prompt, int64_t prompt_length,
                          int64_t max_new, int32_t eos, int32_t* out, void* stream);
  void release(int32_t seq) { cache_->release(seq); }
  int64_t length(int32_t seq) const { return cache_->length(seq); }

 private:
  // Runs the step already begun on the cache for `n` tokens whose ids are in ids_;
  // logits of `rows` rows starting at hidden row `first_row` go to logits_f32_ ([rows, V]).
  void run_layers(int64_t n, int64_t first_row, int64_t rows, bool want_logits, void* stream);
  void check_tokens(const int32_t* tokens, int64_t count) const;
  void copy_logits(float* logits, int64_t rows, void* stream);  // host, [rows, vocab]

  ModelParts parts_;
  RuntimeConfig runtime_;
  std::unique_ptr<layers::KvCache> cache_;
  layers::Scratch scratch_;
  layers::Buffer hidden_, ids_, normed_, logits_act_, logits_f32_;  // logits_act_ rows: logits_ld_
  layers::Buffer carry_;  // the last layer's MLP output not yet added to hidden_
  int64_t logits_ld_ = 0;
};

// Loads config.json and the weights of `dir` onto the GPU of `cuda_ctx`, or onto the
// host backend (`host_threads` threads) when cuda_ctx is NULL.
std::unique_ptr<Model> load_model(const std::string& dir, cuda::DeviceContext* cuda_ctx,
                                  int host_threads, const RuntimeConfig& runtime, void* stream);

}  // namespace spinfer::runtime
