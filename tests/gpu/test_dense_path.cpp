// The dense (prefill) path of the CUDA SpMM: the decode kernel bit for bit against the
// host decoder, the path through spmm() against the float64 reference over several slabs
// (bias, padded leading dimensions, NaN around X, poisoned Y), the automatic choice and
// the plan query, a CUDA graph capture and two host threads on two streams.
// test_spmm.cpp also runs every one of its cases on this path (kernels()).
#include <doctest/doctest.h>

#include <cstring>
#include <exception>
#include <random>
#include <thread>
#include <vector>

#include "cuda/dense_gemm.hpp"
#include "cuda/device_context.hpp"
#include "cuda/device_matrix.hpp"
#include "cuda/spmm_dispatch.hpp"
#include "format/encode.hpp"
#include "gpu_util.hpp"

using namespace gpu_test;
using spinfer::DType;
namespace sc = spinfer::cuda;

namespace {

constexpr uint16_t kPoison = 0xFFFF;
int64_t round8(int64_t v) { return (v + 7) / 8 * 8; }

sc::SpmmOptions dense_options() {
  sc::SpmmOptions o;
  o.kernel = sc::SpmmKernel::dense_gemm;
  return o;
}

// One SpMM problem on the device: W (encoded and uploaded), X with NaN in its padding
// columns and in rows past n, a bias, and the float64 reference.
struct Problem {
  int64_t m, k, n, ldx, ldy;
  DType dtype;
  std::vector<uint16_t> w, x, bias;
  sc::DeviceMatrixPtr dm;
  DeviceBuffer dx, dy, db;
  std::vector<double> ref;

  Problem(sc::DeviceContext& ctx, int64_t m_, int64_t k_, int64_t n_, double sparsity, DType dt,
          bool with_bias, int64_t pad, std::mt19937_64& rng)
      : m(m_), k(k_), n(n_), ldx(round8(k_) + pad), ldy(round8(m_) + pad), dtype(dt),
        w(random_sparse(m_, k_, k_, sparsity, dt, rng)),
        x(random_sparse(n_, k_, round8(k_) + pad, 0.0, dt, rng, /*pad_nan=*/true)),
        dx(size_t((n_ + 5) * (round8(k_) + pad)) * 2),
        dy(size_t(n_ * (round8(m_) + pad)) * 2),
        db(size_t(m_) * 2 + 16) {
    x.resize(size_t((n + 5) * ldx), dtype == DType::f16 ? 0x7e00 : 0x7fc0);  // NaN rows past n
    dx.upload(x.data(), x.size() * 2);
    if (with_bias) {
      bias = random_sparse(1, m, m, 0.0, dtype, rng);
      db.upload(bias.data(), bias.size() * 2);
    }
    dm = sc::upload(ctx, spinfer::encode(w.data(), dtype, m, k, k, dtype), nullptr);
    ref = reference_spmm(w, m, k, k, x, n, ldx, with_bias ? &bias : nullptr, dtype);
  }
  const void* bias_ptr() const { return bias.empty() ? nullptr : db.ptr; }

  // Runs spmm with `options` on `stream` into a poisoned Y and checks it; returns Y.
  std::vector<uint16_t> run_and_check(sc::DeviceContext& ctx, const sc::SpmmOptions& options,
                                      cudaStream_t stream = nullptr) {
    dy.poison();
    sc::spmm(ctx, *dm, dx.ptr, n, ldx, bias_ptr(), dy.ptr, ldy, dtype, options, stream);
    cuda_ok(cudaDeviceSynchronize(), "spmm");
    return check_output();
  }
  std::vector<uint16_t> check_output() {
    std::vector<uint16_t> out(size_t(n * ldy));
    dy.download(out.data(), out.size() * 2);
    CHECK(relative_error(out, n, m, ldy, ref, dtype) <= tolerance(dtype));
    bool untouched = true;  // columns [m, ldy) are not outputs
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = m; i < ldy; ++i) untouched &= out[size_t(t * ldy + i)] == kPoison;
    CHECK(untouched);
    return out;
  }
};

}  // namespace

