// Host backend of the layer API (spinfer.h §7) against the float64 reference of
// layers_reference.hpp: linear, MLP, KV cache, attention, decoder layers.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "common/dtype.hpp"
#include "layers_reference.hpp"
#include "spinfer.h"

using namespace spinfer::test;
using ref::Mat;
using ref::Vec;

namespace {

#define SP_OK(call) REQUIRE_MESSAGE((call) == SPINFER_STATUS_SUCCESS, spinfer_last_error_message())

struct Ctx {
  spinfer_context_t* ctx = nullptr;
  Ctx() {
    spinfer_context_config_t c;
    spinfer_context_config_init(&c);
    c.backend = SPINFER_BACKEND_HOST;
    c.host_threads = 2;
    SP_OK(spinfer_context_create_ex(&ctx, &c));
  }
  ~Ctx() { spinfer_context_destroy(ctx); }
};

// Encodes a reference matrix (exact in fp16) as an F16 host matrix.
struct Enc {
  spinfer_matrix_t* m = nullptr;
  Enc() = default;
  explicit Enc(const Mat& w) {
    std::vector<float> f(w.a.begin(), w.a.end());
    SP_OK(spinfer_matrix_encode(&m, f.data(), SPINFER_DTYPE_F32, w.rows, w.cols, w.cols, SPINFER_DTYPE_F16));
  }
  Enc(const Enc&) = delete;
  Enc& operator=(const Enc&) = delete;
  ~Enc() { spinfer_matrix_destroy(m); }
};

std::vector<float> to_f32(const Vec& v) { return std::vector<float>(v.begin(), v.end()); }
std::vector<double> to_f64(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }
std::vector<float> poisoned(size_t n) { return std::vector<float>(n, std::numeric_limits<float>::quiet_NaN()); }
const double kF32Tol = 1e-4;  // fp32 activations over exact fp16 weights

}  // namespace

TEST_CASE("linear: bias, every activation and residual against float64") {
  Ctx c;
  std::mt19937_64 rng(11);
  for (auto [M, K] : {std::pair<int64_t, int64_t>{96, 80}, {13, 200}, {128, 64}}) {
    Mat w = ref::random_mat(M, K, 0.6, 2, rng);
    Vec b = ref::random_vec(M, -1, 1, rng);
    Enc ew(w);
    for (int a = 0; a <= 4; ++a) {
      CAPTURE(M); CAPTURE(K); CAPTURE(a);
      spinfer_linear_config_t cfg;
      spinfer_linear_config_init(&cfg);
      cfg.activation = spinfer_activation_t(a);
      std::vector<float> bf = to_f32(b);
      spinfer_linear_t* lin = nullptr;
      SP_OK(spinfer_linear_create(c.ctx, &lin, ew.m, bf.data(), SPINFER_DTYPE_F32, &cfg, nullptr));
      const int64_t n = 5;
      Vec x = ref::random_vec(n * K, -2, 2, rng), r = ref::random_vec(n * M, -1, 1, rng);
      Vec want = ref::linear(x, n, w, b);
      for (size_t i = 0; i < want.size(); ++i) want[i] = ref::act(a, want[i]) + r[i];
      std::vector<float> xf = to_f32(x), rf = to_f32(r), y = poisoned(size_t(n * M));
      SP_OK(spinfer_linear_forward(c.ctx, lin, xf.data(), n, rf.data(), y.data(), SPINFER_DTYPE_F32, nullptr));
      CHECK(ref::rel_err(to_f64(y), want) < kF32Tol);

      // The same through fp16 activations (inputs exact in fp16; one output rounding).
      std::vector<uint16_t> xh(xf.size()), rh(rf.size()), yh(y.size(), 0x7e00);
      for (size_t i = 0; i < xf.size(); ++i) xh[i] = spinfer::float_to_half(xf[i]);
      for (size_t i = 0; i < rf.size(); ++i) rh[i] = spinfer::float_to_half(rf[i]);
      SP_OK(spinfer_linear_forward(c.ctx, lin, xh.data(), n, rh.data(), yh.data(), SPINFER_DTYPE_F16, nullptr));
      std::vector<double> yd(yh.size());
      for (size_t i = 0; i < yh.size(); ++i) yd[i] = spinfer::half_to_float(yh[i]);
      CHECK(ref::rel_err(yd, want) < 1e-3);
      spinfer_linear_destroy(lin);
    }
  }
}

