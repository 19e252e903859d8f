// The block SpMM kernel: Y = X * W^T with W in TCA-BME (docs/format.md), following the
// Shared Memory Bitmap Decoding (SMBD) of SpInfer (Fan et al., EuroSys '25, §4.2-4.3),
// and the decode stage it shares with the warp-specialised kernel (spmm_smbd_specialised.cuh).
//
// Map
//   - One block (4 warps) computes a 64-row strip of Y^T (one GroupTile row of W) for
//     TILE_N tokens, over a slice of the K GroupTiles (split-K when blockIdx.z > 0).
//   - A STAGES-deep pipeline brings each GroupTile's values (variable length, 16-byte
//     aligned runs), its 64 bitmaps and the matching X tile into shared memory while the
//     warps decode and multiply an earlier stage. Hopper: values and bitmaps by two bulk
//     copies (one lane) on a per-stage mbarrier; X, and everything before Hopper, by
//     16-byte cp.async from all threads. One block barrier per stage.
//   - Warp w owns TCTile row w of the GroupTile (16 rows x 64 k). W is operand A of
//     mma.m16n8k16 (Y^T = W * X^T): for BitmapTile j of a TCTile, lane L owns its pair of
//     bits, and reads values i-1 and i of the tile's run with i = popcount(word & mask)
//     (smbd_decode.hpp). The bitmaps arrive as 32-bit halves (cuda/bitmap_layout.hpp), so
//     a lane loads its half of a TCTile's four bitmaps, and their starts (scanned once per
//     stage by every warp), with one 16-byte load each.
//   - Wide token tiles (128 / 256, wgmma only, the prefill sizes): one decode of a
//     GroupTile serves 128 or 256 tokens. The A registers are double-buffered and a tile's
//     four wgmma stay in flight while the warps scan and decode the next tile
//     (commit_group / wait_group 1), so a stage is released one iteration later and the
//     loads run STAGES - 2 tiles ahead instead of STAGES - 1.
//   - Epilogue: smbd_store_tile (spmm_epilogue.cuh).
// No validation here: the entry (spmm.cu) checks everything first.
#pragma once

#include <cstdint>

#include "cuda/ptx.cuh"
#include "cuda/ptx_wgmma.cuh"
#include "cuda/smbd_decode.hpp"
#include "cuda/spmm_epilogue.cuh"
#include "cuda/spmm_params.hpp"

