// CUDA layers through the C API against the float64 reference (layers_reference.hpp):
// linear, MLP, attention (prefill, decode with sequence splits, GQA), decode attention
// alone over odd shapes, and decoder layers, in fp16 and bf16, with device matrices.
#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "gpu_io.hpp"
#include "layers_reference.hpp"

using namespace spinfer::test;
using ref::Mat;
using ref::Vec;

namespace {

// Tolerances: one op with one output rounding (DESIGN.md §6), and a composite layer
// whose intermediates (q/k/v, attention output, MLP hidden) are each rounded once more.
double tol_op(spinfer_dtype_t dt) { return dt == SPINFER_DTYPE_F16 ? 1e-3 : 1e-2; }
double tol_layer(spinfer_dtype_t dt) { return dt == SPINFER_DTYPE_F16 ? 4e-3 : 3e-2; }
const char* name(spinfer_dtype_t dt) { return dt == SPINFER_DTYPE_F16 ? "f16" : "bf16"; }

// A reference matrix encoded with storage dtype `dt` and uploaded to the GPU.
struct DevMatrix {
  spinfer_matrix_t* m = nullptr;
  DevMatrix() = default;
  DevMatrix(spinfer_context_t* ctx, const Mat& w, spinfer_dtype_t dt) {
    std::vector<float> f(w.a.begin(), w.a.end());
    spinfer_matrix_t* host = nullptr;
    SP_OK(spinfer_matrix_encode(&host, f.data(), SPINFER_DTYPE_F32, w.rows, w.cols, w.cols, dt));
    SP_OK(spinfer_matrix_upload(ctx, host, &m, nullptr));
    spinfer_matrix_destroy(host);
  }
  ~DevMatrix() { spinfer_matrix_destroy(m); }
  DevMatrix(const DevMatrix&) = delete;
  DevMatrix& operator=(const DevMatrix&) = delete;
};

std::vector<float> f32(const Vec& v) { return std::vector<float>(v.begin(), v.end()); }
const float* ptr(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }

}  // namespace

TEST_CASE("gpu linear: activations, bias, residual") {
  spinfer_context_t* ctx = cuda_context();
  std::mt19937_64 rng(31);
  for (spinfer_dtype_t dt : {SPINFER_DTYPE_F16, SPINFER_DTYPE_BF16})
    for (int a = 0; a <= 4; ++a) {
      CAPTURE(name(dt)); CAPTURE(a);
      const int64_t M = 200, K = 136, n = 9;
      Mat w = ref::random_mat(M, K, 0.6, 2, rng);
      Vec b = ref::random_vec(M, -1, 1, rng);
      DevMatrix dw(ctx, w, dt);
      spinfer_linear_config_t cfg;
      spinfer_linear_config_init(&cfg);
      cfg.activation = spinfer_activation_t(a);
      std::vector<float> bf = f32(b);
      spinfer_linear_t* lin = nullptr;
      SP_OK(spinfer_linear_create(ctx, &lin, dw.m, bf.data(), SPINFER_DTYPE_F32, &cfg, nullptr));
      Vec x = rounded(ref::random_vec(n * K, -2, 2, rng), dt), r = rounded(ref::random_vec(n * M, -1, 1, rng), dt);
      Vec want = ref::linear(x, n, w, rounded(b, dt));
      for (size_t i = 0; i < want.size(); ++i) want[i] = ref::act(a, want[i]) + r[i];
      DevArray dx(x, dt), dr(r, dt), dy(size_t(n * M), dt);
      SP_OK(spinfer_linear_forward(ctx, lin, dx.p, n, dr.p, dy.p, dt, nullptr));
      const double err = ref::rel_err(dy.get(), want);
      CHECK(err < tol_op(dt) * 1.5);  // two roundings: product, then act + residual
      spinfer_linear_destroy(lin);
    }
  spinfer_context_destroy(ctx);
}

