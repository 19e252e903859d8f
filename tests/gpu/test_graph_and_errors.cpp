// SpMM inside a CUDA graph (split-K counters reset themselves between replays), and the
// statuses of bad arguments.
#include <doctest/doctest.h>

#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "common/error.hpp"
#include "cuda/device_context.hpp"
#include "format/encode.hpp"
#include "gpu_util.hpp"

using namespace gpu_test;
using spinfer::DType;
namespace sc = spinfer::cuda;

namespace {

spinfer_status_t status_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const spinfer::Error& e) {
    return e.status();
  }
  return SPINFER_STATUS_SUCCESS;
}

}  // namespace

TEST_CASE("spmm captured in a CUDA graph replays to the same bits") {
  auto ctx = sc::create_context(0);
  std::mt19937_64 rng(3);
  const int64_t m = 1024, k = 4096, n = 8;
  const auto w = random_sparse(m, k, k, 0.6, DType::f16, rng);
  const auto x = random_sparse(n, k, k, 0.0, DType::f16, rng);
  const auto hm = spinfer::encode(w.data(), DType::f16, m, k, k, DType::f16);
  auto dm = sc::upload(*ctx, hm, nullptr);
  DeviceBuffer dx(x.size() * 2), dy(size_t(n * m) * 2);
  dx.upload(x.data(), x.size() * 2);

  cudaStream_t s;
  cuda_ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  sc::SpmmOptions opt;
  opt.split_k = 8;  // make sure the counters are exercised
  dy.poison();
  sc::spmm(*ctx, *dm, dx.ptr, n, k, nullptr, dy.ptr, m, DType::f16, opt, s);
  cuda_ok(cudaStreamSynchronize(s), "direct spmm");
  std::vector<uint16_t> direct(size_t(n * m)), replay(direct.size());
  dy.download(direct.data(), direct.size() * 2);
  const auto ref = reference_spmm(w, m, k, k, x, n, k, nullptr, DType::f16);
  CHECK(relative_error(direct, n, m, m, ref, DType::f16) <= 1e-3);

  cudaGraph_t graph;
  cuda_ok(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), "begin capture");
  sc::spmm(*ctx, *dm, dx.ptr, n, k, nullptr, dy.ptr, m, DType::f16, opt, s);
  sc::spmm(*ctx, *dm, dx.ptr, n, k, nullptr, dy.ptr, m, DType::f16, sc::SpmmOptions{}, s);
  cuda_ok(cudaStreamEndCapture(s, &graph), "end capture");
  cudaGraphExec_t exec;
  cuda_ok(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  for (int r = 0; r < 3; ++r) {
    dy.poison();
    cuda_ok(cudaGraphLaunch(exec, s), "graph launch");
    cuda_ok(cudaStreamSynchronize(s), "graph sync");
    dy.download(replay.data(), replay.size() * 2);
    CHECK(relative_error(replay, n, m, m, ref, DType::f16) <= 1e-3);
  }
  // The last node ran with the library's own choice; run that directly for a bitwise check.
  dy.poison();
  sc::spmm(*ctx, *dm, dx.ptr, n, k, nullptr, dy.ptr, m, DType::f16, sc::SpmmOptions{}, s);
  cuda_ok(cudaStreamSynchronize(s), "direct spmm 2");
  dy.download(direct.data(), direct.size() * 2);
  CHECK(std::memcmp(direct.data(), replay.data(), direct.size() * 2) == 0);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
}

