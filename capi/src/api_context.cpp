// Contexts: backend resolution (AUTO -> CUDA when built with it and a GPU is present).
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>

#include "guard.hpp"
#include "handles.hpp"

using spinfer::Error;
using spinfer::require;
using spinfer::capi::guard;
using spinfer::capi::require_not_null;

extern "C" {

spinfer_status_t spinfer_context_config_init(spinfer_context_config_t* config) {
  return guard([&] {
    require_not_null(config, "config");
    *config = spinfer_context_config_t{};
    config->struct_size = sizeof(spinfer_context_config_t);
    config->backend = SPINFER_BACKEND_AUTO;
    config->device = 0;
    config->host_threads = 0;
    config->spmm_workspace_slots = 4;
  });
}

spinfer_status_t spinfer_context_create_ex(spinfer_context_t** out,
                                           const spinfer_context_config_t* config) {
  if (out) *out = nullptr;
  return guard([&] {
    require_not_null(out, "out");
    spinfer_context_config_t cfg;
    spinfer_context_config_init(&cfg);
    if (config) {
      // A config from an older header ends before spmm_workspace_slots: it gets the default.
      constexpr size_t oldest = offsetof(spinfer_context_config_t, spmm_workspace_slots);
      require(config->struct_size >= oldest, SPINFER_STATUS_INVALID_ARGUMENT,
              "config->struct_size is too small; initialise it with spinfer_context_config_init");
      std::memcpy(&cfg, config, std::min(config->struct_size, sizeof cfg));
      if (config->struct_size < oldest + sizeof(int)) cfg.spmm_workspace_slots = 4;  // not (wholly) given
      constexpr size_t lazy_end = offsetof(spinfer_context_config_t, spmm_workspace_lazy) + sizeof(int);
      if (config->struct_size < lazy_end) cfg.spmm_workspace_lazy = 0;
      cfg.struct_size = sizeof cfg;
    }
    require(cfg.backend == SPINFER_BACKEND_AUTO || cfg.backend == SPINFER_BACKEND_HOST ||
                cfg.backend == SPINFER_BACKEND_CUDA,
            SPINFER_STATUS_INVALID_ARGUMENT,
            [&] { return "unknown backend value " + std::to_string(int(cfg.backend)); });
    require(cfg.device >= 0, SPINFER_STATUS_INVALID_ARGUMENT, "device ordinal is negative");
    require(cfg.host_threads >= 0, SPINFER_STATUS_INVALID_ARGUMENT, "host_threads is negative");
    require(cfg.spmm_workspace_slots >= 0 && cfg.spmm_workspace_slots <= 64,
            SPINFER_STATUS_INVALID_ARGUMENT, [&] {
              return "spmm_workspace_slots must be in [0, 64], got " +
                     std::to_string(cfg.spmm_workspace_slots);
            });
    require(cfg.spmm_workspace_lazy == 0 || cfg.spmm_workspace_lazy == 1, SPINFER_STATUS_INVALID_ARGUMENT,
            [&] { return "spmm_workspace_lazy must be 0 or 1, got " + std::to_string(cfg.spmm_workspace_lazy); });

    auto ctx = std::make_unique<spinfer_context>();
    ctx->host_threads = cfg.host_threads;
    bool use_cuda = cfg.backend == SPINFER_BACKEND_CUDA;
    if (cfg.backend == SPINFER_BACKEND_AUTO)
      use_cuda = spinfer::cuda::built_with_cuda() && spinfer::cuda::device_available(cfg.device);
    if (use_cuda) {
      require(spinfer::cuda::built_with_cuda(), SPINFER_STATUS_NOT_SUPPORTED,
              "the CUDA backend was requested but this libspinfer was built without CUDA");
      require(spinfer::cuda::device_available(cfg.device), SPINFER_STATUS_NO_DEVICE, [&] {
        return "the CUDA backend was requested but there is no usable GPU with ordinal " +
               std::to_string(cfg.device);
      });
      ctx->cuda = spinfer::cuda::create_context(cfg.device, cfg.spmm_workspace_slots, cfg.spmm_workspace_lazy != 0);
      ctx->backend = SPINFER_BACKEND_CUDA;
      ctx->device = cfg.device;
    }
    *out = ctx.release();
  });
}

spinfer_status_t spinfer_context_create(spinfer_context_t** out, spinfer_backend_t backend) {
  spinfer_context_config_t cfg;
  spinfer_context_config_init(&cfg);
  cfg.backend = backend;
  return spinfer_context_create_ex(out, &cfg);
}

spinfer_status_t spinfer_context_release_stream(spinfer_context_t* ctx, void* stream) {
  return guard([&] {
    require_not_null(ctx, "ctx");
    if (ctx->cuda) spinfer::cuda::release_stream(*ctx->cuda, stream);
  });
}

spinfer_status_t spinfer_context_get_backend(const spinfer_context_t* ctx, spinfer_backend_t* out) {
  return guard([&] {
    require_not_null(ctx, "ctx");
    require_not_null(out, "out");
    *out = ctx->backend;
  });
}

spinfer_status_t spinfer_context_destroy(spinfer_context_t* ctx) {
  return guard([&] { delete ctx; });
}

int spinfer_has_cuda(void) { return spinfer::cuda::built_with_cuda() ? 1 : 0; }

}  // extern "C"
