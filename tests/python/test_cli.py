"""The `spinfer` command line: every bad argument is an exit code 2 with a message that
names the option and the value (never a crash, a hang or a silent default), an error of
the library is exit code 1 with its message, --help exits 0, a small demo runs and checks
itself against float64, `generate` gives deterministic greedy ids on a tiny pruned
LLaMA checkpoint written here (the ids of the C API example when given), `bench`
prints one timing line per N, `convert` validates its arguments, writes shards with an
index, and its output generates the checkpoint's ids, and `inspect` reports every tensor
of a file or model directory (unconverted F32, two BF16 shards, converted) with the
numbers numpy computes from the files, and names the file and tensor of a corrupt or
truncated one (exit 1).

usage: python3 test_cli.py PATH/TO/spinfer [PATH/TO/spinfer_generate]
"""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import numpy_convert as sc  # noqa: E402  (an independent numpy reader and encoder)
from tiny_checkpoint import make_checkpoint  # noqa: E402

cli = sys.argv[1]
example = sys.argv[2] if len(sys.argv) > 2 else None
failures = []


def run(*args):
    p = subprocess.run([cli, *args], capture_output=True, text=True, timeout=120, cwd="/tmp")
    return p.returncode, p.stdout + p.stderr


def expect(args, code, *needles):
    rc, out = run(*args)
    missing = [n for n in needles if n not in out]
    if rc != code or missing:
        failures.append(f"spinfer {' '.join(args)}: exit {rc} (want {code}), missing {missing}:\n{out}")


expect(["--help"], 0, "usage: spinfer", "demo", "inspect", "generate", "bench", "convert", "--version")
expect(["demo", "--help"], 0, "usage: spinfer demo", "--rows", "[1, 65536]", "--sparsity", "[0, 1)")
expect(["--version"], 0, "spinfer ")
expect([], 2, "usage:")
expect(["frobnicate"], 2, "unknown command 'frobnicate'", "usage:")
for value in ["1.5", "nan", "1.0", "-0.1", "abc", "0.5x", ""]:
    expect(["demo", "--sparsity", value], 2, "--sparsity", "[0, 1)")
for option in ["--rows", "--cols", "--tokens"]:
    for value in ["-5", "0", "abc", "12x", "99999999999999999999", "1e3"]:
        expect(["demo", option, value], 2, option, f"'{value}'")
expect(["demo", "--rows", "65536", "--cols", "65536"], 2, "at most 2^28")
expect(["demo", "--dtype", "fp32"], 2, "--dtype", "'fp32'")
expect(["demo", "--rows"], 2, "--rows", "missing")
expect(["demo", "--bogus", "1"], 2, "not expected", "--bogus")

# A small demo runs end to end; it prunes round(0.7 * 6144) = 4301 weights (spinfer_prune_magnitude).
rc, out = run("demo", "--rows", "64", "--cols", "96", "--tokens", "3", "--sparsity", "0.7")
if rc != 0 or "-> OK" not in out or "nnz 1843)" not in out:
    failures.append(f"small demo: exit {rc}, output:\n{out}")
rc, out = run("demo", "--rows", "40", "--cols", "40", "--tokens", "1", "--sparsity", "0", "--dtype", "bf16")
if rc != 0 or "nnz 1600)" not in out:
    failures.append(f"dense bf16 demo: exit {rc}, output:\n{out}")


# ---- generate ----------------------------------------------------------------------

def generated_ids(out):
    """The ids of the "generated:" line, or None."""
    lines = [line for line in out.splitlines() if line.startswith("generated:")]
    if len(lines) != 1:
        return None
    try:
        return [int(v) for v in lines[0].split()[1:]]
    except ValueError:
        return None


tmp = tempfile.mkdtemp(prefix="spinfer_test_cli_")
model = os.path.join(tmp, "tiny_llama")
# A pruned LLaMA in Hugging Face layout, one F32 file.
VOCAB = make_checkpoint(model, "llama", np.random.default_rng(7), "F32", prune_linears=True,
                        shards=1)["vocab_size"]
prompt = ["5", "17", "3"]

expect(["generate", "--help"], 0, "usage: spinfer generate")
expect(["generate", model, "--help"], 0, "usage: spinfer generate")
expect(["generate"], 2, "MODEL_DIR is required", "usage: spinfer generate")
for value in ["-5", "0", "abc", "12x", "99999999999999999999", "1e3", "", "2000000"]:
    expect(["generate", model, "--max-new", value], 2, "--max-new", f"'{value}'")