TEST_CASE("gpu mlp: plain and gated, joined and separate") {
  spinfer_context_t* ctx = cuda_context();
  std::mt19937_64 rng(32);
  struct Case { bool gated; int act; int64_t H, I; int fuse; };
  for (spinfer_dtype_t dt : {SPINFER_DTYPE_F16, SPINFER_DTYPE_BF16})
    for (Case k : {Case{false, 1, 128, 320, 1}, Case{true, 4, 128, 256, 1}, Case{true, 4, 128, 256, 0},
                   Case{true, 3, 64, 200, 1}}) {
      CAPTURE(name(dt)); CAPTURE(k.gated); CAPTURE(k.I); CAPTURE(k.fuse);
      ref::MlpWeights w;
      w.gated = k.gated;
      w.activation = k.act;
      w.up = ref::random_mat(k.I, k.H, 0.6, 2, rng);
      w.down = ref::random_mat(k.H, k.I, 0.6, 2, rng);
      if (k.gated) w.gate = ref::random_mat(k.I, k.H, 0.6, 2, rng);
      else w.up_b = rounded(ref::random_vec(k.I, -1, 1, rng), dt);
      w.down_b = rounded(ref::random_vec(k.H, -1, 1, rng), dt);
      DevMatrix up(ctx, w.up, dt), down(ctx, w.down, dt), gate;
      if (k.gated) gate.~DevMatrix(), new (&gate) DevMatrix(ctx, w.gate, dt);
      spinfer_mlp_config_t cfg;
      spinfer_mlp_config_init(&cfg);
      cfg.kind = k.gated ? SPINFER_MLP_GATED : SPINFER_MLP_PLAIN;
      cfg.activation = spinfer_activation_t(k.act);
      cfg.fuse_gate_up = k.fuse;
      cfg.max_tokens = 16;
      std::vector<float> ub = f32(w.up_b), db = f32(w.down_b);
      spinfer_mlp_t* mlp = nullptr;
      SP_OK(spinfer_mlp_create(ctx, &mlp, gate.m, up.m, down.m, ptr(ub), ptr(db), SPINFER_DTYPE_F32, &cfg, nullptr));
      const int64_t n = 11;
      Vec x = rounded(ref::random_vec(n * k.H, -2, 2, rng), dt);
      Vec want = ref::mlp(x, n, w);
      DevArray dx(x, dt), dy(size_t(n * k.H), dt);
      SP_OK(spinfer_mlp_forward(ctx, mlp, dx.p, n, nullptr, dy.p, dt, nullptr));
      CHECK(ref::rel_err(dy.get(), want) < tol_layer(dt));
      spinfer_mlp_destroy(mlp);
    }
  spinfer_context_destroy(ctx);
}

namespace {

// Prefill + decode steps of two sequences through `forward`; every step's output is
// compared with `reference` over each sequence's whole (rounded) input history.
template <typename Forward, typename Reference>
void run_steps(spinfer_context_t* ctx, spinfer_dtype_t dt, int64_t H, int kv_heads, int hd, int prefill_a,
               Forward forward, Reference reference, std::mt19937_64& rng, double tol) {
  spinfer_kv_cache_config_t kc;
  spinfer_kv_cache_config_init(&kc);
  kc.num_layers = 1;
  kc.num_kv_heads = kv_heads;
  kc.head_dim = hd;
  kc.block_size = 16;
  kc.num_blocks = 256;
  kc.max_sequences = 4;
  kc.max_sequence_length = 1024;  // decode splits: up to ceil(1024 / 64) = 16 ranges
  kc.dtype = dt;
  spinfer_kv_cache_t* cache = nullptr;
  SP_OK(spinfer_kv_cache_create(ctx, &cache, &kc));
  std::vector<Vec> history(4);
  std::vector<std::vector<std::pair<int32_t, int32_t>>> steps = {
      {{2, prefill_a}, {0, 5}}, {{0, 1}, {2, 1}}, {{2, 1}, {0, 1}}, {{0, 37}}, {{2, 1}, {0, 1}}, {{0, 1}}};
  for (size_t s = 0; s < steps.size(); ++s) {
    CAPTURE(s);
    std::vector<int32_t> ids, counts;
    int64_t n = 0;
    for (auto [id, cnt] : steps[s]) { ids.push_back(id); counts.push_back(cnt); n += cnt; }
    SP_OK(spinfer_kv_cache_begin_step(cache, ids.data(), counts.data(), int32_t(ids.size()), nullptr));
    Vec x = rounded(ref::random_vec(n * H, -2, 2, rng), dt);
    DevArray dx(x, dt), dy(size_t(n * H), dt);
    SP_OK(forward(cache, dx.p, n, dy.p));
    Vec want;
    int64_t t0 = 0;
    for (auto [id, cnt] : steps[s]) {
      Vec& hist = history[size_t(id)];
      const int64_t first = int64_t(hist.size()) / H;
      hist.insert(hist.end(), x.begin() + t0 * H, x.begin() + (t0 + cnt) * H);
      Vec part = reference(hist, first + cnt, first);
      want.insert(want.end(), part.begin(), part.end());
      t0 += cnt;
    }
    const double err = ref::rel_err(dy.get(), want);
    CHECK(err < tol);
  }
  spinfer_kv_cache_destroy(cache);
}

}  // namespace

