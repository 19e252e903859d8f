// spinfer bench: times spinfer_spmm on the matrices of a spinfer safetensors file.
// What is timed: the spmm call alone (no transfers, no allocation), median of --iters
// back-to-back calls after one warm-up call, so W and X are cache warm (on CUDA, L2 warm
// when they fit in L2). No dense baseline: the library links no BLAS and no cuBLAS.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cli_commands.hpp"
#include "cli_common.hpp"
#include "file_matrices.hpp"
#include "tool_device.hpp"

namespace spinfer_tool {

namespace {

const int64_t kMaxElements = int64_t(1) << 28;  // of X plus Y, per call

struct BenchOptions {
  std::string path;
  std::string matrix;
  std::string tokens = "1,8,32";
  std::string backend = "auto";
  int64_t iters = 20;
};

const char* kernel_name(spinfer_spmm_kernel_t k) {
  switch (k) {
    case SPINFER_SPMM_KERNEL_HOST: return "host";
    case SPINFER_SPMM_KERNEL_BLOCK: return "block";
    case SPINFER_SPMM_KERNEL_SPECIALISED: return "specialised";
    case SPINFER_SPMM_KERNEL_WGMMA: return "wgmma";
    case SPINFER_SPMM_KERNEL_DENSE_GEMM: return "dense_gemm";
    case SPINFER_SPMM_KERNEL_WARP_K: return "warp_k";
  }
  return "?";
}

std::vector<std::string> matrix_names(const char* path) {
  std::vector<std::string> names;
  CALL(file_matrix_names(path, &names));
  return names;
}

// Median time in ms of `iters` host spmm calls after one warm-up call.
double time_on_host(spinfer_context_t* ctx, const spinfer_matrix_t* w, const std::vector<float>& x, int64_t n,
                    int64_t rows, int64_t cols, int iters) {
  std::vector<float> y(size_t(n * rows));
  CALL(spinfer_spmm(ctx, w, x.data(), n, cols, nullptr, y.data(), rows, SPINFER_DTYPE_F32, nullptr));
  std::vector<double> times;
  for (int r = 0; r < iters; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    CALL(spinfer_spmm(ctx, w, x.data(), n, cols, nullptr, y.data(), rows, SPINFER_DTYPE_F32, nullptr));
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

int run_bench(const BenchOptions& o) {
  const char* path = o.path.c_str();
  const std::vector<int64_t> tokens = integer_list(o.tokens);
  const spinfer_backend_t backend = backend_from(o.backend);
  const int iters = int(o.iters);
  const std::string& only = o.matrix;

  const std::vector<std::string> names = only.empty() ? matrix_names(path) : std::vector<std::string>{only};
  if (names.empty()) {  // e.g. a dense Hugging Face file: nothing to time, say so
    std::fprintf(stderr, "spinfer bench: %s holds no spinfer matrices (convert its model directory with `spinfer convert`)\n",
                 path);
    return 1;
  }
  spinfer_context_t* ctx = nullptr;
  CALL(spinfer_context_create(&ctx, backend));
  spinfer_backend_t used = SPINFER_BACKEND_HOST;
  CALL(spinfer_context_get_backend(ctx, &used));
  const bool cuda = used == SPINFER_BACKEND_CUDA;
  std::printf("%s: %zu matri%s, backend %s; timed: spinfer_spmm alone, median of %d calls after a warm-up, "
              "%s; no dense baseline\n",
              path, names.size(), names.size() == 1 ? "x" : "ces", cuda ? "cuda" : "host", iters,
              cuda ? "CUDA events, W and X L2 warm where they fit" : "fp32 activations, caches warm");

  size_t width = 0;  // of the name column
  for (const std::string& name : names) width = std::max(width, name.size());
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  for (const std::string& name : names) {
    spinfer_matrix_t* w = nullptr;
    CALL(spinfer_load(&w, path, name.c_str()));
    spinfer_matrix_info_t info{};
    info.struct_size = sizeof info;
    CALL(spinfer_matrix_get_info(w, &info));
    // On CUDA the matrix goes to the device once: the plan (which names the kernel)
    // and every timed N use that copy.
    spinfer_matrix_t* planned = w;
    if (cuda) CALL(spinfer_matrix_upload(ctx, w, &planned, nullptr));
    const spinfer_dtype_t dtype = cuda ? info.dtype : SPINFER_DTYPE_F32;
    for (const int64_t n : tokens) {
      if (n * (info.rows + info.cols) > kMaxElements) {
        if (planned != w) spinfer_matrix_destroy(planned);
        spinfer_matrix_destroy(w);
        spinfer_context_destroy(ctx);
        bad_argument("--tokens", std::to_string(n),
                     "small enough for " + name + ": N x (rows + cols) must be at most 2^28");
      }
      spinfer_spmm_plan_t plan{};
      plan.struct_size = sizeof plan;
      CALL(spinfer_spmm_plan(ctx, planned, n, dtype, nullptr, nullptr, &plan));
      std::vector<float> x(size_t(n * info.cols));
      for (auto& v : x) v = uni(rng);
      std::vector<float> y;
      const double ms = cuda ? run_on_device(ctx, planned, x, n, info.rows, info.cols, info.dtype, y, iters)
                             : time_on_host(ctx, w, x, n, info.rows, info.cols, iters);
      std::printf("  %-*s  %lld x %lld  sparsity %.1f %%  N %-5lld %10.4f ms  %8.2f GB/s of W  kernel %s",
                  int(width), name.c_str(), (long long)info.rows, (long long)info.cols, info.sparsity * 100, (long long)n, ms,
                  double(info.bytes) / (ms * 1e6), kernel_name(plan.kernel));
      if (cuda) std::printf(" tile_n %d split_k %d\n", plan.tile_n, plan.split_k);
      else std::printf(" threads %d\n", plan.host_threads);
    }
    if (planned != w) spinfer_matrix_destroy(planned);
    spinfer_matrix_destroy(w);
  }
  spinfer_context_destroy(ctx);
  return 0;
}

}  // namespace

void add_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Time spinfer_spmm on the matrices of a file");
  cmd->footer("Times spinfer_spmm for every matrix of a spinfer safetensors file (or one) at each N tokens:\n"
                   "the call alone, median of --iters calls after a warm-up. No dense baseline.");
  cmd->add_option("FILE", o->path, "a spinfer safetensors file")->required();
  cmd->add_option("--matrix", o->matrix, "NAME: time this matrix only");
  cmd->add_option("--tokens", o->tokens, "N[,N...], token counts")->check(integer_list_in(1, 16384))
      ->capture_default_str();
  cmd->add_option("--backend", o->backend, "where it runs")->check(backend_names())->capture_default_str();
  cmd->add_option("--iters", o->iters, "I, timed calls per N")->check(integer_in(1, 10000))->capture_default_str();
  set_run(cmd, [o] { return run_bench(*o); });
}

}  // namespace spinfer_tool
