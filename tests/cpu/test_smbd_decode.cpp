// The SMBD decode of the CUDA SpMM kernel, emulated lane by lane on the host with the
// kernel's own index arithmetic (core/cuda/smbd_decode.hpp): from a GroupTile as the
// host encoder writes it and the device bitmap layout (low words, then high words, each
// word's lane pairs 8 bits apart), every lane of every warp must assemble exactly its
// mma.m16n8k16 A-fragment registers (PTX ISA fragment layout) of the dense matrix. prmt
// is modelled from the PTX ISA, not taken from the kernel, so the selector arithmetic is
// checked too. Runs without a GPU.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include "cuda/smbd_decode.hpp"
#include "format/encode.hpp"
#include "test_util.hpp"

using namespace spinfer;
using namespace spinfer::cuda;

namespace {

// PTX prmt.b32, default mode: byte i of d is byte (c >> 4i) & 7 of {b, a} (a = bytes
// 0-3), replaced by its sign replicated when bit 3 of the nibble is set.
uint32_t prmt_model(uint32_t a, uint32_t b, uint32_t c) {
  const uint64_t src = uint64_t(a) | (uint64_t(b) << 32);
  uint32_t d = 0;
  for (int i = 0; i < 4; ++i) {
    const uint32_t nib = (c >> (4 * i)) & 0xFu;
    uint32_t byte = uint32_t(src >> (8 * (nib & 7u))) & 0xFFu;
    if (nib & 8u) byte = (byte & 0x80u) ? 0xFFu : 0u;
    d |= byte << (8 * i);
  }
  return d;
}

// The A registers a[tk][j] that lane `lane` of warp `warp` feeds to the tensor cores
// for one GroupTile, decoded as the kernel does from `values` (the GroupTile's run, with
// one element of pad before it and slack after it, as in the kernel's stage) and its 64
// bitmaps in the device layout.
std::array<std::array<uint32_t, 4>, 4> decode_lane(const std::vector<uint16_t>& values, const uint32_t* low,
                                                   const uint32_t* high, int warp, int lane) {
  // Per-stage scan: every lane counts two BitmapTiles; lanes 8w .. 8w+7 publish the
  // starts of warp w's sixteen (value_at[w][half][i], byte offsets from the run's start).
  uint32_t value_at[2][16] = {};
  uint32_t before = 0;
  for (int l = 0; l < 32; ++l) {
    const SmbdCounts c = smbd_counts(low[2 * l], low[2 * l + 1], high[2 * l], high[2 * l + 1]);
    if (l >> 3 == warp) {
      const SmbdStarts at = smbd_starts(2, before, c);  // byte 2: the run after the pad
      value_at[0][2 * (l & 7)] = at.low0;
      value_at[0][2 * (l & 7) + 1] = at.low1;
      value_at[1][2 * (l & 7)] = at.high0;
      value_at[1][2 * (l & 7) + 1] = at.high1;
    }
    before += c.both;
  }
  const SmbdLane me = smbd_lane(lane);
  std::array<std::array<uint32_t, 4>, 4> a{};
  for (int tk = 0; tk < 4; ++tk)
    for (int j = 0; j < 4; ++j) {
      const int b = warp * 16 + tk * 4 + j;
      const uint32_t word = (me.upper ? high : low)[b];
      const uint32_t byte = value_at[me.upper][tk * 4 + j] + 2 * smbd_pair_index(word, me);
      const uint32_t v0 = values.at(byte / 2 - 1), v1 = values.at(byte / 2);
      a[tk][j] = prmt_model(v0, v1, smbd_selector(word, me));
    }
  return a;
}

}  // namespace