TEST_CASE("gpu attention: MHA/GQA, RoPE, prefill, split decode over a paged cache") {
  spinfer_context_t* ctx = cuda_context();
  std::mt19937_64 rng(33);
  struct Case { int heads, kv_heads, hd; bool rope, bias; int fuse; int prefill; };
  for (spinfer_dtype_t dt : {SPINFER_DTYPE_F16, SPINFER_DTYPE_BF16})
    for (Case k : {Case{4, 4, 64, false, true, 1, 7}, Case{8, 2, 64, true, false, 1, 300},
                   Case{4, 1, 128, true, false, 0, 150}, Case{4, 2, 32, true, true, 1, 40}}) {
      CAPTURE(name(dt)); CAPTURE(k.heads); CAPTURE(k.kv_heads); CAPTURE(k.hd); CAPTURE(k.prefill);
      const int64_t H = int64_t(k.heads) * k.hd, kvd = int64_t(k.kv_heads) * k.hd;
      ref::AttnWeights w;
      w.q = ref::random_mat(H, H, 0.6, 3, rng);
      w.k = ref::random_mat(kvd, H, 0.6, 3, rng);
      w.v = ref::random_mat(kvd, H, 0.6, 2, rng);
      w.o = ref::random_mat(H, H, 0.6, 3, rng);
      if (k.bias) {
        w.qb = rounded(ref::random_vec(H, -1, 1, rng), dt);
        w.kb = rounded(ref::random_vec(kvd, -1, 1, rng), dt);
        w.vb = rounded(ref::random_vec(kvd, -1, 1, rng), dt);
        w.ob = rounded(ref::random_vec(H, -1, 1, rng), dt);
      }
      DevMatrix q(ctx, w.q, dt), kk(ctx, w.k, dt), v(ctx, w.v, dt), o(ctx, w.o, dt);
      spinfer_attention_config_t cfg;
      spinfer_attention_config_init(&cfg);
      cfg.num_heads = k.heads;
      cfg.num_kv_heads = k.kv_heads;
      cfg.use_rope = k.rope;
      cfg.fuse_qkv = k.fuse;
      cfg.max_tokens = 512;
      std::vector<float> qb = f32(w.qb), kb = f32(w.kb), vb = f32(w.vb), ob = f32(w.ob);
      spinfer_attention_t* attn = nullptr;
      SP_OK(spinfer_attention_create(ctx, &attn, q.m, kk.m, v.m, o.m, ptr(qb), ptr(kb), ptr(vb), ptr(ob),
                                     SPINFER_DTYPE_F32, &cfg, nullptr));
      auto forward = [&](spinfer_kv_cache_t* cache, const void* x, int64_t n, void* y) {
        return spinfer_attention_forward(ctx, attn, cache, 0, x, n, nullptr, y, dt, nullptr);
      };
      auto reference = [&](const Vec& hist, int64_t len, int64_t first) {
        return ref::attention_seq(hist, len, first, w, k.heads, k.kv_heads, k.hd, k.rope, 10000.0);
      };
      run_steps(ctx, dt, H, k.kv_heads, k.hd, k.prefill, forward, reference, rng, tol_layer(dt));
      spinfer_attention_destroy(attn);
    }
  spinfer_context_destroy(ctx);
}

