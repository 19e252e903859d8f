// Model runner (spinfer.h §7.6).
#include <algorithm>
#include <cstring>

#include "layer_handles.hpp"

using spinfer::require;
using spinfer::capi::guard;
using spinfer::capi::require_not_null;

namespace {

void require_model_ctx(const spinfer_context_t* ctx, const spinfer_model_t* model) {
  require_not_null(ctx, "ctx");
  require_not_null(model, "model");
  require(ctx == model->ctx, SPINFER_STATUS_INVALID_ARGUMENT, "model was loaded on a different context");
}

}  // namespace

extern "C" {

spinfer_status_t spinfer_model_config_init(spinfer_model_config_t* config) {
  return guard([&] {
    require_not_null(config, "config");
    *config = spinfer_model_config_t{};
    config->struct_size = sizeof(spinfer_model_config_t);
    config->max_sequences = 8;
    config->max_batch_tokens = 512;
    config->kv_block_size = 16;
    config->use_cuda_graphs = 1;
  });
}

spinfer_status_t spinfer_model_load(spinfer_context_t* ctx, spinfer_model_t** out, const char* dir,
                                    const spinfer_model_config_t* config, void* stream) {
  if (out) *out = nullptr;
  return guard([&] {
    require_not_null(ctx, "ctx");
    require_not_null(out, "out");
    require_not_null(dir, "dir");
    spinfer_model_config_t c;
    spinfer_model_config_init(&c);
    if (config) {
      require(config->struct_size >= sizeof(spinfer_model_config_t), SPINFER_STATUS_INVALID_ARGUMENT,
              "config->struct_size is too small; initialise it with spinfer_model_config_init");
      c = *config;
    }
    spinfer::runtime::RuntimeConfig rt;
    rt.max_sequences = c.max_sequences;
    rt.max_batch_tokens = c.max_batch_tokens;
    rt.max_sequence_length = c.max_sequence_length;
    rt.kv_block_size = c.kv_block_size;
    rt.kv_num_blocks = c.kv_num_blocks;
    rt.use_cuda_graphs = c.use_cuda_graphs != 0;
    auto h = std::make_unique<spinfer_model>();
    h->ctx = ctx;
    h->model = spinfer::runtime::load_model(dir, ctx->cuda.get(), ctx->host_threads, rt, stream);
    *out = h.release();
  });
}

spinfer_status_t spinfer_model_get_info(const spinfer_model_t* model, spinfer_model_info_t* info) {
  return guard([&] {
    require_not_null(model, "model");
    require_not_null(info, "info");
    require(info->struct_size >= sizeof(size_t), SPINFER_STATUS_INVALID_ARGUMENT,
            "info->struct_size is not set");
    const auto& c = model->model->config();
    spinfer_model_info_t full{};
    full.struct_size = sizeof(spinfer_model_info_t);
    full.arch = c.arch;
    full.vocab_size = c.vocab_size;
    full.hidden_size = c.hidden_size;
    full.intermediate_size = c.intermediate_size;
    full.num_layers = c.num_layers;
    full.num_heads = c.num_heads;
    full.num_kv_heads = c.num_kv_heads;
    full.head_dim = c.head_dim;
    full.max_position_embeddings = c.max_position_embeddings;
    full.dtype = spinfer_dtype_t(c.dtype);
    full.weight_bytes = model->model->weight_bytes();
    full.dense_weight_bytes = model->model->dense_weight_bytes();
    full.kv_cache_bytes = model->model->kv_cache_bytes();
    full.kv_cache_tokens = model->model->kv_cache_tokens();
    const size_t n = std::min(info->struct_size, sizeof(spinfer_model_info_t));
    const size_t caller_size = info->struct_size;
    std::memcpy(info, &full, n);
    info->struct_size = caller_size;
  });
}

spinfer_status_t spinfer_model_prefill(spinfer_context_t* ctx, spinfer_model_t* model, int32_t seq,
                                       const int32_t* tokens, int64_t count, float* logits,
                                       void* stream) {
  return guard([&] {
    require_model_ctx(ctx, model);
    model->model->prefill(seq, tokens, count, logits, stream);
  });
}

spinfer_status_t spinfer_model_decode_step(spinfer_context_t* ctx, spinfer_model_t* model,
                                           const int32_t* seq_ids, const int32_t* tokens,
                                           int32_t count, float* logits, void* stream) {
  return guard([&] {
    require_model_ctx(ctx, model);
    require_not_null(seq_ids, "seq_ids");
    model->model->decode_step(seq_ids, tokens, count, logits, stream);
  });
}

spinfer_status_t spinfer_model_generate_greedy(spinfer_context_t* ctx, spinfer_model_t* model,
                                               int32_t seq, const int32_t* prompt,
                                               int64_t prompt_length, int64_t max_new_tokens,
                                               int32_t eos_token, int32_t* out_tokens,
                                               int64_t* generated, void* stream) {
  if (generated) *generated = 0;
  return guard([&] {
    require_model_ctx(ctx, model);
    require_not_null(generated, "generated");
    *generated = model->model->generate_greedy(seq, prompt, prompt_length, max_new_tokens,
                                               eos_token, out_tokens, stream);
  });
}

spinfer_status_t spinfer_model_release_sequence(spinfer_model_t* model, int32_t seq) {
  return guard([&] {
    require_not_null(model, "model");
    model->model->release(seq);
  });
}

spinfer_status_t spinfer_model_sequence_length(const spinfer_model_t* model, int32_t seq,
                                               int64_t* length) {
  return guard([&] {
    require_not_null(model, "model");
    require_not_null(length, "length");
    *length = model->model->length(seq);
  });
}

spinfer_status_t spinfer_model_destroy(spinfer_model_t* model) {
  return guard([&] { delete model; });
}

}  // extern "C"
