// Attention over the paged KV cache.
//
// Decode (one new token per sequence, flash-decoding): the keys 0..pos of each token
// are cut into `splits` ranges; one block of 4 warps per (range, kv head, token)
// scores the range for up to 8 query heads of that kv head (so K/V are read once per
// group). A key row is read by a few lanes, 16 bytes each, and each warp loads
// several rows before using any (about 8 KB of K and V in flight per warp); every key
// slot of a warp keeps its own online softmax in registers, and the slots and then
// the warps are merged at the end into one (acc, max, sum) partial per query head. A
// combine pass merges the ranges; with one range the block writes the output itself.
// The number of ranges comes from the cache capacity (graph-safe), their length from
// the sequence's current length, so long sequences share their keys over all ranges
// and the ranges past a short sequence's end exit at once.
//
// Prefill (several new tokens per sequence, causal): one block per (sequence, head,
// 32-query tile); K/V tiles of 32 keys are staged in shared memory as fp32, each warp
// owns 8 queries and each lane one key of the tile (scores) or hd/32 output features.
#include <type_traits>

#include "cuda/layers/layer_ops.cuh"

namespace spinfer::cuda::layers {
namespace {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kDecodeWarps = 4;
constexpr int kDecodeThreads = 32 * kDecodeWarps;
constexpr int kDecodeMinChunk = 64;  // fewest keys a range takes (later ranges of a short sequence exit)
constexpr int kDecodeMaxHeads = 8;   // query heads per block; a larger group takes several blocks
constexpr float kLog2e = 1.4426950408889634f;

// Lanes reading one key row of hd elements, 8 each: a power of two (shuffle groups).
__device__ __forceinline__ int lanes_per_key(int hd) {
  int l = 1;
  while (l * 8 < hd) l *= 2;
  return l;
}

// One lane's share of a key row: `count` (1..8) 16-bit elements as raw bits, the rest 0.
template <bool kVec, typename T>
__device__ __forceinline__ uint4 load8(const T* p, int count) {
  if constexpr (kVec) {
    return __ldg(reinterpret_cast<const uint4*>(p));
  } else {
    const unsigned short* u = reinterpret_cast<const unsigned short*>(p);
    unsigned w[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const unsigned lo = 2 * i < count ? __ldg(u + 2 * i) : 0u;
      const unsigned hi = 2 * i + 1 < count ? __ldg(u + 2 * i + 1) : 0u;
      w[i] = lo | (hi << 16);
    }
    return make_uint4(w[0], w[1], w[2], w[3]);
  }
}

template <typename T>
__device__ __forceinline__ void unpack8(const uint4& r, float (&f)[8]) {
  const unsigned w[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    if constexpr (std::is_same_v<T, __half>) {
      const float2 v = __half22float2(*reinterpret_cast<const __half2*>(&w[i]));
      f[2 * i] = v.x;
      f[2 * i + 1] = v.y;
    } else {  // bf16 is the top half of an fp32
      f[2 * i] = __uint_as_float(w[i] << 16);
      f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
  }
}

// exp2(x - base) with base = the running max, or 0 while the max is still -inf (so
// that -inf - -inf gives exp2(-inf) = 0, not NaN).
__device__ __forceinline__ float safe_base(float m) { return m == -INFINITY ? 0.0f : m; }

// Scores are in log2 units (q is scaled by scale * log2(e)), so the partials' max is too.
template <typename T, int G, bool kVec>
__global__ void __launch_bounds__(kDecodeThreads)
decode_partial_kernel(const T* __restrict__ q, int64_t ldq, const T* __restrict__ kc, const T* __restrict__ vc,
                      int heads, int kv_heads, int hd, PagedKv p, int splits, float scale_log2,
                      float* __restrict__ partials, T* __restrict__ out, int64_t ldo) {
  // Rows (of 32 / lpk keys) a warp loads before using any: a row is 16 bytes of K and
  // 16 of V per lane. Eight heads hold twice the registers, so they take half as many.
  constexpr int kRows = G >= 8 ? 4 : 8;
  extern __shared__ float red[];  // [warps][G][hd + 2]: each warp's acc, max, sum
  const int64_t t = blockIdx.z;
  const int split = blockIdx.x;
  const int group = heads / kv_heads, head_blocks = (group + kDecodeMaxHeads - 1) / kDecodeMaxHeads;
  const int g = blockIdx.y / head_blocks, first = (blockIdx.y % head_blocks) * kDecodeMaxHeads;
  const int nh = min(G, group - first);  // query heads of this block: h0 .. h0 + nh - 1
  const int h0 = g * group + first;
  const int stride = hd + 2;
  const int b = p.token_seq[t];
  const int keys = p.token_pos[t] + 1;
  const int chunk = max(kDecodeMinChunk, int((int64_t(keys) + splits - 1) / splits));
  const int64_t begin64 = int64_t(split) * chunk;
  if (begin64 >= keys) {
    if (out == nullptr)
      for (int h = threadIdx.x; h < nh; h += blockDim.x) {
        float* o = partials + ((t * heads + h0 + h) * splits + split) * stride;
        o[hd] = -INFINITY;
        o[hd + 1] = 0.0f;
      }
    return;
  }
  const int begin = int(begin64), end = int(min(int64_t(keys), begin64 + chunk));

  // Lane geometry: lane = kslot * lpk + sub; sub reads dims d0 .. d0 + dn - 1 of key
  // kslot of each row (dn <= 0: an idle lane, hd < 8 * lpk).
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int lpk = lanes_per_key(hd), kpr = 32 / lpk;
  const int sub = lane & (lpk - 1), kslot = lane / lpk;
  const int rows = min(kRows, 32 / kpr);  // a warp's step is at most 32 keys (one per lane)
  const int wstep = rows * kpr, bstep = wstep * kDecodeWarps;
  const int d0 = sub * 8, dn = min(8, hd - d0);

  float qr[G][8], m[G], l[G], acc[G][8];
  const T* qt = q + t * ldq + int64_t(h0) * hd + d0;
#pragma unroll
  for (int h = 0; h < G; ++h) {
    m[h] = -INFINITY;
    l[h] = 0.0f;
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      qr[h][e] = h < nh && e < dn ? to_float(qt[h * hd + e]) * scale_log2 : 0.0f;
      acc[h][e] = 0.0f;
    }
  }

  // Lane i of a warp looks up the cache row of key i of the warp's step (one block-table
  // read per key); the rows are shuffled to the lanes that read them.
  const int64_t width = int64_t(kv_heads) * hd, head_off = int64_t(g) * hd;
  auto row_of = [&](int key) -> int64_t {
    if (lane >= wstep || key >= end) return 0;
    return kv_slot(p, b, key) * width + head_off;
  };
  int64_t next = row_of(begin + warp * wstep + lane);

  for (int wk = begin + warp * wstep; wk < end; wk += bstep) {  // warp-uniform
    const int64_t mine = next;
    uint4 kr[kRows], vr[kRows];
    bool ok[kRows];
#pragma unroll
    for (int u = 0; u < kRows; ++u) {
      const int idx = u * kpr + kslot;
      const int64_t row = __shfl_sync(kFullMask, mine, idx & 31);
      ok[u] = u < rows && wk + idx < end;  // the same for all lanes of a key
      kr[u] = vr[u] = make_uint4(0u, 0u, 0u, 0u);
      if (ok[u] && dn > 0) {
        kr[u] = load8<kVec>(kc + row + d0, dn);
        vr[u] = load8<kVec>(vc + row + d0, dn);
      }
    }
    next = row_of(wk + bstep + lane);  // the next step's block-table reads overlap this step's loads

    float s[kRows][G];
#pragma unroll
    for (int u = 0; u < kRows; ++u) {
      float kf[8];
      unpack8<T>(kr[u], kf);
#pragma unroll
      for (int h = 0; h < G; ++h) {
        float d = 0.0f;
#pragma unroll
        for (int e = 0; e < 8; ++e) d = fmaf(qr[h][e], kf[e], d);
        s[u][h] = d;
      }
    }
    // Sum over the lanes of a key; one (warp-uniform) test per step, so the
    // kRows * G shuffles of a step are independent.
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
      if (o < lpk)
#pragma unroll
        for (int u = 0; u < kRows; ++u)
#pragma unroll
          for (int h = 0; h < G; ++h) s[u][h] += __shfl_xor_sync(kFullMask, s[u][h], o);
#pragma unroll
    for (int u = 0; u < kRows; ++u)
#pragma unroll
      for (int h = 0; h < G; ++h)
        if (!ok[u]) s[u][h] = -INFINITY;
    float base[G];
#pragma unroll
    for (int h = 0; h < G; ++h) {
      float mx = m[h];
#pragma unroll
      for (int u = 0; u < kRows; ++u) mx = fmaxf(mx, s[u][h]);
      base[h] = safe_base(mx);
      const float r = exp2f(m[h] - base[h]);
      m[h] = mx;
      l[h] *= r;
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[h][e] *= r;
    }
#pragma unroll
    for (int u = 0; u < kRows; ++u) {
      float vf[8];
      unpack8<T>(vr[u], vf);
#pragma unroll
      for (int h = 0; h < G; ++h) {
        const float pk = exp2f(s[u][h] - base[h]);
        l[h] += pk;
#pragma unroll
        for (int e = 0; e < 8; ++e) acc[h][e] = fmaf(pk, vf[e], acc[h][e]);
      }
    }
  }

  // Merge the key slots of the warp (lanes with the same sub), then the warps.
  for (int o = lpk; o < 32; o <<= 1) {
#pragma unroll
    for (int h = 0; h < G; ++h) {
      const float mo = __shfl_xor_sync(kFullMask, m[h], o), lo = __shfl_xor_sync(kFullMask, l[h], o);
      const float mx = fmaxf(m[h], mo), bx = safe_base(mx);
      const float a = exp2f(m[h] - bx), c = exp2f(mo - bx);
      m[h] = mx;
      l[h] = l[h] * a + lo * c;
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[h][e] = acc[h][e] * a + __shfl_xor_sync(kFullMask, acc[h][e], o) * c;
    }
  }
  if (kslot == 0) {
    float* wr = red + warp * G * stride;
#pragma unroll
    for (int h = 0; h < G; ++h) {
      if (h >= nh) break;
#pragma unroll
      for (int e = 0; e < 8; ++e)
        if (e < dn) wr[h * stride + d0 + e] = acc[h][e];
      if (sub == 0) {
        wr[h * stride + hd] = m[h];
        wr[h * stride + hd + 1] = l[h];
      }
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < nh * hd; i += blockDim.x) {
    const int h = i / hd, d = i - h * hd;
    float mx = -INFINITY;
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w) mx = fmaxf(mx, red[(w * G + h) * stride + hd]);
    const float bx = safe_base(mx);
    float a = 0.0f, sum = 0.0f;
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w) {
      const float* r = red + (w * G + h) * stride;
      const float c = exp2f(r[hd] - bx);
      a += r[d] * c;
      sum += r[hd + 1] * c;
    }
    if (out) {
      out[t * ldo + int64_t(h0 + h) * hd + d] = from_float<T>(a / sum);
    } else {
      float* o = partials + ((t * heads + h0 + h) * splits + split) * stride;
      o[d] = a;
      if (d == 0) {
        o[hd] = mx;
        o[hd + 1] = sum;
      }
    }
  }
}

// One block per (head, token): warp 0 weighs the ranges (empty ones, max -inf, weigh
// 0 and their acc, never written, is not read), then the threads sum over hd.
template <typename T>
__global__ void decode_combine_kernel(const float* __restrict__ partials, int heads, int hd, int splits,
                                      T* __restrict__ out, int64_t ldo) {
  extern __shared__ float weight[];  // [splits]
  __shared__ float inv_sum;
  const int64_t t = blockIdx.y;
  const int h = blockIdx.x, stride = hd + 2;
  const float* part = partials + (t * heads + h) * int64_t(splits) * stride;
  if (threadIdx.x < 32) {
    float mx = -INFINITY;
    for (int s = threadIdx.x; s < splits; s += 32) mx = fmaxf(mx, part[s * stride + hd]);
    mx = warp_max(mx);
    const float bx = safe_base(mx);
    float sum = 0.0f;
    for (int s = threadIdx.x; s < splits; s += 32) {
      const float ms = part[s * stride + hd];
      const float w = ms == -INFINITY ? 0.0f : exp2f(ms - bx);
      weight[s] = w;
      if (w > 0.0f) sum += w * part[s * stride + hd + 1];
    }
    sum = warp_sum(sum);
    if (threadIdx.x == 0) inv_sum = 1.0f / sum;
  }
  __syncthreads();
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float a = 0.0f;
    for (int s = 0; s < splits; ++s)
      if (weight[s] > 0.0f) a += weight[s] * part[s * stride + d];
    out[t * ldo + int64_t(h) * hd + d] = from_float<T>(a * inv_sum);
  }
}

