// Float64 reference of the transformer layers, written from the Hugging Face
// formulas (OPTDecoderLayer, LlamaDecoderLayer, and the Qwen2 / Qwen3 differences:
// q/k/v biases, per-head q/k RMSNorm before RoPE) and independent of spinfer's code:
// dense matrices, whole-history attention recomputed from scratch every step.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace spinfer::test::ref {

using Vec = std::vector<double>;

// Dense row-major matrix.
struct Mat {
  int64_t rows = 0, cols = 0;
  Vec a;
  double at(int64_t r, int64_t c) const { return a[size_t(r * cols + c)]; }
};

// Random matrix of values k/256 (k in [-256, 256], exactly representable in fp16 and
// bf16) with a fraction `sparsity` of zeros, scaled by 2^-shift to keep activations tame.
inline Mat random_mat(int64_t rows, int64_t cols, double sparsity, int shift, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> k(-256, 256);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Mat m{rows, cols, Vec(size_t(rows * cols), 0.0)};
  for (auto& v : m.a) {
    if (u(rng) < sparsity) continue;
    int kk = k(rng);
    if (kk == 0) kk = 1;
    v = std::ldexp(double(kk) / 256.0, -shift);
  }
  return m;
}

inline Vec random_vec(int64_t n, double lo, double hi, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> k(int(lo * 256), int(hi * 256));
  Vec v(static_cast<size_t>(n));
  for (auto& x : v) x = double(k(rng)) / 256.0;
  return v;
}

// y[n, M] = x[n, K] W^T + b
inline Vec linear(const Vec& x, int64_t n, const Mat& w, const Vec& b) {
  Vec y(size_t(n * w.rows));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = 0; r < w.rows; ++r) {
      double s = b.empty() ? 0.0 : b[size_t(r)];
      for (int64_t c = 0; c < w.cols; ++c) s += x[size_t(t * w.cols + c)] * w.at(r, c);
      y[size_t(t * w.rows + r)] = s;
    }
  return y;
}

inline double act(int kind, double x) {  // spinfer_activation_t values
  const double pi = 3.14159265358979323846;
  switch (kind) {
    case 1: return x > 0 ? x : 0;
    case 2: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case 3: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / pi) * (x + 0.044715 * x * x * x)));
    case 4: return x / (1 + std::exp(-x));
    default: return x;
  }
}

// LayerNorm (with bias) or RMSNorm (bias empty, rms = true) over rows of length m.
inline Vec norm(const Vec& x, int64_t n, int64_t m, const Vec& w, const Vec& b, bool rms, double eps) {
  Vec y(x.size());
  for (int64_t t = 0; t < n; ++t) {
    const double* r = x.data() + t * m;
    double mean = 0;
    if (!rms) {
      for (int64_t j = 0; j < m; ++j) mean += r[j];
      mean /= double(m);
    }
    double var = 0;
    for (int64_t j = 0; j < m; ++j) var += (r[j] - mean) * (r[j] - mean);
    var /= double(m);
    for (int64_t j = 0; j < m; ++j)
      y[size_t(t * m + j)] = (r[j] - mean) / std::sqrt(var + eps) * w[size_t(j)] + (b.empty() ? 0.0 : b[size_t(j)]);
  }
  return y;
}

// HF rotate-half RoPE of one head vector at position pos.
inline void rope(double* v, int hd, int64_t pos, double theta) {
  const int half = hd / 2;
  for (int i = 0; i < half; ++i) {
    const double f = std::pow(theta, -2.0 * i / hd), a = double(pos) * f;
    const double x1 = v[i], x2 = v[i + half];
    v[i] = x1 * std::cos(a) - x2 * std::sin(a);
    v[i + half] = x2 * std::cos(a) + x1 * std::sin(a);
  }
}

struct AttnWeights {
  Mat q, k, v, o;
  Vec qb, kb, vb, ob;
  Vec qn, kn;           // Qwen3: per-head RMSNorm weights of q and k [hd] (empty = none)
  double qk_eps = 1e-6;
};

// RMSNorm of one head vector in place (Qwen3 q_norm / k_norm).
inline void head_rms_norm(double* v, int hd, const Vec& w, double eps) {
  double s = 0;
  for (int i = 0; i < hd; ++i) s += v[i] * v[i];
  const double inv = 1.0 / std::sqrt(s / hd + eps);
  for (int i = 0; i < hd; ++i) v[i] *= inv * w[size_t(i)];
}

// Causal attention of ONE sequence over its whole history x[len, H]: returns the
// output rows [first, len) (the new tokens of the current step).
inline Vec attention_seq(const Vec& x, int64_t len, int64_t first, const AttnWeights& w, int heads,
                         int kv_heads, int hd, bool use_rope, double theta) {
  Vec q = linear(x, len, w.q, w.qb), k = linear(x, len, w.k, w.kb), v = linear(x, len, w.v, w.vb);
  const int64_t qd = int64_t(heads) * hd, kvd = int64_t(kv_heads) * hd;
  if (!w.qn.empty())
    for (int64_t t = 0; t < len; ++t) {
      for (int h = 0; h < heads; ++h) head_rms_norm(&q[size_t(t * qd + h * hd)], hd, w.qn, w.qk_eps);
      for (int h = 0; h < kv_heads; ++h) head_rms_norm(&k[size_t(t * kvd + h * hd)], hd, w.kn, w.qk_eps);
    }
  if (use_rope)
    for (int64_t t = 0; t < len; ++t) {
      for (int h = 0; h < heads; ++h) rope(&q[size_t(t * qd + h * hd)], hd, t, theta);
      for (int h = 0; h < kv_heads; ++h) rope(&k[size_t(t * kvd + h * hd)], hd, t, theta);
    }
  const int64_t n = len - first;
  Vec att(size_t(n * qd), 0.0);
  const double scale = 1.0 / std::sqrt(double(hd));
  for (int64_t t = first; t < len; ++t)
    for (int h = 0; h < heads; ++h) {
      const int g = h / (heads / kv_heads);
      Vec s(size_t(t + 1));
      double top = -1e300;
      for (int64_t p = 0; p <= t; ++p) {
        double d = 0;
        for (int i = 0; i < hd; ++i) d += q[size_t(t * qd + h * hd + i)] * k[size_t(p * kvd + g * hd + i)];
        s[size_t(p)] = d * scale;
        top = std::max(top, s[size_t(p)]);
      }
      double tot = 0;
      for (auto& e : s) tot += (e = std::exp(e - top));
      for (int64_t p = 0; p <= t; ++p)
        for (int i = 0; i < hd; ++i)
          att[size_t((t - first) * qd + h * hd + i)] += s[size_t(p)] / tot * v[size_t(p * kvd + g * hd + i)];
    }
  return linear(att, n, w.o, w.ob);
}

