// The kernel of launch_qk_head_norm (head_norm.cuh): no validation here.
#pragma once

#include "cuda/layers/head_norm.cuh"
#include "cuda/layers/layer_ops.cuh"

namespace spinfer::cuda::layers {

// One warp per (token, head) row, q heads first then k heads. Each lane keeps its up to
// kHeadNormMaxDim / 32 elements in registers between the sum of squares and the scaling,
// so a row is read once and written once. `row` is the same for all lanes of a warp:
// the full-mask shuffles of warp_sum are safe.
template <typename T>
__global__ void qk_head_norm_kernel(T* q, int64_t ldq, int heads, const float* qw, T* k, int64_t ldk,
                                    int kv_heads, const float* kw, int hd, int64_t rows, float eps) {
  constexpr int kPerLane = kHeadNormMaxDim / 32;
  const int lane = int(threadIdx.x % 32);
  const int64_t warps = int64_t(blockDim.x / 32);
  const int per_token = heads + kv_heads;
  for (int64_t row = int64_t(blockIdx.x) * warps + threadIdx.x / 32; row < rows; row += int64_t(gridDim.x) * warps) {
    const int64_t t = row / per_token;
    const int h = int(row % per_token);
    const bool is_q = h < heads;
    T* x = is_q ? q + t * ldq + int64_t(h) * hd : k + t * ldk + int64_t(h - heads) * hd;
    const float* w = is_q ? qw : kw;
    float v[kPerLane];
    float squares = 0.0f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + 32 * i;
      v[i] = d < hd ? to_float(x[d]) : 0.0f;
      squares += v[i] * v[i];
    }
    const float inv = rsqrtf(warp_sum(squares) / float(hd) + eps);
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int d = lane + 32 * i;
      if (d < hd) x[d] = from_float<T>(v[i] * inv * w[d]);
    }
  }
}

}  // namespace spinfer::cuda::layers
