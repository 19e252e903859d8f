// Opaque handles of the layer / KV-cache / model section of the C API (spinfer.h §7)
// and the helpers their entry points share.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "guard.hpp"
#include "handles.hpp"
#include "layers/attention.hpp"
#include "layers/decoder_layer.hpp"
#include "layers/kv_cache.hpp"
#include "layers/linear.hpp"
#include "layers/mlp.hpp"
#include "runtime/model.hpp"

namespace spinfer::capi {

// What every layer handle holds: its own backend on the context's device, scratch
// memory for max_tokens tokens, and the data type its activations use.
struct LayerBase {
  std::unique_ptr<layers::Backend> backend;
  layers::Scratch scratch;
  int64_t max_tokens = 0;
  const spinfer_context_t* ctx = nullptr;
};

// The backend a layer on `ctx` uses for matrices of storage dtype `dtype`.
std::unique_ptr<layers::Backend> backend_for(const spinfer_context_t* ctx, DType dtype);
// A matrix handle as a layer input (NULL -> absent).
layers::MatrixInput matrix_input(const spinfer_matrix_t* m);
// Checks that `ctx` is the context the handle was made on.
void require_same_context(const spinfer_context_t* ctx, const LayerBase& base, const char* what);

// Host activations of any dtype seen as fp32 (copies when needed); CUDA pointers as they are.
class ActivationIo {
 public:
  ActivationIo(const LayerBase& base, DType user_dtype);
  // Input of `count` elements: a pointer the backend can read in its act dtype.
  const void* in(const void* user, int64_t count);
  // Output of `count` elements: where the backend writes; finish() copies it back.
  void* out(void* user, int64_t count);
  void finish();

 private:
  const LayerBase& base_;
  DType user_;
  bool convert_ = false;
  std::vector<std::vector<float>> inputs_;
  std::vector<float> output_;
  void* user_out_ = nullptr;
};

}  // namespace spinfer::capi

struct spinfer_linear {
  spinfer::capi::LayerBase base;
  std::unique_ptr<spinfer::layers::Linear> layer;
};
struct spinfer_mlp {
  spinfer::capi::LayerBase base;
  std::unique_ptr<spinfer::layers::Mlp> layer;
};
struct spinfer_attention {
  spinfer::capi::LayerBase base;
  std::unique_ptr<spinfer::layers::Attention> layer;
};
struct spinfer_decoder_layer {
  spinfer::capi::LayerBase base;
  std::unique_ptr<spinfer::layers::DecoderLayer> layer;
  spinfer::layers::Buffer hidden;  // fp32 residual stream [max_tokens, hidden]
};
struct spinfer_kv_cache {
  std::unique_ptr<spinfer::layers::Backend> backend;
  std::unique_ptr<spinfer::layers::KvCache> cache;
  const spinfer_context_t* ctx = nullptr;
};
struct spinfer_model {
  std::unique_ptr<spinfer::runtime::Model> model;
  const spinfer_context_t* ctx = nullptr;
};
