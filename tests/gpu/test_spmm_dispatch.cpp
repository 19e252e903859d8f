// The SpMM dispatcher (core/cuda/spmm_dispatch.hpp) is host code: its plans are checked
// here without a GPU (label cpu) over many shapes, token counts and device sizes. The
// kernel relies on these invariants: every K GroupTile in exactly one slice and no empty
// slice (an empty one would add unwritten partials), at most 64 slices, token tiles
// covering N, and expert overrides honoured.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>

#include "cuda/dense_gemm.hpp"
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
  for (int o : {8, 16, 32, 64, 128, 256}) CHECK(choose_tile_n(1000, SpmmOptions{0, o}) == o);
  // The wide tiles are never chosen automatically (long inputs take the dense path).
  for (int64_t n : {65, 128, 129, 256, 1000, 8192, 70000}) CHECK(choose_tile_n(n, {}) == 64);
}

TEST_CASE("SpMM dispatch: which kernel serves which token tile") {
  const SpmmKernel all[] = {SpmmKernel::block, SpmmKernel::specialised, SpmmKernel::wgmma,
                            SpmmKernel::warp_k};
  for (SpmmKernel k : all)
    for (int tile : {0, 1, 4, 12, 24, 48, 96, 192, 384, 512, -8}) {
      INFO("kernel ", int(k), " tile ", tile);
      CHECK_FALSE(kernel_serves(k, tile));
      CHECK_FALSE(is_smbd_tile(tile));
      CHECK(smbd_tile_index(tile) == -1);
    }
  for (int i = 0; i < 6; ++i) {
    const int tile = kSmbdTiles[i];
    INFO("tile ", tile);
    CHECK(is_smbd_tile(tile));
    CHECK(smbd_tile_index(tile) == i);
    CHECK(kernel_serves(SpmmKernel::wgmma, tile));  // every tile, the wide ones only here
    CHECK(kernel_serves(SpmmKernel::block, tile) == (tile <= 64));
    CHECK(kernel_serves(SpmmKernel::specialised, tile) == (tile <= 64));
    CHECK(kernel_serves(SpmmKernel::warp_k, tile) == (tile <= 16));
  }
  static_assert(kernel_serves(SpmmKernel::wgmma, 256) && !kernel_serves(SpmmKernel::block, 128),
                "kernel_serves is usable at compile time (the launchers' if constexpr)");
  // A wide tile asked for with the automatic kernel resolves to wgmma on sm_90a; the
  // entry rejects it where there is no wgmma kernel (then the choice would be block).
  for (int tile : {128, 256}) {
    CHECK(choose_kernel(SpmmOptions{0, tile}, true, true, tile) == SpmmKernel::wgmma);
    CHECK(choose_kernel(SpmmOptions{0, tile}, true, true, tile, 4096, true) == SpmmKernel::wgmma);
    CHECK(choose_kernel(SpmmOptions{0, tile}, true, true, tile, 4096, true, 0.1) == SpmmKernel::wgmma);
  }
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
      CHECK(choose_kernel(o, true, true, tile, 0.3) == k);  // an override wins at any density
    }
    // Decode tiles of a sparse enough matrix go to warp-K on sm_90, from kWarpKMaxDensity down.
    for (double density : {0.0, 0.1, 0.3, 0.5, kWarpKMaxDensity, 0.61, 0.7, 1.0}) {
      INFO("density ", density);
      const bool warp_k = tile <= 16 && density <= kWarpKMaxDensity;
      CHECK((choose_kernel({}, true, true, tile, density) == SpmmKernel::warp_k) == warp_k);
      CHECK(choose_kernel({}, false, false, tile, density) == SpmmKernel::block);  // before sm_90
      if (!warp_k) CHECK(choose_kernel({}, true, true, tile, density) == hopper);
      CHECK(choose_kernel({}, true, true, tile, 64, false, density) ==
            choose_kernel({}, true, true, tile, density));
    }
  }
}

