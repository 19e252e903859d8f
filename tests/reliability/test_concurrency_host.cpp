// One host context and a few shared matrices used from many threads at once: every
// SpMM result must be bit-identical to the single-threaded one, error messages must
// stay per thread, and files saved and loaded concurrently must stay whole. Run under
// ThreadSanitizer by .ci/reliability.sh.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "common/dtype.hpp"
#include "host_fixtures.hpp"
#include "spinfer.h"

namespace fs = std::filesystem;

namespace {

constexpr int kThreads = 8;

struct Weights {
  int64_t rows, cols;
  spinfer_dtype_t storage;
  std::vector<float> dense;  // rounded to the storage dtype already
  spinfer_matrix_t* m = nullptr;
};

Weights make_weights(int64_t rows, int64_t cols, spinfer_dtype_t storage, uint64_t seed) {
  Weights w{rows, cols, storage, std::vector<float>(size_t(rows * cols), 0.0f)};
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::uniform_real_distribution<double> keep(0.0, 1.0);
  const auto dt = spinfer::DType(storage);
  for (auto& v : w.dense)
    if (keep(rng) >= 0.6) v = spinfer::storage_to_float(spinfer::float_to_storage(value(rng) + 2.0f, dt), dt);
  REQUIRE(spinfer_matrix_encode(&w.m, w.dense.data(), SPINFER_DTYPE_F32, rows, cols, cols, storage) ==
          SPINFER_STATUS_SUCCESS);
  return w;
}

// One SpMM problem: its inputs and the single-threaded output bytes.
struct Problem {
  const Weights* w;
  spinfer_dtype_t dtype;
  int64_t n;
  std::vector<uint8_t> x, bias, y_single;
};

size_t esize(spinfer_dtype_t t) { return spinfer_dtype_size(t); }

Problem make_problem(const Weights& w, spinfer_dtype_t dtype, int64_t n, uint64_t seed) {
  Problem p{&w, dtype, n, {}, {}, {}};
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  const auto dt = spinfer::DType(dtype);
  p.x.resize(size_t(n * w.cols) * esize(dtype));
  p.bias.resize(size_t(w.rows) * esize(dtype));
  for (int64_t i = 0; i < n * w.cols; ++i) spinfer::store_from_float(p.x.data(), dt, i, value(rng));
  for (int64_t i = 0; i < w.rows; ++i) spinfer::store_from_float(p.bias.data(), dt, i, value(rng));
  return p;
}

spinfer_status_t run(spinfer_context_t* ctx, const Problem& p, std::vector<uint8_t>& y) {
  y.assign(size_t(p.n * p.w->rows) * esize(p.dtype), 0xff);  // NaN poison in every dtype
  return spinfer_spmm(ctx, p.w->m, p.x.data(), p.n, p.w->cols, p.bias.data(), y.data(), p.w->rows,
                      p.dtype, nullptr);
}

// ||y - ref|| / ||ref|| against a float64 reference.
double relative_error(const Problem& p, const std::vector<uint8_t>& y) {
  const auto dt = spinfer::DType(p.dtype);
  double num = 0, den = 0;
  for (int64_t t = 0; t < p.n; ++t)
    for (int64_t r = 0; r < p.w->rows; ++r) {
      double ref = spinfer::load_as_float(p.bias.data(), dt, r);
      for (int64_t k = 0; k < p.w->cols; ++k)
        ref += double(p.w->dense[size_t(r * p.w->cols + k)]) *
               spinfer::load_as_float(p.x.data(), dt, t * p.w->cols + k);
      const double d = spinfer::load_as_float(y.data(), dt, t * p.w->rows + r) - ref;
      num += d * d;
      den += ref * ref;
    }
  return std::sqrt(num / den);
}

}  // namespace

