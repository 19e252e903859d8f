// The SpMM kernel: Y = X * W^T with W in TCA-BME (docs/format.md), following the
// Shared Memory Bitmap Decoding (SMBD) of SpInfer (Fan et al., EuroSys '25, §4.2-4.3).
//
// Map
//   - One block (4 warps) computes a 64-row strip of Y^T (one GroupTile row of W) for
//     TILE_N tokens, over a slice of the K GroupTiles (split-K when blockIdx.z > 0).
//   - A STAGES-deep cp.async pipeline brings each GroupTile's values (variable length,
//     16-byte aligned runs), its 64 bitmaps and the matching X tile into shared memory
//     while the warps decode and multiply an earlier stage.
//   - Warp w owns TCTile row w of the GroupTile (16 rows x 64 k). W is operand A of
//     mma.m16n8k16 (Y^T = W * X^T): for BitmapTile j of a TCTile, lane L owns bits 2L and
//     2L+1, so it finds its values at start_j + popcount(bitmap & ((1 << 2L) - 1)).
//   - Epilogue: accumulators go through shared memory; with split-K every block writes
//     fp32 partials to the context workspace and the last block of a tile (atomic
//     counter, reset by that block so graph replays work) sums them in slice order:
//     the result does not depend on which block finishes last.
// No validation here: the entry (spmm.cu) checks everything first.
#pragma once

#include <cstdint>

#include "cuda/ptx.cuh"
#include "cuda/spmm_params.hpp"

