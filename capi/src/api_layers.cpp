// Layers: linear, MLP, attention, decoder layer (spinfer.h §7.1, 7.2, 7.4, 7.5).
#include "layer_handles.hpp"

#include "common/byte_range.hpp"

using spinfer::DType;
using spinfer::require;
using spinfer::capi::ActivationIo;
using spinfer::capi::guard;
using spinfer::capi::LayerBase;
using spinfer::capi::matrix_input;
using spinfer::capi::require_not_null;
namespace layers = spinfer::layers;

namespace {

template <typename Config>
Config config_or_default(const Config* given, spinfer_status_t (*init)(Config*), const char* what) {
  Config c;
  init(&c);
  if (given) {
    require(given->struct_size >= sizeof(Config), SPINFER_STATUS_INVALID_ARGUMENT, [&] {
      return std::string(what) + "->struct_size is too small; initialise it with its _init function";
    });
    c = *given;
  }
  return c;
}

layers::Activation activation(spinfer_activation_t a, const char* what) {
  require(a >= SPINFER_ACTIVATION_NONE && a <= SPINFER_ACTIVATION_SILU, SPINFER_STATUS_INVALID_ARGUMENT,
          [&] { return std::string(what) + " has unknown activation value " + std::to_string(int(a)); });
  return layers::Activation(int(a));
}

// Host bias array of `count` elements (NULL -> empty).
std::vector<float> bias(const void* p, DType dt, int64_t count) {
  return spinfer::layers::host_floats(p, dt, count);
}

// Largest max_tokens: scratch sizes (max_tokens x width x 4 bytes) stay far from int64
// overflow (found by fuzz_layer_args: a huge max_tokens overflowed Mlp::scratch_bytes).
constexpr int64_t kMaxTokens = int64_t(1) << 24;

void init_base(LayerBase& base, spinfer_context_t* ctx, const spinfer_matrix_t* any, int64_t max_tokens) {
  require_not_null(ctx, "ctx");
  require_not_null(any, "matrix");
  base.ctx = ctx;
  base.backend = spinfer::capi::backend_for(ctx, matrix_input(any).dtype());
  base.max_tokens = max_tokens;
}

void check_n(const LayerBase& base, int64_t n) {
  if (base.max_tokens == 0) {  // a layer without scratch (linear): any n whose arrays exist
    require(n >= 0 && n <= kMaxTokens * 64, SPINFER_STATUS_INVALID_ARGUMENT, [&] {
      return "n = " + std::to_string(n) + " is outside [0, " + std::to_string(kMaxTokens * 64) + "]";
    });
    return;
  }
  require(n >= 0 && n <= base.max_tokens, SPINFER_STATUS_INVALID_ARGUMENT, [&] {
    return "n = " + std::to_string(n) + " is outside [0, max_tokens = " + std::to_string(base.max_tokens) +
           "]";
  });
}

// An op reads `in` ([n, in_width]) while it writes `out` ([n, out_width]): they must not
// share a byte (the output would be written before the input is read, or half-way).
void require_disjoint(const void* in, int64_t in_width, const char* in_name, const void* out,
                      int64_t out_width, int64_t n, DType dt) {
  if (!in || !out) return;  // an absent residual
  const size_t size = spinfer::dtype_size(dt);
  const bool overlap =
      spinfer::bytes_overlap(in, size_t(n * in_width) * size, out, size_t(n * out_width) * size);
  require(!overlap, SPINFER_STATUS_INVALID_ARGUMENT, [&] {
    return std::string(in_name) + " overlaps y (the op reads " + in_name +
           " while it writes y; pass separate buffers)";
  });
}

}  // namespace

