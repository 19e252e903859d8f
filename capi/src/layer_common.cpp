// Helpers shared by the layer, KV-cache and model entry points.
#include "layer_handles.hpp"

namespace spinfer::capi {

std::unique_ptr<layers::Backend> backend_for(const spinfer_context_t* ctx, DType dtype) {
  require_not_null(ctx, "ctx");
  if (ctx->cuda) {
    require(is_storage_dtype(dtype), SPINFER_STATUS_UNSUPPORTED_DTYPE,
            "CUDA layers run in F16 or BF16");
    return layers::make_cuda_backend(*ctx->cuda, dtype);
  }
  return layers::make_host_backend(ctx->host_threads);
}

layers::MatrixInput matrix_input(const spinfer_matrix_t* m) {
  layers::MatrixInput in;
  if (!m) return in;
  in.host = m->host();
  in.device = m->device();
  return in;
}

void require_same_context(const spinfer_context_t* ctx, const LayerBase& base, const char* what) {
  require_not_null(ctx, "ctx");
  require(ctx == base.ctx, SPINFER_STATUS_INVALID_ARGUMENT,
          [&] { return std::string(what) + " was created on a different context"; });
}

ActivationIo::ActivationIo(const LayerBase& base, DType user) : base_(base), user_(user) {
  const DType act = base.backend->act_dtype();
  if (base.backend->is_cuda()) {
    require(user == act, SPINFER_STATUS_UNSUPPORTED_DTYPE, [&] {
      return std::string("CUDA layer activations must have the weights' dtype ") + dtype_name(act);
    });
  } else {
    convert_ = user != DType::f32;
  }
}

const void* ActivationIo::in(const void* user, int64_t count) {
  if (!convert_ || user == nullptr) return user;
  inputs_.emplace_back(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) inputs_.back()[size_t(i)] = load_as_float(user, user_, i);
  return inputs_.back().data();
}

void* ActivationIo::out(void* user, int64_t count) {
  if (!convert_) return user;
  output_.assign(static_cast<size_t>(count), 0.0f);
  user_out_ = user;
  return output_.data();
}

void ActivationIo::finish() {
  if (!convert_ || !user_out_) return;
  for (size_t i = 0; i < output_.size(); ++i) store_from_float(user_out_, user_, int64_t(i), output_[i]);
}

}  // namespace spinfer::capi
