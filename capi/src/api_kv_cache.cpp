// Paged KV cache (spinfer.h §7.3).
#include "layer_handles.hpp"

using spinfer::DType;
using spinfer::require;
using spinfer::capi::guard;
using spinfer::capi::require_not_null;

extern "C" {

spinfer_status_t spinfer_kv_cache_config_init(spinfer_kv_cache_config_t* config) {
  return guard([&] {
    require_not_null(config, "config");
    *config = spinfer_kv_cache_config_t{};
    config->struct_size = sizeof(spinfer_kv_cache_config_t);
    config->block_size = 16;
    config->max_sequences = 8;
    config->max_sequence_length = 4096;
    config->dtype = SPINFER_DTYPE_F16;
  });
}

spinfer_status_t spinfer_kv_cache_create(spinfer_context_t* ctx, spinfer_kv_cache_t** out,
                                         const spinfer_kv_cache_config_t* config) {
  if (out) *out = nullptr;
  return guard([&] {
    require_not_null(ctx, "ctx");
    require_not_null(out, "out");
    require_not_null(config, "config");
    require(config->struct_size >= sizeof(spinfer_kv_cache_config_t), SPINFER_STATUS_INVALID_ARGUMENT,
            "config->struct_size is too small; initialise it with spinfer_kv_cache_config_init");
    const DType dt = spinfer::capi::require_dtype(config->dtype, "config->dtype");
    spinfer::layers::KvCacheConfig kc;
    kc.num_layers = config->num_layers;
    kc.num_kv_heads = config->num_kv_heads;
    kc.head_dim = config->head_dim;
    kc.block_size = config->block_size;
    kc.num_blocks = config->num_blocks;
    kc.max_sequences = config->max_sequences;
    kc.max_sequence_length = config->max_sequence_length;
    kc.dtype = dt;
    auto h = std::make_unique<spinfer_kv_cache>();
    h->ctx = ctx;
    h->backend = spinfer::capi::backend_for(ctx, ctx->cuda ? dt : DType::f32);
    h->cache = std::make_unique<spinfer::layers::KvCache>(*h->backend, kc);
    *out = h.release();
  });
}

spinfer_status_t spinfer_kv_cache_begin_step(spinfer_kv_cache_t* cache, const int32_t* seq_ids,
                                             const int32_t* new_tokens, int32_t count, void* stream) {
  return guard([&] {
    require_not_null(cache, "cache");
    cache->cache->begin_step(seq_ids, new_tokens, count, stream);
  });
}

spinfer_status_t spinfer_kv_cache_sequence_length(const spinfer_kv_cache_t* cache, int32_t seq,
                                                  int64_t* length) {
  return guard([&] {
    require_not_null(cache, "cache");
    require_not_null(length, "length");
    *length = cache->cache->length(seq);
  });
}

spinfer_status_t spinfer_kv_cache_release_sequence(spinfer_kv_cache_t* cache, int32_t seq) {
  return guard([&] {
    require_not_null(cache, "cache");
    cache->cache->release(seq);
  });
}

spinfer_status_t spinfer_kv_cache_free_blocks(const spinfer_kv_cache_t* cache, int64_t* count) {
  return guard([&] {
    require_not_null(cache, "cache");
    require_not_null(count, "count");
    *count = cache->cache->free_blocks();
  });
}

spinfer_status_t spinfer_kv_cache_destroy(spinfer_kv_cache_t* cache) {
  return guard([&] { delete cache; });
}

}  // extern "C"
