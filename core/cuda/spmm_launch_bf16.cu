// bf16 instances of the SMBD kernels.
#include "cuda/spmm_launch.cuh"

namespace spinfer::cuda {

cudaError_t launch_spmm_smbd_bf16(SpmmKernel kernel, int tile_n, const SmbdParams& p,
                                  SmbdGrid grid, cudaStream_t stream) {
  return launch_spmm_smbd_dtype<__nv_bfloat16>(kernel, tile_n, p, grid, stream);
}

cudaError_t prepare_spmm_smbd_bf16(bool with_specialised) {
  return prepare_dtype<__nv_bfloat16>(with_specialised);
}

}  // namespace spinfer::cuda
