// CUDA SpMM against the float64 host reference and cuBLAS on the decoded dense matrix:
// many shapes (odd ones too), sparsities 0-99 %, N from 1 to 1000, fp16 and bf16,
// poisoned outputs, padding columns and rows past N of X full of NaN, and bitwise
// repeatability; every SMBD kernel the device runs and the dense path, a non-uniform
// pattern, and the wgmma kernel's wide token tiles (128, 256).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <random>
#include <vector>

#include "cuda/device_context.hpp"
#include "cuda/spmm_dispatch.hpp"
#include "format/encode.hpp"
#include "gpu_util.hpp"

using namespace gpu_test;
using spinfer::DType;
namespace sc = spinfer::cuda;

namespace {

struct Case {
  int64_t m, k, n;
  double sparsity;
  DType dtype;
  sc::SpmmOptions options{};
  bool with_bias = false;
  int64_t pad_x = 0, pad_y = 0;  // extra (multiple-of-8) leading-dimension padding
  bool skewed = false;           // non-uniform pattern (skewed_pattern) instead of `sparsity`
};

int64_t round8(int64_t v) { return (v + 7) / 8 * 8; }

// The kernels this device runs: each test case runs on every one of them, or on those
// named in SPINFER_TEST_KERNELS (comma-separated, e.g. "warp_k,dense_gemm": a short
// device run for the kernels that changed).
std::vector<sc::SpmmKernel> kernels(const sc::DeviceContext& ctx) {
  const std::pair<sc::SpmmKernel, const char*> named[] = {
      {sc::SpmmKernel::block, "block"},   {sc::SpmmKernel::specialised, "specialised"},
      {sc::SpmmKernel::wgmma, "wgmma"},   {sc::SpmmKernel::warp_k, "warp_k"},
      {sc::SpmmKernel::dense_gemm, "dense_gemm"}};
  const char* only = std::getenv("SPINFER_TEST_KERNELS");
  std::vector<sc::SpmmKernel> all;
  for (const auto& [k, name] : named) {
    const bool wanted = !only || ("," + std::string(only) + ",").find("," + std::string(name) + ",") !=
                                     std::string::npos;
    if (wanted && ctx.has_kernel(k)) all.push_back(k);
  }
  return all;
}

// Real pruned weights are not uniform: 64-row blocks of 0 / 50 / 90 / 99 % sparsity in
// turn, every 97th column and every 50th row all zero, row 5 fully dense.
void skew_pattern(std::vector<uint16_t>& w, int64_t m, int64_t k, std::mt19937_64& rng) {
  const double block_sparsity[] = {0.0, 0.5, 0.9, 0.99};
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < k; ++j) {
      const bool zero = i != 5 && (j % 97 == 3 || i % 50 == 7 || u(rng) < block_sparsity[(i / 64) % 4]);
      if (zero) w[size_t(i * k + j)] = 0;
    }
}

