#include "runtime/model_config.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "io/json_text.hpp"
#include "layers/attention.hpp"

namespace spinfer::runtime {
namespace {

using nlohmann::json;

struct Reader {
  const json& j;
  const std::string& what;

  [[noreturn]] void bad(const std::string& key, const std::string& why) const {
    throw Error(SPINFER_STATUS_CORRUPT_DATA, what + ": field '" + key + "' " + why);
  }
  int64_t integer(const std::string& key, int64_t fallback, bool required, int64_t lo = 1,
                  int64_t hi = int64_t(1) << 40) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
      if (required) bad(key, "is missing");
      return fallback;
    }
    if (!it->is_number_integer()) bad(key, "is not an integer");
    const int64_t v = it->get<int64_t>();
    if (v < lo || v > hi) bad(key, "is out of range: " + std::to_string(v));
    return v;
  }
  double number(const std::string& key, double fallback) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_number()) bad(key, "is not a number");
    return it->get<double>();
  }
  // A number in [lo, hi] (NaN and infinities fail), else CORRUPT_DATA naming the field:
  // values that would load and then compute NaN everywhere are refused at load.
  double number_in(const std::string& key, double fallback, double lo, double hi) const {
    const double v = number(key, fallback);
    if (!(v >= lo && v <= hi))
      bad(key, "is out of range: " + std::to_string(v) + " (expected " + std::to_string(lo) + " to " +
                   std::to_string(hi) + ")");
    return v;
  }
  bool boolean(const std::string& key, bool fallback) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) bad(key, "is not a boolean");
    return it->get<bool>();
  }
  std::string string(const std::string& key, const std::string& fallback) const {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_string()) bad(key, "is not a string");
    return it->get<std::string>();
  }
};

[[noreturn]] void unsupported(const std::string& what, const std::string& detail) {
  throw Error(SPINFER_STATUS_NOT_SUPPORTED, what + ": " + detail);
}

// Applies HF rope_scaling (types "linear" and "llama3"; "default" = none).
void apply_rope_scaling(const json& s, const std::string& what, ModelConfig& c) {
  if (s.is_null()) return;
  if (!s.is_object()) throw Error(SPINFER_STATUS_CORRUPT_DATA, what + ": rope_scaling is not an object");
  Reader r{s, what};
  std::string type = r.string("rope_type", r.string("type", "default"));
  if (type == "default") return;
  const double factor = r.number("factor", 1.0);
  if (!(factor > 0) || !std::isfinite(factor))
    throw Error(SPINFER_STATUS_CORRUPT_DATA, what + ": rope_scaling.factor must be a finite number > 0");
  if (type == "linear") {
    for (float& f : c.inv_freq) f = float(f / factor);
    return;
  }
  if (type != "llama3") unsupported(what, "rope_scaling type '" + type + "' is not supported");
  const double low = r.number_in("low_freq_factor", 1.0, 1e-6, 1e6);
  const double high = r.number_in("high_freq_factor", 4.0, 1e-6, 1e6);
  if (!(high > low))
    throw Error(SPINFER_STATUS_CORRUPT_DATA, what + ": rope_scaling.high_freq_factor must exceed low_freq_factor");
  const double old_ctx = r.number_in("original_max_position_embeddings", 8192.0, 1, 1e12);
  const double pi = 3.14159265358979323846;
  const double low_wavelen = old_ctx / low, high_wavelen = old_ctx / high;
  for (float& f : c.inv_freq) {
    const double freq = f, wavelen = 2 * pi / freq;
    double out = freq;
    if (wavelen > low_wavelen) {
      out = freq / factor;
    } else if (wavelen >= high_wavelen) {
      const double smooth = (old_ctx / wavelen - low) / (high - low);
      out = (1 - smooth) * freq / factor + smooth * freq;
    }
    f = float(out);
  }
}