namespace spinfer::cuda {


// Shared-memory layout of the pipeline; stages sized for the worst case (a dense
// GroupTile), never for a guessed number of non-zeros. The X tiles of all stages come
// first, then per stage its values and bitmaps (kVBBytes).
//
// The X tile holds TILE_N tokens x 64 k. For mma.sync (SWIZZLE false) a token's 128 bytes
// are padded to 144: the 8 row addresses of an ldmatrix then fall in 8 distinct bank
// groups. For wgmma (SWIZZLE true) it is in the 128-byte swizzle wgmma reads through a
// descriptor: 16-byte chunk c (k = 8c .. 8c+7) of token row r at chunk c ^ (r % 8) of its
// 128-byte row, from a 1024-byte aligned base (smbd_aligned_smem); eight threads writing
// one row, and the row addresses of an ldmatrix, then touch every bank once as well.
template <int TILE_N, bool SWIZZLE = false>
struct SmbdLayout {
  // The values start after 16 bytes of front pad (a lane reads value i - 1 even when it
  // only needs value i, smbd_pair_index): 4096 values of a dense GroupTile + 8 of slack
  // (a lane reads value i even when it only needs i - 1). Both extra reads are discarded.
  static constexpr int kValuePad = 16;
  static constexpr int kValueBytes = kValuePad + (4096 + 8) * 2;
  static constexpr int kBitmapBytes = 64 * 8;
  static constexpr int kVBBytes = kValueBytes + kBitmapBytes;
  static constexpr int kXRowBytes = SWIZZLE ? 128 : 144;
  static constexpr int kXBytes = TILE_N * kXRowBytes;  // swizzled: a multiple of 1024
  // Slack to round the dynamic shared memory base up to 1024 bytes (swizzle only).
  static constexpr int kAlignSlack = SWIZZLE ? 1024 : 0;
  static __host__ __device__ constexpr uint32_t x_offset(int r, int c) {
    return SWIZZLE ? uint32_t(r * 128 + ((c ^ (r & 7)) << 4)) : uint32_t(r * 144 + c * 16);
  }
  static_assert(kVBBytes % 16 == 0 && (!SWIZZLE || kXBytes % 1024 == 0), "stage alignment");
};

__device__ __forceinline__ unsigned char* smbd_aligned_smem(unsigned char* raw) {
  return raw + ((1024u - (ptx::smem_addr(raw) & 1023u)) & 1023u);
}

template <int TILE_N, int STAGES, bool SWIZZLE>
constexpr int smbd_smem_bytes() {
  using L = SmbdLayout<TILE_N, SWIZZLE>;
  constexpr int pipeline = STAGES * (L::kXBytes + L::kVBBytes);
  return (pipeline > smbd_out_bytes<TILE_N>() ? pipeline : smbd_out_bytes<TILE_N>()) + L::kAlignSlack;
}

// Token rows past N stay zero in the X tiles of every stage (`x_tiles`, `stages` tiles in
// a row): written once at the start by all THREADS threads of the block, never copied over
// (copies cover rows below n_valid).
template <typename L, int TILE_N, int THREADS>
__device__ __forceinline__ void smbd_zero_padding_rows(unsigned char* x_tiles, int n_valid, int stages) {
  if (n_valid >= TILE_N) return;
  const int per_stage = (TILE_N - n_valid) * 8;  // 16-byte chunks
  for (int i = threadIdx.x; i < stages * per_stage; i += THREADS) {
    const int s = i / per_stage, r = i % per_stage;
    *reinterpret_cast<uint4*>(x_tiles + s * L::kXBytes + L::x_offset(n_valid + r / 8, r % 8)) =
        make_uint4(0, 0, 0, 0);
  }
}

// The X tile of the matrix's last K-tile when K is not a multiple of 64, by plain stores
// (threads first, first + step, ...): columns past K are written as zeros, so nothing
// outside the caller's [n, K] block is read (NaN * 0 would poison Y).
template <typename T, typename L>
__device__ __forceinline__ void smbd_store_ragged_x(unsigned char* sx, const SmbdParams& p,
                                                    int64_t n0, int64_t k0, int n_valid, int first,
                                                    int step) {
  const T* x = static_cast<const T*>(p.x);
  for (int i = first; i < n_valid * 64; i += step) {
    const int r = i >> 6, c = i & 63;
    const T v = (k0 + c < p.k) ? x[(n0 + r) * p.ldx + k0 + c] : ptx::from_float<T>(0.f);
    *reinterpret_cast<T*>(sx + L::x_offset(r, c >> 3) + (c & 7) * 2) = v;
  }
}

// Lane L's share of the scan over a staged GroupTile's bitmap words ([half][64]): where
// the values of its BitmapTiles 2L and 2L+1 start, by half, as shared addresses (`values`:
// address of the GroupTile's first value). Lane L counts its two BitmapTiles, a 5-step
// warp scan turns the counts into starts. Called by the whole warp.
__device__ __forceinline__ SmbdStarts smbd_scan_starts(const uint32_t* words, uint32_t values,
                                                       int lane) {
  const uint2 lo = reinterpret_cast<const uint2*>(words)[lane];
  const uint2 hi = reinterpret_cast<const uint2*>(words + 64)[lane];
  const SmbdCounts c = smbd_counts(lo.x, lo.y, hi.x, hi.y);
  uint32_t incl = c.both;
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    const uint32_t t = __shfl_up_sync(0xffffffffu, incl, d);
    if (lane >= d) incl += t;
  }
  return smbd_starts(values, incl - c.both, c);
}

// acc[a][ns]: m16n8 accumulator fragments of token subtile ns; with a single token tile
// two sets alternate between k-steps to break the mma dependency chain.
template <int TILE_N>
constexpr int smbd_acc_sets() { return TILE_N == 8 ? 2 : 1; }

