// The warp-specialised SMBD SpMM kernel (sm_90): Y = X * W^T with W in TCA-BME, the same
// register decode as spmm_smbd.cuh (SpInfer, Fan et al., EuroSys '25, §4.2-4.3), with the
// work that is not decode taken off the decoding warps.
//
// Map
//   - One block = 4 decoding warps + 1 producer warp; the block owns a 64-row strip of Y^T
//     for TILE_N tokens over a slice of the K GroupTiles, as in spmm_smbd.cuh.
//   - Producer warp: issues every copy of a GroupTile (values and bitmaps by bulk copies,
//     X by 16-byte cp.async from its 32 lanes, each lane's completion an arrival: one
//     small bulk copy per token row was slow) on the stage's `full` mbarrier, stages - 2
//     tiles ahead; when a tile has landed it scans the tile's 128 bitmap halves once (a
//     5-step warp scan) and publishes where each half's values start, then arrives on the
//     stage's `ready` mbarrier. (In the block kernel every warp repeats that scan.)
//   - Stages sized at launch by the matrix's longest GroupTile run (below).
//   - Decoding warps: wait on `ready`, decode and multiply (smbd_multiply_stage), arrive
//     on the stage's `empty` mbarrier. No block-wide barrier inside the main loop, so
//     warps drift instead of waiting for the slowest one.
//   - Epilogue: smbd_store_tile (split-K partials in slice order, bias, rounding).
// No validation here: the entry (spmm.cu) checks everything first, and launches this
// kernel only on compute capability 9.0 (bulk copies and mbarrier transaction counts).
#pragma once

#include <cstdint>

#include "cuda/spmm_smbd.cuh"