TEST_CASE("one host context, many threads: SpMM results equal the single-threaded ones") {
  spinfer_context_t* ctx = spinfer::test::host_context(2);  // each call also forks its own workers

  std::vector<Weights> ws;
  ws.push_back(make_weights(100, 130, SPINFER_DTYPE_F16, 1));
  ws.push_back(make_weights(192, 64, SPINFER_DTYPE_BF16, 2));
  ws.push_back(make_weights(33, 257, SPINFER_DTYPE_F16, 3));
  std::vector<Problem> problems;
  uint64_t seed = 100;
  for (const auto& w : ws)
    for (spinfer_dtype_t dt : {SPINFER_DTYPE_F32, SPINFER_DTYPE_F16, SPINFER_DTYPE_BF16})
      for (int64_t n : {1, 7, 70}) problems.push_back(make_problem(w, dt, n, seed++));

  for (auto& p : problems) {
    REQUIRE(run(ctx, p, p.y_single) == SPINFER_STATUS_SUCCESS);
    const double tol = p.dtype == SPINFER_DTYPE_BF16 ? 1e-2 : 1e-3;
    CHECK(relative_error(p, p.y_single) <= tol);
  }

  std::atomic<int> mismatches{0}, failures{0}, wrong_messages{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      std::vector<uint8_t> y;
      for (int rep = 0; rep < 2; ++rep)
        for (size_t i = 0; i < problems.size(); ++i) {
          const Problem& p = problems[(i * 7 + size_t(t) * 5) % problems.size()];  // own order
          if (run(ctx, p, y) != SPINFER_STATUS_SUCCESS) ++failures;
          else if (y != p.y_single) ++mismatches;
          // A failure on this thread names this thread's argument, whatever the others do.
          const int64_t bad_ldx = 1 + t;  // < cols of every matrix: SHAPE_MISMATCH
          if (spinfer_spmm(ctx, p.w->m, p.x.data(), 1, bad_ldx, nullptr, y.data(), p.w->rows, p.dtype,
                           nullptr) != SPINFER_STATUS_SHAPE_MISMATCH ||
              std::strstr(spinfer_last_error_message(), ("ldx " + std::to_string(bad_ldx) + " ").c_str()) ==
                  nullptr)
            ++wrong_messages;
        }
    });
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(mismatches == 0);
  CHECK(wrong_messages == 0);

  for (auto& w : ws) spinfer_matrix_destroy(w.m);
  spinfer_context_destroy(ctx);
}

TEST_CASE("shared matrices read, decoded and saved from many threads; one file saved by all at once") {
  std::vector<Weights> ws;
  ws.push_back(make_weights(70, 90, SPINFER_DTYPE_F16, 11));
  ws.push_back(make_weights(64, 64, SPINFER_DTYPE_BF16, 12));
  const fs::path dir = fs::temp_directory_path() / ("spinfer_conc_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string shared_path = (dir / "shared.safetensors").string();

  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      const Weights& w = ws[size_t(t) % ws.size()];
      const std::string own = (dir / ("own" + std::to_string(t) + ".safetensors")).string();
      const char* name = "w";
      for (int rep = 0; rep < 3; ++rep) {
        std::vector<float> dense(w.dense.size(), NAN);
        if (spinfer_matrix_decode(w.m, dense.data(), SPINFER_DTYPE_F32, w.cols) != SPINFER_STATUS_SUCCESS ||
            dense != w.dense)
          ++errors;
        if (spinfer_matrix_validate(w.m) != SPINFER_STATUS_SUCCESS) ++errors;
        // Every thread writes the same path: the survivor must be one whole file.
        if (spinfer_save(shared_path.c_str(), &w.m, &name, 1) != SPINFER_STATUS_SUCCESS) ++errors;
        if (spinfer_save(own.c_str(), &w.m, &name, 1) != SPINFER_STATUS_SUCCESS) ++errors;
        spinfer_matrix_t* back = nullptr;
        if (spinfer_load(&back, own.c_str(), name) != SPINFER_STATUS_SUCCESS) {
          ++errors;
          continue;
        }
        std::vector<float> again(w.dense.size(), NAN);
        if (spinfer_matrix_decode(back, again.data(), SPINFER_DTYPE_F32, w.cols) != SPINFER_STATUS_SUCCESS ||
            again != w.dense)
          ++errors;
        spinfer_matrix_destroy(back);
      }
    });
  for (auto& th : threads) th.join();
  CHECK(errors == 0);

  // The shared file is one of the matrices, complete, and no temporary is left behind.
  spinfer_matrix_t* m = nullptr;
  REQUIRE(spinfer_load(&m, shared_path.c_str(), "w") == SPINFER_STATUS_SUCCESS);
  spinfer_matrix_info_t info{};
  info.struct_size = sizeof info;
  REQUIRE(spinfer_matrix_get_info(m, &info) == SPINFER_STATUS_SUCCESS);
  const Weights& w = info.rows == 70 ? ws[0] : ws[1];
  std::vector<float> dense(w.dense.size());
  REQUIRE(spinfer_matrix_decode(m, dense.data(), SPINFER_DTYPE_F32, w.cols) == SPINFER_STATUS_SUCCESS);
  CHECK(dense == w.dense);
  spinfer_matrix_destroy(m);
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++files;
  }
  CHECK(files == size_t(kThreads) + 1);

  for (auto& x : ws) spinfer_matrix_destroy(x.m);
  fs::remove_all(dir);
}