struct MlpWeights {
  bool gated = false;
  int activation = 1;
  Mat gate, up, down;
  Vec up_b, down_b;
};

inline Vec mlp(const Vec& x, int64_t n, const MlpWeights& w) {
  Vec u = linear(x, n, w.up, w.up_b);
  if (w.gated) {
    Vec g = linear(x, n, w.gate, {});
    for (size_t i = 0; i < u.size(); ++i) u[i] *= act(w.activation, g[i]);
  } else {
    for (auto& e : u) e = act(w.activation, e);
  }
  return linear(u, n, w.down, w.down_b);
}

struct LayerWeights {
  bool opt = false;  // LayerNorm + learned positions, else RMSNorm + RoPE
  int heads = 0, kv_heads = 0, hd = 0;
  double eps = 1e-5, theta = 10000.0;
  AttnWeights attn;
  MlpWeights mlp;
  Vec n1w, n1b, n2w, n2b;
};

// A random decoder layer: hidden H, intermediate I; weights at 60 % sparsity with
// magnitudes 2^-shift (shifts of q, k, v, o, then of the MLP matrices), norm weights in
// [0.5, 1.5] and, for OPT, biases in [-0.5, 0.5]. The draws come in one fixed order, so a
// seed gives the same layer to every test that uses it. eps: OPT 1e-5, LLaMA 1e-6.
struct LayerShifts {
  int q = 2, k = 2, v = 2, o = 2, mlp = 2;
};
inline LayerWeights random_layer(bool opt, int heads, int kv_heads, int hd, int64_t H, int64_t I,
                                 const LayerShifts& sh, std::mt19937_64& rng) {
  LayerWeights w;
  w.opt = opt;
  w.heads = heads;
  w.kv_heads = kv_heads;
  w.hd = hd;
  w.eps = opt ? 1e-5 : 1e-6;
  const int64_t qd = int64_t(heads) * hd, kvd = int64_t(kv_heads) * hd;
  w.attn.q = random_mat(qd, H, 0.6, sh.q, rng);
  w.attn.k = random_mat(kvd, H, 0.6, sh.k, rng);
  w.attn.v = random_mat(kvd, H, 0.6, sh.v, rng);
  w.attn.o = random_mat(H, qd, 0.6, sh.o, rng);
  w.mlp.gated = !opt;
  w.mlp.activation = opt ? 1 : 4;  // ReLU / SiLU
  w.mlp.up = random_mat(I, H, 0.6, sh.mlp, rng);
  w.mlp.down = random_mat(H, I, 0.6, sh.mlp, rng);
  if (!opt) w.mlp.gate = random_mat(I, H, 0.6, sh.mlp, rng);
  w.n1w = random_vec(H, 0.5, 1.5, rng);
  w.n2w = random_vec(H, 0.5, 1.5, rng);
  if (opt) {
    w.attn.qb = random_vec(qd, -0.5, 0.5, rng);
    w.attn.kb = random_vec(kvd, -0.5, 0.5, rng);
    w.attn.vb = random_vec(kvd, -0.5, 0.5, rng);
    w.attn.ob = random_vec(H, -0.5, 0.5, rng);
    w.mlp.up_b = random_vec(I, -0.5, 0.5, rng);
    w.mlp.down_b = random_vec(H, -0.5, 0.5, rng);
    w.n1b = random_vec(H, -0.5, 0.5, rng);
    w.n2b = random_vec(H, -0.5, 0.5, rng);
  }
  return w;
}

// Pre-norm decoder layer over one sequence's whole history h[len, H]; returns the new
// hidden rows of ALL positions (the caller keeps history for the next layer).
inline Vec decoder_seq(const Vec& h, int64_t len, const LayerWeights& w) {
  const int64_t H = w.attn.q.cols;
  Vec a = attention_seq(norm(h, len, H, w.n1w, w.n1b, !w.opt, w.eps), len, 0, w.attn, w.heads,
                        w.kv_heads, w.hd, !w.opt, w.theta);
  Vec h1 = h;
  for (size_t i = 0; i < h1.size(); ++i) h1[i] += a[i];
  Vec m = mlp(norm(h1, len, H, w.n2w, w.n2b, !w.opt, w.eps), len, w.mlp);
  for (size_t i = 0; i < h1.size(); ++i) h1[i] += m[i];
  return h1;
}

inline double rel_err(const std::vector<double>& got, const Vec& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = got[i] - want[i];
    num += std::isnan(got[i]) ? 1e300 : d * d;
    den += want[i] * want[i];
  }
  return std::sqrt(num / (den > 0 ? den : 1));
}

}  // namespace spinfer::test::ref
