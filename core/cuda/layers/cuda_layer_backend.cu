// The CUDA implementation of layers::Backend: device memory, the SMBD SpMM (or a
// dense GEMM provider) for linear maps, the kernels of layer_ops.cuh for the rest,
// and CUDA-graph capture/replay of decode steps.
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "common/fault_injection.hpp"
#include "common/error.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/device_context.hpp"
#include "cuda/layers/head_norm.cuh"
#include "cuda/layers/layer_ops.cuh"
#include "layers/backend.hpp"

namespace spinfer::layers {
namespace {

using cuda::as_stream;
using cuda::check_cuda;
using cuda::DeviceGuard;
namespace k = cuda::layers;

// Decode attention splits each sequence into at most kMaxDecodeSplits key ranges, no
// more than the cache capacity fills with kMinDecodeChunk keys each (the kernel's
// shortest range), and only as many as it takes for about kDecodeBlocksPerSm blocks
// per SM: more ranges add partials and per-block overhead, not bandwidth.
constexpr int kMaxDecodeSplits = 32;
constexpr int64_t kMinDecodeChunk = 64;
constexpr int64_t kDecodeBlocksPerSm = 16;

k::PagedKv paged(const StepLayout& s) {
  return {s.token_pos, s.token_seq, s.query_start, s.block_table, s.max_blocks_per_seq, s.block_size};
}

// Calls f with the element type of dtype `t` (f16 or bf16) as a null pointer tag.
template <typename F>
void dispatch(DType t, F&& f) {
  if (t == DType::f16) f(static_cast<__half*>(nullptr));
  else if (t == DType::bf16) f(static_cast<__nv_bfloat16*>(nullptr));
  else throw Error(SPINFER_STATUS_UNSUPPORTED_DTYPE, "CUDA layers run in F16 or BF16");
}

class CudaBackend final : public Backend {
 public:
  CudaBackend(cuda::DeviceContext& ctx, DType act) : ctx_(ctx), act_(act) {
    require(is_storage_dtype(act), SPINFER_STATUS_UNSUPPORTED_DTYPE, "CUDA layers run in F16 or BF16");
    DeviceGuard g(ctx_.device());
    check_cuda(k::configure_attention_kernels(), "configuring the attention kernels");
  }
  ~CudaBackend() override {
    for (auto& [key, exec] : graphs_)
      if (exec) cudaGraphExecDestroy(exec);
  }
  bool is_cuda() const override { return true; }
  DType act_dtype() const override { return act_; }

