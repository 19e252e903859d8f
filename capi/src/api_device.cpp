// Device residency: upload, GPU encode, download. Thin trampolines to core/cuda.
#include <memory>

#include "guard.hpp"
#include "handles.hpp"

using spinfer::require;
using spinfer::capi::guard;
using spinfer::capi::require_dtype;
using spinfer::capi::require_not_null;
using spinfer::capi::require_storage_dtype;

namespace {

spinfer::cuda::DeviceContext& require_cuda_context(spinfer_context_t* ctx) {
  require_not_null(ctx, "ctx");
  require(ctx->cuda != nullptr, SPINFER_STATUS_NOT_SUPPORTED,
          "ctx is a host context; device matrices need a CUDA context");
  return *ctx->cuda;
}

}  // namespace

extern "C" {

spinfer_status_t spinfer_matrix_upload(spinfer_context_t* ctx, const spinfer_matrix_t* host,
                                       spinfer_matrix_t** out, void* stream) {
  if (out) *out = nullptr;
  return guard([&] {
    require_not_null(out, "out");
    auto& cuda = require_cuda_context(ctx);
    const auto& h = spinfer::capi::require_host_matrix(host, "host");
    auto m = std::make_unique<spinfer_matrix>();
    m->storage = spinfer::cuda::upload(cuda, h, stream);
    *out = m.release();
  });
}

spinfer_status_t spinfer_matrix_encode_device(spinfer_context_t* ctx, spinfer_matrix_t** out,
                                              const void* dense, spinfer_dtype_t dense_dtype,
                                              int64_t rows, int64_t cols, int64_t ld,
                                              spinfer_dtype_t storage_dtype, void* stream) {
  if (out) *out = nullptr;
  return guard([&] {
    require_not_null(out, "out");
    auto& cuda = require_cuda_context(ctx);
    auto m = std::make_unique<spinfer_matrix>();
    m->storage = spinfer::cuda::encode_device(cuda, dense, require_dtype(dense_dtype, "dense"), rows,
                                              cols, ld, require_storage_dtype(storage_dtype, "storage dtype"),
                                              stream);
    *out = m.release();
  });
}

spinfer_status_t spinfer_matrix_download(spinfer_context_t* ctx, const spinfer_matrix_t* device,
                                         spinfer_matrix_t** out, void* stream) {
  if (out) *out = nullptr;
  return guard([&] {
    require_not_null(out, "out");
    auto& cuda = require_cuda_context(ctx);
    require_not_null(device, "device");
    require(device->device() != nullptr, SPINFER_STATUS_WRONG_LOCATION,
            "matrix is already on the host");
    auto m = std::make_unique<spinfer_matrix>();
    m->storage = spinfer::cuda::download(cuda, *device->device(), stream);
    *out = m.release();
  });
}

}  // extern "C"
