// Launcher of the per-head q/k RMSNorm (head_norm.cuh) and its instantiations for the
// two activation types the CUDA layers run in.
#include "cuda/layers/head_norm.cuh"
#include "cuda/layers/head_norm_kernel.cuh"

namespace spinfer::cuda::layers {
namespace {
constexpr int kHeadNormWarps = 8;  // rows per block
}  // namespace

template <typename T>
cudaError_t launch_qk_head_norm(T* q, int64_t ldq, int heads, const float* q_weight, T* k, int64_t ldk,
                                int kv_heads, const float* k_weight, int hd, int64_t n, float eps,
                                cudaStream_t s) {
  if (hd < 1 || hd > kHeadNormMaxDim || heads < 0 || kv_heads < 0) return cudaErrorInvalidValue;
  const int64_t rows = n * (heads + kv_heads);
  if (rows == 0) return cudaSuccess;
  qk_head_norm_kernel<T><<<grid_for(rows, kHeadNormWarps), kHeadNormWarps * 32, 0, s>>>(
      q, ldq, heads, q_weight, k, ldk, kv_heads, k_weight, hd, rows, eps);
  return cudaGetLastError();
}

template cudaError_t launch_qk_head_norm<__half>(__half*, int64_t, int, const float*, __half*, int64_t, int,
                                                 const float*, int, int64_t, float, cudaStream_t);
template cudaError_t launch_qk_head_norm<__nv_bfloat16>(__nv_bfloat16*, int64_t, int, const float*,
                                                        __nv_bfloat16*, int64_t, int, const float*, int, int64_t,
                                                        float, cudaStream_t);

}  // namespace spinfer::cuda::layers
