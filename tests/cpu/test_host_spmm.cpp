// Host SpMM against a float64 reference computed from the dense matrix.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "common/error.hpp"
#include "format/encode.hpp"
#include "host/spmm_host.hpp"
#include "test_util.hpp"

using namespace spinfer;
using spinfer::test::random_sparse;
using spinfer::test::relative_error;

namespace {

// Runs host SpMM for one case and returns the relative error against float64.
double run_case(int64_t rows, int64_t cols, int64_t n, double sparsity, DType storage, DType act,
                bool with_bias, uint64_t seed, int threads) {
  std::mt19937_64 rng(seed);
  const auto w32 = random_sparse(rows, cols, cols, sparsity, rng);
  const HostMatrix w = encode(w32.data(), DType::f32, rows, cols, cols, storage);
  std::vector<float> wq(w32.size());  // the weights as stored
  decode(w, wq.data(), DType::f32, cols);

  const int64_t ldx = cols + 3, ldy = rows + 5;
  const auto x32 = random_sparse(n, cols, ldx, 0.0, rng);
  const auto b32 = random_sparse(1, rows, rows, 0.0, rng);
  std::vector<uint8_t> x(size_t(n * ldx) * dtype_size(act)), b(size_t(rows) * dtype_size(act));
  std::vector<double> xq(size_t(n * ldx)), bq(static_cast<size_t>(rows));
  for (size_t i = 0; i < x32.size(); ++i) {
    store_from_float(x.data(), act, int64_t(i), x32[i]);
    xq[i] = load_as_float(x.data(), act, int64_t(i));
  }
  for (int64_t i = 0; i < rows; ++i) {
    store_from_float(b.data(), act, i, b32[size_t(i)]);
    bq[size_t(i)] = with_bias ? load_as_float(b.data(), act, i) : 0.0;
  }
  std::vector<uint8_t> y(size_t(n * ldy) * dtype_size(act));
  for (int64_t i = 0; i < n * ldy; ++i) store_from_float(y.data(), act, i, NAN);  // poison

  host::spmm(w, x.data(), n, ldx, with_bias ? b.data() : nullptr, y.data(), ldy, act, threads);

  std::vector<double> got, ref;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      double acc = bq[size_t(r)];
      for (int64_t k = 0; k < cols; ++k) acc += double(wq[size_t(r * cols + k)]) * xq[size_t(t * ldx + k)];
      ref.push_back(acc);
      got.push_back(load_as_float(y.data(), act, t * ldy + r));
    }
  for (double v : got)
    if (std::isnan(v)) return INFINITY;  // an element was not written
  return relative_error(got, ref);
}

}  // namespace

TEST_CASE("host SpMM matches float64 for N = 1, 3, 8, 64, 257") {
  // Every code path this CPU has: the AVX-512 and AVX2 kernels (1 and 8 tokens) and the
  // portable loop.
  for (int limit : {2, 1, 0}) {
    host::set_simd_limit(limit);
    const int level = host::simd_level();
    INFO("host SpMM SIMD level ", level, " (0 portable, 1 AVX2, 2 AVX-512)");
    uint64_t seed = 100;
    for (int64_t n : {1, 3, 8, 64, 257})
      for (double sp : {0.0, 0.5, 0.9})
        for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {7, 13}, {100, 300}, {130, 70}}) {
          CAPTURE(n); CAPTURE(sp); CAPTURE(rows); CAPTURE(cols);
          CHECK(run_case(rows, cols, n, sp, DType::f16, DType::f32, true, seed++, 0) <= 1e-6);
          CHECK(run_case(rows, cols, n, sp, DType::f16, DType::f16, seed % 2, seed++, 2) <= 1e-3);
          CHECK(run_case(rows, cols, n, sp, DType::bf16, DType::bf16, true, seed++, 3) <= 1e-2);
          CHECK(run_case(rows, cols, n, sp, DType::bf16, DType::f32, false, seed++, 1) <= 1e-6);
        }
  }
  host::set_simd_limit(2);
}

TEST_CASE("host SpMM on a 4096 x 4096 matrix at 70 % with N = 8") {
  CHECK(run_case(4096, 4096, 8, 0.7, DType::f16, DType::f16, true, 9, 0) <= 1e-3);
  CHECK(run_case(4096, 4096, 1, 0.5, DType::bf16, DType::f32, true, 10, 0) <= 1e-6);
}

TEST_CASE("host SpMM of an all-zero matrix gives the bias") {
  CHECK(run_case(65, 33, 4, 1.0, DType::f16, DType::f32, true, 11, 0) <= 1e-7);
}

TEST_CASE("host SpMM rejects bad arguments") {
  const float w32[4] = {1, 0, 0, 1};
  const HostMatrix w = encode(w32, DType::f32, 2, 2, 2, DType::f16);
  float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8];
  auto status_of = [](auto&& f) {
    try { f(); } catch (const Error& e) { return e.status(); }
    return SPINFER_STATUS_SUCCESS;
  };
  CHECK(status_of([&] { host::spmm(w, x, 2, 2, nullptr, y, 2, DType::f32, 0); }) == SPINFER_STATUS_SUCCESS);
  CHECK(y[0] == 1.0f);
  CHECK(y[3] == 4.0f);
  CHECK(status_of([&] { host::spmm(w, nullptr, 2, 2, nullptr, y, 2, DType::f32, 0); }) == SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(status_of([&] { host::spmm(w, x, 2, 2, nullptr, nullptr, 2, DType::f32, 0); }) == SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(status_of([&] { host::spmm(w, x, -1, 2, nullptr, y, 2, DType::f32, 0); }) == SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(status_of([&] { host::spmm(w, x, 2, 1, nullptr, y, 2, DType::f32, 0); }) == SPINFER_STATUS_SHAPE_MISMATCH);
  CHECK(status_of([&] { host::spmm(w, x, 2, 2, nullptr, y, 1, DType::f32, 0); }) == SPINFER_STATUS_SHAPE_MISMATCH);
  CHECK(status_of([&] { host::spmm(w, x, 2, 2, nullptr, x + 1, 2, DType::f32, 0); }) == SPINFER_STATUS_INVALID_ARGUMENT);
  // Ranges that only touch are fine (x is 4 floats, y the next 4); y over the bias is not.
  float buf[12] = {1, 2, 3, 4, 0, 0, 0, 0, 1, 1, 0, 0};
  CHECK(status_of([&] { host::spmm(w, buf, 2, 2, buf + 8, buf + 4, 2, DType::f32, 0); }) == SPINFER_STATUS_SUCCESS);
  CHECK(buf[4] == 2.0f);
  CHECK(status_of([&] { host::spmm(w, buf, 2, 2, buf + 7, buf + 4, 2, DType::f32, 0); }) == SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(status_of([&] { host::spmm(w, x, 2, 2, nullptr, y, 2, DType(9), 0); }) == SPINFER_STATUS_UNSUPPORTED_DTYPE);
  CHECK(status_of([&] { host::spmm(w, x, 0, 2, nullptr, nullptr, 2, DType::f32, 0); }) == SPINFER_STATUS_SUCCESS);
}
