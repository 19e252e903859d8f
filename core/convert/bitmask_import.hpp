// compressed-tensors "sparse-bitmask" weights imported straight into TCA-BME.
//
// The layout (compressed-tensors' BitmaskCompressor) of a weight W [rows, cols] saved
// under the prefix P (the weight's name without ".weight"):
//   P.shape        integer tensor [2]: rows, cols
//   P.compressed   1-D float tensor: the non-zeros of W, row by row, left to right
//   P.bitmask      U8 tensor [rows, ceil(cols / 8)]: bit j (least significant first) of
//                  byte b of row r is 1 iff W[r, 8 b + j] is stored
//   P.row_offsets  integer tensor [rows]: index in P.compressed of row r's first value
// The import walks the bitmask a GroupTile row (64 rows) at a time, so no dense matrix
// is built.
#pragma once

#include <string>
#include <vector>

#include "convert/checkpoint.hpp"
#include "format/tca_bme.hpp"

namespace spinfer::convert {

// The four tensors of one weight, checked against each other.
struct BitmaskTensor {
  std::string name;  // P, for messages
  int64_t rows = 0, cols = 0, row_bytes = 0;
  DType dtype = DType::f32;  // of `values`
  const uint8_t* values = nullptr;
  int64_t value_count = 0;
  const uint8_t* bitmask = nullptr;  // rows x row_bytes
  std::vector<int64_t> row_offsets;  // rows + 1 entries (the last is value_count)
};

// Checks the tensors' dtypes, shapes, and that row_offsets agree with the bitmask and
// the number of values: CORRUPT_DATA naming the tensor and the problem.
BitmaskTensor check_bitmask_tensor(const std::string& prefix, const TensorRef& shape, const TensorRef& compressed,
                                   const TensorRef& bitmask, const TensorRef& row_offsets);

// The TCA-BME matrix of `t` with values rounded to `storage` (a value that rounds to
// zero is not stored, as encode() does).
HostMatrix import_bitmask(const BitmaskTensor& t, DType storage);

// Rows [row0, row0 + count) of the dense weight, as floats ([count, cols]).
void expand_rows(const BitmaskTensor& t, int64_t row0, int64_t count, float* out);

}  // namespace spinfer::convert