TEST_CASE("dense decode kernel equals the host decoder bit for bit") {
  auto ctx = sc::create_context(0);
  std::mt19937_64 rng(41);
  const int64_t shapes[][2] = {{1, 1},    {17, 33},  {64, 64},     {100, 200},
                               {130, 72}, {257, 513}, {1000, 1500}, {64, 1}};
  const double sparsities[] = {0.0, 0.3, 0.5, 0.7, 0.9, 0.99};
  int index = 0;
  for (DType dtype : {DType::f16, DType::bf16})
    for (const auto& s : shapes) {
      const int64_t rows = s[0], cols = s[1];
      const double sparsity = sparsities[index++ % 6];
      CAPTURE(rows);
      CAPTURE(cols);
      CAPTURE(sparsity);
      CAPTURE(int(dtype));
      const auto w = random_sparse(rows, cols, cols, sparsity, dtype, rng);
      const auto hm = spinfer::encode(w.data(), dtype, rows, cols, cols, dtype);
      std::vector<uint16_t> want(size_t(rows * cols));
      spinfer::decode(hm, want.data(), dtype, cols);  // the host decoder: the reference
      auto dm = sc::upload(*ctx, hm, nullptr);
      const int64_t gm = (rows + 63) / 64, ld = round8(cols) + 8;  // one chunk to spare
      for (int64_t per : {int64_t(1), int64_t(3), gm}) {
        for (int64_t first = 0; first < gm; first += per) {
          const int64_t count = std::min(per, gm - first);
          DeviceBuffer slab(size_t(count * 64 * ld) * 2);
          slab.poison();
          cuda_ok(sc::launch_decode_dense(*dm, first, count, static_cast<uint16_t*>(slab.ptr), ld, nullptr),
                  "launch_decode_dense");
          cuda_ok(cudaDeviceSynchronize(), "decode");
          std::vector<uint16_t> got(size_t(count * 64 * ld));
          slab.download(got.data(), got.size() * 2);
          int64_t wrong = 0;
          for (int64_t r = 0; r < count * 64; ++r)
            for (int64_t c = 0; c < ld; ++c) {
              const int64_t w_row = first * 64 + r;
              uint16_t expect = kPoison;  // rows past M, columns past round8(K): not written
              if (w_row < rows && c < cols) expect = want[size_t(w_row * cols + c)];
              else if (w_row < rows && c < round8(cols)) expect = 0;
              wrong += got[size_t(r * ld + c)] != expect;
            }
          INFO("slab from GroupTile row ", first, ", ", count, " rows");
          CHECK(wrong == 0);
        }
      }
    }
  // Bad ranges and layouts are refused, not run.
  const auto w = random_sparse(100, 100, 100, 0.5, DType::f16, rng);
  auto dm = sc::upload(*ctx, spinfer::encode(w.data(), DType::f16, 100, 100, 100, DType::f16), nullptr);
  DeviceBuffer slab(size_t(128 * 112) * 2);
  auto* p = static_cast<uint16_t*>(slab.ptr);
  CHECK(sc::launch_decode_dense(*dm, 1, 2, p, 112, nullptr) == cudaErrorInvalidValue);   // past GM
  CHECK(sc::launch_decode_dense(*dm, 0, 2, p, 100, nullptr) == cudaErrorInvalidValue);   // ld % 8
  CHECK(sc::launch_decode_dense(*dm, 0, 2, p, 96, nullptr) == cudaErrorInvalidValue);    // ld < K
  CHECK(sc::launch_decode_dense(*dm, 0, 2, p + 1, 112, nullptr) == cudaErrorInvalidValue);  // alignment
  CHECK(sc::launch_decode_dense(*dm, 0, 0, p, 112, nullptr) == cudaSuccess);
}

TEST_CASE("dense path through spmm: float64 reference over one and several slabs") {
  auto ctx = sc::create_context(0);
  REQUIRE(ctx->has_kernel(sc::SpmmKernel::dense_gemm));
  const uint64_t initial_budget = sc::dense_slab_budget(ctx->dense_gemm());
  std::mt19937_64 rng(43);
  struct Shape {
    int64_t m, k, n;
  };
  const Shape shapes[] = {{1, 1, 1}, {17, 33, 300}, {100, 200, 256}, {257, 513, 1000}, {1000, 1500, 384},
                          {300, 4100, 513}, {64, 64, 2048}};
  int index = 0;
  for (DType dtype : {DType::f16, DType::bf16})
    for (const Shape& s : shapes)
      for (uint64_t budget : {initial_budget, uint64_t(1)}) {  // 1 byte: one GroupTile row a slab
        const double sparsity = std::vector<double>{0.0, 0.3, 0.5, 0.7, 0.9, 0.99}[size_t(index % 6)];
        const bool with_bias = index % 2 == 0;
        const int64_t pad = (index % 3) * 8;
        ++index;
        CAPTURE(s.m);
        CAPTURE(s.k);
        CAPTURE(s.n);
        CAPTURE(sparsity);
        CAPTURE(int(dtype));
        CAPTURE(budget);
        CAPTURE(with_bias);
        CAPTURE(pad);
        sc::set_dense_slab_budget(ctx->dense_gemm(), budget);
        Problem p(*ctx, s.m, s.k, s.n, sparsity, dtype, with_bias, pad, rng);
        const auto first = p.run_and_check(*ctx, dense_options());
        // The same call again: bitwise the same.
        const auto again = p.run_and_check(*ctx, dense_options());
        CHECK(std::memcmp(first.data(), again.data(), first.size() * 2) == 0);
      }
  sc::set_dense_slab_budget(ctx->dense_gemm(), initial_budget);
}

