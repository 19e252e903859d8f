// The warp-K SMBD SpMM kernel (sm_90) for decode-sized token tiles (8 and 16): the register
// decode of spmm_smbd.cuh (SpInfer, Fan et al., EuroSys '25, §4.2-4.3), with each warp
// decoding whole GroupTiles, so the per-GroupTile work that is not decode (scan, barrier
// waits, copy issue) is paid once per GroupTile instead of once per warp and GroupTile.
//
// Map
//   - One block = 4 decoding warps + 1 producer warp, a 64-row strip of Y^T for TILE_N
//     tokens over a slice of the K GroupTiles (as spmm_smbd.cuh). A pipeline stage holds
//     kWarpKTiles consecutive GroupTiles of the strip; warp w decodes GroupTile w of every
//     stage, all four of its TCTile rows, into its own 64 x TILE_N accumulator. The four
//     partial sums meet in shared memory at the end (the warps split K).
//   - Producer warp: per stage one bulk copy for the four runs of values (they are
//     contiguous in the matrix), one for their 4 x 64 bitmaps, and the X tiles by 16-byte
//     cp.async; lane 0 writes where each GroupTile's run starts in the stage (the header)
//     before its arrive, which releases it. Stages sized at launch by the matrix's longest
//     run (plan_warp_k_stages in spmm_dispatch.hpp).
//   - Decoding warp: waits on the stage's `full` mbarrier, scans its GroupTile's 128
//     bitmap halves (a 5-step warp scan), decodes and multiplies row by row
//     (smbd_multiply_stage), arrives on the stage's `empty` mbarrier.
//   - Epilogue: the warps' partial tiles summed in shared memory, then smbd_store_tile.
// No validation here: the entry (spmm.cu) checks everything first, and launches this
// kernel only on compute capability 9.0 (bulk copies, mbarrier transaction counts).
#pragma once

#include <cstdint>

#include "cuda/spmm_smbd.cuh"
#include "cuda/spmm_smbd_specialised.cuh"

