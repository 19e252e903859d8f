// Random decoder-layer weights of bench_layers, generated (and for sparse modes encoded)
// on the GPU, plus the small device helpers every section shares.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <cuda_runtime.h>

#include "cuda/cuda_backend.hpp"
#include "layers/decoder_layer.hpp"

namespace bench {

// Throws spinfer::Error (CUDA_ERROR) naming `what` when `e` is not cudaSuccess.
void ck(cudaError_t e, const char* what);

// One cudaMalloc'd buffer, freed on destruction.
struct DeviceBuf {
  void* p = nullptr;
  size_t bytes = 0;
  explicit DeviceBuf(size_t n = 0);
  DeviceBuf(DeviceBuf&& o) noexcept : p(o.p), bytes(o.bytes) { o.p = nullptr; }
  DeviceBuf& operator=(DeviceBuf&& o) noexcept {
    std::swap(p, o.p);
    std::swap(bytes, o.bytes);
    return *this;
  }
  ~DeviceBuf();
  template <typename T> T* as() const { return static_cast<T*>(p); }
};

struct Shape {
  const char* name;
  int64_t H, I;
  int heads, kv_heads;
  bool opt;
};

// The LLaMA-2-7B shape of the whole-model sections.
inline constexpr Shape kLlama7b = {"LLaMA-2-7B", 4096, 11008, 32, 32, false};

// One decoder layer's weights in one mode: sparse (sparsity > 0, encoded on the GPU)
// or dense (sparsity < 0: contiguous [q;k;v] and [gate;up] blocks for cuBLAS).
struct LayerWeights {
  std::vector<spinfer::cuda::DeviceMatrixPtr> mats;
  std::vector<DeviceBuf> dense;
  spinfer::layers::DecoderWeights w;
  uint64_t bytes = 0;
};

// A new seed for every random tensor of the run (deterministic from run to run).
uint64_t next_seed();

// `n` host floats uniform in [lo, hi).
std::vector<float> host_random(int64_t n, float lo, float hi);

std::unique_ptr<LayerWeights> make_layer(spinfer::cuda::DeviceContext& ctx, const Shape& s, double sparsity,
                                         cudaStream_t st);

spinfer::layers::DecoderConfig decoder_config(const Shape& s);

}  // namespace bench
