#include "format/prune.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace spinfer {
namespace {

// Magnitude used for ranking: NaN ranks above everything, so it is never pruned.
inline float rank_of(float v) {
  return std::isnan(v) ? std::numeric_limits<float>::infinity() : std::fabs(v);
}

// Prunes one group (`count` rows of `cols` entries, leading dimension ld); `mags` is
// scratch space of at least count * cols floats.
void prune_group(float* w, int64_t count, int64_t cols, int64_t ld, double sparsity, std::vector<float>& mags) {
  const int64_t n = count * cols;
  const int64_t cut = int64_t(std::nearbyint(sparsity * double(n)));  // ties to even
  if (cut <= 0) return;
  float threshold = std::numeric_limits<float>::infinity();  // cut == n: everything goes
  if (cut < n) {
    mags.resize(size_t(n));
    for (int64_t r = 0; r < count; ++r)
      for (int64_t c = 0; c < cols; ++c) mags[size_t(r * cols + c)] = rank_of(w[r * ld + c]);
    // The smallest kept magnitude: entry `cut` (0-based) in increasing order.
    std::nth_element(mags.begin(), mags.begin() + cut, mags.begin() + n);
    threshold = mags[size_t(cut)];
  }
  for (int64_t r = 0; r < count; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      float& v = w[r * ld + c];
      if (rank_of(v) < threshold) v = 0.0f;
    }
}

}  // namespace

int64_t prune_magnitude(float* w, int64_t rows, int64_t cols, int64_t ld, double sparsity, bool per_row) {
  require(w != nullptr, SPINFER_STATUS_INVALID_ARGUMENT, "weights pointer is NULL");
  require(rows >= 1 && cols >= 1 && ld >= cols, SPINFER_STATUS_INVALID_ARGUMENT, [&] {
    return "pruning needs rows, cols >= 1 and ld >= cols, got " + std::to_string(rows) + " x " +
           std::to_string(cols) + " (ld " + std::to_string(ld) + ")";
  });
  require(sparsity >= 0.0 && sparsity < 1.0, SPINFER_STATUS_INVALID_ARGUMENT,
          [&] { return "sparsity must be in [0, 1), got " + std::to_string(sparsity); });
  std::vector<float> mags;
  if (per_row)
    for (int64_t r = 0; r < rows; ++r) prune_group(w + r * ld, 1, cols, ld, sparsity, mags);
  else
    prune_group(w, rows, cols, ld, sparsity, mags);
  int64_t zeros = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) zeros += w[r * ld + c] == 0.0f;
  return zeros;
}

}  // namespace spinfer
