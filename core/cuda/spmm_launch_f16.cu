// fp16 instances of the SMBD kernels, plus the dtype-neutral launcher entry points.
#include "cuda/spmm_launch.cuh"

namespace spinfer::cuda {

cudaError_t launch_spmm_smbd_bf16(SpmmKernel kernel, int tile_n, const SmbdParams& p,
                                  SmbdGrid grid, cudaStream_t stream);
cudaError_t prepare_spmm_smbd_bf16(bool with_specialised);

cudaError_t launch_spmm_smbd(SpmmKernel kernel, DType dtype, int tile_n, const SmbdParams& p,
                             SmbdGrid grid, cudaStream_t stream) {
  if (dtype == DType::f16) return launch_spmm_smbd_dtype<__half>(kernel, tile_n, p, grid, stream);
  if (dtype == DType::bf16) return launch_spmm_smbd_bf16(kernel, tile_n, p, grid, stream);
  return cudaErrorInvalidValue;
}

cudaError_t prepare_spmm_smbd(bool with_specialised) {
  cudaError_t e = prepare_dtype<__half>(with_specialised);
  return e == cudaSuccess ? prepare_spmm_smbd_bf16(with_specialised) : e;
}

int spmm_smbd_blocks_per_sm(SpmmKernel kernel, int tile_n) {
  switch (kernel) {
    case SpmmKernel::specialised: return blocks_per_sm_tile<SpmmKernel::specialised>(tile_n);
    case SpmmKernel::wgmma: return blocks_per_sm_tile<SpmmKernel::wgmma>(tile_n);
    case SpmmKernel::warp_k: return blocks_per_sm_tile<SpmmKernel::warp_k>(tile_n);
    default: return blocks_per_sm_tile<SpmmKernel::block>(tile_n);
  }
}

}  // namespace spinfer::cuda
