// File <-> device layout of the bitmaps (cuda/bitmap_layout.hpp).
#include "cuda/bitmap_layout.cuh"

#include <algorithm>

#include "cuda/smbd_decode.hpp"

namespace spinfer::cuda {
namespace {

// One block of 64 threads per GroupTile: every thread reads its bitmap before any writes.
__global__ void __launch_bounds__(64) split_bitmap_words_kernel(uint64_t* bitmaps, int64_t groups) {
  for (int64_t g = blockIdx.x; g < groups; g += gridDim.x) {
    const uint64_t v = bitmaps[g * 64 + threadIdx.x];
    __syncthreads();
    store_split_bitmap(reinterpret_cast<uint32_t*>(bitmaps), g, int(threadIdx.x), v);
    __syncthreads();
  }
}

}  // namespace

cudaError_t launch_split_bitmap_words(uint64_t* bitmaps, int64_t groups, int sm_count,
                                      cudaStream_t s) {
  if (groups <= 0) return cudaSuccess;
  const unsigned blocks = unsigned(std::min<int64_t>(groups, int64_t(std::max(sm_count, 1)) * 32));
  split_bitmap_words_kernel<<<blocks, 64, 0, s>>>(bitmaps, groups);
  return cudaGetLastError();
}

void join_bitmap_words(std::vector<uint64_t>& bitmaps) {
  std::vector<uint64_t> group(64);
  for (size_t g = 0; g + 64 <= bitmaps.size(); g += 64) {
    const uint32_t* w = reinterpret_cast<const uint32_t*>(bitmaps.data() + g);
    for (int b = 0; b < 64; ++b)
      group[b] = uint64_t(smbd_half_to_file(w[b])) | (uint64_t(smbd_half_to_file(w[64 + b])) << 32);
    std::copy(group.begin(), group.end(), bitmaps.begin() + std::ptrdiff_t(g));
  }
}

}  // namespace spinfer::cuda
