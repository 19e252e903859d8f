// libFuzzer target: random sequences of layer and KV-cache calls (spinfer.h section 7:
// linear, MLP, KV cache, attention, decoder layer) with random configs -- bad enums,
// zero / negative / huge sizes, mismatched matrices, NULLs, truncated struct_size --
// and forwards with random n into host buffers exactly as large as the contract says
// (ASan sees any access past them). Every call must return a real status with a
// message when it fails (never INTERNAL_ERROR), leave output handles NULL, and agree
// with a small contract model where the outcome is certain (NULL handles and
// pointers, n outside [0, max_tokens], a forward of a well-formed linear / MLP).
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "fuzz_common.hpp"

using namespace spinfer::fuzz;

namespace {

// Row / column sizes of the shared matrix pool; every layer shape is drawn from them.
constexpr int64_t kDims[] = {4, 8, 16, 24, 32, 48, 64};

// Encoded random matrices of every (rows, cols) in kDims^2, F16 and BF16, made once.
struct Pool {
  std::map<std::tuple<int64_t, int64_t, int>, spinfer_matrix_t*> mats;
  Pool() {
    uint32_t s = 1;
    for (int64_t r : kDims)
      for (int64_t c : kDims)
        for (int storage : {1, 2}) {
          std::vector<float> w(size_t(r * c));
          for (auto& x : w) {
            s = s * 1664525u + 1013904223u;
            x = (s >> 24) % 3 == 0 ? float(int(s >> 8 & 0xff) - 128) / 256.0f : 0.0f;
          }
          spinfer_matrix_t* m = nullptr;
          expect(spinfer_matrix_encode(&m, w.data(), SPINFER_DTYPE_F32, r, c, c, spinfer_dtype_t(storage)) ==
                     SPINFER_STATUS_SUCCESS,
                 "pool encode");
          mats[{r, c, storage}] = m;
        }
  }
  // The matrix of that shape, or NULL when the pool has none.
  spinfer_matrix_t* get(int64_t r, int64_t c, int storage) const {
    auto it = mats.find({r, c, storage});
    return it == mats.end() ? nullptr : it->second;
  }
  ~Pool() {
    for (auto& [shape, m] : mats) spinfer_matrix_destroy(m);
  }
};
const Pool& pool() {
  static Pool p;  // lives for the process (LeakSanitizer: still reachable)
  return p;
}

// A dimension: mostly from the pool's sizes, sometimes anything.
int64_t pick_dim(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 15)) {
    case 0: return in.ConsumeIntegral<int64_t>();
    case 1: return in.ConsumeIntegralInRange<int64_t>(-2, 70);
    default: return kDims[in.ConsumeIntegralInRange<int>(0, 6)];
  }
}
int pick_small(FuzzedDataProvider& in, int lo, int hi) {
  return in.ConsumeIntegralInRange<int>(0, 15) == 0 ? in.ConsumeIntegral<int>() : in.ConsumeIntegralInRange<int>(lo, hi);
}
int pick_enum(FuzzedDataProvider& in, int valid_count) {
  return in.ConsumeIntegralInRange<int>(0, 11) == 0 ? in.ConsumeIntegral<int>()
                                                     : in.ConsumeIntegralInRange<int>(0, valid_count - 1);
}
size_t esize(int dtype) { return dtype == 0 ? 4 : 2; }
bool valid_dtype(int t) { return t >= 0 && t <= 2; }

// The matrix a role asks for: usually the pool's matrix of the wanted shape,
// sometimes another shape, the other storage dtype, or NULL.
const spinfer_matrix_t* pick_matrix(FuzzedDataProvider& in, int64_t rows, int64_t cols, int storage) {
  switch (in.ConsumeIntegralInRange<int>(0, 19)) {
    case 0: return nullptr;
    case 1: return pool().get(kDims[in.ConsumeIntegralInRange<int>(0, 6)], kDims[in.ConsumeIntegralInRange<int>(0, 6)], storage);
    case 2: return pool().get(rows, cols, 3 - storage);
    default: return pool().get(rows, cols, storage);
  }
}

