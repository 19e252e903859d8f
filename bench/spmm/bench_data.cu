// Random benchmark inputs generated on the GPU (hash of the index): an unstructured
// sparsity pattern with random non-zero values, and dense random activations.
#include "bench_data.hpp"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace {

__device__ __forceinline__ uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Element i: zero with probability `sparsity`, else a value of magnitude in [0.25, 1).
__global__ void fill_kernel(uint16_t* out, int64_t count, double sparsity, uint64_t seed, int bf16) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < count;
       i += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t h = mix(seed ^ mix(uint64_t(i)));
    const double u = double(h >> 11) * 0x1p-53;
    uint16_t bits = 0;
    if (u >= sparsity) {
      const float mag = 0.25f + 0.75f * float((h & 0xffff) / 65536.0);
      const float v = ((h >> 16) & 1) ? -mag : mag;
      bits = bf16 ? __bfloat16_as_ushort(__float2bfloat16_rn(v)) : __half_as_ushort(__float2half_rn(v));
    }
    out[i] = bits;
  }
}

}  // namespace

void bench_fill_random(uint16_t* out, int64_t count, double sparsity, uint64_t seed, bool bf16,
                       cudaStream_t stream) {
  fill_kernel<<<1024, 256, 0, stream>>>(out, count, sparsity, seed, bf16 ? 1 : 0);
}

namespace {
__global__ void copy_kernel(uint4* dst, const uint4* src, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = src[i];
}
}  // namespace

void bench_copy(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  copy_kernel<<<132 * 16, 256, 0, stream>>>(static_cast<uint4*>(dst), static_cast<const uint4*>(src),
                                             int64_t(bytes / 16));
}