// Qwen2/Qwen3 sliding-window attention: transformers makes a layer "sliding_attention"
// when config.layer_types says so or, without layer_types, when use_sliding_window is
// true, sliding_window is set and the layer index is >= max_window_layers. spinfer runs
// full causal attention only: such a layer is refused, naming the fields.
void refuse_sliding_layers(const Reader& r, const json& j, const std::string& what, int64_t layers) {
  auto it = j.find("layer_types");
  if (it != j.end() && !it->is_null()) {
    if (!it->is_array()) r.bad("layer_types", "is not a list");
    if (int64_t(it->size()) != layers)
      r.bad("layer_types", "has " + std::to_string(it->size()) + " entries but num_hidden_layers is " +
                               std::to_string(layers));
    for (size_t i = 0; i < it->size(); ++i) {
      const json& e = (*it)[i];
      if (!e.is_string()) r.bad("layer_types", "entry " + std::to_string(i) + " is not a string");
      const std::string kind = e.get<std::string>();
      if (kind != "full_attention")
        unsupported(what, "layer_types[" + std::to_string(i) + "] is '" + kind +
                              "': only full attention is supported (sliding-window attention is not)");
    }
    return;
  }
  const bool sliding = r.boolean("use_sliding_window", false);
  if (!sliding || !j.contains("sliding_window") || j["sliding_window"].is_null()) return;
  const int64_t window = r.integer("sliding_window", 0, false);
  const int64_t first = r.integer("max_window_layers", 28, false, 0);
  if (first < layers)
    unsupported(what, "use_sliding_window = true (sliding_window " + std::to_string(window) +
                          " on layers >= max_window_layers " + std::to_string(first) + " of " +
                          std::to_string(layers) + ") is not supported: only full attention is");
}

DType dtype_from(const Reader& r, const std::string& what) {
  const std::string t = r.string("torch_dtype", r.string("dtype", "float16"));
  if (t == "bfloat16") return DType::bf16;
  if (t == "float16" || t == "float32" || t == "float" || t == "half" || t == "auto")
    return DType::f16;  // float32 checkpoints run in fp16
  unsupported(what, "torch_dtype '" + t + "' (a quantized or non-float checkpoint) is not supported; "
                    "float16, bfloat16 and float32 are");
}

}  // namespace

layers::Activation activation_from_name(const std::string& name) {
  if (name == "relu") return layers::Activation::relu;
  if (name == "gelu") return layers::Activation::gelu;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast")
    return layers::Activation::gelu_tanh;
  if (name == "silu" || name == "swish") return layers::Activation::silu;
  throw Error(SPINFER_STATUS_NOT_SUPPORTED, "activation function '" + name + "' is not supported");
}