// A host buffer of exactly `bytes` (ASan marks its end), finite values.
struct Buffer {
  std::unique_ptr<uint8_t[]> mem;
  Buffer(size_t bytes, int dtype) : mem(new uint8_t[bytes ? bytes : 1]) {
    const size_t es = esize(dtype);
    for (size_t i = 0; i + es <= bytes; i += es) {
      const float v = float(int(i % 13) - 6) * 0.125f;
      if (es == 4) std::memcpy(mem.get() + i, &v, 4);
      else {
        const uint16_t h = dtype == 1 ? spinfer::float_to_half(v) : spinfer::float_to_bf16(v);
        std::memcpy(mem.get() + i, &h, 2);
      }
    }
  }
  uint8_t* get() { return mem.get(); }
};

void check(spinfer_status_t s, int predicted, const char* call) {
  // predicted: 1 = must succeed, 0 = must fail, -1 = either (but a failure is clean).
  count(call, s);
  if (predicted == 1 && s != SPINFER_STATUS_SUCCESS) {
    std::fprintf(stderr, "%s: %s: %s\n", call, spinfer_status_string(s), spinfer_last_error_message());
    fail("a valid call failed");
  }
  if (predicted == 0 && s == SPINFER_STATUS_SUCCESS) {
    std::fprintf(stderr, "%s succeeded\n", call);
    fail("an invalid call succeeded");
  }
  if (s != SPINFER_STATUS_SUCCESS) {
    if (s == SPINFER_STATUS_INTERNAL_ERROR) std::fprintf(stderr, "%s: %s\n", call, spinfer_last_error_message());
    expect_clean_failure(s, call);
  }
}

// Handles made so far, with the facts the forwards need.
struct Linear { spinfer_linear_t* h; int64_t in, out; };
struct Mlp { spinfer_mlp_t* h; int64_t hidden, max_tokens; };
struct Cache { spinfer_kv_cache_t* h; int64_t step_tokens; };
struct Attn { spinfer_attention_t* h; int64_t hidden, max_tokens; size_t cache; };
struct Decoder { spinfer_decoder_layer_t* h; int64_t hidden, max_tokens; size_t cache; };

struct State {
  spinfer_context_t* ctx = nullptr;
  std::vector<Linear> linears;
  std::vector<Mlp> mlps;
  std::vector<Cache> caches;
  std::vector<Attn> attns;
  std::vector<Decoder> decoders;
  ~State() {
    for (auto& x : linears) spinfer_linear_destroy(x.h);
    for (auto& x : mlps) spinfer_mlp_destroy(x.h);
    for (auto& x : attns) spinfer_attention_destroy(x.h);
    for (auto& x : decoders) spinfer_decoder_layer_destroy(x.h);
    for (auto& x : caches) spinfer_kv_cache_destroy(x.h);
    spinfer_context_destroy(ctx);
  }
  spinfer_context_t* pick_ctx(FuzzedDataProvider& in) { return in.ConsumeIntegralInRange<int>(0, 15) ? ctx : nullptr; }
};

// A handle from a list, or NULL (index past the end).
template <class T>
T* pick(std::vector<T>& list, FuzzedDataProvider& in) {
  if (list.empty()) return nullptr;
  const size_t i = in.ConsumeIntegralInRange<size_t>(0, list.size());
  return i < list.size() ? &list[i] : nullptr;
}

// After a create: success gives a handle, failure leaves NULL.
template <class H>
bool created(spinfer_status_t s, H* h, const char* call) {
  if (s != SPINFER_STATUS_SUCCESS) {
    expect(h == nullptr, "a failed create left a handle");
    return false;
  }
  expect(h != nullptr, "a successful create gave no handle");
  (void)call;
  return true;
}

std::vector<float> bias_of(int64_t n) { return std::vector<float>(size_t(std::max<int64_t>(n, 0)), 0.25f); }
// The matrix's rows or cols (0 for NULL).
int64_t extent_of(const spinfer_matrix_t* m, bool rows) {
  spinfer_matrix_info_t info{};
  info.struct_size = sizeof info;
  if (!m || spinfer_matrix_get_info(m, &info) != SPINFER_STATUS_SUCCESS) return 0;
  return rows ? info.rows : info.cols;
}
// A bias exactly as long as the matrix it goes with has rows (the contract).
std::vector<float> bias_for(const spinfer_matrix_t* m) { return bias_of(extent_of(m, true)); }