extern "C" {

// ---- Linear -------------------------------------------------------------------------

spinfer_status_t spinfer_linear_config_init(spinfer_linear_config_t* config) {
  return guard([&] {
    require_not_null(config, "config");
    *config = spinfer_linear_config_t{};
    config->struct_size = sizeof(spinfer_linear_config_t);
    config->activation = SPINFER_ACTIVATION_NONE;
  });
}

spinfer_status_t spinfer_linear_create(spinfer_context_t* ctx, spinfer_linear_t** out,
                                       const spinfer_matrix_t* w, const void* bias_data,
                                       spinfer_dtype_t bias_dtype,
                                       const spinfer_linear_config_t* config, void* stream) {
  if (out) *out = nullptr;
  return guard([&] {
    require_not_null(out, "out");
    const auto c = config_or_default(config, spinfer_linear_config_init, "config");
    auto h = std::make_unique<spinfer_linear>();
    init_base(h->base, ctx, w, 0);
    const DType bdt = bias_data ? spinfer::capi::require_dtype(bias_dtype, "bias") : DType::f32;
    const int64_t rows = matrix_input(w).rows();
    h->layer = std::make_unique<layers::Linear>(*h->base.backend, matrix_input(w),
                                                bias(bias_data, bdt, rows),
                                                activation(c.activation, "config"), stream);
    *out = h.release();
  });
}

spinfer_status_t spinfer_linear_forward(spinfer_context_t* ctx, spinfer_linear_t* layer,
                                        const void* x, int64_t n, const void* residual, void* y,
                                        spinfer_dtype_t dtype, void* stream) {
  return guard([&] {
    require_not_null(layer, "layer");
    spinfer::capi::require_same_context(ctx, layer->base, "layer");
    check_n(layer->base, n);
    spinfer::capi::require_dtype(dtype, "x/y");  // a bad enum is refused also when n == 0
    if (n == 0) return;
    require_not_null(x, "x");
    require_not_null(y, "y");
    const int64_t in = layer->layer->in_features(), outf = layer->layer->out_features();
    const DType dt = spinfer::capi::require_dtype(dtype, "x/y");
    require_disjoint(x, in, "x", y, outf, n, dt);
    require_disjoint(residual, outf, "residual", y, outf, n, dt);
    ActivationIo io(layer->base, dt);
    const void* xi = io.in(x, n * in);
    const void* ri = io.in(residual, n * outf);
    layer->layer->forward(xi, n, ri, io.out(y, n * outf), stream);
    io.finish();
  });
}

spinfer_status_t spinfer_linear_destroy(spinfer_linear_t* layer) {
  return guard([&] { delete layer; });
}

// ---- MLP ----------------------------------------------------------------------------

spinfer_status_t spinfer_mlp_config_init(spinfer_mlp_config_t* config) {
  return guard([&] {
    require_not_null(config, "config");
    *config = spinfer_mlp_config_t{};
    config->struct_size = sizeof(spinfer_mlp_config_t);
    config->kind = SPINFER_MLP_GATED;
    config->activation = SPINFER_ACTIVATION_SILU;
    config->max_tokens = 512;
    config->fuse_gate_up = 1;
  });
}

spinfer_status_t spinfer_mlp_create(spinfer_context_t* ctx, spinfer_mlp_t** out,
                                    const spinfer_matrix_t* gate, const spinfer_matrix_t* up,
                                    const spinfer_matrix_t* down, const void* up_bias,
                                    const void* down_bias, spinfer_dtype_t bias_dtype,
                                    const spinfer_mlp_config_t* config, void* stream) {
  if (out) *out = nullptr;
  return guard([&] {
    require_not_null(out, "out");
    const auto c = config_or_default(config, spinfer_mlp_config_init, "config");
    require(c.kind == SPINFER_MLP_PLAIN || c.kind == SPINFER_MLP_GATED, SPINFER_STATUS_INVALID_ARGUMENT,
            "config->kind is unknown");
    require(c.max_tokens >= 1 && c.max_tokens <= kMaxTokens, SPINFER_STATUS_INVALID_ARGUMENT,
            "config->max_tokens must be in [1, 2^24]");
    require_not_null(up, "up");
    require_not_null(down, "down");
    auto h = std::make_unique<spinfer_mlp>();
    init_base(h->base, ctx, up, c.max_tokens);
    const DType bdt = (up_bias || down_bias) ? spinfer::capi::require_dtype(bias_dtype, "bias") : DType::f32;
    layers::MlpConfig mc;
    mc.gated = c.kind == SPINFER_MLP_GATED;
    mc.activation = activation(c.activation, "config");
    mc.fuse_gate_up = c.fuse_gate_up != 0;
    const auto u = matrix_input(up), d = matrix_input(down);
    h->layer = std::make_unique<layers::Mlp>(*h->base.backend, mc, matrix_input(gate), u, d,
                                             bias(up_bias, bdt, u.rows()),
                                             bias(down_bias, bdt, d.rows()), stream);
    h->base.scratch = layers::Scratch(*h->base.backend, h->layer->scratch_bytes(c.max_tokens));
    *out = h.release();
  });
}

spinfer_status_t spinfer_mlp_forward(spinfer_context_t* ctx, spinfer_mlp_t* mlp, const void* x,
                                     int64_t n, const void* residual, void* y,
                                     spinfer_dtype_t dtype, void* stream) {
  return guard([&] {
    require_not_null(mlp, "mlp");
    spinfer::capi::require_same_context(ctx, mlp->base, "mlp");
    check_n(mlp->base, n);
    spinfer::capi::require_dtype(dtype, "x/y");  // a bad enum is refused also when n == 0
    if (n == 0) return;
    require_not_null(x, "x");
    require_not_null(y, "y");
    const int64_t h = mlp->layer->hidden();
    const DType dt = spinfer::capi::require_dtype(dtype, "x/y");
    require_disjoint(x, h, "x", y, h, n, dt);
    require_disjoint(residual, h, "residual", y, h, n, dt);
    ActivationIo io(mlp->base, dt);
    const void* xi = io.in(x, n * h);
    const void* ri = io.in(residual, n * h);
    void* yo = io.out(y, n * h);
    mlp->layer->forward(xi, n, yo, mlp->base.scratch, stream);
    if (ri) mlp->base.backend->epilogue(yo, n, h, h, layers::Activation::none, ri, h, stream);
    io.finish();
  });
}

spinfer_status_t spinfer_mlp_destroy(spinfer_mlp_t* mlp) {
  return guard([&] { delete mlp; });
}

// ---- Attention ----------------------------------------------------------------------

spinfer_status_t spinfer_attention_config_init(spinfer_attention_config_t* config) {
  return guard([&] {
    require_not_null(config, "config");
    *config = spinfer_attention_config_t{};
    config->struct_size = sizeof(spinfer_attention_config_t);
    config->use_rope = 1;
    config->rope_theta = 10000.0;
    config->max_tokens = 512;
    config->fuse_qkv = 1;
  });
}

spinfer_status_t spinfer_attention_create(spinfer_context_t* ctx, spinfer_attention_t** out,
                                          const spinfer_matrix_t* q, const spinfer_matrix_t* k,
                                          const spinfer_matrix_t* v, const spinfer_matrix_t* o,
                                          const void* q_bias, const void* k_bias,
                                          const void* v_bias, const void* o_bias,
                                          spinfer_dtype_t bias_dtype,
                                          const spinfer_attention_config_t* config, void* stream) {
  if (out) *out = nullptr;
  return guard([&] {
    require_not_null(out, "out");
    const auto c = config_or_default(config, spinfer_attention_config_init, "config");
    require(c.max_tokens >= 1 && c.max_tokens <= kMaxTokens, SPINFER_STATUS_INVALID_ARGUMENT,
            "config->max_tokens must be in [1, 2^24]");
    require(c.num_heads >= 1 && c.num_kv_heads >= 0 && c.head_dim >= 0, SPINFER_STATUS_INVALID_ARGUMENT,
            "config->num_heads must be >= 1 and num_kv_heads, head_dim >= 0");
    require(c.rope_theta > 0, SPINFER_STATUS_INVALID_ARGUMENT, "config->rope_theta must be > 0");
    for (const spinfer_matrix_t* m : {q, k, v, o}) require_not_null(m, "q/k/v/o matrix");
    auto h = std::make_unique<spinfer_attention>();
    init_base(h->base, ctx, q, c.max_tokens);
    const bool any_bias = q_bias || k_bias || v_bias || o_bias;
    const DType bdt = any_bias ? spinfer::capi::require_dtype(bias_dtype, "bias") : DType::f32;
    layers::AttentionConfig ac;
    ac.num_heads = c.num_heads;
    ac.num_kv_heads = c.num_kv_heads;
    ac.head_dim = c.head_dim;
    ac.rope = c.use_rope != 0;
    ac.rope_theta = c.rope_theta;
    ac.scale = float(c.scale);
    ac.fuse_qkv = c.fuse_qkv != 0;
    const auto qi = matrix_input(q), ki = matrix_input(k), vi = matrix_input(v), oi = matrix_input(o);
    h->layer = std::make_unique<layers::Attention>(
        *h->base.backend, ac, qi, ki, vi, oi, bias(q_bias, bdt, qi.rows()),
        bias(k_bias, bdt, ki.rows()), bias(v_bias, bdt, vi.rows()), bias(o_bias, bdt, oi.rows()),
        stream);
    h->base.scratch = layers::Scratch(*h->base.backend, h->layer->scratch_bytes(c.max_tokens));
    *out = h.release();
  });
}

spinfer_status_t spinfer_attention_forward(spinfer_context_t* ctx, spinfer_attention_t* attention,
                                           spinfer_kv_cache_t* cache, int layer_index,
                                           const void* x, int64_t n, const void* residual, void* y,
                                           spinfer_dtype_t dtype, void* stream) {
  return guard([&] {
    require_not_null(attention, "attention");
    require_not_null(cache, "cache");
    spinfer::capi::require_same_context(ctx, attention->base, "attention");
    require(cache->ctx == ctx, SPINFER_STATUS_INVALID_ARGUMENT, "cache was created on a different context");
    check_n(attention->base, n);
    require(n >= 1, SPINFER_STATUS_INVALID_ARGUMENT, "attention needs n >= 1 (the step's tokens)");
    require_not_null(x, "x");
    require_not_null(y, "y");
    const int64_t h = attention->layer->hidden();
    const DType dt = spinfer::capi::require_dtype(dtype, "x/y");
    require_disjoint(x, h, "x", y, h, n, dt);
    require_disjoint(residual, h, "residual", y, h, n, dt);
    ActivationIo io(attention->base, dt);
    const void* xi = io.in(x, n * h);
    const void* ri = io.in(residual, n * h);
    void* yo = io.out(y, n * h);
    attention->layer->forward(*cache->cache, layer_index, xi, n, yo, attention->base.scratch, stream);
    if (ri) attention->base.backend->epilogue(yo, n, h, h, layers::Activation::none, ri, h, stream);
    io.finish();
  });
}

spinfer_status_t spinfer_attention_destroy(spinfer_attention_t* attention) {
  return guard([&] { delete attention; });
}

// ---- Decoder layer ------------------------------------------------------------------

spinfer_status_t spinfer_decoder_config_init(spinfer_decoder_config_t* config) {
  return guard([&] {
    require_not_null(config, "config");
    *config = spinfer_decoder_config_t{};
    config->struct_size = sizeof(spinfer_decoder_config_t);
    config->arch = SPINFER_ARCH_LLAMA;
    config->norm_eps = 1e-5;
    config->rope_theta = 10000.0;
    config->activation = SPINFER_ACTIVATION_NONE;
    config->max_tokens = 512;
    config->fuse_projections = 1;
  });
}

spinfer_status_t spinfer_decoder_weights_init(spinfer_decoder_weights_t* weights) {
  return guard([&] {
    require_not_null(weights, "weights");
    *weights = spinfer_decoder_weights_t{};
    weights->struct_size = sizeof(spinfer_decoder_weights_t);
    weights->dense_dtype = SPINFER_DTYPE_F32;
  });
}

spinfer_status_t spinfer_decoder_layer_create(spinfer_context_t* ctx, spinfer_decoder_layer_t** out,
                                              const spinfer_decoder_weights_t* weights,
                                              const spinfer_decoder_config_t* config, void* stream) {
  if (out) *out = nullptr;
  return guard([&] {
    require_not_null(out, "out");
    require_not_null(weights, "weights");
    require_not_null(config, "config");
    require(weights->struct_size >= sizeof(spinfer_decoder_weights_t), SPINFER_STATUS_INVALID_ARGUMENT,
            "weights->struct_size is too small; initialise it with spinfer_decoder_weights_init");
    const auto c = config_or_default(config, spinfer_decoder_config_init, "config");
    require(c.arch == SPINFER_ARCH_OPT || c.arch == SPINFER_ARCH_LLAMA, SPINFER_STATUS_INVALID_ARGUMENT,
            "config->arch is unknown");
    require(c.hidden_size >= 1 && c.intermediate_size >= 1 && c.num_heads >= 1,
            SPINFER_STATUS_INVALID_ARGUMENT,
            "config->hidden_size, intermediate_size and num_heads must be set (>= 1)");
    constexpr int64_t kMaxFeatures = int64_t(1) << 24;
    require(c.hidden_size <= kMaxFeatures && c.intermediate_size <= kMaxFeatures,
            SPINFER_STATUS_INVALID_ARGUMENT, [&] {
              return "config->hidden_size " + std::to_string(c.hidden_size) + " or intermediate_size " +
                     std::to_string(c.intermediate_size) + " exceeds 2^24";
            });
    require(c.max_tokens >= 1 && c.max_tokens <= kMaxTokens, SPINFER_STATUS_INVALID_ARGUMENT,
            "config->max_tokens must be in [1, 2^24]");
    require(c.norm_eps > 0 && c.rope_theta > 0, SPINFER_STATUS_INVALID_ARGUMENT,
            "config->norm_eps and rope_theta must be > 0");
    for (const spinfer_matrix_t* m : {weights->q_proj, weights->k_proj, weights->v_proj,
                                      weights->o_proj, weights->up_proj, weights->down_proj})
      require_not_null(m, "weights: q/k/v/o/up/down_proj");
    const bool opt = c.arch == SPINFER_ARCH_OPT;
    require(opt == (weights->gate_proj == nullptr), SPINFER_STATUS_INVALID_ARGUMENT,
            opt ? "OPT layers take no gate_proj" : "LLaMA layers need gate_proj");
    const DType dd = spinfer::capi::require_dtype(weights->dense_dtype, "weights->dense_dtype");
    const int64_t H = c.hidden_size, I = c.intermediate_size;
    const int kvh = c.num_kv_heads ? c.num_kv_heads : c.num_heads;
    require(c.head_dim > 0 || H % c.num_heads == 0, SPINFER_STATUS_INVALID_ARGUMENT,
            "hidden_size is not a multiple of num_heads; set head_dim");
    // In 64 bits: hidden_size / num_heads must not be cut to int before it is checked.
    const int64_t head_dim = c.head_dim ? int64_t(c.head_dim) : H / c.num_heads;
    require(head_dim >= 2 && head_dim <= 256 && head_dim % 2 == 0, SPINFER_STATUS_INVALID_ARGUMENT, [&] {
      return "head_dim " + std::to_string(head_dim) + (c.head_dim ? "" : " (hidden_size / num_heads)") +
             " must be even and in [2, 256]";
    });
    const int hd = int(head_dim);
    const int64_t qd = int64_t(c.num_heads) * hd, kvd = int64_t(kvh) * hd;

    auto h = std::make_unique<spinfer_decoder_layer>();
    init_base(h->base, ctx, weights->q_proj, c.max_tokens);
    layers::DecoderConfig dc;
    dc.norm = opt ? layers::NormKind::layer_norm : layers::NormKind::rms_norm;
    dc.norm_eps = float(c.norm_eps);
    dc.attention.num_heads = c.num_heads;
    dc.attention.num_kv_heads = kvh;
    dc.attention.head_dim = hd;
    dc.attention.rope = !opt;
    dc.attention.rope_theta = c.rope_theta;
    dc.attention.fuse_qkv = c.fuse_projections != 0;
    dc.mlp.gated = !opt;
    dc.mlp.activation = c.activation == SPINFER_ACTIVATION_NONE
                            ? (opt ? layers::Activation::relu : layers::Activation::silu)
                            : activation(c.activation, "config");
    dc.mlp.fuse_gate_up = c.fuse_projections != 0;
    layers::DecoderWeights w;
    w.q = matrix_input(weights->q_proj);
    w.k = matrix_input(weights->k_proj);
    w.v = matrix_input(weights->v_proj);
    w.o = matrix_input(weights->o_proj);
    w.gate = matrix_input(weights->gate_proj);
    w.up = matrix_input(weights->up_proj);
    w.down = matrix_input(weights->down_proj);
    require(w.up.rows() == I, SPINFER_STATUS_SHAPE_MISMATCH,
            "up_proj rows differ from config->intermediate_size");
    require(w.q.cols() == H, SPINFER_STATUS_SHAPE_MISMATCH, "q_proj cols differ from config->hidden_size");
    w.q_bias = bias(weights->q_bias, dd, qd);
    w.k_bias = bias(weights->k_bias, dd, kvd);
    w.v_bias = bias(weights->v_bias, dd, kvd);
    w.o_bias = bias(weights->o_bias, dd, H);
    w.up_bias = bias(weights->up_bias, dd, I);
    w.down_bias = bias(weights->down_bias, dd, H);
    require(weights->attn_norm_weight && weights->mlp_norm_weight, SPINFER_STATUS_INVALID_ARGUMENT,
            "weights: attn_norm_weight and mlp_norm_weight are required");
    require(opt == (weights->attn_norm_bias != nullptr && weights->mlp_norm_bias != nullptr) ||
                (!opt && !weights->attn_norm_bias && !weights->mlp_norm_bias),
            SPINFER_STATUS_INVALID_ARGUMENT,
            opt ? "OPT layers need both norm biases (LayerNorm)" : "LLaMA layers take no norm biases");
    w.attn_norm_weight = bias(weights->attn_norm_weight, dd, H);
    w.attn_norm_bias = bias(weights->attn_norm_bias, dd, H);
    w.mlp_norm_weight = bias(weights->mlp_norm_weight, dd, H);
    w.mlp_norm_bias = bias(weights->mlp_norm_bias, dd, H);
    h->layer = std::make_unique<layers::DecoderLayer>(*h->base.backend, dc, w, stream);
    h->base.scratch = layers::Scratch(*h->base.backend, h->layer->scratch_bytes(c.max_tokens));
    h->hidden = layers::Buffer(*h->base.backend, size_t(c.max_tokens * H) * 4);
    *out = h.release();
  });
}

spinfer_status_t spinfer_decoder_layer_forward(spinfer_context_t* ctx, spinfer_decoder_layer_t* layer,
                                               spinfer_kv_cache_t* cache, int layer_index,
                                               const void* x, int64_t n, void* y,
                                               spinfer_dtype_t dtype, void* stream) {
  return guard([&] {
    require_not_null(layer, "layer");
    require_not_null(cache, "cache");
    spinfer::capi::require_same_context(ctx, layer->base, "layer");
    require(cache->ctx == ctx, SPINFER_STATUS_INVALID_ARGUMENT, "cache was created on a different context");
    check_n(layer->base, n);
    require(n >= 1, SPINFER_STATUS_INVALID_ARGUMENT, "a decoder layer needs n >= 1 (the step's tokens)");
    require_not_null(x, "x");
    require_not_null(y, "y");
    const DType dt = spinfer::capi::require_dtype(dtype, "x/y");
    layers::Backend& b = *layer->base.backend;
    require(!b.is_cuda() || dt == b.act_dtype(), SPINFER_STATUS_UNSUPPORTED_DTYPE, [&] {
      return std::string("CUDA layer activations must have the weights' dtype ") +
             spinfer::dtype_name(b.act_dtype());
    });
    const int64_t H = layer->layer->hidden();
    float* hidden = layer->hidden.as<float>();
    b.convert(x, dt, hidden, DType::f32, n * H, stream);
    layer->layer->forward(*cache->cache, layer_index, hidden, n, layer->base.scratch, stream);
    b.convert(hidden, DType::f32, y, dt, n * H, stream);
  });
}

spinfer_status_t spinfer_decoder_layer_destroy(spinfer_decoder_layer_t* layer) {
  return guard([&] { delete layer; });
}

}  // extern "C"
