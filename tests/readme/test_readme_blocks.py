"""The README's runnable shell blocks, run as written: every ```sh block right after a
`<!-- ci: run ... -->` line is run line by line in a scratch directory where the README's
placeholder checkpoints exist (path/to/pruned_hf_model: a tiny LLaMA pruned to half zeros,
dense F32 weights with zeros, two shards and an index; path/to/hf_model: the same shape,
unpruned, BF16, one file). Only the tool's path is replaced: `./build/tools/spinfer` and
`./build-demo/tools/spinfer` become the tool under test. Checked: each command exits 0;
`generate` prints --max-new ids in the vocabulary and tokens/s; the same generate command
on a checkpoint and on its conversion without --sparsity prints the same ids; `convert`
writes a model directory; `bench` prints, for every N of --tokens, one line per spinfer
matrix of the file; `inspect` reports every tensor. The sections below must keep a marked
block, so a prose edit cannot drop one silently.

usage: python3 test_readme_blocks.py README.md PATH/TO/spinfer
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import numpy_convert as sc  # noqa: E402
from tiny_checkpoint import make_checkpoint  # noqa: E402

REQUIRED_SECTIONS = ["Use a pruned Hugging Face model", "Layers, KV cache and whole models"]
TOOL_PATH = re.compile(r"^(\./)?build(-demo)?/tools/spinfer$")
MARKER = re.compile(r"^<!--\s*ci:\s*run\b.*-->\s*$")

readme, tool = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
failures = []


def marked_blocks(text):
    """[(section heading, [command lines])] of the shell blocks after a ci: run marker."""
    lines, blocks, section = text.splitlines(), [], None
    for i, line in enumerate(lines):
        if line.startswith("## "):
            section = line[3:].strip()
        if not MARKER.match(line):
            continue
        if i + 1 >= len(lines) or lines[i + 1].strip() not in ("```sh", "```bash", "```shell"):
            failures.append(f"README line {i + 1}: a ci: run marker not followed by a ```sh fence")
            continue
        end = next((j for j in range(i + 2, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            failures.append(f"README line {i + 1}: the block never closes")
            continue
        body = "\n".join(lines[i + 2:end]).replace("\\\n", " ")
        blocks.append((section, [c for c in body.splitlines() if c.strip() and not c.lstrip().startswith("#")]))
    return blocks


def write_checkpoints(work):
    """The README's placeholders, as tiny checkpoints; returns the vocabulary size."""
    pruned = os.path.join(work, "path/to/pruned_hf_model")
    cfg = make_checkpoint(pruned, "llama", np.random.default_rng(5), "F32", prune_linears=True, shards=2)
    index = {"metadata": {}, "weight_map": {}}
    for f in sorted(p for p in os.listdir(pruned) if p.endswith(".safetensors")):
        for name in sc.read_safetensors(os.path.join(pruned, f)):
            index["weight_map"][name] = f
    with open(os.path.join(pruned, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f)
    make_checkpoint(os.path.join(work, "path/to/hf_model"), "llama", np.random.default_rng(6), "BF16", shards=1)
    return cfg["vocab_size"]


def option(argv, name, default=None):
    return argv[argv.index(name) + 1] if name in argv[:-1] else default


def positionals(argv):
    """The arguments that are not options or option values (the tool's options all take a
    value, except the flags below)."""
    flags = {"--per-row", "--json", "--weights-only"}
    out, i = [], 0
    while i < len(argv):
        if argv[i].startswith("--"):
            i += 1 if argv[i] in flags else 2
        else:
            out.append(argv[i])
            i += 1
    return out


def spinfer_matrices(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        meta = json.loads(f.read(n)).get("__metadata__", {})
    return [k[len("spinfer.matrix."):] for k in meta if k.startswith("spinfer.matrix.")]


work = tempfile.mkdtemp(prefix="spinfer_readme_")
vocab = write_checkpoints(work)
same_model = {}  # a directory -> the checkpoint it holds unchanged (convert without --sparsity)
generated = {}   # (checkpoint, arguments after the directory) -> [(directory, ids)]
with open(readme) as f:
    blocks = marked_blocks(f.read())
for section in REQUIRED_SECTIONS:
    if not any(s == section for s, _ in blocks):
        failures.append(f"README: no ci: run block in section '{section}'")

for section, commands in blocks:
    for line in commands:
        argv = shlex.split(line, comments=True)
        if not argv or not TOOL_PATH.match(argv[0]) or len(argv) < 2:
            failures.append(f"[{section}] not a spinfer tool command this test can run: {line}")
            continue
        cmd, args = argv[1], argv[2:]
        p = subprocess.run([tool, cmd, *args], cwd=work, capture_output=True, text=True, timeout=300)
        out = p.stdout + p.stderr
        print(f"[{section}] {line}\n  -> exit {p.returncode}")
        if p.returncode != 0:
            failures.append(f"[{section}] {line}: exit {p.returncode}:\n{out}")
            continue
        pos = positionals(args)
        if cmd == "convert":
            src, dst = (os.path.normpath(a) for a in pos[:2])
            if not os.path.exists(os.path.join(work, dst, "config.json")) or "converted " not in out:
                failures.append(f"[{section}] {line}: no model directory written:\n{out}")
            if float(option(args, "--sparsity", "0")) == 0:
                same_model[dst] = same_model.get(src, src)
        elif cmd == "generate":
            d = os.path.normpath(pos[0])
            ids_lines = [ln.split()[1:] for ln in p.stdout.splitlines() if ln.startswith("generated:")]
            want = int(option(args, "--max-new", "16"))
            ids = [int(v) for v in ids_lines[0]] if len(ids_lines) == 1 else None
            if ids is None or len(ids) != want or not all(0 <= i < vocab for i in ids) or "tokens/s" not in out:
                failures.append(f"[{section}] {line}: want {want} ids in [0, {vocab}) and tokens/s:\n{out}")
                continue
            rest = tuple(a for a in args if a != pos[0])
            generated.setdefault((same_model.get(d, d), rest), []).append((d, ids))
        elif cmd == "bench":
            names = [option(args, "--matrix")] if "--matrix" in args else spinfer_matrices(os.path.join(work, pos[0]))
            for n in option(args, "--tokens", "1,8,32").split(","):
                timed = sorted(ln.split()[0] for ln in p.stdout.splitlines() if re.search(rf" N {n} +[0-9.]+ ms ", ln))
                if not names or timed != sorted(names):
                    failures.append(f"[{section}] {line}: N = {n}: timed {timed}, the file's matrices {names}:\n{out}")
        elif cmd == "inspect":
            target = os.path.join(work, pos[0])
            files = sorted(f for f in os.listdir(target) if f.endswith(".safetensors")) if os.path.isdir(target) else []
            tensors = []  # a spinfer matrix is one entry, not its three arrays
            for f in files:
                matrices = spinfer_matrices(os.path.join(target, f))
                parts = {m + s for m in matrices for s in (".values", ".bitmaps", ".group_offsets")}
                tensors += matrices + [t for t in sc.read_safetensors(os.path.join(target, f)) if t not in parts]
            missing = [t for t in tensors if not re.search(rf"^  {re.escape(t)} ", out, re.M)]
            if "each validated" not in out:
                missing.append("(no 'each validated' line)")
            if not files or missing:
                failures.append(f"[{section}] {line}: files {files}, tensors not reported {missing[:5]}:\n{out}")
        else:
            failures.append(f"[{section}] {line}: this test has no check for `spinfer {cmd}`")

# A checkpoint and its conversion without --sparsity hold the same model: same ids.
compared = 0
for (checkpoint, rest), runs in generated.items():
    if len({tuple(ids) for _, ids in runs}) != 1:
        failures.append(f"generate {' '.join(rest)}: different ids for the same model {checkpoint}: {runs}")
    compared += len({d for d, _ in runs}) > 1
    print(f"generate {' '.join(rest)} on {checkpoint} and its conversions: {runs}")
if compared == 0:
    failures.append("no marked block generates from both a checkpoint and its unpruned conversion")

shutil.rmtree(work)
for f in failures:
    print("FAIL:", f)
print(f"test_readme_blocks: {len(blocks)} block(s), {len(failures)} failure(s)")
sys.exit(1 if failures else 0)
