#include "runtime/model.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "common/error.hpp"
#include "io/file_kind.hpp"
#include "runtime/weight_store.hpp"

namespace spinfer::runtime {

using layers::Buffer;

int64_t default_kv_blocks(const layers::KvCacheConfig& kc, uint64_t available) {
  const int64_t full = int64_t(kc.max_sequences) * ceil_div(kc.max_sequence_length, int64_t(kc.block_size));
  if (available == 0) return full;  // the system does not say: ask for it all
  const uint64_t per_block = uint64_t(kc.num_layers) * 2u * uint64_t(kc.block_size) *
                             uint64_t(kc.num_kv_heads) * uint64_t(kc.head_dim) * dtype_size(kc.dtype);
  const uint64_t budget = uint64_t(double(available) * kKvMemoryFraction);
  const int64_t fits = per_block ? int64_t(std::min<uint64_t>(budget / per_block, uint64_t(full))) : full;
  require(fits >= kc.max_sequences, SPINFER_STATUS_OUT_OF_MEMORY, [&] {
    return "the KV cache needs at least " + std::to_string(uint64_t(kc.max_sequences) * per_block) +
           " bytes (one block of " + std::to_string(kc.block_size) + " tokens per sequence slot, " +
           std::to_string(kc.max_sequences) + " slots), but only " + std::to_string(budget) +
           " bytes (" + std::to_string(int(kKvMemoryFraction * 100)) + " % of the " +
           std::to_string(available) + " available) are left for it: lower max_sequences";
  });
  return std::min(fits, full);
}

Model::Model(ModelParts parts, const RuntimeConfig& rt) : parts_(std::move(parts)), runtime_(rt) {
  const ModelConfig& c = parts_.config;
  layers::Backend& b = *parts_.backend;
  require(rt.max_sequences >= 1, SPINFER_STATUS_INVALID_ARGUMENT, "max_sequences must be >= 1");
  require(rt.max_batch_tokens >= rt.max_sequences, SPINFER_STATUS_INVALID_ARGUMENT,
          "max_batch_tokens must be >= max_sequences (a decode step has one token per sequence)");
  require(rt.max_batch_tokens <= (int64_t(1) << 24), SPINFER_STATUS_INVALID_ARGUMENT,
          "max_batch_tokens must be <= 2^24");  // buffer sizes T x vocab x 4 stay far from overflow
  require(rt.kv_block_size >= 1, SPINFER_STATUS_INVALID_ARGUMENT, "kv_block_size must be >= 1");
  require(rt.max_sequence_length >= 0 && rt.kv_num_blocks >= 0, SPINFER_STATUS_INVALID_ARGUMENT,
          "max_sequence_length and kv_num_blocks must be >= 0");
  runtime_.max_sequence_length = rt.max_sequence_length ? rt.max_sequence_length : c.max_position_embeddings;
  if (c.arch == SPINFER_ARCH_OPT)
    require(runtime_.max_sequence_length <= c.max_position_embeddings, SPINFER_STATUS_INVALID_ARGUMENT,
            "OPT has learned positions: max_sequence_length must be <= max_position_embeddings");

  layers::KvCacheConfig kc;
  kc.num_layers = int(c.num_layers);
  kc.num_kv_heads = c.num_kv_heads;
  kc.head_dim = c.head_dim;
  kc.block_size = rt.kv_block_size;
  kc.max_sequences = rt.max_sequences;
  kc.max_sequence_length = runtime_.max_sequence_length;
  kc.dtype = b.act_dtype();
  kc.num_blocks = rt.kv_num_blocks ? rt.kv_num_blocks : default_kv_blocks(kc, b.available_memory());
  cache_ = std::make_unique<layers::KvCache>(b, kc);
  cache_->reserve_steps(rt.max_batch_tokens);

  const int64_t T = rt.max_batch_tokens, H = c.hidden_size, V = c.vocab_size;
  const int64_t logit_rows = std::max<int64_t>(rt.max_sequences, 1);
  size_t scratch = 0;
  for (const auto& l : parts_.layers) scratch = std::max(scratch, l->scratch_bytes(T));
  scratch_ = layers::Scratch(b, scratch);
  const size_t es = dtype_size(b.act_dtype());
  hidden_ = Buffer(b, size_t(T * H) * 4);
  carry_ = Buffer(b, size_t(T * H) * es);
  ids_ = Buffer(b, size_t(T) * 4);
  normed_ = Buffer(b, size_t(logit_rows * H) * es);
  logits_ld_ = (V + 7) / 8 * 8;  // 16-byte rows for the CUDA SpMM
  logits_act_ = Buffer(b, size_t(logit_rows * logits_ld_) * es);
  logits_f32_ = Buffer(b, size_t(logit_rows * V) * 4);  // contiguous [rows, V]
}

Model::~Model() = default;

void Model::check_tokens(const int32_t* tokens, int64_t count) const {
  require(tokens != nullptr, SPINFER_STATUS_INVALID_ARGUMENT, "tokens is NULL");
  for (int64_t i = 0; i < count; ++i)
    require(tokens[i] >= 0 && tokens[i] < parts_.config.vocab_size, SPINFER_STATUS_INVALID_ARGUMENT, [&] {
      return "token " + std::to_string(tokens[i]) + " at index " + std::to_string(i) +
             " is outside the vocabulary [0, " + std::to_string(parts_.config.vocab_size) + ")";
    });
}

void Model::run_layers(int64_t n, int64_t first_row, int64_t rows, bool want_logits, void* stream) {
  const ModelConfig& c = parts_.config;
  layers::Backend& b = *parts_.backend;
  const layers::StepLayout& step = cache_->step();
  float* hidden = hidden_.as<float>();
  const int64_t H = c.hidden_size;
  b.embedding(ids_.as<const int32_t>(), 0, n, parts_.embed_tokens.get(), parts_.embed_dtype, H,
              hidden, false, stream);
  if (c.arch == SPINFER_ARCH_OPT)
    b.embedding(step.token_pos, c.position_offset, n, parts_.embed_positions.get(),
                parts_.embed_dtype, H, hidden, true, stream);
  // Each layer's MLP output stays in carry_ and is added by the next layer's first norm
  // pass (and after the last layer by the final norm pass): one pass less per layer.
  for (size_t i = 0; i < parts_.layers.size(); ++i)
    parts_.layers[i]->forward(*cache_, int(i), hidden, n, scratch_, stream, i ? carry_.get() : nullptr,
                              carry_.get());
  if (!want_logits) return;  // hidden is stale by the last MLP output: only logits read it
  const layers::NormKind kind =
      c.arch == SPINFER_ARCH_OPT ? layers::NormKind::layer_norm : layers::NormKind::rms_norm;
  float* src = hidden + first_row * H;
  const void* last = static_cast<const unsigned char*>(carry_.get()) +
                     size_t(first_row * H) * dtype_size(b.act_dtype());
  if (c.final_norm) {
    b.add_norm(kind, src, last, H, rows, H, parts_.final_norm_weight.as<const float>(),
               parts_.final_norm_bias.as<const float>(), c.norm_eps, normed_.get(), stream);
  } else {
    b.add_to_hidden(src, last, rows, H, H, stream);
    b.convert(src, DType::f32, normed_.get(), b.act_dtype(), rows * H, stream);
  }
  b.linear(parts_.lm_head.weight, normed_.get(), rows, H, nullptr, logits_act_.get(), logits_ld_,
           stream);
  // Only the [rows, V] block: columns [V, logits_ld_) of logits_act_ are padding the
  // SpMM never writes (reading them was an uninitialised read under initcheck).
  b.convert_rows(logits_act_.get(), b.act_dtype(), logits_ld_, logits_f32_.get(), DType::f32,
                 c.vocab_size, rows, c.vocab_size, stream);
}

void Model::copy_logits(float* logits, int64_t rows, void* stream) {
  // logits_f32_ is contiguous [rows, vocab]: one copy.
  parts_.backend->copy_to_host(logits, logits_f32_.get(),
                               size_t(rows * parts_.config.vocab_size) * 4, stream);
}

void Model::prefill(int32_t seq, const int32_t* tokens, int64_t count, float* logits, void* stream) {
  require(count >= 1, SPINFER_STATUS_INVALID_ARGUMENT, "prefill needs at least one token");
  check_tokens(tokens, count);
  require(cache_->length(seq) + count <= runtime_.max_sequence_length, SPINFER_STATUS_INVALID_ARGUMENT, [&] {
    return "sequence " + std::to_string(seq) + " would exceed max_sequence_length " +
           std::to_string(runtime_.max_sequence_length);
  });
  const int64_t before = cache_->length(seq);
  try {
    for (int64_t done = 0; done < count;) {
      const int64_t n = std::min(runtime_.max_batch_tokens, count - done);
      const int32_t n32 = int32_t(n);
      cache_->begin_step(&seq, &n32, 1, stream);
      parts_.backend->copy_from_host(ids_.get(), tokens + done, size_t(n) * 4, stream);
      done += n;
      const bool last = done == count;
      run_layers(n, n - 1, 1, last && logits != nullptr, stream);
    }
    if (logits) copy_logits(logits, 1, stream);
  } catch (...) {
    cache_->truncate(seq, before);  // a failed call leaves the sequence as it found it
    throw;
  }
}

void Model::decode_step(const int32_t* seq_ids, const int32_t* tokens, int32_t count, float* logits,
                        void* stream) {
  require(count >= 1 && count <= runtime_.max_sequences, SPINFER_STATUS_INVALID_ARGUMENT,
          "decode step count must be in [1, max_sequences]");
  check_tokens(tokens, count);
  std::vector<int32_t> ones(size_t(count), 1);
  cache_->begin_step(seq_ids, ones.data(), count, stream);  // all or nothing
  try {
    parts_.backend->copy_from_host(ids_.get(), tokens, size_t(count) * 4, stream);
    auto body = [&] { run_layers(count, 0, count, true, stream); };
    if (runtime_.use_cuda_graphs)
      parts_.backend->run_graph(count, stream, body);
    else
      body();
    if (logits) copy_logits(logits, count, stream);
  } catch (...) {
    // A failed call leaves the sequences as it found it: each loses the step's token.
    for (int32_t i = count; i-- > 0;) cache_->truncate(seq_ids[i], cache_->length(seq_ids[i]) - 1);
    throw;
  }
}

int64_t Model::generate_greedy(int32_t seq, const int32_t* prompt, int64_t prompt_length,
                               int64_t max_new, int32_t eos, int32_t* out, void* stream) {
  require(max_new >= 0, SPINFER_STATUS_INVALID_ARGUMENT, "max_new_tokens is negative");
  require(max_new == 0 || out != nullptr, SPINFER_STATUS_INVALID_ARGUMENT, "out_tokens is NULL");
  // The whole generation must fit the sequence's context: refuse it before any work,
  // not after the last step (the last token generated is never fed back).
  if (seq >= 0 && seq < runtime_.max_sequences && prompt_length >= 0) {
    const int64_t need = cache_->length(seq) + prompt_length + std::max<int64_t>(max_new - 1, 0);
    require(need <= runtime_.max_sequence_length, SPINFER_STATUS_INVALID_ARGUMENT, [&] {
      return "sequence " + std::to_string(seq) + " would need " + std::to_string(need) +
             " positions (" + std::to_string(cache_->length(seq)) + " cached + " +
             std::to_string(prompt_length) + " prompt + " + std::to_string(max_new) +
             " new - 1), more than max_sequence_length " + std::to_string(runtime_.max_sequence_length);
    });
  }
  std::vector<float> logits(size_t(parts_.config.vocab_size));
  // Non-finite logits (overflowing weights or activations) have no arg max: an error,
  // not token 0.
  auto argmax = [&] {
    for (const float v : logits)
      require(std::isfinite(v), SPINFER_STATUS_CORRUPT_DATA,
              "the logits hold NaN or infinity: no greedy token (check the weights and config)");
    return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  };
  prefill(seq, prompt, prompt_length, logits.data(), stream);  // undoes itself if it fails
  const int64_t before = cache_->length(seq) - prompt_length;
  try {
    int64_t produced = 0;
    while (produced < max_new) {
      int32_t next = argmax();
      out[produced++] = next;
      if (next == eos || produced == max_new) break;
      decode_step(&seq, &next, 1, logits.data(), stream);
    }
    return produced;
  } catch (...) {
    cache_->truncate(seq, before);  // the prompt and the tokens generated so far leave too
    throw;
  }
}

// ---------------------------------------------------------------------------------
// Loading

namespace {

std::string read_text(const std::string& path) {
  io::require_regular_file(path);  // a FIFO would block the open, a directory "open" fine
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  require(bool(f), SPINFER_STATUS_IO_ERROR, [&] { return "cannot open '" + path + "'"; });
  const std::streamoff size = f.tellg();
  require(size >= 0, SPINFER_STATUS_IO_ERROR, [&] { return "cannot read the size of '" + path + "'"; });
  // Sized first, then read in one go: `stream << f.rdbuf()` swallows an allocation
  // failure and returns the text cut short (then reported as invalid JSON).
  std::string text(size_t(size), '\0');
  f.seekg(0);
  require(bool(f.read(text.data(), std::streamsize(size))), SPINFER_STATUS_IO_ERROR,
          [&] { return "cannot read '" + path + "'"; });
  return text;
}

// Names of the tensors of one family (Hugging Face conventions).
struct Names {
  std::string prefix, q, k, v, o, gate, up, down, attn_norm, mlp_norm, embed, positions, final_norm;
};

Names names_for(spinfer_arch_t arch) {
  if (arch == SPINFER_ARCH_OPT)
    return {"model.decoder.layers.", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
            "self_attn.out_proj", "", "fc1", "fc2", "self_attn_layer_norm", "final_layer_norm",
            "model.decoder.embed_tokens.weight", "model.decoder.embed_positions.weight",
            "model.decoder.final_layer_norm"};
  return {"model.layers.", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
          "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "input_layernorm",
          "post_attention_layernorm", "model.embed_tokens.weight", "", "model.norm"};
}

}  // namespace

std::unique_ptr<Model> load_model(const std::string& dir, cuda::DeviceContext* cuda_ctx,
                                  int host_threads, const RuntimeConfig& runtime, void* stream) {
  const std::string config_path = dir + "/config.json";
  ModelParts p;
  p.config = parse_model_config(read_text(config_path), config_path);
  const ModelConfig& c = p.config;
  p.backend = cuda_ctx ? layers::make_cuda_backend(*cuda_ctx, c.dtype) : layers::make_host_backend(host_threads);
  layers::Backend& b = *p.backend;
  const bool keep_host = !b.is_cuda();
  const WeightStore store(dir);
  const Names n = names_for(c.arch);
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const int64_t qd = int64_t(c.num_heads) * c.head_dim, kvd = int64_t(c.num_kv_heads) * c.head_dim;
  const bool opt = c.arch == SPINFER_ARCH_OPT;

  auto dense = [&](const std::string& name, int64_t count) {
    std::vector<float> v = store.dense(name, count);
    p.weight_bytes += uint64_t(count) * 4;  // fp32 on the backend
    p.dense_weight_bytes += uint64_t(count) * 4;
    return v;
  };
  auto optional_dense = [&](const std::string& name, int64_t count, bool wanted) {
    return wanted && store.has(name) ? dense(name, count) : std::vector<float>{};
  };
  // Loads a matrix; returns it as a MatrixInput whose storage lives until `holder` dies
  // (host backend: kept in the model for good).
  std::vector<std::unique_ptr<HostMatrix>> pending;
  auto matrix = [&](const std::string& name, int64_t rows, int64_t cols) {
    auto m = std::make_unique<HostMatrix>(store.matrix(name, rows, cols, c.dtype));
    require(m->dtype == c.dtype, SPINFER_STATUS_UNSUPPORTED_DTYPE, [&] {
      return "matrix '" + name + "' stores " + dtype_name(m->dtype) + " but the model's dtype is " +
             dtype_name(c.dtype);
    });
    p.weight_bytes += m->bytes();
    p.dense_weight_bytes += uint64_t(rows * cols) * 2;
    layers::MatrixInput in;
    in.host = m.get();
    pending.push_back(std::move(m));
    return in;
  };

  layers::DecoderConfig dc;
  dc.norm = opt ? layers::NormKind::layer_norm : layers::NormKind::rms_norm;
  dc.norm_eps = c.norm_eps;
  dc.attention.num_heads = c.num_heads;
  dc.attention.num_kv_heads = c.num_kv_heads;
  dc.attention.head_dim = c.head_dim;
  dc.attention.rope = !opt;
  dc.attention.inv_freq = c.inv_freq;
  dc.attention.fuse_qkv = b.is_cuda();
  dc.mlp.gated = !opt;
  dc.mlp.activation = c.activation;
  dc.mlp.fuse_gate_up = b.is_cuda();

  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string L = n.prefix + std::to_string(i) + ".";
    layers::DecoderWeights w;
    w.q = matrix(L + n.q + ".weight", qd, H);
    w.k = matrix(L + n.k + ".weight", kvd, H);
    w.v = matrix(L + n.v + ".weight", kvd, H);
    w.o = matrix(L + n.o + ".weight", H, qd);
    if (!opt) w.gate = matrix(L + n.gate + ".weight", I, H);
    w.up = matrix(L + n.up + ".weight", I, H);
    w.down = matrix(L + n.down + ".weight", H, I);
    // Qwen2's q/k/v biases always exist (transformers creates them whatever the config):
    // a checkpoint without them is refused (NOT_FOUND naming the tensor).
    auto bias = [&](const std::string& name, int64_t count, bool wanted) {
      return wanted && c.biases_required ? dense(name, count) : optional_dense(name, count, wanted);
    };
    w.q_bias = bias(L + n.q + ".bias", qd, c.qkv_bias);
    w.k_bias = bias(L + n.k + ".bias", kvd, c.qkv_bias);
    w.v_bias = bias(L + n.v + ".bias", kvd, c.qkv_bias);
    w.o_bias = bias(L + n.o + ".bias", H, c.o_bias);
    if (c.qk_norm) {  // [head_dim] each: another size is SHAPE_MISMATCH naming the tensor
      w.q_norm_weight = dense(L + "self_attn.q_norm.weight", c.head_dim);
      w.k_norm_weight = dense(L + "self_attn.k_norm.weight", c.head_dim);
    }
    w.up_bias = opt ? optional_dense(L + n.up + ".bias", I, c.mlp_bias) : std::vector<float>{};
    w.down_bias = optional_dense(L + n.down + ".bias", H, c.mlp_bias);
    w.attn_norm_weight = dense(L + n.attn_norm + ".weight", H);
    w.mlp_norm_weight = dense(L + n.mlp_norm + ".weight", H);
    if (opt) {
      w.attn_norm_bias = dense(L + n.attn_norm + ".bias", H);
      w.mlp_norm_bias = dense(L + n.mlp_norm + ".bias", H);
    }
    if (!opt && c.mlp_bias)
      throw Error(SPINFER_STATUS_NOT_SUPPORTED, config_path + ": LLaMA mlp_bias is not supported");
    p.layers.push_back(std::make_unique<layers::DecoderLayer>(b, dc, w, stream));
    if (keep_host)
      for (auto& m : pending) p.host_matrices.push_back(std::move(m));
    pending.clear();
  }

