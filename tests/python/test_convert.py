"""Model conversion (spinfer_convert_model through tools/spinfer_convert.py) end to end
on the host backend.

Tiny random OPT and LLaMA checkpoints are written in Hugging Face layout (numpy
only), converted with pruning, and then:
  0. the library's output decodes to exactly the weights of the old numpy converter
     (tests/python/numpy_convert.py), which this replaced;
  1. every converted linear weight, loaded and decoded by libspinfer, equals the
     pruned weight rounded to the storage dtype, at the requested sparsity;
  2. spinfer_model_load + prefill + decode steps give the logits of an independent
     float64 numpy forward pass on the same weights (||d|| / ||ref|| <= 1e-4).
  3. (when given) the C++ example spinfer_generate, run on a converted model, prints
     the greedy tokens of the numpy forward (wherever its top-two margin is clear).
Usage: test_convert.py PATH/TO/libspinfer.so [PATH/TO/spinfer_generate]
"""
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
sys.path.insert(0, os.path.dirname(__file__))
import numpy_convert as sc  # noqa: E402  (the reference: the old numpy converter)
import spinfer_convert  # noqa: E402  (the thin layer over the library)

failures = 0


def check(ok, what):
    global failures
    if not ok:
        print("FAIL:", what)
        failures += 1


from tiny_checkpoint import make_checkpoint  # noqa: E402


# ---- float64 numpy forward -------------------------------------------------------------

def load_converted(path):
    """Dense float64 weights of a converted directory (decoded with the numpy decoder)."""
    t, meta = {}, {}
    for file in sorted(f for f in os.listdir(path) if f.endswith(".safetensors")):
        t.update(sc.read_safetensors(os.path.join(path, file)))
        with open(os.path.join(path, file), "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            meta.update(json.loads(f.read(n))["__metadata__"])
    out = {}
    for key, info in meta.items():
        if key.startswith("spinfer.matrix."):
            name, info = key[len("spinfer.matrix."):], json.loads(info)
            bits = sc.decode(t[name + ".values"][2], t[name + ".bitmaps"][2], t[name + ".group_offsets"][2],
                             info["rows"], info["cols"])
            out[name] = sc.bits_to_f32(bits, info["dtype"]).astype(np.float64)
    for name, (dt, shape, a) in t.items():
        if dt in ("F16", "BF16") and not name.rsplit(".", 1)[-1] in ("values",):
            out[name] = sc.bits_to_f32(a, dt).astype(np.float64)
        elif dt == "F32":
            out[name] = a.astype(np.float64)
    return out


def forward(cfg, w, tokens):
    """Logits of the last token of `tokens`, float64, from scratch."""
    opt = cfg["model_type"] == "opt"
    H, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    kvh = cfg.get("num_key_value_heads", heads)
    hd = H // heads
    n = len(tokens)

    def ln(x, g, b):
        m = x.mean(-1, keepdims=True)
        return (x - m) / np.sqrt(((x - m) ** 2).mean(-1, keepdims=True) + 1e-5) * g + b

    def rms(x, g):
        return x / np.sqrt((x ** 2).mean(-1, keepdims=True) + cfg.get("rms_norm_eps", 1e-6)) * g

    def rope(x):  # x [n, h, hd]
        inv = 10000.0 ** (-np.arange(0, hd, 2) / hd)
        ang = np.arange(n)[:, None] * inv[None, :]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        a, b = x[..., :hd // 2], x[..., hd // 2:]
        return np.concatenate([a * c - b * s, b * c + a * s], -1)

    lin = lambda x, name, bias=True: x @ w[name + ".weight"].T + (w[name + ".bias"] if bias and name + ".bias" in w else 0)
    if opt:
        p = "model.decoder."
        h = w[p + "embed_tokens.weight"][tokens] + w[p + "embed_positions.weight"][np.arange(n) + 2]
    else:
        p = "model."
        h = w[p + "embed_tokens.weight"][tokens]
    for i in range(cfg["num_hidden_layers"]):
        q = f"{p}layers.{i}."
        x = ln(h, w[q + "self_attn_layer_norm.weight"], w[q + "self_attn_layer_norm.bias"]) if opt \
            else rms(h, w[q + "input_layernorm.weight"])
        Q = lin(x, q + "self_attn.q_proj").reshape(n, heads, hd)
        K = lin(x, q + "self_attn.k_proj").reshape(n, kvh, hd)
        Vv = lin(x, q + "self_attn.v_proj").reshape(n, kvh, hd)
        if not opt:
            Q, K = rope(Q), rope(K)
        K, Vv = np.repeat(K, heads // kvh, 1), np.repeat(Vv, heads // kvh, 1)
        s = np.einsum("thd,shd->hts", Q, K) / np.sqrt(hd)
        s = s + np.triu(np.full((n, n), -np.inf), 1)
        a = np.exp(s - s.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        att = np.einsum("hts,shd->thd", a, Vv).reshape(n, H)
        h = h + lin(att, q + ("self_attn.out_proj" if opt else "self_attn.o_proj"))
        if opt:
            x = ln(h, w[q + "final_layer_norm.weight"], w[q + "final_layer_norm.bias"])
            h = h + lin(np.maximum(lin(x, q + "fc1"), 0), q + "fc2")
        else:
            x = rms(h, w[q + "post_attention_layernorm.weight"])
            g = lin(x, q + "mlp.gate_proj")
            h = h + lin(g / (1 + np.exp(-g)) * lin(x, q + "mlp.up_proj"), q + "mlp.down_proj")
    h = ln(h, w[p + "final_layer_norm.weight"], w[p + "final_layer_norm.bias"]) if opt else rms(h, w[p + "norm.weight"])
    head = w["lm_head.weight"] if "lm_head.weight" in w else w[p + "embed_tokens.weight"]
    return h[-1] @ head.T


# ---- libspinfer -------------------------------------------------------------------

class Lib:
    def __init__(self, path):
        L = self.L = ctypes.CDLL(path)
        L.spinfer_last_error_message.restype = ctypes.c_char_p
        L.spinfer_context_create.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
        L.spinfer_model_load.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p,
                                         ctypes.c_void_p, ctypes.c_void_p]
        L.spinfer_model_prefill.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p,
                                            ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p]
        L.spinfer_model_decode_step.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                                ctypes.c_void_p, ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p]
        L.spinfer_model_destroy.argtypes = [ctypes.c_void_p]
        L.spinfer_context_destroy.argtypes = [ctypes.c_void_p]
        L.spinfer_load.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_char_p]
        L.spinfer_matrix_decode.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int64]
        L.spinfer_matrix_destroy.argtypes = [ctypes.c_void_p]

    def ok(self, status):
        if status != 0:
            raise RuntimeError(f"spinfer status {status}: {self.L.spinfer_last_error_message().decode()}")


