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

// The kernel: the override, else the warp-specialised kernel for a single token on a
// device that runs it, else the block kernel. Measured on an H100 (bench/RESULTS.md,
// 2026-12-07, `bench_spmm --quick`): at N = 1 the specialised kernel was faster in 11 of
// 12 cases (up to 1.11x the block kernel); from N = 8 on it was slower (its producer copies
// X with one bulk copy per token row, and small bulk copies are slow), at N = 64 by 1.6-1.8x.
inline SpmmKernel choose_kernel(const SpmmOptions& options, bool has_specialised, int64_t n) {
  if (options.kernel != SpmmKernel::automatic) return options.kernel;
  return has_specialised && n == 1 ? SpmmKernel::specialised : SpmmKernel::block;
}

// The smallest tile that holds every token (decode: N <= 8 -> 8), 64 for long inputs.
// Decoding W costs the same for any tile_n, so fewer, wider token tiles decode W less often.
inline int choose_tile_n(int64_t n, const SpmmOptions& options) {
  if (options.tile_n > 0) return options.tile_n;
  if (n <= 8) return 8;
  if (n <= 16) return 16;
  if (n <= 32) return 32;
  return 64;
}

// Split-K fills the GPU when GroupTile rows x token tiles give fewer blocks than the GPU
// holds at once (small M x N, the decode case). The decode is latency-bound, so the aim is
// every resident block slot busy: take the largest split that still fits one wave when
// that wave is at least 3/4 full, else the smallest split whose waves are at least 3/4
// full on average (a half-empty last wave costs as much as a full one). Each slice keeps
// at least 4 GroupTiles so its pipeline still overlaps.
inline double wave_efficiency(int64_t blocks, int64_t capacity) {
  const double waves = double(blocks) / double(capacity);
  return waves / std::ceil(waves);
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
    const int64_t fill = std::clamp<int64_t>(capacity / blocks, 1, max_split);
    split = fill;
    if (wave_efficiency(blocks * fill, capacity) < 0.75) {
      for (int64_t s = fill + 1; s <= std::min<int64_t>(max_split, 16); ++s) {
        if (wave_efficiency(blocks * s, capacity) >= 0.75) {
          split = s;
          break;
        }
      }
    }
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

// Whether the plan's partial tiles and counters fit a workspace slot.
inline bool plan_fits(const SpmmPlan& plan, int tile_n, size_t partial_floats, size_t counters) {
  const uint64_t tiles = uint64_t(plan.grid.group_rows) * plan.grid.token_tiles;
  return tiles <= counters &&
         tiles * plan.grid.split_k * uint64_t(tile_n) * 64 <= uint64_t(partial_floats);
}

inline SpmmPlan plan_without_split(SpmmPlan plan, int64_t group_cols) {
  plan.grid.split_k = 1;
  plan.tiles_per_split = int(group_cols);
  return plan;
}

}  // namespace spinfer::cuda
