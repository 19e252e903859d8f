// The dense path of the CUDA SpMM, for prefill sizes where no SMBD kernel beats a dense
// GEMM (issue 13): W is decoded, a slab of GroupTile rows at a time, into a
// stream-ordered scratch, and cuBLAS computes Y[:, slab rows] = X * slab^T from it.
//
//   plan_dense_slabs   how W is cut into slabs within the scratch budget (host code)
//   launch_decode_dense  the decode kernel: GroupTile rows of a device matrix -> dense
//   dense_spmm         the entry spmm() calls for SpmmKernel::dense_gemm
//
// Scratch: taken per call with cudaMallocFromPoolAsync on the call's stream from a pool
// the context owns, and given back with cudaFreeAsync on the same stream. Stream-ordered
// allocation is what lets the call be captured in a CUDA graph (capture turns the pair
// into graph memory nodes) and lets any number of streams run the path at once, each in
// its own scratch, where one context-owned buffer would need a slot per stream and
// occupy its memory for the context's lifetime. The pool keeps up to one call's scratch
// cached between calls (its release threshold), so steady-state calls do not map memory.
#pragma once

#include <algorithm>
#include <cstdint>

#include <cuda_runtime.h>

#include "common/dtype.hpp"
#include "cuda/cuda_backend.hpp"

namespace spinfer::cuda {

class DeviceContext;
struct DeviceMatrix;

// Bytes of the decoded slab a call may hold (the slab is at least one GroupTile row): a
// third of the L2 cache, so that the GEMM reads the slab the decode has just written from
// L2 and the next slab's decode overwrites it there (the same scratch addresses), instead
// of a dense W going through DRAM twice; at most kDenseSlabBudget.
inline constexpr uint64_t kDenseSlabBudget = uint64_t(64) << 20;
inline uint64_t dense_slab_budget_for_l2(int64_t l2_bytes) {
  return std::clamp<uint64_t>(uint64_t(std::max<int64_t>(l2_bytes, 0)) / 3, uint64_t(4) << 20,
                              kDenseSlabBudget);
}
// The cuBLAS workspace carved from the same scratch: NVIDIA's recommended size for
// Hopper (smaller ones make cuBLAS pick slower kernels there); 4 MiB before it.
inline constexpr uint64_t kCublasWorkspaceHopper = uint64_t(32) << 20;
inline constexpr uint64_t kCublasWorkspaceOther = uint64_t(4) << 20;

// How a call cuts W: slabs of `group_rows_per_slab` GroupTile rows (the last may be
// shorter), each decoded into [64 * group_rows_per_slab, ld] at the start of the scratch
// after the cuBLAS workspace.
struct DenseSlabPlan {
  int64_t ld = 0;                   // slab leading dimension: cols rounded up to 64
  int64_t group_rows_per_slab = 0;  // >= 1
  int64_t slabs = 0;                // GEMMs (and decodes) of the call
  uint64_t slab_bytes = 0;          // one slab, as allocated
  uint64_t workspace_bytes = 0;     // cuBLAS workspace, first in the scratch
  // What a call allocates: 256 bytes of slack to align the cuBLAS workspace to 256 bytes
  // (cuBLAS needs it; the pool does not promise it in so many words).
  uint64_t scratch_bytes() const { return workspace_bytes + slab_bytes + 256; }
};

inline DenseSlabPlan plan_dense_slabs(int64_t rows, int64_t cols, uint64_t slab_budget,
                                      uint64_t cublas_workspace) {
  DenseSlabPlan p;
  const int64_t group_rows = (rows + 63) / 64;
  p.ld = (cols + 63) / 64 * 64;  // 128-byte rows: aligned loads for the GEMM
  const uint64_t per_group_row = uint64_t(p.ld) * 64 * 2;
  p.group_rows_per_slab = std::clamp<int64_t>(int64_t(slab_budget / per_group_row), 1, group_rows);
  p.slabs = (group_rows + p.group_rows_per_slab - 1) / p.group_rows_per_slab;
  p.slab_bytes = uint64_t(p.group_rows_per_slab) * per_group_row;
  p.workspace_bytes = (cublas_workspace + 255) / 256 * 256;
  return p;
}

// Per-context state of the dense path: the cuBLAS handle (one per context, its use
// serialised by a mutex: contexts are shared by host threads) and the scratch pool.
// Made with the context; when cuBLAS or the pool cannot be set up the context still
// works and the dense path is unavailable (dense_gemm_ready false, dense_gemm_why says
// why).
struct DenseGemm;
DenseGemm* create_dense_gemm(int device, int compute_major);
bool dense_gemm_ready(const DenseGemm& d);
const char* dense_gemm_why(const DenseGemm& d);
// The plan of a call on this context (its cuBLAS workspace size).
DenseSlabPlan dense_slab_plan(const DenseGemm& d, int64_t rows, int64_t cols);
// Tests: a smaller slab budget (default kDenseSlabBudget) makes small matrices take
// several slabs. Not for use while calls run on the context.
void set_dense_slab_budget(DenseGemm& d, uint64_t bytes);
uint64_t dense_slab_budget(const DenseGemm& d);

// Writes GroupTile rows [first_group_row, first_group_row + group_rows) of the matrix,
// dense and row-major, into `slab` (slab row 0 = matrix row 64 * first_group_row):
// every row of the range that is a row of W, columns [0, round8(cols)) (zeros past cols);
// rows past rows(W) are not written. `slab` 16-byte aligned, ld a multiple of 8 and at
// least round8(cols). Asynchronous on `stream`; never allocates.
cudaError_t launch_decode_dense(const DeviceMatrix& w, int64_t first_group_row, int64_t group_rows,
                                uint16_t* slab, int64_t ld, cudaStream_t stream);

// Y = X * W^T (+ bias) by the dense path; arguments as spmm() (already validated there;
// the current device is the context's). Throws OUT_OF_MEMORY when the scratch cannot be
// had, CUDA_ERROR on a failed launch or cuBLAS call.
void dense_spmm(DeviceContext& ctx, const DeviceMatrix& w, const void* x, int64_t n, int64_t ldx,
                const void* bias, void* y, int64_t ldy, DType dtype, cudaStream_t stream);

}  // namespace spinfer::cuda
