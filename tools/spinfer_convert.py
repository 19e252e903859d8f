#!/usr/bin/env python3
"""Convert a Hugging Face checkpoint directory into a spinfer model directory.

A thin layer over the library's spinfer_convert_model (the same code as `spinfer
convert` and spinfer.convert_model), for OPT, LLaMA, Mistral, Qwen2 and Qwen3 checkpoints: dense F32/F16/BF16 checkpoints, sharded
or not, and compressed-tensors sparse-bitmask ones; linear weights become TCA-BME
matrices, optionally pruned by magnitude first (the LM head never is).

    python3 tools/spinfer_convert.py SRC_DIR DST_DIR [--sparsity 0.6] [--per-row]
        [--dtype float16|bfloat16] [--shard-size BYTES] [--threads T] [--lib libspinfer.so]

The library comes from the spinfer Python package when it is importable, else from
--lib, $SPINFER_LIBRARY, or the repository's build/capi/libspinfer.so (ctypes).
"""
import argparse
import ctypes
import os
import sys

_DTYPES = {"float16": 1, "bfloat16": 2}  # SPINFER_DTYPE_F16, SPINFER_DTYPE_BF16


class _Options(ctypes.Structure):  # spinfer_convert_options_t
    _fields_ = [("struct_size", ctypes.c_size_t), ("sparsity", ctypes.c_double), ("prune_per_row", ctypes.c_int),
                ("dtype", ctypes.c_int), ("shard_size", ctypes.c_uint64), ("threads", ctypes.c_int),
                ("verify", ctypes.c_int), ("progress", ctypes.c_void_p), ("progress_user_data", ctypes.c_void_p)]


class _Report(ctypes.Structure):  # spinfer_convert_report_t
    _fields_ = [("struct_size", ctypes.c_size_t)] + [
        (n, ctypes.c_int64) for n in ("tensors", "matrices", "matrices_dense", "imported", "linear_nnz",
                                      "linear_elements")] + [
        ("bytes_read", ctypes.c_uint64), ("bytes_written", ctypes.c_uint64), ("shards", ctypes.c_int)]


def _library(path=None):
    here = os.path.dirname(os.path.abspath(__file__))
    path = path or os.environ.get("SPINFER_LIBRARY") or os.path.join(here, "..", "build", "capi", "libspinfer.so")
    lib = ctypes.CDLL(path)
    lib.spinfer_last_error_message.restype = ctypes.c_char_p
    lib.spinfer_status_string.restype = ctypes.c_char_p
    lib.spinfer_convert_model.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_Options),
                                          ctypes.POINTER(_Report)]
    return lib


def _convert_ctypes(src, dst, sparsity, dtype, per_row, shard_size, threads, lib_path):
    lib = _library(lib_path)
    opts, report = _Options(), _Report()
    lib.spinfer_convert_options_init(ctypes.byref(opts))
    lib.spinfer_convert_report_init(ctypes.byref(report))
    opts.sparsity, opts.prune_per_row, opts.dtype, opts.threads = sparsity, int(per_row), _DTYPES[dtype], threads
    if shard_size is not None:
        opts.shard_size = shard_size
    status = lib.spinfer_convert_model(os.fsencode(src), os.fsencode(dst), ctypes.byref(opts), ctypes.byref(report))
    if status != 0:
        raise RuntimeError(f"{lib.spinfer_status_string(status).decode()}: "
                           f"{lib.spinfer_last_error_message().decode()}")
    return report


def convert(src, dst, sparsity=0.0, dtype="float16", log=print, per_row=False, shard_size=None, threads=0,
            lib=None):
    """Converts `src` into `dst`; returns the linear weights' sparsity (LM head excluded)."""
    try:
        if lib is not None:
            raise ImportError
        import spinfer
        r = spinfer.convert_model(src, dst, sparsity, dtype, per_row=per_row, shard_size=shard_size,
                                  threads=threads)
    except ImportError:
        r = _convert_ctypes(src, dst, sparsity, dtype, per_row, shard_size, threads, lib)
    achieved = 1 - r.linear_nnz / r.linear_elements if r.linear_elements else 0.0
    log(f"spinfer_convert: {src} -> {dst}: {r.matrices} matrices ({r.matrices_dense} left dense, "
        f"{r.imported} imported), {r.shards} file(s), linear sparsity {achieved:.3f}, dtype {dtype}")
    return achieved


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--sparsity", type=float, default=0.0,
                    help="prune each linear weight to this fraction of zeros (0 = keep as is)")
    ap.add_argument("--per-row", action="store_true", help="prune each output row to --sparsity")
    ap.add_argument("--dtype", choices=sorted(_DTYPES), default="float16")
    ap.add_argument("--shard-size", type=int, default=None, help="largest output file in bytes")
    ap.add_argument("--threads", type=int, default=0, help="worker threads (0 = one per core)")
    ap.add_argument("--lib", default=None, help="path of libspinfer.so (ctypes) instead of the spinfer package")
    a = ap.parse_args(argv)
    if not 0.0 <= a.sparsity < 1.0:
        ap.error("--sparsity must be in [0, 1)")
    if a.shard_size is not None and a.shard_size < 1:
        ap.error("--shard-size must be >= 1")
    if not 0 <= a.threads <= 1024:
        ap.error("--threads must be in [0, 1024]")
    try:
        convert(a.src, a.dst, a.sparsity, a.dtype, per_row=a.per_row, shard_size=a.shard_size, threads=a.threads,
                lib=a.lib)
    except Exception as e:  # the library's status and message
        print(f"spinfer_convert: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