TEST_CASE("a lazy context allocates a split-K slot at first use, never while capturing") {
  auto ctx = sc::create_context(0, 2, /*lazy_workspace=*/true);
  CHECK(ctx->workspace_bytes_allocated() == 0);
  std::mt19937_64 rng(5);
  const int64_t m = 256, k = 8192, n = 8;
  const auto w = random_sparse(m, k, k, 0.5, DType::f16, rng);
  const auto x = random_sparse(n, k, k, 0.0, DType::f16, rng);
  const auto hm = spinfer::encode(w.data(), DType::f16, m, k, k, DType::f16);
  auto dm = sc::upload(*ctx, hm, nullptr);
  DeviceBuffer dx(x.size() * 2), dy(size_t(n * m) * 2);
  dx.upload(x.data(), x.size() * 2);
  const auto ref = reference_spmm(w, m, k, k, x, n, k, nullptr, DType::f16);
  std::vector<uint16_t> got(size_t(n * m));
  cudaStream_t s;
  cuda_ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  sc::SpmmOptions opt;
  opt.split_k = 8;

  // Captured first: no slot may be allocated, so the graph runs without split-K.
  cudaGraph_t graph;
  cuda_ok(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), "begin capture");
  const auto captured = sc::plan_spmm_call(*ctx, *dm, n, DType::f16, opt, s);
  sc::spmm(*ctx, *dm, dx.ptr, n, k, nullptr, dy.ptr, m, DType::f16, opt, s);
  cuda_ok(cudaStreamEndCapture(s, &graph), "end capture");
  CHECK(captured.workspace_missing);
  CHECK(captured.split_k == 1);
  CHECK(ctx->workspace_bytes_allocated() == 0);
  cudaGraphExec_t exec;
  cuda_ok(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  cudaGraphDestroy(graph);
  dy.poison();
  cuda_ok(cudaGraphLaunch(exec, s), "graph launch");
  cuda_ok(cudaStreamSynchronize(s), "graph sync");
  dy.download(got.data(), got.size() * 2);
  CHECK(relative_error(got, n, m, m, ref, DType::f16) <= 1e-3);

  // Outside capture the first split-K call allocates one slot, cleared on its stream.
  const auto direct = sc::plan_spmm_call(*ctx, *dm, n, DType::f16, opt, s);
  CHECK(!direct.workspace_missing);
  CHECK(direct.split_k == 8);
  CHECK(ctx->workspace_bytes_allocated() == 0);  // a plan allocates nothing
  dy.poison();
  sc::spmm(*ctx, *dm, dx.ptr, n, k, nullptr, dy.ptr, m, DType::f16, opt, s);
  cuda_ok(cudaStreamSynchronize(s), "direct spmm");
  const size_t slot = sc::kSplitKSlotPartialBytes + sc::kSplitKSlotCounters * sizeof(unsigned);
  CHECK(ctx->workspace_bytes_allocated() == slot);
  dy.download(got.data(), got.size() * 2);
  CHECK(relative_error(got, n, m, m, ref, DType::f16) <= 1e-3);

  // Now bound to the stream, the slot serves a capture too.
  cuda_ok(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), "begin capture 2");
  CHECK(!sc::plan_spmm_call(*ctx, *dm, n, DType::f16, opt, s).workspace_missing);
  cuda_ok(cudaStreamEndCapture(s, &graph), "end capture 2");
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
}