TEST_CASE("SpMM dispatch: the dense path for long inputs, only by the automatic choice") {
  for (int64_t n : {1, 8, 64, 255, 256, 1000, 8192}) {
    INFO("n ", n);
    const int tile = choose_tile_n(n, {});
    const bool dense = kDenseGemmAutomatic && n >= kDenseGemmMinTokens;
    CHECK((choose_kernel({}, true, true, tile, n, true) == SpmmKernel::dense_gemm) == dense);
    CHECK(choose_kernel({}, true, true, tile, n, false) == choose_kernel({}, true, true, tile));
    // Without the dense path, or with any override, the SMBD choice stands.
    CHECK(choose_kernel(SpmmOptions{0, 64}, true, true, 64, n, true) == SpmmKernel::wgmma);
    CHECK(choose_kernel(SpmmOptions{2, 0}, true, true, tile, n, true) != SpmmKernel::dense_gemm);
    SpmmOptions forced;
    forced.kernel = SpmmKernel::block;
    CHECK(choose_kernel(forced, true, true, tile, n, true) == SpmmKernel::block);
    forced.kernel = SpmmKernel::dense_gemm;
    CHECK(choose_kernel(forced, true, true, tile, n, false) == SpmmKernel::dense_gemm);
  }
}

TEST_CASE("SpMM dispatch: dense-path slabs stay within the budget and cover W") {
  const uint64_t budget = uint64_t(64) << 20, ws = uint64_t(32) << 20;
  for (int64_t rows : {1, 63, 64, 65, 4096, 11008, 28672, 100000})
    for (int64_t cols : {1, 7, 8, 64, 100, 4096, 11008, 28672, 300000}) {
      INFO("rows ", rows, " cols ", cols);
      const DenseSlabPlan p = plan_dense_slabs(rows, cols, budget, ws);
      const int64_t gm = (rows + 63) / 64;
      CHECK(p.ld % 64 == 0);
      CHECK(p.ld >= cols);
      CHECK(p.ld < cols + 64);
      CHECK(p.group_rows_per_slab >= 1);
      CHECK(p.group_rows_per_slab <= gm);
      CHECK(p.slabs * p.group_rows_per_slab >= gm);
      CHECK((p.slabs - 1) * p.group_rows_per_slab < gm);
      CHECK(p.slab_bytes == uint64_t(p.group_rows_per_slab) * 64 * uint64_t(p.ld) * 2);
      // Within the budget, unless one GroupTile row alone is larger.
      CHECK((p.slab_bytes <= budget || p.group_rows_per_slab == 1));
      CHECK(p.workspace_bytes % 256 == 0);
      CHECK(p.workspace_bytes >= ws);
      CHECK(p.scratch_bytes() == p.workspace_bytes + p.slab_bytes + 256);  // + alignment slack
    }
  // 4096 x 4096 fp16 (32 MiB) fits one slab; 8192 x 8192 (128 MiB) takes two.
  CHECK(plan_dense_slabs(4096, 4096, budget, ws).slabs == 1);
  CHECK(plan_dense_slabs(8192, 8192, budget, ws).slabs == 2);
  CHECK(plan_dense_slabs(8192, 8192, 1, ws).slabs == 128);  // one GroupTile row a slab
  // The default slab: a third of L2 (H100: 50 MiB), within [4 MiB, 64 MiB].
  CHECK(dense_slab_budget_for_l2(int64_t(50) << 20) == (uint64_t(50) << 20) / 3);
  CHECK(dense_slab_budget_for_l2(0) == uint64_t(4) << 20);
  CHECK(dense_slab_budget_for_l2(int64_t(1) << 40) == kDenseSlabBudget);
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
  // The wide tiles (wgmma): 64 or 128 KiB partial tiles, so the workspace slot caps the split.
  for (const auto& s : shapes)
    for (int64_t n : {1, 127, 128, 129, 255, 256, 257, 1000, 4096, 70000})
      for (int wide : {128, 256})
        for (int per_sm : {1, 2})
          for (int split : {0, 1, 2, 3, 64})
            check_plan(s[0], s[1], n, 132, per_sm, SpmmOptions{split, wide});

  // Random shapes and overrides.
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int64_t> dim(1, 700), tokens(1, 5000), split(0, 80);
  std::uniform_int_distribution<int> tile(0, 6), per_sm(1, 8);
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
  // A few more blocks than slots (28672 x 8192 at N = 8, 3 blocks per SM on an H100: 448
  // blocks, 396 slots): split so the waves even out, at less estimated time than unsplit.
  const SpmmPlan r = plan_spmm_split(448, 128, 8, 8, 132, 3, none);
  CHECK(r.grid.split_k > 1);
  CHECK(split_cost(448, 396, 128, r.grid.split_k) < split_cost(448, 396, 128, 1));
  // ... and none where they already fit one wave (4 blocks per SM: 528 slots).
  CHECK(plan_spmm_split(448, 128, 8, 8, 132, 4, none).grid.split_k == 1);
}

