// TCA-BME encode / decode round trips and the validator's rejections.
#include <doctest/doctest.h>

#include <bit>
#include <chrono>

#include "common/error.hpp"
#include "format/encode.hpp"
#include "format/validate.hpp"
#include "test_util.hpp"

using namespace spinfer;
using spinfer::test::random_sparse;
using spinfer::test::to_storage;

namespace {

struct Shape { int64_t rows, cols; };

// Element (r, c) of the layout by independent arithmetic: where docs/format.md puts it.
struct Position { int64_t group, bitmap; int bit; };
Position locate(int64_t r, int64_t c, int64_t cols) {
  const int64_t gk_count = (cols + 63) / 64;
  const int64_t g = r / 64 * gk_count + c / 64;
  const int64_t tm = r % 64 / 16, tk = c % 64 / 16;
  const int64_t br = r % 16 / 8, bc = c % 16 / 8;
  return {g, (g * 16 + tm * 4 + tk) * 4 + bc * 2 + br, int(r % 8 * 8 + c % 8)};
}

void check_round_trip(Shape s, double sparsity, DType storage, uint64_t seed) {
  std::mt19937_64 rng(seed);
  const int64_t ld = s.cols + int64_t(seed % 3);
  const auto dense = random_sparse(s.rows, s.cols, ld, sparsity, rng);
  const auto stored = to_storage(dense, storage);
  const HostMatrix m = encode(stored.data(), storage, s.rows, s.cols, ld, storage);
  CHECK_NOTHROW(validate(m));

  int64_t nnz = 0;
  for (int64_t r = 0; r < s.rows; ++r)
    for (int64_t c = 0; c < s.cols; ++c) {
      const bool nz = !storage_is_zero(stored[size_t(r * ld + c)]);
      nnz += nz;
      const Position p = locate(r, c, s.cols);
      const bool bit = (m.bitmaps[size_t(p.bitmap)] >> p.bit) & 1u;
      if (bit != nz) FAIL("bitmap bit of (" << r << ", " << c << ") is " << bit);
    }
  CHECK(m.nnz == nnz);

  std::vector<uint16_t> back(size_t(s.rows * ld), 0xffff);
  decode(m, back.data(), storage, ld);
  for (int64_t r = 0; r < s.rows; ++r)
    for (int64_t c = 0; c < s.cols; ++c) {
      const uint16_t want = storage_is_zero(stored[size_t(r * ld + c)]) ? 0 : stored[size_t(r * ld + c)];
      if (back[size_t(r * ld + c)] != want) FAIL("decode differs at (" << r << ", " << c << ")");
    }
  // Decoding to f32 gives the storage values exactly.
  std::vector<float> back32(size_t(s.rows * s.cols));
  decode(m, back32.data(), DType::f32, s.cols);
  for (int64_t r = 0; r < s.rows; ++r)
    for (int64_t c = 0; c < s.cols; ++c)
      if (back32[size_t(r * s.cols + c)] != storage_to_float(stored[size_t(r * ld + c)], storage) &&
          !storage_is_zero(stored[size_t(r * ld + c)]))
        FAIL("f32 decode differs at (" << r << ", " << c << ")");
}

}  // namespace

TEST_CASE("encode/decode round trip over shapes, sparsities and dtypes") {
  const Shape shapes[] = {{1, 1}, {7, 13}, {8, 8}, {16, 16}, {17, 15}, {64, 64}, {65, 63},
                          {100, 300}, {128, 192}, {130, 257}};
  const double sparsities[] = {0.0, 0.3, 0.5, 0.7, 0.99, 1.0};
  uint64_t seed = 1;
  for (DType dt : {DType::f16, DType::bf16})
    for (Shape s : shapes)
      for (double sp : sparsities) {
        CAPTURE(s.rows);
        CAPTURE(s.cols);
        CAPTURE(sp);
        check_round_trip(s, sp, dt, seed++);
      }
}

TEST_CASE("large matrix 4096 x 11008 round trips at 50 % (fp16) and 70 % (bf16)") {
  check_round_trip({4096, 11008}, 0.5, DType::f16, 42);
  check_round_trip({4096, 11008}, 0.7, DType::bf16, 43);
}

