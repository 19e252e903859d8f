// The CUDA backend through the public C API only (libspinfer.so): upload, GPU encode,
// SpMM (plain, with options, captured in a graph), download, and the statuses of bad
// device arguments. The host backend on the same matrix is the reference.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "spinfer.h"

namespace {

#define OK(call) REQUIRE_MESSAGE((call) == SPINFER_STATUS_SUCCESS, spinfer_last_error_message())

struct Dev {
  void* p = nullptr;
  explicit Dev(size_t bytes) { REQUIRE(cudaMalloc(&p, bytes) == cudaSuccess); }
  ~Dev() { cudaFree(p); }
};

double rel_err(const std::vector<__half>& a, const std::vector<__half>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double x = __half2float(a[i]), y = __half2float(b[i]);
    if (!std::isfinite(x)) return INFINITY;
    num += (x - y) * (x - y);
    den += y * y;
  }
  return std::sqrt(num / den);
}

}  // namespace

TEST_CASE("C API: GPU SpMM agrees with the host backend; upload, download, GPU encode") {
  // ldx > k and rows past n: that padding is NaN, which no backend may read.
  const int64_t m = 300, k = 520, n = 7, ldx = 536, ldy = 304, x_rows = n + 3;
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<float> u(-1.f, 1.f), keep(0.f, 1.f);
  std::vector<float> w(size_t(m * k));
  for (float& v : w) v = keep(rng) < 0.6f ? 0.f : u(rng);
  std::vector<__half> x(size_t(x_rows * ldx)), y_host(size_t(n * ldy)), y_dev(y_host.size());
  for (int64_t t = 0; t < x_rows; ++t)
    for (int64_t c = 0; c < ldx; ++c)
      x[size_t(t * ldx + c)] = t < n && c < k ? __float2half(u(rng)) : __float2half(NAN);

  spinfer_context_t *host = nullptr, *gpu = nullptr;
  OK(spinfer_context_create(&host, SPINFER_BACKEND_HOST));
  OK(spinfer_context_create(&gpu, SPINFER_BACKEND_CUDA));
  spinfer_matrix_t *hm = nullptr, *dm = nullptr, *back = nullptr, *em = nullptr;
  OK(spinfer_matrix_encode(&hm, w.data(), SPINFER_DTYPE_F32, m, k, k, SPINFER_DTYPE_F16));
  OK(spinfer_spmm(host, hm, x.data(), n, ldx, nullptr, y_host.data(), ldy, SPINFER_DTYPE_F16, nullptr));

  cudaStream_t s;
  REQUIRE(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
  OK(spinfer_matrix_upload(gpu, hm, &dm, s));
  spinfer_matrix_info_t info{};
  info.struct_size = sizeof(info);
  OK(spinfer_matrix_get_info(dm, &info));
  CHECK(info.location == SPINFER_LOCATION_DEVICE);
  CHECK(info.rows == m);
  CHECK(info.cols == k);

  Dev dx(x.size() * 2), dy(y_dev.size() * 2), dw(w.size() * 4);
  REQUIRE(cudaMemcpy(dx.p, x.data(), x.size() * 2, cudaMemcpyHostToDevice) == cudaSuccess);
  REQUIRE(cudaMemcpy(dw.p, w.data(), w.size() * 4, cudaMemcpyHostToDevice) == cudaSuccess);
  // Pageable cudaMemcpy runs on the legacy stream and may still be in flight; `s` is a
  // non-blocking stream that does not wait for it. Without this (and with the poison on
  // the legacy stream) the first SpMM raced the copies queued before it: under initcheck
  // its output came back non-finite on the first call only.
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);

  // Plain call; columns >= m of y belong to nobody: compare only the [n, m] block.
  auto run_and_fetch = [&](const spinfer_matrix_t* mat, const spinfer_spmm_options_t* opt) {
    // Poison on `s` itself: a cudaMemset on the legacy stream is not ordered with `s`.
    REQUIRE(cudaMemsetAsync(dy.p, 0xFF, y_dev.size() * 2, s) == cudaSuccess);
    OK(spinfer_spmm_ex(gpu, mat, dx.p, n, ldx, nullptr, dy.p, ldy, SPINFER_DTYPE_F16, opt, s));
    REQUIRE(cudaStreamSynchronize(s) == cudaSuccess);
    REQUIRE(cudaMemcpy(y_dev.data(), dy.p, y_dev.size() * 2, cudaMemcpyDeviceToHost) == cudaSuccess);
    std::vector<__half> a, b;
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = 0; i < m; ++i) {
        a.push_back(y_dev[size_t(t * ldy + i)]);
        b.push_back(y_host[size_t(t * ldy + i)]);
      }
    return rel_err(a, b);
  };
  CHECK(run_and_fetch(dm, nullptr) <= 1e-3);
  const std::vector<__half> first = y_dev;

  spinfer_spmm_options_t opt;
  OK(spinfer_spmm_options_init(&opt));
  opt.split_k = 3;
  opt.tile_n = 16;
  CHECK(run_and_fetch(dm, &opt) <= 1e-3);

  // GPU encoder on the device copy of the dense fp32 matrix: same arrays, so same bits.
  OK(spinfer_matrix_encode_device(gpu, &em, dw.p, SPINFER_DTYPE_F32, m, k, k, SPINFER_DTYPE_F16, s));
  CHECK(run_and_fetch(em, nullptr) <= 1e-3);
  CHECK(std::memcmp(first.data(), y_dev.data(), first.size() * 2) == 0);

  // Download and decode: the same dense matrix as the host original.
  OK(spinfer_matrix_download(gpu, dm, &back, s));
  std::vector<float> d1(w.size()), d2(w.size());
  OK(spinfer_matrix_decode(hm, d1.data(), SPINFER_DTYPE_F32, k));
  OK(spinfer_matrix_decode(back, d2.data(), SPINFER_DTYPE_F32, k));
  CHECK(std::memcmp(d1.data(), d2.data(), d1.size() * 4) == 0);

  // Captured in a graph and replayed.
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaSuccess);
  OK(spinfer_spmm(gpu, dm, dx.p, n, ldx, nullptr, dy.p, ldy, SPINFER_DTYPE_F16, s));
  REQUIRE(cudaStreamEndCapture(s, &graph) == cudaSuccess);
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  REQUIRE(cudaMemsetAsync(dy.p, 0xFF, y_dev.size() * 2, s) == cudaSuccess);
  REQUIRE(cudaGraphLaunch(exec, s) == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(s) == cudaSuccess);
  REQUIRE(cudaMemcpy(y_dev.data(), dy.p, y_dev.size() * 2, cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(std::memcmp(first.data(), y_dev.data(), first.size() * 2) == 0);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);

  // Statuses of bad device arguments, each with a message.
  CHECK(spinfer_spmm(gpu, dm, x.data(), n, ldx, nullptr, dy.p, ldy, SPINFER_DTYPE_F16, s) ==
        SPINFER_STATUS_WRONG_LOCATION);
  CHECK(std::strlen(spinfer_last_error_message()) > 0);
  CHECK(spinfer_spmm(gpu, dm, static_cast<char*>(dx.p) + 2, n, ldx, nullptr, dy.p, ldy,
                     SPINFER_DTYPE_F16, s) == SPINFER_STATUS_MISALIGNED);
  CHECK(spinfer_spmm(gpu, dm, dx.p, n, ldx, nullptr, dy.p, ldy, SPINFER_DTYPE_BF16, s) ==
        SPINFER_STATUS_UNSUPPORTED_DTYPE);
  // A host matrix with device arrays (the upload forgotten): a status, not a segfault.
  CHECK(spinfer_spmm(gpu, hm, dx.p, n, ldx, nullptr, dy.p, ldy, SPINFER_DTYPE_F16, s) ==
        SPINFER_STATUS_WRONG_LOCATION);
  CHECK(std::strstr(spinfer_last_error_message(), "spinfer_matrix_upload") != nullptr);
  spinfer_matrix_t* bad = nullptr;
  CHECK(spinfer_matrix_upload(host, hm, &bad, nullptr) == SPINFER_STATUS_NOT_SUPPORTED);
  CHECK(bad == nullptr);
  CHECK(spinfer_matrix_encode_device(gpu, &bad, w.data(), SPINFER_DTYPE_F32, m, k, k,
                                     SPINFER_DTYPE_F16, s) == SPINFER_STATUS_WRONG_LOCATION);

  spinfer_matrix_destroy(em);
  spinfer_matrix_destroy(back);
  spinfer_matrix_destroy(dm);
  spinfer_matrix_destroy(hm);
  spinfer_context_destroy(gpu);
  spinfer_context_destroy(host);
  cudaStreamDestroy(s);
}