// The A fragment of TCTile (row, tk) of a staged GroupTile, decoded straight into
// registers: this lane's half-words of the four BitmapTiles and where their values start
// (`at`, as in smbd_multiply_stage), one 16-byte load each.
__device__ __forceinline__ void smbd_decode_a(const uint32_t* s_words, const uint32_t* at,
                                              const SmbdLane& me, int row, int tk,
                                              uint32_t (&a)[4]) {
  const uint4 words = *reinterpret_cast<const uint4*>(s_words + me.upper * 64 + row * 16 + tk * 4);
  const uint4 start = *reinterpret_cast<const uint4*>(at + tk * 4);
  const auto decode = [&](uint32_t word, uint32_t first) {
    const uint32_t v = first + 2 * smbd_pair_index(word, me);
    return ptx::prmt(ptx::lds_u16(v - 2), ptx::lds_u16(v), smbd_selector(word, me));
  };
  a[0] = decode(words.x, start.x);
  a[1] = decode(words.y, start.y);
  a[2] = decode(words.z, start.z);
  a[3] = decode(words.w, start.w);
}

// One staged GroupTile, one warp: decodes TCTile row `row` (16 rows x 64 k) straight
// into A-fragment registers and multiplies it with the staged X tile: acc += W * X^T.
// `s_words`: the stage's bitmap words [half][64]; `at`: shared addresses where the values
// of the row's 16 bitmaps start, in the lane's half; `s_x`: shared address of X. With two
// accumulator sets (ACC_SETS) a single token tile alternates them between k-steps.
template <typename T, int TILE_N, int ACC_SETS = smbd_acc_sets<TILE_N>()>
__device__ __forceinline__ void smbd_multiply_stage(
    const uint32_t* s_words, const uint32_t* at, uint32_t s_x,
    const SmbdLane& me, int row, float (&acc)[ACC_SETS][TILE_N / 8][4]) {
  using L = SmbdLayout<TILE_N, false>;
  constexpr int kNS = TILE_N / 8;
  const int lane = threadIdx.x & 31;
  uint32_t b_pair[4];  // TILE_N == 8: B fragments of two k-steps
#pragma unroll
  for (int tk = 0; tk < 4; ++tk) {
    // B fragments (X^T) of this k-step for every n-subtile.
    uint32_t b[kNS][2];
    if constexpr (kNS == 1) {
      if ((tk & 1) == 0) {
        // One token tile: chunks 2tk .. 2tk+3 of rows 0-7 give b for k-steps tk and tk+1.
        const int row = lane & 7, chunk = 2 * tk + (lane >> 3);
        ptx::ldmatrix_x4(s_x + L::x_offset(row, chunk), b_pair[0], b_pair[1],
                         b_pair[2], b_pair[3]);
      }
    } else {
#pragma unroll
      for (int ns = 0; ns < kNS; ns += 2) {
        const int row = (ns + (lane >> 4)) * 8 + (lane & 7);
        const int chunk = 2 * tk + ((lane >> 3) & 1);
        ptx::ldmatrix_x4(s_x + L::x_offset(row, chunk), b[ns][0], b[ns][1],
                         b[ns + 1][0], b[ns + 1][1]);
      }
    }

    uint32_t a[4];
    smbd_decode_a(s_words, at, me, row, tk, a);

    if constexpr (kNS == 1) {
      ptx::mma_16816<T>(acc[(tk & 1) % ACC_SETS][0], a, b_pair[(tk & 1) * 2],
                        b_pair[(tk & 1) * 2 + 1]);
    } else {
#pragma unroll
      for (int ns = 0; ns < kNS; ++ns) ptx::mma_16816<T>(acc[0][ns], a, b[ns][0], b[ns][1]);
    }
  }
}