namespace {

// Column picked by each row of a [rows, cols] projection: (r * mul + add) % cols.
std::vector<int64_t> picks(int64_t rows, int64_t cols, int64_t mul, int64_t add) {
  std::vector<int64_t> col(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) col[size_t(r)] = (r * mul + add) % cols;
  return col;
}

// A matrix with one 1 per row: its projection copies elements, exactly in any dtype.
Mat pick_matrix(const std::vector<int64_t>& col, int64_t cols) {
  Mat m{int64_t(col.size()), cols, Vec(col.size() * size_t(cols), 0.0)};
  for (size_t r = 0; r < col.size(); ++r) m.a[r * size_t(cols) + size_t(col[r])] = 1.0;
  return m;
}

// Attention output of the last row of one sequence's history x[len, H], with q = x,
// k[i] = x[kcol[i]] and v[i] = x[vcol[i]], straight from the definition.
Vec decode_reference(const Vec& x, int64_t len, int64_t H, int heads, int kv_heads, int hd, double scale,
                     const std::vector<int64_t>& kcol, const std::vector<int64_t>& vcol) {
  const int group = heads / kv_heads;
  const double* q = &x[size_t((len - 1) * H)];
  Vec out(static_cast<size_t>(H), 0.0), s(static_cast<size_t>(len));
  for (int h = 0; h < heads; ++h) {
    const size_t kv0 = size_t(h / group) * size_t(hd);
    double top = -1e300;
    for (int64_t p = 0; p < len; ++p) {
      double d = 0;
      for (int i = 0; i < hd; ++i) d += q[h * hd + i] * x[size_t(p * H + kcol[kv0 + size_t(i)])];
      s[size_t(p)] = d * scale;
      top = std::max(top, s[size_t(p)]);
    }
    double tot = 0;
    for (auto& e : s) tot += (e = std::exp(e - top));
    for (int64_t p = 0; p < len; ++p)
      for (int i = 0; i < hd; ++i)
        out[size_t(h * hd + i)] += s[size_t(p)] / tot * x[size_t(p * H + vcol[kv0 + size_t(i)])];
  }
  return out;
}

}  // namespace

