"""Model conversion and magnitude pruning: thin layers over spinfer_convert_model and
spinfer_prune_magnitude (spinfer.h §8), the same code as `spinfer convert`."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from . import capi
from ._status import check, checked, make_error

_DTYPES = {"float16": capi.SPINFER_DTYPE_F16, "bfloat16": capi.SPINFER_DTYPE_BF16}


@dataclass(frozen=True)
class ConvertReport:
    """What convert_model did (spinfer_convert_report_t)."""
    tensors: int
    matrices: int
    matrices_dense: int
    imported: int
    linear_nnz: int
    linear_elements: int
    bytes_read: int
    bytes_written: int
    shards: int

    @property
    def linear_sparsity(self) -> float:
        """Fraction of zeros of the decoder layers' linear weights (LM head excluded)."""
        return 1.0 - self.linear_nnz / self.linear_elements if self.linear_elements else 0.0


def convert_model(src: str, dst: str, sparsity: float = 0.0, dtype: str = "float16", *,
                  per_row: bool = False, shard_size: Optional[int] = None, threads: int = 0,
                  verify: bool = True) -> ConvertReport:
    """Convert the Hugging Face checkpoint directory ``src`` into the spinfer model
    directory ``dst`` (spinfer_convert_model: dense, sharded or compressed-tensors
    sparse-bitmask input; linear weights encoded, pruned by magnitude to ``sparsity``
    per matrix, or per row with ``per_row``; shards of at most ``shard_size`` bytes).
    Raises the library's exception on failure (NotSupportedError for a quantized
    checkpoint, CorruptDataError for a malformed one, ...)."""
    if dtype not in _DTYPES:
        raise make_error(capi.SPINFER_STATUS_UNSUPPORTED_DTYPE,
                         f"dtype must be float16 or bfloat16, got {dtype!r}")
    opts = capi.spinfer_convert_options_t()
    check(capi.spinfer_convert_options_init(opts))
    opts.sparsity = float(sparsity)
    opts.prune_per_row = int(bool(per_row))
    opts.dtype = _DTYPES[dtype]
    if shard_size is not None:
        if int(shard_size) < 1:
            raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT, f"shard_size must be >= 1, got {shard_size}")
        opts.shard_size = int(shard_size)
    opts.threads = int(threads)
    opts.verify = int(bool(verify))
    r = checked(capi.spinfer_convert_model(str(src), str(dst), opts))
    return ConvertReport(r.tensors, r.matrices, r.matrices_dense, r.imported, r.linear_nnz,
                         r.linear_elements, r.bytes_read, r.bytes_written, r.shards)


def prune_magnitude(weights: np.ndarray, sparsity: float, per_row: bool = False) -> np.ndarray:
    """A float32 copy of the 2-D ``weights`` with the round(sparsity * n) smallest
    magnitudes of the matrix (or of each row) set to zero, with a strict threshold
    (entries tied at it are kept): spinfer_prune_magnitude."""
    w = np.array(weights, dtype=np.float32, order="C", copy=True)
    if w.ndim != 2 or w.size == 0:
        raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                         f"weights must be a non-empty 2-D array, got shape {w.shape}")
    checked(capi.spinfer_prune_magnitude(w, w.shape[0], w.shape[1], w.shape[1], float(sparsity),
                                         int(bool(per_row))))
    return w


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command line: spinfer-convert SRC DST [--sparsity S] [--per-row] [--dtype D]
    [--shard-size BYTES] [--threads T]."""
    ap = argparse.ArgumentParser(prog="spinfer-convert",
                                 description="Convert a Hugging Face checkpoint into a spinfer model directory.")
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--sparsity", type=float, default=0.0,
                    help="prune each linear weight to this fraction of zeros (0 = keep as is)")
    ap.add_argument("--per-row", action="store_true", help="prune each output row to --sparsity")
    ap.add_argument("--dtype", choices=sorted(_DTYPES), default="float16")
    ap.add_argument("--shard-size", type=int, default=None, help="largest output file in bytes")
    ap.add_argument("--threads", type=int, default=0, help="worker threads (0 = one per core)")
    a = ap.parse_args(argv)
    if not 0.0 <= a.sparsity < 1.0:
        ap.error("--sparsity must be in [0, 1)")
    if a.shard_size is not None and a.shard_size < 1:
        ap.error("--shard-size must be >= 1")
    if not 0 <= a.threads <= 1024:
        ap.error("--threads must be in [0, 1024]")
    r = convert_model(a.src, a.dst, a.sparsity, a.dtype, per_row=a.per_row, shard_size=a.shard_size,
                      threads=a.threads)
    print(f"spinfer-convert: {a.src} -> {a.dst}: {r.tensors} tensors, {r.matrices} matrices "
          f"({r.matrices_dense} left dense, {r.imported} imported), linear sparsity "
          f"{r.linear_sparsity:.3f}, {r.shards} file(s), dtype {a.dtype}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
