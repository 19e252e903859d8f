// The CUDA SpMM entry: validates pointers, dtypes, shapes and alignment, picks the tile
// configuration and split-K from the problem and the device, and launches. Never
// allocates and never synchronises, so a call can be captured in a CUDA graph.
#include <algorithm>
#include <string>

#include "common/byte_range.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/dense_gemm.hpp"
#include "cuda/device_context.hpp"
#include "cuda/device_matrix.hpp"
#include "cuda/spmm_dispatch.hpp"
#include "cuda/spmm_params.hpp"

namespace spinfer::cuda {
namespace {

// Throws WRONG_LOCATION unless `p` is memory the context's device can read.
void require_device_pointer(const void* p, int device, const char* what) {
  cudaPointerAttributes attr{};
  const cudaError_t err = cudaPointerGetAttributes(&attr, p);
  if (err != cudaSuccess) cudaGetLastError();
  const bool on_device = err == cudaSuccess && (attr.type == cudaMemoryTypeDevice ||
                                                attr.type == cudaMemoryTypeManaged);
  require(on_device, SPINFER_STATUS_WRONG_LOCATION, [&] {
    return std::string(what) + " is not a device pointer (CUDA SpMM needs device memory)";
  });
  require(attr.type == cudaMemoryTypeManaged || attr.device == device,
          SPINFER_STATUS_WRONG_LOCATION, [&] {
            return std::string(what) + " lives on device " + std::to_string(attr.device) +
                   " but the context uses device " + std::to_string(device);
          });
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

// Checks shared by spmm and plan_spmm_call: what does not depend on the arrays.
void check_call(const DeviceContext& ctx, const DeviceMatrix& w, int64_t n, DType dtype,
                const SpmmOptions& options) {
  require(n >= 0, SPINFER_STATUS_INVALID_ARGUMENT,
          [&] { return "n is negative (" + std::to_string(n) + ")"; });
  require(dtype == w.dtype, SPINFER_STATUS_UNSUPPORTED_DTYPE, [&] {
    return std::string("x/y dtype ") + dtype_name(dtype) + " differs from the matrix storage dtype " +
           dtype_name(w.dtype) + " (the CUDA backend computes in the storage dtype)";
  });
  require_context_device(w.device, ctx.device());
  require(options.split_k >= 0 && options.tile_n >= 0, SPINFER_STATUS_INVALID_ARGUMENT,
          "negative split_k or tile_n in the options");
  require(options.tile_n == 0 || is_smbd_tile(options.tile_n), SPINFER_STATUS_INVALID_ARGUMENT, [&] {
    return "tile_n must be 0 (automatic), 8, 16, 32, 64, 128 or 256, got " +
           std::to_string(options.tile_n);
  });
  require(options.kernel != SpmmKernel::specialised || ctx.has_specialised_spmm(),
          SPINFER_STATUS_NOT_SUPPORTED,
          "the warp-specialised SpMM kernel needs a GPU of compute capability 9.0");
  require(options.kernel != SpmmKernel::wgmma || ctx.has_wgmma_spmm(), SPINFER_STATUS_NOT_SUPPORTED,
          "the wgmma SpMM kernel needs a GPU of compute capability 9.0 and a build for sm_90a");
  require(options.kernel != SpmmKernel::warp_k || ctx.has_kernel(SpmmKernel::warp_k),
          SPINFER_STATUS_NOT_SUPPORTED, "the warp-K SpMM kernel needs a GPU of compute capability 9.0");
  require(options.kernel != SpmmKernel::warp_k ||
              kernel_serves(options.kernel, choose_tile_n(std::max<int64_t>(n, 1), options)),
          SPINFER_STATUS_INVALID_ARGUMENT,
          "the warp-K SpMM kernel serves token tiles of 8 and 16 (set tile_n, or n <= 16)");
  // The wide tiles: the wgmma kernel, asked for or chosen (automatic picks it for tiles
  // from 32 where the device has it); the dense path has no token tiles.
  if (options.tile_n > 64 && options.kernel != SpmmKernel::dense_gemm) {
    require(options.kernel == SpmmKernel::automatic || options.kernel == SpmmKernel::wgmma,
            SPINFER_STATUS_INVALID_ARGUMENT, [&] {
              return "tile_n " + std::to_string(options.tile_n) +
                     " is served by the wgmma SpMM kernel only (kernel automatic or wgmma)";
            });
    require(ctx.has_wgmma_spmm(), SPINFER_STATUS_NOT_SUPPORTED, [&] {
      return "tile_n " + std::to_string(options.tile_n) +
             " needs the wgmma SpMM kernel: a GPU of compute capability 9.0 and a build for sm_90a";
    });
  }
  require(options.kernel != SpmmKernel::dense_gemm || ctx.has_kernel(SpmmKernel::dense_gemm),
          SPINFER_STATUS_NOT_SUPPORTED, [&] {
            return std::string("the dense SpMM path is unavailable: ") + dense_gemm_why(ctx.dense_gemm());
          });
}

SpmmKernel choose_call_kernel(const DeviceContext& ctx, const DeviceMatrix& w, const SpmmOptions& options,
                              int tile_n, int64_t n) {
  const double elements = double(std::max<int64_t>(w.rows, 1)) * double(std::max<int64_t>(w.cols, 1));
  return choose_kernel(options, ctx.has_specialised_spmm(), ctx.has_wgmma_spmm(), tile_n, n,
                       ctx.has_kernel(SpmmKernel::dense_gemm), double(w.nnz) / elements);
}

// Tokens one launch covers: token tiles beyond the grid's y limit run as further launches.
int64_t max_tokens_per_launch(int tile_n) { return int64_t(65535) * tile_n; }

// The configuration of one launch over nn tokens: split-K only with a workspace slot it
// fits (`bind`: take a slot for the stream, as a call does; else only look, as a plan
// query does), otherwise one slice.
// Kernels sized at launch also get their pipeline stages, and split-K plans with the
// blocks those stages leave resident.
struct LaunchChoice {
  SpmmPlan plan;
  StagePlan stages;
  const SplitKWorkspace* workspace = nullptr;
  bool workspace_missing = false;  // split-K wanted, but no (big enough) slot
};

LaunchChoice choose_launch(DeviceContext& ctx, const DeviceMatrix& w, int64_t nn, int tile_n,
                           SpmmKernel kernel, const SpmmOptions& options, void* stream, bool bind) {
  const TileGrid tiles{w.rows, w.cols};
  LaunchChoice c;
  int blocks_per_sm = ctx.blocks_per_sm(kernel, tile_n);
  if (kernel == SpmmKernel::specialised || kernel == SpmmKernel::warp_k) {
    c.stages = plan_stages(kernel, w.max_group_values, tile_n, blocks_per_sm, ctx.smem_per_sm());
    blocks_per_sm = c.stages.blocks_per_sm;
  }
  c.plan = plan_spmm_split(tiles.group_rows(), tiles.group_cols(), nn, tile_n, ctx.sm_count(),
                           blocks_per_sm, options);
  if (c.plan.grid.split_k > 1) {
    const SplitKWorkspace* ws = bind ? ctx.workspace_for(stream) : ctx.workspace_peek(stream);
    if (ws && plan_fits(c.plan, tile_n, ws->partial_floats, ws->counter_count)) {
      c.workspace = ws;
    } else {
      c.plan = plan_without_split(c.plan, tiles.group_cols());
      c.workspace_missing = true;
    }
  }
  return c;
}

}  // namespace

SpmmCallPlan plan_spmm_call(DeviceContext& ctx, const DeviceMatrix& w, int64_t n, DType dtype,
                            const SpmmOptions& options, void* stream) {
  check_call(ctx, w, n, dtype, options);
  SpmmCallPlan out;
  out.tile_n = choose_tile_n(std::max<int64_t>(n, 1), options);
  out.kernel = choose_call_kernel(ctx, w, options, out.tile_n, n);
  if (n == 0) {
    out.launches = 0;
    return out;
  }
  if (out.kernel == SpmmKernel::dense_gemm) {  // no token tiles, no split-K: slabs and scratch
    const DenseSlabPlan dense = dense_slab_plan(ctx.dense_gemm(), w.rows, w.cols);
    out.tile_n = 0;
    out.launches = dense.slabs;
    out.workspace_bytes = dense.scratch_bytes();
    return out;
  }
  const int64_t per_launch = max_tokens_per_launch(out.tile_n);
  out.launches = (n + per_launch - 1) / per_launch;
  const LaunchChoice c = choose_launch(ctx, w, std::min(n, per_launch), out.tile_n, out.kernel,
                                       options, stream, false);
  out.split_k = int(c.plan.grid.split_k);
  out.workspace_missing = c.workspace_missing;
  if (c.workspace) {
    const SplitKNeeds need = split_k_needs(c.plan, out.tile_n);
    out.workspace_bytes = need.partial_floats * sizeof(float) + need.counters * sizeof(unsigned);
  }
  return out;
}

void spmm(DeviceContext& ctx, const DeviceMatrix& w, const void* x, int64_t n, int64_t ldx,
          const void* bias, void* y, int64_t ldy, DType dtype, const SpmmOptions& options,
          void* stream) {
  check_call(ctx, w, n, dtype, options);
  require(ldx >= w.cols, SPINFER_STATUS_SHAPE_MISMATCH, [&] {
    return "ldx " + std::to_string(ldx) + " is smaller than cols(W) " + std::to_string(w.cols);
  });
  require(ldy >= w.rows, SPINFER_STATUS_SHAPE_MISMATCH, [&] {
    return "ldy " + std::to_string(ldy) + " is smaller than rows(W) " + std::to_string(w.rows);
  });
  if (n == 0) return;
  require(x != nullptr && y != nullptr, SPINFER_STATUS_INVALID_ARGUMENT, "x or y is NULL");
  require(ldx % 8 == 0 && ldy % 8 == 0, SPINFER_STATUS_MISALIGNED, [&] {
    return "ldx and ldy must be multiples of 8 on the CUDA backend (got " + std::to_string(ldx) +
           ", " + std::to_string(ldy) + ")";
  });
  require(aligned16(x) && aligned16(y), SPINFER_STATUS_MISALIGNED,
          "x and y must be 16-byte aligned on the CUDA backend");
  require((reinterpret_cast<uintptr_t>(bias) & 1u) == 0, SPINFER_STATUS_MISALIGNED,
          "bias must be 2-byte aligned");
  require_device_pointer(x, ctx.device(), "x");
  require_device_pointer(y, ctx.device(), "y");
  if (bias) require_device_pointer(bias, ctx.device(), "bias");
  {
    // y must not overlap x or bias: the kernel reads them while other blocks write y.
    const size_t y_bytes = size_t(((n - 1) * ldy + w.rows) * 2);
    require(!bytes_overlap(y, y_bytes, x, size_t(((n - 1) * ldx + w.cols) * 2)),
            SPINFER_STATUS_INVALID_ARGUMENT, "y overlaps x");
    require(!bytes_overlap(y, y_bytes, bias, bias ? size_t(w.rows * 2) : 0),
            SPINFER_STATUS_INVALID_ARGUMENT, "y overlaps bias");
  }

  DeviceGuard guard(ctx.device());
  const cudaStream_t s = as_stream(stream);
  const TileGrid tiles{w.rows, w.cols};

  // Token tiles beyond the grid's y limit run as further launches on shifted x / y.
  const int tile_n = choose_tile_n(n, options);
  const SpmmKernel kernel = choose_call_kernel(ctx, w, options, tile_n, n);
  if (kernel == SpmmKernel::dense_gemm) return dense_spmm(ctx, w, x, n, ldx, bias, y, ldy, dtype, s);
  const int64_t per_launch = max_tokens_per_launch(tile_n);
  for (int64_t t0 = 0; t0 < n; t0 += per_launch) {
    const int64_t nn = std::min(n - t0, per_launch);
    const LaunchChoice choice = choose_launch(ctx, w, nn, tile_n, kernel, options, stream, true);
    const SpmmPlan& plan = choice.plan;
    const SplitKWorkspace* ws = choice.workspace;
    SmbdParams p{};
    p.values = w.values;
    p.bitmaps = w.bitmaps;
    p.group_offsets = w.group_offsets;
    p.x = static_cast<const uint16_t*>(x) + t0 * ldx;
    p.bias = bias;
    p.y = static_cast<uint16_t*>(y) + t0 * ldy;
    p.m = w.rows;
    p.k = w.cols;
    p.n = nn;
    p.ldx = ldx;
    p.ldy = ldy;
    p.group_cols = tiles.group_cols();
    p.tiles_per_split = plan.tiles_per_split;
    p.partials = ws ? ws->partials : nullptr;
    p.counters = ws ? ws->counters : nullptr;
    p.stages = choice.stages.stages;  // read only by the kernels sized at launch
    p.stage_bytes = choice.stages.stage_bytes;
    p.value_bytes = choice.stages.value_bytes;
    const cudaError_t err = launch_spmm_smbd(kernel, dtype, tile_n, p, plan.grid, s);
    check_cuda(err, "launching the SpMM kernel");
  }
}

}  // namespace spinfer::cuda
