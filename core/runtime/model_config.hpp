// The architecture of a decoder-only model, read from a Hugging Face config.json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/backend.hpp"
#include "spinfer.h"

namespace spinfer::runtime {

// The Hugging Face model_type a config was read as. The C API reports Qwen2 and Qwen3
// as SPINFER_ARCH_LLAMA: they are LLaMA-shaped (RMSNorm, RoPE, gated MLP, GQA) with the
// differences below (qkv_bias / o_bias, qk_norm).
enum class Family { opt, llama, qwen2, qwen3 };

struct ModelConfig {
  spinfer_arch_t arch = SPINFER_ARCH_LLAMA;
  Family family = Family::llama;
  int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0, num_layers = 0;
  int num_heads = 0, num_kv_heads = 0, head_dim = 0;
  int64_t max_position_embeddings = 2048;
  float norm_eps = 1e-5f;
  std::vector<float> inv_freq;  // RoPE frequencies (LLaMA), scaling applied
  layers::Activation activation = layers::Activation::silu;
  bool tie_word_embeddings = false;
  // Attention biases. LLaMA/Qwen3 attention_bias: q/k/v and o; OPT enable_bias: all;
  // Qwen2: q/k/v always, o never.
  bool qkv_bias = false, o_bias = false;
  bool biases_required = false;  // Qwen2: a missing q/k/v bias is an error, not "none"
  bool qk_norm = false;          // Qwen3: RMSNorm over each q and k head (weights [head_dim])
  bool mlp_bias = false;
  bool final_norm = true;       // OPT may remove it (_remove_final_layer_norm)
  int32_t position_offset = 2;  // OPT learned positions start at row 2
  DType dtype = DType::f16;     // torch_dtype: float16 / bfloat16 (float32 -> f16)
};

// Parses config.json text; `what` names the file in messages. Unknown model types and
// unsupported features throw NOT_SUPPORTED, missing/bad fields CORRUPT_DATA.
ModelConfig parse_model_config(const std::string& json_text, const std::string& what);

// HF activation name ("relu", "gelu", "gelu_new", "silu", ...) -> Activation.
layers::Activation activation_from_name(const std::string& name);

}  // namespace spinfer::runtime
