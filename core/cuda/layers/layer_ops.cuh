// Kernels of the transformer layers on CUDA: element-wise epilogues and conversions,
// norms, RoPE, paged KV-cache append, decode and prefill attention. Each launcher
// takes typed pointers, sizes and a stream; it never allocates or synchronises and
// returns the launch status. Element type T is __half or __nv_bfloat16 (activations);
// the residual stream and norm parameters are float.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace spinfer::cuda::layers {

// ---- device helpers ------------------------------------------------------------------
__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// spinfer_activation_t values: 0 none, 1 relu, 2 gelu (erf), 3 gelu (tanh), 4 silu.
__device__ __forceinline__ float activate(int act, float x) {
  switch (act) {
    case 1: return x > 0.0f ? x : 0.0f;
    case 2: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case 3: return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    case 4: return x / (1.0f + expf(-x));
    default: return x;
  }
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Grid for a grid-stride loop over `count` elements.
inline unsigned grid_for(int64_t count, int threads = 256) {
  const int64_t blocks = (count + threads - 1) / threads;
  return unsigned(blocks < 1 ? 1 : blocks > 8192 ? 8192 : blocks);
}

// Paged KV layout (see layers/backend.hpp StepLayout / KvLayer).
struct PagedKv {
  const int32_t* token_pos;
  const int32_t* token_seq;
  const int32_t* query_start;
  const int32_t* block_table;
  int max_blocks_per_seq;
  int block_size;
};
// Cache slot of position `pos` of sequence `b`. Positions are int32 (token_pos), so the
// block split is a 32-bit unsigned division (a 64-bit one costs far more instructions).
__device__ __forceinline__ int64_t kv_slot(const PagedKv& p, int b, int64_t pos) {
  const unsigned bs = unsigned(p.block_size), key = unsigned(pos), blk = key / bs;
  const int32_t block = p.block_table[int64_t(b) * p.max_blocks_per_seq + blk];
  return int64_t(block) * bs + (key - blk * bs);
}

// ---- launchers -------------------------------------------------------------------------
template <typename T>
cudaError_t launch_epilogue(T* y, int64_t n, int64_t m, int64_t ldy, int act, const T* residual,
                            int64_t ldr, cudaStream_t s);
template <typename S, typename D>
cudaError_t launch_convert(const S* src, int64_t lds, D* dst, int64_t ldd, int64_t n, int64_t m,
                           cudaStream_t s);
template <typename T>
cudaError_t launch_add_to_hidden(float* hidden, const T* y, int64_t n, int64_t m, int64_t ldy,
                                 cudaStream_t s);
template <typename T>
cudaError_t launch_gated(const T* gate, int64_t ldg, const T* up, int64_t ldu, int64_t n,
                         int64_t m, int act, T* out, int64_t ldo, cudaStream_t s);
template <typename T>
cudaError_t launch_embedding(const int32_t* ids, int32_t offset, int64_t n, const T* table,
                             int64_t m, float* hidden, bool accumulate, cudaStream_t s);
template <typename T>
cudaError_t launch_norm(bool rms, const float* hidden, int64_t n, int64_t m, const float* weight,
                        const float* bias, float eps, T* out, cudaStream_t s);
// hidden += y (y may be NULL), then out = norm(hidden); one block per row.
template <typename T>
cudaError_t launch_add_norm(bool rms, float* hidden, const T* y, int64_t ldy, int64_t n, int64_t m,
                            const float* weight, const float* bias, float eps, T* out, cudaStream_t s);
// RoPE on q (in place) and k (inv_freq NULL: no rotation), k and v appended to the cache.
template <typename T>
cudaError_t launch_rope_append(T* q, int64_t ldq, int heads, const T* k, int64_t ldk, const T* v,
                               int64_t ldv, const float* inv_freq, T* kc, T* vc, int kv_heads, int hd,
                               const PagedKv& p, int64_t n, cudaStream_t s);
template <typename T>
cudaError_t launch_rope(T* q, int64_t ldq, int heads, T* k, int64_t ldk, int kv_heads, int hd,
                        int64_t n, const int32_t* pos, const float* inv_freq, cudaStream_t s);
template <typename T>
cudaError_t launch_kv_append(T* kc, T* vc, int kv_heads, int hd, const PagedKv& p, int64_t n,
                             const T* k, int64_t ldk, const T* v, int64_t ldv, cudaStream_t s);
// Decode attention, split over the sequence length: `splits` (capped by max_len, the
// cache capacity) key ranges per token, whose lengths follow the token's position;
// partial results per (token, head) in `partials` ([n][heads][splits][hd + 2] floats:
// acc, max in log2 units, sum), then a combine pass. With one range the output is
// written directly and `partials` is not used. Graph-safe: the launch depends only on
// the arguments, never on the positions.
template <typename T>
cudaError_t launch_attention_decode(const T* q, int64_t ldq, const T* kc, const T* vc, int heads,
                                    int kv_heads, int hd, const PagedKv& p, int64_t n,
                                    int64_t max_len, int splits, float scale, float* partials,
                                    T* out, int64_t ldo, cudaStream_t s);
// Opts the attention kernels into the dynamic shared memory they may need (once per
// device, before any launch and outside graph capture).
cudaError_t configure_attention_kernels();
// Causal prefill attention, tiled over queries and keys with an online softmax.
template <typename T>
cudaError_t launch_attention_prefill(const T* q, int64_t ldq, const T* kc, const T* vc, int heads,
                                     int kv_heads, int hd, const PagedKv& p, int num_seqs,
                                     int max_query_tokens, float scale, T* out, int64_t ldo,
                                     cudaStream_t s);

}  // namespace spinfer::cuda::layers
