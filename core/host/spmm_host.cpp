#include "host/spmm_host.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <string>
#include <vector>

#include "common/byte_range.hpp"
#include "common/error.hpp"
#include "host/thread_pool.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define SPINFER_HOST_AVX2 1  // AVX2 + FMA + F16C kernels, chosen at run time
#else
#define SPINFER_HOST_AVX2 0
#endif

namespace spinfer::host {
namespace {

constexpr int64_t kTokenChunk = 64;  // tokens per work item: keeps the accumulators in L1/L2

void check_args(const HostMatrix& w, const void* x, int64_t n, int64_t ldx, const void* bias,
                const void* y, int64_t ldy, DType dtype) {
  require(is_valid(dtype), SPINFER_STATUS_UNSUPPORTED_DTYPE,
          "activation dtype must be F32, F16 or BF16");
  require(n >= 0, SPINFER_STATUS_INVALID_ARGUMENT,
          [&] { return "n (tokens) is negative: " + std::to_string(n); });
  require(ldx >= w.cols, SPINFER_STATUS_SHAPE_MISMATCH, [&] {
    return "ldx " + std::to_string(ldx) +
           " is smaller than the matrix's cols (K = " + std::to_string(w.cols) + ")";
  });
  require(ldy >= w.rows, SPINFER_STATUS_SHAPE_MISMATCH, [&] {
    return "ldy " + std::to_string(ldy) +
           " is smaller than the matrix's rows (M = " + std::to_string(w.rows) + ")";
  });
  if (n == 0) return;
  // n x ld elements must be addressable: absurd sizes would overflow the extents below.
  require(n == 1 || (ldx <= (int64_t(1) << 60) / (n - 1) && ldy <= (int64_t(1) << 60) / (n - 1)),
          SPINFER_STATUS_INVALID_ARGUMENT,
          [&] { return "n (" + std::to_string(n) + ") times ldx or ldy overflows"; });
  require(x != nullptr, SPINFER_STATUS_INVALID_ARGUMENT, "x is NULL");
  require(y != nullptr, SPINFER_STATUS_INVALID_ARGUMENT, "y is NULL");
  const size_t es = dtype_size(dtype);
  const size_t y_bytes = size_t((n - 1) * ldy + w.rows) * es;
  require(!bytes_overlap(y, y_bytes, x, size_t((n - 1) * ldx + w.cols) * es),
          SPINFER_STATUS_INVALID_ARGUMENT, "y overlaps x");
  require(!bytes_overlap(y, y_bytes, bias, bias ? size_t(w.rows) * es : 0),
          SPINFER_STATUS_INVALID_ARGUMENT, "y overlaps bias");
  const size_t align = es;
  require(reinterpret_cast<uintptr_t>(x) % align == 0 && reinterpret_cast<uintptr_t>(y) % align == 0 &&
              reinterpret_cast<uintptr_t>(bias) % align == 0,
          SPINFER_STATUS_MISALIGNED, "x, y and bias must be aligned to their element size");
}

// f16 bits -> float for all 65536 patterns, built once: a stored value is converted where
// it is used, with one load, instead of converting the whole matrix on every call.
const float* half_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t v = 0; v < 65536; ++v) t[v] = half_to_float(uint16_t(v));
    return t;
  }();
  return table.data();
}

struct ValueReader {
  const float* table;  // f16: half_table(); bf16: nullptr
  float operator()(uint16_t v) const { return table ? table[v] : bf16_to_float(v); }
};

// acc[r][t] += W(GroupTile row gm) * xt, over all K GroupTiles; xt is [K][nt]. Walks the
// set bits: the work follows the non-zeros, and with several tokens each non-zero updates
// a contiguous run of accumulators (vectorised by the compiler).
template <int NT>  // NT > 0: a fixed number of tokens (the loop over them unrolls), 0: nt
[[gnu::always_inline]] inline void multiply_group_row(const HostMatrix& w, const TileGrid& grid, int64_t gm, const float* xt,
                        int64_t nt_runtime, ValueReader read, float* acc) {
  const int64_t nt = NT > 0 ? NT : nt_runtime;
  for (int64_t gk = 0; gk < grid.group_cols(); ++gk) {
    const int64_t g = gm * grid.group_cols() + gk;
    const uint16_t* v = w.values.data() + w.group_offsets[size_t(g)];
    const uint64_t* bitmaps = w.bitmaps.data() + g * kBitmapsPerGroup;
    for (int b = 0; b < kBitmapsPerGroup; ++b) {
      float* a0 = acc + bitmap_row_in_group(b) * nt;
      const float* x0 = xt + (gk * kGroupTile + bitmap_col_in_group(b)) * nt;
      for (uint64_t bits = bitmaps[b]; bits; bits &= bits - 1) {
        const int pos = std::countr_zero(bits);
        const float wv = read(*v++);
        float* a = a0 + (pos / kBitmapTile) * nt;
        const float* xs = x0 + (pos % kBitmapTile) * nt;
        for (int64_t t = 0; t < nt; ++t) a[t] += wv * xs[t];
      }
    }
  }
}