def check_example(exe, model_dir, cfg, w, tag):
    prompt = [3, 1, 4, 1, 5]
    run = subprocess.run([exe, model_dir, "--backend", "host", "--max-new", "8"] + [str(t) for t in prompt],
                         capture_output=True, text=True, timeout=120)
    line = [l for l in run.stdout.splitlines() if l.startswith("generated:")]
    check(run.returncode == 0 and len(line) == 1, f"{tag}: spinfer_generate failed: {run.stdout} {run.stderr}")
    if run.returncode != 0 or not line:
        return
    tokens = [int(t) for t in line[0].split()[1:]]
    check(len(tokens) == 8, f"{tag}: spinfer_generate printed {len(tokens)} tokens, expected 8")
    seq = list(prompt)
    for tok in tokens:
        ref = forward(cfg, w, seq)
        top2 = np.sort(ref)[-2:]
        if top2[1] - top2[0] > 1e-4 * np.abs(ref).max():
            check(tok == int(np.argmax(ref)), f"{tag}: example token {tok} != reference arg-max {int(np.argmax(ref))}")
        seq.append(tok)


def main():
    lib = Lib(sys.argv[1])
    rng = np.random.default_rng(7)
    tmp = tempfile.mkdtemp()
    ctx = ctypes.c_void_p()
    lib.ok(lib.L.spinfer_context_create(ctypes.byref(ctx), 1))  # host backend
    for arch, st_dtype, dtype, sparsity in [("llama", "F32", "float16", 0.6), ("opt", "F16", "float16", 0.5),
                                            ("llama", "BF16", "bfloat16", 0.7)]:
        tag = f"{arch}/{st_dtype}->{dtype}@{sparsity}"
        src, dst = os.path.join(tmp, tag.replace("/", "_") + "_src"), os.path.join(tmp, tag.replace("/", "_") + "_dst")
        cfg = make_checkpoint(src, arch, rng, st_dtype)
        achieved = spinfer_convert.convert(src, dst, sparsity, dtype, log=lambda *_: None, lib=sys.argv[1])
        check(abs(achieved - sparsity) < 0.01, f"{tag}: sparsity {achieved} instead of {sparsity}")
        w = load_converted(dst)
        # 0. The same weights as the old numpy converter gave.
        sc.convert(src, dst + "_numpy", sparsity, dtype, log=lambda *_: None)
        old = load_converted(dst + "_numpy")
        check(sorted(old) == sorted(w), f"{tag}: tensors differ from the numpy converter's")
        # Identical for F32 sources; from 16-bit ones, magnitudes tie, and the numpy
        # converter's `<=` threshold pruned every tie, where the library's strict one
        # keeps them: its extra non-zeros are all of the one tied magnitude.
        for name in old:
            a, b = old[name], w.get(name)
            if st_dtype == "F32" or b is None:
                check(b is not None and np.array_equal(a, b), f"{tag}: {name} differs from the numpy converter's")
                continue
            extra = (a == 0) & (b != 0)
            check(np.array_equal(a[a != 0], b[a != 0]) and np.unique(np.abs(b[extra])).size <= 1,
                  f"{tag}: {name} differs from the numpy converter's beyond ties at the threshold")
        # 1. libspinfer decodes every matrix to the pruned, rounded weight.
        for name in [k for k in w if sc.LINEAR.search(k)][:6]:
            h = ctypes.c_void_p()
            lib.ok(lib.L.spinfer_load(ctypes.byref(h), os.path.join(dst, "model.safetensors").encode(), name.encode()))
            got = np.full(w[name].shape, np.nan, dtype=np.float32)
            lib.ok(lib.L.spinfer_matrix_decode(h, got.ctypes.data, 0, got.shape[1]))
            lib.L.spinfer_matrix_destroy(h)
            check(np.array_equal(got.astype(np.float64), w[name]), f"{tag}: {name} decodes differently")
        # 2. Model logits against the numpy forward.
        model = ctypes.c_void_p()
        lib.ok(lib.L.spinfer_model_load(ctx, ctypes.byref(model), dst.encode(), None, None))
        V = cfg["vocab_size"]
        tokens = [int(x) for x in rng.integers(0, V, 7)]
        logits = np.full(V, np.nan, dtype=np.float32)
        arr = (ctypes.c_int32 * len(tokens))(*tokens)
        lib.ok(lib.L.spinfer_model_prefill(ctx, model, 0, arr, len(tokens), logits.ctypes.data, None))
        errs = []
        ref = forward(cfg, w, tokens)
        errs.append(np.linalg.norm(logits - ref) / np.linalg.norm(ref))
        for step in range(3):
            tok = int(np.argmax(logits))
            tokens.append(tok)
            seq, t = ctypes.c_int32(0), ctypes.c_int32(tok)
            lib.ok(lib.L.spinfer_model_decode_step(ctx, model, ctypes.byref(seq), ctypes.byref(t), 1,
                                                   logits.ctypes.data, None))
            ref = forward(cfg, w, tokens)
            errs.append(np.linalg.norm(logits - ref) / np.linalg.norm(ref))
        check(max(errs) <= 1e-4, f"{tag}: logits rel err {max(errs):.2e} > 1e-4")
        print(f"{tag}: sparsity {achieved:.3f}, max logits rel err {max(errs):.2e}")
        lib.L.spinfer_model_destroy(model)
        if len(sys.argv) > 2 and sys.argv[2]:
            check_example(sys.argv[2], dst, cfg, w, tag)
    from convert_inputs import check_inputs  # noqa: E402
    check_inputs(lib, ctx, tmp, check, forward, load_converted)
    lib.L.spinfer_context_destroy(ctx)
    shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        sys.exit(1)
    print("spinfer_convert: all checks passed")


if __name__ == "__main__":
    main()
