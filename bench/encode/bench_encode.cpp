// Host encode / save / load timing of a 4096 x 11008 fp16 matrix at 50 % sparsity
// (issue: "well under a second on one core"). Public C API only; single-threaded.
//   bench_encode [rows cols sparsity repeats]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "spinfer.h"

namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
void check(spinfer_status_t s, const char* what) {
  if (s != SPINFER_STATUS_SUCCESS) {
    std::fprintf(stderr, "%s: %s\n", what, spinfer_last_error_message());
    std::exit(1);
  }
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t rows = argc > 1 ? std::atoll(argv[1]) : 4096;
  const int64_t cols = argc > 2 ? std::atoll(argv[2]) : 11008;
  const double sparsity = argc > 3 ? std::atof(argv[3]) : 0.5;
  const int repeats = argc > 4 ? std::atoi(argv[4]) : 5;

  // fp16 bits of random values in [-1, 1] (via exponent/mantissa), zeroed with probability s.
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<uint16_t> dense(size_t(rows * cols));
  for (auto& v : dense)
    v = u(rng) < sparsity ? 0 : uint16_t((rng() & 0x8000u) | (0x2c00u + rng() % 0x1000u));

  const char* path = "bench_encode.safetensors";
  const char* name = "w";
  std::vector<double> t_encode, t_save, t_load;
  spinfer_matrix_info_t info{};
  info.struct_size = sizeof info;
  for (int r = 0; r < repeats; ++r) {
    spinfer_matrix_t* m = nullptr;
    spinfer_matrix_t* back = nullptr;
    double t0 = now_ms();
    check(spinfer_matrix_encode(&m, dense.data(), SPINFER_DTYPE_F16, rows, cols, cols, SPINFER_DTYPE_F16), "encode");
    double t1 = now_ms();
    check(spinfer_save(path, &m, &name, 1), "save");
    double t2 = now_ms();
    check(spinfer_load(&back, path, name), "load");
    double t3 = now_ms();
    check(spinfer_matrix_get_info(back, &info), "info");
    t_encode.push_back(t1 - t0);
    t_save.push_back(t2 - t1);
    t_load.push_back(t3 - t2);
    spinfer_matrix_destroy(m);
    spinfer_matrix_destroy(back);
  }
  std::remove(path);
  std::printf("matrix %lld x %lld fp16, sparsity %.1f %%, %.2f MB encoded (%.3f x smaller)\n",
              (long long)rows, (long long)cols, info.sparsity * 100, double(info.bytes) / 1e6,
              info.compression_ratio);
  std::printf("median of %d: encode %.1f ms, save %.1f ms, load+validate %.1f ms, encode+save+load %.1f ms\n",
              repeats, median(t_encode), median(t_save), median(t_load),
              median(t_encode) + median(t_save) + median(t_load));
  return 0;
}
