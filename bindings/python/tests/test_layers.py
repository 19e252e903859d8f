"""Layers of C API section 7 on the host backend against float64 numpy references:
Linear, MLP, KVCache, Attention (RoPE, GQA, causal, paged cache), DecoderLayer."""

import math

import numpy as np
import pytest

import spinfer
from helpers import rel_err, sparse_matrix

# fp32 activations, fp16 weights (exact in the references), fp32 accumulation: only
# float32 rounding separates spinfer from float64 -- through softmax and norms too.
TOL_LINEAR = 1e-5
TOL_BLOCK = 1e-4

_erf = np.vectorize(math.erf)
ACTIVATIONS = {
    "none": lambda v: v,
    "relu": lambda v: np.maximum(v, 0.0),
    "gelu": lambda v: 0.5 * v * (1.0 + _erf(v / math.sqrt(2.0))),
    "gelu_tanh": lambda v: 0.5 * v * (1.0 + np.tanh(math.sqrt(2.0 / math.pi)
                                                    * (v + 0.044715 * v ** 3))),
    "silu": lambda v: v / (1.0 + np.exp(-v)),
}


def weight(rng, rows, cols, sparsity=0.5, scale=None):
    """A sparse fp16-exact weight, scaled to keep activations O(1)."""
    w = sparse_matrix(rng, rows, cols, sparsity) * (scale or 1.0 / math.sqrt(cols))
    w = w.astype(np.float16).astype(np.float32)
    return w, spinfer.encode(w, "f16")


def vec(rng, n, scale=0.5):
    return (rng.standard_normal(n) * scale).astype(np.float32)


def linear_ref(x, w, b=None):
    y = x.astype(np.float64) @ w.astype(np.float64).T
    return y if b is None else y + b


# ---- Linear ----------------------------------------------------------------------
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("with_bias,with_residual", [(False, False), (True, True)])
def test_linear_layer(rng, host_ctx, activation, with_bias, with_residual):
    w, W = weight(rng, 72, 130)
    b = vec(rng, 72) if with_bias else None
    x = rng.standard_normal((9, 130)).astype(np.float32)
    res = rng.standard_normal((9, 72)).astype(np.float32) if with_residual else None
    layer = spinfer.Linear(host_ctx, W, b, activation=activation)
    out = np.full((9, 72), np.nan, dtype=np.float32)
    assert layer(x, res, out=out) is out
    ref = ACTIVATIONS[activation](linear_ref(x, w, b))
    if res is not None:
        ref = ref + res
    assert rel_err(out, ref) <= TOL_LINEAR


def test_linear_layer_errors(rng, host_ctx):
    _, W = weight(rng, 16, 32)
    layer = spinfer.Linear(host_ctx, W)
    with pytest.raises(spinfer.ShapeMismatchError, match=r"expected \[n, 32\]"):
        layer(np.ones((2, 31), dtype=np.float32))
    with pytest.raises(spinfer.InvalidArgumentError, match="contiguous"):
        layer(np.ones((2, 64), dtype=np.float32)[:, ::2])
    with pytest.raises(spinfer.InvalidArgumentError, match="unknown activation"):
        spinfer.Linear(host_ctx, W, activation="swish")
    with pytest.raises(spinfer.ShapeMismatchError, match="bias has 15 elements, expected 16"):
        spinfer.Linear(host_ctx, W, np.ones(15, dtype=np.float32))
    with pytest.raises(spinfer.UnsupportedDTypeError, match="one dtype"):
        spinfer.MLP(host_ctx, W, weight(rng, 32, 16)[1], up_bias=np.ones(16, np.float32),
                    down_bias=np.ones(32, np.float16))
    with pytest.raises(spinfer.InvalidArgumentError):
        spinfer.Linear(host_ctx, None)  # library: NULL matrix


