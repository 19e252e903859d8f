#include "host/spmm_host.hpp"

#include <algorithm>
#include <bit>
#include <string>
#include <vector>

#include "common/byte_range.hpp"
#include "common/error.hpp"
#include "host/thread_pool.hpp"

namespace spinfer::host {
namespace {

constexpr int64_t kTokenChunk = 64;  // tokens per work item: keeps the accumulators in L1/L2

void check_args(const HostMatrix& w, const void* x, int64_t n, int64_t ldx, const void* bias,
                const void* y, int64_t ldy, DType dtype) {
  require(is_valid(dtype), SPINFER_STATUS_UNSUPPORTED_DTYPE,
          "activation dtype must be F32, F16 or BF16");
  require(n >= 0, SPINFER_STATUS_INVALID_ARGUMENT,
          [&] { return "n (tokens) is negative: " + std::to_string(n); });
  require(ldx >= w.cols, SPINFER_STATUS_SHAPE_MISMATCH, [&] {
    return "ldx " + std::to_string(ldx) +
           " is smaller than the matrix's cols (K = " + std::to_string(w.cols) + ")";
  });
  require(ldy >= w.rows, SPINFER_STATUS_SHAPE_MISMATCH, [&] {
    return "ldy " + std::to_string(ldy) +
           " is smaller than the matrix's rows (M = " + std::to_string(w.rows) + ")";
  });
  if (n == 0) return;
  // n x ld elements must be addressable: absurd sizes would overflow the extents below.
  require(n == 1 || (ldx <= (int64_t(1) << 60) / (n - 1) && ldy <= (int64_t(1) << 60) / (n - 1)),
          SPINFER_STATUS_INVALID_ARGUMENT,
          [&] { return "n (" + std::to_string(n) + ") times ldx or ldy overflows"; });
  require(x != nullptr, SPINFER_STATUS_INVALID_ARGUMENT, "x is NULL");
  require(y != nullptr, SPINFER_STATUS_INVALID_ARGUMENT, "y is NULL");
  const size_t es = dtype_size(dtype);
  const size_t y_bytes = size_t((n - 1) * ldy + w.rows) * es;
  require(!bytes_overlap(y, y_bytes, x, size_t((n - 1) * ldx + w.cols) * es),
          SPINFER_STATUS_INVALID_ARGUMENT, "y overlaps x");
  require(!bytes_overlap(y, y_bytes, bias, bias ? size_t(w.rows) * es : 0),
          SPINFER_STATUS_INVALID_ARGUMENT, "y overlaps bias");
  const size_t align = es;
  require(reinterpret_cast<uintptr_t>(x) % align == 0 && reinterpret_cast<uintptr_t>(y) % align == 0 &&
              reinterpret_cast<uintptr_t>(bias) % align == 0,
          SPINFER_STATUS_MISALIGNED, "x, y and bias must be aligned to their element size");
}

// Value table of the stored elements as float, computed once per call.
std::vector<float> values_as_float(const HostMatrix& w) {
  std::vector<float> out(w.values.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = storage_to_float(w.values[i], w.dtype);
  return out;
}

}  // namespace

void spmm(const HostMatrix& w, const void* x, int64_t n, int64_t ldx, const void* bias, void* y,
          int64_t ldy, DType dtype, int threads) {
  check_args(w, x, n, ldx, bias, y, ldy, dtype);
  if (n == 0) return;

  const std::vector<float> values = values_as_float(w);
  const TileGrid grid = w.grid();
  const int64_t chunks = ceil_div(n, kTokenChunk);

  // One work item = one GroupTile row (64 output features) x one chunk of tokens.
  parallel_for(grid.group_rows() * chunks, threads, [&](int64_t item) {
    const int64_t gm = item / chunks;
    const int64_t t0 = item % chunks * kTokenChunk;
    const int64_t nt = std::min(kTokenChunk, n - t0);
    // xt: this chunk's activations transposed to [K][nt] so a non-zero updates a
    // contiguous run of accumulators.
    std::vector<float> xt(size_t(w.cols * nt));
    for (int64_t t = 0; t < nt; ++t)
      for (int64_t k = 0; k < w.cols; ++k)
        xt[size_t(k * nt + t)] = load_as_float(x, dtype, (t0 + t) * ldx + k);
    std::vector<float> acc(size_t(kGroupTile * nt), 0.0f);

    for (int64_t gk = 0; gk < grid.group_cols(); ++gk) {
      const int64_t g = gm * grid.group_cols() + gk;
      const float* v = values.data() + w.group_offsets[size_t(g)];
      for (int b = 0; b < kBitmapsPerGroup; ++b) {
        const int r0 = bitmap_row_in_group(b);
        const int64_t c0 = gk * kGroupTile + bitmap_col_in_group(b);
        for (uint64_t bits = w.bitmaps[size_t(g * kBitmapsPerGroup + b)]; bits; bits &= bits - 1) {
          const int pos = std::countr_zero(bits);
          const float wv = *v++;
          float* a = acc.data() + (r0 + pos / kBitmapTile) * nt;
          const float* xs = xt.data() + (c0 + pos % kBitmapTile) * nt;
          for (int64_t t = 0; t < nt; ++t) a[t] += wv * xs[t];
        }
      }
    }
    const int64_t rows_here = std::min<int64_t>(kGroupTile, w.rows - gm * kGroupTile);
    for (int64_t r = 0; r < rows_here; ++r) {
      const int64_t row = gm * kGroupTile + r;
      const float b = bias ? load_as_float(bias, dtype, row) : 0.0f;
      for (int64_t t = 0; t < nt; ++t)
        store_from_float(y, dtype, (t0 + t) * ldy + row, acc[size_t(r * nt + t)] + b);
    }
  });
}

}  // namespace spinfer::host
