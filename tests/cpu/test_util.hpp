// Shared helpers of the C++ tests: random pruned matrices and float64 references.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "common/dtype.hpp"

namespace spinfer::test {

// Random [rows, cols] float matrix (leading dimension ld) in which each element is
// zero with probability `sparsity` and otherwise uniform in [-1, 1] but never zero.
inline std::vector<float> random_sparse(int64_t rows, int64_t cols, int64_t ld, double sparsity,
                                        std::mt19937_64& rng) {
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::uniform_real_distribution<double> keep(0.0, 1.0);
  std::vector<float> m(size_t(rows * ld), 0.0f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      if (keep(rng) < sparsity) continue;
      float v = value(rng);
      if (std::fabs(v) < 1e-3f) v = 0.5f;
      m[size_t(r * ld + c)] = v;
    }
  return m;
}

// The matrix converted element-wise to a 16-bit dtype (or kept as f32) as raw bytes.
inline std::vector<uint16_t> to_storage(const std::vector<float>& m, DType t) {
  std::vector<uint16_t> out(m.size());
  for (size_t i = 0; i < m.size(); ++i) out[i] = float_to_storage(m[i], t);
  return out;
}

// ||a - b|| / ||b|| over float64 vectors.
inline double relative_error(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

}  // namespace spinfer::test