# ---- MLP -------------------------------------------------------------------------
def test_plain_mlp_opt_style(rng, host_ctx):
    hidden, inter = 64, 160
    up, UP = weight(rng, inter, hidden)
    down, DOWN = weight(rng, hidden, inter)
    bu, bd = vec(rng, inter), vec(rng, hidden)
    mlp = spinfer.MLP(host_ctx, UP, DOWN, up_bias=bu, down_bias=bd, activation="relu")
    x = rng.standard_normal((7, hidden)).astype(np.float32)
    res = rng.standard_normal((7, hidden)).astype(np.float32)
    ref = linear_ref(np.maximum(linear_ref(x, up, bu), 0.0), down, bd) + res
    assert rel_err(mlp(x, res), ref) <= TOL_LINEAR


@pytest.mark.parametrize("fuse", [True, False])
def test_gated_mlp_llama_style(rng, host_ctx, fuse):
    hidden, inter = 96, 128  # inter a multiple of 64: gate and up may be fused
    gate, GATE = weight(rng, inter, hidden)
    up, UP = weight(rng, inter, hidden)
    down, DOWN = weight(rng, hidden, inter)
    mlp = spinfer.MLP(host_ctx, UP, DOWN, GATE, fuse_gate_up=fuse, max_tokens=16)
    x = rng.standard_normal((11, hidden)).astype(np.float32)
    ref = linear_ref(ACTIVATIONS["silu"](linear_ref(x, gate)) * linear_ref(x, up), down)
    assert rel_err(mlp(x), ref) <= TOL_LINEAR


