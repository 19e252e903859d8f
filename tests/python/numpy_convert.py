"""The numpy converter that tools/spinfer_convert.py was before conversion moved into the
library (spinfer_convert_model): kept for the tests as an independent reference (its own
safetensors reader/writer, TCA-BME encoder/decoder and 16-bit conversions) and as the
old output that the library's must match (test_convert.py).

Only numpy is needed.
"""
import json
import os
import re
import shutil
import struct
import sys

import numpy as np

G, T, B = 64, 16, 8  # GroupTile, TCTile, BitmapTile (docs/format.md)
FORMAT_VERSION = 1

# Linear weights that become spinfer matrices (HF names of OPT and LLaMA families).
LINEAR = re.compile(r"\.(q_proj|k_proj|v_proj|o_proj|out_proj|fc1|fc2|gate_proj|up_proj|down_proj)\.weight$")
LM_HEAD = "lm_head.weight"


# ---- 16-bit helpers --------------------------------------------------------------

def f32_to_bits(x, dtype):
    """float32 array -> uint16 bits of float16 or bfloat16 (round to nearest even)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if dtype == "F16":
        return x.astype(np.float16).view(np.uint16)
    u = x.view(np.uint32).astype(np.uint64)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(nan, ((u >> 16) | 0x40).astype(np.uint16), rounded)


def bits_to_f32(bits, dtype):
    if dtype == "F16":
        return bits.view(np.float16).astype(np.float32)
    return (bits.astype(np.uint32) << 16).view(np.float32)


# ---- safetensors -----------------------------------------------------------------

ST_NUMPY = {"F32": np.float32, "F16": np.uint16, "BF16": np.uint16, "U64": np.uint64,
            "I64": np.int64, "I32": np.int32, "U8": np.uint8, "F64": np.float64}


def read_safetensors(path):
    """{name: (dtype, shape, array)} with 16-bit floats as raw uint16 bits."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = info["dtype"]
        if dt not in ST_NUMPY:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {dt}")
        begin, end = info["data_offsets"]
        arr = np.frombuffer(data, dtype=ST_NUMPY[dt], count=(end - begin) // np.dtype(ST_NUMPY[dt]).itemsize,
                            offset=base + begin).reshape(info["shape"])
        out[name] = (dt, list(info["shape"]), arr)
    return out


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, dtype, shape, ndarray). Written atomically."""
    header, offset, blobs = {}, 0, []
    for name, dt, shape, arr in tensors:
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


# ---- TCA-BME encoding (vectorised) -------------------------------------------------

def encode(bits, rows, cols):
    """uint16 bits [rows, cols] -> (values uint16, bitmaps uint64, offsets uint64, nnz)."""
    gm, gk = -(-rows // G), -(-cols // G)
    padded = np.zeros((gm * G, gk * G), dtype=np.uint16)
    padded[:rows, :cols] = bits
    # [gm, tr, br, ir, gk, tc, bc, ic] -> groups, bitmaps (t = tr*4+tc, j = bc*2+br), bits
    tiles = padded.reshape(gm, 4, 2, 8, gk, 4, 2, 8).transpose(0, 4, 1, 5, 6, 2, 3, 7)
    tiles = tiles.reshape(gm * gk, 64, 64)
    nz = (tiles & 0x7FFF) != 0
    bitmaps = np.packbits(nz, axis=2, bitorder="little").reshape(gm * gk, 64, 8)
    bitmaps = np.ascontiguousarray(bitmaps).view("<u8").reshape(-1).astype(np.uint64)
    counts = nz.sum(axis=(1, 2)).astype(np.int64)
    padded_counts = (counts + 7) // 8 * 8
    offsets = np.zeros(gm * gk + 1, dtype=np.uint64)
    offsets[1:] = np.cumsum(padded_counts)
    stored = tiles[nz]
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    dest = np.arange(stored.size, dtype=np.int64) - starts + np.repeat(offsets[:-1].astype(np.int64), counts)
    values = np.zeros(int(offsets[-1]), dtype=np.uint16)
    values[dest] = stored
    return values, bitmaps, offsets, int(counts.sum())


def decode(values, bitmaps, offsets, rows, cols):
    """Inverse of encode (uint16 bits [rows, cols]); used by the tests."""
    gm, gk = -(-rows // G), -(-cols // G)
    nz = np.unpackbits(bitmaps.astype("<u8").view(np.uint8).reshape(gm * gk, 64, 8), axis=2,
                       bitorder="little").astype(bool)
    counts = nz.sum(axis=(1, 2))
    tiles = np.zeros((gm * gk, 64, 64), dtype=np.uint16)
    starts = np.repeat(offsets[:-1].astype(np.int64), counts)
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    tiles[nz] = values[starts + within]
    dense = tiles.reshape(gm, gk, 4, 4, 2, 2, 8, 8).transpose(0, 2, 5, 6, 1, 3, 4, 7).reshape(gm * G, gk * G)
    return dense[:rows, :cols]


def prune(w, sparsity):
    """Zero the fraction `sparsity` of smallest-magnitude entries of float32 w."""
    if sparsity <= 0:
        return w
    k = int(round(sparsity * w.size))
    if k == 0:
        return w
    flat = np.abs(w).reshape(-1)
    threshold = np.partition(flat, k - 1)[k - 1]
    out = w.copy()
    out[np.abs(out) <= threshold] = 0
    return out


# ---- conversion ----------------------------------------------------------------------

def convert(src, dst, sparsity=0.0, dtype="float16", log=print):
    st_dtype = {"float16": "F16", "bfloat16": "BF16"}[dtype]
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    files = sorted(p for p in os.listdir(src) if p.endswith(".safetensors"))
    if not files:
        raise FileNotFoundError(f"no .safetensors file in {src}")
    tensors = {}
    for p in files:
        tensors.update(read_safetensors(os.path.join(src, p)))

    out, metadata = [], {"spinfer.format": "tca-bme", "format": "pt"}
    total_nnz = total_elems = 0
    for name in sorted(tensors):
        dt, shape, arr = tensors[name]
        if dt not in ("F32", "F16", "BF16"):
            out.append((name, dt, shape, arr))
            continue
        x = arr.astype(np.float32) if dt == "F32" else bits_to_f32(arr, dt)
        if len(shape) == 2 and (LINEAR.search(name) or name == LM_HEAD):
            if name != LM_HEAD:
                x = prune(x, sparsity)
            bits = f32_to_bits(x, st_dtype)
            values, bitmaps, offsets, nnz = encode(bits, shape[0], shape[1])
            out += [(name + ".values", st_dtype, [values.size], values),
                    (name + ".bitmaps", "U64", [bitmaps.size], bitmaps),
                    (name + ".group_offsets", "U64", [offsets.size], offsets)]
            metadata["spinfer.matrix." + name] = json.dumps({
                "format_version": FORMAT_VERSION, "rows": shape[0], "cols": shape[1], "dtype": st_dtype,
                "group_tile": [G, G], "tc_tile": [T, T], "bitmap_tile": [B, B], "nnz": nnz})
            if name != LM_HEAD:
                total_nnz += nnz
                total_elems += shape[0] * shape[1]
        else:
            out.append((name, st_dtype, shape, f32_to_bits(x, st_dtype)))
    # A tied LM head (OPT, some LLaMAs) stays the embedding; the loader encodes it.
    os.makedirs(dst, exist_ok=True)
    write_safetensors(os.path.join(dst, "model.safetensors"), out, metadata)
    config = dict(config)
    config["torch_dtype"] = dtype
    config.pop("dtype", None)
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for extra in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        if os.path.exists(os.path.join(src, extra)):
            shutil.copy(os.path.join(src, extra), os.path.join(dst, extra))
    achieved = 1 - total_nnz / total_elems if total_elems else 0.0
    log(f"spinfer_convert: {len(files)} file(s) -> {dst}/model.safetensors, "
        f"linear sparsity {achieved:.3f}, dtype {dtype}")
    return achieved