constexpr int kPrefillQ = 32, kPrefillK = 32, kPrefillThreads = 128;
// Dynamic shared memory opted into once (configure_attention_kernels): enough for
// head_dim 256 in prefill. (Decode needs at most 4 * 8 * 258 floats, under the default.)
constexpr size_t kPrefillSmemLimit = size_t(kPrefillQ * 256 + kPrefillK * 257 + kPrefillK * 256) * sizeof(float);

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

template <typename T>
using DecodeKernel = void (*)(const T*, int64_t, const T*, const T*, int, int, int, PagedKv, int, float, float*, T*,
                              int64_t);

// 16-byte loads need hd % 8 == 0 and 16-byte aligned pools; otherwise 2-byte loads.
template <typename T, int G>
DecodeKernel<T> decode_kernel(bool vec) {
  return vec ? decode_partial_kernel<T, G, true> : decode_partial_kernel<T, G, false>;
}

}  // namespace

template <typename T>
cudaError_t launch_attention_decode(const T* q, int64_t ldq, const T* kc, const T* vc, int heads, int kv_heads,
                                    int hd, const PagedKv& p, int64_t n, int64_t max_len, int splits,
                                    float scale, float* partials, T* out, int64_t ldo, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  if (hd < 1 || hd > 256 || kv_heads < 1 || heads < kv_heads || heads % kv_heads != 0 || splits < 1)
    return cudaErrorInvalidValue;
  // No more ranges than the capacity fills with kDecodeMinChunk keys each.
  const int64_t most = (max_len + kDecodeMinChunk - 1) / kDecodeMinChunk;
  if (splits > most) splits = int(most < 1 ? 1 : most);
  const int group = heads / kv_heads, head_blocks = (group + kDecodeMaxHeads - 1) / kDecodeMaxHeads;
  const bool vec = hd % 8 == 0 && reinterpret_cast<uintptr_t>(kc) % 16 == 0 && reinterpret_cast<uintptr_t>(vc) % 16 == 0;
  DecodeKernel<T> kernel;
  int g_block;  // the kernel's G: heads of a block, rounded up to 1, 2, 4 or 8
  if (group == 1) kernel = decode_kernel<T, 1>(vec), g_block = 1;
  else if (group == 2) kernel = decode_kernel<T, 2>(vec), g_block = 2;
  else if (group <= 4) kernel = decode_kernel<T, 4>(vec), g_block = 4;
  else kernel = decode_kernel<T, kDecodeMaxHeads>(vec), g_block = kDecodeMaxHeads;
  const size_t smem = size_t(kDecodeWarps) * size_t(g_block) * size_t(hd + 2) * sizeof(float);
  const bool direct = splits == 1;  // one range: the partial kernel writes the output
  kernel<<<dim3(unsigned(splits), unsigned(kv_heads * head_blocks), unsigned(n)), kDecodeThreads, smem, s>>>(
      q, ldq, kc, vc, heads, kv_heads, hd, p, splits, scale * kLog2e, direct ? nullptr : partials,
      direct ? out : nullptr, ldo);
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess || direct) return e;
  const unsigned threads = unsigned((hd + 31) / 32 * 32);
  decode_combine_kernel<T><<<dim3(unsigned(heads), unsigned(n)), threads, size_t(splits) * sizeof(float), s>>>(
      partials, heads, hd, splits, out, ldo);
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
  const void* kernels[2] = {(const void*)prefill_kernel<__half>, (const void*)prefill_kernel<__nv_bfloat16>};
  for (const void* k : kernels) {
    cudaError_t e = cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kPrefillSmemLimit));
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
