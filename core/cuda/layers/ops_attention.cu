// Attention over the paged KV cache.
//
// Decode (one new token per sequence): the keys 0..pos of each token are cut into
// `splits` ranges; one block per (token, kv head, range) scores the range for all
// query heads of that kv head (so K/V are read once per group), keeps an online
// softmax over 128-key tiles, and writes (max, sum, acc) partials; a combine pass
// merges the ranges (flash-decoding). Splits are chosen from the cache capacity,
// not the current lengths, so a captured CUDA graph stays valid; ranges past a
// sequence's end exit at once.
//
// Prefill (several new tokens per sequence, causal): one block per (sequence, head,
// 32-query tile); K/V tiles of 32 keys are staged in shared memory as fp32, each warp
// owns 8 queries and each lane one key of the tile (scores) or hd/32 output features.
#include "cuda/layers/layer_ops.cuh"

namespace spinfer::cuda::layers {
namespace {

constexpr int kDecodeThreads = 256;
constexpr int kDecodeTile = 128;  // keys scored per pass
constexpr int kMaxPerThread = 16; // (group * hd) / kDecodeThreads accumulators per thread

template <typename T>
__global__ void __launch_bounds__(kDecodeThreads)
decode_partial_kernel(const T* q, int64_t ldq, const T* kc, const T* vc, int heads, int kv_heads, int hd,
                      PagedKv p, int64_t chunk, int splits, float scale, float* partials) {
  extern __shared__ float smem[];
  const int group = heads / kv_heads;
  float* qs = smem;                        // [group][hd]
  float* sc = qs + group * hd;             // [group][kDecodeTile]
  float* stat = sc + group * kDecodeTile;  // [group][2]: running max, running sum
  float* resc = stat + 2 * group;          // [group]: rescale of the accumulators this tile
  const int64_t t = blockIdx.z;
  const int g = blockIdx.y, split = blockIdx.x;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  const int b = p.token_seq[t];
  const int64_t keys = int64_t(p.token_pos[t]) + 1;
  const int64_t begin = int64_t(split) * chunk, end = keys < begin + chunk ? keys : begin + chunk;
  const int64_t width = int64_t(kv_heads) * hd;
  float* out = partials + (t * heads + int64_t(g) * group) * splits * (hd + 2);
  const int64_t stride_head = int64_t(splits) * (hd + 2);
  if (begin >= end) {
    for (int hh = threadIdx.x; hh < group; hh += blockDim.x) {
      out[hh * stride_head + split * (hd + 2) + hd] = -INFINITY;
      out[hh * stride_head + split * (hd + 2) + hd + 1] = 0.0f;
    }
    return;
  }
  for (int i = threadIdx.x; i < group * hd; i += blockDim.x)
    qs[i] = to_float(q[t * ldq + int64_t(g * group + i / hd) * hd + i % hd]) * scale;
  for (int hh = threadIdx.x; hh < group; hh += blockDim.x) {
    stat[2 * hh] = -INFINITY;
    stat[2 * hh + 1] = 0.0f;
  }
  float acc[kMaxPerThread];
#pragma unroll
  for (int r = 0; r < kMaxPerThread; ++r) acc[r] = 0.0f;
  __syncthreads();

  for (int64_t k0 = begin; k0 < end; k0 += kDecodeTile) {
    const int tile = end - k0 < kDecodeTile ? int(end - k0) : kDecodeTile;
    // Scores: one warp per key, lanes over the head dimension.
    for (int kk = warp; kk < tile; kk += warps) {
      const T* kp = kc + kv_slot(p, b, k0 + kk) * width + int64_t(g) * hd;
      float kv[8];
#pragma unroll
      for (int r = 0; r < 8; ++r) kv[r] = (lane + 32 * r < hd) ? to_float(kp[lane + 32 * r]) : 0.0f;
      for (int hh = 0; hh < group; ++hh) {
        float d = 0.0f;
#pragma unroll
        for (int r = 0; r < 8; ++r)
          if (lane + 32 * r < hd) d += kv[r] * qs[hh * hd + lane + 32 * r];
        d = warp_sum(d);
        if (lane == 0) sc[hh * kDecodeTile + kk] = d;
      }
    }
    __syncthreads();
    // Online softmax update per head: one warp per head.
    for (int hh = warp; hh < group; hh += warps) {
      float m = -INFINITY;
      for (int kk = lane; kk < tile; kk += 32) m = fmaxf(m, sc[hh * kDecodeTile + kk]);
      m = warp_max(m);
      const float old_m = stat[2 * hh], new_m = fmaxf(old_m, m);
      float s = 0.0f;
      for (int kk = lane; kk < tile; kk += 32) {
        const float e = expf(sc[hh * kDecodeTile + kk] - new_m);
        sc[hh * kDecodeTile + kk] = e;
        s += e;
      }
      s = warp_sum(s);
      __syncwarp();
      if (lane == 0) {
        const float rescale = expf(old_m - new_m);  // 0 on the first tile (old_m = -inf)
        stat[2 * hh] = new_m;
        stat[2 * hh + 1] = stat[2 * hh + 1] * rescale + s;
        resc[hh] = rescale;
      }
    }
    __syncthreads();
    // acc[hh][d] = acc * rescale + sum_k p_k v_k[d]; threads over (hh, d).
#pragma unroll
    for (int r = 0; r < kMaxPerThread; ++r) {
      const int i = threadIdx.x + r * blockDim.x;
      if (i >= group * hd) break;
      const int hh = i / hd, d = i % hd;
      float a = acc[r] * resc[hh];
      for (int kk = 0; kk < tile; ++kk)
        a += sc[hh * kDecodeTile + kk] * to_float(vc[kv_slot(p, b, k0 + kk) * width + int64_t(g) * hd + d]);
      acc[r] = a;
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < kMaxPerThread; ++r) {
    const int i = threadIdx.x + r * blockDim.x;
    if (i >= group * hd) break;
    const int hh = i / hd, d = i % hd;
    out[hh * stride_head + split * (hd + 2) + d] = acc[r];
    if (d == 0) {
      out[hh * stride_head + split * (hd + 2) + hd] = stat[2 * hh];
      out[hh * stride_head + split * (hd + 2) + hd + 1] = stat[2 * hh + 1];
    }
  }
}

template <typename T>
__global__ void decode_combine_kernel(const float* partials, int heads, int hd, int splits, T* out, int64_t ldo) {
  const int64_t t = blockIdx.y;
  const int h = blockIdx.x;
  const float* part = partials + (t * heads + h) * int64_t(splits) * (hd + 2);
  float m = -INFINITY;
  for (int s = 0; s < splits; ++s) m = fmaxf(m, part[s * (hd + 2) + hd]);
  float l = 0.0f;
  for (int s = 0; s < splits; ++s) {
    const float ms = part[s * (hd + 2) + hd];
    if (ms != -INFINITY) l += part[s * (hd + 2) + hd + 1] * expf(ms - m);
  }
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float a = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const float ms = part[s * (hd + 2) + hd];
      if (ms != -INFINITY) a += part[s * (hd + 2) + d] * expf(ms - m);
    }
    out[t * ldo + int64_t(h) * hd + d] = from_float<T>(a / l);
  }
}

constexpr int kPrefillQ = 32, kPrefillK = 32, kPrefillThreads = 128;
// Dynamic shared memory opted into once (configure_attention_kernels): enough for
// head_dim 256 in prefill, and for decode groups up to group * (hd + 131) floats.
constexpr size_t kPrefillSmemLimit = size_t(kPrefillQ * 256 + kPrefillK * 257 + kPrefillK * 256) * sizeof(float);
constexpr size_t kDecodeSmemLimit = size_t(96) * 1024;

template <typename T>
__global__ void __launch_bounds__(kPrefillThreads)
prefill_kernel(const T* q, int64_t ldq, const T* kc, const T* vc, int heads, int kv_heads, int hd, PagedKv p,
               float scale, T* out, int64_t ldo) {
  extern __shared__ float smem[];
  const int hdp = hd + 1;  // padded K rows: lanes read different rows without bank conflicts
  float* qs = smem;                   // [kPrefillQ][hd]
  float* ks = qs + kPrefillQ * hd;    // [kPrefillK][hdp]
  float* vs = ks + kPrefillK * hdp;   // [kPrefillK][hd]
  const int b = blockIdx.z, h = blockIdx.y, g = h / (heads / kv_heads);
  const int64_t q_begin = p.query_start[b] + int64_t(blockIdx.x) * kPrefillQ;
  const int64_t q_end_seq = p.query_start[b + 1];
  if (q_begin >= q_end_seq) return;
  const int nq = q_end_seq - q_begin < kPrefillQ ? int(q_end_seq - q_begin) : kPrefillQ;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t width = int64_t(kv_heads) * hd;
  for (int i = threadIdx.x; i < kPrefillQ * hd; i += blockDim.x) {
    const int qi = i / hd, d = i % hd;
    qs[i] = qi < nq ? to_float(q[(q_begin + qi) * ldq + int64_t(h) * hd + d]) * scale : 0.0f;
  }
  const int64_t last_pos = p.token_pos[q_begin + nq - 1];
  constexpr int kPerWarp = kPrefillQ / (kPrefillThreads / 32);  // 8 queries per warp
  float m[kPerWarp], l[kPerWarp], acc[kPerWarp][8];
  int64_t qpos[kPerWarp];
#pragma unroll
  for (int j = 0; j < kPerWarp; ++j) {
    m[j] = -INFINITY;
    l[j] = 0.0f;
    const int qi = warp * kPerWarp + j;
    qpos[j] = qi < nq ? p.token_pos[q_begin + qi] : -1;
#pragma unroll
    for (int r = 0; r < 8; ++r) acc[j][r] = 0.0f;
  }
  for (int64_t k0 = 0; k0 <= last_pos; k0 += kPrefillK) {
    __syncthreads();
    for (int i = threadIdx.x; i < kPrefillK * hd; i += blockDim.x) {
      const int kk = i / hd, d = i % hd;
      const int64_t key = k0 + kk;
      float kv = 0.0f, vv = 0.0f;
      if (key <= last_pos) {
        const int64_t base = kv_slot(p, b, key) * width + int64_t(g) * hd + d;
        kv = to_float(kc[base]);
        vv = to_float(vc[base]);
      }
      ks[kk * hdp + d] = kv;
      vs[kk * hd + d] = vv;
    }
    __syncthreads();
#pragma unroll
    for (int j = 0; j < kPerWarp; ++j) {
      if (qpos[j] < k0) continue;  // warp-uniform: every key of this tile is in the future
      const float* qr = qs + (warp * kPerWarp + j) * hd;
      float s = 0.0f;
      for (int d = 0; d < hd; ++d) s += qr[d] * ks[lane * hdp + d];
      if (k0 + lane > qpos[j]) s = -INFINITY;
      const float new_m = fmaxf(m[j], warp_max(s));
      const float pk = expf(s - new_m);
      const float rescale = expf(m[j] - new_m);
      l[j] = l[j] * rescale + warp_sum(pk);
      m[j] = new_m;
#pragma unroll
      for (int r = 0; r < 8; ++r) acc[j][r] *= rescale;
      for (int kk = 0; kk < kPrefillK; ++kk) {
        const float pkk = __shfl_sync(0xffffffffu, pk, kk);
#pragma unroll
        for (int r = 0; r < 8; ++r)
          if (lane + 32 * r < hd) acc[j][r] += pkk * vs[kk * hd + lane + 32 * r];
      }
    }
  }
#pragma unroll
  for (int j = 0; j < kPerWarp; ++j) {
    const int qi = warp * kPerWarp + j;
    if (qi >= nq) continue;
#pragma unroll
    for (int r = 0; r < 8; ++r)
      if (lane + 32 * r < hd)
        out[(q_begin + qi) * ldo + int64_t(h) * hd + lane + 32 * r] = from_float<T>(acc[j][r] / l[j]);
  }
}

}  // namespace

