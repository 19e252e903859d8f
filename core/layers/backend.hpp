// The ops a layer needs, behind one interface with a host and a CUDA implementation.
// Layers (linear, MLP, attention, decoder) are written once against Backend; every
// pointer an op receives lives in the backend's memory (host memory for the host
// backend, device memory for CUDA). Ops never allocate and never synchronise (except
// the explicit copies to the host), so a CUDA sequence of ops may be graph-captured.
// Kept C++17 so the CUDA sources can include it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "common/dtype.hpp"
#include "cuda/cuda_backend.hpp"
#include "format/tca_bme.hpp"

namespace spinfer::layers {

enum class Activation : int { none = 0, relu = 1, gelu = 2, gelu_tanh = 3, silu = 4 };
enum class NormKind : int { layer_norm = 0, rms_norm = 1 };

// The matrix of a linear map as the backend multiplies it: exactly one of `host`,
// `device` or `dense` (a dense row-major [rows, cols] device array in the activation
// dtype, used by the dense cuBLAS comparison mode) is set.
struct Weight {
  const HostMatrix* host = nullptr;
  const cuda::DeviceMatrix* device = nullptr;
  const void* dense = nullptr;
  int64_t rows = 0, cols = 0;
  DType dtype = DType::f16;  // storage dtype
};

// Where the new tokens of one KV-cache step go, in the backend's memory. Tokens are
// ordered sequence by sequence; sequence b owns tokens [query_start[b], query_start[b+1]).
struct StepLayout {
  int num_seqs = 0;
  int64_t num_tokens = 0;
  const int32_t* token_pos = nullptr;    // [num_tokens] position of each new token
  const int32_t* token_seq = nullptr;    // [num_tokens] index b of each token's sequence
  const int32_t* query_start = nullptr;  // [num_seqs + 1]
  const int32_t* seq_len = nullptr;      // [num_seqs] length after the step
  const int32_t* block_table = nullptr;  // [num_seqs, max_blocks_per_seq] physical block ids
  int max_blocks_per_seq = 0;
  int block_size = 0;
  int64_t max_seq_len = 0;  // capacity bound on seq_len (stable across steps: graph-safe)
  int max_query_tokens = 0; // most new tokens of one sequence in this step
  bool decode = false;      // every sequence has exactly one new token
};

// One layer of a paged KV cache: K and V pools of [num_blocks][block_size][kv_heads][head_dim].
struct KvLayer {
  void* k = nullptr;
  void* v = nullptr;
  DType dtype = DType::f16;
  int kv_heads = 0, head_dim = 0;
};

// y[n, rows] = x[n, cols] * W^T for a dense row-major W (see Backend::set_dense_gemm).
class DenseGemm {
 public:
  virtual ~DenseGemm() = default;
  virtual void gemm(const void* w, int64_t rows, int64_t cols, const void* x, int64_t n,
                    int64_t ldx, void* y, int64_t ldy, DType dtype, void* stream) = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual bool is_cuda() const = 0;
  // Element type of activations between ops: f32 on the host, the weights' dtype on CUDA.
  virtual DType act_dtype() const = 0;

  // ---- memory -------------------------------------------------------------------
  virtual void* allocate(size_t bytes) = 0;  // throws OUT_OF_MEMORY
  // Memory that allocate() could still get now, as far as the system tells (host: the
  // kernel's MemAvailable; CUDA: the device's free memory); 0 when unknown.
  virtual uint64_t available_memory() const = 0;
  virtual void release(void* p) noexcept = 0;
  virtual void copy_from_host(void* dst, const void* src, size_t bytes, void* stream) = 0;
  // Copies to the host and waits for the copy (and everything before it on `stream`).
  virtual void copy_to_host(void* dst, const void* src, size_t bytes, void* stream) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes, void* stream) = 0;
  // Makes a backend copy of a host matrix (CUDA: uploads; host: nullptr, use the host one).
  virtual cuda::DeviceMatrixPtr upload_matrix(const HostMatrix& m, void* stream) = 0;
  // Copies a device matrix back to the host (CUDA only; synchronises `stream`).
  virtual HostMatrix download_matrix(const cuda::DeviceMatrix& m, void* stream) = 0;