TEST_CASE("mlp: plain (OPT) and gated (LLaMA), joined and separate gate/up") {
  Ctx c;
  std::mt19937_64 rng(12);
  struct Case { bool gated; int act; int64_t H, I; int fuse; };
  for (Case k : {Case{false, 1, 96, 160, 1}, Case{false, 2, 64, 130, 1}, Case{true, 4, 96, 128, 1},
                 Case{true, 4, 96, 128, 0}, Case{true, 3, 80, 100, 1}}) {
    CAPTURE(k.gated); CAPTURE(k.act); CAPTURE(k.H); CAPTURE(k.I); CAPTURE(k.fuse);
    ref::MlpWeights w;
    w.gated = k.gated;
    w.activation = k.act;
    w.up = ref::random_mat(k.I, k.H, 0.5, 2, rng);
    w.down = ref::random_mat(k.H, k.I, 0.5, 2, rng);
    if (k.gated) w.gate = ref::random_mat(k.I, k.H, 0.5, 2, rng);
    else w.up_b = ref::random_vec(k.I, -1, 1, rng);
    w.down_b = ref::random_vec(k.H, -1, 1, rng);
    Enc up(w.up), down(w.down), gate;
    if (k.gated) gate.~Enc(), new (&gate) Enc(w.gate);
    spinfer_mlp_config_t cfg;
    spinfer_mlp_config_init(&cfg);
    cfg.kind = k.gated ? SPINFER_MLP_GATED : SPINFER_MLP_PLAIN;
    cfg.activation = spinfer_activation_t(k.act);
    cfg.max_tokens = 7;
    cfg.fuse_gate_up = k.fuse;
    std::vector<float> ub = to_f32(w.up_b), db = to_f32(w.down_b);
    spinfer_mlp_t* mlp = nullptr;
    SP_OK(spinfer_mlp_create(c.ctx, &mlp, gate.m, up.m, down.m, ub.empty() ? nullptr : ub.data(),
                             db.data(), SPINFER_DTYPE_F32, &cfg, nullptr));
    const int64_t n = 7;
    Vec x = ref::random_vec(n * k.H, -2, 2, rng), r = ref::random_vec(n * k.H, -1, 1, rng);
    Vec want = ref::mlp(x, n, w);
    for (size_t i = 0; i < want.size(); ++i) want[i] += r[i];
    std::vector<float> xf = to_f32(x), rf = to_f32(r), y = poisoned(size_t(n * k.H));
    SP_OK(spinfer_mlp_forward(c.ctx, mlp, xf.data(), n, rf.data(), y.data(), SPINFER_DTYPE_F32, nullptr));
    CHECK(ref::rel_err(to_f64(y), want) < kF32Tol);
    // More tokens than max_tokens is refused.
    CHECK(spinfer_mlp_forward(c.ctx, mlp, xf.data(), 8, nullptr, y.data(), SPINFER_DTYPE_F32, nullptr) ==
          SPINFER_STATUS_INVALID_ARGUMENT);
    // The residual or x as y: refused, the buffer named.
    CHECK(spinfer_mlp_forward(c.ctx, mlp, xf.data(), n, y.data(), y.data(), SPINFER_DTYPE_F32, nullptr) ==
          SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK(std::strstr(spinfer_last_error_message(), "residual overlaps y") != nullptr);
    CHECK(spinfer_mlp_forward(c.ctx, mlp, y.data(), n, nullptr, y.data(), SPINFER_DTYPE_F32, nullptr) ==
          SPINFER_STATUS_INVALID_ARGUMENT);
    spinfer_mlp_destroy(mlp);
    if (k.gated) {
      // An up matrix of the wrong shape is blamed on up (gate and down agree), not on down.
      Mat bad_up = ref::random_mat(k.I + 8, k.H, 0.5, 2, rng);
      Enc eb(bad_up);
      CHECK(spinfer_mlp_create(c.ctx, &mlp, gate.m, eb.m, down.m, nullptr, db.data(), SPINFER_DTYPE_F32, &cfg,
                               nullptr) == SPINFER_STATUS_SHAPE_MISMATCH);
      CHECK(std::strstr(spinfer_last_error_message(), "MLP up matrix does not fit") != nullptr);
    }
  }
}

TEST_CASE("kv cache: block accounting, full pool, release, bad steps") {
  Ctx c;
  spinfer_kv_cache_config_t kc;
  spinfer_kv_cache_config_init(&kc);
  kc.num_layers = 2;
  kc.num_kv_heads = 2;
  kc.head_dim = 8;
  kc.block_size = 4;
  kc.num_blocks = 5;
  kc.max_sequences = 3;
  kc.max_sequence_length = 16;
  spinfer_kv_cache_t* cache = nullptr;
  SP_OK(spinfer_kv_cache_create(c.ctx, &cache, &kc));
  int64_t free_blocks = 0, len = 0;
  SP_OK(spinfer_kv_cache_free_blocks(cache, &free_blocks));
  CHECK(free_blocks == 5);
  int32_t seqs[2] = {0, 2}, counts[2] = {5, 3};
  SP_OK(spinfer_kv_cache_begin_step(cache, seqs, counts, 2, nullptr));
  SP_OK(spinfer_kv_cache_free_blocks(cache, &free_blocks));
  CHECK(free_blocks == 2);  // 2 blocks for 5 tokens + 1 for 3
  SP_OK(spinfer_kv_cache_sequence_length(cache, 0, &len));
  CHECK(len == 5);
  // 8 more tokens for sequence 1 need 2 blocks: fits; then the pool is empty.
  int32_t s1 = 1, c8 = 8;
  SP_OK(spinfer_kv_cache_begin_step(cache, &s1, &c8, 1, nullptr));
  int32_t s2 = 2, c2 = 2;  // 3 + 2 = 5 tokens -> a second block, none left
  CHECK(spinfer_kv_cache_begin_step(cache, &s2, &c2, 1, nullptr) == SPINFER_STATUS_OUT_OF_MEMORY);
  SP_OK(spinfer_kv_cache_sequence_length(cache, 2, &len));
  CHECK(len == 3);  // a failed step changes nothing
  int32_t c1 = 1;   // 4 tokens still fit its block
  SP_OK(spinfer_kv_cache_begin_step(cache, &s2, &c1, 1, nullptr));
  SP_OK(spinfer_kv_cache_release_sequence(cache, 1));
  SP_OK(spinfer_kv_cache_free_blocks(cache, &free_blocks));
  CHECK(free_blocks == 2);
  int32_t dup[2] = {0, 0}, ones[2] = {1, 1};
  CHECK(spinfer_kv_cache_begin_step(cache, dup, ones, 2, nullptr) == SPINFER_STATUS_INVALID_ARGUMENT);
  int32_t bad = 3;
  CHECK(spinfer_kv_cache_begin_step(cache, &bad, ones, 1, nullptr) == SPINFER_STATUS_INVALID_ARGUMENT);
  int32_t too_long = 20;
  CHECK(spinfer_kv_cache_begin_step(cache, &s1, &too_long, 1, nullptr) == SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(spinfer_kv_cache_sequence_length(cache, -1, &len) == SPINFER_STATUS_INVALID_ARGUMENT);
  spinfer_kv_cache_destroy(cache);
  kc.head_dim = 7;
  CHECK(spinfer_kv_cache_create(c.ctx, &cache, &kc) == SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(cache == nullptr);
  CHECK(std::strstr(spinfer_last_error_message(), "head_dim") != nullptr);
}

namespace {

// Runs prefill + decode steps of two interleaved sequences through `forward` (an
// attention or decoder layer) and compares every step's new rows with `reference`
// (computed from each sequence's whole history).
template <typename Forward, typename Reference>
void run_steps(spinfer_context_t* ctx, int64_t H, int kv_heads, int hd, int layers, Forward forward,
               Reference reference, std::mt19937_64& rng, double tol, int block_size) {
  spinfer_kv_cache_config_t kc;
  spinfer_kv_cache_config_init(&kc);
  kc.num_layers = layers;
  kc.num_kv_heads = kv_heads;
  kc.head_dim = hd;
  kc.block_size = block_size;
  kc.num_blocks = 64;
  kc.max_sequences = 4;
  kc.max_sequence_length = 64;
  kc.dtype = SPINFER_DTYPE_F32;
  spinfer_kv_cache_t* cache = nullptr;
  SP_OK(spinfer_kv_cache_create(ctx, &cache, &kc));
  std::vector<Vec> history(4);  // per sequence slot: its inputs [len, H]
  // Steps: prefill 7 tokens of seq 3 and 5 of seq 1 together, then decode steps with
  // both, then a 3-token chunk for seq 1 alone, then more decode steps.
  std::vector<std::vector<std::pair<int32_t, int32_t>>> steps = {
      {{3, 7}, {1, 5}}, {{1, 1}, {3, 1}}, {{3, 1}, {1, 1}}, {{1, 3}}, {{3, 1}, {1, 1}}, {{1, 1}}};
  for (size_t s = 0; s < steps.size(); ++s) {
    CAPTURE(s);
    std::vector<int32_t> ids, counts;
    int64_t n = 0;
    for (auto [id, cnt] : steps[s]) { ids.push_back(id); counts.push_back(cnt); n += cnt; }
    SP_OK(spinfer_kv_cache_begin_step(cache, ids.data(), counts.data(), int32_t(ids.size()), nullptr));
    Vec x = ref::random_vec(n * H, -2, 2, rng);
    // Every layer of the cache sees its own input (layer l uses x scaled by l + 1).
    for (int l = 0; l < layers; ++l) {
      Vec xl = x;
      for (auto& e : xl) e *= (l + 1);
      std::vector<float> xf = to_f32(xl), y = poisoned(size_t(n * H));
      SP_OK(forward(cache, l, xf.data(), n, y.data()));
      Vec want;
      int64_t t0 = 0;
      for (auto [id, cnt] : steps[s]) {
        Vec hist = l == 0 ? history[size_t(id)] : Vec{};
        if (l > 0)  // rebuild layer l's history: layer-0 history scaled
          for (double e : history[size_t(id)]) hist.push_back(e * (l + 1));
        const int64_t first = int64_t(hist.size()) / H;
        hist.insert(hist.end(), xl.begin() + t0 * H, xl.begin() + (t0 + cnt) * H);
        Vec part = reference(hist, first + cnt, first);
        want.insert(want.end(), part.begin(), part.end());
        t0 += cnt;
      }
      CHECK(ref::rel_err(to_f64(y), want) < tol);
    }
    int64_t t0 = 0;
    for (auto [id, cnt] : steps[s]) {
      history[size_t(id)].insert(history[size_t(id)].end(), x.begin() + t0 * H, x.begin() + (t0 + cnt) * H);
      t0 += cnt;
    }
  }
  spinfer_kv_cache_destroy(cache);
}

}  // namespace

TEST_CASE("attention: MHA and GQA, RoPE or not, paged cache, prefill then decode") {
  Ctx c;
  std::mt19937_64 rng(13);
  struct Case { int heads, kv_heads, hd; bool rope; bool bias; int fuse; int block; };
  for (Case k : {Case{4, 4, 16, false, true, 1, 4}, Case{4, 2, 16, true, false, 1, 3},
                 Case{6, 2, 16, true, false, 0, 16}, Case{2, 1, 32, true, true, 1, 1}}) {
    CAPTURE(k.heads); CAPTURE(k.kv_heads); CAPTURE(k.rope); CAPTURE(k.fuse); CAPTURE(k.block);
    const int64_t H = int64_t(k.heads) * k.hd, kvd = int64_t(k.kv_heads) * k.hd;
    ref::AttnWeights w;
    w.q = ref::random_mat(H, H, 0.5, 3, rng);
    w.k = ref::random_mat(kvd, H, 0.5, 3, rng);
    w.v = ref::random_mat(kvd, H, 0.5, 2, rng);
    w.o = ref::random_mat(H, H, 0.5, 2, rng);
    if (k.bias) {
      w.qb = ref::random_vec(H, -1, 1, rng);
      w.kb = ref::random_vec(kvd, -1, 1, rng);
      w.vb = ref::random_vec(kvd, -1, 1, rng);
      w.ob = ref::random_vec(H, -1, 1, rng);
    }
    Enc q(w.q), kk(w.k), v(w.v), o(w.o);
    spinfer_attention_config_t cfg;
    spinfer_attention_config_init(&cfg);
    cfg.num_heads = k.heads;
    cfg.num_kv_heads = k.kv_heads;
    cfg.use_rope = k.rope;
    cfg.fuse_qkv = k.fuse;
    cfg.max_tokens = 16;
    std::vector<float> qb = to_f32(w.qb), kb = to_f32(w.kb), vb = to_f32(w.vb), ob = to_f32(w.ob);
    auto ptr = [&](std::vector<float>& b) { return b.empty() ? nullptr : b.data(); };
    spinfer_attention_t* attn = nullptr;
    SP_OK(spinfer_attention_create(c.ctx, &attn, q.m, kk.m, v.m, o.m, ptr(qb), ptr(kb), ptr(vb), ptr(ob),
                                   SPINFER_DTYPE_F32, &cfg, nullptr));
    auto forward = [&](spinfer_kv_cache_t* cache, int l, const float* x, int64_t n, float* y) {
      return spinfer_attention_forward(c.ctx, attn, cache, l, x, n, nullptr, y, SPINFER_DTYPE_F32, nullptr);
    };
    auto reference = [&](const Vec& hist, int64_t len, int64_t first) {
      return ref::attention_seq(hist, len, first, w, k.heads, k.kv_heads, k.hd, k.rope, 10000.0);
    };
    run_steps(c.ctx, H, k.kv_heads, k.hd, 2, forward, reference, rng, kF32Tol, k.block);
    spinfer_attention_destroy(attn);
  }
}

namespace {

ref::LayerWeights random_layer(bool opt, int heads, int kv_heads, int hd, int64_t I, std::mt19937_64& rng) {
  return ref::random_layer(opt, heads, kv_heads, hd, int64_t(heads) * hd, I, {3, 3, 2, 2, 2}, rng);
}

}  // namespace

TEST_CASE("decoder layer: OPT (LayerNorm, biases, ReLU) and LLaMA (RMSNorm, RoPE, GQA, SiLU)") {
  Ctx c;
  std::mt19937_64 rng(14);
  for (bool opt : {true, false}) {
    CAPTURE(opt);
    const int heads = 4, kv_heads = opt ? 4 : 2, hd = 16;
    const int64_t H = heads * hd, I = opt ? 160 : 128;
    ref::LayerWeights w = random_layer(opt, heads, kv_heads, hd, I, rng);
    Enc q(w.attn.q), k(w.attn.k), v(w.attn.v), o(w.attn.o), up(w.mlp.up), down(w.mlp.down), gate;
    if (!opt) gate.~Enc(), new (&gate) Enc(w.mlp.gate);
    std::vector<float> qb = to_f32(w.attn.qb), kb = to_f32(w.attn.kb), vb = to_f32(w.attn.vb),
                       ob = to_f32(w.attn.ob), ub = to_f32(w.mlp.up_b), db = to_f32(w.mlp.down_b),
                       n1w = to_f32(w.n1w), n1b = to_f32(w.n1b), n2w = to_f32(w.n2w), n2b = to_f32(w.n2b);
    auto ptr = [&](std::vector<float>& b) { return b.empty() ? nullptr : b.data(); };
    spinfer_decoder_weights_t dw;
    spinfer_decoder_weights_init(&dw);
    dw.q_proj = q.m; dw.k_proj = k.m; dw.v_proj = v.m; dw.o_proj = o.m;
    dw.gate_proj = gate.m; dw.up_proj = up.m; dw.down_proj = down.m;
    dw.q_bias = ptr(qb); dw.k_bias = ptr(kb); dw.v_bias = ptr(vb); dw.o_bias = ptr(ob);
    dw.up_bias = ptr(ub); dw.down_bias = ptr(db);
    dw.attn_norm_weight = ptr(n1w); dw.attn_norm_bias = ptr(n1b);
    dw.mlp_norm_weight = ptr(n2w); dw.mlp_norm_bias = ptr(n2b);
    dw.dense_dtype = SPINFER_DTYPE_F32;
    spinfer_decoder_config_t cfg;
    spinfer_decoder_config_init(&cfg);
    cfg.arch = opt ? SPINFER_ARCH_OPT : SPINFER_ARCH_LLAMA;
    cfg.hidden_size = H;
    cfg.intermediate_size = I;
    cfg.num_heads = heads;
    cfg.num_kv_heads = kv_heads;
    cfg.norm_eps = w.eps;
    cfg.max_tokens = 16;
    spinfer_decoder_layer_t* layer = nullptr;
    {
      // hidden_size / num_heads is checked in 64 bits (2^40 / 1 once passed as int 0), and
      // the message carries the values, not a wrapped negative.
      spinfer_decoder_config_t big = cfg;
      big.num_heads = 1;
      big.num_kv_heads = 0;
      big.hidden_size = int64_t(1) << 24;
      CHECK(spinfer_decoder_layer_create(c.ctx, &layer, &dw, &big, nullptr) == SPINFER_STATUS_INVALID_ARGUMENT);
      CHECK(std::strstr(spinfer_last_error_message(), "head_dim 16777216") != nullptr);
      big.hidden_size = int64_t(1) << 40;
      CHECK(spinfer_decoder_layer_create(c.ctx, &layer, &dw, &big, nullptr) == SPINFER_STATUS_INVALID_ARGUMENT);
      CHECK(std::strstr(spinfer_last_error_message(), "1099511627776") != nullptr);
    }
    SP_OK(spinfer_decoder_layer_create(c.ctx, &layer, &dw, &cfg, nullptr));
    auto forward = [&](spinfer_kv_cache_t* cache, int l, const float* x, int64_t n, float* y) {
      return spinfer_decoder_layer_forward(c.ctx, layer, cache, l, x, n, y, SPINFER_DTYPE_F32, nullptr);
    };
    auto reference = [&](const Vec& hist, int64_t len, int64_t first) {
      Vec all = ref::decoder_seq(hist, len, w);
      return Vec(all.begin() + first * H, all.end());
    };
    run_steps(c.ctx, H, kv_heads, hd, 1, forward, reference, rng, kF32Tol, 4);

    // Wrong family combinations are refused with a message.
    dw.gate_proj = opt ? up.m : nullptr;
    spinfer_decoder_layer_t* bad = nullptr;
    CHECK(spinfer_decoder_layer_create(c.ctx, &bad, &dw, &cfg, nullptr) == SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK(bad == nullptr);
    spinfer_decoder_layer_destroy(layer);
  }
}

TEST_CASE("layer API: NULL handles, shapes and dtypes give statuses with messages") {
  Ctx c;
  std::mt19937_64 rng(15);
  Mat w = ref::random_mat(64, 32, 0.5, 0, rng);
  Enc ew(w);
  spinfer_linear_t* lin = nullptr;
  CHECK(spinfer_linear_create(nullptr, &lin, ew.m, nullptr, SPINFER_DTYPE_F32, nullptr, nullptr) ==
        SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(spinfer_linear_create(c.ctx, nullptr, ew.m, nullptr, SPINFER_DTYPE_F32, nullptr, nullptr) ==
        SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(spinfer_linear_create(c.ctx, &lin, nullptr, nullptr, SPINFER_DTYPE_F32, nullptr, nullptr) ==
        SPINFER_STATUS_INVALID_ARGUMENT);
  spinfer_linear_config_t cfg;
  spinfer_linear_config_init(&cfg);
  cfg.activation = spinfer_activation_t(9);
  CHECK(spinfer_linear_create(c.ctx, &lin, ew.m, nullptr, SPINFER_DTYPE_F32, &cfg, nullptr) ==
        SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(std::strstr(spinfer_last_error_message(), "activation") != nullptr);
  cfg.struct_size = 4;
  CHECK(spinfer_linear_create(c.ctx, &lin, ew.m, nullptr, SPINFER_DTYPE_F32, &cfg, nullptr) ==
        SPINFER_STATUS_INVALID_ARGUMENT);
  SP_OK(spinfer_linear_create(c.ctx, &lin, ew.m, nullptr, SPINFER_DTYPE_F32, nullptr, nullptr));
  std::vector<float> x(32), y(64);
  CHECK(spinfer_linear_forward(c.ctx, lin, x.data(), 1, nullptr, y.data(), spinfer_dtype_t(7), nullptr) ==
        SPINFER_STATUS_UNSUPPORTED_DTYPE);
  CHECK(spinfer_linear_forward(c.ctx, lin, nullptr, 1, nullptr, y.data(), SPINFER_DTYPE_F32, nullptr) ==
        SPINFER_STATUS_INVALID_ARGUMENT);
  Ctx other;
  CHECK(spinfer_linear_forward(other.ctx, lin, x.data(), 1, nullptr, y.data(), SPINFER_DTYPE_F32, nullptr) ==
        SPINFER_STATUS_INVALID_ARGUMENT);
  // A residual that is (or overlaps) y: y is written before the residual is read.
  CHECK(spinfer_linear_forward(c.ctx, lin, x.data(), 1, y.data(), y.data(), SPINFER_DTYPE_F32, nullptr) ==
        SPINFER_STATUS_INVALID_ARGUMENT);
  CHECK(std::strstr(spinfer_last_error_message(), "residual overlaps y") != nullptr);
  CHECK(spinfer_linear_forward(c.ctx, lin, x.data(), 1, y.data() + 63, y.data(), SPINFER_DTYPE_F32, nullptr) ==
        SPINFER_STATUS_INVALID_ARGUMENT);
  // n whose n x features product would overflow is refused before anything is computed.
  CHECK(spinfer_linear_forward(c.ctx, lin, x.data(), (int64_t(1) << 57) + 1, nullptr, y.data(),
                               SPINFER_DTYPE_F32, nullptr) == SPINFER_STATUS_INVALID_ARGUMENT);
  spinfer_linear_destroy(lin);
  CHECK(spinfer_linear_destroy(nullptr) == SPINFER_STATUS_SUCCESS);
  CHECK(spinfer_mlp_destroy(nullptr) == SPINFER_STATUS_SUCCESS);
  CHECK(spinfer_attention_destroy(nullptr) == SPINFER_STATUS_SUCCESS);
  CHECK(spinfer_decoder_layer_destroy(nullptr) == SPINFER_STATUS_SUCCESS);
  CHECK(spinfer_kv_cache_destroy(nullptr) == SPINFER_STATUS_SUCCESS);
  CHECK(spinfer_model_destroy(nullptr) == SPINFER_STATUS_SUCCESS);

  // An attention block whose matrices do not fit its heads.
  Mat q = ref::random_mat(64, 64, 0.5, 0, rng), k = ref::random_mat(48, 64, 0.5, 0, rng);
  Enc eq(q), ek(k);
  spinfer_attention_config_t ac;
  spinfer_attention_config_init(&ac);
  ac.num_heads = 4;
  ac.num_kv_heads = 2;
  spinfer_attention_t* attn = nullptr;
  CHECK(spinfer_attention_create(c.ctx, &attn, eq.m, ek.m, ek.m, eq.m, nullptr, nullptr, nullptr, nullptr,
                                 SPINFER_DTYPE_F32, &ac, nullptr) == SPINFER_STATUS_SHAPE_MISMATCH);
  CHECK(attn == nullptr);
  CHECK(std::strstr(spinfer_last_error_message(), "expected") != nullptr);
  // A score scale of NaN or infinity (every attention output NaN) is refused at creation.
  Mat kk = ref::random_mat(32, 64, 0.5, 0, rng);
  Enc ekk(kk);
  for (double bad_scale : {std::nan(""), -double(INFINITY), double(INFINITY)}) {
    ac.scale = bad_scale;
    CHECK(spinfer_attention_create(c.ctx, &attn, eq.m, ekk.m, ekk.m, eq.m, nullptr, nullptr, nullptr, nullptr,
                                   SPINFER_DTYPE_F32, &ac, nullptr) == SPINFER_STATUS_INVALID_ARGUMENT);
    CHECK(std::strstr(spinfer_last_error_message(), "scale") != nullptr);
  }
  ac.scale = 0;
  SP_OK(spinfer_attention_create(c.ctx, &attn, eq.m, ekk.m, ekk.m, eq.m, nullptr, nullptr, nullptr, nullptr,
                                 SPINFER_DTYPE_F32, &ac, nullptr));
  spinfer_attention_destroy(attn);
}