TEST_CASE("spmm rejects bad arguments with the documented statuses") {
  auto ctx = sc::create_context(0);
  std::mt19937_64 rng(4);
  const int64_t m = 64, k = 128, n = 4;
  const auto w = random_sparse(m, k, k, 0.5, DType::f16, rng);
  const auto hm = spinfer::encode(w.data(), DType::f16, m, k, k, DType::f16);
  auto dm = sc::upload(*ctx, hm, nullptr);
  DeviceBuffer dx(size_t(n * k) * 2 + 64), dy(size_t(n * m) * 2 + 64);
  std::vector<uint16_t> host_x(size_t(n * k));
  dx.upload(host_x.data(), host_x.size() * 2);  // the successful calls read x: zeros, not garbage
  auto run = [&](const void* x, int64_t nn, int64_t ldx, void* y, int64_t ldy, DType dt,
                 sc::SpmmOptions opt = {}) {
    return status_of([&] { sc::spmm(*ctx, *dm, x, nn, ldx, nullptr, y, ldy, dt, opt, nullptr); });
  };
  CHECK(run(dx.ptr, n, k, dy.ptr, m, DType::f16) == SPINFER_STATUS_SUCCESS);
  CHECK(run(dx.ptr, 0, k, dy.ptr, m, DType::f16) == SPINFER_STATUS_SUCCESS);
  CHECK(run(dx.ptr, -1, k, dy.ptr, m, DType::f16) == SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(run(dx.ptr, n, k, dy.ptr, m, DType::bf16) == SPINFER_STATUS_UNSUPPORTED_DTYPE);
  CHECK(run(static_cast<char*>(dx.ptr) + 2, n, k, dy.ptr, m, DType::f16) ==
        SPINFER_STATUS_MISALIGNED);
  CHECK(run(dx.ptr, n, k + 4, dy.ptr, m, DType::f16) == SPINFER_STATUS_MISALIGNED);
  CHECK(run(dx.ptr, n, k - 8, dy.ptr, m, DType::f16) == SPINFER_STATUS_SHAPE_MISMATCH);
  CHECK(run(host_x.data(), n, k, dy.ptr, m, DType::f16) == SPINFER_STATUS_WRONG_LOCATION);
  CHECK(run(nullptr, n, k, dy.ptr, m, DType::f16) == SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(run(dx.ptr, n, k, dx.ptr, m, DType::f16) == SPINFER_STATUS_INVALID_ARGUMENT);  // overlap
  sc::SpmmOptions bad;
  bad.tile_n = 12;
  CHECK(run(dx.ptr, n, k, dy.ptr, m, DType::f16, bad) == SPINFER_STATUS_INVALID_ARGUMENT);
  bad.tile_n = 512;
  CHECK(run(dx.ptr, n, k, dy.ptr, m, DType::f16, bad) == SPINFER_STATUS_INVALID_ARGUMENT);
  // The wide tiles: the wgmma kernel only, where the device has it.
  for (int wide : {128, 256}) {
    sc::SpmmOptions o;
    o.tile_n = wide;
    for (sc::SpmmKernel other :
         {sc::SpmmKernel::block, sc::SpmmKernel::specialised, sc::SpmmKernel::warp_k}) {
      o.kernel = other;
      const spinfer_status_t st = run(dx.ptr, n, k, dy.ptr, m, DType::f16, o);
      CHECK((st == SPINFER_STATUS_INVALID_ARGUMENT ||
             (!ctx->has_kernel(other) && st == SPINFER_STATUS_NOT_SUPPORTED)));
    }
    for (sc::SpmmKernel asked : {sc::SpmmKernel::automatic, sc::SpmmKernel::wgmma}) {
      o.kernel = asked;
      CHECK(run(dx.ptr, n, k, dy.ptr, m, DType::f16, o) ==
            (ctx->has_wgmma_spmm() ? SPINFER_STATUS_SUCCESS : SPINFER_STATUS_NOT_SUPPORTED));
      if (ctx->has_wgmma_spmm()) {
        const sc::SpmmCallPlan plan = sc::plan_spmm_call(*ctx, *dm, 1000, DType::f16, o, nullptr);
        CHECK(plan.kernel == sc::SpmmKernel::wgmma);
        CHECK(plan.tile_n == wide);
      }
    }
  }
  cuda_ok(cudaDeviceSynchronize(), "sync");
  // GPU encoder argument checks.
  CHECK(status_of([&] {
          sc::encode_device(*ctx, host_x.data(), DType::f16, n, k, k, DType::f16, nullptr);
        }) == SPINFER_STATUS_WRONG_LOCATION);
  CHECK(status_of([&] {
          sc::encode_device(*ctx, dx.ptr, DType::f16, n, k, k - 1, DType::f16, nullptr);
        }) == SPINFER_STATUS_SHAPE_MISMATCH);
  CHECK(status_of([&] {
          sc::encode_device(*ctx, dx.ptr, DType::f16, n, k, k, DType::f32, nullptr);
        }) == SPINFER_STATUS_UNSUPPORTED_DTYPE);
}
