// Device-side access to the split bitmap words (cuda/bitmap_layout.hpp).
#pragma once

#include <cstdint>

#include "cuda/bitmap_layout.hpp"

namespace spinfer::cuda {

// Bitmap b (0..63) of GroupTile g as one 64-bit word.
__device__ __forceinline__ uint64_t split_bitmap(const uint32_t* words, int64_t g, int b) {
  const uint32_t* w = words + g * kBitmapWordsPerGroup;
  return uint64_t(w[b]) | (uint64_t(w[64 + b]) << 32);
}

__device__ __forceinline__ void store_split_bitmap(uint32_t* words, int64_t g, int b, uint64_t v) {
  uint32_t* w = words + g * kBitmapWordsPerGroup;
  w[b] = uint32_t(v);
  w[64 + b] = uint32_t(v >> 32);
}

}  // namespace spinfer::cuda