namespace spinfer::cuda {


inline constexpr int kSmbdThreads = 128;

// Shared-memory layout of one pipeline stage; sized for the worst case (a dense
// GroupTile), never for a guessed number of non-zeros.
template <int TILE_N>
struct SmbdLayout {
  // 4096 values of a dense GroupTile + 8 of slack: a lane reads value idx+1 even when it
  // only needs idx (the extra read is discarded).
  static constexpr int kValueBytes = (4096 + 8) * 2;
  static constexpr int kBitmapBytes = 64 * 8;
  static constexpr int kXRowBytes = 64 * 2;  // 64 k-values of one token
  static constexpr int kXBytes = TILE_N * kXRowBytes;
  static constexpr int kStageBytes = kValueBytes + kBitmapBytes + kXBytes;
  static constexpr int kOutStride = 64 + 4;  // floats; +4 keeps the fragment stores conflict-free
  static constexpr int kOutBytes = TILE_N * kOutStride * 4;
  static_assert(kStageBytes % 16 == 0, "stages must stay 16-byte aligned");
};

template <int TILE_N, int STAGES>
constexpr int smbd_smem_bytes() {
  using L = SmbdLayout<TILE_N>;
  return (STAGES * L::kStageBytes > L::kOutBytes ? STAGES * L::kStageBytes : L::kOutBytes);
}

template <typename T, int TILE_N, int STAGES>
__global__ void __launch_bounds__(kSmbdThreads) spmm_smbd_kernel(const SmbdParams p) {
  static_assert(TILE_N % 8 == 0 && TILE_N >= 8 && TILE_N <= 64, "TILE_N is 8, 16, 32 or 64");
  using L = SmbdLayout<TILE_N>;
  constexpr int kNS = TILE_N / 8;  // mma n-subtiles
  extern __shared__ __align__(16) unsigned char smem[];
  __shared__ int block_is_last;

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t gm = blockIdx.x;
  const int64_t n0 = int64_t(blockIdx.y) * TILE_N;
  const int slice = blockIdx.z;
  const int64_t gk_begin = int64_t(slice) * p.tiles_per_split;
  const int64_t gk_end = min(p.group_cols, gk_begin + int64_t(p.tiles_per_split));
  const int iters = int(gk_end - gk_begin);
  const int n_valid = int(min(int64_t(TILE_N), p.n - n0));
  const uint32_t smem_base = ptx::smem_addr(smem);
  const T* x = static_cast<const T*>(p.x);
  const uint64_t policy = ptx::evict_first_policy();

  // Token rows past N stay zero in every stage: write them once.
  if (n_valid < TILE_N) {
    const int per_stage = (TILE_N - n_valid) * 8;
    for (int i = tid; i < STAGES * per_stage; i += kSmbdThreads) {
      const int s = i / per_stage, r = i % per_stage;
      *reinterpret_cast<uint4*>(smem + s * L::kStageBytes + L::kValueBytes + L::kBitmapBytes +
                                (n_valid + r / 8) * L::kXRowBytes + (r % 8) * 16) =
          make_uint4(0, 0, 0, 0);
    }
  }

  const int64_t group_base = gm * p.group_cols + gk_begin;  // global GroupTile index of tile 0
  const uint64_t* offs = p.group_offsets + group_base;      // offs[j], j in [0, iters]

  // Issues the copies of K-tile j (values, bitmaps, X) into pipeline stage `stage`.
  auto load_tile = [&](int j, int stage, uint64_t lo, uint64_t hi) {
    const uint32_t s_val = smem_base + stage * L::kStageBytes;
    const uint16_t* g_val = p.values + lo;
    const int chunks = int((hi - lo) >> 3);
    for (int c = tid; c < chunks; c += kSmbdThreads)
      ptx::cp_async_16_policy(s_val + c * 16, g_val + c * 8, policy);
    if (tid < 32)
      ptx::cp_async_16_policy(s_val + L::kValueBytes + tid * 16,
                              p.bitmaps + (group_base + j) * 64 + tid * 2, policy);
    const uint32_t s_x = s_val + L::kValueBytes + L::kBitmapBytes;
    const int64_t k0 = (gk_begin + j) * 64;
    for (int i = tid; i < n_valid * 8; i += kSmbdThreads) {
      const int r = i >> 3, c = i & 7;
      const int64_t kk = k0 + c * 8;
      const int64_t rem = p.k - kk;
      const uint32_t bytes = rem >= 8 ? 16u : (rem > 0 ? uint32_t(rem) * 2u : 0u);
      const T* src = x + (n0 + r) * p.ldx + (bytes ? kk : 0);
      // 16-byte chunk c of row r lives at chunk c ^ (r % 8): ldmatrix rows hit distinct banks.
      ptx::cp_async_16(s_x + r * L::kXRowBytes + ((c ^ (r & 7)) << 4), src, bytes);
    }
  };

  // Prologue: fill STAGES - 1 stages (always commit, so group counting stays uniform).
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < iters) load_tile(s, s, __ldg(offs + s), __ldg(offs + s + 1));
    ptx::cp_async_commit();
  }
  // offs of the next tile to load, prefetched one iteration ahead.
  uint64_t o_cur = (STAGES - 1 <= iters) ? __ldg(offs + STAGES - 1) : 0;
  uint64_t o_nxt = (STAGES <= iters) ? __ldg(offs + STAGES) : 0;

  // Lane constants of the decode.
  const bool upper = lane >= 16;                     // bits 2L, 2L+1 are in the high word
  const uint32_t below_mask = (1u << ((2 * lane) & 31)) - 1u;
  const uint32_t pair_shift = (2 * lane) & 31;
  const uint32_t base_sel = upper ? 0x4432u : 0x4410u;  // picks the 16-bit start of this half

  float acc[kNS][4];
