// The SpMM dispatcher (core/cuda/spmm_dispatch.hpp) is host code: its plans are checked
// here without a GPU (label cpu) over many shapes, token counts and device sizes. The
// kernel relies on these invariants: every K GroupTile in exactly one slice and no empty
// slice (an empty one would add unwritten partials), at most 64 slices, token tiles
// covering N, and expert overrides honoured.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>

#include "cuda/spmm_dispatch.hpp"

using namespace spinfer::cuda;

namespace {

void check_plan(int64_t rows, int64_t cols, int64_t n, int sms, int per_sm, const SpmmOptions& opt) {
  const int tile = choose_tile_n(n, opt);
  const SpmmPlan p = plan_spmm_split(rows, cols, n, tile, sms, per_sm, opt);
  INFO("group rows ", rows, ", group cols ", cols, ", n ", n, ", SMs ", sms, " x ", per_sm,
       ", override split ", opt.split_k, " tile ", opt.tile_n, " -> tile_n ", tile, ", split ",
       p.grid.split_k, " x ", p.tiles_per_split);
  REQUIRE(p.grid.group_rows == rows);
  REQUIRE(int64_t(p.grid.token_tiles) * tile >= n);
  REQUIRE(int64_t(p.grid.token_tiles - 1) * tile < n);
  const int64_t split = p.grid.split_k, per = p.tiles_per_split;
  REQUIRE(split >= 1);
  REQUIRE(split <= 64);
  REQUIRE(split <= cols);
  REQUIRE(per >= 1);
  REQUIRE(split * per >= cols);        // every GroupTile in some slice
  REQUIRE((split - 1) * per < cols);   // and the last slice not empty
  if (opt.split_k == 0 && cols >= 4) REQUIRE(per >= 4);  // slices long enough to pipeline
  if (opt.split_k > 0 && opt.split_k <= cols && opt.split_k <= 64) {
    // An override is honoured up to the no-empty-slice rounding.
    REQUIRE(per == (cols + opt.split_k - 1) / opt.split_k);
  }
  // Without split, one slice holds the whole K.
  const SpmmPlan single = plan_without_split(p, cols);
  REQUIRE(single.grid.split_k == 1);
  REQUIRE(single.tiles_per_split == cols);
  // A workspace sized exactly for the plan fits it; one float or counter less does not.
  const uint64_t tiles = uint64_t(rows) * p.grid.token_tiles;
  const uint64_t floats = tiles * uint64_t(split) * uint64_t(tile) * 64;
  CHECK(plan_fits(p, tile, floats, tiles));
  CHECK_FALSE(plan_fits(p, tile, floats - 1, tiles));
  CHECK_FALSE(plan_fits(p, tile, floats, tiles - 1));
}

}  // namespace

TEST_CASE("SpMM dispatch: tile_n is the smallest tile holding N (64 beyond), or the override") {
  for (int64_t n = 1; n <= 200; ++n) {
    const int t = choose_tile_n(n, {});
    CHECK(((t == 8 && n <= 8) || (t == 16 && n > 8 && n <= 16) || (t == 32 && n > 16 && n <= 32) ||
           (t == 64 && n > 32)));
  }
  for (int o : {8, 16, 32, 64}) CHECK(choose_tile_n(1000, SpmmOptions{0, o}) == o);
}

TEST_CASE("SpMM dispatch: the kernel is the override, else by tile where the device has it") {
  for (int tile : {8, 16, 32, 64}) {
    INFO("tile_n ", tile);
    CHECK(choose_kernel({}, false, false, tile) == SpmmKernel::block);  // before sm_90
    const SpmmKernel hopper = choose_kernel({}, true, true, tile);
    CHECK(hopper == (tile == 8    ? SpmmKernel::block
                     : tile == 16 ? SpmmKernel::specialised
                                  : SpmmKernel::wgmma));
    // An sm_90 build without sm_90a code has no wgmma kernel.
    CHECK(choose_kernel({}, true, false, tile) ==
          (tile == 16 ? SpmmKernel::specialised : SpmmKernel::block));
    for (SpmmKernel k : {SpmmKernel::block, SpmmKernel::specialised, SpmmKernel::wgmma,
                         SpmmKernel::warp_k}) {
      SpmmOptions o;
      o.kernel = k;
      CHECK(choose_kernel(o, true, true, tile) == k);
    }
  }
}

