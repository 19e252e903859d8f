// Size and sparsity statistics of an encoded matrix.
#pragma once

#include <cstdint>

namespace spinfer {

struct MatrixStats {
  int64_t nnz = 0;
  double sparsity = 0;       // 1 - nnz / (rows * cols)
  uint64_t bytes = 0;        // values + bitmaps + group offsets
  uint64_t dense_bytes = 0;  // rows * cols * 2
  double compression_ratio = 0;
};

// Statistics from the shape, nnz and array lengths (valid for host or device matrices).
MatrixStats matrix_stats(int64_t rows, int64_t cols, int64_t nnz, uint64_t values_count,
                         uint64_t bitmaps_count, uint64_t offsets_count);

}  // namespace spinfer