void op_linear_create(State& st, FuzzedDataProvider& in) {
  const int64_t out = pick_dim(in), infeat = pick_dim(in);
  const int storage = in.ConsumeIntegralInRange<int>(1, 2);
  const spinfer_matrix_t* w = pick_matrix(in, out, infeat, storage);
  spinfer_linear_config_t cfg;
  spinfer_linear_config_init(&cfg);
  cfg.activation = spinfer_activation_t(pick_enum(in, 5));
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0) cfg.struct_size = in.ConsumeIntegralInRange<size_t>(0, sizeof cfg - 1);
  const bool use_bias = in.ConsumeBool();
  const int bias_dtype = pick_enum(in, 3);
  spinfer_matrix_info_t info{};
  info.struct_size = sizeof info;
  int64_t rows = -1;
  if (w && spinfer_matrix_get_info(w, &info) == SPINFER_STATUS_SUCCESS) rows = info.rows;
  const auto bias = bias_of(rows);  // F32-sized: enough for every bias dtype
  spinfer_context_t* ctx = st.pick_ctx(in);
  const bool null_out = in.ConsumeIntegralInRange<int>(0, 15) == 0;
  spinfer_linear_t* h = reinterpret_cast<spinfer_linear_t*>(1);
  const spinfer_status_t s = spinfer_linear_create(ctx, null_out ? nullptr : &h, w, use_bias ? bias.data() : nullptr,
                                                   spinfer_dtype_t(bias_dtype), &cfg, nullptr);
  const bool certain_bad = !ctx || null_out || !w || cfg.struct_size < sizeof cfg ||
                           unsigned(cfg.activation) > 4u || (use_bias && !valid_dtype(bias_dtype));
  const bool certain_ok = !certain_bad;
  check(s, certain_bad ? 0 : certain_ok ? 1 : -1, "spinfer_linear_create");
  if (!null_out && created(s, h, "linear")) st.linears.push_back({h, info.cols, info.rows});
}

void op_linear_forward(State& st, FuzzedDataProvider& in) {
  Linear* l = pick(st.linears, in);
  const int64_t n = in.ConsumeIntegralInRange<int>(0, 9) == 0 ? in.ConsumeIntegralInRange<int64_t>(-3, 2000)
                                                               : in.ConsumeIntegralInRange<int64_t>(0, 12);
  const int dtype = pick_enum(in, 3);
  const bool residual = in.ConsumeBool();
  const int64_t nn = std::clamp<int64_t>(n, 0, 2000);
  const size_t es = valid_dtype(dtype) ? esize(dtype) : 4;
  const int64_t inf = l ? l->in : 1, outf = l ? l->out : 1;
  Buffer x(size_t(nn * inf) * es, dtype), y(size_t(nn * outf) * es, dtype), r(size_t(nn * outf) * es, dtype);
  spinfer_context_t* ctx = st.pick_ctx(in);
  const spinfer_status_t s = spinfer_linear_forward(ctx, l ? l->h : nullptr, x.get(), n, residual ? r.get() : nullptr,
                                                    y.get(), spinfer_dtype_t(dtype), nullptr);
  const bool ok = ctx && l && n >= 0 && valid_dtype(dtype);
  check(s, ok ? 1 : 0, "spinfer_linear_forward");
}