namespace spinfer::cuda {

inline constexpr int kSpecialisedThreads = kSmbdThreads + 32;  // + the producer warp

template <int TILE_N>
constexpr int specialised_min_blocks() { return TILE_N <= 32 ? 5 : 4; }

// A pipeline position: stage index and the parity of its current use.
struct StageRing {
  int stage = 0;
  uint32_t phase = 0;
  __device__ __forceinline__ void next(int stages) {
    if (++stage == stages) {
      stage = 0;
      phase ^= 1u;
    }
  }
};

// Stages are sized at launch by the matrix's longest GroupTile run (SmbdParams::stages,
// stage_bytes, value_bytes; plan_stages in spmm_dispatch.hpp), not for a dense tile: the
// copy bandwidth needs bytes in flight, and sparser tiles then mean more tiles in flight.
// Layout: the X tiles of all stages (SmbdLayout, padded rows), then per stage
// (stage_bytes): values (16-byte front pad, run, slack) | bitmaps [half][64] | starts.
template <typename T, int TILE_N>
__global__ void __launch_bounds__(kSpecialisedThreads, specialised_min_blocks<TILE_N>())
    spmm_smbd_specialised_kernel(const SmbdParams p) {
#if SPINFER_SMBD_BULK
  static_assert(TILE_N % 8 == 0 && TILE_N >= 8 && TILE_N <= 64, "TILE_N is 8, 16, 32 or 64");
  using L = SmbdLayout<TILE_N, false>;
  constexpr int kNS = TILE_N / 8;
  constexpr int kAcc = smbd_acc_sets<TILE_N>();
  const int stages = p.stages;  // 3 .. kSmbdMaxStages
  const uint32_t stage_bytes = p.stage_bytes, bitmap_at = p.value_bytes,
                 starts_at = bitmap_at + L::kBitmapBytes;
  // Tiles whose copies are in flight beyond the one being scanned: stages - 2 leaves one
  // stage for the decoders to work on while the producer scans the next.
  const int ahead = stages - 2;
  extern __shared__ __align__(16) unsigned char smem[];
  unsigned char* stage0 = smem + stages * L::kXBytes;  // values, bitmaps, starts of stage 0
  __shared__ __align__(8) uint64_t bars[3 * kSmbdMaxStages];  // full, ready, empty

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t gm = blockIdx.x;
  const int64_t n0 = int64_t(blockIdx.y) * TILE_N;
  const int64_t gk_begin = int64_t(blockIdx.z) * p.tiles_per_split;
  const int64_t gk_end = min(p.group_cols, gk_begin + int64_t(p.tiles_per_split));
  const int iters = int(gk_end - gk_begin);
  const int n_valid = int(min(int64_t(TILE_N), p.n - n0));
  const uint32_t x_base = ptx::smem_addr(smem), stage_base = ptx::smem_addr(stage0);
  const uint32_t full0 = ptx::smem_addr(bars), ready0 = full0 + 8 * kSmbdMaxStages,
                 empty0 = ready0 + 8 * kSmbdMaxStages;

  smbd_zero_padding_rows<L, TILE_N, kSpecialisedThreads>(smem, n_valid, stages);
  if (tid == 0) {
    for (int s = 0; s < stages; ++s) {
      ptx::mbarrier_init(full0 + 8 * s, 1 + 32);  // expect_tx + each producer lane's X
      ptx::mbarrier_init(ready0 + 8 * s, 1);
      ptx::mbarrier_init(empty0 + 8 * s, kSmbdThreads / 32);
    }
    ptx::mbarrier_init_fence();
  }
  __syncthreads();

  float acc[kAcc][kNS][4];
#pragma unroll
  for (int a = 0; a < kAcc; ++a)
#pragma unroll
    for (int i = 0; i < kNS; ++i) acc[a][i][0] = acc[a][i][1] = acc[a][i][2] = acc[a][i][3] = 0.f;

  if (warp == kSmbdThreads / 32) {
    // ---------------- producer warp ----------------
    const T* x = static_cast<const T*>(p.x);
    const int64_t group_base = gm * p.group_cols + gk_begin;  // global GroupTile of tile 0
    const uint64_t* offs = p.group_offsets + group_base;      // offs[j], j in [0, iters]
    // X reads stay inside the caller's [n, K] block: rows below n_valid only, and only the
    // matrix's last K-tile can be ragged; that one is written by plain stores, zero past K.
    const int ragged_tile = (p.k % 64 != 0 && gk_end == p.group_cols) ? iters - 1 : -1;
    // Group offsets of a window of 32 tiles, one pair per lane, loaded ahead of use.
    uint64_t off_lo = 0, off_hi = 0;

    StageRing at_issue, at_scan;
    const auto issue = [&](int j) {
      const int s = at_issue.stage;
      if ((j & 31) == 0) {
        const int t = j + lane;
        off_lo = t < iters ? __ldg(offs + t) : 0;
        off_hi = t < iters ? __ldg(offs + t + 1) : 0;
      }
      const uint64_t lo = __shfl_sync(0xffffffffu, off_lo, j & 31);
      const uint64_t hi = __shfl_sync(0xffffffffu, off_hi, j & 31);
      if (j >= stages) ptx::mbarrier_wait(empty0 + 8 * s, at_issue.phase ^ 1u);
      const uint32_t s_val = stage_base + s * stage_bytes;
      const uint32_t s_x = x_base + s * L::kXBytes;
      const uint32_t full = full0 + 8 * s;
      const bool ragged = j == ragged_tile;
      if (lane == 0) {
        const uint32_t value_bytes = uint32_t(hi - lo) * 2u;
        ptx::mbarrier_arrive_expect_tx(full, value_bytes + L::kBitmapBytes);
        if (value_bytes) ptx::bulk_copy(s_val + L::kValuePad, p.values + lo, value_bytes, full);
        ptx::bulk_copy(s_val + bitmap_at, p.bitmaps + (group_base + j) * 64, L::kBitmapBytes, full);
      }
      const int64_t k0 = (gk_begin + j) * 64;
      if (!ragged) {
        // Chunk i: row i / 8, 16-byte chunk i % 8 (a pass reads 4 whole rows).
        for (int i = lane; i < n_valid * 8; i += 32) {
          const int r = i >> 3, c = i & 7;
          ptx::cp_async_16(s_x + L::x_offset(r, c), x + (n0 + r) * p.ldx + k0 + c * 8, 16);
        }
      } else {
        smbd_store_ragged_x<T, L>(smem + s * L::kXBytes, p, n0, k0, n_valid, lane, 32);
      }
      ptx::cp_async_mbarrier_arrive_noinc(full);  // every lane, once its copies have landed
      at_issue.next(stages);
    };

    // Where the values of every bitmap half of tile j start: lane L counts bitmaps 2L and
    // 2L+1 (both halves), a warp scan turns counts into starts.
    const auto scan = [&]() {
      const int s = at_scan.stage;
      ptx::mbarrier_wait(full0 + 8 * s, at_scan.phase);
      unsigned char* st = stage0 + s * stage_bytes;
      const SmbdStarts at = smbd_scan_starts(reinterpret_cast<const uint32_t*>(st + bitmap_at),
                                             stage_base + s * stage_bytes + L::kValuePad, lane);
      uint32_t* t = reinterpret_cast<uint32_t*>(st + starts_at);
      *reinterpret_cast<uint2*>(t + 2 * lane) = make_uint2(at.low0, at.low1);
      *reinterpret_cast<uint2*>(t + 64 + 2 * lane) = make_uint2(at.high0, at.high1);
      __syncwarp();
      if (lane == 0) ptx::mbarrier_arrive(ready0 + 8 * s);
      at_scan.next(stages);
    };

    int issued = 0;
    for (int j = 0; j < iters; ++j) {
      for (; issued < iters && issued <= j + ahead; ++issued) issue(issued);
      scan();
    }
  } else {
    // ---------------- decoding warps ----------------
    const SmbdLane me = smbd_lane(lane);
    StageRing at;
    for (int j = 0; j < iters; ++j) {
      const int s = at.stage;
      ptx::mbarrier_wait(ready0 + 8 * s, at.phase);
      __syncwarp();  // ldmatrix and mma (.sync.aligned) need the warp whole
      const unsigned char* st = stage0 + s * stage_bytes;
      smbd_multiply_stage<T, TILE_N>(
          reinterpret_cast<const uint32_t*>(st + bitmap_at),
          reinterpret_cast<const uint32_t*>(st + starts_at) + me.upper * 64 + warp * 16,
          x_base + s * L::kXBytes, me, warp, acc);
      __syncwarp();  // every lane has read the stage
      if (lane == 0) ptx::mbarrier_arrive(empty0 + 8 * s);
      at.next(stages);
    }
    if constexpr (kAcc == 2) {
#pragma unroll
      for (int i = 0; i < 4; ++i) acc[0][0][i] += acc[1][0][i];
    }
  }

  __syncthreads();  // no warp reads the stages any more: reuse them for the output tile
  smbd_store_tile<T, TILE_N>(p, acc[0], smem, n_valid);
#else
  __trap();  // launched only on sm_90 (the entry checks the device)
#endif
}

}  // namespace spinfer::cuda