// The same with one warpgroup MMA per k-step (sm_90a): the four warps of the block are
// the warpgroup, each decodes its TCTile row's 16 A registers, then four wgmma
// (64 x TILE_N x 16 each) read X from shared memory through a descriptor. Waits for them,
// so the caller may overwrite the stage afterwards. Called by all four warps, converged.
template <typename T, int TILE_N>
__device__ __forceinline__ void smbd_multiply_stage_wgmma(const uint32_t* s_words,
                                                          const uint32_t* at, uint32_t s_x,
                                                          const SmbdLane& me,
                                                          float (&acc)[TILE_N / 8][4]) {
#if SPINFER_WGMMA
  const int warp = (threadIdx.x >> 5) & 3;
  uint32_t a[4][4];
#pragma unroll
  for (int tk = 0; tk < 4; ++tk) smbd_decode_a(s_words, at, me, warp, tk, a[tk]);
  ptx::wgmma_fence();
#pragma unroll
  for (int tk = 0; tk < 4; ++tk)  // k-step tk: chunks 2tk and 2tk+1 of every token row
    ptx::wgmma_rs<T, TILE_N>(acc, a[tk], ptx::wgmma_desc_sw128(s_x + 32 * tk));
  ptx::wgmma_commit();
  ptx::wgmma_wait<0>();
#pragma unroll
  for (int i = 0; i < TILE_N / 8; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) ptx::wgmma_fence_operand(acc[i][j]);
#else
  __trap();  // instantiated for every architecture, launched only on sm_90a
#endif
}

// Wide token tiles: issues the four wgmma of a tile's decoded A registers `a` (one per
// k-step) as one group and returns once the previous group has completed, leaving this
// one in flight. The caller then may overwrite the registers and the stage of the
// previous tile, never those of this one; the accumulators are read only after a final
// wgmma_wait<0>. (Touching them in between would make ptxas serialise the wgmma.)
template <typename T, int TILE_N>
__device__ __forceinline__ void smbd_wgmma_issue_overlapped(const uint32_t (&a)[4][4], uint32_t s_x,
                                                            float (&acc)[TILE_N / 8][4]) {
#if SPINFER_WGMMA
  ptx::wgmma_fence();  // orders this thread's writes of `a` before the wgmma read them
#pragma unroll
  for (int tk = 0; tk < 4; ++tk)
    ptx::wgmma_rs<T, TILE_N>(acc, a[tk], ptx::wgmma_desc_sw128(s_x + 32 * tk));
  ptx::wgmma_commit();
  ptx::wgmma_wait<1>();
#else
  __trap();
#endif
}

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define SPINFER_SMBD_BULK 1  // Hopper: values and bitmaps by bulk copies on mbarriers
#else
#define SPINFER_SMBD_BULK 0  // Ampere / Ada: cp.async by every thread
#endif

// Blocks per SM the register budget must allow: decode is latency-bound, so narrow token
// tiles trade registers for more resident warps. The wide wgmma tiles hold 64 / 128
// accumulators and two sets of A registers per thread, and their stages fill shared
// memory for 2 / 1 blocks anyway (smbd_stages, spmm_launch.cuh).
template <int TILE_N>
constexpr int smbd_min_blocks() {
  return TILE_N <= 32 ? 7 : TILE_N <= 64 ? 4 : TILE_N == 128 ? 2 : 1;
}

