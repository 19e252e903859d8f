"""The converter's inputs beyond one dense file (part of test_convert.py): a pruned LLaMA
checkpoint written dense with zeros, sharded with an index, and as compressed-tensors
sparse-bitmask (encoded here in numpy, independently of the library) each convert and
give the greedy tokens of the float64 numpy forward (and of transformers on the CPU
when it is installed); a table of bad inputs gives the library's status and message."""
import ctypes
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import numpy_convert as sc  # noqa: E402
import spinfer_convert  # noqa: E402
from tiny_checkpoint import make_checkpoint  # noqa: E402

QUANT = {"quant_method": "compressed-tensors", "format": "sparse-bitmask", "config_groups": {},
         "sparsity_config": {"format": "sparse-bitmask", "targets": ["Linear"], "ignore": ["lm_head"],
                             "sparsity_structure": "unstructured"}}


def bitmask_encode(w):
    """compressed-tensors sparse-bitmask arrays of float32 w: values, bitmask, row_offsets."""
    nz = w != 0
    counts = nz.sum(1)
    return w[nz], np.packbits(nz, axis=1, bitorder="little"), (np.cumsum(counts) - counts).astype(np.int64)


def read_all(path):
    t = {}
    for f in sorted(p for p in os.listdir(path) if p.endswith(".safetensors")):
        t.update(sc.read_safetensors(os.path.join(path, f)))
    return t


def write_compressed(src, dst, cfg):
    """The dense checkpoint `src` rewritten as compressed-tensors sparse-bitmask into `dst`."""
    os.makedirs(dst, exist_ok=True)
    items = []
    for name, (dt, shape, a) in sorted(read_all(src).items()):
        if sc.LINEAR.search(name):
            x = a.astype(np.float32) if dt == "F32" else sc.bits_to_f32(a, dt)
            values, mask, offsets = bitmask_encode(x)
            p = name[:-len(".weight")]
            items += [(p + ".shape", "I64", [2], np.array(shape, dtype=np.int64)),
                      (p + ".compressed", "F32", [values.size], values),
                      (p + ".bitmask", "U8", list(mask.shape), mask),
                      (p + ".row_offsets", "I64", [offsets.size], offsets)]
        else:
            items.append((name, dt, shape, a))
    sc.write_safetensors(os.path.join(dst, "model.safetensors"), items, {"format": "pt"})
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(dict(cfg, quantization_config=QUANT), f)
    return items


def greedy(lib, ctx, path, prompt, steps):
    model = ctypes.c_void_p()
    lib.ok(lib.L.spinfer_model_load(ctx, ctypes.byref(model), path.encode(), None, None))
    logits = np.full(61, np.nan, dtype=np.float32)
    arr = (ctypes.c_int32 * len(prompt))(*prompt)
    lib.ok(lib.L.spinfer_model_prefill(ctx, model, 0, arr, len(prompt), logits.ctypes.data, None))
    out = []
    for _ in range(steps):
        tok = int(np.argmax(logits))
        out.append(tok)
        seq, t = ctypes.c_int32(0), ctypes.c_int32(tok)
        lib.ok(lib.L.spinfer_model_decode_step(ctx, model, ctypes.byref(seq), ctypes.byref(t), 1,
                                               logits.ctypes.data, None))
    lib.L.spinfer_model_destroy(model)
    return out


def reference_tokens(cfg, w, prompt, steps, forward):
    """Greedy tokens of the numpy forward, with None where the top two are too close to call."""
    seq, out = list(prompt), []
    for _ in range(steps):
        ref = forward(cfg, w, seq)
        top2 = np.sort(ref)[-2:]
        tok = int(np.argmax(ref))
        out.append(tok if top2[1] - top2[0] > 1e-3 * np.abs(ref).max() else None)
        seq.append(tok)
    return out


def transformers_tokens(src, prompt, steps):
    try:
        import torch
        import transformers
    except ImportError:
        return None
    model = transformers.AutoModelForCausalLM.from_pretrained(src, torch_dtype=torch.float32)
    ids = model.generate(torch.tensor([prompt]), max_new_tokens=steps, do_sample=False)
    return [int(t) for t in ids[0, len(prompt):]]


