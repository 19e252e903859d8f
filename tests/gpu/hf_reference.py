#!/usr/bin/env python3
"""spinfer against Hugging Face transformers on the same pruned weights (issue 6, item 4).

For each case (tiny random OPT / LLaMA / Qwen2 / Qwen3 built from a config, nothing
downloaded; Qwen2 with random q/k/v biases and tied embeddings, Qwen3 with q/k norms and
head_dim 64 != hidden / heads):
  1. build the model with transformers, prune every decoder linear weight (unstructured
     magnitude, per matrix), round all parameters to the case's dtype, save it;
  2. convert it with tools/spinfer_convert.py (spinfer_convert_model of the library under test);
  3. decoder-layer outputs: every layer through the C API (spinfer_decoder_layer_*,
     CUDA) on the HF float64 input of that layer, against HF's float64 output (not for
     Qwen3: the layer C API has no q/k norm weights; its model check covers them);
  4. model: three sequences of different lengths prefilled, then 16 greedy decode
     steps batched through the paged KV cache (spinfer_model_decode_step, CUDA graphs),
     logits at every step against HF float64 logits on the same tokens; the greedy
     token must equal HF's arg-max wherever HF's top-two margin exceeds the tolerance.

Tolerances (relative, ||ours - ref|| / ||ref|| against float64): DESIGN.md §6 gives
1e-3 (fp16) and 1e-2 (bf16) for one op. Whole layers and models round intermediates
several times, so the bound asserted is max(op tolerance, 2 x the error of HF itself
run in that dtype on the GPU), and both numbers are printed.

Usage: hf_reference.py PATH/TO/libspinfer.so [--out DIR] [--host] [--only qwen2,qwen3]
       (exit 0 = all checks passed)
  --host: spinfer's host backend and HF on the CPU (no GPU needed; slower, fp32 activations).
"""
import argparse
import ctypes
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import spinfer_convert as sc  # noqa: E402

LINEAR_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "out_proj", "fc1", "fc2", "gate_proj", "up_proj", "down_proj")
results = []  # (case, check, value, bound, ok)
DEVICE = "cuda"  # where spinfer and HF's own half-precision run go; "cpu" with --host


def record(case, check, value, bound, ok=None):
    ok = (value <= bound) if ok is None else ok
    results.append((case, check, value, bound, ok))
    print(f"  [{'ok' if ok else 'FAIL'}] {check}: {value:.3e} (bound {bound:.3e})", flush=True)


# ---- C API through ctypes ---------------------------------------------------------------

class DecoderConfig(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("arch", ctypes.c_int), ("hidden_size", ctypes.c_int64),
                ("intermediate_size", ctypes.c_int64), ("num_heads", ctypes.c_int), ("num_kv_heads", ctypes.c_int),
                ("head_dim", ctypes.c_int), ("norm_eps", ctypes.c_double), ("rope_theta", ctypes.c_double),
                ("activation", ctypes.c_int), ("max_tokens", ctypes.c_int64), ("fuse_projections", ctypes.c_int)]


class DecoderWeights(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t)] + [(n, ctypes.c_void_p) for n in (
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "q_bias", "k_bias", "v_bias",
        "o_bias", "up_bias", "down_bias", "attn_norm_weight", "attn_norm_bias", "mlp_norm_weight",
        "mlp_norm_bias")] + [("dense_dtype", ctypes.c_int)]


class KvConfig(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("num_layers", ctypes.c_int), ("num_kv_heads", ctypes.c_int),
                ("head_dim", ctypes.c_int), ("block_size", ctypes.c_int), ("num_blocks", ctypes.c_int64),
                ("max_sequences", ctypes.c_int), ("max_sequence_length", ctypes.c_int64), ("dtype", ctypes.c_int)]


