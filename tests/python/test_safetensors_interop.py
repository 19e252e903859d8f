"""Interoperability of spinfer's files with the Python `safetensors` package.

An independent numpy implementation of the TCA-BME layout (docs/format.md) encodes
and decodes here; libspinfer is reached through ctypes. Both directions are checked:
  1. a file written by `safetensors.numpy.save_file` is loaded by spinfer and decodes
     to the same dense matrix;
  2. a file written by spinfer opens with `safetensors.safe_open`, its metadata says
     what docs/format.md says, and the numpy decoder recovers the dense matrix.
Usage: test_safetensors_interop.py PATH/TO/libspinfer.so
"""
import ctypes
import json
import os
import sys
import tempfile

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

G, T, B = 64, 16, 8  # GroupTile, TCTile, BitmapTile


def bitmap_origin(b):
    """Row/col of BitmapTile b (0..63) inside its GroupTile (TCTiles row-major, BitmapTiles column-major)."""
    t, j = divmod(b, 4)
    return (t // 4) * T + (j % 2) * B, (t % 4) * T + (j // 2) * B


def encode_numpy(dense):
    rows, cols = dense.shape
    gm, gk = -(-rows // G), -(-cols // G)
    padded = np.zeros((gm * G, gk * G), dtype=dense.dtype)
    padded[:rows, :cols] = dense
    bits16 = padded.view(np.uint16)
    values, bitmaps, offsets = [], [], [0]
    for g in range(gm * gk):
        r0, c0 = (g // gk) * G, (g % gk) * G
        run = []
        for b in range(64):
            br, bc = bitmap_origin(b)
            tile = bits16[r0 + br:r0 + br + B, c0 + bc:c0 + bc + B].reshape(-1)
            nz = (tile & 0x7FFF) != 0
            bitmaps.append(sum(1 << int(i) for i in np.flatnonzero(nz)))
            run.extend(tile[nz].tolist())
        run.extend([0] * (-len(run) % 8))
        values.extend(run)
        offsets.append(offsets[-1] + len(run))
    return (np.array(values, dtype=np.uint16).view(dense.dtype),
            np.array(bitmaps, dtype=np.uint64), np.array(offsets, dtype=np.uint64))


def decode_numpy(rows, cols, values, bitmaps, offsets):
    gm, gk = -(-rows // G), -(-cols // G)
    out = np.zeros((gm * G, gk * G), dtype=values.dtype)
    for g in range(gm * gk):
        r0, c0 = (g // gk) * G, (g % gk) * G
        pos = int(offsets[g])
        for b in range(64):
            word = int(bitmaps[g * 64 + b])
            br, bc = bitmap_origin(b)
            for i in range(64):
                if word >> i & 1:
                    out[r0 + br + i // 8, c0 + bc + i % 8] = values[pos]
                    pos += 1
    return out[:rows, :cols]


def random_pruned(rows, cols, sparsity, rng):
    w = rng.uniform(-1, 1, size=(rows, cols)).astype(np.float16)
    w[np.abs(w) < np.quantile(np.abs(w), sparsity)] = 0
    return w


class Lib:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.spinfer_last_error_message.restype = ctypes.c_char_p
        self.lib.spinfer_matrix_decode.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int64]
        self.lib.spinfer_matrix_encode.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_int,
                                                   ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int]
        self.lib.spinfer_load.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_char_p, ctypes.c_char_p]
        self.lib.spinfer_save.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p),
                                          ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t]
        self.lib.spinfer_matrix_destroy.argtypes = [ctypes.c_void_p]

    def check(self, status):
        if status != 0:
            raise RuntimeError(f"spinfer status {status}: {self.lib.spinfer_last_error_message().decode()}")

    def load(self, path, name):
        h = ctypes.c_void_p()
        status = self.lib.spinfer_load(ctypes.byref(h), path.encode(), name.encode())
        return status, h

    def decode(self, h, rows, cols):
        out = np.full((rows, cols), np.nan, dtype=np.float32)
        self.check(self.lib.spinfer_matrix_decode(h, out.ctypes.data, 0, cols))
        return out


def main():
    lib = Lib(sys.argv[1])
    rng = np.random.default_rng(2024)
    tmp = tempfile.mkdtemp()
    failures = 0

    # 1. Python writes, spinfer reads.
    shapes = [(7, 13), (64, 64), (100, 300), (130, 70)]
    tensors, metadata, dense_of = {}, {"spinfer.format": "tca-bme"}, {}
    for i, (rows, cols) in enumerate(shapes):
        name = f"m{i}"
        dense = random_pruned(rows, cols, [0.3, 0.5, 0.7, 0.99][i], rng)
        values, bitmaps, offsets = encode_numpy(dense)
        tensors[f"{name}.values"], tensors[f"{name}.bitmaps"] = values, bitmaps
        tensors[f"{name}.group_offsets"] = offsets
        metadata[f"spinfer.matrix.{name}"] = json.dumps({
            "format_version": 1, "rows": rows, "cols": cols, "dtype": "F16",
            "group_tile": [64, 64], "tc_tile": [16, 16], "bitmap_tile": [8, 8],
            "nnz": int(np.count_nonzero(dense))})
        dense_of[name] = dense
    py_path = os.path.join(tmp, "from_python.safetensors")
    save_file(tensors, py_path, metadata=metadata)
    for i, (rows, cols) in enumerate(shapes):
        status, h = lib.load(py_path, f"m{i}")
        lib.check(status)
        got = lib.decode(h, rows, cols)
        if not np.array_equal(got, dense_of[f"m{i}"].astype(np.float32)):
            print(f"FAIL: spinfer decoded m{i} differently from the numpy encoder's input")
            failures += 1
        lib.lib.spinfer_matrix_destroy(h)

    # A Python-written file with a wrong popcount must be refused with a message.
    bad = dict(tensors)
    bad["m1.bitmaps"] = tensors["m1.bitmaps"].copy()
    bad["m1.bitmaps"][0] ^= np.uint64(1 << 40)
    bad_path = os.path.join(tmp, "bad.safetensors")
    save_file(bad, bad_path, metadata=metadata)
    status, _ = lib.load(bad_path, "m1")
    message = lib.lib.spinfer_last_error_message().decode()
    if status != 7 or "corrupt" not in message:
        print(f"FAIL: corrupt bitmap not rejected as CORRUPT_DATA (status {status}, '{message}')")
        failures += 1

    # 2. spinfer writes, Python reads.
    rows, cols = 150, 200
    dense = random_pruned(rows, cols, 0.5, rng)
    h = ctypes.c_void_p()
    lib.check(lib.lib.spinfer_matrix_encode(ctypes.byref(h), dense.ctypes.data, 1, rows, cols, cols, 1))
    sp_path = os.path.join(tmp, "from_spinfer.safetensors")
    name = ctypes.c_char_p(b"layers.0.fc1")
    lib.check(lib.lib.spinfer_save(sp_path.encode(), ctypes.byref(h), ctypes.byref(name), 1))
    lib.lib.spinfer_matrix_destroy(h)
    with safe_open(sp_path, framework="numpy") as f:
        meta = f.metadata()
        info = json.loads(meta["spinfer.matrix.layers.0.fc1"])
        values = f.get_tensor("layers.0.fc1.values")
        bitmaps = f.get_tensor("layers.0.fc1.bitmaps")
        offsets = f.get_tensor("layers.0.fc1.group_offsets")
    expect_v, expect_b, expect_o = encode_numpy(dense)
    checks = {
        "format tag": meta.get("spinfer.format") == "tca-bme",
        "metadata": (info["rows"], info["cols"], info["dtype"], info["format_version"], info["nnz"])
                    == (rows, cols, "F16", 1, int(np.count_nonzero(dense))),
        "values dtype": values.dtype == np.float16,
        "arrays equal the numpy encoder's": np.array_equal(values.view(np.uint16), expect_v.view(np.uint16))
                    and np.array_equal(bitmaps, expect_b) and np.array_equal(offsets, expect_o),
        "numpy decode": np.array_equal(decode_numpy(rows, cols, values, bitmaps, offsets), dense),
    }
    for what, ok in checks.items():
        if not ok:
            print(f"FAIL: spinfer-written file: {what}")
            failures += 1
    if failures:
        sys.exit(1)
    print("safetensors interop: all checks passed")


if __name__ == "__main__":
    main()
