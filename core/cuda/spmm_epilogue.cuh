// The epilogue shared by the SMBD kernels: the fp32 accumulators of the four decoding
// warps (threads 0-127; any further threads of the block only take part in the barriers)
// go through shared memory; with split-K every block writes its partial tile to the
// context workspace and the last block of a tile (atomic counter, reset by that block so
// graph replays work) sums the partials in slice order, so the result does not depend on
// which block finishes last; then Y = tile (+ bias), rounded once to T, 16-byte stores.
#pragma once

#include <cstdint>

#include "cuda/ptx.cuh"
#include "cuda/spmm_params.hpp"

namespace spinfer::cuda {

inline constexpr int kSmbdThreads = 128;  // the decoding warps of every SMBD kernel

// Floats per row of the output tile in shared memory; +4 keeps the fragment stores
// conflict-free.
inline constexpr int kSmbdOutStride = 64 + 4;

template <int TILE_N>
constexpr int smbd_out_bytes() { return TILE_N * kSmbdOutStride * 4; }

// Called by every thread of the block once no thread reads the pipeline stages any more
// (`smem` is reused for the output tile). acc[ns] is the m16n8 accumulator fragment of
// token subtile ns of warp (threadIdx.x / 32) < 4.
template <typename T, int TILE_N>
__device__ __forceinline__ void smbd_store_tile(const SmbdParams& p, const float (&acc)[TILE_N / 8][4],
                                                unsigned char* smem, int n_valid) {
  constexpr int kNS = TILE_N / 8;
  __shared__ int block_is_last;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const bool decoder = tid < kSmbdThreads;
  const int64_t gm = blockIdx.x;
  const int64_t n0 = int64_t(blockIdx.y) * TILE_N;
  float* out = reinterpret_cast<float*>(smem);
  if (decoder) {
    const int g = lane >> 2, q = lane & 3;
#pragma unroll
    for (int ns = 0; ns < kNS; ++ns) {
      const int n = ns * 8 + 2 * q, m = warp * 16 + g;
      out[n * kSmbdOutStride + m] = acc[ns][0];
      out[(n + 1) * kSmbdOutStride + m] = acc[ns][1];
      out[n * kSmbdOutStride + m + 8] = acc[ns][2];
      out[(n + 1) * kSmbdOutStride + m + 8] = acc[ns][3];
    }
  }
  __syncthreads();

  const int split = gridDim.z;
  if (split > 1) {
    const int slice = blockIdx.z;
    const int64_t tile = int64_t(blockIdx.y) * gridDim.x + gm;
    float* part = p.partials + tile * split * (TILE_N * 64);
    float4* mine = reinterpret_cast<float4*>(part + int64_t(slice) * (TILE_N * 64));
    if (decoder) {
      for (int i = tid; i < TILE_N * 16; i += kSmbdThreads) {
        const int n = i >> 4, c = i & 15;
        mine[i] = *reinterpret_cast<const float4*>(out + n * kSmbdOutStride + c * 4);
      }
    }
    __threadfence();
    __syncthreads();
    if (tid == 0) block_is_last = atomicAdd(p.counters + tile, 1u) == unsigned(split - 1);
    __syncthreads();
    if (!block_is_last) return;
    __threadfence();
    // Fixed slice order: the sum is the same whichever block arrives last.
    if (decoder) {
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
        *reinterpret_cast<float4*>(out + n * kSmbdOutStride + c * 4) = s;
      }
    }
    if (tid == 0) p.counters[tile] = 0;  // ready for the next launch (graph replays too)
    __syncthreads();
  }
  if (!decoder) return;

  // Round once to T (+ bias) and store 8 consecutive outputs (16 bytes) per thread.
  T* y = static_cast<T*>(p.y);
  const T* bias = static_cast<const T*>(p.bias);
  const int64_t m0 = gm * 64;
  for (int i = tid; i < n_valid * 8; i += kSmbdThreads) {
    const int n = i >> 3, c = i & 7;
    const int64_t mm = m0 + c * 8;
    if (mm >= p.m) continue;
    const float* src = out + n * kSmbdOutStride + c * 8;
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