// Runs one case: spinfer vs float64 reference vs cuBLAS, twice for repeatability.
void run_case(sc::DeviceContext& ctx, const Case& c, std::mt19937_64& rng, bool check_cublas) {
  CAPTURE(c.m);
  CAPTURE(c.k);
  CAPTURE(c.n);
  CAPTURE(c.sparsity);
  CAPTURE(int(c.dtype));
  CAPTURE(c.options.split_k);
  CAPTURE(c.options.tile_n);
  CAPTURE(int(c.options.kernel));
  CAPTURE(c.skewed);
  const int64_t ldx = round8(c.k) + c.pad_x, ldy = round8(c.m) + c.pad_y;
  auto w = random_sparse(c.m, c.k, c.k, c.skewed ? 0.0 : c.sparsity, c.dtype, rng);
  if (c.skewed) skew_pattern(w, c.m, c.k, rng);
  // X is [n, K] inside a larger allocation: columns [K, ldx) and kExtraRows rows past n
  // are NaN. The API reads only the [n, K] block; NaN * 0 = NaN would poison the output
  // if the kernel touched anything else (as an uninitialised caller buffer might hold).
  constexpr int64_t kExtraRows = 9;
  auto x = random_sparse(c.n, c.k, ldx, 0.0, c.dtype, rng, /*pad_nan=*/true);
  x.resize(size_t((c.n + kExtraRows) * ldx), c.dtype == DType::f16 ? 0x7e00 : 0x7fc0);
  std::vector<uint16_t> bias;
  if (c.with_bias) bias = random_sparse(1, c.m, c.m, 0.0, c.dtype, rng);

  const spinfer::HostMatrix hm = spinfer::encode(w.data(), c.dtype, c.m, c.k, c.k, c.dtype);
  auto dm = sc::upload(ctx, hm, nullptr);

  DeviceBuffer dx(x.size() * 2), dy(size_t(c.n * ldy) * 2), db(c.m * 2 + 16);
  dx.upload(x.data(), x.size() * 2);
  if (c.with_bias) db.upload(bias.data(), bias.size() * 2);
  const void* bias_ptr = c.with_bias ? db.ptr : nullptr;

  std::vector<uint16_t> out(size_t(c.n * ldy)), again(out.size());
  dy.poison();
  sc::spmm(ctx, *dm, dx.ptr, c.n, ldx, bias_ptr, dy.ptr, ldy, c.dtype, c.options, nullptr);
  cuda_ok(cudaDeviceSynchronize(), "spmm");
  dy.download(out.data(), out.size() * 2);

  const auto ref = reference_spmm(w, c.m, c.k, c.k, x, c.n, ldx, c.with_bias ? &bias : nullptr,
                                  c.dtype);
  const double err = relative_error(out, c.n, c.m, ldy, ref, c.dtype);
  CHECK(err <= tolerance(c.dtype));
  // Columns [m, ldy) of y are not outputs and must keep their poison.
  bool untouched = true;
  for (int64_t t = 0; t < c.n; ++t)
    for (int64_t i = c.m; i < ldy; ++i) untouched &= out[size_t(t * ldy + i)] == 0xFFFF;
  CHECK(untouched);

  // Same inputs again: bitwise the same (split-K reduces in a fixed order).
  dy.poison();
  sc::spmm(ctx, *dm, dx.ptr, c.n, ldx, bias_ptr, dy.ptr, ldy, c.dtype, c.options, nullptr);
  cuda_ok(cudaDeviceSynchronize(), "spmm (repeat)");
  dy.download(again.data(), again.size() * 2);
  CHECK(std::memcmp(out.data(), again.data(), out.size() * 2) == 0);

  if (check_cublas && !c.with_bias) {
    // cuBLAS on the decoded dense matrix (W as stored, zeros explicit).
    std::vector<uint16_t> dense(size_t(c.m * c.k));
    spinfer::decode(hm, dense.data(), c.dtype, c.k);
    DeviceBuffer dw(dense.size() * 2), dyc(size_t(c.n * ldy) * 2);
    dw.upload(dense.data(), dense.size() * 2);
    dyc.poison();
    cublas_reference(dw.ptr, c.m, c.k, dx.ptr, c.n, ldx, dyc.ptr, ldy, c.dtype);
    std::vector<uint16_t> blas(out.size());
    dyc.download(blas.data(), blas.size() * 2);
    // Compare spinfer with cuBLAS, both against the float64 reference norm.
    std::vector<double> blas_as_ref(size_t(c.n * c.m));
    for (int64_t t = 0; t < c.n; ++t)
      for (int64_t i = 0; i < c.m; ++i)
        blas_as_ref[size_t(t * c.m + i)] =
            spinfer::storage_to_float(blas[size_t(t * ldy + i)], c.dtype);
    CHECK(relative_error(out, c.n, c.m, ldy, blas_as_ref, c.dtype) <= tolerance(c.dtype));
  }
}

