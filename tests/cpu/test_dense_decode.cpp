// The dense decode of the CUDA dense path (core/cuda/dense_decode.cu), emulated thread by
// thread on the host with the kernel's own index arithmetic (core/cuda/dense_decode.hpp):
// from the device bitmap layout, every GroupTile row range written into a slab must equal
// the host decoder's output (spinfer::decode, an independent implementation), and nothing
// outside the matrix's rows and the columns up to cols rounded to 8 may be written.
// Runs without a GPU.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "cuda/dense_decode.hpp"
#include "format/encode.hpp"
#include "test_util.hpp"

using namespace spinfer;
using namespace spinfer::cuda;

namespace {

constexpr uint16_t kPoison = 0xFFFF;  // NaN in fp16 and bf16

// The matrix's bitmaps as the GPU holds them: per GroupTile 64 low words, 64 high words,
// each in the device bit order.
std::vector<uint32_t> device_words(const HostMatrix& m) {
  std::vector<uint32_t> w(m.bitmaps.size() * 2);
  for (size_t g = 0; g < m.bitmaps.size() / 64; ++g)
    for (int b = 0; b < 64; ++b) {
      const uint64_t v = m.bitmaps[g * 64 + size_t(b)];
      w[g * 128 + size_t(b)] = smbd_half_to_device(uint32_t(v));
      w[g * 128 + 64 + size_t(b)] = smbd_half_to_device(uint32_t(v >> 32));
    }
  return w;
}

// The run as the kernel reads it, bounds-checked: a wrong index fails the test.
struct CheckedRun {
  const std::vector<uint16_t>& v;
  uint16_t operator[](uint32_t i) const { return v.at(i); }
};

// One launch of the decode kernel over `group_rows` GroupTile rows from `first`, block
// by block and thread by thread, into `slab` (leading dimension ld).
void emulate_launch(const HostMatrix& m, const std::vector<uint32_t>& words, int64_t first,
                    int64_t group_rows, std::vector<uint16_t>& slab, int64_t ld) {
  const int64_t gk_count = m.grid().group_cols();
  for (int64_t local = 0; local < group_rows * gk_count; ++local) {
    const DenseGroup grp = dense_group(local, gk_count, first);
    // The block's shared memory: the run, the file-order bitmaps and their starts.
    const uint64_t begin = m.group_offsets[size_t(grp.group)];
    const std::vector<uint16_t> run(m.values.begin() + int64_t(begin),
                                    m.values.begin() + int64_t(m.group_offsets[size_t(grp.group) + 1]));
    uint64_t bitmap[64];
    uint32_t start[64];
    uint32_t sum = 0;
    for (int b = 0; b < 64; ++b) {
      const uint32_t* w = words.data() + grp.group * 128;
      bitmap[b] = dense_file_bitmap(w[b], w[64 + b]);
      start[b] = sum;
      sum += popcount64(bitmap[b]);
    }
    REQUIRE(sum <= run.size());
    for (int t = 0; t < kDenseDecodeThreads; ++t)
      for (int i = 0; i < kDenseChunksPerThread; ++i) {
        const DenseChunk c = dense_chunk(t + i * kDenseDecodeThreads);
        const int64_t w_row = grp.w_row0 + c.row, col = grp.col0 + c.col;
        if (!dense_chunk_stored(w_row, col, m.rows, m.cols)) continue;
        const uint32_t bits = uint32_t(bitmap[c.bitmap] >> c.shift) & 0xFFu;
        uint32_t out[4];
        dense_chunk_expand(bits, dense_chunk_first(start[c.bitmap], bitmap[c.bitmap], c.shift),
                           CheckedRun{run}, out);
        uint16_t* dst = slab.data() + (grp.slab_row0 + c.row) * ld + col;
        REQUIRE(col + 8 <= ld);  // the 16-byte store stays inside the row
        for (int e = 0; e < 8; ++e) dst[e] = uint16_t(out[e / 2] >> (16 * (e % 2)));
      }
  }
}

}  // namespace

