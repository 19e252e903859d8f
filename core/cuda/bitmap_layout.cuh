// Device-side access to the split bitmap words (cuda/bitmap_layout.hpp).
#pragma once

#include <cstdint>

#include "cuda/bitmap_layout.hpp"
#include "cuda/smbd_decode.hpp"

namespace spinfer::cuda {

// Bitmap b (0..63) of GroupTile g as one 64-bit word in the file's bit order.
__device__ __forceinline__ uint64_t split_bitmap(const uint32_t* words, int64_t g, int b) {
  const uint32_t* w = words + g * kBitmapWordsPerGroup;
  return uint64_t(smbd_half_to_file(w[b])) | (uint64_t(smbd_half_to_file(w[64 + b])) << 32);
}

// Stores `v` (file bit order) as bitmap b of GroupTile g.
__device__ __forceinline__ void store_split_bitmap(uint32_t* words, int64_t g, int b, uint64_t v) {
  uint32_t* w = words + g * kBitmapWordsPerGroup;
  w[b] = smbd_half_to_device(uint32_t(v));
  w[64 + b] = smbd_half_to_device(uint32_t(v >> 32));
}

}  // namespace spinfer::cuda
