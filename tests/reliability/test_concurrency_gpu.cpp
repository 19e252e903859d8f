// One CUDA context used from many threads, each with its own stream, running SpMM on
// shared device matrices at once. With split_k = 1 every result must be bit-identical
// to the single-threaded one; with the library's own choice (split-K slots are per
// stream, so streams may differ in split) every result must match the float64
// reference and repeat bit for bit on its own stream.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>
#include <vector>
#include <filesystem>
#include <string>
#include <unistd.h>

#include <cuda_runtime.h>

#include "common/dtype.hpp"
#include "sanitizer_env.hpp"
#include "spinfer.h"
#include "tiny_model.hpp"  // tests/cpu: tiny model directories for the model test

namespace {

// Under compute-sanitizer two threads and one repetition (every launch is orders of
// magnitude slower there, and racecheck lost track of launches from eight threads);
// the hazards it looks for are inside kernels, which run concurrently all the same.
const int kThreads = spinfer::test::under_compute_sanitizer() ? 2 : 8;
const int kReps = spinfer::test::under_compute_sanitizer() ? 1 : 4;

#define CUDA_REQUIRE(call) REQUIRE((call) == cudaSuccess)

struct Problem {
  int64_t rows, cols, n;
  spinfer_dtype_t dtype;
  std::vector<float> w;                 // dense weights, rounded to dtype
  std::vector<uint16_t> x, bias;        // host inputs in dtype
  std::vector<double> ref;              // float64 reference [n, rows]
  spinfer_matrix_t* dw = nullptr;       // device matrix
  void* dx = nullptr;
  void* dbias = nullptr;
  std::vector<uint16_t> single_k1;      // single-threaded result, split_k = 1
};

Problem make_problem(spinfer_context_t* ctx, int64_t rows, int64_t cols, int64_t n, spinfer_dtype_t dt,
                     uint64_t seed) {
  Problem p{rows, cols, n, dt, std::vector<float>(size_t(rows * cols), 0.0f), {}, {}, {}};
  const auto d = spinfer::DType(dt);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::uniform_real_distribution<double> keep(0.0, 1.0);
  for (auto& v : p.w)
    if (keep(rng) >= 0.7) v = spinfer::storage_to_float(spinfer::float_to_storage(value(rng) + 1.5f, d), d);
  p.x.resize(size_t(n * cols));
  p.bias.resize(size_t(rows));
  for (auto& v : p.x) v = spinfer::float_to_storage(value(rng), d);
  for (auto& v : p.bias) v = spinfer::float_to_storage(value(rng), d);
  p.ref.resize(size_t(n * rows));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      double acc = spinfer::storage_to_float(p.bias[size_t(r)], d);
      for (int64_t k = 0; k < cols; ++k)
        acc += double(p.w[size_t(r * cols + k)]) * spinfer::storage_to_float(p.x[size_t(t * cols + k)], d);
      p.ref[size_t(t * rows + r)] = acc;
    }
  spinfer_matrix_t* host = nullptr;
  REQUIRE(spinfer_matrix_encode(&host, p.w.data(), SPINFER_DTYPE_F32, rows, cols, cols, dt) == SPINFER_STATUS_SUCCESS);
  REQUIRE(spinfer_matrix_upload(ctx, host, &p.dw, nullptr) == SPINFER_STATUS_SUCCESS);
  CUDA_REQUIRE(cudaDeviceSynchronize());
  spinfer_matrix_destroy(host);
  CUDA_REQUIRE(cudaMalloc(&p.dx, p.x.size() * 2));
  CUDA_REQUIRE(cudaMalloc(&p.dbias, p.bias.size() * 2));
  CUDA_REQUIRE(cudaMemcpy(p.dx, p.x.data(), p.x.size() * 2, cudaMemcpyHostToDevice));
  CUDA_REQUIRE(cudaMemcpy(p.dbias, p.bias.data(), p.bias.size() * 2, cudaMemcpyHostToDevice));
  // Pageable copies on the legacy stream may still be in flight; the workers use
  // non-blocking streams that do not wait for it.
  CUDA_REQUIRE(cudaDeviceSynchronize());
  return p;
}

double rel_error(const Problem& p, const std::vector<uint16_t>& y) {
  const auto d = spinfer::DType(p.dtype);
  double num = 0, den = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double e = double(spinfer::storage_to_float(y[i], d)) - p.ref[i];
    num += e * e;
    den += p.ref[i] * p.ref[i];
  }
  return std::sqrt(num / den);  // NaN (poison left) fails every comparison
}