  // Runs `body` (ops on `stream` only, no host work that must repeat). A CUDA backend
  // captures it into a graph under `key` on first use and replays the graph afterwards;
  // the host backend just calls it.
  virtual void run_graph(int64_t key, void* stream, const std::function<void()>& body) {
    (void)key; (void)stream;
    body();
  }

  // ---- ops (all on `stream`) --------------------------------------------------------
  // y[n, rows] = x[n, cols] * W^T (+ bias[rows]); x, y, bias in act_dtype().
  virtual void linear(const Weight& w, const void* x, int64_t n, int64_t ldx, const void* bias,
                      void* y, int64_t ldy, void* stream) = 0;
  // y = act(y) (+ residual) over [n, m]; residual in act_dtype() with leading dim ldr.
  virtual void epilogue(void* y, int64_t n, int64_t m, int64_t ldy, Activation act,
                        const void* residual, int64_t ldr, void* stream) = 0;
  // dst[n, m] (dtype ddt, leading dim ldd) = src[n, m] (dtype sdt, leading dim lds).
  // Reads and writes only the [n, m] block: padding columns of a strided source (e.g.
  // the columns [m, ldy) an SpMM leaves untouched) are never read.
  virtual void convert_rows(const void* src, DType sdt, int64_t lds, void* dst, DType ddt,
                            int64_t ldd, int64_t n, int64_t m, void* stream) = 0;
  // dst[count] (dtype ddt) = src[count] (dtype sdt), both contiguous.
  void convert(const void* src, DType sdt, void* dst, DType ddt, int64_t count, void* stream) {
    convert_rows(src, sdt, count, dst, ddt, count, count ? 1 : 0, count, stream);
  }
  // hidden[n, m] (fp32) += y[n, m] (act_dtype, leading dim ldy).
  virtual void add_to_hidden(float* hidden, const void* y, int64_t n, int64_t m, int64_t ldy,
                             void* stream) = 0;
  // out[n, m] (act_dtype) = norm(hidden[n, m]) * weight (+ bias); weight/bias fp32.
  virtual void norm(NormKind kind, const float* hidden, int64_t n, int64_t m,
                    const float* weight, const float* bias, float eps, void* out,
                    void* stream) = 0;
  // out[n, m] = act(gate[n, m]) * up[n, m] (act_dtype; leading dims ldg, ldu, ldo).
  virtual void gated_activation(const void* gate, int64_t ldg, const void* up, int64_t ldu,
                                int64_t n, int64_t m, Activation act, void* out, int64_t ldo,
                                void* stream) = 0;
  // hidden[n, m] += y (if y is not NULL; act_dtype, leading dim ldy), then
  // out = norm(hidden) as norm() does. Fused on CUDA; the default runs both ops.
  virtual void add_norm(NormKind kind, float* hidden, const void* y, int64_t ldy, int64_t n,
                        int64_t m, const float* weight, const float* bias, float eps, void* out,
                        void* stream) {
    if (y) add_to_hidden(hidden, y, n, m, ldy, stream);
    norm(kind, hidden, n, m, weight, bias, eps, out, stream);
  }
  // Per-head RMSNorm in place (Qwen3 q_norm / k_norm): each of the `heads` head vectors
  // of q [n, heads*hd] (leading dim ldq) becomes x / sqrt(mean(x^2) + eps) * q_weight,
  // and likewise the kv_heads heads of k with k_weight; weights fp32 [hd], sums in fp32.
  virtual void qk_head_norm(void* q, int64_t ldq, int heads, const float* q_weight, void* k,
                            int64_t ldk, int kv_heads, const float* k_weight, int head_dim,
                            int64_t n, float eps, void* stream) = 0;
  // RoPE on q and k (skipped when inv_freq is NULL), then the cache append of k and v.
  // Fused on CUDA; the default runs both ops.
  virtual void rope_append(void* q, int64_t ldq, int heads, void* k, int64_t ldk, const void* v,
                           int64_t ldv, const float* inv_freq, const KvLayer& cache,
                           const StepLayout& step, void* stream) {
    if (inv_freq)
      rope(q, ldq, heads, k, ldk, cache.kv_heads, cache.head_dim, step.num_tokens, step.token_pos,
           inv_freq, stream);
    kv_append(cache, step, k, ldk, v, ldv, stream);
  }
  // Rotary embedding (rotate-half form) in place on q [n, heads*hd] and k [n, kv_heads*hd]
  // at positions pos[n]; inv_freq is fp32 [hd/2].
  virtual void rope(void* q, int64_t ldq, int heads, void* k, int64_t ldk, int kv_heads,
                    int head_dim, int64_t n, const int32_t* pos, const float* inv_freq,
                    void* stream) = 0;
  // Writes the step's new keys/values (k [n, kv_heads*hd], v likewise) into the cache.
  virtual void kv_append(const KvLayer& cache, const StepLayout& step, const void* k,
                         int64_t ldk, const void* v, int64_t ldv, void* stream) = 0;
  // out[n, heads*hd] = causal softmax(q k^T * scale) v over each token's sequence.
  // `workspace` (backend memory, may be NULL) lets decode split long sequences.
  virtual void attention(const KvLayer& cache, const StepLayout& step, const void* q,
                         int64_t ldq, int heads, float scale, void* out, int64_t ldo,
                         void* workspace, size_t workspace_bytes, void* stream) = 0;
  // Workspace worth reserving for attention over n tokens (0 = none needed).
  virtual size_t attention_workspace_bytes(int64_t n, int heads, int head_dim) const {
    (void)n; (void)heads; (void)head_dim;
    return 0;
  }
  // Dense weights (Weight::dense) are multiplied by this GEMM (the benchmark's
  // cuBLAS comparison); without one a dense weight gives NOT_SUPPORTED.
  virtual void set_dense_gemm(class DenseGemm* gemm) { (void)gemm; }
  // hidden[n, m] (fp32) (+)= table[ids[i] + id_offset, :] (table dtype tdt, [rows, m]).
  virtual void embedding(const int32_t* ids, int32_t id_offset, int64_t n, const void* table,
                         DType tdt, int64_t m, float* hidden, bool accumulate,
                         void* stream) = 0;
};

// Owning pointer to backend memory.
class Buffer {
 public:
  Buffer() = default;
  Buffer(Backend& b, size_t bytes) : backend_(&b), bytes_(bytes) {
    ptr_ = bytes ? b.allocate(bytes) : nullptr;
  }
  Buffer(Buffer&& o) noexcept { *this = std::move(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      reset();
      backend_ = o.backend_; ptr_ = o.ptr_; bytes_ = o.bytes_;
      o.ptr_ = nullptr; o.bytes_ = 0;
    }
    return *this;
  }
  ~Buffer() { reset(); }
  void reset() noexcept {
    if (ptr_ && backend_) backend_->release(ptr_);
    ptr_ = nullptr; bytes_ = 0;
  }
  void* get() const { return ptr_; }
  template <typename T> T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  Backend* backend_ = nullptr;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// The host backend; `threads` = 0 uses every core.
std::unique_ptr<Backend> make_host_backend(int threads);
// The CUDA backend on `ctx`'s device with activations of dtype `act` (f16 or bf16).
// Throws NOT_SUPPORTED in a build without CUDA.
std::unique_ptr<Backend> make_cuda_backend(cuda::DeviceContext& ctx, DType act);

}  // namespace spinfer::layers
