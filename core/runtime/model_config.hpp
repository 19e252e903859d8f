// The architecture of a decoder-only model, read from a Hugging Face config.json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/backend.hpp"
#include "spinfer.h"

namespace spinfer::runtime {

struct ModelConfig {
  spinfer_arch_t arch = SPINFER_ARCH_LLAMA;
  int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0, num_layers = 0;
  int num_heads = 0, num_kv_heads = 0, head_dim = 0;
  int64_t max_position_embeddings = 2048;
  float norm_eps = 1e-5f;
  std::vector<float> inv_freq;  // RoPE frequencies (LLaMA), scaling applied
  layers::Activation activation = layers::Activation::silu;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // LLaMA: q/k/v/o biases; OPT: always (enable_bias)
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