// Runs one SpMM on `stream` into the device buffer `dy` and copies the result back.
spinfer_status_t run(spinfer_context_t* ctx, const Problem& p, void* dy, cudaStream_t stream, int split_k,
                     std::vector<uint16_t>& out) {
  out.assign(size_t(p.n * p.rows), 0);
  if (cudaMemsetAsync(dy, 0xff, out.size() * 2, stream) != cudaSuccess) return SPINFER_STATUS_CUDA_ERROR;
  spinfer_spmm_options_t opt;
  spinfer_spmm_options_init(&opt);
  opt.split_k = split_k;
  const spinfer_status_t s = spinfer_spmm_ex(ctx, p.dw, p.dx, p.n, p.cols, p.dbias, dy, p.rows, p.dtype, &opt, stream);
  if (s != SPINFER_STATUS_SUCCESS) return s;
  if (cudaMemcpyAsync(out.data(), dy, out.size() * 2, cudaMemcpyDeviceToHost, stream) != cudaSuccess ||
      cudaStreamSynchronize(stream) != cudaSuccess)
    return SPINFER_STATUS_CUDA_ERROR;
  return SPINFER_STATUS_SUCCESS;
}

}  // namespace

TEST_CASE("one CUDA context, a stream per thread: concurrent SpMM results equal the single-threaded ones") {
  spinfer_context_t* ctx = nullptr;
  REQUIRE(spinfer_context_create(&ctx, SPINFER_BACKEND_CUDA) == SPINFER_STATUS_SUCCESS);
  std::vector<Problem> problems;
  uint64_t seed = 1;
  for (spinfer_dtype_t dt : {SPINFER_DTYPE_F16, SPINFER_DTYPE_BF16})
    for (int64_t n : {1, 16, 100}) {
      problems.push_back(make_problem(ctx, 1024, 2048, n, dt, seed++));
      problems.push_back(make_problem(ctx, 136, 200, n, dt, seed++));  // odd K, partial tiles
    }
  size_t max_y = 0;
  for (const auto& p : problems) max_y = std::max(max_y, size_t(p.n * p.rows));

  // Single-threaded baseline on a stream of its own.
  cudaStream_t s0 = nullptr;
  CUDA_REQUIRE(cudaStreamCreateWithFlags(&s0, cudaStreamNonBlocking));
  void* dy0 = nullptr;
  CUDA_REQUIRE(cudaMalloc(&dy0, max_y * 2));
  for (auto& p : problems) {
    REQUIRE(run(ctx, p, dy0, s0, 1, p.single_k1) == SPINFER_STATUS_SUCCESS);
    CHECK(rel_error(p, p.single_k1) <= (p.dtype == SPINFER_DTYPE_BF16 ? 1e-2 : 1e-3));
  }

  std::atomic<int> failures{0}, k1_mismatch{0}, inaccurate{0}, unrepeatable{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      cudaStream_t s = nullptr;
      void* dy = nullptr;
      if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess || cudaMalloc(&dy, max_y * 2) != cudaSuccess) {
        ++failures;
        return;
      }
      std::vector<std::vector<uint16_t>> first(problems.size());
      std::vector<uint16_t> y;
      for (int rep = 0; rep < kReps; ++rep)
        for (size_t i = 0; i < problems.size(); ++i) {
          const size_t j = (i * 5 + size_t(t) * 3) % problems.size();  // each thread its own order
          const Problem& p = problems[j];
          if (run(ctx, p, dy, s, 1, y) != SPINFER_STATUS_SUCCESS) { ++failures; continue; }
          if (y != p.single_k1) ++k1_mismatch;
          if (run(ctx, p, dy, s, 0, y) != SPINFER_STATUS_SUCCESS) { ++failures; continue; }
          if (!(rel_error(p, y) <= (p.dtype == SPINFER_DTYPE_BF16 ? 1e-2 : 1e-3))) ++inaccurate;
          if (first[j].empty()) first[j] = y;
          else if (y != first[j]) ++unrepeatable;
        }
      cudaFree(dy);
      cudaStreamDestroy(s);
    });
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(k1_mismatch == 0);
  CHECK(inaccurate == 0);
  CHECK(unrepeatable == 0);

  for (auto& p : problems) {
    spinfer_matrix_destroy(p.dw);
    cudaFree(p.dx);
    cudaFree(p.dbias);
  }
  cudaFree(dy0);
  cudaStreamDestroy(s0);
  CHECK(spinfer_context_destroy(ctx) == SPINFER_STATUS_SUCCESS);
}