void op_mlp_create(State& st, FuzzedDataProvider& in) {
  const int64_t hidden = pick_dim(in), inter = pick_dim(in);
  const int storage = in.ConsumeIntegralInRange<int>(1, 2);
  spinfer_mlp_config_t cfg;
  spinfer_mlp_config_init(&cfg);
  cfg.kind = spinfer_mlp_kind_t(pick_enum(in, 2));
  cfg.activation = spinfer_activation_t(pick_enum(in, 5));
  cfg.max_tokens = in.ConsumeIntegralInRange<int>(0, 7) == 0 ? in.ConsumeIntegral<int64_t>()
                                                             : in.ConsumeIntegralInRange<int64_t>(1, 16);
  cfg.fuse_gate_up = in.ConsumeIntegralInRange<int>(-1, 2);
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0) cfg.struct_size = in.ConsumeIntegralInRange<size_t>(0, sizeof cfg - 1);
  const bool gated = cfg.kind == SPINFER_MLP_GATED;
  const spinfer_matrix_t* gate = gated || in.ConsumeIntegralInRange<int>(0, 7) == 0 ? pick_matrix(in, inter, hidden, storage) : nullptr;
  const spinfer_matrix_t* up = pick_matrix(in, inter, hidden, storage);
  const spinfer_matrix_t* down = pick_matrix(in, hidden, inter, storage);
  const bool biases = in.ConsumeBool();
  const int bias_dtype = pick_enum(in, 3);
  const auto ub = bias_for(up), db = bias_for(down);
  const bool bias_sized = up && down;
  spinfer_context_t* ctx = st.pick_ctx(in);
  spinfer_mlp_t* h = reinterpret_cast<spinfer_mlp_t*>(1);
  // Biases are only passed when they are as long as the shapes ask (the contract).
  const bool pass_bias = biases && bias_sized;
  const spinfer_status_t s = spinfer_mlp_create(ctx, &h, gate, up, down, pass_bias ? ub.data() : nullptr,
                                                pass_bias ? db.data() : nullptr, spinfer_dtype_t(bias_dtype), &cfg, nullptr);
  const bool certain_bad = !ctx || !up || !down || cfg.struct_size < sizeof cfg || unsigned(cfg.kind) > 1u ||
                           unsigned(cfg.activation) > 4u || cfg.max_tokens < 1 || cfg.max_tokens > (int64_t(1) << 24) || (gated && !gate);
  check(s, certain_bad ? 0 : -1, "spinfer_mlp_create");
  // The width is what the matrices say (the pool may serve another shape than asked for).
  if (created(s, h, "mlp")) st.mlps.push_back({h, extent_of(up, false), cfg.max_tokens});
}

void op_mlp_forward(State& st, FuzzedDataProvider& in) {
  Mlp* m = pick(st.mlps, in);
  const int64_t n = in.ConsumeIntegralInRange<int>(0, 9) == 0 ? in.ConsumeIntegralInRange<int64_t>(-3, 40)
                                                               : in.ConsumeIntegralInRange<int64_t>(0, 16);
  const int dtype = pick_enum(in, 3);
  const bool residual = in.ConsumeBool();
  const int64_t nn = std::clamp<int64_t>(n, 0, 40), H = m ? m->hidden : 1;
  const size_t es = valid_dtype(dtype) ? esize(dtype) : 4;
  Buffer x(size_t(nn * H) * es, dtype), y(size_t(nn * H) * es, dtype), r(size_t(nn * H) * es, dtype);
  spinfer_context_t* ctx = st.pick_ctx(in);
  const spinfer_status_t s = spinfer_mlp_forward(ctx, m ? m->h : nullptr, x.get(), n, residual ? r.get() : nullptr,
                                                 y.get(), spinfer_dtype_t(dtype), nullptr);
  const bool ok = ctx && m && n >= 0 && n <= m->max_tokens && valid_dtype(dtype);
  check(s, ok ? 1 : 0, "spinfer_mlp_forward");
}

void op_cache_create(State& st, FuzzedDataProvider& in) {
  spinfer_kv_cache_config_t kc;
  spinfer_kv_cache_config_init(&kc);
  kc.num_layers = pick_small(in, 0, 3);
  kc.num_kv_heads = pick_small(in, 0, 4);
  kc.head_dim = pick_small(in, 0, 17);
  kc.block_size = pick_small(in, 0, 9);
  kc.num_blocks = in.ConsumeIntegralInRange<int>(0, 15) == 0 ? in.ConsumeIntegral<int64_t>() : in.ConsumeIntegralInRange<int64_t>(0, 24);
  kc.max_sequences = pick_small(in, 0, 4);
  kc.max_sequence_length = in.ConsumeIntegralInRange<int>(0, 15) == 0 ? in.ConsumeIntegral<int64_t>()
                                                                      : in.ConsumeIntegralInRange<int64_t>(0, 64);
  kc.dtype = spinfer_dtype_t(pick_enum(in, 3));
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0) kc.struct_size = in.ConsumeIntegralInRange<size_t>(0, sizeof kc - 1);
  // Keep the pool small: skip configs that would allocate more than 8 MiB.
  const double bytes = double(std::max(kc.num_layers, 0)) * std::max(kc.num_kv_heads, 0) * std::max(kc.head_dim, 0) *
                       std::max(kc.block_size, 0) * double(std::max<int64_t>(kc.num_blocks, 0)) * 8.0;
  if (bytes > 8.0 * (1 << 20)) return;
  spinfer_context_t* ctx = st.pick_ctx(in);
  spinfer_kv_cache_t* h = reinterpret_cast<spinfer_kv_cache_t*>(1);
  const spinfer_status_t s = spinfer_kv_cache_create(ctx, &h, &kc);
  const bool ok = ctx && kc.struct_size >= sizeof kc && kc.num_layers >= 1 && kc.num_kv_heads >= 1 &&
                  kc.head_dim >= 2 && kc.head_dim <= 256 && kc.head_dim % 2 == 0 && kc.block_size >= 1 &&
                  kc.block_size <= 1024 && kc.num_blocks >= 1 && kc.max_sequences >= 1 &&
                  kc.max_sequences <= 65536 && kc.max_sequence_length >= 1 &&
                  kc.max_sequence_length < (int64_t(1) << 31) && valid_dtype(kc.dtype);
  check(s, ok ? 1 : 0, "spinfer_kv_cache_create");
  if (created(s, h, "cache")) st.caches.push_back({h, 0});
}

