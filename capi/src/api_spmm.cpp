// SpMM: runs where the matrix lives (host backend or the context's GPU).
#include <algorithm>
#include <cstring>
#include <string>

#include "guard.hpp"
#include "handles.hpp"
#include "host/spmm_host.hpp"

using spinfer::require;
using spinfer::capi::guard;
using spinfer::capi::require_dtype;
using spinfer::capi::require_not_null;

namespace {

spinfer::cuda::SpmmOptions to_options(const spinfer_spmm_options_t* options) {
  spinfer::cuda::SpmmOptions opts;
  if (options) {
    require(options->struct_size >= sizeof(spinfer_spmm_options_t), SPINFER_STATUS_INVALID_ARGUMENT,
            "options->struct_size is too small; initialise it with spinfer_spmm_options_init");
    require(options->split_k >= 0, SPINFER_STATUS_INVALID_ARGUMENT, "options->split_k is negative");
    require(options->tile_n >= 0, SPINFER_STATUS_INVALID_ARGUMENT, "options->tile_n is negative");
    opts.split_k = options->split_k;
    opts.tile_n = options->tile_n;
  }
  return opts;
}

spinfer_spmm_kernel_t to_c(spinfer::cuda::SpmmKernel k) {
  switch (k) {
    case spinfer::cuda::SpmmKernel::specialised: return SPINFER_SPMM_KERNEL_SPECIALISED;
    case spinfer::cuda::SpmmKernel::wgmma: return SPINFER_SPMM_KERNEL_WGMMA;
    case spinfer::cuda::SpmmKernel::dense_gemm: return SPINFER_SPMM_KERNEL_DENSE_GEMM;
    case spinfer::cuda::SpmmKernel::warp_k: return SPINFER_SPMM_KERNEL_WARP_K;
    default: return SPINFER_SPMM_KERNEL_BLOCK;
  }
}

}  // namespace

extern "C" {

spinfer_status_t spinfer_spmm_plan(spinfer_context_t* ctx, const spinfer_matrix_t* w, int64_t n,
                                   spinfer_dtype_t dtype, const spinfer_spmm_options_t* options,
                                   void* stream, spinfer_spmm_plan_t* plan) {
  return guard([&] {
    require_not_null(ctx, "ctx");
    require_not_null(w, "w");
    require_not_null(plan, "plan");
    require(plan->struct_size >= sizeof(size_t), SPINFER_STATUS_INVALID_ARGUMENT,
            "plan->struct_size is not set (sizeof(spinfer_spmm_plan_t))");
    const spinfer::DType dt = require_dtype(dtype, "x/y");
    const spinfer::cuda::SpmmOptions opts = to_options(options);
    spinfer_spmm_plan_t full{};
    if (const auto* h = w->host()) {
      require(n >= 0, SPINFER_STATUS_INVALID_ARGUMENT,
              [&] { return "n (tokens) is negative: " + std::to_string(n); });
      full.kernel = SPINFER_SPMM_KERNEL_HOST;
      full.split_k = 1;
      full.host_threads = n > 0 ? spinfer::host::spmm_threads(*h, n, ctx->host_threads) : 0;
    } else {
      require(ctx->cuda != nullptr, SPINFER_STATUS_WRONG_LOCATION,
              "w lives on a GPU but ctx is a host context");
      const spinfer::cuda::SpmmCallPlan p =
          spinfer::cuda::plan_spmm_call(*ctx->cuda, *w->device(), n, dt, opts, stream);
      full.kernel = to_c(p.kernel);
      full.tile_n = p.tile_n;
      full.split_k = p.split_k;
      full.launches = p.launches;
      full.workspace_bytes = p.workspace_bytes;
      full.runs_without_workspace = p.workspace_missing ? 1 : 0;
    }
    const size_t caller_size = plan->struct_size;
    std::memcpy(plan, &full, std::min(caller_size, sizeof(full)));
    plan->struct_size = caller_size;
  });
}

spinfer_status_t spinfer_spmm_options_init(spinfer_spmm_options_t* options) {
  return guard([&] {
    require_not_null(options, "options");
    *options = spinfer_spmm_options_t{};
    options->struct_size = sizeof(spinfer_spmm_options_t);
  });
}

spinfer_status_t spinfer_spmm_ex(spinfer_context_t* ctx, const spinfer_matrix_t* w, const void* x,
                                 int64_t n, int64_t ldx, const void* bias, void* y, int64_t ldy,
                                 spinfer_dtype_t dtype, const spinfer_spmm_options_t* options,
                                 void* stream) {
  return guard([&] {
    require_not_null(ctx, "ctx");
    require_not_null(w, "w");
    const spinfer::DType dt = require_dtype(dtype, "x/y");
    const spinfer::cuda::SpmmOptions opts = to_options(options);
    if (const auto* h = w->host()) {
      // A host matrix runs on the host: with a CUDA context the caller may well have
      // passed device arrays (forgotten upload), which the CPU must not touch.
      if (ctx->cuda) {
        const std::pair<const void*, const char*> arrays[] = {{x, "x"}, {y, "y"}, {bias, "bias"}};
        for (const auto& a : arrays)
          require(!spinfer::cuda::is_device_memory(a.first), SPINFER_STATUS_WRONG_LOCATION, [&] {
            return std::string(a.second) +
                   " is GPU memory but w lives on the host (upload w with spinfer_matrix_upload, "
                   "or pass host arrays)";
          });
      }
      spinfer::host::spmm(*h, x, n, ldx, bias, y, ldy, dt, ctx->host_threads);
      return;
    }
    require(ctx->cuda != nullptr, SPINFER_STATUS_WRONG_LOCATION,
            "w lives on a GPU but ctx is a host context");
    spinfer::cuda::spmm(*ctx->cuda, *w->device(), x, n, ldx, bias, y, ldy, dt, opts, stream);
  });
}

spinfer_status_t spinfer_spmm(spinfer_context_t* ctx, const spinfer_matrix_t* w, const void* x,
                              int64_t n, int64_t ldx, const void* bias, void* y, int64_t ldy,
                              spinfer_dtype_t dtype, void* stream) {
  return spinfer_spmm_ex(ctx, w, x, n, ldx, bias, y, ldy, dtype, nullptr, stream);
}

}  // extern "C"
