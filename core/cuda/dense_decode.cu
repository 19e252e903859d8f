// The dense decode kernel of the dense path (dense_gemm.hpp): one block per GroupTile
// stages its run in shared memory with 16-byte loads, scans its 64 bitmaps, and writes
// the 64 x 64 tile as 512 chunks of 8 elements with 16-byte stores (index arithmetic:
// dense_decode.hpp, checked on the host by tests/cpu/test_dense_decode.cpp).
#include <climits>

#include "cuda/dense_decode.hpp"
#include "cuda/dense_gemm.hpp"
#include "cuda/device_matrix.hpp"

namespace spinfer::cuda {
namespace {

constexpr int kMaxGroupValues = 64 * 64;  // a dense GroupTile's run (already a multiple of 8)

struct DecodeArgs {
  const uint16_t* values;
  const uint32_t* words;  // bitmaps in the device layout: 128 words per GroupTile
  const uint64_t* group_offsets;
  int64_t rows, cols, group_cols, first_group_row;
  uint16_t* slab;
  int64_t ld;
};

__global__ void __launch_bounds__(kDenseDecodeThreads) decode_dense_kernel(DecodeArgs a) {
  __shared__ __align__(16) uint16_t run[kMaxGroupValues];
  __shared__ uint64_t bitmap[64];
  __shared__ uint32_t start[64];
  const int t = int(threadIdx.x);
  const DenseGroup grp = dense_group(int64_t(blockIdx.x), a.group_cols, a.first_group_row);

  const uint64_t begin = a.group_offsets[grp.group];
  const uint32_t vectors = uint32_t((a.group_offsets[grp.group + 1] - begin) / 8);
  const uint4* src = reinterpret_cast<const uint4*>(a.values + begin);  // runs start 16-byte aligned
  for (uint32_t i = uint32_t(t); i < vectors; i += kDenseDecodeThreads)
    reinterpret_cast<uint4*>(run)[i] = src[i];

  // Warps 0 and 1 hold the 64 bitmaps and scan their popcounts (warp 1 adds warp 0's
  // total after the barrier).
  if (t < 64) {
    const uint32_t* w = a.words + grp.group * 128;
    const uint64_t b = dense_file_bitmap(w[t], w[64 + t]);
    const uint32_t own = popcount64(b);
    uint32_t inclusive = own;
    for (int d = 1; d < 32; d <<= 1) {
      const uint32_t v = __shfl_up_sync(0xFFFFFFFFu, inclusive, d);
      if ((t & 31) >= d) inclusive += v;
    }
    bitmap[t] = b;
    start[t] = inclusive - own;
  }
  __syncthreads();
  if (t >= 32 && t < 64) start[t] += start[31] + popcount64(bitmap[31]);
  __syncthreads();

#pragma unroll
  for (int i = 0; i < kDenseChunksPerThread; ++i) {
    const DenseChunk c = dense_chunk(t + i * kDenseDecodeThreads);
    const int64_t col = grp.col0 + c.col;
    if (!dense_chunk_stored(grp.w_row0 + c.row, col, a.rows, a.cols)) continue;
    const uint64_t b = bitmap[c.bitmap];
    uint32_t out[4];
    dense_chunk_expand(uint32_t(b >> c.shift) & 0xFFu, dense_chunk_first(start[c.bitmap], b, c.shift),
                       run, out);
    *reinterpret_cast<uint4*>(a.slab + (grp.slab_row0 + c.row) * a.ld + col) =
        make_uint4(out[0], out[1], out[2], out[3]);
  }
}

}  // namespace

cudaError_t launch_decode_dense(const DeviceMatrix& w, int64_t first_group_row, int64_t group_rows,
                                uint16_t* slab, int64_t ld, cudaStream_t stream) {
  const int64_t group_cols = (w.cols + 63) / 64, all_rows = (w.rows + 63) / 64;
  if (first_group_row < 0 || group_rows < 0 || first_group_row + group_rows > all_rows ||
      ld % 8 != 0 || ld < (w.cols + 7) / 8 * 8 || (reinterpret_cast<uintptr_t>(slab) & 15u) != 0)
    return cudaErrorInvalidValue;
  if (group_rows == 0) return cudaSuccess;
  if (group_rows * group_cols > INT_MAX) return cudaErrorInvalidConfiguration;  // grid x limit
  const DecodeArgs args{w.values, reinterpret_cast<const uint32_t*>(w.bitmaps), w.group_offsets,
                        w.rows, w.cols, group_cols, first_group_row, slab, ld};
  decode_dense_kernel<<<unsigned(group_rows * group_cols), kDenseDecodeThreads, 0, stream>>>(args);
  return cudaGetLastError();
}

}  // namespace spinfer::cuda
