// The GPU encoder gives the host encoder's arrays bit for bit; upload/download round trip.
#include <doctest/doctest.h>

#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "format/encode.hpp"
#include "gpu_util.hpp"

using namespace gpu_test;
using spinfer::DType;
namespace sc = spinfer::cuda;

namespace {

// Random dense matrix of `src` dtype (raw bytes), with zeros, -0, NaN, Inf, subnormals and
// values that round to zero in the storage dtype.
std::vector<unsigned char> awkward_dense(int64_t rows, int64_t ld, DType src, double sparsity,
                                         std::mt19937_64& rng) {
  const size_t es = spinfer::dtype_size(src);
  std::vector<unsigned char> a(size_t(rows * ld) * es);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<float> v(0.0f, 1.0f);
  for (int64_t i = 0; i < rows * ld; ++i) {
    float f;
    const double p = u(rng);
    if (p < sparsity) f = (p < sparsity * 0.1) ? -0.0f : 0.0f;
    else if (p < sparsity + 0.01) f = std::numeric_limits<float>::quiet_NaN();
    else if (p < sparsity + 0.02) f = -std::numeric_limits<float>::infinity();
    else if (p < sparsity + 0.04) f = 1e-8f * v(rng);   // f16 subnormal or zero
    else if (p < sparsity + 0.05) f = 1e-40f;            // fp32 subnormal
    else f = v(rng) * 3.0f;
    spinfer::store_from_float(a.data(), src, i, f);
  }
  return a;
}

void require_same(const spinfer::HostMatrix& a, const spinfer::HostMatrix& b) {
  REQUIRE(a.rows == b.rows);
  REQUIRE(a.cols == b.cols);
  CHECK(a.dtype == b.dtype);
  CHECK(a.nnz == b.nnz);
  REQUIRE(a.values.size() == b.values.size());
  REQUIRE(a.bitmaps.size() == b.bitmaps.size());
  REQUIRE(a.group_offsets.size() == b.group_offsets.size());
  CHECK(std::memcmp(a.values.data(), b.values.data(), a.values.size() * 2) == 0);
  CHECK(std::memcmp(a.bitmaps.data(), b.bitmaps.data(), a.bitmaps.size() * 8) == 0);
  CHECK(std::memcmp(a.group_offsets.data(), b.group_offsets.data(), a.group_offsets.size() * 8) == 0);
}

}  // namespace

TEST_CASE("GPU encoder is bit-identical to the host encoder") {
  auto ctx = sc::create_context(0);
  std::mt19937_64 rng(11);
  const int64_t shapes[][3] = {{1, 1, 1}, {7, 9, 12}, {64, 64, 64}, {65, 130, 131},
                               {200, 300, 301}, {513, 1027, 1040}};
  int index = 0;
  for (DType src : {DType::f32, DType::f16, DType::bf16}) {
    for (DType storage : {DType::f16, DType::bf16}) {
      for (const auto& s : shapes) {
        const double sparsity = (index++ % 4) * 0.3;  // 0, 0.3, 0.6, 0.9
        CAPTURE(int(src));
        CAPTURE(int(storage));
        CAPTURE(s[0]);
        CAPTURE(s[1]);
        const auto dense = awkward_dense(s[0], s[2], src, sparsity, rng);
        const spinfer::HostMatrix host = spinfer::encode(dense.data(), src, s[0], s[1], s[2], storage);
        DeviceBuffer d(dense.size());
        d.upload(dense.data(), dense.size());
        auto dm = sc::encode_device(*ctx, d.ptr, src, s[0], s[1], s[2], storage, nullptr);
        const auto back = sc::download(*ctx, *dm, nullptr);
        require_same(host, back);
        const auto sum = sc::summary(*dm);
        CHECK(sum.nnz == host.nnz);
        CHECK(sum.values_count == host.values.size());
      }
    }
  }
}

TEST_CASE("upload then download returns the same arrays") {
  auto ctx = sc::create_context(0);
  std::mt19937_64 rng(12);
  for (int64_t rows : {1, 100, 1000}) {
    const auto w = random_sparse(rows, 777, 777, 0.7, DType::bf16, rng);
    const auto host = spinfer::encode(w.data(), DType::bf16, rows, 777, 777, DType::bf16);
    cudaStream_t s;
    cuda_ok(cudaStreamCreate(&s), "cudaStreamCreate");
    auto dm = sc::upload(*ctx, host, s);
    const auto back = sc::download(*ctx, *dm, s);
    cudaStreamDestroy(s);
    require_same(host, back);
  }
}
