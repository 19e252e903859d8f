"""spinfer.Model on the host backend: a tiny random LLaMA written by the test (config.json
+ safetensors, Hugging Face names) against a float64 numpy forward of the same weights."""

import json
import math

import numpy as np
import pytest

import spinfer
from helpers import rel_err, sparse_matrix
from test_layers import ACTIVATIONS, attention_ref, linear_ref, rms_norm

safetensors_numpy = pytest.importorskip("safetensors.numpy")

CONFIG = dict(model_type="llama", vocab_size=96, hidden_size=64, intermediate_size=128,
              num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=10000.0,
              torch_dtype="float16", tie_word_embeddings=False)
# fp16-exact weights; the host backend keeps activations in fp32 (observed ~1e-6).
TOL = 1e-4


def _fp16(a):
    return np.asarray(a, dtype=np.float32).astype(np.float16).astype(np.float32)


@pytest.fixture
def tiny_llama(rng, tmp_path):
    c = CONFIG
    h, inter, heads, kvh = (c["hidden_size"], c["intermediate_size"],
                            c["num_attention_heads"], c["num_key_value_heads"])
    hd = h // heads
    shapes = {"self_attn.q_proj": (heads * hd, h), "self_attn.k_proj": (kvh * hd, h),
              "self_attn.v_proj": (kvh * hd, h), "self_attn.o_proj": (h, heads * hd),
              "mlp.gate_proj": (inter, h), "mlp.up_proj": (inter, h), "mlp.down_proj": (h, inter)}
    mats, dense, ref = {}, {}, {"layers": []}
    for i in range(c["num_hidden_layers"]):
        layer = {}
        for name, (rows, cols) in shapes.items():
            w = _fp16(sparse_matrix(rng, rows, cols, 0.5) / math.sqrt(cols))
            mats[f"model.layers.{i}.{name}.weight"] = spinfer.encode(w, "f16")
            layer[name] = w
        for norm in ("input_layernorm", "post_attention_layernorm"):
            w = _fp16(1 + 0.1 * rng.standard_normal(h))
            dense[f"model.layers.{i}.{norm}.weight"] = w.astype(np.float16)
            layer[norm] = w
        ref["layers"].append(layer)
    ref["embed"] = _fp16(rng.standard_normal((c["vocab_size"], h)))
    ref["norm"] = _fp16(1 + 0.1 * rng.standard_normal(h))
    ref["lm_head"] = _fp16(sparse_matrix(rng, c["vocab_size"], h, 0.3) / math.sqrt(h))
    dense["model.embed_tokens.weight"] = ref["embed"].astype(np.float16)
    dense["model.norm.weight"] = ref["norm"].astype(np.float16)
    mats["lm_head.weight"] = spinfer.encode(ref["lm_head"], "f16")
    (tmp_path / "config.json").write_text(json.dumps(c))
    spinfer.save(tmp_path / "matrices.safetensors", mats)
    safetensors_numpy.save_file(dense, str(tmp_path / "dense.safetensors"))
    return tmp_path, ref


def forward_ref(ref, tokens):
    """Logits [T, vocab] of the whole sequence, float64."""
    c = CONFIG
    heads, kvh = c["num_attention_heads"], c["num_key_value_heads"]
    hd = c["hidden_size"] // heads
    x = ref["embed"][np.asarray(tokens)].astype(np.float64)
    for L in ref["layers"]:
        p = {"q": L["self_attn.q_proj"], "k": L["self_attn.k_proj"],
             "v": L["self_attn.v_proj"], "o": L["self_attn.o_proj"]}
        x = x + attention_ref(rms_norm(x, L["input_layernorm"], c["rms_norm_eps"]), p, heads,
                              kvh, hd, theta=c["rope_theta"])
        n = rms_norm(x, L["post_attention_layernorm"], c["rms_norm_eps"])
        x = x + linear_ref(ACTIVATIONS["silu"](linear_ref(n, L["mlp.gate_proj"]))
                           * linear_ref(n, L["mlp.up_proj"]), L["mlp.down_proj"])
    return linear_ref(rms_norm(x, ref["norm"], c["rms_norm_eps"]), ref["lm_head"])


