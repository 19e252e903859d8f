// The host backend of the layer ops: plain loops over fp32 activations, parallel over
// rows (tokens) or (token, head) pairs. Sparse products use the host SpMM.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include <unistd.h>

#include "common/error.hpp"
#include "common/fault_injection.hpp"
#include "host/spmm_host.hpp"
#include "host/thread_pool.hpp"
#include "layers/activation.hpp"
#include "layers/backend.hpp"

namespace spinfer::layers {
namespace {

class HostBackend final : public Backend {
 public:
  explicit HostBackend(int threads) : threads_(threads) {}
  bool is_cuda() const override { return false; }
  DType act_dtype() const override { return DType::f32; }

  void* allocate(size_t bytes) override {
    // 64-byte alignment keeps every sub-buffer aligned for any element type.
    void* p = fault::should_fail(fault::Site::host_alloc) ? nullptr : std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    // Not require(): its message would be built (and could throw bad_alloc) even on
    // success, after `p` was allocated, leaking it.
    if (!p) throw Error(SPINFER_STATUS_OUT_OF_MEMORY, "out of host memory allocating " + std::to_string(bytes) + " bytes");
    return p;
  }
  void release(void* p) noexcept override { std::free(p); }
  uint64_t available_memory() const override {
    // Linux: MemAvailable (free memory plus what the kernel can reclaim), else free pages.
    if (FILE* f = std::fopen("/proc/meminfo", "r")) {
      char line[256];
      unsigned long long kib = 0;
      bool found = false;
      while (!found && std::fgets(line, sizeof line, f))
        found = std::sscanf(line, "MemAvailable: %llu kB", &kib) == 1;
      std::fclose(f);
      if (found) return uint64_t(kib) * 1024u;
    }
    const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
  }
  void copy_from_host(void* dst, const void* src, size_t bytes, void*) override { copy_bytes(dst, src, bytes); }
  void copy_to_host(void* dst, const void* src, size_t bytes, void*) override { copy_bytes(dst, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes, void*) override { copy_bytes(dst, src, bytes); }
  cuda::DeviceMatrixPtr upload_matrix(const HostMatrix&, void*) override { return nullptr; }
  HostMatrix download_matrix(const cuda::DeviceMatrix&, void*) override {
    throw Error(SPINFER_STATUS_WRONG_LOCATION, "the host backend cannot use device matrices");
  }

  void linear(const Weight& w, const void* x, int64_t n, int64_t ldx, const void* bias, void* y,
              int64_t ldy, void*) override {
    require(w.host != nullptr, SPINFER_STATUS_WRONG_LOCATION,
            "the host backend needs host matrices");
    host::spmm(*w.host, x, n, ldx, bias, y, ldy, DType::f32, threads_);
  }

  void epilogue(void* y, int64_t n, int64_t m, int64_t ldy, Activation act, const void* residual,
                int64_t ldr, void*) override {
    if (act == Activation::none && residual == nullptr) return;
    auto* yf = static_cast<float*>(y);
    auto* rf = static_cast<const float*>(residual);
    host::parallel_for(n, threads_, [&](int64_t t) {
      for (int64_t j = 0; j < m; ++j) {
        float v = apply_activation(act, yf[t * ldy + j]);
        if (rf) v += rf[t * ldr + j];
        yf[t * ldy + j] = v;
      }
    });
  }

  void convert_rows(const void* src, DType sdt, int64_t lds, void* dst, DType ddt, int64_t ldd,
                    int64_t n, int64_t m, void*) override {
    for (int64_t t = 0; t < n; ++t)
      for (int64_t j = 0; j < m; ++j)
        store_from_float(dst, ddt, t * ldd + j, load_as_float(src, sdt, t * lds + j));
  }

  void add_to_hidden(float* hidden, const void* y, int64_t n, int64_t m, int64_t ldy, void*) override {
    auto* yf = static_cast<const float*>(y);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t j = 0; j < m; ++j) hidden[t * m + j] += yf[t * ldy + j];
  }

  void norm(NormKind kind, const float* hidden, int64_t n, int64_t m, const float* weight,
            const float* bias, float eps, void* out, void*) override {
    auto* o = static_cast<float*>(out);
    host::parallel_for(n, threads_, [&](int64_t t) {
      const float* h = hidden + t * m;
      double mean = 0.0;
      if (kind == NormKind::layer_norm) {
        for (int64_t j = 0; j < m; ++j) mean += h[j];
        mean /= double(m);
      }
      double var = 0.0;
      for (int64_t j = 0; j < m; ++j) var += (h[j] - mean) * (h[j] - mean);
      const float inv = float(1.0 / std::sqrt(var / double(m) + eps));
      for (int64_t j = 0; j < m; ++j) {
        float v = float(h[j] - mean) * inv * weight[j];
        if (bias) v += bias[j];
        o[t * m + j] = v;
      }
    });
  }

  void gated_activation(const void* gate, int64_t ldg, const void* up, int64_t ldu, int64_t n,
                        int64_t m, Activation act, void* out, int64_t ldo, void*) override {
    auto* g = static_cast<const float*>(gate);
    auto* u = static_cast<const float*>(up);
    auto* o = static_cast<float*>(out);
    host::parallel_for(n, threads_, [&](int64_t t) {
      for (int64_t j = 0; j < m; ++j)
        o[t * ldo + j] = apply_activation(act, g[t * ldg + j]) * u[t * ldu + j];
    });
  }

