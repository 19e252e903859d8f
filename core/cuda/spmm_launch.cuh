// Typed launchers of the SMBD kernels, instantiated per dtype in spmm_launch_f16.cu and
// spmm_launch_bf16.cu (two files so the four architectures compile in parallel).
#pragma once

#include "cuda/spmm_smbd.cuh"
#include "cuda/spmm_smbd_specialised.cuh"
#include "cuda/spmm_dispatch.hpp"
#include "cuda/spmm_smbd_warp_k.cuh"

namespace spinfer::cuda {

// Pipeline depth of the block kernel: enough GroupTiles in flight per SM to cover HBM
// latency at any sparsity, with several blocks resident per SM. The wide tiles (wgmma
// only) keep one stage under their running wgmma and load STAGES - 2 tiles ahead: 4
// stages of 24.5 KiB (99.1 KiB with the alignment slack) leave room for 2 blocks of 128
// tokens per SM, 5 stages of 40.5 KiB (203.6 KiB) for 1 block of 256 tokens, which then
// has 3 tiles loading.
template <int TILE_N>
constexpr int smbd_stages() { return TILE_N <= 64 ? 3 : TILE_N == 128 ? 4 : 5; }

// Kernel, block size and dynamic shared memory of one variant. The specialised and warp-K
// kernels' stages are sized at launch (SmbdParams::stages): kSmem is their least (the
// epilogue's), which occupancy queries use, and kMaxSmem what they may be given.
template <typename T, int TILE_N, SpmmKernel K>
struct SmbdVariant {
  static constexpr bool kSpecialised = K == SpmmKernel::specialised;
  static constexpr bool kWarpK = K == SpmmKernel::warp_k;
  static constexpr bool kSizedAtLaunch = kSpecialised || kWarpK;
  static constexpr bool kWgmma = K == SpmmKernel::wgmma;
  static constexpr int kStages = smbd_stages<TILE_N>();
  static constexpr int kThreads = kSizedAtLaunch ? kSpecialisedThreads : kSmbdThreads;
  static constexpr int kSmem = kWarpK        ? warp_k_epilogue_bytes<TILE_N>()
                               : kSpecialised ? smbd_out_bytes<TILE_N>()
                                              : smbd_smem_bytes<TILE_N, kStages, kWgmma>();
  static constexpr int kMaxSmem = kSizedAtLaunch ? kSmbdMaxDynamicSmem : kSmem;
  static constexpr auto kernel() {
    if constexpr (kSpecialised) return spmm_smbd_specialised_kernel<T, TILE_N>;
    else if constexpr (kWarpK) return spmm_smbd_warp_k_kernel<T, TILE_N>;
    else return spmm_smbd_kernel<T, TILE_N, kStages, kWgmma>;
  }
  static_assert(kSizedAtLaunch || kSmem + kSmbdStaticSmemBound <= kSmbdMaxBlockSmem,
                "the block kernel's stages do not fit one block's shared memory");
  // The 128-token tile's 4 stages are sized for 2 blocks per SM (228 KiB on sm_90, 1 KiB
  // reserved per block), the 256-token tile's 5 for one.
  static_assert(TILE_N != 128 || 2 * (kSmem + kSmbdStaticSmemBound + 1024) <= 228 * 1024,
                "two blocks of 128 tokens per SM");
  static int smem(const SmbdParams& p) {
    if constexpr (!kSizedAtLaunch) return kSmem;
    const int x_tiles = kWarpK ? kWarpKTiles : 1;
    const int pipeline =
        p.stages * (x_tiles * SmbdLayout<TILE_N, false>::kXBytes + int(p.stage_bytes));
    return pipeline > kSmem ? pipeline : kSmem;
  }
};

template <typename T, int TILE_N, SpmmKernel K>
cudaError_t launch_variant(const SmbdParams& p, SmbdGrid grid, cudaStream_t stream) {
  if constexpr (!kernel_serves(K, TILE_N)) {
    return cudaErrorInvalidValue;
  } else {
    using V = SmbdVariant<T, TILE_N, K>;
    V::kernel()<<<dim3(grid.group_rows, grid.token_tiles, grid.split_k), V::kThreads, V::smem(p),
                  stream>>>(p);
    return cudaGetLastError();
  }
}

template <typename T, SpmmKernel K>
cudaError_t launch_tile(int tile_n, const SmbdParams& p, SmbdGrid grid, cudaStream_t stream) {
  switch (tile_n) {
    case 8: return launch_variant<T, 8, K>(p, grid, stream);
    case 16: return launch_variant<T, 16, K>(p, grid, stream);
    case 32: return launch_variant<T, 32, K>(p, grid, stream);
    case 64: return launch_variant<T, 64, K>(p, grid, stream);
    case 128: return launch_variant<T, 128, K>(p, grid, stream);
    case 256: return launch_variant<T, 256, K>(p, grid, stream);
    default: return cudaErrorInvalidValue;
  }
}

template <typename T>
cudaError_t launch_spmm_smbd_dtype(SpmmKernel kernel, int tile_n, const SmbdParams& p,
                                   SmbdGrid grid, cudaStream_t stream) {
  if (kernel == SpmmKernel::specialised)
    return launch_tile<T, SpmmKernel::specialised>(tile_n, p, grid, stream);
  if (kernel == SpmmKernel::block) return launch_tile<T, SpmmKernel::block>(tile_n, p, grid, stream);
  if (kernel == SpmmKernel::wgmma) return launch_tile<T, SpmmKernel::wgmma>(tile_n, p, grid, stream);
  if (kernel == SpmmKernel::warp_k) return launch_tile<T, SpmmKernel::warp_k>(tile_n, p, grid, stream);
  return cudaErrorInvalidValue;
}

template <typename T, int TILE_N, SpmmKernel K>
cudaError_t prepare_variant() {
  if constexpr (!kernel_serves(K, TILE_N)) {
    return cudaSuccess;
  } else {
    using V = SmbdVariant<T, TILE_N, K>;
    cudaError_t e =
        cudaFuncSetAttribute(V::kernel(), cudaFuncAttributeMaxDynamicSharedMemorySize, V::kMaxSmem);
    // Stages sized at launch fill the SM's shared memory: ask for all of it as shared.
    if (e == cudaSuccess && V::kSizedAtLaunch)
      e = cudaFuncSetAttribute(V::kernel(), cudaFuncAttributePreferredSharedMemoryCarveout,
                               cudaSharedmemCarveoutMaxShared);
    return e;
  }
}

template <typename T, SpmmKernel K>
cudaError_t prepare_tiles() {
  cudaError_t e = prepare_variant<T, 8, K>();
  if (e == cudaSuccess) e = prepare_variant<T, 16, K>();
  if (e == cudaSuccess) e = prepare_variant<T, 32, K>();
  if (e == cudaSuccess) e = prepare_variant<T, 64, K>();
  if (e == cudaSuccess) e = prepare_variant<T, 128, K>();
  if (e == cudaSuccess) e = prepare_variant<T, 256, K>();
  return e;
}

template <typename T>
cudaError_t prepare_dtype(bool with_specialised) {
  cudaError_t e = prepare_tiles<T, SpmmKernel::block>();
  if (e == cudaSuccess && with_specialised) e = prepare_tiles<T, SpmmKernel::specialised>();
  if (e == cudaSuccess && with_specialised) e = prepare_tiles<T, SpmmKernel::wgmma>();
  if (e == cudaSuccess && with_specialised) e = prepare_tiles<T, SpmmKernel::warp_k>();
  return e;
}

template <int TILE_N, SpmmKernel K>
int blocks_per_sm_of() {
  if constexpr (!kernel_serves(K, TILE_N)) {
    return 1;
  } else {
    using V = SmbdVariant<__half, TILE_N, K>;
    int blocks = 0;
    const cudaError_t e =
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, V::kernel(), V::kThreads, V::kSmem);
    return (e == cudaSuccess && blocks > 0) ? blocks : 1;
  }
}

template <SpmmKernel K>
int blocks_per_sm_tile(int tile_n) {
  switch (tile_n) {
    case 8: return blocks_per_sm_of<8, K>();
    case 16: return blocks_per_sm_of<16, K>();
    case 32: return blocks_per_sm_of<32, K>();
    case 128: return blocks_per_sm_of<128, K>();
    case 256: return blocks_per_sm_of<256, K>();
    default: return blocks_per_sm_of<64, K>();
  }
}

}  // namespace spinfer::cuda