// The block kernel (spmm_smbd_kernel below). WGMMA: multiply with
// smbd_multiply_stage_wgmma (sm_90a), else mma.sync.
template <typename T, int TILE_N, int STAGES, bool WGMMA>
__device__ __forceinline__ void smbd_block_kernel_body(const SmbdParams& p) {
  // Wide tiles: the wgmma kernel only (mma.sync would need 4 x TILE_N / 8 accumulators per warp).
  constexpr bool kWide = TILE_N > 64;
  static_assert(TILE_N % 8 == 0 && TILE_N >= 8 &&
                    (TILE_N <= 64 || (WGMMA && (TILE_N == 128 || TILE_N == 256))),
                "TILE_N is 8, 16, 32 or 64, or 128 or 256 with wgmma");
  static_assert(STAGES >= (kWide ? 3 : 2),
                "at least double buffering; a wide tile holds one more stage (its wgmma in flight)");
  // K-tiles loading ahead of the one being decoded: the other stages hold that one and,
  // for a wide tile, the previous one whose wgmma are still running.
  constexpr int kAhead = kWide ? STAGES - 2 : STAGES - 1;
  using L = SmbdLayout<TILE_N, WGMMA>;  // X swizzled for wgmma
  constexpr int kNS = TILE_N / 8;          // mma n-subtiles
  constexpr int kAcc = WGMMA ? 1 : smbd_acc_sets<TILE_N>();
  extern __shared__ __align__(16) unsigned char smem_raw[];
  unsigned char* smem = WGMMA ? smbd_aligned_smem(smem_raw) : smem_raw;
  // Per warp, for the stage being decoded: shared address of the first value of each
  // (half, bitmap) of the warp's 16 bitmaps.
  __shared__ __align__(16) uint32_t value_at[4][2][16];

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int64_t gm = blockIdx.x;
  const int64_t n0 = int64_t(blockIdx.y) * TILE_N;
  const int slice = blockIdx.z;
  const int64_t gk_begin = int64_t(slice) * p.tiles_per_split;
  const int64_t gk_end = min(p.group_cols, gk_begin + int64_t(p.tiles_per_split));
  const int iters = int(gk_end - gk_begin);
  const int n_valid = int(min(int64_t(TILE_N), p.n - n0));
  const uint32_t smem_base = ptx::smem_addr(smem);
  const T* x = static_cast<const T*>(p.x);

  // X tiles of the stages first, then per stage its values and bitmaps.
  const uint32_t x_base = smem_base, vb_base = smem_base + STAGES * L::kXBytes;
  smbd_zero_padding_rows<L, TILE_N, kSmbdThreads>(smem, n_valid, STAGES);

#if SPINFER_SMBD_BULK
  __shared__ __align__(8) uint64_t full_bar[STAGES];
  const uint32_t bar0 = ptx::smem_addr(full_bar);
  if (tid == 0) {
#pragma unroll
    for (int s = 0; s < STAGES; ++s) ptx::mbarrier_init(bar0 + 8 * s, 1);
    ptx::mbarrier_init_fence();
  }
  __syncthreads();
#endif

  // This thread's X chunk: row x_row (+16, +32, ...), 16-byte chunk tid % 8 of each K-tile
  // (a warp reads 4 whole rows).
  // X reads stay inside the [n, K] block the caller owns (everything else may be NaN or
  // never written, and NaN * 0 = NaN would poison Y): rows are limited to r < n_valid
  // (rows past N are zeroed in shared memory above, never loaded); a full K-tile lies
  // entirely below K because only the matrix's last K-tile can be ragged, and that one
  // (ragged_tile, set only in the slice that owns it) is loaded element-wise with columns
  // >= K written as zeros. The cp.async below never needs a src-size < 16. (initcheck's
  // reports on this line came from a test that passed an unwritten x; see
  // tests/gpu/test_graph_and_errors.cpp.)
  const int x_row = tid >> 3, x_chunk = tid & 7;
  const T* x_src = x + (n0 + x_row) * p.ldx + gk_begin * 64 + x_chunk * 8;
  const int64_t x_step = 16 * p.ldx;
  const uint32_t x_dst = L::x_offset(x_row, x_chunk);
  // Only the last K-tile of the matrix can be ragged (K not a multiple of 64).
  const int ragged_tile = (p.k % 64 != 0 && gk_end == p.group_cols) ? iters - 1 : -1;

  const int64_t group_base = gm * p.group_cols + gk_begin;  // global GroupTile index of tile 0
  const uint64_t* offs = p.group_offsets + group_base;      // offs[j], j in [0, iters]

  // Issues the copies of K-tile j (values, bitmaps, X) into pipeline stage `stage`.
  // Called by every thread; the ragged last K-tile's X is written by plain stores.
  auto load_tile = [&](int j, int stage, uint64_t lo, uint64_t hi) {
    const uint32_t s_val = vb_base + stage * L::kVBBytes;
    const uint32_t s_x = x_base + stage * L::kXBytes;
    const bool ragged = j == ragged_tile;
    if (ragged)
      smbd_store_ragged_x<T, L>(smem + stage * L::kXBytes, p, n0, (gk_begin + j) * 64, n_valid,
                                     tid, kSmbdThreads);
#if SPINFER_SMBD_BULK
    // Values and bitmaps: two bulk copies on the stage's mbarrier, issued by two lanes of
    // warp 0 (one instruction each, so the producer adds almost nothing to warp 0's time).
    if (warp == 0) {
      const uint32_t bar = bar0 + 8 * stage;
      const uint32_t value_bytes = uint32_t(hi - lo) * 2u;
      if (lane == 0) {
        ptx::mbarrier_arrive_expect_tx(bar, value_bytes + L::kBitmapBytes);
        if (value_bytes) ptx::bulk_copy(s_val + L::kValuePad, p.values + lo, value_bytes, bar);
        ptx::bulk_copy(s_val + L::kValueBytes, p.bitmaps + (group_base + j) * 64, L::kBitmapBytes,
                       bar);
      }
    }
#else
    const uint16_t* g_val = p.values + lo;
    const int chunks = int((hi - lo) >> 3);
    for (int c = tid; c < chunks; c += kSmbdThreads)
      ptx::cp_async_16(s_val + L::kValuePad + c * 16, g_val + c * 8, 16);
    if (tid < 32)
      ptx::cp_async_16(s_val + L::kValueBytes + tid * 16,
                       p.bitmaps + (group_base + j) * 64 + tid * 2, 16);
#endif
    // X: 16-byte cp.async spread over all threads; a thread always copies the same chunk
    // of rows x_row, x_row + 16, ... so its source pointer only advances by 64 per tile.
    if (!ragged) {
      const T* src = x_src + int64_t(j) * 64;
      const uint32_t dst = s_x + x_dst;
      for (int r = x_row; r < n_valid; r += 16, src += x_step)
        ptx::cp_async_16(dst + (r - x_row) * L::kXRowBytes, src, 16);
    }
    ptx::cp_async_commit();  // one group per tile, possibly empty
  };

  // The stage's bitmap words, [half][64], after its values.
  const auto stage_words = [&](int stage) {
    return reinterpret_cast<const uint32_t*>(smem + STAGES * L::kXBytes + stage * L::kVBBytes +
                                             L::kValueBytes);
  };

  // Prologue: fill kAhead stages.
#pragma unroll
  for (int s = 0; s < kAhead; ++s) {
    if (s < iters) load_tile(s, s, __ldg(offs + s), __ldg(offs + s + 1));
    else ptx::cp_async_commit();
  }
  // offs of the next tile to load, prefetched one iteration ahead.
  uint64_t o_cur = (kAhead <= iters) ? __ldg(offs + kAhead) : 0;
  uint64_t o_nxt = (kAhead + 1 <= iters) ? __ldg(offs + kAhead + 1) : 0;

  // Lane constants of the decode (cuda/smbd_decode.hpp).
  const SmbdLane me = smbd_lane(lane);

  float acc[kAcc][kNS][4];
#pragma unroll
  for (int a = 0; a < kAcc; ++a)
#pragma unroll
    for (int i = 0; i < kNS; ++i) acc[a][i][0] = acc[a][i][1] = acc[a][i][2] = acc[a][i][3] = 0.f;

  // K-tile `it`: waits for its copies, refills with K-tile it + kAhead the stage every
  // warp is done with (tile it - 1; for a wide tile it - 2, whose wgmma every thread has
  // waited for), and publishes where the values of the warp's 16 bitmaps start. Returns
  // the tile's stage.
  const auto begin_tile = [&](int it) {
    ptx::cp_async_wait<kAhead - 1>();  // this thread's copies of tile `it` have landed
#if SPINFER_WGMMA
    // wgmma reads X through the async proxy: order this thread's X writes before it.
    if constexpr (WGMMA) ptx::fence_proxy_async_shared();
#endif
    __syncthreads();  // ... everyone's too; and the stage to refill is free
    {
      const int j = it + kAhead;
      if (j < iters) {
        load_tile(j, j % STAGES, o_cur, o_nxt);
        o_cur = o_nxt;
        o_nxt = (j + 2 <= iters) ? __ldg(offs + j + 2) : 0;
      } else {
        ptx::cp_async_commit();
      }
    }
    const int stage = it % STAGES;
#if SPINFER_SMBD_BULK
    ptx::mbarrier_wait(bar0 + 8 * stage, uint32_t(it / STAGES) & 1u);
#endif
    // The copy code above diverges; ldmatrix and mma (.sync.aligned) need the warp whole.
    __syncwarp();
    // Lane L counts bitmaps 2L and 2L+1, a warp scan turns the counts into starts, and
    // the 8 lanes that hold this warp's 16 bitmaps publish them (as shared addresses).
    const SmbdStarts at = smbd_scan_starts(stage_words(stage),
                                           vb_base + uint32_t(stage * L::kVBBytes + L::kValuePad), lane);
    if ((lane >> 3) == warp) {
      uint32_t* t = &value_at[warp][0][2 * (lane & 7)];
      *reinterpret_cast<uint2*>(t) = make_uint2(at.low0, at.low1);
      *reinterpret_cast<uint2*>(t + 16) = make_uint2(at.high0, at.high1);
    }
    __syncwarp();
    return stage;
  };

  if constexpr (kWide) {
    // Two sets of A registers, alternating by tile: a tile's decode writes one set while
    // the previous tile's wgmma still read the other. The loop takes two tiles per trip
    // so that each set is its own registers (PTX: registers a wgmma reads must not be
    // written before a wait_group covering it).
    uint32_t a_even[4][4], a_odd[4][4];
    const auto wide_tile = [&](int it, uint32_t(&a)[4][4]) {
      const int stage = begin_tile(it);
#pragma unroll
      for (int tk = 0; tk < 4; ++tk)
        smbd_decode_a(stage_words(stage), &value_at[warp][me.upper][0], me, warp, tk, a[tk]);
      smbd_wgmma_issue_overlapped<T, TILE_N>(a, x_base + stage * L::kXBytes, acc[0]);
    };
    int it = 0;
    for (; it + 1 < iters; it += 2) {
      wide_tile(it, a_even);
      wide_tile(it + 1, a_odd);
    }
    if (it < iters) wide_tile(it, a_even);
#if SPINFER_WGMMA
    ptx::wgmma_wait<0>();
#pragma unroll
    for (int i = 0; i < kNS; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) ptx::wgmma_fence_operand(acc[0][i][j]);
#endif
  } else {
    for (int it = 0; it < iters; ++it) {
      const int stage = begin_tile(it);
      const uint32_t s_x = x_base + stage * L::kXBytes;
      if constexpr (WGMMA)
        smbd_multiply_stage_wgmma<T, TILE_N>(stage_words(stage), &value_at[warp][me.upper][0], s_x, me,
                                             acc[0]);
      else
        smbd_multiply_stage<T, TILE_N>(stage_words(stage), &value_at[warp][me.upper][0], s_x, me, warp,
                                       acc);
    }
  }
  if constexpr (kAcc == 2) {
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[0][0][i] += acc[1][0][i];
  }

  // ---- epilogue ----
  ptx::cp_async_wait<0>();
  __syncthreads();  // every warp is done with the stages: reuse them for the output tile
  smbd_store_tile<T, TILE_N>(p, acc[0], smem, n_valid);
}

template <typename T, int TILE_N, int STAGES, bool WGMMA>
__global__ void __launch_bounds__(kSmbdThreads, smbd_min_blocks<TILE_N>())
    spmm_smbd_kernel(const SmbdParams p) {
  // The wgmma variant has a body only in sm_90a code (the entry launches it only there),
  // which also keeps the other architectures' compile time down.
  if constexpr (WGMMA && !SPINFER_WGMMA) __trap();
  else smbd_block_kernel_body<T, TILE_N, STAGES, WGMMA>(p);
}

}  // namespace spinfer::cuda
