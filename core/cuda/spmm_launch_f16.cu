// fp16 instances of the SMBD kernel, plus the dtype-neutral launcher entry points.
#include "cuda/spmm_launch.cuh"

namespace spinfer::cuda {

cudaError_t launch_spmm_smbd_bf16(int tile_n, const SmbdParams& p, SmbdGrid grid,
                                  cudaStream_t stream);
cudaError_t prepare_spmm_smbd_bf16();

cudaError_t launch_spmm_smbd(DType dtype, int tile_n, const SmbdParams& p, SmbdGrid grid,
                             cudaStream_t stream) {
  if (dtype == DType::f16) return launch_spmm_smbd_dtype<__half>(tile_n, p, grid, stream);
  if (dtype == DType::bf16) return launch_spmm_smbd_bf16(tile_n, p, grid, stream);
  return cudaErrorInvalidValue;
}

cudaError_t prepare_spmm_smbd() {
  cudaError_t e = prepare_dtype<__half>();
  return e == cudaSuccess ? prepare_spmm_smbd_bf16() : e;
}

int spmm_smbd_blocks_per_sm(int tile_n) {
  int blocks = 0;
  cudaError_t e = cudaErrorInvalidValue;
  switch (tile_n) {
    case 8:
      e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(
          &blocks, spmm_smbd_kernel<__half, 8, smbd_stages<8>()>, kSmbdThreads,
          smbd_smem_bytes<8, smbd_stages<8>()>());
      break;
    case 16:
      e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(
          &blocks, spmm_smbd_kernel<__half, 16, smbd_stages<16>()>, kSmbdThreads,
          smbd_smem_bytes<16, smbd_stages<16>()>());
      break;
    case 32:
      e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(
          &blocks, spmm_smbd_kernel<__half, 32, smbd_stages<32>()>, kSmbdThreads,
          smbd_smem_bytes<32, smbd_stages<32>()>());
      break;
    case 64:
      e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(
          &blocks, spmm_smbd_kernel<__half, 64, smbd_stages<64>()>, kSmbdThreads,
          smbd_smem_bytes<64, smbd_stages<64>()>());
      break;
    default: break;
  }
  return (e == cudaSuccess && blocks > 0) ? blocks : 1;
}

}  // namespace spinfer::cuda