expect(["generate", model, "--max-new"], 2, "--max-new", "missing")
expect(["generate", model, "--backend", "gpu"], 2, "--backend", "'gpu'", "host, cuda or auto")
expect(["generate", model, "--bogus"], 2, "not expected", "--bogus")
expect(["generate", "--max-new", "4"], 2, "MODEL_DIR is required")
for value in ["abc", "-1", "1.5", "3000000000", "7x"]:
    expect(["generate", model, "--backend", "host", "1", value], 2, "TOKEN", f"'{value}'")
# The library's errors: exit 1 with its message.
expect(["generate", os.path.join(tmp, "missing"), "--backend", "host"], 1, "spinfer_model_load", "failed")
expect(["generate", os.path.join(model, "config.json"), "--backend", "host"], 1, "spinfer_model_load", "failed")
broken = os.path.join(tmp, "broken")
os.makedirs(broken)
with open(os.path.join(broken, "config.json"), "w") as f:
    f.write("{not json")
expect(["generate", broken, "--backend", "host"], 1, "spinfer_model_load", "failed")
expect(["generate", model, "--backend", "host", "1", str(VOCAB)], 1, "spinfer_model_generate_greedy", "failed")
expect(["generate", model, "--backend", "host", "--max-new", "100", "1"], 1, "spinfer_model_generate_greedy")
rc, out = run("--version")
if "host only" in out:
    expect(["generate", model, "--backend", "cuda"], 1, "spinfer_context_create", "failed")

rc, out = run("generate", model, "--backend", "host", "--max-new", "8", *prompt)
ids = generated_ids(out)
if rc != 0 or ids is None or len(ids) != 8 or not all(0 <= i < VOCAB for i in ids) or "tokens/s" not in out:
    failures.append(f"generate: exit {rc}, ids {ids}, output:\n{out}")
# Options may come before MODEL_DIR too: the same run, the same ids.
rc2, out2 = run("generate", "--max-new", "8", "--backend", "host", model, *prompt)
if generated_ids(out2) != ids:
    failures.append(f"generate is not deterministic (or options first change it): {ids} then {generated_ids(out2)}")
if example:
    p = subprocess.run([example, model, "--backend", "host", "--max-new", "8", *prompt],
                       capture_output=True, text=True, timeout=120)
    if generated_ids(p.stdout) != ids:
        failures.append(f"generate gives {ids}, the C API example {generated_ids(p.stdout)}:\n{p.stdout}{p.stderr}")

# ---- bench -------------------------------------------------------------------------

# ---- convert -----------------------------------------------------------------------

converted = os.path.join(tmp, "converted")
expect(["convert", "--help"], 0, "usage: spinfer convert", "SRC_DIR", "--sparsity", "[0, 1)")
expect(["convert"], 2, "SRC_DIR", "required")
expect(["convert", model], 2, "DST_DIR", "required")
for value in ["1.5", "nan", "1", "-0.1", "abc", "0.5x", "", "1e999"]:
    expect(["convert", model, converted, "--sparsity", value], 2, "--sparsity", f"'{value}'", "[0, 1)")
for value in ["0", "-5", "abc", "12x", "99999999999999999999", "1e3"]:
    expect(["convert", model, converted, "--shard-size", value], 2, "--shard-size", f"'{value}'")
for value in ["-1", "1025", "x", "2.5"]:
    expect(["convert", model, converted, "--threads", value], 2, "--threads", f"'{value}'")
expect(["convert", model, converted, "--dtype", "float32"], 2, "--dtype", "'float32'")
expect(["convert", model, converted, "--sparsity"], 2, "--sparsity", "missing")
expect(["convert", model, converted, "--bogus"], 2, "not expected", "--bogus")
expect(["convert", model, converted, "extra"], 2, "extra")
expect(["convert", os.path.join(tmp, "missing"), converted], 1, "spinfer_convert_model", "not a directory")
expect(["convert", model, model], 1, "the source directory")
rc, out = run("convert", model, converted, "--threads", "2", "--shard-size", "20000")
if rc != 0 or "[1/" not in out or "lm_head.weight: left dense" not in out or "converted " not in out:
    failures.append(f"convert: exit {rc}, output:\n{out}")
if not os.path.exists(os.path.join(converted, "model.safetensors.index.json")):
    failures.append("convert --shard-size 20000 wrote no index")
rc, out = run("generate", converted, "--backend", "host", "--max-new", "8", *prompt)
if generated_ids(out) != ids:
    failures.append(f"generate on the converted model gives {generated_ids(out)}, on the checkpoint {ids}")
rc, out = run("convert", model, converted)  # again, one file: the shards of the first run go
if rc != 0 or sorted(f for f in os.listdir(converted) if "safetensors" in f) != ["model.safetensors"]:
    failures.append(f"convert into the same directory: exit {rc}, files {os.listdir(converted)}:\n{out}")

