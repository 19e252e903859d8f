// Host backend SpMM timing: spinfer_spmm on a host context (F32 activations, F16 weights)
// over decode-size shapes and sparsities, median of repeated calls, warm caches.
// The dense BLAS comparison is bench/host/bench_host_vs_blas.py (numpy's BLAS).
//   bench_host_spmm [threads]      (0 = all cores)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "spinfer.h"

namespace {

double now_us() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
void check(spinfer_status_t s, const char* what) {
  if (s != SPINFER_STATUS_SUCCESS) {
    std::fprintf(stderr, "%s: %s\n", what, spinfer_last_error_message());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  spinfer_context_config_t opt;
  check(spinfer_context_config_init(&opt), "options");
  opt.backend = SPINFER_BACKEND_HOST;
  opt.host_threads = threads;
  spinfer_context_t* ctx = nullptr;
  check(spinfer_context_create_ex(&ctx, &opt), "context");

  const int64_t shapes[][2] = {{688, 256}, {4096, 4096}, {11008, 4096}};
  std::printf("%6s %6s %4s %5s | %12s\n", "M", "K", "N", "sp%", "spinfer_us");
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<float> u(-1.f, 1.f), p(0.f, 1.f);
  for (const auto& s : shapes) {
    const int64_t m = s[0], k = s[1];
    for (double sp : {0.5, 0.7, 0.9}) {
      std::vector<float> dense(size_t(m * k));
      for (auto& v : dense) v = p(rng) < sp ? 0.f : u(rng);
      spinfer_matrix_t* w = nullptr;
      check(spinfer_matrix_encode(&w, dense.data(), SPINFER_DTYPE_F32, m, k, k, SPINFER_DTYPE_F16), "encode");
      for (int64_t n : {1, 8}) {
        std::vector<float> x(size_t(n * k)), y(size_t(n * m));
        for (auto& v : x) v = u(rng);
        std::vector<double> t;
        const double budget_end = now_us() + 3e5;  // ~0.3 s per case, at least 5 calls
        for (int r = 0; r < 5 || now_us() < budget_end; ++r) {
          const double t0 = now_us();
          check(spinfer_spmm(ctx, w, x.data(), n, k, nullptr, y.data(), m, SPINFER_DTYPE_F32, nullptr), "spmm");
          t.push_back(now_us() - t0);
        }
        std::sort(t.begin(), t.end());
        std::printf("%6ld %6ld %4ld %5.0f | %12.1f\n", long(m), long(k), long(n), sp * 100, t[t.size() / 2]);
      }
      spinfer_matrix_destroy(w);
    }
  }
  spinfer_context_destroy(ctx);
  return 0;
}
