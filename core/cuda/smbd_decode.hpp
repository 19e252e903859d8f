// The index arithmetic of the SMBD decode (spmm_smbd.cuh), shared by the kernel and a
// host test that emulates a warp lane by lane (tests/cpu/test_smbd_decode.cpp), so that
// the mapping from the TCA-BME layout to mma.m16n8k16 A fragments is checked without a GPU.
// Plain integer code: compiles as C++ and CUDA alike, no CUDA headers.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define SPINFER_HD __host__ __device__ __forceinline__
#else
#define SPINFER_HD inline
#endif

namespace spinfer::cuda {

SPINFER_HD uint32_t popcount32(uint32_t v) {
#if defined(__CUDA_ARCH__)
  return uint32_t(__popc(v));
#else
  return uint32_t(__builtin_popcount(v));
#endif
}

// Device bit order of a bitmap half-word (core/cuda/bitmap_layout.hpp). In the file, lane
// l (0..15) of a half owns bits 2l and 2l+1 (its A-fragment pair, docs/format.md); on the
// device they sit 8 bits apart, at p(l) and p(l) + 8 with p(l) = (l & 7) + 16 (l >> 3),
// so that one shift and one mask leave them where a single multiply-add turns them into
// the lane's prmt selector (smbd_selector). Bits of lanes before l stay before, in both
// orders, so popcounts of "the lanes before me" are the same mask either way.
SPINFER_HD uint32_t smbd_pair_bit(int l) { return uint32_t(l & 7) + 16u * uint32_t(l >> 3); }

SPINFER_HD uint32_t smbd_half_to_device(uint32_t file) {
  uint32_t d = 0;
  for (int l = 0; l < 16; ++l) {
    d |= ((file >> (2 * l)) & 1u) << smbd_pair_bit(l);
    d |= ((file >> (2 * l + 1)) & 1u) << (smbd_pair_bit(l) + 8);
  }
  return d;
}
SPINFER_HD uint32_t smbd_half_to_file(uint32_t device) {
  uint32_t f = 0;
  for (int l = 0; l < 16; ++l) {
    f |= ((device >> smbd_pair_bit(l)) & 1u) << (2 * l);
    f |= ((device >> (smbd_pair_bit(l) + 8)) & 1u) << (2 * l + 1);
  }
  return f;
}

// What lane L decodes: bits 2L and 2L+1 of every BitmapTile (its A-fragment elements,
// docs/format.md), which lie in the low 32-bit word for L < 16 and the high one else.
struct SmbdLane {
  uint32_t upper;       // 1: the lane's bits are in the high word
  uint32_t rank_mask;   // device bits of the lanes before this one, and this lane's first bit
  uint32_t pair_shift;  // p(L % 16): where the lane's first bit sits in the device word
};
SPINFER_HD SmbdLane smbd_lane(int lane) {
  const int l = lane & 15;
  const uint32_t below = l < 8 ? ((1u << l) - 1u) * 0x101u
                               : 0xFFFFu | ((((1u << (l - 8)) - 1u) * 0x101u) << 16);
  return {lane >= 16 ? 1u : 0u, below | (1u << smbd_pair_bit(l)), smbd_pair_bit(l)};
}

// The lane reads values i - 1 and i of its bitmap's run, i = smbd_pair_index: with its
// first bit set, value i - 1 is its first element and value i its second; with only the
// second bit set, value i is that element (value i - 1 belongs to an earlier lane and is
// discarded by the selector). So every lane loads at fixed offsets, whatever its bits.
SPINFER_HD uint32_t smbd_pair_index(uint32_t word, const SmbdLane& l) {
  return popcount32(word & l.rank_mask);
}

// prmt selector over {v0 = value[i - 1], v1 = value[i]}, both loaded zero-extended: the
// low half of the A register is v0 if the first bit is set, the high half v1 if the
// second is, zero bytes (bytes 2, 3, 6, 7 of the pair) elsewhere. With t = first bit at
// bit 0 and second at bit 8, t * 0xFFED + 0x6723 gives, in its low 16 bits (all prmt
// reads): 0x6723 (none), 0x6710 (first), 0x5423 (second), 0x5410 (both).
inline constexpr uint32_t kSmbdSelZero = 0x6723u, kSmbdSelStep = 0xFFEDu;
SPINFER_HD uint32_t smbd_selector(uint32_t word, const SmbdLane& l) {
  return ((word >> l.pair_shift) & 0x101u) * kSmbdSelStep + kSmbdSelZero;
}

// Lane L's share of the per-stage scan: the values of BitmapTiles 2L and 2L+1 of a
// GroupTile, from their words lo = (low 2L, low 2L+1) and hi = (high 2L, high 2L+1).
struct SmbdCounts {
  uint32_t low0, low1;  // values in the low words of 2L and 2L+1
  uint32_t first;       // values of BitmapTile 2L
  uint32_t both;        // values of BitmapTiles 2L and 2L+1
};
SPINFER_HD SmbdCounts smbd_counts(uint32_t lo0, uint32_t lo1, uint32_t hi0, uint32_t hi1) {
  const uint32_t low0 = popcount32(lo0), low1 = popcount32(lo1);
  const uint32_t first = low0 + popcount32(hi0);
  return {low0, low1, first, first + low1 + popcount32(hi1)};
}
// Where the values of BitmapTiles 2L and 2L+1 start, split by half-word, given `before`,
// the number of values of BitmapTiles 0 .. 2L-1 (the warp's exclusive scan of `both`):
// byte offsets from `base` (the GroupTile's first value), low and high half of 2L, then
// of 2L+1.
struct SmbdStarts {
  uint32_t low0, low1, high0, high1;
};
SPINFER_HD SmbdStarts smbd_starts(uint32_t base, uint32_t before, const SmbdCounts& c) {
  const uint32_t b0 = base + 2 * before, b1 = b0 + 2 * c.first;
  return {b0, b1, b0 + 2 * c.low0, b1 + 2 * c.low1};
}

}  // namespace spinfer::cuda