TEST_CASE("SpMM dispatch: split-K plans cover K exactly, no empty slice, waves filled") {
  // LLaMA / OPT projection shapes in GroupTiles (64 x 64), and odd ones.
  const int64_t shapes[][2] = {{64, 64},   {172, 64},  {64, 172}, {224, 64},  {64, 224}, {448, 128},
                               {128, 448}, {1, 1},     {1, 3},    {1, 4},     {1, 5},    {2, 7},
                               {3, 130},   {7, 1000},  {500, 2},  {800, 800}, {2, 4096}, {4096, 2}};
  for (const auto& s : shapes)
    for (int64_t n : {1, 7, 8, 9, 33, 64, 65, 128, 1000, 70000})
      for (int sms : {46, 84, 108, 132})
        for (int per_sm : {1, 4, 7})
          check_plan(s[0], s[1], n, sms, per_sm, {});

  // Random shapes and overrides.
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int64_t> dim(1, 700), tokens(1, 5000), split(0, 80);
  std::uniform_int_distribution<int> tile(0, 4), per_sm(1, 8);
  for (int i = 0; i < 20000; ++i) {
    const int t = tile(rng);
    check_plan(dim(rng), dim(rng), tokens(rng), 132, per_sm(rng), SpmmOptions{int(split(rng)), t ? 4 << t : 0});
  }
}

TEST_CASE("SpMM dispatch: decode on a large GPU splits K to fill it") {
  // 4096 x 11008 at N = 8 on 132 SMs x 7 blocks: 64 GroupTile rows alone fill under a
  // tenth of the resident slots, so K is split, into slices of >= 4 GroupTiles.
  const SpmmOptions none;
  const SpmmPlan p = plan_spmm_split(64, 172, 8, 8, 132, 7, none);
  CHECK(p.grid.split_k > 1);
  CHECK(wave_efficiency(int64_t(64) * p.grid.split_k, 132 * 7) >= 0.75);
  // A tall matrix with long inputs already fills the GPU: no split.
  const SpmmPlan q = plan_spmm_split(448, 128, 1024, 64, 132, 4, none);
  CHECK(q.grid.split_k == 1);
}

TEST_CASE("SpMM dispatch: stages sized at launch hold the longest runs and fit the SM's share") {
  // H100 (228 KiB per SM) and smaller parts; runs from empty to a dense GroupTile. The
  // specialised kernel stages one GroupTile, the warp-K kernel four (tiles 8 and 16).
  for (SpmmKernel kernel : {SpmmKernel::specialised, SpmmKernel::warp_k})
    for (int64_t smem : {int64_t(228) << 10, int64_t(164) << 10, int64_t(100) << 10})
      for (int blocks : {1, 3, 4, 5, 8})
        for (int tile : {8, 16, 32, 64})
          for (uint32_t run : {0u, 8u, 1232u, 2872u, 4096u}) {
            const bool warp_k = kernel == SpmmKernel::warp_k;
            if (warp_k && tile > 16) continue;
            const uint32_t tiles = warp_k ? 4 : 1;
            const int least = warp_k ? 2 : 3;
            const StagePlan sp = plan_stages(kernel, run, tile, blocks, smem);
            INFO("warp_k ", warp_k, " smem ", smem, " blocks ", blocks, " tile ", tile, " run ", run);
            // Front pad, the runs and 8 values of slack, 16-byte aligned.
            CHECK(sp.value_bytes >= 16 + (tiles * run + 8) * 2);
            CHECK(sp.value_bytes % 16 == 0);
            CHECK(sp.stage_bytes == sp.value_bytes + tiles * 512 + (warp_k ? 16 : 512));
            CHECK(sp.stage_bytes % 16 == 0);
            CHECK(sp.stages >= least);
            CHECK(sp.stages <= kSmbdMaxStages);
            // The whole pipeline (X tiles of 144-byte rows, stages) within the limit, and
            // more than the minimum only where it fits the block's share.
            const int64_t bytes = int64_t(sp.stages) * (tiles * tile * 144 + sp.stage_bytes);
            CHECK(bytes <= kSmbdMaxDynamicSmem);
            if (sp.stages > least) CHECK(bytes <= smem / blocks - 2048);
            // Sparser matrices get at least as many stages.
            if (run >= 8) CHECK(plan_stages(kernel, run / 2, tile, blocks, smem).stages >= sp.stages);
          }
}