TEST_CASE("SpMM dispatch: the split is the cheapest by the estimate, within a workspace slot") {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 3000; ++i) {
    const int64_t rows = 1 + int64_t(rng() % 600), cols = 1 + int64_t(rng() % 300);
    const int64_t n = 1 + int64_t(rng() % 300);
    const int sms = 1 + int(rng() % 140), per_sm = 1 + int(rng() % 8);
    // Every fourth plan with a wide tile (the partial tiles then fill a slot sooner).
    const SpmmOptions opt{0, i % 4 == 0 ? 128 << (i / 4 % 2) : 0};
    const int tile = choose_tile_n(n, opt);
    const SpmmPlan p = plan_spmm_split(rows, cols, n, tile, sms, per_sm, opt);
    const int64_t blocks = rows * p.grid.token_tiles, capacity = int64_t(sms) * per_sm;
    INFO("rows ", rows, " cols ", cols, " n ", n, " capacity ", capacity, " split ", p.grid.split_k);
    // Its partial tiles and counters fit a slot whenever it splits.
    if (p.grid.split_k > 1) {
      CHECK(blocks * p.grid.split_k * tile * 64 * 4 <= int64_t(kSplitKSlotPartialBytes));
      CHECK(blocks <= int64_t(kSplitKSlotCounters));
    }
    // No allowed split is cheaper (the plan's split may be rounded down to avoid an empty slice,
    // which never costs more: same slices, fewer blocks).
    const int64_t chosen = split_cost(blocks, capacity, cols, p.grid.split_k);
    for (int64_t s = 1; s <= std::clamp<int64_t>(cols / 4, 1, 64); ++s)
      if (blocks * s * tile * 64 * 4 <= int64_t(kSplitKSlotPartialBytes)) CHECK(chosen <= split_cost(blocks, capacity, cols, s));
  }
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
            if (!kernel_serves(kernel, tile)) continue;
            const uint32_t tiles = warp_k ? kWarpKTiles : 1;
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
            // The blocks the plan reports fit the SM with their static and reserved
            // shared memory (one block always runs), never more than occupancy allows.
            const int64_t overhead = warp_k ? 4096 : 2048;
            CHECK(sp.blocks_per_sm >= 1);
            CHECK(sp.blocks_per_sm <= blocks);
            if (sp.blocks_per_sm > 1) CHECK(sp.blocks_per_sm * (bytes + overhead) <= smem);
            if (sp.blocks_per_sm < blocks)  // fewer only when one more would not fit the least stages
              CHECK((sp.blocks_per_sm + 1) * (least * (tiles * tile * 144 + sp.stage_bytes) + overhead) > smem);
            if (sp.stages > least) CHECK(bytes <= smem / sp.blocks_per_sm - overhead);
            // Sparser matrices get at least as many resident blocks, and with as many
            // blocks at least as many stages.
            if (run >= 8) {
              const StagePlan sparser = plan_stages(kernel, run / 2, tile, blocks, smem);
              CHECK(sparser.blocks_per_sm >= sp.blocks_per_sm);
              if (sparser.blocks_per_sm == sp.blocks_per_sm) CHECK(sparser.stages >= sp.stages);
            }
          }
}

TEST_CASE("SpMM dispatch: a stage plan that leaves room for fewer blocks says so") {
  // The H100 case measured on 2026-12-07: warp-K, tile 8, 30 % sparsity (runs up to ~2900
  // values): the occupancy query said 4 blocks, two stages fit only 3.
  const StagePlan sp = plan_stages(SpmmKernel::warp_k, 2900, 8, 4, int64_t(228) << 10);
  CHECK(sp.stages == 2);
  CHECK(sp.blocks_per_sm == 3);
  // Sparser: 4 blocks with 2 stages each fit, and the plan keeps the occupancy count.
  const StagePlan sparse = plan_stages(SpmmKernel::warp_k, 1300, 8, 4, int64_t(228) << 10);
  CHECK(sparse.blocks_per_sm == 4);
  CHECK(sparse.stages >= 2);
}