class Lib:
    def __init__(self, path):
        self.L = L = ctypes.CDLL(path)
        L.spinfer_last_error_message.restype = ctypes.c_char_p
        vp, i64, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32
        pvp = ctypes.POINTER(vp)
        sig = {
            "spinfer_context_create": [pvp, ctypes.c_int],
            "spinfer_context_destroy": [vp],
            "spinfer_load": [pvp, ctypes.c_char_p, ctypes.c_char_p],
            "spinfer_matrix_upload": [vp, vp, pvp, vp],
            "spinfer_matrix_destroy": [vp],
            "spinfer_model_load": [vp, pvp, ctypes.c_char_p, vp, vp],
            "spinfer_model_prefill": [vp, vp, i32, vp, i64, vp, vp],
            "spinfer_model_decode_step": [vp, vp, vp, vp, i32, vp, vp],
            "spinfer_model_destroy": [vp],
            "spinfer_decoder_config_init": [vp],
            "spinfer_decoder_weights_init": [vp],
            "spinfer_decoder_layer_create": [vp, pvp, vp, vp, vp],
            "spinfer_decoder_layer_forward": [vp, vp, vp, ctypes.c_int, vp, i64, vp, ctypes.c_int, vp],
            "spinfer_decoder_layer_destroy": [vp],
            "spinfer_kv_cache_config_init": [vp],
            "spinfer_kv_cache_create": [vp, pvp, vp],
            "spinfer_kv_cache_begin_step": [vp, vp, vp, i32, vp],
            "spinfer_kv_cache_destroy": [vp],
        }
        for name, args in sig.items():
            getattr(L, name).argtypes = args

    def __call__(self, name, *args):
        status = getattr(self.L, name)(*args)
        if status != 0:
            raise RuntimeError(f"{name}: status {status}: {self.L.spinfer_last_error_message().decode()}")


# ---- model construction -----------------------------------------------------------------

def build_hf(arch, dtype, sparsity, seed):
    import transformers
    torch.manual_seed(seed)
    if arch == "opt":
        cfg = transformers.OPTConfig(vocab_size=1000, hidden_size=256, num_hidden_layers=4, ffn_dim=1024,
                                     num_attention_heads=8, max_position_embeddings=256, do_layer_norm_before=True,
                                     word_embed_proj_dim=256, init_std=0.05, pad_token_id=1)
        model = transformers.OPTForCausalLM(cfg)
    elif arch == "qwen2":
        cfg = transformers.Qwen2Config(vocab_size=1000, hidden_size=256, intermediate_size=704, num_hidden_layers=4,
                                       num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=256,
                                       rms_norm_eps=1e-6, rope_theta=1000000.0, initializer_range=0.05,
                                       tie_word_embeddings=True, use_sliding_window=False)
        model = transformers.Qwen2ForCausalLM(cfg)
    elif arch == "qwen3":
        cfg = transformers.Qwen3Config(vocab_size=1000, hidden_size=256, intermediate_size=704, num_hidden_layers=4,
                                       num_attention_heads=8, num_key_value_heads=2, head_dim=64,
                                       max_position_embeddings=256, rms_norm_eps=1e-6, rope_theta=1000000.0,
                                       initializer_range=0.05, tie_word_embeddings=False, attention_bias=False,
                                       use_sliding_window=False)
        model = transformers.Qwen3ForCausalLM(cfg)
    else:
        cfg = transformers.LlamaConfig(vocab_size=1000, hidden_size=256, intermediate_size=704, num_hidden_layers=4,
                                       num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=256,
                                       rms_norm_eps=1e-6, rope_theta=10000.0, initializer_range=0.05,
                                       tie_word_embeddings=False)
        model = transformers.LlamaForCausalLM(cfg)
    model.eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and name.split(".")[-2] in LINEAR_NAMES:
                k = int(round(sparsity * p.numel()))
                thr = p.abs().flatten().kthvalue(k).values
                p[p.abs() <= thr] = 0
            elif p.dim() == 1 and "norm" in name:
                p.uniform_(0.7, 1.3)  # non-trivial norm weights (Qwen3's q_norm / k_norm too)
            elif p.dim() == 1 and name.endswith("_proj.bias") and arch.startswith("qwen"):
                p.uniform_(-0.2, 0.2)  # Qwen2's q/k/v biases start at zero: make them count
        # RoPE frequencies are float32 buffers in HF; keep them out of the dtype casts.
        model._spinfer_rope = {n: b.detach().clone().float() for n, b in model.named_buffers() if "inv_freq" in n}
        cast(model, dtype)
        cast(model, torch.float64)  # parameters exactly representable in dtype
    return model, cfg


def rope_theta(cfg):
    """rope_theta of a config, from rope_parameters in newer transformers."""
    params = getattr(cfg, "rope_parameters", None)
    if isinstance(params, dict) and "rope_theta" in params:
        return float(params["rope_theta"])
    return float(getattr(cfg, "rope_theta", 10000.0))