TEST_CASE("C API: spinfer_spmm_plan says what a GPU call does, the fifth stream included") {
  // 256 x 16384 at N = 8: few output tiles, so split-K is used when a workspace is free.
  const int64_t m = 256, k = 16384, n = 8;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<float> u(-1.f, 1.f), keep(0.f, 1.f);
  std::vector<float> w(size_t(m * k));
  for (float& v : w) v = keep(rng) < 0.5f ? 0.f : u(rng);
  spinfer_context_t* gpu = nullptr;
  OK(spinfer_context_create(&gpu, SPINFER_BACKEND_CUDA));
  spinfer_matrix_t *hm = nullptr, *dm = nullptr;
  OK(spinfer_matrix_encode(&hm, w.data(), SPINFER_DTYPE_F32, m, k, k, SPINFER_DTYPE_F16));
  OK(spinfer_matrix_upload(gpu, hm, &dm, nullptr));
  std::vector<__half> x(size_t(n * k));
  for (auto& v : x) v = __float2half(u(rng));
  Dev dx(x.size() * 2), dy(size_t(n * m) * 2), dy2(size_t(n * m) * 2);
  REQUIRE(cudaMemcpy(dx.p, x.data(), x.size() * 2, cudaMemcpyHostToDevice) == cudaSuccess);

  spinfer_spmm_plan_t plan{};
  plan.struct_size = sizeof plan;
  for (int64_t tokens : {1, 8, 16, 64, 1000}) {
    CAPTURE(tokens);
    OK(spinfer_spmm_plan(gpu, dm, tokens, SPINFER_DTYPE_F16, nullptr, nullptr, &plan));
    CHECK(plan.kernel != SPINFER_SPMM_KERNEL_HOST);
    CHECK(plan.split_k >= 1);
    CHECK(plan.launches >= 1);
    CHECK(plan.host_threads == 0);
    if (plan.kernel == SPINFER_SPMM_KERNEL_DENSE_GEMM) {  // from 256 tokens, cuBLAS found
      CHECK(tokens >= 256);
      CHECK(plan.tile_n == 0);
      CHECK(plan.workspace_bytes > 0);  // the slab and cuBLAS's workspace
    } else {
      CHECK(plan.tile_n == (tokens <= 8 ? 8 : tokens <= 16 ? 16 : 64));
      CHECK(plan.launches == 1);
    }
  }
  CHECK(spinfer_spmm_plan(gpu, dm, 8, SPINFER_DTYPE_BF16, nullptr, nullptr, &plan) ==
        SPINFER_STATUS_UNSUPPORTED_DTYPE);

  // Four streams take the context's four workspace slots; the fifth runs without split-K,
  // and the plan says so beforehand.
  cudaStream_t streams[5];
  for (auto& st : streams) REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  OK(spinfer_spmm_plan(gpu, dm, n, SPINFER_DTYPE_F16, nullptr, streams[0], &plan));
  REQUIRE(plan.split_k > 1);  // the shape is chosen for split-K
  CHECK(plan.workspace_bytes > 0);
  CHECK(plan.runs_without_workspace == 0);
  for (int i = 0; i < 4; ++i)
    OK(spinfer_spmm(gpu, dm, dx.p, n, k, nullptr, dy.p, m, SPINFER_DTYPE_F16, streams[i]));
  OK(spinfer_spmm_plan(gpu, dm, n, SPINFER_DTYPE_F16, nullptr, streams[4], &plan));
  CHECK(plan.runs_without_workspace == 1);
  CHECK(plan.split_k == 1);
  CHECK(plan.workspace_bytes == 0);
  OK(spinfer_spmm_plan(gpu, dm, n, SPINFER_DTYPE_F16, nullptr, streams[0], &plan));
  CHECK(plan.runs_without_workspace == 0);  // stream 0 keeps its slot

  // Passing the plan back pins the configuration: the same bits as the automatic call.
  spinfer_spmm_options_t opt;
  OK(spinfer_spmm_options_init(&opt));
  opt.tile_n = plan.tile_n;
  opt.split_k = plan.split_k;
  OK(spinfer_spmm_ex(gpu, dm, dx.p, n, k, nullptr, dy2.p, m, SPINFER_DTYPE_F16, &opt, streams[0]));
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  std::vector<uint16_t> a(size_t(n * m)), b(a.size());
  REQUIRE(cudaMemcpy(a.data(), dy.p, a.size() * 2, cudaMemcpyDeviceToHost) == cudaSuccess);
  REQUIRE(cudaMemcpy(b.data(), dy2.p, b.size() * 2, cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(a == b);

  // One slot: a second stream waits for it until the first releases it; no slot at all:
  // every call runs without split-K, with the same result.
  spinfer_context_config_t cc;
  OK(spinfer_context_config_init(&cc));
  cc.backend = SPINFER_BACKEND_CUDA;
  cc.spmm_workspace_slots = 1;
  spinfer_context_t* one = nullptr;
  OK(spinfer_context_create_ex(&one, &cc));
  spinfer_matrix_t* dm1 = nullptr;
  OK(spinfer_matrix_upload(one, hm, &dm1, nullptr));
  OK(spinfer_spmm(one, dm1, dx.p, n, k, nullptr, dy2.p, m, SPINFER_DTYPE_F16, streams[0]));
  OK(spinfer_spmm_plan(one, dm1, n, SPINFER_DTYPE_F16, nullptr, streams[1], &plan));
  CHECK(plan.runs_without_workspace == 1);
  OK(spinfer_context_release_stream(one, streams[0]));
  OK(spinfer_spmm_plan(one, dm1, n, SPINFER_DTYPE_F16, nullptr, streams[1], &plan));
  CHECK(plan.runs_without_workspace == 0);
  CHECK(plan.split_k > 1);
  OK(spinfer_context_release_stream(one, streams[2]));  // never bound: nothing to do
  cc.spmm_workspace_slots = 0;
  spinfer_context_t* none = nullptr;
  OK(spinfer_context_create_ex(&none, &cc));
  spinfer_matrix_t* dm0 = nullptr;
  OK(spinfer_matrix_upload(none, hm, &dm0, nullptr));
  OK(spinfer_spmm_plan(none, dm0, n, SPINFER_DTYPE_F16, nullptr, streams[0], &plan));
  CHECK(plan.runs_without_workspace == 1);
  CHECK(plan.split_k == 1);
  OK(spinfer_spmm(none, dm0, dx.p, n, k, nullptr, dy2.p, m, SPINFER_DTYPE_F16, streams[0]));
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  std::vector<uint16_t> c0(size_t(n * m));
  REQUIRE(cudaMemcpy(c0.data(), dy2.p, c0.size() * 2, cudaMemcpyDeviceToHost) == cudaSuccess);
  std::vector<__half> ref(c0.size()), got(c0.size());
  std::memcpy(ref.data(), a.data(), a.size() * 2);
  std::memcpy(got.data(), c0.data(), c0.size() * 2);
  CHECK(rel_err(got, ref) < 1e-2);  // split_k 1 sums in another order than split-K
  spinfer_matrix_destroy(dm0);
  spinfer_matrix_destroy(dm1);
  spinfer_context_destroy(none);
  spinfer_context_destroy(one);

  for (auto& st : streams) cudaStreamDestroy(st);
  spinfer_matrix_destroy(dm);
  spinfer_matrix_destroy(hm);
  spinfer_context_destroy(gpu);
}

int main(int argc, char** argv) {
  int count = 0;
  if (!spinfer_has_cuda() || cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::printf("SKIPPED: no CUDA device\n");
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