def check_inputs(lib, ctx, tmp, check, forward, load_converted):
    rng = np.random.default_rng(11)
    src = os.path.join(tmp, "pruned_src")
    cfg = make_checkpoint(src, "llama", rng, "F32", prune_linears=True, shards=2)
    index = {"metadata": {}, "weight_map": {}}
    for f in sorted(p for p in os.listdir(src) if p.endswith(".safetensors")):
        for name in sc.read_safetensors(os.path.join(src, f)):
            index["weight_map"][name] = f
    with open(os.path.join(src, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f)
    compressed = os.path.join(tmp, "compressed_src")
    write_compressed(src, compressed, cfg)
    prompt, steps = [3, 1, 4, 1, 5], 6
    hf = transformers_tokens(src, prompt, steps)
    if hf is None:
        print("convert inputs: transformers/torch not installed, compared with the numpy forward only")

    outputs = {}
    for tag, path, shard_size in [("dense with zeros", src, None), ("sharded output", src, 40000),
                                  ("compressed-tensors", compressed, None)]:
        dst = os.path.join(tmp, tag.replace(" ", "_") + "_dst")
        achieved = spinfer_convert.convert(path, dst, 0.0, "float16", log=lambda *_: None, shard_size=shard_size,
                                           lib=sys.argv[1])
        check(abs(achieved - 0.5) < 0.01, f"{tag}: the checkpoint's zeros were not kept ({achieved})")
        files = sorted(p for p in os.listdir(dst) if p.endswith(".safetensors"))
        check((len(files) > 1) == (shard_size is not None), f"{tag}: files {files}")
        check(os.path.exists(os.path.join(dst, "model.safetensors.index.json")) == (shard_size is not None),
              f"{tag}: index present or missing wrongly")
        w = load_converted(dst)
        outputs[tag] = w
        got = greedy(lib, ctx, dst, prompt, steps)
        want = reference_tokens(cfg, w, prompt, steps, forward)
        check(all(a == b for a, b in zip(got, want) if b is not None), f"{tag}: tokens {got}, numpy forward {want}")
        if hf is not None:
            check(got == hf, f"{tag}: tokens {got}, transformers {hf}")
        print(f"convert inputs: {tag}: greedy tokens {got}")
    base = outputs["dense with zeros"]
    for tag in ("sharded output", "compressed-tensors"):
        check(sorted(outputs[tag]) == sorted(base) and all(np.array_equal(outputs[tag][k], base[k]) for k in base),
              f"{tag}: weights differ from the single-file dense conversion")

    # Bad inputs: each gives the library's status and a message naming the problem.
    def bad(tag, edit_config=None, edit_tensors=None):
        path = os.path.join(tmp, "bad_" + tag.replace(" ", "_"))
        items = write_compressed(src, path, cfg)
        if edit_config:
            with open(os.path.join(path, "config.json")) as f:
                c = json.load(f)
            edit_config(c)
            with open(os.path.join(path, "config.json"), "w") as f:
                json.dump(c, f)
        if edit_tensors:
            items = [edit_tensors(*it) for it in items]
            sc.write_safetensors(os.path.join(path, "model.safetensors"), items, {"format": "pt"})
        return path

    def set_q(**kw):
        return lambda c: c["quantization_config"].update(kw)

    p0 = "model.layers.0.mlp.up_proj"

    def tensor_edit(name, fn):
        return lambda n, dt, shape, a: fn(n, dt, shape, a) if n == name else (n, dt, shape, a)

    table = [
        ("gptq", set_q(quant_method="gptq"), None, "NOT_SUPPORTED", "gptq"),
        ("int4 group", set_q(config_groups={"g": {"targets": ["Linear"], "weights": {"num_bits": 4, "type": "int"}}}),
         None, "NOT_SUPPORTED", "4-bit int"),
        ("pack-quantized", set_q(format="pack-quantized"), None, "NOT_SUPPORTED", "pack-quantized"),
        ("2:4 bitmask", lambda c: c["quantization_config"]["sparsity_config"].update(format="sparse-24-bitmask"),
         None, "NOT_SUPPORTED", "sparse-24-bitmask"),
        ("shape of 3", None, tensor_edit(p0 + ".shape", lambda n, dt, s, a: (n, dt, [3], np.array([1, 2, 3], np.int64))),
         "CORRUPT_DATA", "2 entries"),
        ("row_offsets out of range", None,
         tensor_edit(p0 + ".row_offsets", lambda n, dt, s, a: (n, dt, s, np.where(np.arange(a.size) == 3, 2**40, a))),
         "CORRUPT_DATA", "row_offsets[3]"),
        ("short bitmask", None, tensor_edit(p0 + ".bitmask", lambda n, dt, s, a: (n, dt, [s[0] - 1, s[1]], a[1:])),
         "CORRUPT_DATA", "bitmask"),
        ("missing values", None,
         tensor_edit(p0 + ".compressed", lambda n, dt, s, a: (n, dt, [s[0] - 2], a[:-2])), "CORRUPT_DATA", "holds"),
    ]
    for tag, edit_config, edit_tensors, status, named in table:
        path = bad(tag, edit_config, edit_tensors)
        try:
            spinfer_convert.convert(path, path + "_dst", 0.0, log=lambda *_: None, lib=sys.argv[1])
            check(False, f"bad input {tag}: converted")
        except RuntimeError as e:
            check(status in str(e) and named in str(e), f"bad input {tag}: {e}")
            left = os.listdir(path + "_dst") if os.path.isdir(path + "_dst") else []
            check(not any("safetensors" in f or f.endswith(".partial") for f in left),
                  f"bad input {tag}: output left behind")