// ---- Layers and models (spinfer.h section 7) ------------------------------------------
// Each thread its own stream and its own model, loaded from one shared directory (with
// CUDA graphs, so captures on several streams overlap), plus its own MLP over shared
// device matrices. Logits must match the single-threaded run (fp16 activations: to
// 5e-3 relative, since the split-K choice may differ per stream) and repeat bit for
// bit on the thread's own stream.

namespace {

double logits_rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return den > 0 ? std::sqrt(num / den) : (num == 0 ? 0.0 : INFINITY);
}

// Load, prefill two sequences, one decode step over both; logits [prefill a | prefill b | decode].
spinfer_status_t model_run(spinfer_context_t* ctx, const std::string& dir, int64_t vocab, cudaStream_t s,
                           std::vector<float>& out) {
  spinfer_model_config_t mc;
  spinfer_model_config_init(&mc);
  mc.max_sequences = 2;
  mc.max_batch_tokens = 8;
  mc.max_sequence_length = 32;
  mc.kv_block_size = 8;
  spinfer_model_t* model = nullptr;
  spinfer_status_t st = spinfer_model_load(ctx, &model, dir.c_str(), &mc, s);
  if (st != SPINFER_STATUS_SUCCESS) return st;
  const std::vector<int32_t> a = {3, 17, 42, 8, 1, 49, 0, 23, 5, 11}, b = {5, 11};
  out.assign(size_t(4 * vocab), NAN);
  const int32_t seqs[2] = {0, 1}, next[2] = {7, 9};
  st = spinfer_model_prefill(ctx, model, 0, a.data(), int64_t(a.size()), out.data(), s);
  if (st == SPINFER_STATUS_SUCCESS) st = spinfer_model_prefill(ctx, model, 1, b.data(), 2, out.data() + vocab, s);
  for (int step = 0; step < 3 && st == SPINFER_STATUS_SUCCESS; ++step)  // replays the captured graph
    st = spinfer_model_decode_step(ctx, model, seqs, next, 2, out.data() + 2 * vocab, s);
  spinfer_model_destroy(model);
  return st;
}

}  // namespace

TEST_CASE("one CUDA context, a stream per thread: each thread its own model from one directory") {
  std::mt19937_64 rng(51);
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("spinfer_gpu_conc_models_" + std::to_string(::getpid()));
  const spinfer::test::TinyModel opt = spinfer::test::make_model(true, rng), llama = spinfer::test::make_model(false, rng);
  const std::string dirs[2] = {(root / "opt").string(), (root / "llama").string()};
  spinfer::test::write_model(opt, dirs[0], true);
  spinfer::test::write_model(llama, dirs[1], true);
  const int64_t vocab[2] = {opt.vocab, llama.vocab};
  spinfer_context_t* ctx = nullptr;
  REQUIRE(spinfer_context_create(&ctx, SPINFER_BACKEND_CUDA) == SPINFER_STATUS_SUCCESS);

  cudaStream_t s0 = nullptr;
  CUDA_REQUIRE(cudaStreamCreateWithFlags(&s0, cudaStreamNonBlocking));
  std::vector<float> single[2];
  for (int k = 0; k < 2; ++k) {
    REQUIRE_MESSAGE(model_run(ctx, dirs[k], vocab[k], s0, single[k]) == SPINFER_STATUS_SUCCESS,
                    std::string(spinfer_last_error_message()));
    const auto ref = (k ? llama : opt).logits({3, 17, 42, 8, 1, 49, 0, 23, 5, 11});
    const std::vector<float> got(single[k].begin(), single[k].begin() + vocab[k]);
    CHECK(logits_rel_err(got, std::vector<float>(ref.begin(), ref.end())) < 5e-3);
  }

  std::atomic<int> failures{0}, far{0}, unrepeatable{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      cudaStream_t s = nullptr;
      if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess) {
        ++failures;
        return;
      }
      std::vector<float> first[2], y;
      for (int rep = 0; rep < 3; ++rep) {
        const int k = (t + rep) % 2;
        if (model_run(ctx, dirs[k], vocab[k], s, y) != SPINFER_STATUS_SUCCESS) {
          ++failures;
          continue;
        }
        if (!(logits_rel_err(y, single[k]) < 5e-3)) ++far;
        if (first[k].empty()) first[k] = y;
        else if (y != first[k]) ++unrepeatable;
      }
      cudaStreamDestroy(s);
    });
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(far == 0);
  CHECK(unrepeatable == 0);
  cudaStreamDestroy(s0);
  spinfer_context_destroy(ctx);
  fs::remove_all(root);
}