weights = os.path.join(converted, "model.safetensors")
matrix = "model.layers.0.mlp.up_proj.weight"

expect(["bench", "--help"], 0, "usage: spinfer bench")
expect(["bench"], 2, "FILE is required")
for value in ["0", "-1", "abc", "1,,2", "8,", "99999999999999999999", "20000"]:
    expect(["bench", weights, "--tokens", value], 2, "--tokens", "'")
for value in ["0", "-3", "x", "100001"]:
    expect(["bench", weights, "--iters", value], 2, "--iters", f"'{value}'")
expect(["bench", weights, "--backend", "tpu"], 2, "--backend", "'tpu'")
expect(["bench", weights, "--iters"], 2, "--iters", "missing")
expect(["bench", weights, "--frob", "1"], 2, "not expected", "--frob")
expect(["bench", os.path.join(tmp, "missing.safetensors"), "--backend", "host"], 1, "failed")
expect(["bench", os.path.join(model, "config.json"), "--backend", "host"], 1, "failed")
expect(["bench", weights, "--backend", "host", "--matrix", "no.such.weight"], 1, "spinfer_load", "failed")
expect(["bench", os.path.join(model, "model.safetensors"), "--backend", "host"], 1, "holds no spinfer matrices")

rc, out = run("bench", weights, "--backend", "host", "--matrix", matrix, "--tokens", "1,3,16", "--iters", "3")
timed = [line.split() for line in out.splitlines() if line.strip().startswith(matrix)]
ns = [int(f[f.index("N") + 1]) for f in timed if "N" in f]
if rc != 0 or ns != [1, 3, 16] or not all(float(f[f.index("ms") - 1]) > 0 for f in timed) or "median of 3" not in out:
    failures.append(f"bench one matrix: exit {rc}, N {ns}, output:\n{out}")
rc, out = run("bench", weights, "--backend", "host", "--tokens", "2", "--iters", "2")
timed = [line for line in out.splitlines() if " N 2 " in line]
if rc != 0 or len(timed) != 14:  # 7 linear weights in each of 2 layers (the unpruned lm_head stays dense)
    failures.append(f"bench whole file: exit {rc}, {len(timed)} timed lines, output:\n{out}")

# ---- inspect ------------------------------------------------------------------------
# Every number against numpy: zeros and bytes read from the files by the converter's
# reader, encoded sizes by its independent numpy encoder (sc.encode).
import json  # noqa: E402


def inspect_json(path, *extra):
    rc, out = run("inspect", path, "--json", *extra)
    try:
        return rc, json.loads(out[:out.rindex("}") + 1]), out
    except ValueError:
        return rc, None, out


def encoded_bytes(values, bitmaps, offsets):
    return values.nbytes + bitmaps.nbytes + offsets.nbytes


def expected_tensors(directory_or_file):
    """{name: dict of what inspect must say}, from the files alone."""
    paths = [directory_or_file] if directory_or_file.endswith(".safetensors") else sorted(
        os.path.join(directory_or_file, p) for p in os.listdir(directory_or_file) if p.endswith(".safetensors"))
    want = {}
    for path in paths:
        t = sc.read_safetensors(path)
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            meta = json.loads(f.read(n)).get("__metadata__", {})
        matrices = {k[len("spinfer.matrix."):]: json.loads(v) for k, v in meta.items() if k.startswith("spinfer.matrix.")}
        for name, m in matrices.items():
            values, bitmaps, offsets = (t[name + s][2] for s in (".values", ".bitmaps", ".group_offsets"))
            nnz = int(np.unpackbits(bitmaps.astype("<u8").view(np.uint8)).sum())
            want[name] = dict(kind="matrix", dtype=m["dtype"], shape=[m["rows"], m["cols"]],
                              zeros=m["rows"] * m["cols"] - nnz, bytes=encoded_bytes(values, bitmaps, offsets),
                              encoded_bytes=encoded_bytes(values, bitmaps, offsets))
        parts = {name + s for name in matrices for s in (".values", ".bitmaps", ".group_offsets")}
        for name, (dt, shape, arr) in t.items():
            if name in parts:
                continue
            bits = arr.view(np.uint32) & 0x7FFFFFFF if dt == "F32" else (arr & 0x7FFF if dt in ("F16", "BF16") else arr)
            enc = None
            if len(shape) == 2 and dt in ("F32", "F16", "BF16"):
                x = arr if dt == "F32" else sc.bits_to_f32(arr, dt)
                storage = "BF16" if dt == "BF16" else "F16"
                enc = encoded_bytes(*sc.encode(sc.f32_to_bits(x, storage), *shape)[:3])
            want[name] = dict(kind="dense", dtype=dt, shape=shape, zeros=int((bits == 0).sum()), bytes=arr.nbytes,
                              encoded_bytes=enc)
    return want


