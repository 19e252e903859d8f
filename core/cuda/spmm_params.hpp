// Arguments of the SMBD SpMM kernel and its launchers (plain C++, no CUDA headers).
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "common/dtype.hpp"
#include "cuda/cuda_backend.hpp"

namespace spinfer::cuda {

// Most pipeline stages of a kernel whose stages are sized at launch (the specialised one).
inline constexpr int kSmbdMaxStages = 16;
// GroupTiles per pipeline stage of the warp-K kernel: one per decoding warp.
inline constexpr int kWarpKTiles = 4;
// A split-K workspace slot (device_context.hpp): fp32 partial tiles and arrival counters.
// The split planner keeps within them.
inline constexpr size_t kSplitKSlotPartialBytes = size_t(16) << 20;  // 16 MiB
inline constexpr size_t kSplitKSlotCounters = 8192;
// Dynamic shared memory such a kernel may be given (sm_90 allows 227 KiB per block,
// static shared memory included).
inline constexpr int kSmbdMaxDynamicSmem = 200 * 1024;
// Shared memory one block may use on sm_90, static included, and a bound on the block
// kernel's static shared memory (value starts, mbarriers, epilogue flag: 0.6 KiB): the
// block kernel's fixed stages must fit their sum.
inline constexpr int kSmbdMaxBlockSmem = 227 * 1024;
inline constexpr int kSmbdStaticSmemBound = 1024;

struct SmbdParams {
  const uint16_t* values;         // device, 16-byte aligned
  const uint64_t* bitmaps;        // device
  const uint64_t* group_offsets;  // device
  const void* x;                  // [n, k], leading dimension ldx (multiple of 8), 16-byte aligned
  const void* bias;               // [m] or nullptr
  void* y;                        // [n, m], leading dimension ldy (multiple of 8), 16-byte aligned
  int64_t m, k, n, ldx, ldy;
  int64_t group_cols;   // GK = ceil(k / 64)
  int tiles_per_split;  // GroupTiles along K per blockIdx.z slice
  float* partials;      // split-K: [tile][slice][tile_n][64] fp32, else unused
  unsigned* counters;   // split-K: one per (blockIdx.x, blockIdx.y) tile, zero between launches
  // Specialised kernel: stages of stage_bytes each, values first (value_bytes), from
  // plan_stages (spmm_dispatch.hpp); unused by the block kernels.
  int stages = 0;
  uint32_t stage_bytes = 0, value_bytes = 0;
};

// Grid of one launch: x = GroupTile rows of W, y = token tiles, z = K slices.
struct SmbdGrid {
  unsigned group_rows = 1, token_tiles = 1, split_k = 1;
};

// Launchers (spmm_launch_*.cu): typed by dtype, asynchronous on `stream`; never allocate
// or synchronise; return the launch status. `tile_n` is 8, 16, 32 or 64, or 128 or 256
// for wgmma (kernel_serves, spmm_dispatch.hpp); `kernel` is block, specialised, wgmma or
// warp_k (all but block only on compute capability 9.0).
cudaError_t launch_spmm_smbd(SpmmKernel kernel, DType dtype, int tile_n, const SmbdParams& p,
                             SmbdGrid grid, cudaStream_t stream);

// Raises the dynamic shared-memory limit of every kernel variant on the current device
// (`with_specialised`: the sm_90 kernels too).
cudaError_t prepare_spmm_smbd(bool with_specialised);

// Resident blocks per SM of a variant (current device), >= 1.
int spmm_smbd_blocks_per_sm(SpmmKernel kernel, int tile_n);

}  // namespace spinfer::cuda