  // Embeddings stay dense, in the model dtype.
  p.embed_dtype = c.dtype;
  auto table = [&](const std::string& name, int64_t rows) {
    std::vector<uint16_t> t = store.dense16(name, rows * H, c.dtype);
    p.weight_bytes += t.size() * 2;
    p.dense_weight_bytes += t.size() * 2;
    Buffer buf(b, t.size() * 2);
    b.copy_from_host(buf.get(), t.data(), t.size() * 2, stream);
    return buf;
  };
  p.embed_tokens = table(n.embed, c.vocab_size);
  if (opt) p.embed_positions = table(n.positions, c.max_position_embeddings + c.position_offset);
  if (c.final_norm) {
    p.final_norm_weight = layers::to_backend(b, dense(n.final_norm + ".weight", H), DType::f32, stream);
    if (opt) p.final_norm_bias = layers::to_backend(b, dense(n.final_norm + ".bias", H), DType::f32, stream);
  }
  // LM head: the token embedding encoded as a matrix when tie_word_embeddings is set (as
  // transformers ties them, a stray lm_head.weight is not used), else lm_head.weight.
  const std::string head = c.tie_word_embeddings ? n.embed : "lm_head.weight";
  require(store.has(head), SPINFER_STATUS_NOT_FOUND, [&] {
    return "model weights have no '" + head + "' (the LM head; tie_word_embeddings is " +
           (c.tie_word_embeddings ? "true" : "false") + " in " + config_path + ")";
  });
  layers::MatrixInput lm = matrix(head, c.vocab_size, H);
  if (head == n.embed)  // a dense tied model holds the table once
    p.dense_weight_bytes -= uint64_t(c.vocab_size * H) * 2;
  layers::bind_matrix(b, lm, p.lm_head, stream, "lm_head");
  if (keep_host)
    for (auto& m : pending) p.host_matrices.push_back(std::move(m));
  pending.clear();
  return std::make_unique<Model>(std::move(p), runtime);
}

}  // namespace spinfer::runtime