#if SPINFER_HOST_AVX2
// The same for one token with AVX2: per row of a BitmapTile (one bitmap byte, 8 columns)
// the row's values are loaded 8 at a time, converted (F16C, or a shift for bf16), moved to
// their columns by one permute from a 256-entry table and masked, multiplied by the 8 x
// values of the BitmapTile's columns; the 8 row products are summed across lanes at once
// and added to the BitmapTile's 8 output rows. No branch per non-zero.
struct ExpandTable {
  alignas(32) int32_t index[256][8];  // lane j <- the rank of bit j among the byte's set bits
  alignas(32) int32_t mask[256][8];   // lane j: all ones where bit j is set
};
const ExpandTable& expand_table() {
  static const ExpandTable table = [] {
    ExpandTable t{};
    for (int byte = 0; byte < 256; ++byte)
      for (int j = 0, rank = 0; j < 8; ++j) {
        const bool set = (byte >> j) & 1;
        t.index[byte][j] = set ? rank : 0;
        t.mask[byte][j] = set ? -1 : 0;
        rank += set;
      }
    return t;
  }();
  return table;
}

__attribute__((target("avx2,fma,f16c"))) inline __m256 load8_values(const uint16_t* v,
                                                                   const uint16_t* end, bool f16) {
  __m128i raw;
  if (end - v >= 8) {
    raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v));
  } else {  // the matrix's last values: never read past the array
    alignas(16) uint16_t tail[8] = {};
    for (int i = 0; i < end - v; ++i) tail[i] = v[i];
    raw = _mm_load_si128(reinterpret_cast<const __m128i*>(tail));
  }
  if (f16) return _mm256_cvtph_ps(raw);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
}

// The 8 weights of one BitmapTile row (bitmap byte `byte`) in their columns, zeros where
// the byte has no bit: the row's values loaded from `v`, moved by the table's permute.
__attribute__((target("avx2,fma,f16c"))) inline __m256 expand_row(const ExpandTable& table,
                                                                 const uint16_t* v,
                                                                 const uint16_t* end, bool f16,
                                                                 unsigned byte) {
  return _mm256_and_ps(
      _mm256_permutevar8x32_ps(load8_values(v, end, f16),
                               _mm256_load_si256(reinterpret_cast<const __m256i*>(table.index[byte]))),
      _mm256_castsi256_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(table.mask[byte]))));
}