def check_inspect(label, path, model_expected):
    rc, got, out = inspect_json(path)
    if rc != 0 or got is None:
        failures.append(f"inspect {label}: exit {rc}, output:\n{out}")
        return
    want = expected_tensors(path)
    tensors = {t["name"]: t for f in got["files"] for t in f["tensors"]}
    if set(tensors) != set(want):
        failures.append(f"inspect {label}: tensors {sorted(set(tensors) ^ set(want))} differ")
        return
    projected = dense = stored = 0
    for name, w in want.items():
        t = tensors[name]
        elements = int(np.prod(w["shape"]))
        for key, value in w.items():
            if t[key] != value:
                failures.append(f"inspect {label}: {name}.{key} = {t[key]}, numpy says {value}")
        if t["error"] is not None or abs(t["sparsity"] - w["zeros"] / elements) > 1e-12:
            failures.append(f"inspect {label}: {name}: error {t['error']}, sparsity {t['sparsity']}")
        if t["dense_fp16_bytes"] != 2 * elements:
            failures.append(f"inspect {label}: {name}: dense_fp16_bytes {t['dense_fp16_bytes']} != {2 * elements}")
        enc = w["encoded_bytes"]
        projected += enc if w["kind"] == "matrix" or (enc is not None and enc < 2 * elements) else 2 * elements
        dense += 2 * elements
        stored += w["bytes"]
    totals = got["totals"]
    if (totals["stored_bytes"], totals["dense_fp16_bytes"], totals["projected_bytes"], totals["errors"]) != \
            (stored, dense, projected, 0):
        failures.append(f"inspect {label}: totals {totals}, numpy: stored {stored}, dense {dense}, "
                        f"projected {projected}")
    m = got["model"]
    if model_expected and (m is None or m["error"] is not None or not 0 < m["weight_bytes"] < m["dense_weight_bytes"]):
        failures.append(f"inspect {label}: model {m}")
    if not model_expected and m is not None:
        failures.append(f"inspect {label}: a model reported for a file: {m}")


expect(["inspect", "--help"], 0, "usage: spinfer inspect", "PATH", "--json")
expect(["inspect"], 2, "PATH is required")
expect(["inspect", weights, "--frob"], 2, "not expected", "--frob")
check_inspect("pruned HF model, one F32 file", model, True)
check_inspect("converted model", converted, True)
check_inspect("converted file", weights, False)
sharded = os.path.join(tmp, "sharded_bf16")
make_checkpoint(sharded, "opt", np.random.default_rng(3), "BF16", prune_linears=True, shards=2)
check_inspect("pruned OPT model, two BF16 shards", sharded, True)
rc, out = run("inspect", converted)
if rc != 0 or "projected:" not in out or matrix not in out or "model: llama, 2 layers" not in out:
    failures.append(f"inspect text: exit {rc}, output:\n{out}")

# A corrupt matrix (one bitmap byte flipped) and a truncated file: exit 1, naming them.
corrupt = os.path.join(tmp, "corrupt")
shutil.copytree(converted, corrupt)
corrupt_file = os.path.join(corrupt, "model.safetensors")
with open(corrupt_file, "r+b") as f:
    n = int.from_bytes(f.read(8), "little")
    begin = json.loads(f.read(n))[matrix + ".bitmaps"]["data_offsets"][0]
    f.seek(8 + n + begin)
    byte = f.read(1)[0]
    f.seek(8 + n + begin)
    f.write(bytes([byte ^ 0xFF]))
expect(["inspect", corrupt_file], 1, corrupt_file, matrix, "CORRUPT_DATA")
expect(["inspect", corrupt], 1, corrupt_file, matrix, "spinfer_model_load")
rc, got, out = inspect_json(corrupt_file)
if rc != 1 or got is None or got["totals"]["errors"] != 1:
    failures.append(f"inspect --json of a corrupt file: exit {rc}, output:\n{out}")
truncated = os.path.join(tmp, "truncated.safetensors")
with open(weights, "rb") as src, open(truncated, "wb") as dst:
    dst.write(src.read(os.path.getsize(weights) // 2))
expect(["inspect", truncated], 1, truncated, "outside the file")
expect(["inspect", os.path.join(tmp, "missing.safetensors")], 1, "missing.safetensors", "cannot open")
os.makedirs(os.path.join(tmp, "empty"))
expect(["inspect", os.path.join(tmp, "empty")], 1, "holds no .safetensors file")

shutil.rmtree(tmp)
for f in failures:
    print("FAIL:", f)
print(f"test_cli: {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