def cast(model, dtype, device="cpu"):
    """model.to(dtype, device) with the RoPE frequency buffers restored (float32, or
    float64 in the float64 reference) instead of rounded to a half type."""
    model.to(device=device, dtype=dtype)
    keep = torch.float64 if dtype == torch.float64 else torch.float32
    for name, value in getattr(model, "_spinfer_rope", {}).items():
        owner, attr = model.get_submodule(name.rsplit(".", 1)[0]), name.rsplit(".", 1)[1]
        setattr(owner, attr, value.to(device=device, dtype=keep))
    return model


def hf_half_logits(model, dtype, tokens):
    m = cast(model, dtype, DEVICE)
    with torch.no_grad():
        out = m(torch.tensor([tokens]).to(DEVICE)).logits[0].double().cpu().numpy()
    cast(model, torch.float64)
    return out


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


# ---- checks -------------------------------------------------------------------------------

def check_layers(lib, ctx, model, cfg, arch, dtype, conv_dir, bound_op, case):
    """Each decoder layer alone through the C API, on HF's float64 input."""
    sp_dtype = 1 if dtype == torch.float16 else 2
    tokens = list(range(3, 3 + 40))
    with torch.no_grad():
        hs = model(torch.tensor([tokens]), output_hidden_states=True).hidden_states
    H = cfg.hidden_size
    heads = cfg.num_attention_heads
    kvh = getattr(cfg, "num_key_value_heads", heads)
    prefix = "model.decoder.layers." if arch == "opt" else "model.layers."
    path = os.path.join(conv_dir, "model.safetensors").encode()
    sd = {k: v.float().numpy() for k, v in model.state_dict().items()}
    worst = 0.0
    for i in range(cfg.num_hidden_layers - 1):  # the last hidden state has the final norm applied
        mats = []
        def load(name):
            h, d = ctypes.c_void_p(), ctypes.c_void_p()
            lib("spinfer_load", ctypes.byref(h), path, f"{prefix}{i}.{name}.weight".encode())
            if DEVICE != "cuda":
                mats.append(h)
                return h
            lib("spinfer_matrix_upload", ctx, h, ctypes.byref(d), None)
            lib.L.spinfer_matrix_destroy(h)
            mats.append(d)
            return d
        keep = []
        def arr(name):
            a = np.ascontiguousarray(sd[f"{prefix}{i}.{name}"], dtype=np.float32)
            keep.append(a)
            return a.ctypes.data
        w = DecoderWeights()
        lib("spinfer_decoder_weights_init", ctypes.byref(w))
        w.dense_dtype = 0
        if arch == "opt":
            w.q_proj, w.k_proj, w.v_proj = load("self_attn.q_proj"), load("self_attn.k_proj"), load("self_attn.v_proj")
            w.o_proj, w.up_proj, w.down_proj = load("self_attn.out_proj"), load("fc1"), load("fc2")
            w.q_bias, w.k_bias, w.v_bias = arr("self_attn.q_proj.bias"), arr("self_attn.k_proj.bias"), arr("self_attn.v_proj.bias")
            w.o_bias, w.up_bias, w.down_bias = arr("self_attn.out_proj.bias"), arr("fc1.bias"), arr("fc2.bias")
            w.attn_norm_weight, w.attn_norm_bias = arr("self_attn_layer_norm.weight"), arr("self_attn_layer_norm.bias")
            w.mlp_norm_weight, w.mlp_norm_bias = arr("final_layer_norm.weight"), arr("final_layer_norm.bias")
            inter = cfg.ffn_dim
        else:
            w.q_proj, w.k_proj, w.v_proj = load("self_attn.q_proj"), load("self_attn.k_proj"), load("self_attn.v_proj")
            w.o_proj, w.gate_proj = load("self_attn.o_proj"), load("mlp.gate_proj")
            w.up_proj, w.down_proj = load("mlp.up_proj"), load("mlp.down_proj")
            if arch == "qwen2":
                w.q_bias, w.k_bias = arr("self_attn.q_proj.bias"), arr("self_attn.k_proj.bias")
                w.v_bias = arr("self_attn.v_proj.bias")
            w.attn_norm_weight = arr("input_layernorm.weight")
            w.mlp_norm_weight = arr("post_attention_layernorm.weight")
            inter = cfg.intermediate_size
        c = DecoderConfig()
        lib("spinfer_decoder_config_init", ctypes.byref(c))
        c.arch = 0 if arch == "opt" else 1
        c.hidden_size, c.intermediate_size, c.num_heads, c.num_kv_heads = H, inter, heads, kvh
        c.norm_eps = 1e-5 if arch == "opt" else cfg.rms_norm_eps
        c.rope_theta = rope_theta(cfg)
        c.max_tokens = 64
        layer = ctypes.c_void_p()
        lib("spinfer_decoder_layer_create", ctx, ctypes.byref(layer), ctypes.byref(w), ctypes.byref(c), None)
        kc = KvConfig()
        lib("spinfer_kv_cache_config_init", ctypes.byref(kc))
        kc.num_layers, kc.num_kv_heads, kc.head_dim = 1, kvh, getattr(cfg, "head_dim", None) or H // heads
        on_gpu = DEVICE == "cuda"
        io_dtype = sp_dtype if on_gpu else 0  # host: F32 buffers holding dtype-rounded values
        kc.num_blocks, kc.max_sequences, kc.max_sequence_length, kc.dtype = 16, 1, 128, io_dtype
        cache = ctypes.c_void_p()
        lib("spinfer_kv_cache_create", ctx, ctypes.byref(cache), ctypes.byref(kc))
        # Prefill 32 tokens, then 8 decode steps of one token (the KV-cache decode path).
        x = hs[i][0].to(dtype)
        x = x.cuda().contiguous() if on_gpu else x.float().contiguous()
        y = torch.full_like(x, float("nan"))
        seq = (ctypes.c_int32 * 1)(0)
        for start, count in [(0, 32)] + [(32 + j, 1) for j in range(8)]:
            cnt = (ctypes.c_int32 * 1)(count)
            lib("spinfer_kv_cache_begin_step", cache, seq, cnt, 1, None)
            lib("spinfer_decoder_layer_forward", ctx, layer, cache, 0, x[start].data_ptr(), count,
                y[start].data_ptr(), io_dtype, None)
        if on_gpu:
            torch.cuda.synchronize()
        err = rel(y.double().cpu().numpy(), hs[i + 1][0].numpy())
        worst = max(worst, err)
        lib.L.spinfer_kv_cache_destroy(cache)
        lib.L.spinfer_decoder_layer_destroy(layer)
        for d in mats:
            lib.L.spinfer_matrix_destroy(d)
    # HF itself in this dtype, same layers: error of its hidden states.
    m = cast(model, dtype, DEVICE)
    with torch.no_grad():
        hh = m(torch.tensor([tokens]).to(DEVICE), output_hidden_states=True).hidden_states
    hf_err = max(rel(hh[i + 1][0].double().cpu().numpy(), hs[i + 1][0].numpy()) for i in range(cfg.num_hidden_layers - 1))
    cast(model, torch.float64)
    record(case, f"decoder layers (prefill 32 + 8 decode), worst of {cfg.num_hidden_layers - 1}; HF {str(dtype)[6:]} itself {hf_err:.2e}",
           worst, max(bound_op, 2 * hf_err))