// [sum of p[0], ..., sum of p[7]]
__attribute__((target("avx2,fma,f16c"))) inline __m256 sum_lanes8(const __m256 (&p)[8]) {
  const __m256 u0 = _mm256_hadd_ps(_mm256_hadd_ps(p[0], p[1]), _mm256_hadd_ps(p[2], p[3]));
  const __m256 u1 = _mm256_hadd_ps(_mm256_hadd_ps(p[4], p[5]), _mm256_hadd_ps(p[6], p[7]));
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

__attribute__((target("avx2,fma,f16c"))) void multiply_group_row_one_token_avx2(
    const HostMatrix& w, const TileGrid& grid, int64_t gm, const float* x, float* acc) {
  const ExpandTable& table = expand_table();
  const bool f16 = w.dtype == DType::f16;
  const uint16_t* end = w.values.data() + w.values.size();
  for (int64_t gk = 0; gk < grid.group_cols(); ++gk) {
    const int64_t g = gm * grid.group_cols() + gk;
    const uint16_t* v = w.values.data() + w.group_offsets[size_t(g)];
    const uint64_t* bitmaps = w.bitmaps.data() + g * kBitmapsPerGroup;
    for (int b = 0; b < kBitmapsPerGroup; ++b) {
      const uint64_t bits = bitmaps[b];
      if (!bits) continue;
      const __m256 x8 = _mm256_loadu_ps(x + gk * kGroupTile + bitmap_col_in_group(b));
      __m256 p[8];
      for (int r = 0; r < 8; ++r) {
        const unsigned byte = unsigned(bits >> (8 * r)) & 0xffu;
        p[r] = _mm256_mul_ps(expand_row(table, v, end, f16, byte), x8);
        v += std::popcount(byte);
      }
      float* a = acc + bitmap_row_in_group(b);
      _mm256_storeu_ps(a, _mm256_add_ps(_mm256_loadu_ps(a), sum_lanes8(p)));
    }
  }
}

// Eight tokens with AVX2: each BitmapTile row is expanded as above (8 weights, zeros
// included), then acc[row][0..7] += sum over its 8 columns j of weight j x (the 8 tokens'
// x at column j): 8 FMAs per row whatever its bits, with x's 8 columns held in registers
// for the whole BitmapTile. xt is [K][8], acc [64][8].
__attribute__((target("avx2,fma,f16c"))) void multiply_group_row_eight_tokens_avx2(
    const HostMatrix& w, const TileGrid& grid, int64_t gm, const float* xt, float* acc) {
  const ExpandTable& table = expand_table();
  const bool f16 = w.dtype == DType::f16;
  const uint16_t* end = w.values.data() + w.values.size();
  alignas(32) float row[8];
  for (int64_t gk = 0; gk < grid.group_cols(); ++gk) {
    const int64_t g = gm * grid.group_cols() + gk;
    const uint16_t* v = w.values.data() + w.group_offsets[size_t(g)];
    const uint64_t* bitmaps = w.bitmaps.data() + g * kBitmapsPerGroup;
    for (int b = 0; b < kBitmapsPerGroup; ++b) {
      const uint64_t bits = bitmaps[b];
      if (!bits) continue;
      const float* x0 = xt + (gk * kGroupTile + bitmap_col_in_group(b)) * 8;
      __m256 xc[8];
      for (int j = 0; j < 8; ++j) xc[j] = _mm256_loadu_ps(x0 + 8 * j);
      float* a0 = acc + bitmap_row_in_group(b) * 8;
      for (int r = 0; r < 8; ++r) {
        const unsigned byte = unsigned(bits >> (8 * r)) & 0xffu;
        _mm256_store_ps(row, expand_row(table, v, end, f16, byte));
        v += std::popcount(byte);
        __m256 even = _mm256_loadu_ps(a0 + 8 * r), odd = _mm256_setzero_ps();
        for (int j = 0; j < 8; j += 2) {
          even = _mm256_fmadd_ps(_mm256_broadcast_ss(row + j), xc[j], even);
          odd = _mm256_fmadd_ps(_mm256_broadcast_ss(row + j + 1), xc[j + 1], odd);
        }
        _mm256_storeu_ps(a0 + 8 * r, _mm256_add_ps(even, odd));
      }
    }
  }
}

// GCC 12 warns about the undefined pass-through operand inside its own AVX-512 intrinsics.
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// One token with AVX-512: two BitmapTile rows (16 bits, 16 columns of weights) per step,
// placed by one masked expand (vexpandps) instead of a permute and a mask.
__attribute__((target("avx512f,avx2,fma,f16c"))) void multiply_group_row_one_token_avx512(
    const HostMatrix& w, const TileGrid& grid, int64_t gm, const float* x, float* acc) {
  const bool f16 = w.dtype == DType::f16;
  const uint16_t* end = w.values.data() + w.values.size();
  for (int64_t gk = 0; gk < grid.group_cols(); ++gk) {
    const int64_t g = gm * grid.group_cols() + gk;
    const uint16_t* v = w.values.data() + w.group_offsets[size_t(g)];
    const uint64_t* bitmaps = w.bitmaps.data() + g * kBitmapsPerGroup;
    for (int b = 0; b < kBitmapsPerGroup; ++b) {
      const uint64_t bits = bitmaps[b];
      if (!bits) continue;
      const __m256 x8 = _mm256_loadu_ps(x + gk * kGroupTile + bitmap_col_in_group(b));
      __m256 p[8];
      for (int q = 0; q < 4; ++q) {
        const unsigned pair = unsigned(bits >> (16 * q)) & 0xffffu;
        __m256i raw;
        if (end - v >= 16) {
          raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(v));
        } else {  // the matrix's last values: never read past the array
          alignas(32) uint16_t tail[16] = {};
          for (int i = 0; i < end - v; ++i) tail[i] = v[i];
          raw = _mm256_load_si256(reinterpret_cast<const __m256i*>(tail));
        }
        const __m512 vals = f16 ? _mm512_cvtph_ps(raw)
                                : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
        const __m512 dense = _mm512_maskz_expand_ps(__mmask16(pair), vals);
        p[2 * q] = _mm256_mul_ps(_mm512_castps512_ps256(dense), x8);
        p[2 * q + 1] = _mm256_mul_ps(
            _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(dense), 1)), x8);
        v += std::popcount(pair);
      }
      float* a = acc + bitmap_row_in_group(b);
      _mm256_storeu_ps(a, _mm256_add_ps(_mm256_loadu_ps(a), sum_lanes8(p)));
    }
  }
}