ModelConfig parse_model_config(const std::string& text, const std::string& what) {
  json j;
  // Emptied leaves-first before destruction: nlohmann's destructor allocates inside
  // noexcept otherwise, and an allocation failure there terminates (io/json_text.hpp).
  io::JsonTeardown teardown{j};
  const std::string syntax = io::parse_json(text, j);
  if (!syntax.empty()) throw Error(SPINFER_STATUS_CORRUPT_DATA, what + " is not valid JSON: " + syntax);
  if (!j.is_object()) throw Error(SPINFER_STATUS_CORRUPT_DATA, what + " is not a JSON object");
  Reader r{j, what};
  const std::string type = r.string("model_type", "");
  ModelConfig c;
  c.dtype = dtype_from(r, what);
  c.vocab_size = r.integer("vocab_size", 0, true);
  c.hidden_size = r.integer("hidden_size", 0, true);
  c.num_layers = r.integer("num_hidden_layers", 0, true, 1, 100000);
  c.num_heads = int(r.integer("num_attention_heads", 0, true, 1, 4096));
  c.max_position_embeddings = r.integer("max_position_embeddings", 2048, false);
  if (type == "opt") {
    c.arch = SPINFER_ARCH_OPT;
    c.family = Family::opt;
    c.intermediate_size = r.integer("ffn_dim", 0, true);
    c.num_kv_heads = c.num_heads;
    c.norm_eps = 1e-5f;  // torch.nn.LayerNorm default, as HF OPT uses
    c.activation = activation_from_name(r.string("activation_function", "relu"));
    c.tie_word_embeddings = r.boolean("tie_word_embeddings", true);
    c.qkv_bias = c.o_bias = c.mlp_bias = r.boolean("enable_bias", true);
    if (!r.boolean("do_layer_norm_before", true))
      unsupported(what, "OPT with do_layer_norm_before = false (post-LN, opt-350m) is not supported");
    if (r.integer("word_embed_proj_dim", c.hidden_size, false) != c.hidden_size)
      unsupported(what, "OPT with word_embed_proj_dim != hidden_size (project_in/out) is not supported");
    if (!r.boolean("layer_norm_elementwise_affine", true))
      unsupported(what, "OPT without LayerNorm affine parameters is not supported");
    c.final_norm = !r.boolean("_remove_final_layer_norm", false);
  } else if (type == "llama" || type == "mistral" || type == "qwen2" || type == "qwen3") {
    c.arch = SPINFER_ARCH_LLAMA;
    c.family = type == "qwen2" ? Family::qwen2 : type == "qwen3" ? Family::qwen3 : Family::llama;
    c.intermediate_size = r.integer("intermediate_size", 0, true);
    c.num_kv_heads = int(r.integer("num_key_value_heads", c.num_heads, false, 1, 4096));
    c.norm_eps = float(r.number_in("rms_norm_eps", 1e-6, 0.0, 1.0));
    c.activation = activation_from_name(r.string("hidden_act", "silu"));
    c.tie_word_embeddings = r.boolean("tie_word_embeddings", false);
    if (c.family == Family::qwen2) {
      // Qwen2 has q/k/v biases and no o bias whatever attention_bias says, and no MLP biases.
      c.qkv_bias = c.biases_required = true;
    } else {
      c.qkv_bias = c.o_bias = r.boolean("attention_bias", false);
      if (c.family == Family::llama) c.mlp_bias = r.boolean("mlp_bias", false);
    }
    c.qk_norm = c.family == Family::qwen3;
    if (type == "mistral" && j.contains("sliding_window") && !j["sliding_window"].is_null() &&
        r.integer("sliding_window", 0, false) < c.max_position_embeddings)
      unsupported(what, "sliding-window attention is not supported");
    if (c.family == Family::qwen2 || c.family == Family::qwen3) refuse_sliding_layers(r, j, what, c.num_layers);
  } else {
    unsupported(what, "model_type '" + type + "' is not supported (opt, llama, mistral, qwen2, qwen3 are)");
  }
  if (c.num_heads % c.num_kv_heads != 0)
    throw Error(SPINFER_STATUS_CORRUPT_DATA, what + ": num_attention_heads is not a multiple of num_key_value_heads");
  if (j.contains("head_dim") && !j["head_dim"].is_null()) {
    c.head_dim = int(r.integer("head_dim", 0, true, 2, 256));
  } else if (c.family == Family::qwen3) {
    c.head_dim = 128;  // Qwen3's config default (transformers' Qwen3Config), not hidden / heads
  } else {
    if (c.hidden_size % c.num_heads != 0)
      throw Error(SPINFER_STATUS_CORRUPT_DATA, what + ": hidden_size is not a multiple of num_attention_heads");
    c.head_dim = int(c.hidden_size / c.num_heads);
  }
  if (c.head_dim % 2 != 0 || c.head_dim > 256)
    unsupported(what, "head_dim " + std::to_string(c.head_dim) + " (must be even and <= 256)");
  if (c.arch == SPINFER_ARCH_LLAMA) {
    // Newer transformers write "rope_parameters" {rope_type, rope_theta, factor, ...}
    // instead of rope_theta + rope_scaling.
    const bool params = j.contains("rope_parameters") && j["rope_parameters"].is_object();
    // rope_theta <= 0 or not finite turns the rotary frequencies into NaN; a tiny one into
    // infinities (checked on the table below).
    constexpr double kTiny = 1e-300;
    const double theta =
        params ? Reader{j["rope_parameters"], what}.number_in("rope_theta", r.number("rope_theta", 10000.0), kTiny, 1e300)
               : r.number_in("rope_theta", 10000.0, kTiny, 1e300);
    c.inv_freq = layers::rope_inv_freq(c.head_dim, theta);
    if (params) apply_rope_scaling(j["rope_parameters"], what, c);
    else if (j.contains("rope_scaling")) apply_rope_scaling(j["rope_scaling"], what, c);
    if (r.number("partial_rotary_factor", 1.0) != 1.0) unsupported(what, "partial rotary embeddings");
    for (const float f : c.inv_freq)
      if (!std::isfinite(f) || f < 0)
        throw Error(SPINFER_STATUS_CORRUPT_DATA, what + ": the rope parameters give a non-finite frequency");
  }
  return c;
}

}  // namespace spinfer::runtime