# ---- references for attention -------------------------------------------------------
def rope(v, positions, theta):
    """HF rotate-half RoPE on [tokens, heads, head_dim] at `positions`."""
    d = v.shape[-1]
    inv = 1.0 / theta ** (np.arange(0, d, 2, dtype=np.float64) / d)
    ang = np.asarray(positions, dtype=np.float64)[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(ang), np.cos(ang)], axis=-1)[:, None, :]
    sin = np.concatenate([np.sin(ang), np.sin(ang)], axis=-1)[:, None, :]
    rotated = np.concatenate([-v[..., d // 2:], v[..., :d // 2]], axis=-1)
    return v * cos + rotated * sin


def attention_ref(x, p, heads, kv_heads, head_dim, use_rope=True, theta=10000.0):
    """Causal self-attention of one whole sequence x [T, hidden] from position 0."""
    t = x.shape[0]
    q = linear_ref(x, p["q"], p.get("bq")).reshape(t, heads, head_dim)
    k = linear_ref(x, p["k"], p.get("bk")).reshape(t, kv_heads, head_dim)
    v = linear_ref(x, p["v"], p.get("bv")).reshape(t, kv_heads, head_dim)
    if use_rope:
        q, k = rope(q, range(t), theta), rope(k, range(t), theta)
    out = np.empty((t, heads, head_dim))
    group = heads // kv_heads
    causal = np.tril(np.ones((t, t), dtype=bool))
    for h in range(heads):
        s = q[:, h] @ k[:, h // group].T / math.sqrt(head_dim)
        s = np.where(causal, s, -np.inf)
        s = np.exp(s - s.max(axis=1, keepdims=True))
        out[:, h] = (s / s.sum(axis=1, keepdims=True)) @ v[:, h // group]
    return linear_ref(out.reshape(t, heads * head_dim), p["o"], p.get("bo"))


def attention_params(rng, hidden, heads, kv_heads, head_dim, biases=False):
    p, m = {}, {}
    for name, rows, cols in (("q", heads * head_dim, hidden), ("k", kv_heads * head_dim, hidden),
                             ("v", kv_heads * head_dim, hidden), ("o", hidden, heads * head_dim)):
        p[name], m[name] = weight(rng, rows, cols, sparsity=0.4)
        if biases:
            p["b" + name] = vec(rng, rows)
    return p, m


def test_kv_cache_bookkeeping(host_ctx):
    cache = spinfer.KVCache(host_ctx, num_layers=2, num_kv_heads=2, head_dim=16, num_blocks=4,
                            block_size=4, max_sequences=2, dtype="f32")
    assert cache.free_blocks == 4
    cache.begin_step([0, 1], [5, 2])
    assert (cache.sequence_length(0), cache.sequence_length(1)) == (5, 2)
    assert cache.free_blocks == 1  # 2 blocks + 1 block
    with pytest.raises(spinfer.OutOfMemoryError):
        cache.begin_step([1], [9])  # needs 2 more blocks, 1 free; nothing changes
    assert cache.sequence_length(1) == 2
    cache.release_sequence(0)
    assert cache.sequence_length(0) == 0 and cache.free_blocks == 3
    with pytest.raises(spinfer.ShapeMismatchError):
        cache.begin_step([0, 1], [1])


@pytest.mark.parametrize("heads,kv_heads", [(4, 4), (4, 2)])
def test_attention_prefill_then_decode(rng, host_ctx, heads, kv_heads):
    hidden, head_dim, t = 64, 16, 6
    p, m = attention_params(rng, hidden, heads, kv_heads, head_dim, biases=True)
    attn = spinfer.Attention(host_ctx, m["q"], m["k"], m["v"], m["o"], num_heads=heads,
                             num_kv_heads=kv_heads, q_bias=p["bq"], k_bias=p["bk"],
                             v_bias=p["bv"], o_bias=p["bo"])
    cache = spinfer.KVCache(host_ctx, num_layers=1, num_kv_heads=kv_heads, head_dim=head_dim,
                            num_blocks=8, block_size=4, max_sequences=2, dtype="f32")
    x = rng.standard_normal((t + 1, hidden)).astype(np.float32)
    ref = attention_ref(x, p, heads, kv_heads, head_dim)
    cache.begin_step([0], [t])
    prefill = attn(cache, 0, x[:t])
    assert rel_err(prefill, ref[:t]) <= TOL_BLOCK
    cache.begin_step([0], [1])
    residual = rng.standard_normal((1, hidden)).astype(np.float32)
    step = attn(cache, 0, x[t:], residual)
    assert rel_err(step, ref[t:] + residual) <= TOL_BLOCK


def test_attention_two_sequences_in_one_step(rng, host_ctx):
    hidden, heads, head_dim = 32, 2, 16
    p, m = attention_params(rng, hidden, heads, heads, head_dim)
    attn = spinfer.Attention(host_ctx, m["q"], m["k"], m["v"], m["o"], num_heads=heads)
    cache = spinfer.KVCache(host_ctx, num_layers=1, num_kv_heads=heads, head_dim=head_dim,
                            num_blocks=8, block_size=4, max_sequences=2, dtype="f32")
    a = rng.standard_normal((5, hidden)).astype(np.float32)
    b = rng.standard_normal((3, hidden)).astype(np.float32)
    cache.begin_step([1, 0], [3, 5])  # tokens ordered sequence by sequence: b then a
    y = attn(cache, 0, np.concatenate([b, a]))
    assert rel_err(y[:3], attention_ref(b, p, heads, heads, head_dim)) <= TOL_BLOCK
    assert rel_err(y[3:], attention_ref(a, p, heads, heads, head_dim)) <= TOL_BLOCK


# ---- decoder layer ---------------------------------------------------------------
def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(axis=1, keepdims=True) + eps) * w


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def test_llama_decoder_layer(rng, host_ctx):
    hidden, inter, heads, kv_heads, head_dim, t, eps = 64, 128, 4, 2, 16, 5, 1e-5
    p, m = attention_params(rng, hidden, heads, kv_heads, head_dim)
    gate, GATE = weight(rng, inter, hidden)
    up, UP = weight(rng, inter, hidden)
    down, DOWN = weight(rng, hidden, inter)
    w_attn = (1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32)
    w_mlp = (1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32)
    layer = spinfer.DecoderLayer(
        host_ctx, {"q_proj": m["q"], "k_proj": m["k"], "v_proj": m["v"], "o_proj": m["o"],
                   "gate_proj": GATE, "up_proj": UP, "down_proj": DOWN,
                   "attn_norm_weight": w_attn, "mlp_norm_weight": w_mlp},
        arch="llama", hidden_size=hidden, intermediate_size=inter, num_heads=heads,
        num_kv_heads=kv_heads, norm_eps=eps)
    cache = spinfer.KVCache(host_ctx, num_layers=1, num_kv_heads=kv_heads, head_dim=head_dim,
                            num_blocks=4, block_size=8, max_sequences=1, dtype="f32")
    x = rng.standard_normal((t, hidden)).astype(np.float32)
    h = x + attention_ref(rms_norm(x, w_attn, eps), p, heads, kv_heads, head_dim)
    n2 = rms_norm(h, w_mlp, eps)
    ref = h + linear_ref(ACTIVATIONS["silu"](linear_ref(n2, gate)) * linear_ref(n2, up), down)
    cache.begin_step([0], [t])
    assert rel_err(layer(cache, 0, x), ref) <= TOL_BLOCK


def test_opt_decoder_layer(rng, host_ctx):
    hidden, inter, heads, head_dim, t, eps = 64, 160, 4, 16, 4, 1e-5
    p, m = attention_params(rng, hidden, heads, heads, head_dim, biases=True)
    up, UP = weight(rng, inter, hidden)
    down, DOWN = weight(rng, hidden, inter)
    bu, bd = vec(rng, inter), vec(rng, hidden)
    ln = {k: (1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32) if k.endswith("weight")
          else vec(rng, hidden, 0.1)
          for k in ("attn_norm_weight", "attn_norm_bias", "mlp_norm_weight", "mlp_norm_bias")}
    weights = {"q_proj": m["q"], "k_proj": m["k"], "v_proj": m["v"], "o_proj": m["o"],
               "up_proj": UP, "down_proj": DOWN, "q_bias": p["bq"], "k_bias": p["bk"],
               "v_bias": p["bv"], "o_bias": p["bo"], "up_bias": bu, "down_bias": bd, **ln}
    layer = spinfer.DecoderLayer(host_ctx, weights, arch="opt", hidden_size=hidden,
                                 intermediate_size=inter, num_heads=heads, norm_eps=eps)
    cache = spinfer.KVCache(host_ctx, num_layers=1, num_kv_heads=heads, head_dim=head_dim,
                            num_blocks=4, block_size=8, max_sequences=1, dtype="f32")
    x = rng.standard_normal((t, hidden)).astype(np.float32)
    a_in = layer_norm(x, ln["attn_norm_weight"], ln["attn_norm_bias"], eps)
    h = x + attention_ref(a_in, p, heads, heads, head_dim, use_rope=False)
    m_in = layer_norm(h, ln["mlp_norm_weight"], ln["mlp_norm_bias"], eps)
    ref = h + linear_ref(np.maximum(linear_ref(m_in, up, bu), 0.0), down, bd)
    cache.begin_step([0], [t])
    out = np.full_like(x, np.nan)
    layer(cache, 0, x, out=out)
    assert rel_err(out, ref) <= TOL_BLOCK


def test_decoder_layer_rejects_unknown_weights(rng, host_ctx):
    with pytest.raises(spinfer.InvalidArgumentError, match="unknown decoder weights"):
        spinfer.DecoderLayer(host_ctx, {"qproj": None}, hidden_size=8, intermediate_size=8,
                             num_heads=1)


def test_closing_the_context_closes_its_layers(rng):
    ctx = spinfer.Context("host")
    _, W = weight(rng, 8, 8)
    layer = spinfer.Linear(ctx, W)
    ctx.close()
    assert layer.closed
    with pytest.raises(spinfer.InvalidArgumentError, match="closed"):
        layer(np.ones((1, 8), dtype=np.float32))


def test_model_load_errors_carry_the_library_message(tmp_path, host_ctx):
    with pytest.raises(spinfer.SpinferError) as e:
        spinfer.Model.load(host_ctx, tmp_path / "no-such-model")
    assert e.value.message
    with pytest.raises(TypeError, match="Model.load"):
        spinfer.Model()