#pragma unroll
  for (int i = 0; i < kNS; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;

  for (int it = 0; it < iters; ++it) {
    ptx::cp_async_wait<STAGES - 2>();
    __syncthreads();  // stage `it` visible to all; stage it-1 free for reuse
    {
      const int j = it + STAGES - 1;
      if (j < iters) {
        load_tile(j, j % STAGES, o_cur, o_nxt);
        o_cur = o_nxt;
        o_nxt = (j + 2 <= iters) ? __ldg(offs + j + 2) : 0;
      }
      ptx::cp_async_commit();
    }

    const int stage = it % STAGES;
    const unsigned char* st = smem + stage * L::kStageBytes;
    const uint16_t* s_val = reinterpret_cast<const uint16_t*>(st);
    const uint64_t* s_bm = reinterpret_cast<const uint64_t*>(st + L::kValueBytes);
    const uint32_t s_x = smem_base + stage * L::kStageBytes + L::kValueBytes + L::kBitmapBytes;

    // Start of every BitmapTile inside the GroupTile's run: lane L scans bitmaps 2L, 2L+1.
    // info = start | (start + popcount(low word)) << 16: the base of lanes 0-15 and 16-31.
    uint32_t info0, info1;
    {
      const ulonglong2 bp = reinterpret_cast<const ulonglong2*>(s_bm)[lane];
      const uint32_t pl0 = __popc(uint32_t(bp.x)), ph0 = __popc(uint32_t(bp.x >> 32));
      const uint32_t pl1 = __popc(uint32_t(bp.y)), ph1 = __popc(uint32_t(bp.y >> 32));
      const uint32_t cnt = pl0 + ph0 + pl1 + ph1;
      uint32_t incl = cnt;
#pragma unroll
      for (int d = 1; d < 32; d <<= 1) {
        const uint32_t t = __shfl_up_sync(0xffffffffu, incl, d);
        if (lane >= d) incl += t;
      }
      const uint32_t s0 = incl - cnt, s1 = s0 + pl0 + ph0;
      info0 = s0 | ((s0 + pl0) << 16);
      info1 = s1 | ((s1 + pl1) << 16);
    }

    uint32_t b_pair[4];  // TILE_N == 8: B fragments of two k-steps
#pragma unroll
    for (int tk = 0; tk < 4; ++tk) {
      // B fragments (X^T) of this k-step for every n-subtile.
      uint32_t b[kNS][2];
      if constexpr (kNS == 1) {
        if ((tk & 1) == 0) {
          // One token tile: chunks 2tk .. 2tk+3 of rows 0-7 give b for k-steps tk and tk+1.
          const int row = lane & 7, chunk = 2 * tk + (lane >> 3);
          ptx::ldmatrix_x4(s_x + row * L::kXRowBytes + ((chunk ^ row) << 4), b_pair[0],
                           b_pair[1], b_pair[2], b_pair[3]);
        }
      } else {
#pragma unroll
        for (int ns = 0; ns < kNS; ns += 2) {
          const int row = (ns + (lane >> 4)) * 8 + (lane & 7);
          const int chunk = 2 * tk + ((lane >> 3) & 1);
          ptx::ldmatrix_x4(s_x + row * L::kXRowBytes + ((chunk ^ (lane & 7)) << 4), b[ns][0],
                           b[ns][1], b[ns + 1][0], b[ns + 1][1]);
        }
      }

      // Decode the A fragment of TCTile (warp, tk) straight into registers.
      uint32_t a[4];
      const uint2* bm = reinterpret_cast<const uint2*>(s_bm + warp * 16 + tk * 4);
#pragma unroll
      for (int jb = 0; jb < 4; ++jb) {
        const uint2 bits = bm[jb];
        const uint32_t word = upper ? bits.y : bits.x;
        const uint32_t info =
            __shfl_sync(0xffffffffu, (jb & 1) ? info1 : info0, warp * 8 + tk * 2 + (jb >> 1));
        const uint32_t idx = __byte_perm(info, 0, base_sel) + __popc(word & below_mask);
        const uint32_t v0 = s_val[idx], v1 = s_val[idx + 1];
        // Two bits (2L, 2L+1) -> which of v0/v1 go to the low/high half, zero elsewhere.
        const uint32_t two = (word >> pair_shift) & 3u;
        const uint32_t sel = __byte_perm(0x22102222u, 0x54101022u, two * 0x22u + 0x10u);
        a[jb] = __byte_perm(v0, v1, sel);
      }

      if constexpr (kNS == 1) {
        ptx::mma_16816<T>(acc[0], a, b_pair[(tk & 1) * 2], b_pair[(tk & 1) * 2 + 1]);
      } else {
#pragma unroll
        for (int ns = 0; ns < kNS; ++ns) ptx::mma_16816<T>(acc[ns], a, b[ns][0], b[ns][1]);
      }
    }
  }

  // ---- epilogue ----
  ptx::cp_async_wait<0>();
  __syncthreads();  // every warp is done with the stages: reuse them for the output tile
  float* out = reinterpret_cast<float*>(smem);
  {
    const int g = lane >> 2, q = lane & 3;
#pragma unroll
    for (int ns = 0; ns < kNS; ++ns) {
      const int n = ns * 8 + 2 * q, m = warp * 16 + g;
      out[n * L::kOutStride + m] = acc[ns][0];
      out[(n + 1) * L::kOutStride + m] = acc[ns][1];
      out[n * L::kOutStride + m + 8] = acc[ns][2];
      out[(n + 1) * L::kOutStride + m + 8] = acc[ns][3];
    }
  }
  __syncthreads();

  const int split = gridDim.z;
  if (split > 1) {
    const int64_t tile = int64_t(blockIdx.y) * gridDim.x + gm;
    float* part = p.partials + tile * split * (TILE_N * 64);
    float4* mine = reinterpret_cast<float4*>(part + int64_t(slice) * (TILE_N * 64));
    for (int i = tid; i < TILE_N * 16; i += kSmbdThreads) {
      const int n = i >> 4, c = i & 15;
      mine[i] = *reinterpret_cast<const float4*>(out + n * L::kOutStride + c * 4);
    }
    __threadfence();
    __syncthreads();
    if (tid == 0) block_is_last = atomicAdd(p.counters + tile, 1u) == unsigned(split - 1);
    __syncthreads();
    if (!block_is_last) return;
    __threadfence();
    // Fixed slice order: the sum is the same whichever block arrives last.
    for (int i = tid; i < TILE_N * 16; i += kSmbdThreads) {
      const int n = i >> 4, c = i & 15;
      float4 s = __ldcg(reinterpret_cast<const float4*>(part) + i);
      for (int z = 1; z < split; ++z) {
        const float4 v = __ldcg(reinterpret_cast<const float4*>(part + int64_t(z) * (TILE_N * 64)) + i);
        s.x += v.x;
        s.y += v.y;
        s.z += v.z;
        s.w += v.w;
      }
      *reinterpret_cast<float4*>(out + n * L::kOutStride + c * 4) = s;
    }
    if (tid == 0) p.counters[tile] = 0;  // ready for the next launch (graph replays too)
    __syncthreads();
  }

  // Round once to T (+ bias) and store 8 consecutive outputs (16 bytes) per thread.
  T* y = static_cast<T*>(p.y);
  const T* bias = static_cast<const T*>(p.bias);
  const int64_t m0 = gm * 64;
  for (int i = tid; i < n_valid * 8; i += kSmbdThreads) {
    const int n = i >> 3, c = i & 7;
    const int64_t mm = m0 + c * 8;
    if (mm >= p.m) continue;
    const float* src = out + n * L::kOutStride + c * 8;
    T* dst = y + (n0 + n) * p.ldy + mm;
    if (mm + 8 <= p.m) {
      alignas(16) T v[8];
#pragma unroll
      for (int e = 0; e < 8; ++e)
        v[e] = ptx::from_float<T>(src[e] + (bias ? ptx::to_float<T>(bias[mm + e]) : 0.f));
      *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(v);
    } else {
      for (int e = 0; mm + e < p.m; ++e)
        dst[e] = ptx::from_float<T>(src[e] + (bias ? ptx::to_float<T>(bias[mm + e]) : 0.f));
    }
  }
}

}  // namespace spinfer::cuda
