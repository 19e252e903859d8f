#include "format/stats.hpp"

namespace spinfer {

MatrixStats matrix_stats(int64_t rows, int64_t cols, int64_t nnz, uint64_t values_count,
                         uint64_t bitmaps_count, uint64_t offsets_count) {
  MatrixStats s;
  s.nnz = nnz;
  const double elements = double(rows) * double(cols);
  s.sparsity = elements > 0 ? 1.0 - double(nnz) / elements : 0.0;
  s.bytes = values_count * 2 + bitmaps_count * 8 + offsets_count * 8;
  s.dense_bytes = uint64_t(rows) * uint64_t(cols) * 2;
  s.compression_ratio = s.bytes ? double(s.dense_bytes) / double(s.bytes) : 0.0;
  return s;
}

}  // namespace spinfer
