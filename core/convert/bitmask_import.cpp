#include "convert/bitmask_import.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "common/error.hpp"

namespace spinfer::convert {
namespace {

[[noreturn]] void corrupt(const std::string& prefix, const std::string& detail) {
  throw Error(SPINFER_STATUS_CORRUPT_DATA, "sparse-bitmask weight '" + prefix + "': " + detail);
}

// Element i of an integer tensor (I64, I32, U64 or U32; unaligned) as int64.
bool load_int(const TensorRef& t, uint64_t i, int64_t* out) {
  const std::string& dt = t.entry->dtype;
  const uint8_t* p = t.data();
  if (dt == "I64" || dt == "U64") {
    uint64_t v;
    std::memcpy(&v, p + i * 8, 8);
    if (dt == "U64" && v > uint64_t(INT64_MAX)) return false;
    *out = int64_t(v);
  } else if (dt == "I32") {
    int32_t v;
    std::memcpy(&v, p + i * 4, 4);
    *out = v;
  } else if (dt == "U32") {
    uint32_t v;
    std::memcpy(&v, p + i * 4, 4);
    *out = v;
  } else {
    return false;
  }
  return true;
}

bool is_int(const TensorRef& t) {
  const std::string& dt = t.entry->dtype;
  return dt == "I64" || dt == "U64" || dt == "I32" || dt == "U32";
}

// Byte b of row r of the bitmask with the bits past the last column cleared.
inline uint8_t mask_byte(const BitmaskTensor& t, int64_t r, int64_t b) {
  uint8_t byte = t.bitmask[r * t.row_bytes + b];
  const int64_t left = t.cols - b * 8;
  if (left < 8) byte &= uint8_t((1u << left) - 1);
  return byte;
}

// Position of element (rr, cc) of a GroupTile: its BitmapTile (storage order) and bit.
inline void tile_position(int64_t rr, int64_t cc, int* bitmap, int* bit) {
  const int t = int(rr / kTCTile) * kTCTilesPerGroupSide + int(cc / kTCTile);
  const int j = int((cc % kTCTile) / kBitmapTile) * 2 + int((rr % kTCTile) / kBitmapTile);
  *bitmap = t * kBitmapsPerTCTile + j;
  *bit = int(rr % kBitmapTile) * kBitmapTile + int(cc % kBitmapTile);
}

}  // namespace

BitmaskTensor check_bitmask_tensor(const std::string& prefix, const TensorRef& shape, const TensorRef& compressed,
                                   const TensorRef& bitmask, const TensorRef& row_offsets) {
  BitmaskTensor t;
  t.name = prefix;
  if (!is_int(shape) || shape.entry->shape.size() != 1 || shape.entry->shape[0] != 2)
    corrupt(prefix, "'" + prefix + ".shape' must be an integer tensor of 2 entries (rows, cols), got " +
                        shape.entry->dtype + " with " + std::to_string(shape.elements()) + " entries");
  int64_t dims[2];
  for (int i = 0; i < 2; ++i)
    if (!load_int(shape, uint64_t(i), &dims[i]) || dims[i] < 1 || dims[i] > (int64_t(1) << 31))
      corrupt(prefix, "'" + prefix + ".shape' holds a dimension outside [1, 2^31]");
  t.rows = dims[0];
  t.cols = dims[1];
  t.row_bytes = (t.cols + 7) / 8;

  if (!float_dtype(compressed.entry->dtype, &t.dtype) || compressed.entry->shape.size() != 1)
    corrupt(prefix, "'" + prefix + ".compressed' must be a one-dimensional F32, F16 or BF16 tensor, got " +
                        compressed.entry->dtype + " with " + std::to_string(compressed.entry->shape.size()) +
                        " dimensions");
  t.values = compressed.data();
  t.value_count = int64_t(compressed.elements());

  const auto& bs = bitmask.entry->shape;
  if ((bitmask.entry->dtype != "U8" && bitmask.entry->dtype != "I8") || bs.size() != 2 ||
      int64_t(bs[0]) != t.rows || int64_t(bs[1]) != t.row_bytes)
    corrupt(prefix, "'" + prefix + ".bitmask' must be U8 [" + std::to_string(t.rows) + ", " +
                        std::to_string(t.row_bytes) + "] for shape [" + std::to_string(t.rows) + ", " +
                        std::to_string(t.cols) + "], got " + bitmask.entry->dtype + " with " +
                        std::to_string(bitmask.elements()) + " bytes");
  t.bitmask = bitmask.data();

  if (!is_int(row_offsets) || row_offsets.entry->shape.size() != 1 || int64_t(row_offsets.entry->shape[0]) != t.rows)
    corrupt(prefix, "'" + prefix + ".row_offsets' must be an integer tensor of " + std::to_string(t.rows) +
                        " entries, got " + row_offsets.entry->dtype + " with " +
                        std::to_string(row_offsets.elements()) + " entries");
  t.row_offsets.resize(size_t(t.rows) + 1);
  int64_t running = 0;
  for (int64_t r = 0; r < t.rows; ++r) {
    int64_t given = 0;
    if (!load_int(row_offsets, uint64_t(r), &given) || given != running)
      corrupt(prefix, "row_offsets[" + std::to_string(r) + "] is " + std::to_string(given) +
                          ", but the bitmask's earlier rows hold " + std::to_string(running) + " values");
    t.row_offsets[size_t(r)] = running;
    for (int64_t b = 0; b < t.row_bytes; ++b) running += std::popcount(mask_byte(t, r, b));
  }
  t.row_offsets[size_t(t.rows)] = running;
  if (running != t.value_count)
    corrupt(prefix, "the bitmask marks " + std::to_string(running) + " values but '" + prefix + ".compressed' holds " +
                        std::to_string(t.value_count));
  return t;
}

void expand_rows(const BitmaskTensor& t, int64_t row0, int64_t count, float* out) {
  std::fill(out, out + count * t.cols, 0.0f);
  for (int64_t r = row0; r < row0 + count; ++r) {
    int64_t next = t.row_offsets[size_t(r)];
    for (int64_t b = 0; b < t.row_bytes; ++b)
      for (uint8_t bits = mask_byte(t, r, b); bits; bits &= uint8_t(bits - 1))
        out[(r - row0) * t.cols + b * 8 + std::countr_zero(bits)] = load_float(t.values, t.dtype, next++);
  }
}

HostMatrix import_bitmask(const BitmaskTensor& t, DType storage) {
  HostMatrix m;
  m.rows = t.rows;
  m.cols = t.cols;
  m.dtype = storage;
  const TileGrid grid = m.grid();
  const int64_t gk_count = grid.group_cols();
  m.bitmaps.assign(size_t(grid.bitmap_count()), 0);
  m.group_offsets.assign(size_t(grid.groups()) + 1, 0);
  std::vector<uint64_t> cursor(size_t(gk_count * kBitmapsPerGroup));  // one strip's bitmaps

  // Calls visit(group column, bitmap, bit, storage value) for every stored element of
  // GroupTile row gm, row by row and left to right (so each bitmap's bits come in
  // increasing order).
  const auto walk = [&](int64_t gm, auto&& visit) {
    const int64_t r_end = std::min(t.rows, (gm + 1) * kGroupTile);
    for (int64_t r = gm * kGroupTile; r < r_end; ++r) {
      int64_t next = t.row_offsets[size_t(r)];
      for (int64_t b = 0; b < t.row_bytes; ++b)
        for (uint8_t bits = mask_byte(t, r, b); bits; bits &= uint8_t(bits - 1)) {
          const int64_t c = b * 8 + std::countr_zero(bits);
          const uint16_t v = float_to_storage(load_float(t.values, t.dtype, next++), storage);
          if (storage_is_zero(v)) continue;
          int bitmap = 0, bit = 0;
          tile_position(r % kGroupTile, c % kGroupTile, &bitmap, &bit);
          visit(c / kGroupTile, bitmap, bit, v);
        }
    }
  };

  for (int64_t gm = 0; gm < grid.group_rows(); ++gm) {
    uint64_t* strip = m.bitmaps.data() + gm * gk_count * kBitmapsPerGroup;
    walk(gm, [&](int64_t gk, int bitmap, int bit, uint16_t) {
      strip[gk * kBitmapsPerGroup + bitmap] |= uint64_t(1) << bit;
    });
    // Where each bitmap's run starts in `values`, GroupTile by GroupTile.
    for (int64_t gk = 0; gk < gk_count; ++gk) {
      const int64_t g = gm * gk_count + gk;
      uint64_t at = m.values.size();
      m.group_offsets[size_t(g)] = at;
      for (int b = 0; b < kBitmapsPerGroup; ++b) {
        cursor[size_t(gk * kBitmapsPerGroup + b)] = at;
        const int n = std::popcount(strip[gk * kBitmapsPerGroup + b]);
        at += uint64_t(n);
        m.nnz += n;
      }
      m.values.resize(round_up(at, kValueAlign), 0);
    }
    walk(gm, [&](int64_t gk, int bitmap, int, uint16_t v) {
      m.values[size_t(cursor[size_t(gk * kBitmapsPerGroup + bitmap)]++)] = v;
    });
  }
  m.group_offsets[size_t(grid.groups())] = m.values.size();
  return m;
}

}  // namespace spinfer::convert
