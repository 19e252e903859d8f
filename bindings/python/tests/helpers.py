"""Helpers shared by the tests: random sparse matrices, errors, tolerances, and an
independent TCA-BME reference (encoder/decoder written from docs/format.md)."""

import numpy as np
import pytest

def sparse_matrix(rng, rows, cols, sparsity, dtype=np.float32):
    """A dense [rows, cols] matrix with about `sparsity` zeros; the kept values are
    exactly representable in fp16 and bf16 (multiples of 1/64 in [-4, 4], non-zero)."""
    values = rng.integers(1, 256, size=(rows, cols)) / 64.0
    values *= rng.choice([-1.0, 1.0], size=(rows, cols))
    keep = rng.random((rows, cols)) >= sparsity
    return np.where(keep, values, 0.0).astype(dtype)


def rel_err(out, ref):
    out = np.asarray(out, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert np.all(np.isfinite(out)), "output has NaN/Inf (an element was not written?)"
    return float(np.linalg.norm(out - ref) / max(np.linalg.norm(ref), 1e-300))


# Tolerances of the project (DESIGN.md section 6): ||out - ref|| / ||ref||.
TOL = {"f32": 1e-5, "f16": 1e-3, "bf16": 1e-2}


def bf16():
    """The ml_dtypes bfloat16 numpy dtype, or skip the test."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    return np.dtype(ml_dtypes.bfloat16)


# ---- independent TCA-BME reference (docs/format.md, version 1) ---------------------
GROUP, TC, BITMAP = 64, 16, 8


def _tiles(padded):
    """[GM*64, GK*64] -> [GM*GK, 64 BitmapTiles, 64 bits] in the format's order:
    GroupTiles row-major, TCTiles row-major inside, BitmapTiles column-major inside a
    TCTile, bits row-major inside a BitmapTile."""
    gm, gk = padded.shape[0] // GROUP, padded.shape[1] // GROUP
    # row = gm*64 + tm*16 + br*8 + r ; col = gk*64 + tk*16 + bc*8 + c
    t = padded.reshape(gm, 4, 2, 8, gk, 4, 2, 8)
    t = t.transpose(0, 4, 1, 5, 6, 2, 3, 7)  # gm gk tm tk bc br r c
    return t.reshape(gm * gk, 64, 64)


def _untiles(tiles, gm, gk):
    t = tiles.reshape(gm, gk, 4, 4, 2, 2, 8, 8).transpose(0, 2, 5, 6, 1, 3, 4, 7)
    return t.reshape(gm * GROUP, gk * GROUP)


def reference_encode(dense_bits):
    """Encode a [rows, cols] uint16 array of fp16/bf16 bit patterns; returns
    (values uint16, bitmaps uint64, group_offsets uint64)."""
    rows, cols = dense_bits.shape
    gm, gk = -(-rows // GROUP), -(-cols // GROUP)
    padded = np.zeros((gm * GROUP, gk * GROUP), dtype=np.uint16)
    padded[:rows, :cols] = dense_bits
    tiles = _tiles(padded)
    nonzero = (tiles & 0x7FFF) != 0  # +0 and -0 are dropped
    weights = np.left_shift(np.uint64(1), np.arange(64, dtype=np.uint64))
    bitmaps = (nonzero.astype(np.uint64) * weights).sum(axis=2, dtype=np.uint64).reshape(-1)
    runs, offsets = [], [0]
    for g in range(gm * gk):
        run = tiles[g][nonzero[g]]
        run = np.concatenate([run, np.zeros(-len(run) % 8, dtype=np.uint16)])
        runs.append(run)
        offsets.append(offsets[-1] + len(run))
    return (np.concatenate(runs).astype(np.uint16), bitmaps.astype(np.uint64),
            np.array(offsets, dtype=np.uint64))


def reference_decode(rows, cols, values, bitmaps, group_offsets):
    """Inverse of reference_encode: the dense uint16 bit patterns [rows, cols]."""
    gm, gk = -(-rows // GROUP), -(-cols // GROUP)
    bits = np.arange(64, dtype=np.uint64)
    nonzero = ((bitmaps.reshape(gm * gk, 64, 1) >> bits) & np.uint64(1)).astype(bool)
    tiles = np.zeros((gm * gk, 64, 64), dtype=np.uint16)
    for g in range(gm * gk):
        count = int(nonzero[g].sum())
        start = int(group_offsets[g])
        tiles[g][nonzero[g]] = values[start:start + count]
    return _untiles(tiles, gm, gk)[:rows, :cols]
