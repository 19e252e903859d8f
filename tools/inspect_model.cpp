#include "inspect_model.hpp"

#include "spinfer.h"

namespace spinfer_tool {

namespace {

void fail(ModelReport* r, const char* call, spinfer_status_t s) {
  r->error = std::string(call) + ": " + spinfer_status_string(s) + ": " + spinfer_last_error_message();
}

}  // namespace

ModelReport inspect_model(const std::string& dir) {
  ModelReport r;
  spinfer_context_t* ctx = nullptr;
  spinfer_status_t s = spinfer_context_create(&ctx, SPINFER_BACKEND_HOST);
  if (s != SPINFER_STATUS_SUCCESS) {
    fail(&r, "spinfer_context_create", s);
    return r;
  }
  // Only the weights matter here: one sequence slot, one KV block, one token per call.
  spinfer_model_config_t config{};
  spinfer_model_config_init(&config);
  config.max_sequences = 1;
  config.max_batch_tokens = 1;
  config.kv_num_blocks = 1;
  config.use_cuda_graphs = 0;
  spinfer_model_t* model = nullptr;
  s = spinfer_model_load(ctx, &model, dir.c_str(), &config, nullptr);
  if (s != SPINFER_STATUS_SUCCESS) {
    fail(&r, "spinfer_model_load", s);
  } else {
    spinfer_model_info_t info{};
    info.struct_size = sizeof info;
    s = spinfer_model_get_info(model, &info);
    if (s != SPINFER_STATUS_SUCCESS) {
      fail(&r, "spinfer_model_get_info", s);
    } else {
      r.arch = info.arch == SPINFER_ARCH_OPT ? "opt" : "llama";
      r.layers = info.num_layers;
      r.hidden = info.hidden_size;
      r.vocab = info.vocab_size;
      r.dtype = info.dtype == SPINFER_DTYPE_BF16 ? "BF16" : info.dtype == SPINFER_DTYPE_F16 ? "F16" : "F32";
      r.weight_bytes = info.weight_bytes;
      r.dense_weight_bytes = info.dense_weight_bytes;
    }
  }
  spinfer_model_destroy(model);
  spinfer_context_destroy(ctx);
  return r;
}

}  // namespace spinfer_tool
