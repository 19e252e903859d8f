// spinfer demo: the main job. Random weights, magnitude-pruned, encoded, saved, loaded
// back, multiplied on the best backend, checked against a float64 reference.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cli_commands.hpp"
#include "cli_common.hpp"
#include "tool_device.hpp"

namespace spinfer_tool {

namespace {

struct DemoOptions {
  int64_t rows = 4096, cols = 4096, n = 8;
  double sparsity = 0.5;
  std::string dtype_name = "f16";
};

const int64_t kMaxWeights = int64_t(1) << 28;

int run_demo(const DemoOptions& o) {
  const int64_t rows = o.rows, cols = o.cols, n = o.n;
  const double sparsity = o.sparsity;
  const spinfer_dtype_t dtype = o.dtype_name == "bf16" ? SPINFER_DTYPE_BF16 : SPINFER_DTYPE_F16;
  std::printf("spinfer %s: W %lld x %lld, N = %lld tokens, target sparsity %.0f %%\n", spinfer_version(),
              (long long)rows, (long long)cols, (long long)n, sparsity * 100);

  // 1. Random weights, pruned by magnitude: the smallest |w| become zero.
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> w(size_t(rows * cols));
  for (auto& v : w) v = normal(rng);
  // The library's pruning: strict threshold, ties kept (spinfer_prune_magnitude).
  CALL(spinfer_prune_magnitude(w.data(), rows, cols, cols, sparsity, 0, nullptr));

  // 2. Encode, save, load back.
  spinfer_matrix_t* encoded = nullptr;
  spinfer_matrix_t* loaded = nullptr;
  CALL(spinfer_matrix_encode(&encoded, w.data(), SPINFER_DTYPE_F32, rows, cols, cols, dtype));
  const char* path = "spinfer_demo.safetensors";
  const char* name = "demo.weight";
  CALL(spinfer_save(path, &encoded, &name, 1));
  CALL(spinfer_load(&loaded, path, name));
  spinfer_matrix_info_t info{};
  info.struct_size = sizeof info;
  CALL(spinfer_matrix_get_info(loaded, &info));
  std::vector<float> wq(w.size());  // the weights exactly as stored
  CALL(spinfer_matrix_decode(loaded, wq.data(), SPINFER_DTYPE_F32, cols));

  // 3. Activations and the float64 reference.
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  std::vector<float> x(size_t(n * cols));
  for (auto& v : x) v = uni(rng);
  std::vector<double> ref(size_t(n * rows));

  // 4. SpMM on the best backend.
  spinfer_context_t* ctx = nullptr;
  CALL(spinfer_context_create(&ctx, SPINFER_BACKEND_AUTO));
  spinfer_backend_t backend;
  CALL(spinfer_context_get_backend(ctx, &backend));
  std::vector<float> y;
  double ms = 0;
  if (backend == SPINFER_BACKEND_CUDA) {
    ms = spinfer_tool::run_on_device(ctx, loaded, x, n, rows, cols, dtype, y);
    // The device computes from activations rounded to the storage dtype.
    for (auto& v : x) v = spinfer_tool::round_to(v, dtype);
  } else {
    y.assign(size_t(n * rows), NAN);
    CALL(spinfer_spmm(ctx, loaded, x.data(), n, cols, nullptr, y.data(), rows, SPINFER_DTYPE_F32, nullptr));
    const int reps = 5;
    const auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r)
      CALL(spinfer_spmm(ctx, loaded, x.data(), n, cols, nullptr, y.data(), rows, SPINFER_DTYPE_F32, nullptr));
    ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
  }
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      double acc = 0;
      const float* wr = &wq[size_t(r * cols)];
      const float* xt = &x[size_t(t * cols)];
      for (int64_t k = 0; k < cols; ++k) acc += double(wr[k]) * double(xt[k]);
      ref[size_t(t * rows + r)] = acc;
    }
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += (double(y[i]) - ref[i]) * (double(y[i]) - ref[i]);
    den += ref[i] * ref[i];
  }
  const double err = std::sqrt(num / den);
  const double tol = backend == SPINFER_BACKEND_CUDA ? (dtype == SPINFER_DTYPE_BF16 ? 1e-2 : 1e-3) : 1e-5;

  std::printf("backend            %s\n", backend == SPINFER_BACKEND_CUDA ? "cuda" : "host");
  std::printf("sparsity           %.2f %% (nnz %lld)\n", info.sparsity * 100, (long long)info.nnz);
  std::printf("compression ratio  %.3f x (%llu bytes vs %llu dense)\n", info.compression_ratio,
              (unsigned long long)info.bytes, (unsigned long long)info.dense_bytes);
  std::printf("spmm time          %.3f ms\n", ms);
  std::printf("relative error     %.3e (tolerance %.0e) -> %s\n", err, tol, err <= tol ? "OK" : "FAILED");

  spinfer_matrix_destroy(encoded);
  spinfer_matrix_destroy(loaded);
  spinfer_context_destroy(ctx);
  std::remove(path);
  return err <= tol ? 0 : 1;
}

}  // namespace

void add_demo(CLI::App& app) {
  auto o = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand("demo", "Encode, save, load and multiply a random pruned matrix; check it");
  cmd->footer("Random weights pruned by magnitude, encoded, saved, loaded back, multiplied on the best\n"
                   "backend (CUDA if there is a GPU, else the host) and checked against a float64 reference.\n"
                   "M x K must be at most 2^28 weights.");
  cmd->add_option("--rows", o->rows, "M, rows of W (output features)")->check(integer_in(1, 65536))
      ->capture_default_str();
  cmd->add_option("--cols", o->cols, "K, columns of W (input features)")->check(integer_in(1, 65536))
      ->capture_default_str();
  cmd->add_option("--tokens", o->n, "N, rows of X")->check(integer_in(1, 4096))->capture_default_str();
  cmd->add_option("--sparsity", o->sparsity, "S, the fraction of weights pruned")->check(fraction_below_one())
      ->capture_default_str();
  cmd->add_option("--dtype", o->dtype_name, "storage dtype of the non-zeros")
      ->check(one_of({"f16", "fp16", "bf16"}, "f16 or bf16 (the storage dtypes of the format)"))
      ->capture_default_str();
  cmd->parse_complete_callback([o] {
    if (o->rows * o->cols > kMaxWeights)
      bad_argument("--rows x --cols", std::to_string(o->rows) + " x " + std::to_string(o->cols),
                   "at most 2^28 weights");
  });
  set_run(cmd, [o] { return run_demo(*o); });
}

}  // namespace spinfer_tool