  void* allocate(size_t bytes) override {
    DeviceGuard g(ctx_.device());
    void* p = nullptr;
    check_cuda(SPINFER_FAULT_OR(device_alloc, cudaErrorMemoryAllocation, cudaMalloc(&p, bytes ? bytes : 1)),
               "cudaMalloc for layer memory");
    return p;
  }
  uint64_t available_memory() const override {
    DeviceGuard g(ctx_.device());
    size_t free = 0, total = 0;
    return cudaMemGetInfo(&free, &total) == cudaSuccess ? uint64_t(free) : 0;
  }
  void release(void* p) noexcept override {
    if (p) cudaFree(p);
  }
  void copy_from_host(void* dst, const void* src, size_t bytes, void* stream) override {
    if (bytes) check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, as_stream(stream)), "copy to the GPU");
  }
  void copy_to_host(void* dst, const void* src, size_t bytes, void* stream) override {
    if (bytes) check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, as_stream(stream)), "copy to the host");
    check_cuda(cudaStreamSynchronize(as_stream(stream)), "synchronising the stream");
  }
  void copy(void* dst, const void* src, size_t bytes, void* stream) override {
    if (bytes) check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, as_stream(stream)), "device copy");
  }
  cuda::DeviceMatrixPtr upload_matrix(const HostMatrix& m, void* stream) override {
    return cuda::upload(ctx_, m, stream);
  }
  HostMatrix download_matrix(const cuda::DeviceMatrix& m, void* stream) override {
    return cuda::download(ctx_, m, stream);
  }
  void set_dense_gemm(DenseGemm* gemm) override { dense_ = gemm; }

  void run_graph(int64_t key, void* stream, const std::function<void()>& body) override;

  void linear(const Weight& w, const void* x, int64_t n, int64_t ldx, const void* bias, void* y, int64_t ldy,
              void* stream) override {
    if (n == 0) return;
    if (w.device) {
      cuda::spmm(ctx_, *w.device, x, n, ldx, bias, y, ldy, act_, cuda::SpmmOptions{}, current(stream));
      return;
    }
    require(w.dense != nullptr, SPINFER_STATUS_WRONG_LOCATION, "a CUDA layer got a host matrix");
    require(dense_ != nullptr, SPINFER_STATUS_NOT_SUPPORTED, "dense weights need a dense GEMM provider");
    dense_->gemm(w.dense, w.rows, w.cols, x, n, ldx, y, ldy, act_, current(stream));
    if (bias) epilogue(y, n, w.rows, ldy, Activation::none, bias, 0, stream);
  }

  void epilogue(void* y, int64_t n, int64_t m, int64_t ldy, Activation act, const void* r, int64_t ldr,
                void* stream) override {
    if (act == Activation::none && r == nullptr) return;
    dispatch(act_, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      launched(k::launch_epilogue<T>(static_cast<T*>(y), n, m, ldy, int(act), static_cast<const T*>(r), ldr,
                                     s(stream)), "epilogue");
    });
  }

  void convert_rows(const void* src, DType sdt, int64_t lds, void* dst, DType ddt, int64_t ldd, int64_t n,
                    int64_t m, void* stream) override {
    if (sdt == DType::f32 && ddt == DType::f32) {
      launched(k::launch_convert<float, float>(static_cast<const float*>(src), lds, static_cast<float*>(dst), ldd,
                                               n, m, s(stream)), "convert");
      return;
    }
    const DType half = sdt == DType::f32 ? ddt : sdt;
    require(sdt == DType::f32 || ddt == DType::f32 || sdt == ddt, SPINFER_STATUS_UNSUPPORTED_DTYPE,
            "CUDA conversion between F16 and BF16 is not supported");
    dispatch(half, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      cudaError_t e;
      if (sdt == DType::f32)
        e = k::launch_convert<float, T>(static_cast<const float*>(src), lds, static_cast<T*>(dst), ldd, n, m,
                                        s(stream));
      else if (ddt == DType::f32)
        e = k::launch_convert<T, float>(static_cast<const T*>(src), lds, static_cast<float*>(dst), ldd, n, m,
                                        s(stream));
      else
        e = k::launch_convert<T, T>(static_cast<const T*>(src), lds, static_cast<T*>(dst), ldd, n, m, s(stream));
      launched(e, "convert");
    });
  }

  void add_to_hidden(float* h, const void* y, int64_t n, int64_t m, int64_t ldy, void* stream) override {
    dispatch(act_, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      launched(k::launch_add_to_hidden<T>(h, static_cast<const T*>(y), n, m, ldy, s(stream)), "residual add");
    });
  }

  void norm(NormKind kind, const float* h, int64_t n, int64_t m, const float* w, const float* b, float eps,
            void* out, void* stream) override {
    dispatch(act_, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      launched(k::launch_norm<T>(kind == NormKind::rms_norm, h, n, m, w, b, eps, static_cast<T*>(out), s(stream)),
               "norm");
    });
  }

  void add_norm(NormKind kind, float* h, const void* y, int64_t ldy, int64_t n, int64_t m, const float* w,
                const float* b, float eps, void* out, void* stream) override {
    dispatch(act_, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      launched(k::launch_add_norm<T>(kind == NormKind::rms_norm, h, static_cast<const T*>(y), ldy, n, m, w, b, eps,
                                     static_cast<T*>(out), s(stream)),
               "residual add + norm");
    });
  }

  void rope_append(void* q, int64_t ldq, int heads, void* kk, int64_t ldk, const void* v, int64_t ldv,
                   const float* inv_freq, const KvLayer& c, const StepLayout& step, void* stream) override {
    require(c.dtype == act_, SPINFER_STATUS_UNSUPPORTED_DTYPE, "the KV cache dtype differs from the activations'");
    dispatch(act_, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      launched(k::launch_rope_append<T>(static_cast<T*>(q), ldq, heads, static_cast<const T*>(kk), ldk,
                                        static_cast<const T*>(v), ldv, inv_freq, static_cast<T*>(c.k),
                                        static_cast<T*>(c.v), c.kv_heads, c.head_dim, paged(step),
                                        step.num_tokens, s(stream)),
               "RoPE + KV append");
    });
  }

  void qk_head_norm(void* q, int64_t ldq, int heads, const float* q_weight, void* kk, int64_t ldk, int kv_heads,
                    const float* k_weight, int hd, int64_t n, float eps, void* stream) override {
    dispatch(act_, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      launched(k::launch_qk_head_norm<T>(static_cast<T*>(q), ldq, heads, q_weight, static_cast<T*>(kk), ldk,
                                         kv_heads, k_weight, hd, n, eps, s(stream)),
               "q/k head norm");
    });
  }

  void gated_activation(const void* g, int64_t ldg, const void* u, int64_t ldu, int64_t n, int64_t m,
                        Activation act, void* out, int64_t ldo, void* stream) override {
    dispatch(act_, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      launched(k::launch_gated<T>(static_cast<const T*>(g), ldg, static_cast<const T*>(u), ldu, n, m, int(act),
                                  static_cast<T*>(out), ldo, s(stream)), "gated activation");
    });
  }

  void rope(void* q, int64_t ldq, int heads, void* kk, int64_t ldk, int kv_heads, int hd, int64_t n,
            const int32_t* pos, const float* inv_freq, void* stream) override {
    dispatch(act_, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      launched(k::launch_rope<T>(static_cast<T*>(q), ldq, heads, static_cast<T*>(kk), ldk, kv_heads, hd, n, pos,
                                 inv_freq, s(stream)), "rope");
    });
  }

  void kv_append(const KvLayer& c, const StepLayout& step, const void* kk, int64_t ldk, const void* v,
                 int64_t ldv, void* stream) override {
    require(c.dtype == act_, SPINFER_STATUS_UNSUPPORTED_DTYPE, "the KV cache dtype differs from the activations'");
    dispatch(act_, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      launched(k::launch_kv_append<T>(static_cast<T*>(c.k), static_cast<T*>(c.v), c.kv_heads, c.head_dim,
                                      paged(step), step.num_tokens, static_cast<const T*>(kk), ldk,
                                      static_cast<const T*>(v), ldv, s(stream)), "KV append");
    });
  }

  size_t attention_workspace_bytes(int64_t n, int heads, int hd) const override {
    return size_t(std::min<int64_t>(n, 64)) * size_t(heads) * kMaxDecodeSplits * size_t(hd + 2) * sizeof(float);
  }

  void attention(const KvLayer& c, const StepLayout& step, const void* q, int64_t ldq, int heads, float scale,
                 void* out, int64_t ldo, void* ws, size_t ws_bytes, void* stream) override {
    require(c.dtype == act_, SPINFER_STATUS_UNSUPPORTED_DTYPE, "the KV cache dtype differs from the activations'");
    const int64_t n = step.num_tokens;
    // Decode splits the sequence (as far as the workspace allows); anything else runs
    // the tiled causal kernel. Every input of the split choice (n, shapes, capacity,
    // SM count) is fixed for a captured graph.
    int splits = 0;
    if (step.decode && ws && n > 0) {
      const size_t per_split = size_t(n) * size_t(heads) * size_t(c.head_dim + 2) * sizeof(float);
      const int64_t longest = (step.max_seq_len + kMinDecodeChunk - 1) / kMinDecodeChunk;
      const int64_t blocks = n * int64_t(c.kv_heads), target = kDecodeBlocksPerSm * ctx_.sm_count();
      const int64_t fill = std::max<int64_t>(1, (target + blocks - 1) / blocks);
      splits = int(std::min<int64_t>({fill, longest, int64_t(kMaxDecodeSplits), int64_t(ws_bytes / per_split)}));
    }
    dispatch(act_, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      cudaError_t e;
      if (splits >= 1)
        e = k::launch_attention_decode<T>(static_cast<const T*>(q), ldq, static_cast<const T*>(c.k),
                                          static_cast<const T*>(c.v), heads, c.kv_heads, c.head_dim, paged(step),
                                          n, step.max_seq_len, splits, scale, static_cast<float*>(ws),
                                          static_cast<T*>(out), ldo, s(stream));
      else
        e = k::launch_attention_prefill<T>(static_cast<const T*>(q), ldq, static_cast<const T*>(c.k),
                                           static_cast<const T*>(c.v), heads, c.kv_heads, c.head_dim, paged(step),
                                           step.num_seqs, step.max_query_tokens, scale, static_cast<T*>(out), ldo,
                                           s(stream));
      launched(e, "attention");
    });
  }

  void embedding(const int32_t* ids, int32_t offset, int64_t n, const void* table, DType tdt, int64_t m,
                 float* hidden, bool accumulate, void* stream) override {
    dispatch(tdt, [&](auto* tag) {
      using T = std::remove_pointer_t<decltype(tag)>;
      launched(k::launch_embedding<T>(ids, offset, n, static_cast<const T*>(table), m, hidden, accumulate,
                                      s(stream)), "embedding");
    });
  }

 private:
  // While a graph is being captured every op goes to the capture stream.
  void* current(void* stream) const { return capturing_ ? static_cast<void*>(capture_stream_) : stream; }
  // The stream a graph for the legacy default stream is captured on: one per device,
  // shared by every backend (the SpMM binds a split-K workspace slot to each stream it
  // sees, and there are few; graphs captured here are only replayed on the legacy
  // default stream, which serialises them).
  static cudaStream_t legacy_capture_stream(int device);
  cudaStream_t s(void* stream) const { return as_stream(current(stream)); }
  static void launched(cudaError_t e, const char* what) { check_cuda(e, what); }

  cuda::DeviceContext& ctx_;
  DType act_;
  DenseGemm* dense_ = nullptr;
  cudaStream_t capture_stream_ = nullptr;  // while capturing: where the ops go
  bool capturing_ = false;
  // Keyed by (caller's key, caller's stream); nullptr: capture failed, run eagerly.
  std::map<std::pair<int64_t, void*>, cudaGraphExec_t> graphs_;
};

