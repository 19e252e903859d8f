// Per-head RMSNorm of q and k (Qwen3's q_norm / k_norm), in place, before RoPE.
// Launcher only; the kernel is in head_norm_kernel.cuh, the instantiations (__half,
// __nv_bfloat16) in head_norm.cu.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

namespace spinfer::cuda::layers {

// Largest head_dim the kernel handles (8 elements per lane of one warp).
inline constexpr int kHeadNormMaxDim = 256;

// For each of the n tokens: the `heads` head vectors of q (row t at q + t*ldq, head h at
// + h*hd) become x / sqrt(mean(x^2) + eps) * q_weight, and the `kv_heads` head vectors of
// k likewise with k_weight (weights fp32 [hd]; squares summed in fp32). Never allocates
// or synchronises; cudaErrorInvalidValue for hd outside [1, kHeadNormMaxDim].
template <typename T>
cudaError_t launch_qk_head_norm(T* q, int64_t ldq, int heads, const float* q_weight, T* k, int64_t ldk,
                                int kv_heads, const float* k_weight, int hd, int64_t n, float eps,
                                cudaStream_t s);

}  // namespace spinfer::cuda::layers