void op_cache_step(State& st, FuzzedDataProvider& in) {
  Cache* c = pick(st.caches, in);
  const int32_t count = in.ConsumeIntegralInRange<int32_t>(-1, 5);
  std::vector<int32_t> seqs(size_t(std::max(count, 0) + 1)), tokens(seqs.size());
  int64_t total = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    seqs[i] = in.ConsumeIntegralInRange<int32_t>(-1, 4);
    tokens[i] = in.ConsumeIntegralInRange<int32_t>(-1, 9);
    if (int32_t(i) < count) total += tokens[i];
  }
  const spinfer_status_t s = spinfer_kv_cache_begin_step(c ? c->h : nullptr, seqs.data(), tokens.data(), count, nullptr);
  check(s, c ? -1 : 0, "spinfer_kv_cache_begin_step");
  if (c && s == SPINFER_STATUS_SUCCESS) c->step_tokens = total;
  if (c && in.ConsumeIntegralInRange<int>(0, 3) == 0) {
    const int32_t seq = in.ConsumeIntegralInRange<int32_t>(-1, 4);
    check(spinfer_kv_cache_release_sequence(c->h, seq), -1, "spinfer_kv_cache_release_sequence");
    int64_t len = -1, free_blocks = -1;
    const spinfer_status_t ls = spinfer_kv_cache_sequence_length(c->h, seq, &len);
    check(ls, -1, "spinfer_kv_cache_sequence_length");
    if (ls == SPINFER_STATUS_SUCCESS) expect(len == 0, "released sequence has a length");
    check(spinfer_kv_cache_free_blocks(c->h, &free_blocks), 1, "spinfer_kv_cache_free_blocks");
    expect(free_blocks >= 0, "negative free blocks");
  }
}

// A KV cache that fits a new attention block / decoder layer, with a step begun of
// `tokens` tokens over two sequences, so forwards can get past the argument checks.
// Returns its index in st.caches (or past the end when it could not be made).
size_t matching_cache(State& st, FuzzedDataProvider& in, int kv_heads, int head_dim, int64_t max_tokens) {
  spinfer_kv_cache_config_t kc;
  spinfer_kv_cache_config_init(&kc);
  kc.num_layers = 2;
  kc.num_kv_heads = kv_heads;
  kc.head_dim = head_dim;
  kc.block_size = 4;
  kc.num_blocks = 16;
  kc.max_sequences = 2;
  kc.max_sequence_length = 32;
  kc.dtype = SPINFER_DTYPE_F32;
  spinfer_kv_cache_t* h = nullptr;
  if (spinfer_kv_cache_create(st.ctx, &h, &kc) != SPINFER_STATUS_SUCCESS) return st.caches.size() + 1;
  const int32_t seqs[2] = {0, 1};
  const int32_t a = in.ConsumeIntegralInRange<int32_t>(1, int32_t(std::clamp<int64_t>(max_tokens, 1, 8)));
  const int32_t b = in.ConsumeIntegralInRange<int32_t>(0, int32_t(std::clamp<int64_t>(max_tokens - a, 0, 8)));
  const int32_t tokens[2] = {a, b};
  int64_t total = 0;
  if (spinfer_kv_cache_begin_step(h, seqs, tokens, b ? 2 : 1, nullptr) == SPINFER_STATUS_SUCCESS) total = a + b;
  st.caches.push_back({h, total});
  return st.caches.size() - 1;
}

