#include "bench_weights.hpp"

#include <cmath>
#include <string>

#include "bench_fill.hpp"
#include "common/error.hpp"

namespace bench {

using namespace spinfer;

void ck(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(SPINFER_STATUS_CUDA_ERROR, std::string(what) + ": " + cudaGetErrorString(e));
}

DeviceBuf::DeviceBuf(size_t n) : bytes(n) {
  if (n) ck(cudaMalloc(&p, n), "cudaMalloc");
}

DeviceBuf::~DeviceBuf() {
  if (p) cudaFree(p);
}

namespace {

uint64_t g_seed = 1;

layers::MatrixInput sparse_matrix(cuda::DeviceContext& ctx, LayerWeights& lw, int64_t rows, int64_t cols,
                                  double sparsity, cudaStream_t st) {
  DeviceBuf tmp(size_t(rows * cols) * 2);
  bench_fill_half(tmp.p, rows * cols, sparsity, 1.0f / std::sqrt(float(cols)), next_seed(), st);
  lw.mats.push_back(cuda::encode_device(ctx, tmp.p, DType::f16, rows, cols, cols, DType::f16, st));
  const cuda::DeviceMatrixSummary s = cuda::summary(*lw.mats.back());
  lw.bytes += s.values_count * 2 + s.bitmaps_count * 8 + s.offsets_count * 8;
  layers::MatrixInput in;
  in.device = lw.mats.back().get();
  return in;
}

// Dense rows [r0 + r1 + ...] in one allocation; returns one input per part.
std::vector<layers::MatrixInput> dense_block(LayerWeights& lw, const std::vector<int64_t>& rows, int64_t cols,
                                             cudaStream_t st) {
  int64_t total = 0;
  for (int64_t r : rows) total += r;
  lw.dense.emplace_back(size_t(total * cols) * 2);
  bench_fill_half(lw.dense.back().p, total * cols, 0.0, 1.0f / std::sqrt(float(cols)), next_seed(), st);
  lw.bytes += uint64_t(total * cols) * 2;
  std::vector<layers::MatrixInput> out;
  auto* base = lw.dense.back().as<unsigned char>();
  for (int64_t r : rows) {
    layers::MatrixInput in;
    in.dense = base;
    in.dense_rows = r;
    in.dense_cols = cols;
    in.dense_dtype = DType::f16;
    out.push_back(in);
    base += size_t(r * cols) * 2;
  }
  return out;
}

}  // namespace

uint64_t next_seed() { return g_seed++; }

std::vector<float> host_random(int64_t n, float lo, float hi) {
  std::vector<float> v(static_cast<size_t>(n));
  uint64_t x = next_seed() * 0x9e3779b97f4a7c15ull;
  for (auto& e : v) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    e = lo + (hi - lo) * float(x >> 40) / 16777216.0f;
  }
  return v;
}

std::unique_ptr<LayerWeights> make_layer(cuda::DeviceContext& ctx, const Shape& s, double sparsity, cudaStream_t st) {
  auto lw = std::make_unique<LayerWeights>();
  const int hd = int(s.H / s.heads);
  const int64_t qd = int64_t(s.heads) * hd, kvd = int64_t(s.kv_heads) * hd;
  layers::DecoderWeights& w = lw->w;
  if (sparsity >= 0) {
    w.q = sparse_matrix(ctx, *lw, qd, s.H, sparsity, st);
    w.k = sparse_matrix(ctx, *lw, kvd, s.H, sparsity, st);
    w.v = sparse_matrix(ctx, *lw, kvd, s.H, sparsity, st);
    w.o = sparse_matrix(ctx, *lw, s.H, qd, sparsity, st);
    if (!s.opt) w.gate = sparse_matrix(ctx, *lw, s.I, s.H, sparsity, st);
    w.up = sparse_matrix(ctx, *lw, s.I, s.H, sparsity, st);
    w.down = sparse_matrix(ctx, *lw, s.H, s.I, sparsity, st);
  } else {
    auto qkv = dense_block(*lw, {qd, kvd, kvd}, s.H, st);
    w.q = qkv[0]; w.k = qkv[1]; w.v = qkv[2];
    w.o = dense_block(*lw, {s.H}, qd, st)[0];
    if (!s.opt) {
      auto gu = dense_block(*lw, {s.I, s.I}, s.H, st);
      w.gate = gu[0]; w.up = gu[1];
    } else {
      w.up = dense_block(*lw, {s.I}, s.H, st)[0];
    }
    w.down = dense_block(*lw, {s.H}, s.I, st)[0];
  }
  w.attn_norm_weight = host_random(s.H, 0.8f, 1.2f);
  w.mlp_norm_weight = host_random(s.H, 0.8f, 1.2f);
  if (s.opt) {
    w.q_bias = host_random(qd, -0.05f, 0.05f);
    w.k_bias = host_random(kvd, -0.05f, 0.05f);
    w.v_bias = host_random(kvd, -0.05f, 0.05f);
    w.o_bias = host_random(s.H, -0.05f, 0.05f);
    w.up_bias = host_random(s.I, -0.05f, 0.05f);
    w.down_bias = host_random(s.H, -0.05f, 0.05f);
    w.attn_norm_bias = host_random(s.H, -0.1f, 0.1f);
    w.mlp_norm_bias = host_random(s.H, -0.1f, 0.1f);
  }
  return lw;
}

layers::DecoderConfig decoder_config(const Shape& s) {
  layers::DecoderConfig c;
  c.norm = s.opt ? layers::NormKind::layer_norm : layers::NormKind::rms_norm;
  c.norm_eps = 1e-5f;
  c.attention.num_heads = s.heads;
  c.attention.num_kv_heads = s.kv_heads;
  c.attention.head_dim = int(s.H / s.heads);
  c.attention.rope = !s.opt;
  c.attention.fuse_qkv = true;
  c.mlp.gated = !s.opt;
  c.mlp.activation = s.opt ? layers::Activation::relu : layers::Activation::silu;
  c.mlp.fuse_gate_up = true;
  return c;
}

}  // namespace bench