TEST_CASE("dense path: the plan of a dense call says so; the automatic choice follows kDenseGemmAutomatic") {
  auto ctx = sc::create_context(0);
  std::mt19937_64 rng(47);
  Problem p(*ctx, 520, 1000, 300, 0.6, DType::f16, true, 8, rng);
  // While the automatic choice is off (kDenseGemmAutomatic), the plan of a forced call.
  const sc::SpmmOptions chosen = sc::kDenseGemmAutomatic ? sc::SpmmOptions{} : dense_options();
  CHECK((sc::plan_spmm_call(*ctx, *p.dm, p.n, DType::f16, {}, nullptr).kernel == sc::SpmmKernel::dense_gemm) ==
        sc::kDenseGemmAutomatic);
  const auto plan = sc::plan_spmm_call(*ctx, *p.dm, p.n, DType::f16, chosen, nullptr);
  CHECK(plan.kernel == sc::SpmmKernel::dense_gemm);
  CHECK(plan.tile_n == 0);
  CHECK(plan.split_k == 1);
  const auto slabs = sc::dense_slab_plan(ctx->dense_gemm(), p.m, p.k);
  CHECK(plan.launches == slabs.slabs);
  CHECK(plan.workspace_bytes == slabs.scratch_bytes());
  const auto automatic = p.run_and_check(*ctx, chosen);
  const auto forced = p.run_and_check(*ctx, dense_options());
  CHECK(std::memcmp(automatic.data(), forced.data(), automatic.size() * 2) == 0);
  // Below the threshold, or with a tile override, an SMBD kernel runs.
  CHECK(sc::plan_spmm_call(*ctx, *p.dm, sc::kDenseGemmMinTokens - 1, DType::f16, {}, nullptr).kernel !=
        sc::SpmmKernel::dense_gemm);
  sc::SpmmOptions tiled;
  tiled.tile_n = 64;
  CHECK(sc::plan_spmm_call(*ctx, *p.dm, p.n, DType::f16, tiled, nullptr).kernel !=
        sc::SpmmKernel::dense_gemm);
  p.run_and_check(*ctx, tiled);
}

TEST_CASE("dense path captured in a CUDA graph replays to the same bits") {
  auto ctx = sc::create_context(0);
  std::mt19937_64 rng(53);
  sc::set_dense_slab_budget(ctx->dense_gemm(), uint64_t(1));  // several slabs in the graph
  Problem p(*ctx, 200, 1030, 260, 0.7, DType::bf16, true, 0, rng);
  cudaStream_t s;
  cuda_ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  const auto direct = p.run_and_check(*ctx, dense_options(), s);

  cudaGraph_t graph;
  cuda_ok(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), "begin capture");
  sc::spmm(*ctx, *p.dm, p.dx.ptr, p.n, p.ldx, p.bias_ptr(), p.dy.ptr, p.ldy, p.dtype, dense_options(), s);
  cuda_ok(cudaStreamEndCapture(s, &graph), "end capture");
  cudaGraphExec_t exec;
  cuda_ok(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  for (int r = 0; r < 3; ++r) {
    p.dy.poison();
    cuda_ok(cudaGraphLaunch(exec, s), "graph launch");
    cuda_ok(cudaStreamSynchronize(s), "graph sync");
    const auto replay = p.check_output();
    CHECK(std::memcmp(direct.data(), replay.data(), direct.size() * 2) == 0);
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
}

TEST_CASE("dense path from two host threads on two streams of one context") {
  auto ctx = sc::create_context(0);
  std::mt19937_64 rng(59);
  sc::set_dense_slab_budget(ctx->dense_gemm(), uint64_t(1));
  Problem a(*ctx, 300, 700, 400, 0.5, DType::f16, true, 0, rng);
  Problem b(*ctx, 450, 520, 280, 0.8, DType::f16, false, 8, rng);
  a.dy.poison();
  b.dy.poison();
  cudaStream_t sa, sb;
  cuda_ok(cudaStreamCreateWithFlags(&sa, cudaStreamNonBlocking), "cudaStreamCreate");
  cuda_ok(cudaStreamCreateWithFlags(&sb, cudaStreamNonBlocking), "cudaStreamCreate");
  auto work = [&](Problem& p, cudaStream_t s, bool& ok) {
    try {
      for (int i = 0; i < 20; ++i)
        sc::spmm(*ctx, *p.dm, p.dx.ptr, p.n, p.ldx, p.bias_ptr(), p.dy.ptr, p.ldy, p.dtype,
                 dense_options(), s);
      ok = true;
    } catch (const std::exception&) {
      ok = false;  // doctest's macros are not thread-safe: report on the main thread
    }
  };
  bool ok_a = false, ok_b = false;
  std::thread ta(work, std::ref(a), sa, std::ref(ok_a)), tb(work, std::ref(b), sb, std::ref(ok_b));
  ta.join();
  tb.join();
  CHECK(ok_a);
  CHECK(ok_b);
  cuda_ok(cudaDeviceSynchronize(), "sync");
  a.check_output();
  b.check_output();
  cudaStreamDestroy(sa);
  cudaStreamDestroy(sb);
}
