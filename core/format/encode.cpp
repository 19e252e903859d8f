// Host encoder and decoder for TCA-BME (docs/format.md; SpInfer, EuroSys '25, §4.1).
#include "format/encode.hpp"

#include <algorithm>
#include <bit>
#include <string>

#include "common/error.hpp"

namespace spinfer {
namespace {

void check_dense_args(const void* dense, DType dense_dtype, int64_t rows, int64_t cols, int64_t ld) {
  require(dense != nullptr, SPINFER_STATUS_INVALID_ARGUMENT, "dense matrix pointer is NULL");
  require(is_valid(dense_dtype), SPINFER_STATUS_UNSUPPORTED_DTYPE,
          "dense dtype must be F32, F16 or BF16");
  require(rows >= 1 && cols >= 1, SPINFER_STATUS_INVALID_ARGUMENT, [&] {
    return "matrix shape must be at least 1 x 1, got " + std::to_string(rows) + " x " + std::to_string(cols);
  });
  require(rows <= (int64_t(1) << 31) && cols <= (int64_t(1) << 31) &&
              double(rows) * double(cols) < 9.0e15,
          SPINFER_STATUS_INVALID_ARGUMENT, "matrix shape is too large");
  require(ld >= cols, SPINFER_STATUS_SHAPE_MISMATCH, [&] {
    return "leading dimension " + std::to_string(ld) + " is smaller than cols " + std::to_string(cols);
  });
  // rows x ld elements must be addressable: an absurd ld would overflow the indices.
  require(rows == 1 || ld <= (int64_t(1) << 60) / (rows - 1), SPINFER_STATUS_INVALID_ARGUMENT, [&] {
    return "leading dimension " + std::to_string(ld) + " is too large for " + std::to_string(rows) +
           " rows (the extent overflows)";
  });
}

// Element (r, c) of the dense input rounded to the storage dtype.
inline uint16_t load_storage(const void* dense, DType src, int64_t index, DType storage) {
  if (src == storage) return static_cast<const uint16_t*>(dense)[index];
  return float_to_storage(load_as_float(dense, src, index), storage);
}

}  // namespace

HostMatrix encode(const void* dense, DType dense_dtype, int64_t rows, int64_t cols, int64_t ld,
                  DType storage) {
  check_dense_args(dense, dense_dtype, rows, cols, ld);
  require(is_storage_dtype(storage), SPINFER_STATUS_UNSUPPORTED_DTYPE,
          "storage dtype must be F16 or BF16");

  HostMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.dtype = storage;
  const TileGrid grid = m.grid();
  const int64_t groups = grid.groups();
  m.bitmaps.assign(size_t(grid.bitmap_count()), 0);
  m.group_offsets.resize(size_t(groups) + 1);
  m.values.reserve(size_t(rows * cols / 2 + groups * kValueAlign));

  for (int64_t g = 0; g < groups; ++g) {
    const int64_t row0 = g / grid.group_cols() * kGroupTile;
    const int64_t col0 = g % grid.group_cols() * kGroupTile;
    m.group_offsets[size_t(g)] = m.values.size();
    for (int b = 0; b < kBitmapsPerGroup; ++b) {
      const int64_t r0 = row0 + bitmap_row_in_group(b);
      const int64_t c0 = col0 + bitmap_col_in_group(b);
      uint64_t bits = 0;
      for (int r = 0; r < kBitmapTile && r0 + r < rows; ++r) {
        const int64_t base = (r0 + r) * ld + c0;
        for (int c = 0; c < kBitmapTile && c0 + c < cols; ++c) {
          const uint16_t v = load_storage(dense, dense_dtype, base + c, storage);
          if (storage_is_zero(v)) continue;
          bits |= uint64_t(1) << (r * kBitmapTile + c);
          m.values.push_back(v);
        }
      }
      m.bitmaps[size_t(g * kBitmapsPerGroup + b)] = bits;
      m.nnz += std::popcount(bits);
    }
    m.values.resize(round_up(m.values.size(), kValueAlign), 0);
  }
  m.group_offsets[size_t(groups)] = m.values.size();
  m.values.shrink_to_fit();
  return m;
}

void decode(const HostMatrix& m, void* dense, DType dense_dtype, int64_t ld) {
  check_dense_args(dense, dense_dtype, m.rows, m.cols, ld);
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t c = 0; c < m.cols; ++c) store_from_float(dense, dense_dtype, r * ld + c, 0.0f);

  const TileGrid grid = m.grid();
  for (int64_t g = 0; g < grid.groups(); ++g) {
    const int64_t row0 = g / grid.group_cols() * kGroupTile;
    const int64_t col0 = g % grid.group_cols() * kGroupTile;
    uint64_t next = m.group_offsets[size_t(g)];
    for (int b = 0; b < kBitmapsPerGroup; ++b) {
      const int64_t r0 = row0 + bitmap_row_in_group(b);
      const int64_t c0 = col0 + bitmap_col_in_group(b);
      for (uint64_t bits = m.bitmaps[size_t(g * kBitmapsPerGroup + b)]; bits; bits &= bits - 1) {
        const int pos = std::countr_zero(bits);
        const int64_t index = (r0 + pos / kBitmapTile) * ld + c0 + pos % kBitmapTile;
        const uint16_t v = m.values[size_t(next++)];
        if (dense_dtype == m.dtype)
          static_cast<uint16_t*>(dense)[index] = v;
        else
          store_from_float(dense, dense_dtype, index, storage_to_float(v, m.dtype));
      }
    }
  }
}

void decode_rows(const HostMatrix& m, int64_t row0, int64_t count, uint16_t* out) {
  require(row0 >= 0 && count >= 0 && row0 + count <= m.rows, SPINFER_STATUS_INVALID_ARGUMENT,
          "decode_rows: the rows lie outside the matrix");
  std::fill(out, out + count * m.cols, uint16_t(0));
  if (count == 0) return;
  const TileGrid grid = m.grid();
  for (int64_t gm = row0 / kGroupTile; gm <= (row0 + count - 1) / kGroupTile; ++gm)
    for (int64_t gk = 0; gk < grid.group_cols(); ++gk) {
      const int64_t g = gm * grid.group_cols() + gk;
      uint64_t next = m.group_offsets[size_t(g)];
      for (int b = 0; b < kBitmapsPerGroup; ++b) {
        const int64_t r0 = gm * kGroupTile + bitmap_row_in_group(b);
        const int64_t c0 = gk * kGroupTile + bitmap_col_in_group(b);
        for (uint64_t bits = m.bitmaps[size_t(g * kBitmapsPerGroup + b)]; bits; bits &= bits - 1) {
          const int pos = std::countr_zero(bits);
          const int64_t r = r0 + pos / kBitmapTile;
          const uint16_t v = m.values[size_t(next++)];
          if (r >= row0 && r < row0 + count) out[(r - row0) * m.cols + c0 + pos % kBitmapTile] = v;
        }
      }
    }
}

}  // namespace spinfer