// Shapes of an attention block: heads, kv heads, head_dim with hidden = heads * head_dim
// mostly (any hidden sometimes).
struct AttnShape { int heads, kv_heads, hd; int64_t hidden; };
AttnShape pick_attn_shape(FuzzedDataProvider& in) {
  AttnShape a;
  a.heads = pick_small(in, 0, 4);
  a.kv_heads = pick_small(in, 0, 4);
  a.hd = pick_small(in, 0, 16);
  a.hidden = in.ConsumeIntegralInRange<int>(0, 7) == 0 ? pick_dim(in) : int64_t(a.heads) * a.hd;
  return a;
}

void op_attention_create(State& st, FuzzedDataProvider& in) {
  const AttnShape a = pick_attn_shape(in);
  const int storage = in.ConsumeIntegralInRange<int>(1, 2);
  const int64_t qd = int64_t(a.heads) * a.hd, kvd = int64_t(a.kv_heads) * a.hd;
  const spinfer_matrix_t *q = pick_matrix(in, qd, a.hidden, storage), *k = pick_matrix(in, kvd, a.hidden, storage),
                         *v = pick_matrix(in, kvd, a.hidden, storage), *o = pick_matrix(in, a.hidden, qd, storage);
  spinfer_attention_config_t cfg;
  spinfer_attention_config_init(&cfg);
  cfg.num_heads = a.heads;
  cfg.num_kv_heads = in.ConsumeBool() ? a.kv_heads : 0;
  cfg.head_dim = in.ConsumeBool() ? a.hd : 0;
  cfg.use_rope = in.ConsumeIntegralInRange<int>(-1, 2);
  cfg.rope_theta = in.ConsumeBool() ? 10000.0 : in.ConsumeFloatingPoint<double>();
  cfg.scale = in.ConsumeBool() ? 0.0 : in.ConsumeFloatingPoint<double>();
  cfg.max_tokens = in.ConsumeIntegralInRange<int>(0, 7) == 0 ? in.ConsumeIntegral<int64_t>()
                                                             : in.ConsumeIntegralInRange<int64_t>(1, 16);
  cfg.fuse_qkv = in.ConsumeIntegralInRange<int>(0, 1);
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0) cfg.struct_size = in.ConsumeIntegralInRange<size_t>(0, sizeof cfg - 1);
  const bool biases = in.ConsumeBool() && q && k && v && o;
  const auto qb = bias_for(q), kb = bias_for(k), vb = bias_for(v), ob = bias_for(o);
  spinfer_context_t* ctx = st.pick_ctx(in);
  spinfer_attention_t* h = reinterpret_cast<spinfer_attention_t*>(1);
  const spinfer_status_t s = spinfer_attention_create(
      ctx, &h, q, k, v, o, biases ? qb.data() : nullptr, biases ? kb.data() : nullptr, biases ? vb.data() : nullptr,
      biases ? ob.data() : nullptr, SPINFER_DTYPE_F32, &cfg, nullptr);
  const bool certain_bad = !ctx || !q || !k || !v || !o || cfg.struct_size < sizeof cfg || cfg.num_heads < 1 ||
                           cfg.max_tokens < 1 || cfg.max_tokens > (int64_t(1) << 24);
  check(s, certain_bad ? 0 : -1, "spinfer_attention_create");
  if (created(s, h, "attention")) {
    // The block's width is what its matrices say (the pool may have served matrices of
    // another shape than the one asked for, and they fit each other).
    const int64_t hidden = extent_of(q, false);
    st.attns.push_back({h, hidden, cfg.max_tokens,
                        matching_cache(st, in, cfg.num_kv_heads ? cfg.num_kv_heads : cfg.num_heads,
                                       cfg.head_dim ? cfg.head_dim : int(hidden / std::max(cfg.num_heads, 1)),
                                       cfg.max_tokens)});
  }
}

