// How a CUDA SpMM is cut into blocks: tokens per block (tile_n) and split-K, chosen
// from the problem and the device with no user tuning; SpmmOptions overrides either.
// Plain host code (no CUDA), so the rules are readable and testable on their own.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "cuda/cuda_backend.hpp"
#include "cuda/spmm_params.hpp"

namespace spinfer::cuda {

struct SpmmPlan {
  SmbdGrid grid;
  int tiles_per_split = 1;  // K GroupTiles per slice
};

// The kernel for a token tile of `tile_n`: the override, else by what was measured on an
// H100 (bench/RESULTS.md, "Update 2026-12-07 (2)", `bench_spmm --quick`, 3 shapes x 4
// sparsities, all kernels in the same run): tile 8 -> block (the specialised kernel was
// 1-12 % slower at N = 1 and 8, the wgmma one 0-6 %); tile 16 -> specialised (up to 1.16x
// the block kernel on large shapes: its stages sized by the matrix keep more bytes in
// flight); tiles 32 and 64 -> wgmma (1.10-1.21x the block kernel at N = 64: one warpgroup
// MMA per k-step instead of 8 mma.sync per warp). Kernels the device lacks fall back to
// block.
//
// Tiles 8 and 16 of a matrix with at most kWarpKMaxDensity non-zeros -> warp-K (H100,
// 2026-12-07 (4), bench/RESULTS.md: at N <= 16 over the quick set, geomean 1.18x / 1.37x /
// 1.50x cuBLAS at 50 / 70 / 90 % sparsity against 1.07x / 1.12x / 1.15x for the block
// kernel; at 30 % it was slower, 0.90x against 0.97x). `density` = nnz / (rows x cols).
inline constexpr double kWarpKMaxDensity = 0.6;

inline SpmmKernel choose_kernel(const SpmmOptions& options, bool has_specialised, bool has_wgmma,
                                int tile_n, double density = 1.0) {
  if (options.kernel != SpmmKernel::automatic) return options.kernel;
  if (tile_n <= 16 && has_specialised && density <= kWarpKMaxDensity) return SpmmKernel::warp_k;
  if (tile_n == 16 && has_specialised) return SpmmKernel::specialised;
  if (tile_n >= 32 && has_wgmma) return SpmmKernel::wgmma;
  return SpmmKernel::block;
}

// Prefill: the dense path (dense_gemm.hpp: decode W once per slab, cuBLAS GEMM) for long
// inputs. THE ONE PLACE its threshold lives. Measured on an H100 (2026-12-07 (4),
// `bench_spmm --quick --ns 128,512,2048`, 3 shapes x 4 sparsities, same run): at N = 128
// the wgmma kernel is faster (0.48-0.59x cuBLAS against 0.26-0.37x), at N = 512 the
// dense path (0.34-0.47x against 0.24-0.32x) and at N = 2048 by far (0.66-0.95x against
// 0.27-0.34x). Only the automatic choice takes it: a tile_n or split_k override asks for
// an SMBD kernel, a kernel override wins.
inline constexpr int64_t kDenseGemmMinTokens = 256;
inline constexpr bool kDenseGemmAutomatic = true;

inline SpmmKernel choose_kernel(const SpmmOptions& options, bool has_specialised, bool has_wgmma,
                                int tile_n, int64_t n, bool has_dense_gemm, double density = 1.0) {
  const bool automatic = options.kernel == SpmmKernel::automatic && options.tile_n == 0 &&
                         options.split_k == 0;
  if (kDenseGemmAutomatic && automatic && has_dense_gemm && tile_n == 64 && n >= kDenseGemmMinTokens)
    return SpmmKernel::dense_gemm;
  return choose_kernel(options, has_specialised, has_wgmma, tile_n, density);
}

// Token tiles an SMBD kernel is built for: 8, 16, 32 and 64 by all but warp-K, which
// serves the decode tiles 8 and 16 only; the wide prefill tiles 128 and 256 by wgmma
// only (one decode of W for 128 / 256 tokens; spmm_smbd.cuh).
inline constexpr int kSmbdTiles[] = {8, 16, 32, 64, 128, 256};
// Index of a tile in kSmbdTiles (per-tile tables), -1 for any other value.
constexpr int smbd_tile_index(int tile_n) {
  for (int i = 0; i < int(sizeof(kSmbdTiles) / sizeof(kSmbdTiles[0])); ++i)
    if (kSmbdTiles[i] == tile_n) return i;
  return -1;
}
constexpr bool is_smbd_tile(int tile_n) { return smbd_tile_index(tile_n) >= 0; }
constexpr bool kernel_serves(SpmmKernel k, int tile_n) {
  if (tile_n > 64) return k == SpmmKernel::wgmma && is_smbd_tile(tile_n);
  return is_smbd_tile(tile_n) && (k != SpmmKernel::warp_k || tile_n <= 16);
}

// The smallest tile that holds every token (decode: N <= 8 -> 8), 64 for long inputs.
// Decoding W costs the same for any tile_n, so fewer, wider token tiles decode W less often.
// The wide tiles (128, 256; wgmma) are taken only when asked for (options.tile_n): long
// inputs take the dense path automatically (kDenseGemmMinTokens) until a measurement on
// an H100 says where the wide tiles beat it.
inline int choose_tile_n(int64_t n, const SpmmOptions& options) {
  if (options.tile_n > 0) return options.tile_n;
  if (n <= 8) return 8;
  if (n <= 16) return 16;
  if (n <= 32) return 32;
  return 64;
}

// Split-K fills the GPU when GroupTile rows x token tiles give fewer blocks than the GPU
// holds at once (small M x N, the decode case), and evens out the waves when there are a
// few more blocks than slots. The split taken is the one of least estimated time: waves x
// (GroupTiles per slice + kSliceOverhead), a partly filled wave costing as much as a full
// one; the overhead stands for a block's pipeline fill and epilogue (split-K partials). On
// a tie the smaller split. Each slice keeps at least 4 GroupTiles so its pipeline still
// overlaps. (Replaced "the smallest split whose waves are 3/4 full", which left
// 28672 x 8192 at N = 8 on 3 blocks per SM at split 1 or 2: 2 or 3 waves where split 5
// takes 6 waves of a fifth of the work each, 0.66x the time by this estimate.)
inline constexpr int64_t kSliceOverhead = 3;

inline double wave_efficiency(int64_t blocks, int64_t capacity) {
  const double waves = double(blocks) / double(capacity);
  return waves / std::ceil(waves);
}

// The estimate above, in GroupTile-times of one block.
inline int64_t split_cost(int64_t blocks, int64_t capacity, int64_t group_cols, int64_t split) {
  const int64_t waves = (blocks * split + capacity - 1) / capacity;
  return waves * ((group_cols + split - 1) / split + kSliceOverhead);
}

inline SpmmPlan plan_spmm_split(int64_t group_rows, int64_t group_cols, int64_t n, int tile_n,
                                int sm_count, int blocks_per_sm, const SpmmOptions& options) {
  SpmmPlan plan;
  const int64_t token_tiles = (n + tile_n - 1) / tile_n;
  const int64_t blocks = group_rows * token_tiles;
  const int64_t max_split = std::clamp<int64_t>(group_cols / 4, 1, 64);
  int64_t split = 1;
  if (options.split_k > 0) {
    split = options.split_k;
  } else {
    const int64_t capacity = int64_t(sm_count) * std::max(1, blocks_per_sm);
    // Splits whose partial tiles a workspace slot holds (more would run unsplit).
    const int64_t slot_splits =
        int64_t(kSplitKSlotPartialBytes / sizeof(float)) / std::max<int64_t>(1, blocks * tile_n * 64);
    const bool counters_fit = blocks <= int64_t(kSplitKSlotCounters);
    for (int64_t s = 2; counters_fit && s <= std::min(max_split, slot_splits); ++s)
      if (split_cost(blocks, capacity, group_cols, s) < split_cost(blocks, capacity, group_cols, split)) split = s;
  }
  split = std::clamp<int64_t>(split, 1, std::min<int64_t>(group_cols, 64));
  const int64_t per_split = (group_cols + split - 1) / split;
  split = (group_cols + per_split - 1) / per_split;  // no empty slice
  plan.grid.group_rows = unsigned(group_rows);
  plan.grid.token_tiles = unsigned(token_tiles);
  plan.grid.split_k = unsigned(split);
  plan.tiles_per_split = int(per_split);
  return plan;
}

// Pipeline stages of the kernels whose stages are sized at launch (specialised, warp-K),
// sized by the matrix's longest GroupTile run (padded values) instead of a dense tile:
// the copy bandwidth needs bytes in flight, and with dense-sized stages a sparser matrix
// had fewer bytes in flight, so its time stopped falling with the sparsity. As many
// stages as fit the SM's shared memory divided among the resident blocks (each also
// holds static and reserved shared memory: kStageOverhead), at least 3 (the specialised
// kernel's producer scans one stage while the decoders work on another) or 2 (warp-K), at
// most kSmbdMaxStages. A stage holds `tiles` GroupTiles (specialised 1, warp-K 4): X tiles
// (tile_n x 64 each, rows padded to 144 bytes) and, in stage_bytes, values (16-byte front
// pad, the runs, 8 values of slack; spmm_smbd.cuh) | 64 bitmaps per tile | the
// specialised kernel's 128 value starts or the warp-K kernel's 16-byte header.
//
// Resident blocks: `blocks_per_sm` is the occupancy query's count, made with the least
// shared memory (the epilogue's). When even the fewest stages do not fit that share, fewer
// blocks are resident, and the plan says how many (blocks_per_sm), so that split-K plans
// its waves with the real count: planning for 4 blocks where 3 fit left the 28672 x 8192
// warp-K launch at 1.13 waves, about 0.6 of the bandwidth (H100, 2026-12-07).
struct StagePlan {
  int stages = 3;
  uint32_t stage_bytes = 0, value_bytes = 0;
  int blocks_per_sm = 1;
};

inline StagePlan plan_stages(SpmmKernel kernel, uint32_t max_group_values, int tile_n,
                             int blocks_per_sm, int64_t smem_per_sm) {
  const bool warp_k = kernel == SpmmKernel::warp_k;
  const uint32_t tiles = warp_k ? kWarpKTiles : 1;
  // Static shared memory (warp-K: mbarriers and value starts, 2.3 KiB) + 1 KiB reserved per block.
  const int64_t kStageOverhead = warp_k ? 4096 : 2048;
  const int min_stages = warp_k ? 2 : 3;
  StagePlan plan;
  plan.value_bytes = (16 + (tiles * max_group_values + 8) * 2 + 15) / 16 * 16;
  plan.stage_bytes = plan.value_bytes + tiles * 64 * 8 + (warp_k ? 16 : 128 * 4);
  const int64_t per_stage = int64_t(tiles) * tile_n * 144 + plan.stage_bytes;
  const auto budget = [&](int blocks) {
    return std::min<int64_t>(smem_per_sm / blocks - kStageOverhead, kSmbdMaxDynamicSmem);
  };
  int blocks = std::max(1, blocks_per_sm);
  while (blocks > 1 && budget(blocks) < min_stages * per_stage) --blocks;
  plan.blocks_per_sm = blocks;
  plan.stages = int(std::clamp<int64_t>(budget(blocks) / per_stage, min_stages, kSmbdMaxStages));
  return plan;
}

// What a split-K plan needs of a workspace slot: one counter per output tile, and one
// fp32 partial tile (tile_n x 64) per output tile and slice.
struct SplitKNeeds {
  uint64_t counters = 0, partial_floats = 0;
};
inline SplitKNeeds split_k_needs(const SpmmPlan& plan, int tile_n) {
  const uint64_t tiles = uint64_t(plan.grid.group_rows) * plan.grid.token_tiles;
  return {tiles, tiles * plan.grid.split_k * uint64_t(tile_n) * 64};
}

// Whether the plan's partial tiles and counters fit a workspace slot.
inline bool plan_fits(const SpmmPlan& plan, int tile_n, size_t partial_floats, size_t counters) {
  const SplitKNeeds need = split_k_needs(plan, tile_n);
  return need.counters <= counters && need.partial_floats <= uint64_t(partial_floats);
}

inline SpmmPlan plan_without_split(SpmmPlan plan, int64_t group_cols) {
  plan.grid.split_k = 1;
  plan.tiles_per_split = int(group_cols);
  return plan;
}

}  // namespace spinfer::cuda
