// LayerNorm / RMSNorm over the fp32 residual stream, rotary embeddings, and the paged
// KV-cache append.
#include "cuda/layers/layer_ops.cuh"

namespace spinfer::cuda::layers {
namespace {

constexpr int kNormThreads = 512;

__device__ float block_sum(float v, float* shared) {
  v = warp_sum(v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();  // `shared` may still be read from a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < int(blockDim.x / 32) ? shared[lane] : 0.0f;
  return warp_sum(v);
}

// The centred-variance pass and the output of a norm over one row whose mean is known
// (0 for RMSNorm); called by every thread of the row's block.
template <typename T>
__device__ void normalize_row(const float* row, float mean, int64_t m, const float* w, const float* b, float eps,
                              float* shared, T* o) {
  float s2 = 0.0f;
  for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
    const float d = row[j] - mean;
    s2 += d * d;
  }
  const float inv = rsqrtf(block_sum(s2, shared) / float(m) + eps);
  for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
    float v = (row[j] - mean) * inv * w[j];
    if (b) v += b[j];
    o[j] = from_float<T>(v);
  }
}

// One block per row; two passes (mean, then centred variance) for fp32 accuracy.
template <typename T>
__global__ void norm_kernel(bool rms, const float* h, int64_t m, const float* w, const float* b, float eps,
                            T* out) {
  __shared__ float shared[32];
  const float* row = h + int64_t(blockIdx.x) * m;
  float mean = 0.0f;
  if (!rms) {
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < m; j += blockDim.x) s += row[j];
    mean = block_sum(s, shared) / float(m);
  }
  normalize_row(row, mean, m, w, b, eps, shared, out + int64_t(blockIdx.x) * m);
}

// norm_kernel with the residual add in front: each thread re-reads only the hidden
// elements it has just written, so no barrier is needed between the passes.
template <typename T>
__global__ void add_norm_kernel(bool rms, float* h, const T* y, int64_t ldy, int64_t m, const float* w,
                                const float* b, float eps, T* out) {
  __shared__ float shared[32];
  float* row = h + int64_t(blockIdx.x) * m;
  const T* yr = y ? y + int64_t(blockIdx.x) * ldy : nullptr;
  float s = 0.0f;
  for (int64_t j = threadIdx.x; j < m; j += blockDim.x) {
    const float v = yr ? row[j] + to_float(yr[j]) : row[j];
    row[j] = v;
    s += v;
  }
  const float mean = rms ? 0.0f : block_sum(s, shared) / float(m);
  normalize_row(row, mean, m, w, b, eps, shared, out + int64_t(blockIdx.x) * m);
}

// Per token: q rotation pairs, then k pairs (rotated when inv_freq is set) written to
// the cache, then v elements copied to the cache.
template <typename T>
__global__ void rope_append_kernel(T* q, int64_t ldq, int heads, const T* k, int64_t ldk, const T* v, int64_t ldv,
                                   const float* inv_freq, T* kc, T* vc, int kv_heads, int hd, PagedKv p,
                                   int64_t n) {
  const int half = hd / 2;
  const int64_t q_items = inv_freq ? int64_t(heads) * half : 0;
  const int64_t k_items = int64_t(kv_heads) * half;
  const int64_t width = int64_t(kv_heads) * hd;
  const int64_t per_token = q_items + k_items + width;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n * per_token;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / per_token;
    int64_t r = i % per_token;
    const int32_t pos = p.token_pos[t];
    if (r < q_items) {
      const int h = int(r / half), f = int(r % half);
      T* x = q + t * ldq + int64_t(h) * hd;
      float sn, cs;
      sincosf(float(pos) * inv_freq[f], &sn, &cs);
      const float a = to_float(x[f]), bb = to_float(x[f + half]);
      x[f] = from_float<T>(a * cs - bb * sn);
      x[f + half] = from_float<T>(bb * cs + a * sn);
      continue;
    }
    r -= q_items;
    const int64_t slot = kv_slot(p, p.token_seq[t], pos);
    if (r < k_items) {
      const int h = int(r / half), f = int(r % half);
      const T* x = k + t * ldk + int64_t(h) * hd;
      T* dst = kc + slot * width + int64_t(h) * hd;
      if (inv_freq) {
        float sn, cs;
        sincosf(float(pos) * inv_freq[f], &sn, &cs);
        const float a = to_float(x[f]), bb = to_float(x[f + half]);
        dst[f] = from_float<T>(a * cs - bb * sn);
        dst[f + half] = from_float<T>(bb * cs + a * sn);
      } else {
        dst[f] = x[f];
        dst[f + half] = x[f + half];
      }
      continue;
    }
    r -= k_items;
    vc[slot * width + r] = v[t * ldv + r];
  }
}