// run_case on every kernel the device runs, the same case (kernel override set). The
// warp-K kernel serves token tiles up to 16: wider cases run it in tiles of 16.
void run_on_every_kernel(sc::DeviceContext& ctx, Case c, std::mt19937_64& rng, bool check_cublas) {
  const sc::SpmmOptions given = c.options;
  for (sc::SpmmKernel kernel : kernels(ctx)) {
    c.options = given;
    c.options.kernel = kernel;
    if (!sc::kernel_serves(kernel, sc::choose_tile_n(std::max<int64_t>(c.n, 1), given)))
      c.options.tile_n = 16;
    run_case(ctx, c, rng, check_cublas);
  }
}

// Whether the wgmma kernel runs here (and SPINFER_TEST_KERNELS, if set, names it).
bool runs_wgmma(const sc::DeviceContext& ctx) {
  for (sc::SpmmKernel k : kernels(ctx))
    if (k == sc::SpmmKernel::wgmma) return true;
  return false;
}

// run_case with the wgmma kernel's wide token tiles (`tile_n` 128 or 256).
void run_wide(sc::DeviceContext& ctx, Case c, int tile_n, std::mt19937_64& rng, bool check_cublas,
              sc::SpmmKernel kernel = sc::SpmmKernel::wgmma) {
  c.options.tile_n = tile_n;
  c.options.kernel = kernel;
  run_case(ctx, c, rng, check_cublas);
}

}  // namespace

TEST_CASE("spmm matches float64 and cuBLAS over shapes, sparsities and token counts") {
  auto ctx = sc::create_context(0);
  std::mt19937_64 rng(20260124);
  const int64_t shapes[][2] = {{1, 1},     {17, 33},   {64, 64},    {100, 200}, {257, 513},
                               {1000, 1500}, {300, 4100}, {2048, 2048}};
  const double sparsities[] = {0.0, 0.3, 0.5, 0.7, 0.9, 0.99};
  const int64_t ns[] = {1, 2, 7, 8, 16, 33, 64, 128, 1000};
  int index = 0;
  for (DType dtype : {DType::f16, DType::bf16}) {
    for (const auto& s : shapes) {
      for (int64_t n : ns) {
        if (double(s[0]) * double(s[1]) * double(n) > 1.2e9) continue;  // keep the CPU reference quick
        run_on_every_kernel(*ctx, Case{s[0], s[1], n, sparsities[index++ % 6], dtype}, rng,
                            /*check_cublas=*/true);
      }
    }
  }
}

TEST_CASE("spmm on a non-uniform pattern: skewed row blocks, empty rows and columns, a dense row") {
  auto ctx = sc::create_context(0);
  std::mt19937_64 rng(31);
  for (DType dtype : {DType::f16, DType::bf16})
    for (int64_t n : {1, 8, 19, 64}) {
      Case c{520, 1000, n, 0.0, dtype};
      c.skewed = true;
      run_on_every_kernel(*ctx, c, rng, /*check_cublas=*/false);
    }
}

TEST_CASE("spmm every sparsity on one shape, both dtypes") {
  auto ctx = sc::create_context(0);
  std::mt19937_64 rng(7);
  for (DType dtype : {DType::f16, DType::bf16})
    for (double s : {0.0, 0.1, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99})
      for (int64_t n : {1, 8, 33}) run_on_every_kernel(*ctx, Case{192, 704, n, s, dtype}, rng, false);
}