template <typename T>
cudaError_t launch_attention_decode(const T* q, int64_t ldq, const T* kc, const T* vc, int heads, int kv_heads,
                                    int hd, const PagedKv& p, int64_t n, int64_t max_len, int splits,
                                    float scale, float* partials, T* out, int64_t ldo, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  const int group = heads / kv_heads;
  if (hd > 256 || group * hd > kMaxPerThread * kDecodeThreads) return cudaErrorInvalidValue;
  const int64_t chunk = (max_len + splits - 1) / splits;
  const size_t smem = size_t(group * hd + group * kDecodeTile + 3 * group) * sizeof(float);
  if (smem > kDecodeSmemLimit) return cudaErrorInvalidValue;
  decode_partial_kernel<T><<<dim3(unsigned(splits), unsigned(kv_heads), unsigned(n)), kDecodeThreads, smem, s>>>(
      q, ldq, kc, vc, heads, kv_heads, hd, p, chunk, splits, scale, partials);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return e;
  decode_combine_kernel<T><<<dim3(unsigned(heads), unsigned(n)), 128, 0, s>>>(partials, heads, hd, splits, out, ldo);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_attention_prefill(const T* q, int64_t ldq, const T* kc, const T* vc, int heads, int kv_heads,
                                     int hd, const PagedKv& p, int num_seqs, int max_query_tokens, float scale,
                                     T* out, int64_t ldo, cudaStream_t s) {
  if (num_seqs == 0 || max_query_tokens == 0) return cudaSuccess;
  if (hd > 256) return cudaErrorInvalidValue;
  const size_t smem = size_t(kPrefillQ * hd + kPrefillK * (hd + 1) + kPrefillK * hd) * sizeof(float);
  const unsigned tiles = unsigned((max_query_tokens + kPrefillQ - 1) / kPrefillQ);
  prefill_kernel<T><<<dim3(tiles, unsigned(heads), unsigned(num_seqs)), kPrefillThreads, smem, s>>>(
      q, ldq, kc, vc, heads, kv_heads, hd, p, scale, out, ldo);
  return cudaGetLastError();
}

cudaError_t configure_attention_kernels() {
  const void* kernels[4] = {(const void*)decode_partial_kernel<__half>, (const void*)decode_partial_kernel<__nv_bfloat16>,
                            (const void*)prefill_kernel<__half>, (const void*)prefill_kernel<__nv_bfloat16>};
  for (int i = 0; i < 4; ++i) {
    cudaError_t e = cudaFuncSetAttribute(kernels[i], cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         int(i < 2 ? kDecodeSmemLimit : kPrefillSmemLimit));
    if (e != cudaSuccess) return e;
  }
  return cudaSuccess;
}

#define INSTANTIATE(T)                                                                                 \
  template cudaError_t launch_attention_decode<T>(const T*, int64_t, const T*, const T*, int, int, int, \
                                                  const PagedKv&, int64_t, int64_t, int, float, float*, \
                                                  T*, int64_t, cudaStream_t);                           \
  template cudaError_t launch_attention_prefill<T>(const T*, int64_t, const T*, const T*, int, int, int, \
                                                   const PagedKv&, int, int, float, T*, int64_t,         \
                                                   cudaStream_t);
INSTANTIATE(__half)
INSTANTIATE(__nv_bfloat16)

}  // namespace spinfer::cuda::layers