TEST_CASE("SMBD decode (CUDA kernel arithmetic, emulated): every lane gets its A fragments") {
  std::mt19937_64 rng(7);
  const int64_t rows = 64, cols = 192;  // one GroupTile row, three GroupTiles along K
  for (double sparsity : {0.0, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0}) {
    CAPTURE(sparsity);
    const std::vector<float> dense = test::random_sparse(rows, cols, cols, sparsity, rng);
    const HostMatrix m = encode(dense.data(), DType::f32, rows, cols, cols, DType::f16);
    REQUIRE(m.bitmaps.size() == 3 * 64);
    int64_t checked = 0;
    for (int gk = 0; gk < 3; ++gk) {
      // The stage image: the GroupTile's run after one pad element (garbage, as in the
      // kernel's shared memory) with 8 elements of slack, and its bitmaps split into
      // 32-bit halves in the device bit order.
      std::vector<uint16_t> run(1, 0x7e00);
      run.insert(run.end(), m.values.begin() + int64_t(m.group_offsets[gk]),
                 m.values.begin() + int64_t(m.group_offsets[gk + 1]));
      run.resize(run.size() + 8, 0x7e00);
      uint32_t low[64], high[64];
      for (int b = 0; b < 64; ++b) {
        low[b] = smbd_half_to_device(uint32_t(m.bitmaps[size_t(gk * 64 + b)]));
        high[b] = smbd_half_to_device(uint32_t(m.bitmaps[size_t(gk * 64 + b)] >> 32));
      }
      for (int warp = 0; warp < 4; ++warp)
        for (int lane = 0; lane < 32; ++lane) {
          const auto a = decode_lane(run, low, high, warp, lane);
          // mma.m16n8k16 A fragment (PTX ISA): register j holds row g + 8 (j & 1),
          // columns 2q + 8 (j >> 1) and the next one, of the 16 x 16 TCTile (warp, tk).
          const int g = lane >> 2, q = lane & 3;
          for (int tk = 0; tk < 4; ++tk)
            for (int j = 0; j < 4; ++j) {
              const int64_t r = warp * 16 + g + 8 * (j & 1), c = gk * 64 + tk * 16 + 2 * q + 8 * (j >> 1);
              const uint32_t want = uint32_t(float_to_half(dense[size_t(r * cols + c)])) |
                                    (uint32_t(float_to_half(dense[size_t(r * cols + c + 1)])) << 16);
              INFO("GroupTile ", gk, " warp ", warp, " lane ", lane, " k-step ", tk, " register ", j);
              REQUIRE(a[tk][j] == want);
              ++checked;
            }
        }
    }
    CHECK(checked == 3 * 4 * 32 * 16);
  }
}

TEST_CASE("SMBD selectors and value index: (first, second) bit place value[i-1], value[i] or zero") {
  const uint32_t v0 = 0xA1B2u, v1 = 0xC3D4u;  // zero-extended halves, as the kernel loads them
  // want[second][first]: only the second element set takes value[i] into the high half.
  const uint32_t want[2][2] = {{0x00000000u, 0x0000A1B2u}, {0xC3D40000u, 0xC3D4A1B2u}};
  for (int lane = 0; lane < 32; ++lane) {
    const SmbdLane me = smbd_lane(lane);
    const int l = lane & 15;
    for (uint32_t first = 0; first < 2; ++first)
      for (uint32_t second = 0; second < 2; ++second) {
        // Every other lane's bits set (to disturb), the lane's own pair as given.
        const uint32_t file = (~(3u << (2 * l))) | (first << (2 * l)) | (second << (2 * l + 1));
        const uint32_t word = smbd_half_to_device(file);
        CAPTURE(lane);
        CHECK(prmt_model(v0, v1, smbd_selector(word, me)) == want[second][first]);
        // i - 1 is the lane's first value when it is set: 2l values of earlier lanes.
        CHECK(smbd_pair_index(word, me) == uint32_t(2 * l) + first);
      }
  }
}

TEST_CASE("SMBD device bit order: a permutation that keeps each lane's pair 8 bits apart") {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 10000; ++i) {
    const uint32_t w = uint32_t(rng());
    CHECK(smbd_half_to_file(smbd_half_to_device(w)) == w);
    CHECK(__builtin_popcount(smbd_half_to_device(w)) == __builtin_popcount(w));
  }
  for (int l = 0; l < 16; ++l) {
    CHECK(smbd_half_to_device(1u << (2 * l)) == 1u << smbd_pair_bit(l));
    CHECK(smbd_half_to_device(2u << (2 * l)) == 1u << (smbd_pair_bit(l) + 8));
    // The lanes before l (and l's first bit) are exactly the rank mask.
    const uint32_t before_file = (l == 0 ? 0u : (1u << (2 * l)) - 1u) | (1u << (2 * l));
    CHECK(smbd_lane(l).rank_mask == smbd_half_to_device(before_file));
    CHECK(smbd_lane(l + 16).rank_mask == smbd_lane(l).rank_mask);
  }
}