TEST_CASE("one CUDA context, a stream per thread: own MLP over shared device matrices") {
  std::mt19937_64 rng(52);
  const auto m = spinfer::test::make_model(false, rng);
  const auto& w = m.L[0];
  spinfer_context_t* ctx = nullptr;
  REQUIRE(spinfer_context_create(&ctx, SPINFER_BACKEND_CUDA) == SPINFER_STATUS_SUCCESS);
  auto device_matrix = [&](const spinfer::test::Mat& a) {
    std::vector<float> f(a.a.begin(), a.a.end());
    spinfer_matrix_t *h = nullptr, *d = nullptr;
    REQUIRE(spinfer_matrix_encode(&h, f.data(), SPINFER_DTYPE_F32, a.rows, a.cols, a.cols, SPINFER_DTYPE_F16) ==
            SPINFER_STATUS_SUCCESS);
    REQUIRE(spinfer_matrix_upload(ctx, h, &d, nullptr) == SPINFER_STATUS_SUCCESS);
    spinfer_matrix_destroy(h);
    return d;
  };
  spinfer_matrix_t *gate = device_matrix(w.mlp.gate), *up = device_matrix(w.mlp.up), *down = device_matrix(w.mlp.down);
  const int64_t N = 7, H = m.H;
  std::vector<uint16_t> x(size_t(N * H));
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (auto& e : x) e = spinfer::float_to_half(value(rng));
  void* dx = nullptr;
  CUDA_REQUIRE(cudaMalloc(&dx, x.size() * 2));
  CUDA_REQUIRE(cudaMemcpy(dx, x.data(), x.size() * 2, cudaMemcpyHostToDevice));

  // One MLP run on stream s: create, forward, copy back, destroy.
  auto mlp_run = [&](cudaStream_t s, void* dy, std::vector<uint16_t>& y) {
    spinfer_mlp_config_t cfg;
    spinfer_mlp_config_init(&cfg);
    cfg.max_tokens = 8;
    spinfer_mlp_t* mlp = nullptr;
    spinfer_status_t st = spinfer_mlp_create(ctx, &mlp, gate, up, down, nullptr, nullptr, SPINFER_DTYPE_F32, &cfg, s);
    if (st == SPINFER_STATUS_SUCCESS)
      st = spinfer_mlp_forward(ctx, mlp, dx, N, nullptr, dy, SPINFER_DTYPE_F16, s);
    y.assign(x.size(), 0x7e00);
    if (st == SPINFER_STATUS_SUCCESS &&
        (cudaMemcpyAsync(y.data(), dy, y.size() * 2, cudaMemcpyDeviceToHost, s) != cudaSuccess ||
         cudaStreamSynchronize(s) != cudaSuccess))
      st = SPINFER_STATUS_CUDA_ERROR;
    spinfer_mlp_destroy(mlp);
    return st;
  };
  cudaStream_t s0 = nullptr;
  CUDA_REQUIRE(cudaStreamCreateWithFlags(&s0, cudaStreamNonBlocking));
  void* dy0 = nullptr;
  CUDA_REQUIRE(cudaMalloc(&dy0, x.size() * 2));
  std::vector<uint16_t> single;
  REQUIRE(mlp_run(s0, dy0, single) == SPINFER_STATUS_SUCCESS);
  std::vector<float> single_f;
  for (uint16_t e : single) single_f.push_back(spinfer::half_to_float(e));

  std::atomic<int> failures{0}, far{0}, unrepeatable{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      cudaStream_t s = nullptr;
      void* dy = nullptr;
      if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess || cudaMalloc(&dy, x.size() * 2) != cudaSuccess) {
        ++failures;
        return;
      }
      std::vector<uint16_t> first, y;
      for (int rep = 0; rep < kReps; ++rep) {
        if (mlp_run(s, dy, y) != SPINFER_STATUS_SUCCESS) { ++failures; continue; }
        std::vector<float> yf;
        for (uint16_t e : y) yf.push_back(spinfer::half_to_float(e));
        if (!(logits_rel_err(yf, single_f) < 5e-3)) ++far;
        if (first.empty()) first = y;
        else if (y != first) ++unrepeatable;
      }
      cudaFree(dy);
      cudaStreamDestroy(s);
    });
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(far == 0);
  CHECK(unrepeatable == 0);
  cudaFree(dy0);
  cudaFree(dx);
  cudaStreamDestroy(s0);
  for (auto* e : {gate, up, down}) spinfer_matrix_destroy(e);
  spinfer_context_destroy(ctx);
}