TEST_CASE("encoding from f32 rounds to the storage dtype and drops values that round to zero") {
  const float dense[4] = {1.0f / 3.0f, 1e-9f, -0.0f, 70000.0f};
  const HostMatrix m = encode(dense, DType::f32, 1, 4, 4, DType::f16);
  CHECK(m.nnz == 2);  // 1e-9 underflows to 0 in fp16, -0 is zero
  float back[4];
  decode(m, back, DType::f32, 4);
  CHECK(back[0] == half_to_float(float_to_half(1.0f / 3.0f)));
  CHECK(back[1] == 0.0f);
  CHECK(std::isinf(back[3]));  // overflow is kept as Inf, not dropped
  const HostMatrix b = encode(dense, DType::f32, 1, 4, 4, DType::bf16);
  CHECK(b.nnz == 3);  // bf16 keeps 1e-9
}

TEST_CASE("encode rejects bad arguments with the right status") {
  const float d[4] = {1, 2, 3, 4};
  auto status_of = [](auto&& f) {
    try { f(); } catch (const Error& e) { return e.status(); }
    return SPINFER_STATUS_SUCCESS;
  };
  CHECK(status_of([&] { encode(nullptr, DType::f32, 2, 2, 2, DType::f16); }) == SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(status_of([&] { encode(d, DType::f32, 0, 2, 2, DType::f16); }) == SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(status_of([&] { encode(d, DType::f32, 2, 2, 1, DType::f16); }) == SPINFER_STATUS_SHAPE_MISMATCH);
  CHECK(status_of([&] { encode(d, DType::f32, 2, 2, 2, DType::f32); }) == SPINFER_STATUS_UNSUPPORTED_DTYPE);
  CHECK(status_of([&] { encode(d, DType(7), 2, 2, 2, DType::f16); }) == SPINFER_STATUS_UNSUPPORTED_DTYPE);
}

TEST_CASE("validator rejects every named corruption") {
  std::mt19937_64 rng(5);
  const auto dense = to_storage(random_sparse(100, 130, 130, 0.5, rng), DType::f16);
  const HostMatrix good = encode(dense.data(), DType::f16, 100, 130, 130, DType::f16);
  REQUIRE_NOTHROW(validate(good));

  auto expect = [&](const char* what, spinfer_status_t status, auto&& corrupt) {
    HostMatrix m = good;
    corrupt(m);
    try {
      validate(m);
      FAIL("validator accepted: " << what);
    } catch (const Error& e) {
      CHECK_MESSAGE(e.status() == status, what << ": " << e.what());
    }
  };
  const auto C = SPINFER_STATUS_CORRUPT_DATA;
  expect("truncated values", C, [](HostMatrix& m) { m.values.resize(m.values.size() - 8); });
  expect("truncated bitmaps", C, [](HostMatrix& m) { m.bitmaps.pop_back(); });
  expect("truncated offsets", C, [](HostMatrix& m) { m.group_offsets.pop_back(); });
  expect("offsets out of order", C, [](HostMatrix& m) { std::swap(m.group_offsets[1], m.group_offsets[2]); });
  expect("offset not aligned", C, [](HostMatrix& m) { m.group_offsets[1] += 1; });
  expect("first offset not zero", C, [](HostMatrix& m) { m.group_offsets[0] = 8; });
  expect("bitmap/popcount mismatch", C, [](HostMatrix& m) {
    for (auto& b : m.bitmaps)
      if (b != ~uint64_t(0) && b != 0) { b |= ~b & (b + 1); break; }  // set one more bit
  });
  expect("bit set in padding", C, [](HostMatrix& m) { m.bitmaps.back() |= uint64_t(1) << 63; });
  expect("stored zero value", C, [](HostMatrix& m) { m.values[0] = 0x8000; });
  expect("non-zero padding", C, [](HostMatrix& m) {
    for (size_t g = 1; g < m.group_offsets.size(); ++g) {
      const uint64_t end = m.group_offsets[g];
      uint64_t count = 0;
      for (int b = 0; b < 64; ++b) count += std::popcount(m.bitmaps[(g - 1) * 64 + b]);
      if (m.group_offsets[g - 1] + count < end) { m.values[end - 1] = 0x3c00; return; }
    }
  });
  expect("wrong shape", C, [](HostMatrix& m) { m.rows = 200; });
  expect("empty shape", C, [](HostMatrix& m) { m.cols = 0; });
  expect("wrong dtype", C, [](HostMatrix& m) { m.dtype = DType::f32; });
  expect("wrong nnz", C, [](HostMatrix& m) { m.nnz += 1; });
  expect("unknown version", SPINFER_STATUS_UNSUPPORTED_VERSION, [](HostMatrix& m) { m.format_version = 2; });
}
