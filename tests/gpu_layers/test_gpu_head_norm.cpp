// The per-head q/k RMSNorm op of the CUDA layer backend (Qwen3's q_norm / k_norm,
// core/cuda/layers/head_norm*.cu*) against a float64 reference: F16 and BF16, head
// dims from 2 to 256 (the kernel's limit, 8 elements per lane), odd head counts,
// strided rows whose padding columns must stay untouched.
#include <cmath>
#include <random>
#include <vector>

#include "cuda/device_context.hpp"
#include "gpu_io.hpp"
#include "layers/backend.hpp"
#include "layers_reference.hpp"

using namespace spinfer;
using spinfer::test::DevArray;
using spinfer::test::rounded;

namespace {

// x / sqrt(mean(x^2) + eps) * w over each of `heads` head vectors of every row.
std::vector<double> reference(const std::vector<double>& x, int64_t n, int64_t ld, int heads, int hd,
                              const std::vector<float>& w, double eps) {
  std::vector<double> y = x;
  for (int64_t t = 0; t < n; ++t)
    for (int h = 0; h < heads; ++h) {
      double* v = y.data() + t * ld + int64_t(h) * hd;
      double s = 0;
      for (int d = 0; d < hd; ++d) s += v[d] * v[d];
      const double inv = 1.0 / std::sqrt(s / hd + eps);
      for (int d = 0; d < hd; ++d) v[d] *= inv * w[size_t(d)];
    }
  return y;
}

struct DevFloats {
  float* p = nullptr;
  explicit DevFloats(const std::vector<float>& v) {
    REQUIRE(cudaMalloc(&p, v.size() * 4) == cudaSuccess);
    REQUIRE(cudaMemcpy(p, v.data(), v.size() * 4, cudaMemcpyHostToDevice) == cudaSuccess);
  }
  ~DevFloats() { cudaFree(p); }
};

}  // namespace

TEST_CASE("gpu qk_head_norm: fp16 and bf16 against float64, head dims 2..256, padding untouched") {
  cuda::DeviceContext ctx(0, 1);
  std::mt19937_64 rng(53);
  std::uniform_real_distribution<double> value(-3.0, 3.0), weight(0.5, 1.5);
  const double eps = 1e-6, sentinel = 7.0;
  for (spinfer_dtype_t dt : {SPINFER_DTYPE_F16, SPINFER_DTYPE_BF16}) {
    auto backend = layers::make_cuda_backend(ctx, DType(dt));
    for (int hd : {2, 30, 64, 128, 200, 256})
      for (int kv_heads : {1, 3}) {
        CAPTURE(dt); CAPTURE(hd); CAPTURE(kv_heads);
        const int heads = 5;
        const int64_t n = 7, ldq = int64_t(heads) * hd + 8, ldk = int64_t(kv_heads) * hd + 8;
        auto fill = [&](int64_t ld, int used) {
          std::vector<double> v(size_t(n * ld), sentinel);
          for (int64_t t = 0; t < n; ++t)
            for (int64_t j = 0; j < used; ++j) v[size_t(t * ld + j)] = value(rng);
          return rounded(v, dt);
        };
        const std::vector<double> q = fill(ldq, heads * hd), k = fill(ldk, kv_heads * hd);
        std::vector<float> qw(static_cast<size_t>(hd)), kw(static_cast<size_t>(hd));
        for (auto& w : qw) w = float(weight(rng));
        for (auto& w : kw) w = float(weight(rng));
        DevArray dq(q, dt), dk(k, dt);
        DevFloats dqw(qw), dkw(kw);
        backend->qk_head_norm(dq.p, ldq, heads, dqw.p, dk.p, ldk, kv_heads, dkw.p, hd, n, float(eps), nullptr);
        const std::vector<double> gq = dq.get(), gk = dk.get();
        const double tol = dt == SPINFER_DTYPE_F16 ? 1e-3 : 1e-2;
        CHECK(test::ref::rel_err(gq, reference(q, n, ldq, heads, hd, qw, eps)) <= tol);
        CHECK(test::ref::rel_err(gk, reference(k, n, ldk, kv_heads, hd, kw, eps)) <= tol);
        for (int64_t t = 0; t < n; ++t)
          for (int64_t j = int64_t(heads) * hd; j < ldq; ++j) REQUIRE(gq[size_t(t * ldq + j)] == sentinel);
        for (int64_t t = 0; t < n; ++t)
          for (int64_t j = int64_t(kv_heads) * hd; j < ldk; ++j) REQUIRE(gk[size_t(t * ldk + j)] == sentinel);
      }
  }
}