// Forward of an attention block or decoder layer into exact-size buffers.
template <class F>
void layer_forward(State& st, FuzzedDataProvider& in, int64_t hidden, int64_t max_tokens, bool have_layer,
                   size_t paired, const char* call, F&& forward) {
  // Half the time a well-formed call (the layer's own cache and step, a valid layer and
  // dtype), so that forwards get past the argument checks and run; else anything.
  const bool aim = paired < st.caches.size() && in.ConsumeBool();
  Cache* c = aim || (paired < st.caches.size() && in.ConsumeIntegralInRange<int>(0, 3)) ? &st.caches[paired]
                                                                                         : pick(st.caches, in);
  const int layer_index = aim ? in.ConsumeIntegralInRange<int>(0, 1) : pick_small(in, -1, 2);
  const int64_t n = aim ? c->step_tokens
                  : in.ConsumeIntegralInRange<int>(0, 7) == 0
                      ? in.ConsumeIntegralInRange<int64_t>(-3, 40)
                      : (c && in.ConsumeBool() ? c->step_tokens : in.ConsumeIntegralInRange<int64_t>(0, 16));
  const int dtype = aim ? in.ConsumeIntegralInRange<int>(0, 2) : pick_enum(in, 3);
  const int64_t nn = std::clamp<int64_t>(n, 0, 40), H = have_layer ? hidden : 1;
  const size_t es = valid_dtype(dtype) ? esize(dtype) : 4;
  Buffer x(size_t(nn * H) * es, dtype), y(size_t(nn * H) * es, dtype);
  spinfer_context_t* ctx = aim ? st.ctx : st.pick_ctx(in);
  const spinfer_status_t s = forward(ctx, c ? c->h : nullptr, layer_index, x.get(), n, y.get(), dtype);
  const bool certain_bad = !ctx || !have_layer || !c || n < 0 || n > max_tokens || !valid_dtype(dtype);
  check(s, certain_bad ? 0 : -1, call);
}

void op_attention_forward(State& st, FuzzedDataProvider& in) {
  Attn* a = pick(st.attns, in);
  const bool residual = in.ConsumeBool();
  layer_forward(st, in, a ? a->hidden : 0, a ? a->max_tokens : 0, a != nullptr, a ? a->cache : size_t(-1), "spinfer_attention_forward",
                [&](spinfer_context_t* ctx, spinfer_kv_cache_t* cache, int l, void* x, int64_t n, void* y, int dt) {
                  Buffer r(size_t(std::clamp<int64_t>(n, 0, 40) * (a ? a->hidden : 1)) * (valid_dtype(dt) ? esize(dt) : 4), dt);
                  return spinfer_attention_forward(ctx, a ? a->h : nullptr, cache, l, x, n, residual ? r.get() : nullptr,
                                                   y, spinfer_dtype_t(dt), nullptr);
                });
}

