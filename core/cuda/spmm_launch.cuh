// Typed launcher of the SMBD kernel, instantiated per dtype in spmm_launch_f16.cu and
// spmm_launch_bf16.cu (two files so the four architectures compile in parallel).
#pragma once

#include "cuda/spmm_smbd.cuh"

namespace spinfer::cuda {

// Pipeline depth: enough GroupTiles in flight per SM to cover HBM latency at any
// sparsity, with several blocks resident per SM.
template <int TILE_N>
constexpr int smbd_stages() { return 3; }

template <typename T, int TILE_N>
cudaError_t launch_spmm_smbd_typed(const SmbdParams& p, SmbdGrid grid, cudaStream_t stream) {
  constexpr int kStages = smbd_stages<TILE_N>();
  constexpr int kSmem = smbd_smem_bytes<TILE_N, kStages>();
  spmm_smbd_kernel<T, TILE_N, kStages>
      <<<dim3(grid.group_rows, grid.token_tiles, grid.split_k), kSmbdThreads, kSmem, stream>>>(p);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_spmm_smbd_dtype(int tile_n, const SmbdParams& p, SmbdGrid grid,
                                   cudaStream_t stream) {
  switch (tile_n) {
    case 8: return launch_spmm_smbd_typed<T, 8>(p, grid, stream);
    case 16: return launch_spmm_smbd_typed<T, 16>(p, grid, stream);
    case 32: return launch_spmm_smbd_typed<T, 32>(p, grid, stream);
    case 64: return launch_spmm_smbd_typed<T, 64>(p, grid, stream);
    default: return cudaErrorInvalidValue;
  }
}

template <typename T, int TILE_N>
cudaError_t prepare_variant() {
  constexpr int kStages = smbd_stages<TILE_N>();
  return cudaFuncSetAttribute(spmm_smbd_kernel<T, TILE_N, kStages>,
                              cudaFuncAttributeMaxDynamicSharedMemorySize,
                              smbd_smem_bytes<TILE_N, kStages>());
}

template <typename T>
cudaError_t prepare_dtype() {
  cudaError_t e = prepare_variant<T, 8>();
  if (e == cudaSuccess) e = prepare_variant<T, 16>();
  if (e == cudaSuccess) e = prepare_variant<T, 32>();
  if (e == cudaSuccess) e = prepare_variant<T, 64>();
  return e;
}

}  // namespace spinfer::cuda
