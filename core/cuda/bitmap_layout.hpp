// The device layout of a matrix's bitmaps (docs/format.md, "On the GPU"): per GroupTile
// the 64 low 32-bit words first, then the 64 high words, so that a lane of the SpMM
// kernel loads the four words of its half of a TCTile row with one 16-byte shared load;
// inside each word the bits of a lane's pair sit 8 apart (smbd_half_to_device in
// cuda/smbd_decode.hpp), which makes the decode's selector one multiply-add.
// Same size as the file layout (64 uint64 per GroupTile); values and offsets unchanged.
#pragma once

#include <cstdint>
#include <vector>

#include <cuda_runtime.h>

namespace spinfer::cuda {

inline constexpr int kBitmapWordsPerGroup = 128;  // uint32 words per GroupTile on the device

// File layout -> device layout, in place, for `groups` GroupTiles, asynchronously on `s`.
cudaError_t launch_split_bitmap_words(uint64_t* bitmaps, int64_t groups, int sm_count,
                                      cudaStream_t s);

// Device layout -> file layout, in place, on the host (after a download).
void join_bitmap_words(std::vector<uint64_t>& bitmaps);

}  // namespace spinfer::cuda