void op_decoder_create(State& st, FuzzedDataProvider& in) {
  const AttnShape a = pick_attn_shape(in);
  const int64_t inter = pick_dim(in);
  const int storage = in.ConsumeIntegralInRange<int>(1, 2);
  spinfer_decoder_config_t cfg;
  spinfer_decoder_config_init(&cfg);
  cfg.arch = spinfer_arch_t(pick_enum(in, 2));
  const bool opt = cfg.arch == SPINFER_ARCH_OPT;
  cfg.hidden_size = a.hidden;
  cfg.intermediate_size = inter;
  cfg.num_heads = a.heads;
  cfg.num_kv_heads = in.ConsumeBool() ? a.kv_heads : 0;
  cfg.head_dim = in.ConsumeBool() ? a.hd : 0;
  cfg.norm_eps = in.ConsumeBool() ? 1e-5 : in.ConsumeFloatingPoint<double>();
  cfg.activation = spinfer_activation_t(pick_enum(in, 5));
  cfg.max_tokens = in.ConsumeIntegralInRange<int>(0, 7) == 0 ? in.ConsumeIntegral<int64_t>()
                                                             : in.ConsumeIntegralInRange<int64_t>(1, 16);
  cfg.fuse_projections = in.ConsumeIntegralInRange<int>(0, 1);
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0) cfg.struct_size = in.ConsumeIntegralInRange<size_t>(0, sizeof cfg - 1);
  const int64_t qd = int64_t(a.heads) * a.hd, kvd = int64_t(std::max(a.kv_heads, 0)) * a.hd;
  spinfer_decoder_weights_t w;
  spinfer_decoder_weights_init(&w);
  w.q_proj = pick_matrix(in, qd, a.hidden, storage);
  w.k_proj = pick_matrix(in, kvd, a.hidden, storage);
  w.v_proj = pick_matrix(in, kvd, a.hidden, storage);
  w.o_proj = pick_matrix(in, a.hidden, qd, storage);
  w.gate_proj = opt ? nullptr : pick_matrix(in, inter, a.hidden, storage);
  w.up_proj = pick_matrix(in, inter, a.hidden, storage);
  w.down_proj = pick_matrix(in, a.hidden, inter, storage);
  // Dense arrays as long as the largest shape they may need (the contract's sizes).
  const bool sized = a.hidden > 0 && a.hidden <= 64 && inter > 0 && inter <= 64 && qd <= 64 && kvd <= 64;
  const std::vector<float> dense(64, 0.5f);
  if (sized) {
    w.attn_norm_weight = w.mlp_norm_weight = dense.data();
    if (opt || in.ConsumeIntegralInRange<int>(0, 7) == 0) {
      w.attn_norm_bias = w.mlp_norm_bias = dense.data();
      w.q_bias = w.k_bias = w.v_bias = w.o_bias = w.up_bias = w.down_bias = dense.data();
    }
  }
  w.dense_dtype = spinfer_dtype_t(pick_enum(in, 3));
  if (in.ConsumeIntegralInRange<int>(0, 15) == 0) w.struct_size = in.ConsumeIntegralInRange<size_t>(0, sizeof w - 1);
  spinfer_context_t* ctx = st.pick_ctx(in);
  spinfer_decoder_layer_t* h = reinterpret_cast<spinfer_decoder_layer_t*>(1);
  const spinfer_status_t s = spinfer_decoder_layer_create(ctx, &h, &w, &cfg, nullptr);
  const bool certain_bad = !ctx || cfg.struct_size < sizeof cfg || w.struct_size < sizeof w || !w.q_proj ||
                           !w.k_proj || !w.v_proj || !w.o_proj || !w.up_proj || !w.down_proj || !sized ||
                           cfg.max_tokens < 1 || cfg.max_tokens > (int64_t(1) << 24) || unsigned(cfg.arch) > 1u;
  check(s, certain_bad ? 0 : -1, "spinfer_decoder_layer_create");
  if (created(s, h, "decoder"))
    st.decoders.push_back({h, a.hidden, cfg.max_tokens,
                           matching_cache(st, in, cfg.num_kv_heads ? cfg.num_kv_heads : cfg.num_heads,
                                          cfg.head_dim ? cfg.head_dim : int(a.hidden / std::max(cfg.num_heads, 1)),
                                          cfg.max_tokens)});
}

void op_decoder_forward(State& st, FuzzedDataProvider& in) {
  Decoder* d = pick(st.decoders, in);
  layer_forward(st, in, d ? d->hidden : 0, d ? d->max_tokens : 0, d != nullptr, d ? d->cache : size_t(-1), "spinfer_decoder_layer_forward",
                [&](spinfer_context_t* ctx, spinfer_kv_cache_t* cache, int l, void* x, int64_t n, void* y, int dt) {
                  return spinfer_decoder_layer_forward(ctx, d ? d->h : nullptr, cache, l, x, n, y,
                                                       spinfer_dtype_t(dt), nullptr);
                });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pool();
  FuzzedDataProvider in(data, size);
  State st;
  spinfer_context_config_t cfg;
  spinfer_context_config_init(&cfg);
  cfg.backend = SPINFER_BACKEND_HOST;
  cfg.host_threads = 1;
  expect(spinfer_context_create_ex(&st.ctx, &cfg) == SPINFER_STATUS_SUCCESS, "host context");
  for (int step = 0; step < 24 && in.remaining_bytes() > 0; ++step) {
    switch (in.ConsumeIntegralInRange<int>(0, 10)) {
      case 0: op_linear_create(st, in); break;
      case 1: op_linear_forward(st, in); break;
      case 2: op_mlp_create(st, in); break;
      case 3: op_mlp_forward(st, in); break;
      case 4: op_cache_create(st, in); break;
      case 5: case 6: op_cache_step(st, in); break;
      case 7: op_attention_create(st, in); break;
      case 8: op_attention_forward(st, in); break;
      case 9: op_decoder_create(st, in); break;
      default: op_decoder_forward(st, in); break;
    }
  }
  return 0;
}