def test_model_info_prefill_and_decode(tiny_llama, host_ctx, rng):
    path, ref = tiny_llama
    with spinfer.Model.load(host_ctx, path, max_sequences=2) as model:
        info = model.info
        assert info.arch is spinfer.Arch.LLAMA and info.dtype is spinfer.DType.F16
        assert (info.vocab_size, info.hidden_size, info.num_layers) == (96, 64, 2)
        assert (info.num_heads, info.num_kv_heads, info.head_dim) == (4, 2, 16)
        assert info.weight_bytes < info.dense_weight_bytes
        prompt = rng.integers(0, 96, size=7).tolist()
        # Token ids must be integers: floats are not truncated into some other token.
        with pytest.raises(TypeError):
            model.prefill(0, [1.7, 2.2])
        with pytest.raises(ValueError):
            model.prefill(0, [2 ** 40])
        assert model.sequence_length(0) == 0
        logits = model.prefill(0, prompt)
        assert logits.shape == (96,) and logits.dtype == np.float32
        full = forward_ref(ref, prompt + [5, 9])
        assert rel_err(logits, full[6]) <= TOL
        assert model.sequence_length(0) == 7
        # Two sequences in one decode step: seq 1 is new (prefilled with one token).
        model.prefill(1, [5], logits=False)
        step = model.decode_step([0, 1], [5, 9])
        assert step.shape == (2, 96)
        assert rel_err(step[0], full[7]) <= TOL
        assert rel_err(step[1], forward_ref(ref, [5, 9])[1]) <= TOL
        model.release_sequence(0)
        assert model.sequence_length(0) == 0


def test_generate_greedy_follows_the_argmax(tiny_llama, host_ctx, rng):
    path, _ = tiny_llama
    prompt = rng.integers(0, 96, size=5).tolist()
    with spinfer.Model.load(host_ctx, path, max_sequences=2) as model:
        tokens = model.generate_greedy(0, prompt, max_new_tokens=6)
        assert len(tokens) == 6 and all(0 <= t < 96 for t in tokens)
        # The same chain step by step on another slot, from the model's own logits.
        chain, logits = [], model.prefill(1, prompt)
        for _ in range(6):
            chain.append(int(np.argmax(logits)))
            logits = model.decode_step([1], [chain[-1]])[0]
        assert tokens == chain
        stopped = model.generate_greedy(0, [1, 2], max_new_tokens=6, eos_token=tokens[0])
        assert len(stopped) >= 1
        with pytest.raises(spinfer.InvalidArgumentError, match="negative"):
            model.generate_greedy(0, prompt, max_new_tokens=-1)


def test_model_errors(tiny_llama, host_ctx):
    path, _ = tiny_llama
    cfg = json.loads((path / "config.json").read_text())
    cfg["model_type"] = "gpt2"
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(spinfer.NotSupportedError) as e:
        spinfer.Model.load(host_ctx, path)
    assert "gpt2" in e.value.message


def _cuda_context_or_skip():
    if not spinfer.has_cuda():
        pytest.skip("needs a CUDA build of spinfer")
    try:
        return spinfer.Context("cuda")
    except spinfer.NoDeviceError:
        pytest.skip("needs a GPU")


def test_model_on_cuda_matches_the_reference(tiny_llama, rng):
    path, ref = tiny_llama
    ctx = _cuda_context_or_skip()
    prompt = rng.integers(0, 96, size=9).tolist()
    full = forward_ref(ref, prompt + [11])
    with ctx, spinfer.Model.load(ctx, path, max_sequences=2) as model:
        assert rel_err(model.prefill(0, prompt), full[8]) <= 1e-2  # fp16 activations
        for _ in range(2):  # the second step replays the captured CUDA graph
            model.release_sequence(1)
            model.prefill(1, prompt, logits=False)
            assert rel_err(model.decode_step([1], [11])[0], full[9]) <= 1e-2
        tokens = model.generate_greedy(0, [1, 2, 3], max_new_tokens=4)
        assert len(tokens) == 4
