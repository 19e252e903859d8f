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

// What lane L decodes: bits 2L and 2L+1 of every BitmapTile (its A-fragment elements,
// docs/format.md), which lie in the low 32-bit word for L < 16 and the high one else.
struct SmbdLane {
  uint32_t upper;       // 1: the lane's bits are in the high word
  uint32_t below_mask;  // the bits of that word before the lane's pair
  uint32_t pair_shift;  // where the pair sits in that word
};
SPINFER_HD SmbdLane smbd_lane(int lane) {
  const uint32_t shift = uint32_t(2 * lane) & 31u;
  return {lane >= 16 ? 1u : 0u, (1u << shift) - 1u, shift};
}

// prmt selectors, indexed by the lane's two bits (b1 b0): which of v0 = value[idx] and
// v1 = value[idx + 1] go to the low / high half of the A register, zeros elsewhere
// (bytes 2, 3 of the zero-extended v0 are zero). Entry `two` is bytes 2two, 2two+1 of
// the 8-byte table {kSmbdSelLo, kSmbdSelHi}: 0x2222, 0x2210, 0x1022, 0x5410.
inline constexpr uint32_t kSmbdSelLo = 0x22102222u, kSmbdSelHi = 0x54101022u;

// The prmt selector (into the table above) of the lane's pair in `word`.
SPINFER_HD uint32_t smbd_table_index(uint32_t word, const SmbdLane& l) {
  return ((word >> l.pair_shift) & 3u) * 0x22u + 0x10u;
}

// Values of `word` stored before the lane's pair.
SPINFER_HD uint32_t smbd_rank(uint32_t word, const SmbdLane& l) { return popcount32(word & l.below_mask); }

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