TEST_CASE("dense decode chunks: each GroupTile element once, in its BitmapTile's row byte") {
  std::set<int> seen;
  for (int c = 0; c < kDenseChunks; ++c) {
    const DenseChunk k = dense_chunk(c);
    CAPTURE(c);
    // The BitmapTile's place from the format's own helpers (core/format/tca_bme.hpp).
    CHECK(bitmap_row_in_group(k.bitmap) == k.row / 8 * 8);
    CHECK(bitmap_col_in_group(k.bitmap) == k.col);
    CHECK(k.shift == 8 * (k.row % 8));
    for (int e = 0; e < 8; ++e) CHECK(seen.insert(k.row * 64 + k.col + e).second);
  }
  CHECK(seen.size() == 64 * 64);
  // Eight consecutive threads cover one 64-column row: 128-byte store segments.
  for (int t = 0; t < kDenseDecodeThreads; t += 8) {
    const DenseChunk a = dense_chunk(t);
    for (int j = 1; j < 8; ++j) CHECK(dense_chunk(t + j).row == a.row);
  }
}

TEST_CASE("dense decode expand: stored values in bit order, zeros for 0 bits") {
  const std::vector<uint16_t> run = {0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666, 0x7777, 0x8888, 0x9999};
  const CheckedRun checked{run};
  uint32_t out[4];
  dense_chunk_expand(0x00u, 3, checked, out);
  CHECK((out[0] | out[1] | out[2] | out[3]) == 0u);
  dense_chunk_expand(0xFFu, 1, checked, out);
  CHECK(out[0] == 0x33332222u);
  CHECK(out[3] == 0x99998888u);
  dense_chunk_expand(0x81u, 4, checked, out);  // elements 0 and 7
  CHECK(out[0] == 0x00005555u);
  CHECK(out[1] == 0u);
  CHECK(out[2] == 0u);
  CHECK(out[3] == 0x66660000u);
  // First value of a row byte: values of the rows above in the same BitmapTile.
  CHECK(dense_chunk_first(10, 0xFFull, 8) == 18);
  CHECK(dense_chunk_first(10, 0xFF00ull, 8) == 10);
  CHECK(dense_chunk_first(0, ~0ull, 56) == 56);
}

TEST_CASE("dense decode (CUDA kernel arithmetic, emulated) equals the host decoder") {
  std::mt19937_64 rng(13);
  const int64_t shapes[][2] = {{1, 1},    {17, 33},   {64, 64}, {100, 200},
                               {130, 72}, {257, 513}, {64, 1},  {1, 130}};
  int index = 0;
  for (const auto& s : shapes) {
    for (DType dtype : {DType::f16, DType::bf16}) {
      const double sparsity = std::vector<double>{0.0, 0.3, 0.5, 0.7, 0.9, 0.99, 1.0}[size_t(index++ % 7)];
      const int64_t rows = s[0], cols = s[1];
      CAPTURE(rows);
      CAPTURE(cols);
      CAPTURE(sparsity);
      const std::vector<float> dense = test::random_sparse(rows, cols, cols, sparsity, rng);
      const HostMatrix m = encode(dense.data(), DType::f32, rows, cols, cols, dtype);
      const int64_t ld = (cols + 7) / 8 * 8 + 8;  // one spare chunk: must stay poisoned
      std::vector<uint16_t> want(size_t(rows * cols));
      decode(m, want.data(), dtype, cols);
      const std::vector<uint32_t> words = device_words(m);

      // Slabs of 1, 2 and all GroupTile rows, as the dense path cuts W.
      const int64_t gm = m.grid().group_rows();
      for (int64_t per_slab : {int64_t(1), int64_t(2), gm}) {
        CAPTURE(per_slab);
        for (int64_t first = 0; first < gm; first += per_slab) {
          const int64_t count = std::min(per_slab, gm - first);
          std::vector<uint16_t> slab(size_t(count * 64 * ld), kPoison);
          emulate_launch(m, words, first, count, slab, ld);
          for (int64_t r = 0; r < count * 64; ++r) {
            const int64_t w_row = first * 64 + r;
            for (int64_t c = 0; c < ld; ++c) {
              const uint16_t got = slab[size_t(r * ld + c)];
              uint16_t expect = kPoison;  // rows past M and columns past round8(K): unwritten
              if (w_row < rows && c < cols) expect = want[size_t(w_row * cols + c)];
              else if (w_row < rows && c < (cols + 7) / 8 * 8) expect = 0;
              INFO("slab row ", r, " column ", c);
              REQUIRE(got == expect);
            }
          }
        }
      }
    }
  }
}
