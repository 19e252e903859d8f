"""Tiny random Hugging Face checkpoints (OPT, LLaMA) written with numpy only, for the
converter and command-line tests (test_convert.py, test_cli.py)."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import numpy_convert as sc  # noqa: E402


def make_checkpoint(path, arch, rng, st_dtype, prune_linears=False, shards=2):
    """A tiny random OPT or LLaMA checkpoint in Hugging Face layout under `path`
    (config.json + `shards` safetensors files, 1 or 2; tensors stored as `st_dtype`:
    F32, F16 or BF16). With prune_linears the decoder layers' linear weights have their
    smaller half (by magnitude) set to zero, as a magnitude-pruned checkpoint has them.
    Returns the config dict."""
    V, H, I, L, heads = 61, 64, 128 if arch == "llama" else 192, 2, 4
    kvh = 2 if arch == "llama" else heads
    hd = H // heads
    t = {}
    def mat(r, c, s=0.2):
        return (rng.standard_normal((r, c)) * s).astype(np.float32)
    def lin(r, c):  # a decoder layer's linear weight
        w = mat(r, c)
        if prune_linears:
            w[np.abs(w) < np.median(np.abs(w))] = 0
        return w
    def vec(n, lo=-0.3, hi=0.3):
        return rng.uniform(lo, hi, n).astype(np.float32)
    if arch == "opt":
        cfg = dict(model_type="opt", vocab_size=V, hidden_size=H, num_hidden_layers=L, ffn_dim=I,
                   num_attention_heads=heads, max_position_embeddings=32, do_layer_norm_before=True,
                   word_embed_proj_dim=H, activation_function="relu", enable_bias=True,
                   torch_dtype="float32")
        p = "model.decoder."
        t[p + "embed_tokens.weight"] = mat(V, H, 1.0)
        t[p + "embed_positions.weight"] = mat(34, H, 0.5)
        t[p + "final_layer_norm.weight"] = vec(H, 0.5, 1.5)
        t[p + "final_layer_norm.bias"] = vec(H)
        for i in range(L):
            q = f"{p}layers.{i}."
            for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
                t[q + f"self_attn.{n}.weight"] = lin(H, H)
                t[q + f"self_attn.{n}.bias"] = vec(H)
            t[q + "fc1.weight"], t[q + "fc1.bias"] = lin(I, H), vec(I)
            t[q + "fc2.weight"], t[q + "fc2.bias"] = lin(H, I), vec(H)
            for n in ("self_attn_layer_norm", "final_layer_norm"):
                t[q + f"{n}.weight"], t[q + f"{n}.bias"] = vec(H, 0.5, 1.5), vec(H)
    else:
        cfg = dict(model_type="llama", vocab_size=V, hidden_size=H, num_hidden_layers=L,
                   intermediate_size=I, num_attention_heads=heads, num_key_value_heads=kvh,
                   max_position_embeddings=64, rms_norm_eps=1e-6, rope_theta=10000.0,
                   hidden_act="silu", tie_word_embeddings=False, torch_dtype="float32")
        t["model.embed_tokens.weight"] = mat(V, H, 1.0)
        t["model.norm.weight"] = vec(H, 0.5, 1.5)
        t["lm_head.weight"] = mat(V, H)
        for i in range(L):
            q = f"model.layers.{i}."
            t[q + "self_attn.q_proj.weight"], t[q + "self_attn.o_proj.weight"] = lin(H, H), lin(H, H)
            t[q + "self_attn.k_proj.weight"], t[q + "self_attn.v_proj.weight"] = lin(kvh * hd, H), lin(kvh * hd, H)
            t[q + "mlp.gate_proj.weight"], t[q + "mlp.up_proj.weight"] = lin(I, H), lin(I, H)
            t[q + "mlp.down_proj.weight"] = lin(H, I)
            t[q + "input_layernorm.weight"] = vec(H, 0.5, 1.5)
            t[q + "post_attention_layernorm.weight"] = vec(H, 0.5, 1.5)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f)
    items = []
    for n, a in sorted(t.items()):
        if st_dtype == "F32":
            items.append((n, "F32", a.shape, a))
        else:
            items.append((n, st_dtype, a.shape, sc.f32_to_bits(a, st_dtype)))
    if shards == 1:
        sc.write_safetensors(os.path.join(path, "model.safetensors"), items, {"format": "pt"})
    else:  # two shards, as HF writes large models
        half = len(items) // 2
        sc.write_safetensors(os.path.join(path, "model-00001-of-00002.safetensors"), items[:half], {"format": "pt"})
        sc.write_safetensors(os.path.join(path, "model-00002-of-00002.safetensors"), items[half:], {"format": "pt"})
    return cfg