namespace spinfer::cuda {

static_assert(kWarpKTiles == kSmbdThreads / 32, "one GroupTile per decoding warp and stage");

// Resident blocks the registers are capped for: 5 at tile 8 (72 registers, no spills, the
// same SASS length as at 96; ncu counted 3 blocks, 22 % of the warps, on an H100 where the
// decoders were the limit), 3 at tile 16 (5 would spill).
template <int TILE_N>
constexpr int warp_k_min_blocks() { return TILE_N == 8 ? 5 : 3; }

// Shared memory for the warps' partial tiles in the epilogue: placed after the output tile
// of smbd_store_tile, [warp][row][ns][lane] float4.
template <int TILE_N>
constexpr int warp_k_reduce_at() { return (smbd_out_bytes<TILE_N>() + 15) / 16 * 16; }
template <int TILE_N>
constexpr int warp_k_epilogue_bytes() {
  return warp_k_reduce_at<TILE_N>() + kWarpKTiles * 4 * (TILE_N / 8) * 32 * 16;
}

// Layout: the X tiles of all stages (kWarpKTiles per stage, SmbdLayout rows padded to
// 144 bytes), then per stage (stage_bytes): values (16-byte front pad, the runs, slack;
// value_bytes) | bitmaps [GroupTile][half][64] | header (byte offset of each GroupTile's
// run from the stage's first value).
template <typename T, int TILE_N>
__global__ void __launch_bounds__(kSpecialisedThreads, warp_k_min_blocks<TILE_N>())
    spmm_smbd_warp_k_kernel(const SmbdParams p) {
#if SPINFER_SMBD_BULK
  static_assert(TILE_N == 8 || TILE_N == 16, "the warp-K kernel serves token tiles 8 and 16");
  using L = SmbdLayout<TILE_N, false>;
  constexpr int kNS = TILE_N / 8;
  constexpr uint32_t kBitmapBytes = kWarpKTiles * L::kBitmapBytes;
  const int stages = p.stages;  // 2 .. kSmbdMaxStages
  const uint32_t stage_bytes = p.stage_bytes, bitmap_at = p.value_bytes,
                 header_at = bitmap_at + kBitmapBytes;
  extern __shared__ __align__(16) unsigned char smem[];
  unsigned char* stage0 = smem + stages * kWarpKTiles * L::kXBytes;
  __shared__ __align__(8) uint64_t bars[2 * kSmbdMaxStages];  // full, empty
  // Per decoding warp: shared address where each bitmap half's values start, [half][64].
  __shared__ __align__(16) uint32_t starts[kWarpKTiles][128];

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t gm = blockIdx.x;
  const int64_t n0 = int64_t(blockIdx.y) * TILE_N;
  const int64_t gk_begin = int64_t(blockIdx.z) * p.tiles_per_split;
  const int64_t gk_end = min(p.group_cols, gk_begin + int64_t(p.tiles_per_split));
  const int iters = int(gk_end - gk_begin);                        // GroupTiles of the slice
  const int n_stages = (iters + kWarpKTiles - 1) / kWarpKTiles;    // stages the slice uses
  const int n_valid = int(min(int64_t(TILE_N), p.n - n0));
  const uint32_t x_base = ptx::smem_addr(smem), stage_base = ptx::smem_addr(stage0);
  const uint32_t full0 = ptx::smem_addr(bars), empty0 = full0 + 8 * kSmbdMaxStages;

  smbd_zero_padding_rows<L, TILE_N, kSpecialisedThreads>(smem, n_valid, stages * kWarpKTiles);
  if (tid == 0) {
    for (int s = 0; s < stages; ++s) {
      ptx::mbarrier_init(full0 + 8 * s, 1 + 32);  // expect_tx + each producer lane's X
      ptx::mbarrier_init(empty0 + 8 * s, kWarpKTiles);
    }
    ptx::mbarrier_init_fence();
  }
  __syncthreads();

  float acc[4][1][kNS][4];  // [TCTile row][one set][n-subtile][fragment]
#pragma unroll
  for (int r = 0; r < 4; ++r)
#pragma unroll
    for (int i = 0; i < kNS; ++i) acc[r][0][i][0] = acc[r][0][i][1] = acc[r][0][i][2] = acc[r][0][i][3] = 0.f;

  if (warp == kWarpKTiles) {
    // ---------------- producer warp ----------------
    const T* x = static_cast<const T*>(p.x);
    const int64_t group_base = gm * p.group_cols + gk_begin;  // global GroupTile of tile 0
    const uint64_t* offs = p.group_offsets + group_base;      // offs[j], j in [0, iters]
    // X reads stay inside the caller's [n, K] block: rows below n_valid only, and only the
    // matrix's last K-tile can be ragged; that one is written by plain stores, zero past K.
    const int ragged_tile = (p.k % 64 != 0 && gk_end == p.group_cols) ? iters - 1 : -1;
    // Lanes 0..kWarpKTiles hold the group offsets of a stage's tiles, one stage ahead.
    const auto load_offsets = [&](int stage_index) {
      const int t = min(stage_index * kWarpKTiles + lane, iters);
      return lane <= kWarpKTiles ? __ldg(offs + t) : uint64_t(0);
    };
    uint64_t off_cur = load_offsets(0), off_nxt = n_stages > 1 ? load_offsets(1) : 0;
    StageRing ring;
    for (int j = 0; j < n_stages; ++j) {
      const int s = ring.stage, g0 = j * kWarpKTiles, count = min(kWarpKTiles, iters - g0);
      const uint64_t lo = __shfl_sync(0xffffffffu, off_cur, 0);
      const uint64_t hi = __shfl_sync(0xffffffffu, off_cur, count);
      const uint32_t rel = uint32_t(off_cur - lo) * 2u;  // lane w < count: run w's byte offset
      const uint32_t rel1 = __shfl_sync(0xffffffffu, rel, 1), rel2 = __shfl_sync(0xffffffffu, rel, 2),
                     rel3 = __shfl_sync(0xffffffffu, rel, 3);
      if (j >= stages) ptx::mbarrier_wait(empty0 + 8 * s, ring.phase ^ 1u);
      const uint32_t s_val = stage_base + s * stage_bytes;
      const uint32_t full = full0 + 8 * s;
      if (lane == 0) {
        *reinterpret_cast<uint4*>(stage0 + s * stage_bytes + header_at) = make_uint4(0, rel1, rel2, rel3);
        const uint32_t value_bytes = uint32_t(hi - lo) * 2u;
        ptx::mbarrier_arrive_expect_tx(full, value_bytes + count * L::kBitmapBytes);
        if (value_bytes) ptx::bulk_copy(s_val + L::kValuePad, p.values + lo, value_bytes, full);
        ptx::bulk_copy(s_val + bitmap_at, p.bitmaps + (group_base + g0) * 64,
                       count * L::kBitmapBytes, full);
      }
      for (int t = 0; t < count; ++t) {
        const int64_t k0 = (gk_begin + g0 + t) * 64;
        const int xt = s * kWarpKTiles + t;  // X tile index in shared memory
        if (g0 + t != ragged_tile) {
          // Chunk i: row i / 8, 16-byte chunk i % 8 (a pass reads 4 whole rows).
          for (int i = lane; i < n_valid * 8; i += 32) {
            const int r = i >> 3, c = i & 7;
            ptx::cp_async_16(x_base + xt * L::kXBytes + L::x_offset(r, c),
                             x + (n0 + r) * p.ldx + k0 + c * 8, 16);
          }
        } else {
          smbd_store_ragged_x<T, L>(smem + xt * L::kXBytes, p, n0, k0, n_valid, lane, 32);
        }
      }
      ptx::cp_async_mbarrier_arrive_noinc(full);  // every lane, once its copies have landed
      off_cur = off_nxt;
      if (j + 2 < n_stages) off_nxt = load_offsets(j + 2);
      ring.next(stages);
    }
  } else {
    // ---------------- decoding warps ----------------
    const SmbdLane me = smbd_lane(lane);
    uint32_t* my_starts = starts[warp];
    StageRing ring;
    for (int j = 0; j < n_stages; ++j) {
      const int s = ring.stage;
      if (j * kWarpKTiles + warp < iters) {
        ptx::mbarrier_wait(full0 + 8 * s, ring.phase);
        const unsigned char* st = stage0 + s * stage_bytes;
        const uint32_t* words =
            reinterpret_cast<const uint32_t*>(st + bitmap_at + warp * L::kBitmapBytes);
        const uint32_t run = reinterpret_cast<const uint32_t*>(st + header_at)[warp];
        // Where each bitmap half's values start (the block kernel's scan, on one warp's tile).
        const SmbdStarts at =
            smbd_scan_starts(words, stage_base + s * stage_bytes + L::kValuePad + run, lane);
        *reinterpret_cast<uint2*>(my_starts + 2 * lane) = make_uint2(at.low0, at.low1);
        *reinterpret_cast<uint2*>(my_starts + 64 + 2 * lane) = make_uint2(at.high0, at.high1);
        __syncwarp();  // starts published; ldmatrix and mma (.sync.aligned) need the warp whole
        const uint32_t s_x = x_base + (s * kWarpKTiles + warp) * L::kXBytes;
#pragma unroll
        for (int r = 0; r < 4; ++r)
          smbd_multiply_stage<T, TILE_N, 1>(words, my_starts + me.upper * 64 + r * 16, s_x, me, r,
                                            acc[r]);
        __syncwarp();  // every lane has read the stage and the starts
        if (lane == 0) ptx::mbarrier_arrive(empty0 + 8 * s);
      }
      ring.next(stages);
    }
  }

  // ---- epilogue: sum the four warps' partial tiles, then store ----
  __syncthreads();  // no warp reads the stages any more
  float4* part = reinterpret_cast<float4*>(smem + warp_k_reduce_at<TILE_N>());
  if (warp < kWarpKTiles) {
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
      for (int ns = 0; ns < kNS; ++ns)
        part[((warp * 4 + r) * kNS + ns) * 32 + lane] =
            make_float4(acc[r][0][ns][0], acc[r][0][ns][1], acc[r][0][ns][2], acc[r][0][ns][3]);
  }
  __syncthreads();
  float sum[kNS][4] = {};
  if (warp < kWarpKTiles) {
    // Warp w takes TCTile row w (smbd_store_tile's fragment layout), warps in a fixed order.
#pragma unroll
    for (int v = 0; v < kWarpKTiles; ++v)
#pragma unroll
      for (int ns = 0; ns < kNS; ++ns) {
        const float4 q = part[((v * 4 + warp) * kNS + ns) * 32 + lane];
        sum[ns][0] += q.x;
        sum[ns][1] += q.y;
        sum[ns][2] += q.z;
        sum[ns][3] += q.w;
      }
  }
  smbd_store_tile<T, TILE_N>(p, sum, smem, n_valid);
#else
  __trap();  // launched only on sm_90 (the entry checks the device)
#endif
}

}  // namespace spinfer::cuda