#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// F16C from CPUID leaf 1 (not every compiler's __builtin_cpu_supports knows it); the OS
// support of the wider registers is part of the builtin's "avx2" / "avx512f".
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}

bool cpu_has_avx2() {
  static const bool yes =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
  return yes;
}

bool cpu_has_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f") && cpu_has_avx2();
  return yes;
}
#endif

std::atomic<int> simd_limit{2};

}  // namespace

void set_simd_limit(int level) { simd_limit.store(level); }

int simd_level() {
#if SPINFER_HOST_AVX2
  const int limit = simd_limit.load();
  if (limit >= 2 && cpu_has_avx512()) return 2;
  if (limit >= 1 && cpu_has_avx2()) return 1;
#endif
  return 0;
}

int spmm_threads(const HostMatrix& w, int64_t n, int threads) {
  // Waking a worker costs microseconds: give each thread at least ~2^16 weight positions
  // x tokens of work, so tiny products stay on the calling thread.
  const int64_t work = w.grid().groups() * kGroupTile * kGroupTile * std::max<int64_t>(1, n / 8);
  return int(std::clamp<int64_t>(work >> 16, 1, resolve_threads(threads)));
}

void spmm(const HostMatrix& w, const void* x, int64_t n, int64_t ldx, const void* bias, void* y,
          int64_t ldy, DType dtype, int threads) {
  check_args(w, x, n, ldx, bias, y, ldy, dtype);
  if (n == 0) return;

  const TileGrid grid = w.grid();
  const int64_t chunks = ceil_div(n, kTokenChunk);
  const int64_t kpad = grid.group_cols() * kGroupTile;  // K rounded up: the last GroupTile reads zeros
  const ValueReader read{w.dtype == DType::f16 ? half_table() : nullptr};
  const int simd = simd_level();
  threads = spmm_threads(w, n, threads);

  // The activations as float, once per call, transposed per chunk of tokens to [K][nt] so
  // that a non-zero updates a contiguous run of accumulators: chunk c at c * kTokenChunk * kpad.
  std::vector<float> xt(size_t(n * kpad), 0.0f);
  parallel_for(chunks, threads, [&](int64_t c) {
    const int64_t t0 = c * kTokenChunk, nt = std::min(kTokenChunk, n - t0);
    float* out = xt.data() + t0 * kpad;
    for (int64_t t = 0; t < nt; ++t)
      for (int64_t k = 0; k < w.cols; ++k) out[k * nt + t] = load_as_float(x, dtype, (t0 + t) * ldx + k);
  });

  // One work item = one GroupTile row (64 output features) x one chunk of tokens.
  parallel_for(grid.group_rows() * chunks, threads, [&](int64_t item) {
    const int64_t gm = item / chunks;
    const int64_t t0 = item % chunks * kTokenChunk;
    const int64_t nt = std::min(kTokenChunk, n - t0);
    const float* xc = xt.data() + t0 * kpad;
    std::vector<float> acc(size_t(kGroupTile * nt), 0.0f);
#if SPINFER_HOST_AVX2
    if (simd >= 2 && nt == 1) {
      multiply_group_row_one_token_avx512(w, grid, gm, xc, acc.data());
    } else if (simd >= 1 && nt == 1) {
      multiply_group_row_one_token_avx2(w, grid, gm, xc, acc.data());
    } else if (simd >= 1 && nt == 8) {
      multiply_group_row_eight_tokens_avx2(w, grid, gm, xc, acc.data());
    } else
#endif
    {
      switch (nt) {
        case 1: multiply_group_row<1>(w, grid, gm, xc, nt, read, acc.data()); break;
        case 8: multiply_group_row<8>(w, grid, gm, xc, nt, read, acc.data()); break;
        default: multiply_group_row<0>(w, grid, gm, xc, nt, read, acc.data()); break;
      }
    }
    const int64_t rows_here = std::min<int64_t>(kGroupTile, w.rows - gm * kGroupTile);
    for (int64_t r = 0; r < rows_here; ++r) {
      const int64_t row = gm * kGroupTile + r;
      const float b = bias ? load_as_float(bias, dtype, row) : 0.0f;
      for (int64_t t = 0; t < nt; ++t)
        store_from_float(y, dtype, (t0 + t) * ldy + row, acc[size_t(r * nt + t)] + b);
    }
  });
}

}  // namespace spinfer::host
