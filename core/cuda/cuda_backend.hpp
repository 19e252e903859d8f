// The CUDA backend as seen from the C API: plain C++, no CUDA headers, so the C API
// compiles the same with or without CUDA. Defined in core/cuda/*.cu when the build
// has CUDA, and by core/cuda/cuda_unavailable.cpp (every call throws NOT_SUPPORTED)
// when it does not. Every function throws spinfer::Error on failure.
#pragma once

#include <cstdint>
#include <memory>

#include "format/tca_bme.hpp"

namespace spinfer::cuda {

class DeviceContext;  // per-context GPU state: device ordinal, properties, split-K workspaces
struct DeviceMatrix;  // an encoded matrix whose arrays live on a GPU

struct DeviceContextDeleter { void operator()(DeviceContext* p) const; };
struct DeviceMatrixDeleter { void operator()(DeviceMatrix* p) const; };
using DeviceContextPtr = std::unique_ptr<DeviceContext, DeviceContextDeleter>;
using DeviceMatrixPtr = std::unique_ptr<DeviceMatrix, DeviceMatrixDeleter>;

// Facts about a device matrix the C API reports.
struct DeviceMatrixSummary {
  int64_t rows = 0, cols = 0, nnz = 0;
  DType dtype = DType::f16;
  uint64_t values_count = 0, bitmaps_count = 0, offsets_count = 0;
  int device = 0;
};

// Which SMBD kernel runs a CUDA SpMM (docs/performance.md): `block` (every warp copies
// and decodes, one block barrier per stage; sm_80+), `specialised` (a producer warp
// copies and scans, four warps only decode, mbarriers between them; sm_90 only) or
// `wgmma` (the block kernel multiplying with warpgroup MMAs; sm_90a builds on sm_90) or
// `warp_k` (a producer warp copies, each of four warps decodes whole GroupTiles, the warps
// split K; token tiles 8 and 16, sm_90 only); or `dense_gemm`, no sparse kernel at all:
// W decoded slab by slab into a stream-ordered scratch and multiplied by cuBLAS (the
// prefill sizes where the SMBD kernels lose to dense; core/cuda/dense_gemm.hpp).
enum class SpmmKernel { automatic, block, specialised, wgmma, warp_k, dense_gemm };

// Expert overrides; 0 / automatic means "chosen by the library". `kernel` is for the
// benchmark and the tests (not in the C API).
struct SpmmOptions {
  int split_k = 0;
  int tile_n = 0;
  SpmmKernel kernel = SpmmKernel::automatic;
};

bool built_with_cuda();                 // false in the no-CUDA build
bool device_available(int device);      // a usable GPU with this ordinal exists
bool is_device_memory(const void* p);   // p points into memory only a GPU can read
// `lazy_workspace`: allocate each split-K workspace slot when first needed (device_context.hpp).
DeviceContextPtr create_context(int device, int workspace_slots = 4, bool lazy_workspace = false);
// Waits for `stream` and unbinds its split-K workspace slot (if it has one).
void release_stream(DeviceContext& ctx, void* stream);

DeviceMatrixPtr upload(DeviceContext& ctx, const HostMatrix& host, void* stream);
DeviceMatrixPtr encode_device(DeviceContext& ctx, const void* dense, DType dense_dtype,
                              int64_t rows, int64_t cols, int64_t ld, DType storage,
                              void* stream);
HostMatrix download(DeviceContext& ctx, const DeviceMatrix& m, void* stream);
DeviceMatrixSummary summary(const DeviceMatrix& m);

// What spmm() will do for a call with n tokens on `stream` (spinfer_spmm_plan): the
// configuration of its first launch and how many launches it takes. Checks what spmm
// checks except the arrays; binds no workspace slot.
struct SpmmCallPlan {
  SpmmKernel kernel = SpmmKernel::block;
  int tile_n = 8, split_k = 1;
  int64_t launches = 1;             // dense_gemm: slabs (one decode and one GEMM each)
  uint64_t workspace_bytes = 0;    // split-K partials and counters the call uses; dense_gemm:
                                   // its stream-ordered scratch (slab and cuBLAS workspace)
  bool workspace_missing = false;  // split-K wanted, but no workspace slot (big enough)
};
SpmmCallPlan plan_spmm_call(DeviceContext& ctx, const DeviceMatrix& w, int64_t n, DType dtype,
                            const SpmmOptions& options, void* stream);

// Y = X * W^T (+ bias) on `stream`; validates pointers (device-resident, aligned),
// dtype and shapes; never allocates, never synchronises.
void spmm(DeviceContext& ctx, const DeviceMatrix& w, const void* x, int64_t n, int64_t ldx,
          const void* bias, void* y, int64_t ldy, DType dtype, const SpmmOptions& options,
          void* stream);

}  // namespace spinfer::cuda