// Decode attention alone: q/k/v/o projections that only pick elements, so the layer's
// output is the attention output rounded once. The shapes cover 16-byte and 2-byte
// loads (hd % 8), idle lanes (hd 80, 36, 100), groups 1..12 (12: two blocks of heads),
// block sizes that cut the kernel's key steps, one range (capacity 64) and many, and
// sequences shorter than one range next to long ones.
TEST_CASE("gpu decode attention: head dims, groups, paged blocks, short and long sequences") {
  spinfer_context_t* ctx = cuda_context();
  std::mt19937_64 rng(36);
  struct Case { int heads, kv_heads, hd, block_size; int64_t max_len; std::vector<int> prompts; };
  const std::vector<Case> cases = {
      {4, 4, 80, 5, 2048, {700, 3}},         {8, 2, 128, 7, 1024, {300, 1, 130}},
      {8, 1, 256, 16, 512, {200, 9}},        {24, 2, 32, 3, 512, {150, 2}},
      {6, 2, 36, 16, 256, {100, 40}},        {4, 4, 8, 1, 128, {90, 1}},
      {2, 2, 64, 16, 64, {50, 20}},          {2, 1, 100, 16, 512, {333, 5}},
      {4, 4, 128, 16, 4096, {1500, 700, 2, 64}}};
  const int decode_steps = 3;
  const int64_t max_tokens = 1024;
  for (spinfer_dtype_t dt : {SPINFER_DTYPE_F16, SPINFER_DTYPE_BF16})
    for (const Case& k : cases) {
      CAPTURE(name(dt)); CAPTURE(k.heads); CAPTURE(k.kv_heads); CAPTURE(k.hd); CAPTURE(k.block_size);
      CAPTURE(k.max_len);
      const int64_t H = int64_t(k.heads) * k.hd, kvd = int64_t(k.kv_heads) * k.hd;
      const int seqs = int(k.prompts.size());
      const double scale = 2.5 / std::sqrt(double(k.hd));  // peaked enough that the running max matters
      const std::vector<int64_t> qcol = picks(H, H, 1, 0), kcol = picks(kvd, H, 5, 1), vcol = picks(kvd, H, 3, 2);
      DevMatrix q(ctx, pick_matrix(qcol, H), dt), kk(ctx, pick_matrix(kcol, H), dt),
          v(ctx, pick_matrix(vcol, H), dt), o(ctx, pick_matrix(qcol, H), dt);
      spinfer_attention_config_t cfg;
      spinfer_attention_config_init(&cfg);
      cfg.num_heads = k.heads;
      cfg.num_kv_heads = k.kv_heads;
      cfg.use_rope = 0;
      cfg.scale = scale;
      cfg.max_tokens = max_tokens;
      spinfer_attention_t* attn = nullptr;
      SP_OK(spinfer_attention_create(ctx, &attn, q.m, kk.m, v.m, o.m, nullptr, nullptr, nullptr, nullptr,
                                     SPINFER_DTYPE_F32, &cfg, nullptr));
      spinfer_kv_cache_config_t kc;
      spinfer_kv_cache_config_init(&kc);
      kc.num_layers = 1;
      kc.num_kv_heads = k.kv_heads;
      kc.head_dim = k.hd;
      kc.block_size = k.block_size;
      kc.num_blocks = 0;
      for (int len : k.prompts) kc.num_blocks += (len + decode_steps + k.block_size - 1) / k.block_size;
      kc.max_sequences = seqs;
      kc.max_sequence_length = k.max_len;
      kc.dtype = dt;
      spinfer_kv_cache_t* cache = nullptr;
      SP_OK(spinfer_kv_cache_create(ctx, &cache, &kc));
      std::vector<Vec> hist(static_cast<size_t>(seqs));
      // One step: new[s] tokens for each sequence s (0: not in the step); returns the output.
      auto run = [&](const std::vector<int>& fresh) {
        std::vector<int32_t> ids, counts;
        int64_t n = 0;
        for (int s = 0; s < seqs; ++s)
          if (fresh[size_t(s)] > 0) ids.push_back(s), counts.push_back(fresh[size_t(s)]), n += fresh[size_t(s)];
        SP_OK(spinfer_kv_cache_begin_step(cache, ids.data(), counts.data(), int32_t(ids.size()), nullptr));
        Vec x = rounded(ref::random_vec(n * H, -2, 2, rng), dt);
        DevArray dx(x, dt), dy(size_t(n * H), dt);
        SP_OK(spinfer_attention_forward(ctx, attn, cache, 0, dx.p, n, nullptr, dy.p, dt, nullptr));
        int64_t t0 = 0;
        for (size_t i = 0; i < ids.size(); ++i) {
          Vec& h = hist[size_t(ids[i])];
          h.insert(h.end(), x.begin() + t0 * H, x.begin() + (t0 + counts[i]) * H);
          t0 += counts[i];
        }
        return dy.get();
      };
      // Prefill in chunks that alternate between the sequences, so their blocks interleave.
      std::vector<int> left = k.prompts;
      while (*std::max_element(left.begin(), left.end()) > 0) {
        std::vector<int> fresh(size_t(seqs), 0);
        for (int s = 0; s < seqs; ++s) {
          fresh[size_t(s)] = std::min<int>(left[size_t(s)], int(max_tokens / seqs));
          left[size_t(s)] -= fresh[size_t(s)];
        }
        run(fresh);
      }
      for (int d = 0; d < decode_steps; ++d) {
        CAPTURE(d);
        std::vector<double> got = run(std::vector<int>(size_t(seqs), 1));
        for (int s = 0; s < seqs; ++s) {
          CAPTURE(s);
          const int64_t len = int64_t(hist[size_t(s)].size()) / H;
          Vec want = decode_reference(hist[size_t(s)], len, H, k.heads, k.kv_heads, k.hd, double(float(scale)),
                                      kcol, vcol);
          for (int h = 0; h < k.heads; ++h) {  // per head: one wrong lane's dims must show
            CAPTURE(h);
            const size_t a = size_t(h * k.hd), e = a + size_t(k.hd);
            CHECK(ref::rel_err(std::vector<double>(got.begin() + int64_t(s) * H + int64_t(a),
                                                   got.begin() + int64_t(s) * H + int64_t(e)),
                               Vec(want.begin() + int64_t(a), want.begin() + int64_t(e))) < tol_op(dt));
          }
        }
      }
      spinfer_kv_cache_destroy(cache);
      spinfer_attention_destroy(attn);
    }
  spinfer_context_destroy(ctx);
}