TEST_CASE("spmm with bias, padded leading dimensions, forced split-K and tile sizes") {
  auto ctx = sc::create_context(0);
  std::mt19937_64 rng(99);
  for (DType dtype : {DType::f16, DType::bf16}) {
    Case c{333, 1111, 21, 0.6, dtype};
    c.with_bias = true;
    c.pad_x = 16;
    c.pad_y = 8;
    run_on_every_kernel(*ctx, c, rng, false);
    for (int split : {1, 2, 3, 7, 18}) {
      for (int tile : {0, 8, 16, 32, 64}) {
        Case f{130, 1150, 40, 0.75, dtype};
        f.options.split_k = split;
        f.options.tile_n = tile;
        f.with_bias = (split % 2) == 1;
        run_on_every_kernel(*ctx, f, rng, false);
      }
    }
  }
}

TEST_CASE("spmm on a large decode shape uses split-K and stays exact to tolerance") {
  auto ctx = sc::create_context(0);
  std::mt19937_64 rng(5);
  for (DType dtype : {DType::f16, DType::bf16})
    for (int64_t n : {1, 8, 64}) run_on_every_kernel(*ctx, Case{4096, 4096, n, 0.5, dtype}, rng, true);
}

// The wide token tiles: one decode of each GroupTile serves 128 or 256 tokens, the next
// tile's decode overlaps the running wgmma, the loads run STAGES - 2 tiles ahead. N
// below, at and past the tile (odd N leaves the last token tile partly empty), K with a
// ragged last GroupTile, K slices of one GroupTile (the pipeline never fills) and several
// (odd and even iteration counts per slice: the loop takes two tiles per trip).
TEST_CASE("spmm wgmma wide token tiles (128, 256): odd N, ragged K, split-K, both dtypes") {
  auto ctx = sc::create_context(0);
  if (!runs_wgmma(*ctx)) return;
  std::mt19937_64 rng(128256);
  const int64_t shapes[][2] = {{64, 64}, {257, 513}, {130, 1150}, {520, 1000}, {300, 4100}};
  const double sparsities[] = {0.0, 0.5, 0.7, 0.9, 0.99, 0.3};
  const int64_t ns[] = {1, 64, 127, 128, 129, 255, 256, 300, 513, 1024};
  int index = 0;
  for (DType dtype : {DType::f16, DType::bf16})
    for (int tile : {128, 256})
      for (const auto& s : shapes)
        for (int64_t n : ns) {
          if (double(s[0]) * double(s[1]) * double(n) > 6e8) continue;  // keep the CPU reference quick
          run_wide(*ctx, Case{s[0], s[1], n, sparsities[index++ % 6], dtype}, tile, rng,
                   /*check_cublas=*/n % 2 == 1);
        }
  // Forced splits: slices of 1, 2, 3, ... GroupTiles (K = 1150: 18 GroupTiles, the last ragged).
  for (DType dtype : {DType::f16, DType::bf16})
    for (int tile : {128, 256})
      for (int split : {1, 2, 3, 5, 7, 18})
        for (int64_t n : {40, 300}) {
          Case c{130, 1150, n, 0.75, dtype};
          c.options.split_k = split;
          c.with_bias = (split % 2) == 1;
          c.pad_x = 16;
          c.pad_y = 8;
          run_wide(*ctx, c, tile, rng, false);
        }
  // A non-uniform pattern, and the automatic kernel with a wide tile (it resolves to wgmma).
  for (int tile : {128, 256}) {
    Case c{520, 1000, 513, 0.0, DType::f16};
    c.skewed = true;
    run_wide(*ctx, c, tile, rng, false);
    run_wide(*ctx, Case{257, 513, 300, 0.5, DType::bf16}, tile, rng, false, sc::SpmmKernel::automatic);
  }
}

TEST_CASE("spmm wgmma wide token tiles on a large shape (split-K chosen, many K-tiles)") {
  auto ctx = sc::create_context(0);
  if (!runs_wgmma(*ctx)) return;
  std::mt19937_64 rng(4096);
  for (DType dtype : {DType::f16, DType::bf16})
    for (int tile : {128, 256})
      for (int64_t n : {200, 256}) run_wide(*ctx, Case{1024, 4096, n, 0.5, dtype}, tile, rng, true);
}
