// Validator for encoded matrices: every invariant of docs/format.md, cheapest first,
// and never reads out of bounds even when the arrays disagree with each other.
#include "format/validate.hpp"

#include <algorithm>
#include <bit>
#include <string>

#include "common/error.hpp"

namespace spinfer {
namespace {

[[noreturn]] void corrupt(const std::string& what) {
  throw Error(SPINFER_STATUS_CORRUPT_DATA, "corrupt TCA-BME matrix: " + what);
}

// Mask of the bits of BitmapTile b of GroupTile g that lie inside rows x cols.
uint64_t inside_mask(const TileGrid& grid, int64_t g, int b) {
  const int64_t r0 = g / grid.group_cols() * kGroupTile + bitmap_row_in_group(b);
  const int64_t c0 = g % grid.group_cols() * kGroupTile + bitmap_col_in_group(b);
  const int64_t nr = std::min<int64_t>(kBitmapTile, grid.rows - r0);
  const int64_t nc = std::min<int64_t>(kBitmapTile, grid.cols - c0);
  if (nr <= 0 || nc <= 0) return 0;
  const uint64_t row_bits = nc == 8 ? 0xffu : ((uint64_t(1) << nc) - 1);
  uint64_t mask = 0;
  for (int64_t r = 0; r < nr; ++r) mask |= row_bits << (r * kBitmapTile);
  return mask;
}

}  // namespace

void validate(const HostMatrix& m) {
  if (m.format_version != kFormatVersion)
    throw Error(SPINFER_STATUS_UNSUPPORTED_VERSION,
                "TCA-BME format version " + std::to_string(m.format_version) +
                    " is not supported (this library reads version " +
                    std::to_string(kFormatVersion) + ")");
  if (!is_storage_dtype(m.dtype)) corrupt("storage dtype must be F16 or BF16");
  if (m.rows < 1 || m.cols < 1)
    corrupt("shape " + std::to_string(m.rows) + " x " + std::to_string(m.cols) + " is empty");
  if (m.rows > (int64_t(1) << 31) || m.cols > (int64_t(1) << 31)) corrupt("shape is too large");

  const TileGrid grid = m.grid();
  const auto groups = uint64_t(grid.groups());
  if (m.bitmaps.size() != uint64_t(grid.bitmap_count()))
    corrupt("bitmaps has " + std::to_string(m.bitmaps.size()) + " words, expected " +
            std::to_string(grid.bitmap_count()));
  if (m.group_offsets.size() != groups + 1)
    corrupt("group_offsets has " + std::to_string(m.group_offsets.size()) + " entries, expected " +
            std::to_string(groups + 1));
  if (m.group_offsets[0] != 0) corrupt("group_offsets[0] is not 0");
  if (m.group_offsets[groups] != m.values.size())
    corrupt("last group offset " + std::to_string(m.group_offsets[groups]) +
            " does not equal the number of values " + std::to_string(m.values.size()));

  int64_t nnz = 0;
  for (uint64_t g = 0; g < groups; ++g) {
    const uint64_t begin = m.group_offsets[g], end = m.group_offsets[g + 1];
    if (end < begin || end > m.values.size())
      corrupt("group_offsets are not monotone at GroupTile " + std::to_string(g));
    if (begin % kValueAlign != 0)
      corrupt("GroupTile " + std::to_string(g) + " starts at " + std::to_string(begin) +
              ", not a multiple of 8");
    uint64_t count = 0;
    for (int b = 0; b < kBitmapsPerGroup; ++b) {
      const uint64_t bits = m.bitmaps[g * kBitmapsPerGroup + uint64_t(b)];
      if (bits & ~inside_mask(grid, int64_t(g), b))
        corrupt("BitmapTile " + std::to_string(b) + " of GroupTile " + std::to_string(g) +
                " marks elements outside the " + std::to_string(m.rows) + " x " +
                std::to_string(m.cols) + " matrix");
      count += uint64_t(std::popcount(bits));
    }
    if (end - begin != round_up(count, kValueAlign))
      corrupt("GroupTile " + std::to_string(g) + " has " + std::to_string(count) +
              " bitmap bits but " + std::to_string(end - begin) + " values between its offsets");
    for (uint64_t i = begin; i < begin + count; ++i)
      if (storage_is_zero(m.values[i]))
        corrupt("stored value " + std::to_string(i) + " of GroupTile " + std::to_string(g) +
                " is zero");
    for (uint64_t i = begin + count; i < end; ++i)
      if (m.values[i] != 0) corrupt("padding value " + std::to_string(i) + " is not +0");
    nnz += int64_t(count);
  }
  if (nnz != m.nnz)
    corrupt("recorded nnz " + std::to_string(m.nnz) + " differs from the bitmaps' " +
            std::to_string(nnz));
}

}  // namespace spinfer