// One thread per (token, head, i < hd/2) over q heads then k heads.
template <typename T>
__global__ void rope_kernel(T* q, int64_t ldq, int heads, T* k, int64_t ldk, int kv_heads, int hd, int64_t n,
                            const int32_t* pos, const float* inv_freq) {
  const int half = hd / 2;
  const int64_t per_token = int64_t(heads + kv_heads) * half;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n * per_token;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / per_token;
    const int r = int(i % per_token), h = r / half, f = r % half;
    T* v = h < heads ? q + t * ldq + int64_t(h) * hd : k + t * ldk + int64_t(h - heads) * hd;
    float sn, cs;
    sincosf(float(pos[t]) * inv_freq[f], &sn, &cs);
    const float a = to_float(v[f]), b = to_float(v[f + half]);
    v[f] = from_float<T>(a * cs - b * sn);
    v[f + half] = from_float<T>(b * cs + a * sn);
  }
}

template <typename T>
__global__ void kv_append_kernel(T* kc, T* vc, int kv_heads, int hd, PagedKv p, int64_t n, const T* k,
                                 int64_t ldk, const T* v, int64_t ldv) {
  const int64_t width = int64_t(kv_heads) * hd;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n * width;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / width, j = i % width;
    const int64_t slot = kv_slot(p, p.token_seq[t], p.token_pos[t]);
    kc[slot * width + j] = k[t * ldk + j];
    vc[slot * width + j] = v[t * ldv + j];
  }
}

}  // namespace

template <typename T>
cudaError_t launch_norm(bool rms, const float* h, int64_t n, int64_t m, const float* w, const float* b,
                        float eps, T* out, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  norm_kernel<<<unsigned(n), kNormThreads, 0, s>>>(rms, h, m, w, b, eps, out);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_add_norm(bool rms, float* h, const T* y, int64_t ldy, int64_t n, int64_t m, const float* w,
                            const float* b, float eps, T* out, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  add_norm_kernel<<<unsigned(n), kNormThreads, 0, s>>>(rms, h, y, ldy, m, w, b, eps, out);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_rope_append(T* q, int64_t ldq, int heads, const T* k, int64_t ldk, const T* v, int64_t ldv,
                               const float* inv_freq, T* kc, T* vc, int kv_heads, int hd, const PagedKv& p,
                               int64_t n, cudaStream_t s) {
  const int64_t per_token = (inv_freq ? int64_t(heads) * (hd / 2) : 0) + int64_t(kv_heads) * (hd / 2) +
                            int64_t(kv_heads) * hd;
  if (n * per_token == 0) return cudaSuccess;
  rope_append_kernel<<<grid_for(n * per_token), 256, 0, s>>>(q, ldq, heads, k, ldk, v, ldv, inv_freq, kc, vc,
                                                             kv_heads, hd, p, n);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_rope(T* q, int64_t ldq, int heads, T* k, int64_t ldk, int kv_heads, int hd, int64_t n,
                        const int32_t* pos, const float* inv_freq, cudaStream_t s) {
  const int64_t count = n * (heads + kv_heads) * (hd / 2);
  if (count == 0) return cudaSuccess;
  rope_kernel<<<grid_for(count), 256, 0, s>>>(q, ldq, heads, k, ldk, kv_heads, hd, n, pos, inv_freq);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_kv_append(T* kc, T* vc, int kv_heads, int hd, const PagedKv& p, int64_t n, const T* k,
                             int64_t ldk, const T* v, int64_t ldv, cudaStream_t s) {
  const int64_t count = n * kv_heads * hd;
  if (count == 0) return cudaSuccess;
  kv_append_kernel<<<grid_for(count), 256, 0, s>>>(kc, vc, kv_heads, hd, p, n, k, ldk, v, ldv);
  return cudaGetLastError();
}

#define INSTANTIATE(T)                                                                              \
  template cudaError_t launch_add_norm<T>(bool, float*, const T*, int64_t, int64_t, int64_t,          \
                                          const float*, const float*, float, T*, cudaStream_t);      \
  template cudaError_t launch_rope_append<T>(T*, int64_t, int, const T*, int64_t, const T*, int64_t,  \
                                             const float*, T*, T*, int, int, const PagedKv&, int64_t, \
                                             cudaStream_t);                                           \
  template cudaError_t launch_norm<T>(bool, const float*, int64_t, int64_t, const float*,            \
                                      const float*, float, T*, cudaStream_t);                        \
  template cudaError_t launch_rope<T>(T*, int64_t, int, T*, int64_t, int, int, int64_t,              \
                                      const int32_t*, const float*, cudaStream_t);                   \
  template cudaError_t launch_kv_append<T>(T*, T*, int, int, const PagedKv&, int64_t, const T*,      \
                                           int64_t, const T*, int64_t, cudaStream_t);
INSTANTIATE(__half)
INSTANTIATE(__nv_bfloat16)

}  // namespace spinfer::cuda::layers
