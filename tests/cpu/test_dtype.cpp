// fp16 / bf16 conversions against the compiler's own _Float16 and bit-exact rules.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "common/dtype.hpp"

using namespace spinfer;

TEST_CASE("half_to_float agrees with _Float16 for all 65536 bit patterns") {
  for (uint32_t b = 0; b < 65536; ++b) {
    _Float16 h;
    const uint16_t bits = uint16_t(b);
    std::memcpy(&h, &bits, 2);
    const float expect = float(h);
    const float got = half_to_float(bits);
    if (std::isnan(expect)) {
      CHECK(std::isnan(got));
    } else {
      CHECK(float_to_bits(got) == float_to_bits(expect));
    }
  }
}

TEST_CASE("float_to_half rounds like _Float16 (nearest even) on random and edge floats") {
  std::mt19937 rng(7);
  std::vector<float> cases = {0.0f, -0.0f, 65504.0f, 65519.0f, 65520.0f, -65520.0f, 1e-8f, 2.98e-8f,
                              5.96e-8f, 6.1e-5f, 1.0f / 3.0f, INFINITY, -INFINITY};
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 200000; ++i) {
    float f = bits_to_float(any(rng));
    if (std::isnan(f)) continue;
    cases.push_back(f);
    cases.push_back(std::ldexp(f, -std::ilogb(f) + int(rng() % 40) - 26));  // near fp16 range
  }
  for (float f : cases) {
    if (!std::isfinite(f) && !std::isinf(f)) continue;
    const _Float16 h = static_cast<_Float16>(f);
    uint16_t expect;
    std::memcpy(&expect, &h, 2);
    CHECK_MESSAGE(float_to_half(f) == expect, "f = " << f);
  }
  CHECK(std::isnan(half_to_float(float_to_half(NAN))));
}

TEST_CASE("bf16 conversion rounds to nearest even and keeps NaN") {
  CHECK(float_to_bf16(1.0f) == 0x3f80);
  // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: rounds to the even mantissa (1).
  CHECK(float_to_bf16(1.0f + 0x1p-8f) == 0x3f80);
  CHECK(float_to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81);
  CHECK(float_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82);  // tie, rounds up to even
  CHECK(std::isnan(bf16_to_float(float_to_bf16(NAN))));
  std::mt19937 rng(3);
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 100000; ++i) {
    const float f = bits_to_float(any(rng));
    if (!std::isnormal(f)) continue;  // relative bound holds for normal numbers
    const double err = std::fabs(double(bf16_to_float(float_to_bf16(f))) - double(f));
    if (std::isfinite(bf16_to_float(float_to_bf16(f)))) CHECK(err <= std::fabs(double(f)) * 0x1p-8);
  }
}
