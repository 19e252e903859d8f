// spinfer: command-line tool over the public C API only.
//   spinfer demo [--rows M] [--cols K] [--tokens N] [--sparsity S] [--dtype f16|bf16]
//       The main job: random weights, magnitude-pruned, encoded, saved, loaded back,
//       multiplied on the best backend, checked against a float64 reference.
//   spinfer inspect FILE
//       Lists the matrices of a spinfer safetensors file with their statistics.
//   spinfer generate MODEL_DIR ...   greedy generation (cli_generate.cpp)
//   spinfer bench FILE ...           spmm timings per matrix and N (cli_bench.cpp)
//   spinfer convert SRC DST ...      Hugging Face checkpoint -> spinfer model (cli_convert.cpp)
// Shared error exits and argument parsing: cli_common.hpp.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cli_commands.hpp"
#include "cli_common.hpp"
#include "spinfer.h"
#include "tool_device.hpp"

namespace {

using spinfer_tool::bad_argument;
using spinfer_tool::parse_integer;

const char kUsage[] =
    "usage: spinfer demo [--rows M] [--cols K] [--tokens N] [--sparsity S] [--dtype f16|bf16]\n"
    "       spinfer inspect FILE.safetensors\n"
    "       spinfer generate MODEL_DIR [--backend host|cuda|auto] [--max-new N] [TOKEN ...]\n"
    "       spinfer bench FILE.safetensors [--matrix NAME] [--tokens N[,N...]] [--backend host|cuda|auto] [--iters I]\n"
    "       spinfer convert SRC_DIR DST_DIR [--sparsity S] [--per-row] [--dtype float16|bfloat16]\n"
    "                       [--shard-size BYTES] [--threads T]\n"
    "       spinfer --version | --help\n"
    "       spinfer COMMAND --help  (the command's arguments and their ranges)\n";

const char kDemoUsage[] =
    "usage: spinfer demo [--rows M] [--cols K] [--tokens N] [--sparsity S] [--dtype f16|bf16]\n"
    "         M, K in [1, 65536] with M * K <= 2^28; N in [1, 4096]; S in [0, 1)\n";

const spinfer_tool::Command kDemo{"demo", kDemoUsage};

int demo(int argc, char** argv) {
  int64_t rows = 4096, cols = 4096, n = 8;
  double sparsity = 0.5;
  spinfer_dtype_t dtype = SPINFER_DTYPE_F16;
  for (int i = 2; i < argc; i += 2) {
    const std::string k = argv[i];
    if (spinfer_tool::is_help(argv[i])) {
      std::printf("%s", kDemoUsage);
      return 0;
    }
    if (i + 1 >= argc) bad_argument(kDemo, k, "", "followed by a value");
    const char* v = argv[i + 1];
    if (k == "--rows") rows = parse_integer(kDemo, k, v, 1, 65536);
    else if (k == "--cols") cols = parse_integer(kDemo, k, v, 1, 65536);
    else if (k == "--tokens") n = parse_integer(kDemo, k, v, 1, 4096);
    else if (k == "--sparsity") {
      char* end = nullptr;
      sparsity = std::strtod(v, &end);
      // Written so that NaN fails too; 1.0 would leave nothing to multiply.
      if (end == v || *end != '\0' || !(sparsity >= 0.0 && sparsity < 1.0))
        bad_argument(kDemo, k, v, "a number in [0, 1)");
    } else if (k == "--dtype") {
      const std::string d = v;
      if (d == "f16" || d == "fp16") dtype = SPINFER_DTYPE_F16;
      else if (d == "bf16") dtype = SPINFER_DTYPE_BF16;
      else bad_argument(kDemo, k, v, "f16 or bf16 (the storage dtypes of the format)");
    } else {
      spinfer_tool::unknown_option(kDemo, argv[i]);
    }
  }
  if (rows * cols > (int64_t(1) << 28))
    bad_argument(kDemo, "--rows x --cols", std::to_string(rows) + " x " + std::to_string(cols), "at most 2^28 weights");
  std::printf("spinfer %s: W %lld x %lld, N = %lld tokens, target sparsity %.0f %%\n", spinfer_version(),
              (long long)rows, (long long)cols, (long long)n, sparsity * 100);

  // 1. Random weights, pruned by magnitude: the smallest |w| are set to zero.
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  std::vector<float> w(size_t(rows * cols));
  for (auto& v : w) v = normal(rng);
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

int inspect(const char* path) {
  size_t count = 0;
  CALL(spinfer_file_matrix_count(path, &count));
  std::printf("%s: %zu matri%s\n", path, count, count == 1 ? "x" : "ces");
  for (size_t i = 0; i < count; ++i) {
    size_t need = 0;
    spinfer_file_matrix_name(path, i, nullptr, 0, &need);
    std::string name(need, '\0');
    CALL(spinfer_file_matrix_name(path, i, name.data(), need, nullptr));
    name.resize(need - 1);
    spinfer_matrix_t* m = nullptr;
    CALL(spinfer_load(&m, path, name.c_str()));
    spinfer_matrix_info_t info{};
    info.struct_size = sizeof info;
    CALL(spinfer_matrix_get_info(m, &info));
    std::printf("  %-32s %lld x %lld %s  nnz %lld  sparsity %.2f %%  %llu bytes  %.2f x smaller\n",
                name.c_str(), (long long)info.rows, (long long)info.cols,
                info.dtype == SPINFER_DTYPE_BF16 ? "bf16" : "fp16", (long long)info.nnz,
                info.sparsity * 100, (unsigned long long)info.bytes, info.compression_ratio);
    spinfer_matrix_destroy(m);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::printf("%s", kUsage);
    return 0;
  }
  if (argc >= 2 && std::strcmp(argv[1], "demo") == 0) return demo(argc, argv);
  if (argc == 3 && std::strcmp(argv[1], "inspect") == 0) return inspect(argv[2]);
  if (argc >= 2 && std::strcmp(argv[1], "generate") == 0) return spinfer_tool::generate_main(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "bench") == 0) return spinfer_tool::bench_main(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "convert") == 0) return spinfer_tool::convert_main(argc, argv);
  if (argc >= 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("spinfer %s (format v%d, %s)\n", spinfer_version(), SPINFER_FORMAT_VERSION,
                spinfer_has_cuda() ? "CUDA" : "host only");
    return 0;
  }
  std::fprintf(stderr, "%s", kUsage);
  return 2;
}