TEST_CASE("gpu decoder layer: OPT and LLaMA") {
  spinfer_context_t* ctx = cuda_context();
  std::mt19937_64 rng(34);
  for (spinfer_dtype_t dt : {SPINFER_DTYPE_F16, SPINFER_DTYPE_BF16})
    for (bool opt : {true, false}) {
      CAPTURE(name(dt)); CAPTURE(opt);
      const int heads = 4, kv_heads = opt ? 4 : 2, hd = 32;
      const int64_t H = heads * hd, I = opt ? 512 : 384;
      ref::LayerWeights w = ref::random_layer(opt, heads, kv_heads, hd, H, I, {3, 3, 2, 3, 3}, rng);
      w.eps = 1e-5;
      for (ref::Vec* bias : {&w.attn.qb, &w.attn.kb, &w.attn.vb, &w.attn.ob, &w.mlp.up_b, &w.mlp.down_b})
        *bias = rounded(*bias, dt);  // the layer adds biases in the activation dtype
      DevMatrix q(ctx, w.attn.q, dt), k(ctx, w.attn.k, dt), v(ctx, w.attn.v, dt), o(ctx, w.attn.o, dt),
          up(ctx, w.mlp.up, dt), down(ctx, w.mlp.down, dt), gate;
      if (!opt) gate.~DevMatrix(), new (&gate) DevMatrix(ctx, w.mlp.gate, dt);
      std::vector<float> qb = f32(w.attn.qb), kb = f32(w.attn.kb), vb = f32(w.attn.vb), ob = f32(w.attn.ob),
                         ub = f32(w.mlp.up_b), db = f32(w.mlp.down_b), n1w = f32(w.n1w), n1b = f32(w.n1b),
                         n2w = f32(w.n2w), n2b = f32(w.n2b);
      spinfer_decoder_weights_t dw;
      spinfer_decoder_weights_init(&dw);
      dw.q_proj = q.m; dw.k_proj = k.m; dw.v_proj = v.m; dw.o_proj = o.m;
      dw.gate_proj = gate.m; dw.up_proj = up.m; dw.down_proj = down.m;
      dw.q_bias = ptr(qb); dw.k_bias = ptr(kb); dw.v_bias = ptr(vb); dw.o_bias = ptr(ob);
      dw.up_bias = ptr(ub); dw.down_bias = ptr(db);
      dw.attn_norm_weight = ptr(n1w); dw.attn_norm_bias = ptr(n1b);
      dw.mlp_norm_weight = ptr(n2w); dw.mlp_norm_bias = ptr(n2b);
      spinfer_decoder_config_t cfg;
      spinfer_decoder_config_init(&cfg);
      cfg.arch = opt ? SPINFER_ARCH_OPT : SPINFER_ARCH_LLAMA;
      cfg.hidden_size = H;
      cfg.intermediate_size = I;
      cfg.num_heads = heads;
      cfg.num_kv_heads = kv_heads;
      cfg.norm_eps = 1e-5;
      cfg.max_tokens = 512;
      spinfer_decoder_layer_t* layer = nullptr;
      SP_OK(spinfer_decoder_layer_create(ctx, &layer, &dw, &cfg, nullptr));
      auto forward = [&](spinfer_kv_cache_t* cache, const void* x, int64_t n, void* y) {
        return spinfer_decoder_layer_forward(ctx, layer, cache, 0, x, n, y, dt, nullptr);
      };
      auto reference = [&](const Vec& hist, int64_t len, int64_t first) {
        Vec all = ref::decoder_seq(hist, len, w);
        return Vec(all.begin() + first * H, all.end());
      };
      // The layer output adds the input back: compare relative to the whole output.
      run_steps(ctx, dt, H, kv_heads, hd, 100, forward, reference, rng, tol_layer(dt));
      spinfer_decoder_layer_destroy(layer);
    }
  spinfer_context_destroy(ctx);
}

TEST_CASE("gpu layer API: dtype and location errors") {
  spinfer_context_t* ctx = cuda_context();
  std::mt19937_64 rng(35);
  Mat w = ref::random_mat(64, 64, 0.5, 0, rng);
  DevMatrix dw(ctx, w, SPINFER_DTYPE_F16);
  spinfer_linear_t* lin = nullptr;
  SP_OK(spinfer_linear_create(ctx, &lin, dw.m, nullptr, SPINFER_DTYPE_F32, nullptr, nullptr));
  DevArray x(64, SPINFER_DTYPE_F16), y(64, SPINFER_DTYPE_F16);
  CHECK(spinfer_linear_forward(ctx, lin, x.p, 1, nullptr, y.p, SPINFER_DTYPE_BF16, nullptr) ==
        SPINFER_STATUS_UNSUPPORTED_DTYPE);
  spinfer_linear_destroy(lin);
  // A device matrix on a host context is refused.
  spinfer_context_t* host = nullptr;
  SP_OK(spinfer_context_create(&host, SPINFER_BACKEND_HOST));
  CHECK(spinfer_linear_create(host, &lin, dw.m, nullptr, SPINFER_DTYPE_F32, nullptr, nullptr) ==
        SPINFER_STATUS_WRONG_LOCATION);
  spinfer_context_destroy(host);
  spinfer_context_destroy(ctx);
}
