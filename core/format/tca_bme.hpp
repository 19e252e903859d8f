// TCA-BME layout constants and the host-resident encoded matrix (docs/format.md).
#pragma once

#include <cstdint>
#include <vector>

#include "common/dtype.hpp"

namespace spinfer {

inline constexpr uint32_t kFormatVersion = SPINFER_FORMAT_VERSION;
inline constexpr int kGroupTile = 64;   // GroupTile is 64 x 64
inline constexpr int kTCTile = 16;      // TCTile is 16 x 16 (one mma.m16n8k16 A fragment)
inline constexpr int kBitmapTile = 8;   // BitmapTile is 8 x 8 (one uint64)
inline constexpr int kTCTilesPerGroupSide = kGroupTile / kTCTile;                      // 4
inline constexpr int kBitmapsPerTCTile = 4;                                            // 2 x 2
inline constexpr int kBitmapsPerGroup = kTCTilesPerGroupSide * kTCTilesPerGroupSide *
                                        kBitmapsPerTCTile;                             // 64
inline constexpr int kValueAlign = 8;  // GroupTile runs padded to 8 elements (16 bytes)

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline uint64_t round_up(uint64_t a, uint64_t b) { return (a + b - 1) / b * b; }

// Tile grid of an M x K matrix.
struct TileGrid {
  int64_t rows = 0, cols = 0;
  int64_t group_rows() const { return ceil_div(rows, kGroupTile); }  // GM
  int64_t group_cols() const { return ceil_div(cols, kGroupTile); }  // GK
  int64_t groups() const { return group_rows() * group_cols(); }
  int64_t bitmap_count() const { return groups() * kBitmapsPerGroup; }
};

// Position inside a GroupTile of BitmapTile `b` (0..63, storage order):
// TCTile t = b / 4 (row-major 4 x 4), bitmap j = b % 4 (column-major 2 x 2).
inline int bitmap_row_in_group(int b) { return (b / 4) / 4 * kTCTile + (b % 4) % 2 * kBitmapTile; }
inline int bitmap_col_in_group(int b) { return (b / 4) % 4 * kTCTile + (b % 4) / 2 * kBitmapTile; }

// An encoded matrix whose arrays live in host memory.
struct HostMatrix {
  int64_t rows = 0, cols = 0;
  DType dtype = DType::f16;  // storage dtype of values: f16 or bf16
  uint32_t format_version = kFormatVersion;
  int64_t nnz = 0;
  std::vector<uint16_t> values;         // stored elements, see docs/format.md
  std::vector<uint64_t> bitmaps;        // one per BitmapTile
  std::vector<uint64_t> group_offsets;  // groups() + 1 entries

  TileGrid grid() const { return {rows, cols}; }
  uint64_t bytes() const {
    return values.size() * 2 + bitmaps.size() * 8 + group_offsets.size() * 8;
  }
};

}  // namespace spinfer
