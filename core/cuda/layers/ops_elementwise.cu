// Element-wise layer ops: epilogue (activation + residual), dtype conversion, residual
// accumulation into the fp32 stream, gated activation, embedding gathers.
#include "cuda/layers/layer_ops.cuh"

namespace spinfer::cuda::layers {
namespace {

#define GRID_STRIDE(i, count) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (count); i += int64_t(gridDim.x) * blockDim.x)

template <typename T>
__global__ void epilogue_kernel(T* y, int64_t n, int64_t m, int64_t ldy, int act, const T* r, int64_t ldr) {
  GRID_STRIDE(i, n * m) {
    const int64_t t = i / m, j = i % m;
    float v = activate(act, to_float(y[t * ldy + j]));
    if (r) v += to_float(r[t * ldr + j]);
    y[t * ldy + j] = from_float<T>(v);
  }
}

// Only the [n, m] block: the padding columns of a strided source hold nothing written.
template <typename S, typename D>
__global__ void convert_kernel(const S* src, int64_t lds, D* dst, int64_t ldd, int64_t n, int64_t m) {
  GRID_STRIDE(i, n * m) {
    const int64_t t = i / m, j = i % m;
    dst[t * ldd + j] = from_float<D>(to_float(src[t * lds + j]));
  }
}

template <typename T>
__global__ void add_kernel(float* h, const T* y, int64_t n, int64_t m, int64_t ldy) {
  GRID_STRIDE(i, n * m) h[i] += to_float(y[i / m * ldy + i % m]);
}

template <typename T>
__global__ void gated_kernel(const T* g, int64_t ldg, const T* u, int64_t ldu, int64_t n, int64_t m,
                             int act, T* o, int64_t ldo) {
  GRID_STRIDE(i, n * m) {
    const int64_t t = i / m, j = i % m;
    o[t * ldo + j] = from_float<T>(activate(act, to_float(g[t * ldg + j])) * to_float(u[t * ldu + j]));
  }
}

template <typename T>
__global__ void embedding_kernel(const int32_t* ids, int32_t off, int64_t n, const T* table, int64_t m,
                                 float* h, bool acc) {
  GRID_STRIDE(i, n * m) {
    const int64_t t = i / m, j = i % m;
    const float v = to_float(table[(int64_t(ids[t]) + off) * m + j]);
    h[i] = acc ? h[i] + v : v;
  }
}

}  // namespace

template <typename T>
cudaError_t launch_epilogue(T* y, int64_t n, int64_t m, int64_t ldy, int act, const T* r, int64_t ldr,
                            cudaStream_t s) {
  if (n * m == 0) return cudaSuccess;
  epilogue_kernel<<<grid_for(n * m), 256, 0, s>>>(y, n, m, ldy, act, r, ldr);
  return cudaGetLastError();
}

template <typename S, typename D>
cudaError_t launch_convert(const S* src, int64_t lds, D* dst, int64_t ldd, int64_t n, int64_t m,
                           cudaStream_t s) {
  if (n * m == 0) return cudaSuccess;
  convert_kernel<<<grid_for(n * m), 256, 0, s>>>(src, lds, dst, ldd, n, m);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_add_to_hidden(float* h, const T* y, int64_t n, int64_t m, int64_t ldy, cudaStream_t s) {
  if (n * m == 0) return cudaSuccess;
  add_kernel<<<grid_for(n * m), 256, 0, s>>>(h, y, n, m, ldy);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_gated(const T* g, int64_t ldg, const T* u, int64_t ldu, int64_t n, int64_t m, int act,
                         T* o, int64_t ldo, cudaStream_t s) {
  if (n * m == 0) return cudaSuccess;
  gated_kernel<<<grid_for(n * m), 256, 0, s>>>(g, ldg, u, ldu, n, m, act, o, ldo);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_embedding(const int32_t* ids, int32_t off, int64_t n, const T* table, int64_t m,
                             float* h, bool acc, cudaStream_t s) {
  if (n * m == 0) return cudaSuccess;
  embedding_kernel<<<grid_for(n * m), 256, 0, s>>>(ids, off, n, table, m, h, acc);
  return cudaGetLastError();
}

#define INSTANTIATE(T)                                                                            \
  template cudaError_t launch_epilogue<T>(T*, int64_t, int64_t, int64_t, int, const T*, int64_t,  \
                                          cudaStream_t);                                          \
  template cudaError_t launch_add_to_hidden<T>(float*, const T*, int64_t, int64_t, int64_t,       \
                                               cudaStream_t);                                     \
  template cudaError_t launch_gated<T>(const T*, int64_t, const T*, int64_t, int64_t, int64_t,    \
                                       int, T*, int64_t, cudaStream_t);                           \
  template cudaError_t launch_embedding<T>(const int32_t*, int32_t, int64_t, const T*, int64_t,   \
                                           float*, bool, cudaStream_t);                           \
  template cudaError_t launch_convert<T, float>(const T*, int64_t, float*, int64_t, int64_t,       \
                                                int64_t, cudaStream_t);                           \
  template cudaError_t launch_convert<float, T>(const float*, int64_t, T*, int64_t, int64_t,       \
                                                int64_t, cudaStream_t);                           \
  template cudaError_t launch_convert<T, T>(const T*, int64_t, T*, int64_t, int64_t, int64_t,      \
                                            cudaStream_t);
INSTANTIATE(__half)
INSTANTIATE(__nv_bfloat16)
template cudaError_t launch_convert<float, float>(const float*, int64_t, float*, int64_t, int64_t, int64_t,
                                                  cudaStream_t);

}  // namespace spinfer::cuda::layers
