// Device-side random weights and the copy-bandwidth reference of bench_layers.
#include "bench_fill.hpp"

#include <cuda_fp16.h>

namespace {

__device__ inline uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

__global__ void fill_kernel(__half* out, int64_t count, double sparsity, float scale, uint64_t seed) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t r = mix(seed ^ mix(uint64_t(i)));
    const double keep = double(r >> 11) * (1.0 / 9007199254740992.0);
    float v = 0.0f;
    if (keep >= sparsity) {
      v = (float((r & 0xffff) + 1) / 65537.0f * 2.0f - 1.0f) * scale;  // never exactly 0
      if (v == 0.0f) v = scale * 0.5f;
    }
    out[i] = __float2half_rn(v);
  }
}

__global__ void fill_float_kernel(float* out, int64_t count, float lo, float hi, uint64_t seed) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = lo + (hi - lo) * float(mix(seed ^ mix(uint64_t(i))) >> 40) / 16777216.0f;
}

__global__ void copy_kernel(const uint4* src, uint4* dst, int64_t count) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count; i += int64_t(gridDim.x) * blockDim.x)
    dst[i] = src[i];
}

}  // namespace

void bench_fill_half(void* out, int64_t count, double sparsity, float scale, uint64_t seed, cudaStream_t s) {
  fill_kernel<<<4096, 256, 0, s>>>(static_cast<__half*>(out), count, sparsity, scale, seed);
}

void bench_fill_float(float* out, int64_t count, float lo, float hi, uint64_t seed, cudaStream_t s) {
  fill_float_kernel<<<4096, 256, 0, s>>>(out, count, lo, hi, seed);
}

void bench_copy16(void* dst, const void* src, size_t bytes, cudaStream_t s) {
  copy_kernel<<<8192, 256, 0, s>>>(static_cast<const uint4*>(src), static_cast<uint4*>(dst), int64_t(bytes / 16));
}