def check_model(lib, ctx, model, cfg, dtype, conv_dir, bound_op, case, steps=16):
    spm = ctypes.c_void_p()
    lib("spinfer_model_load", ctx, ctypes.byref(spm), conv_dir.encode(), None, None)
    V = cfg.vocab_size
    rng = np.random.default_rng(5)
    prompts = [list(map(int, rng.integers(2, V, n))) for n in (12, 5, 20)]
    seqs = [list(p) for p in prompts]
    ours = [[] for _ in prompts]  # logits per step
    logits = np.full((len(prompts), V), np.nan, dtype=np.float32)
    t0 = time.time()
    for s, p in enumerate(prompts):
        arr = (ctypes.c_int32 * len(p))(*p)
        lib("spinfer_model_prefill", ctx, spm, s, arr, len(p), logits[s].ctypes.data, None)
        ours[s].append(logits[s].copy())
    ids = (ctypes.c_int32 * len(prompts))(*range(len(prompts)))
    for _ in range(steps):
        nxt = [int(np.argmax(ours[s][-1])) for s in range(len(prompts))]
        for s in range(len(prompts)):
            seqs[s].append(nxt[s])
        toks = (ctypes.c_int32 * len(prompts))(*nxt)
        logits[:] = np.nan
        lib("spinfer_model_decode_step", ctx, spm, ids, toks, len(prompts), logits.ctypes.data, None)
        for s in range(len(prompts)):
            ours[s].append(logits[s].copy())
    elapsed = time.time() - t0
    lib.L.spinfer_model_destroy(spm)
    worst, worst_hf, mismatches, compared = 0.0, 0.0, 0, 0
    for s, p in enumerate(prompts):
        full = seqs[s]
        with torch.no_grad():
            ref = model(torch.tensor([full])).logits[0].numpy()  # float64
        hf_half = hf_half_logits(model, dtype, full)
        for j, lo in enumerate(ours[s]):
            pos = len(p) - 1 + j
            if pos >= len(full):
                break
            r = ref[pos]
            worst = max(worst, rel(lo.astype(np.float64), r))
            worst_hf = max(worst_hf, rel(hf_half[pos], r))
            top2 = np.sort(r)[-2:]
            tol_abs = 2 * max(bound_op, 2 * worst_hf) * np.abs(r).max()
            if j < len(ours[s]) - 1 and top2[1] - top2[0] > tol_abs:
                compared += 1
                if int(np.argmax(lo)) != int(np.argmax(r)):
                    mismatches += 1
    bound = max(bound_op, 2 * worst_hf)
    record(case, f"logits, 3 sequences x (prefill + {steps} greedy steps); HF {str(dtype)[6:]} itself {worst_hf:.2e}",
           worst, bound)
    record(case, f"greedy token differs from HF arg-max at {mismatches} of {compared} decisive steps",
           float(mismatches), 0.0)
    print(f"  ({elapsed:.2f} s for prefill + {steps} decode steps incl. graph capture)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lib")
    ap.add_argument("--out", default=None)
    ap.add_argument("--host", action="store_true", help="host backend and CPU (no GPU needed)")
    ap.add_argument("--only", default=None, help="comma-separated families to run (opt,llama,qwen2,qwen3)")
    a = ap.parse_args()
    global DEVICE
    DEVICE = "cpu" if a.host else "cuda"
    lib = Lib(a.lib)
    ctx = ctypes.c_void_p()
    lib("spinfer_context_create", ctypes.byref(ctx), 1 if a.host else 2)  # HOST / CUDA
    import transformers
    where = "CPU (host backend)" if a.host else f"GPU {torch.cuda.get_device_name()}"
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, {where}")
    tmp = a.out or tempfile.mkdtemp()
    cases = [("llama", torch.float16, 0.6), ("opt", torch.float16, 0.5), ("llama", torch.bfloat16, 0.7),
             ("opt", torch.bfloat16, 0.6), ("qwen2", torch.float16, 0.6), ("qwen2", torch.bfloat16, 0.5),
             ("qwen3", torch.float16, 0.5), ("qwen3", torch.bfloat16, 0.6)]
    if a.only:
        cases = [c for c in cases if c[0] in a.only.split(",")]
    for arch, dtype, sparsity in cases:
        case = f"{arch}-{str(dtype)[6:]}-{int(sparsity * 100)}%"
        print(f"== {case}", flush=True)
        try:
            model, cfg = build_hf(arch, dtype, sparsity, seed=hash(case) % 1000)
            hf_dir, conv_dir = os.path.join(tmp, case + "-hf"), os.path.join(tmp, case + "-spinfer")
            cast(model, dtype).save_pretrained(hf_dir, safe_serialization=True)
            cast(model, torch.float64)
            achieved = sc.convert(hf_dir, conv_dir, 0.0, "float16" if dtype == torch.float16 else "bfloat16",
                                  lib=a.lib)  # the library under test, not an installed package
            record(case, "linear sparsity after conversion", abs(achieved - sparsity), 0.01)
            bound_op = 1e-3 if dtype == torch.float16 else 1e-2
            if arch != "qwen3":
                check_layers(lib, ctx, model, cfg, arch, dtype, conv_dir, bound_op, case)
            check_model(lib, ctx, model, cfg, dtype, conv_dir, bound_op, case)
        except Exception as e:  # report and go on with the next case
            import traceback
            traceback.print_exc()
            record(case, f"exception: {e}", 1.0, 0.0, ok=False)
    lib.L.spinfer_context_destroy(ctx)
    failed = [r for r in results if not r[4]]
    print("\n==== HF reference summary ====")
    for case, check, value, bound, ok in results:
        print(f"{'PASS' if ok else 'FAIL'}  {case:18s} {check}: {value:.3e} <= {bound:.3e}")
    print(f"==== {len(results) - len(failed)} passed, {len(failed)} failed ====")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
