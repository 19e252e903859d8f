// The index arithmetic of the dense decode (dense_decode.cu): one thread block per
// GroupTile writes that tile of W, dense and row-major, into a slab. Shared by the kernel
// and a host test that runs a block thread by thread against the host decoder
// (tests/cpu/test_dense_decode.cpp). Plain integer code, no CUDA headers.
//
// A GroupTile (64 x 64) is written as 512 chunks of 8 elements: chunk c is row c / 8,
// columns 8 (c % 8) .. +7, i.e. one row of one BitmapTile, which is one byte of its
// bitmap. Consecutive threads take consecutive chunks, so eight threads store one
// 128-byte row segment with 16-byte stores.
#pragma once

#include <cstdint>

#include "cuda/smbd_decode.hpp"

namespace spinfer::cuda {

inline constexpr int kDenseDecodeThreads = 256;
inline constexpr int kDenseChunks = 64 * 64 / 8;  // chunks of one GroupTile
inline constexpr int kDenseChunksPerThread = kDenseChunks / kDenseDecodeThreads;

SPINFER_HD uint32_t popcount64(uint64_t v) {
#if defined(__CUDA_ARCH__)
  return uint32_t(__popcll(v));
#else
  return uint32_t(__builtin_popcountll(v));
#endif
}

// Bitmap b of a GroupTile in the file's bit order, from its two device words (low word
// b and high word 64 + b of the GroupTile, cuda/bitmap_layout.hpp).
SPINFER_HD uint64_t dense_file_bitmap(uint32_t low, uint32_t high) {
  return uint64_t(smbd_half_to_file(low)) | (uint64_t(smbd_half_to_file(high)) << 32);
}

// Where chunk c (0..511) of a GroupTile lies: its row and first column inside the tile,
// the BitmapTile holding it (index 0..63 in the TCA-BME order: TCTiles row-major, their
// four BitmapTiles column-major) and the shift of its row's byte in that bitmap.
struct DenseChunk {
  int row, col;  // inside the GroupTile
  int bitmap;    // BitmapTile index inside the GroupTile
  int shift;     // 8 * (row inside the BitmapTile)
};
SPINFER_HD DenseChunk dense_chunk(int c) {
  const int row = c >> 3, col = (c & 7) * 8;
  const int tc_row = row >> 4, tc_col = col >> 4;        // TCTile
  const int bm_row = (row >> 3) & 1, bm_col = (col >> 3) & 1;  // BitmapTile inside it
  return {row, col, (tc_row * 4 + tc_col) * 4 + bm_col * 2 + bm_row, (row & 7) * 8};
}

// Index, in the GroupTile's run, of the chunk's first stored value: the values of the
// BitmapTiles before it (`tile_start`, an exclusive scan of their popcounts) and those of
// the rows above it in its own BitmapTile.
SPINFER_HD uint32_t dense_chunk_first(uint32_t tile_start, uint64_t bitmap, int shift) {
  return tile_start + popcount64(bitmap & ((uint64_t(1) << shift) - 1u));
}

// The chunk's 8 elements packed two per word (element 2i low, 2i + 1 high, as a 16-byte
// store lays them out): stored values from `run` in bit order, zero where a bit is 0.
template <typename Run>
SPINFER_HD void dense_chunk_expand(uint32_t bits, uint32_t first, const Run& run, uint32_t out[4]) {
  uint32_t next = first;
  for (int i = 0; i < 4; ++i) {
    uint32_t word = 0;
    for (int h = 0; h < 2; ++h) {
      if ((bits >> (2 * i + h)) & 1u) word |= uint32_t(run[next++]) << (16 * h);
    }
    out[i] = word;
  }
}

// The slab covers GroupTile rows [first_group_row, ...): GroupTile `local` of the launch
// (row-major over the slab's GroupTiles, group_cols per row) is matrix GroupTile
// `group`, and its row r lands on slab row `slab_row0 + r`.
struct DenseGroup {
  int64_t group;      // index into group_offsets / the bitmap words
  int64_t slab_row0;  // slab row of the GroupTile's first row
  int64_t w_row0;     // matrix row of the same
  int64_t col0;       // matrix (and slab) column of its first column
};
SPINFER_HD DenseGroup dense_group(int64_t local, int64_t group_cols, int64_t first_group_row) {
  const int64_t r = local / group_cols, gk = local - r * group_cols;
  const int64_t gm = first_group_row + r;
  return {gm * group_cols + gk, r * 64, gm * 64, gk * 64};
}

// A chunk is stored when its row is a row of W and its first column a column of W. Its
// other columns past cols(W) hold zero bits (docs/format.md, invariant 4), so the slab
// needs ld >= cols rounded up to 8, and gets zeros there.
SPINFER_HD bool dense_chunk_stored(int64_t w_row, int64_t col, int64_t rows, int64_t cols) {
  return w_row < rows && col < cols;
}

}  // namespace spinfer::cuda