  void qk_head_norm(void* q, int64_t ldq, int heads, const float* q_weight, void* k, int64_t ldk,
                    int kv_heads, const float* k_weight, int head_dim, int64_t n, float eps,
                    void*) override {
    const int rows = heads + kv_heads;
    host::parallel_for(n * rows, threads_, [&](int64_t item) {
      const int64_t t = item / rows;
      const int h = int(item % rows);
      const bool is_q = h < heads;
      float* x = is_q ? static_cast<float*>(q) + t * ldq + int64_t(h) * head_dim
                      : static_cast<float*>(k) + t * ldk + int64_t(h - heads) * head_dim;
      const float* w = is_q ? q_weight : k_weight;
      double squares = 0.0;
      for (int d = 0; d < head_dim; ++d) squares += double(x[d]) * x[d];
      const float inv = float(1.0 / std::sqrt(squares / double(head_dim) + eps));
      for (int d = 0; d < head_dim; ++d) x[d] = x[d] * inv * w[d];
    });
  }

  void rope(void* q, int64_t ldq, int heads, void* k, int64_t ldk, int kv_heads, int head_dim,
            int64_t n, const int32_t* pos, const float* inv_freq, void*) override {
    const int half = head_dim / 2;
    for (int64_t t = 0; t < n; ++t) {
      for (int i = 0; i < half; ++i) {
        const float angle = float(pos[t]) * inv_freq[i];
        const float c = std::cos(angle), s = std::sin(angle);
        auto rotate = [&](float* x, int nh) {
          for (int h = 0; h < nh; ++h) {
            float* v = x + h * head_dim;
            const float a = v[i], b = v[i + half];
            v[i] = a * c - b * s;
            v[i + half] = b * c + a * s;
          }
        };
        rotate(static_cast<float*>(q) + t * ldq, heads);
        rotate(static_cast<float*>(k) + t * ldk, kv_heads);
      }
    }
  }

  void kv_append(const KvLayer& cache, const StepLayout& step, const void* k, int64_t ldk,
                 const void* v, int64_t ldv, void*) override {
    const int64_t width = int64_t(cache.kv_heads) * cache.head_dim;
    for (int64_t t = 0; t < step.num_tokens; ++t) {
      const int64_t slot = slot_of(cache, step, step.token_seq[t], step.token_pos[t]);
      for (int64_t j = 0; j < width; ++j) {
        store_from_float(cache.k, cache.dtype, slot * width + j, static_cast<const float*>(k)[t * ldk + j]);
        store_from_float(cache.v, cache.dtype, slot * width + j, static_cast<const float*>(v)[t * ldv + j]);
      }
    }
  }

  void attention(const KvLayer& cache, const StepLayout& step, const void* q, int64_t ldq,
                 int heads, float scale, void* out, int64_t ldo, void*, size_t, void*) override {
    const int hd = cache.head_dim;
    const int group = heads / cache.kv_heads;
    const int64_t width = int64_t(cache.kv_heads) * hd;
    host::parallel_for(step.num_tokens * heads, threads_, [&](int64_t item) {
      const int64_t t = item / heads;
      const int h = int(item % heads), kvh = h / group;
      const int32_t b = step.token_seq[t];
      const int64_t keys = int64_t(step.token_pos[t]) + 1;  // causal: positions 0..pos
      const float* qv = static_cast<const float*>(q) + t * ldq + int64_t(h) * hd;
      std::vector<float> score(static_cast<size_t>(keys));
      float top = -INFINITY;
      for (int64_t p = 0; p < keys; ++p) {
        const int64_t base = slot_of(cache, step, b, p) * width + int64_t(kvh) * hd;
        float dot = 0.0f;
        for (int d = 0; d < hd; ++d) dot += qv[d] * load_as_float(cache.k, cache.dtype, base + d);
        score[size_t(p)] = dot * scale;
        top = std::max(top, score[size_t(p)]);
      }
      std::vector<float> acc(static_cast<size_t>(hd), 0.0f);
      float total = 0.0f;
      for (int64_t p = 0; p < keys; ++p) {
        const float w = std::exp(score[size_t(p)] - top);
        total += w;
        const int64_t base = slot_of(cache, step, b, p) * width + int64_t(kvh) * hd;
        for (int d = 0; d < hd; ++d) acc[size_t(d)] += w * load_as_float(cache.v, cache.dtype, base + d);
      }
      float* o = static_cast<float*>(out) + t * ldo + int64_t(h) * hd;
      for (int d = 0; d < hd; ++d) o[d] = acc[size_t(d)] / total;
    });
  }

  void embedding(const int32_t* ids, int32_t id_offset, int64_t n, const void* table, DType tdt,
                 int64_t m, float* hidden, bool accumulate, void*) override {
    for (int64_t t = 0; t < n; ++t) {
      const int64_t row = int64_t(ids[t]) + id_offset;
      for (int64_t j = 0; j < m; ++j) {
        const float v = load_as_float(table, tdt, row * m + j);
        hidden[t * m + j] = accumulate ? hidden[t * m + j] + v : v;
      }
    }
  }

 private:
  static void copy_bytes(void* dst, const void* src, size_t bytes) {
    if (bytes) std::memmove(dst, src, bytes);
  }
  // Token slot (block * block_size + offset) of position p of step sequence b.
  static int64_t slot_of(const KvLayer&, const StepLayout& step, int32_t b, int64_t p) {
    const int32_t block = step.block_table[int64_t(b) * step.max_blocks_per_seq + p / step.block_size];
    return int64_t(block) * step.block_size + p % step.block_size;
  }

  int threads_;
};

}  // namespace

std::unique_ptr<Backend> make_host_backend(int threads) {
  return std::make_unique<HostBackend>(threads);
}

}  // namespace spinfer::layers