cudaStream_t CudaBackend::legacy_capture_stream(int device) {
  static std::mutex mutex;
  static std::map<int, cudaStream_t> streams;
  std::lock_guard<std::mutex> lock(mutex);
  cudaStream_t& s = streams[device];
  if (!s) check_cuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "creating the capture stream");
  return s;
}

void CudaBackend::run_graph(int64_t key, void* stream, const std::function<void()>& body) {
  DeviceGuard g(ctx_.device());
  const auto id = std::make_pair(key, stream);
  auto it = graphs_.find(id);
  if (it != graphs_.end()) {
    if (it->second) {
      check_cuda(cudaGraphLaunch(it->second, as_stream(stream)), "cudaGraphLaunch");
    } else {
      body();
    }
    return;
  }
  // Capture on the caller's stream (so the SpMM uses that stream's workspace, as the
  // eager path does); the legacy default stream cannot be captured, so its graphs are
  // captured on a private stream and launched on it.
  // One eager run first: kernels load lazily and libraries may set up per-stream state on
  // first use, neither of which may happen inside a capture. (Bodies are idempotent: a
  // decode step rewrites the same cache slots and recomputes the same outputs.)
  body();
  capture_stream_ = stream ? as_stream(stream) : legacy_capture_stream(ctx_.device());
  check_cuda(cudaStreamSynchronize(as_stream(stream)), "synchronising before graph capture");
  check_cuda(cudaStreamBeginCapture(capture_stream_, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
  capturing_ = true;
  cudaGraph_t graph = nullptr;
  try {
    body();
  } catch (...) {
    capturing_ = false;
    cudaStreamEndCapture(capture_stream_, &graph);
    if (graph) cudaGraphDestroy(graph);
    cudaGetLastError();
    throw;
  }
  capturing_ = false;
  cudaGraphExec_t exec = nullptr;
  cudaError_t e = cudaStreamEndCapture(capture_stream_, &graph);
  if (e == cudaSuccess) e = cudaGraphInstantiate(&exec, graph, 0);
  if (graph) cudaGraphDestroy(graph);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the capture error and run without a graph from now on
    graphs_[id] = nullptr;
    body();
    return;
  }
  graphs_[id] = exec;
  check_cuda(cudaGraphLaunch(exec, as_stream(stream)), "cudaGraphLaunch");
}

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(cuda::DeviceContext& ctx, DType act) {
  return std::make_unique<CudaBackend>(ctx, act);
}

}  // namespace spinfer::layers
