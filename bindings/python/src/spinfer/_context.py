"""Contexts: backend choice, device residency and the SpMM Y = X * W^T (+ bias)."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from . import capi
from ._arrays import (ArrayView, allocate_like, as_rows, host_copy, leading_dimension,
                      resolve_stream, view_array, with_shape)
from ._dtypes import Backend, DType, as_backend, as_dtype
from ._handle import OwnedHandle, handle_or_null
from ._matrix import Matrix
from ._status import check, checked, make_error


def _extent_bytes(view: ArrayView, ld: int) -> int:
    rows, cols = view.shape
    return 0 if rows == 0 or cols == 0 else ((rows - 1) * ld + cols) * view.dtype.itemsize


def _overlap(a: ArrayView, a_ld: int, b: ArrayView, b_ld: int) -> bool:
    a_end, b_end = a.ptr + _extent_bytes(a, a_ld), b.ptr + _extent_bytes(b, b_ld)
    return a.ptr < b_end and b.ptr < a_end and a_end > a.ptr and b_end > b.ptr


def _as_row(view: ArrayView, what: str) -> ArrayView:
    """A 1-D vector seen as one row [1, n] (host vectors with a stride are copied)."""
    n = view.shape[0]
    if n > 1 and view.strides[0] != 1:
        if view.on_device:
            raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                             f"{what} must be contiguous (spinfer does not copy device arrays)")
        view = host_copy(view, what)
    return with_shape(view, (1, n), (n, 1))


_KERNEL_NAMES = {capi.SPINFER_SPMM_KERNEL_HOST: "host", capi.SPINFER_SPMM_KERNEL_BLOCK: "block",
                 capi.SPINFER_SPMM_KERNEL_SPECIALISED: "specialised",
                 capi.SPINFER_SPMM_KERNEL_WGMMA: "wgmma",
                 capi.SPINFER_SPMM_KERNEL_DENSE_GEMM: "dense_gemm",
                 capi.SPINFER_SPMM_KERNEL_WARP_K: "warp_k"}


@dataclass(frozen=True)
class SpmmPlan:
    """What an SpMM call would do (Context.spmm_plan)."""
    kernel: str                   # "host", "block", "specialised", "wgmma", "warp_k" or "dense_gemm"
    tile_n: int                   # CUDA: tokens per block; host: 0
    split_k: int                  # CUDA: K slices (1 = none)
    launches: int                 # CUDA: kernel launches
    workspace_bytes: int          # CUDA: split-K workspace used
    runs_without_workspace: bool  # CUDA: the stream gets no workspace slot
    host_threads: int             # host: threads used


class Context(OwnedHandle):
    """A spinfer context: the backend (``"host"``, ``"cuda"`` or ``"auto"``), the
    CUDA device and the split-K workspaces. One context may be used from many
    threads, each with its own CUDA stream.

    >>> with spinfer.Context("host") as ctx:
    ...     y = ctx.spmm(w, x)
    """

    _destroy = staticmethod(capi.spinfer_context_destroy)

    def __init__(self, backend="auto", *, device: int = 0, host_threads: int = 0,
                 spmm_workspace_slots: int = 4, spmm_workspace_lazy: bool = False):
        config = capi.spinfer_context_config_t()
        check(capi.spinfer_context_config_init(config))
        config.backend = int(as_backend(backend))
        config.device = int(device)
        config.host_threads = int(host_threads)
        config.spmm_workspace_slots = int(spmm_workspace_slots)
        if not isinstance(spmm_workspace_lazy, bool):
            raise TypeError(f"spmm_workspace_lazy must be a bool, got {type(spmm_workspace_lazy).__name__}")
        config.spmm_workspace_lazy = int(spmm_workspace_lazy)
        self._adopt(checked(capi.spinfer_context_create_ex(config)))
        # Layers, caches and models made on this context: closed before it.
        self._dependents = weakref.WeakSet()
        self._backend = Backend(checked(capi.spinfer_context_get_backend(self._handle)))
        self._device = int(device) if self._backend is Backend.CUDA else -1

    def close(self) -> None:
        """Free the context now; layers, KV caches and models made on it are closed
        first (the library needs them gone before their context). Idempotent."""
        for dependent in list(getattr(self, "_dependents", ())):
            dependent.close()
        super().close()

    def release_stream(self, stream=None) -> None:
        """Wait for ``stream`` and give back its split-K workspace slot (CUDA; a no-op
        on the host), so that another stream can use it (spinfer_context_release_stream)."""
        check(capi.spinfer_context_release_stream(self.handle, resolve_stream(stream, None)))

    @property
    def backend(self) -> Backend:
        """The backend in use: HOST or CUDA (never AUTO)."""
        self.handle  # noqa: B018
        return self._backend

    @property
    def device(self) -> int:
        """The CUDA device ordinal, -1 for the host backend."""
        return self._device

    def __repr__(self) -> str:
        if self._handle is None:
            return "<spinfer.Context closed>"
        where = f" device={self._device}" if self._backend is Backend.CUDA else ""
        return f"<spinfer.Context {self._backend.name.lower()}{where}>"

    # ---- device residency ----------------------------------------------------
    def upload(self, matrix: Matrix, stream=None) -> Matrix:
        """Copy a host matrix to this context's GPU, asynchronously on ``stream``
        (None: the default stream). CUDA contexts only: others raise
        NotSupportedError with the library's message."""
        handle = checked(capi.spinfer_matrix_upload(self.handle,
                                                    handle_or_null(matrix, Matrix, "matrix"),
                                                    resolve_stream(stream, None)))
        return Matrix._wrap(handle, context=self)

    def download(self, matrix: Matrix, stream=None) -> Matrix:
        """Copy a device matrix back to a new host matrix (synchronises ``stream``)."""
        handle = checked(capi.spinfer_matrix_download(self.handle,
                                                      handle_or_null(matrix, Matrix, "matrix"),
                                                      resolve_stream(stream, None)))
        return Matrix._wrap(handle)

    def encode(self, dense, storage="f16", stream=None) -> Matrix:
        """Encode a dense matrix already on this context's GPU (torch, CuPy, DLPack or
        ``__cuda_array_interface__``, zero-copy) into a device matrix; bit-identical
        to spinfer.encode() followed by upload(). Synchronises the stream."""
        ctx = self.handle
        hint = resolve_stream(stream, None) if stream is not None else None
        view = view_array(dense, "dense", stream=hint)
        if not view.on_device:
            raise make_error(capi.SPINFER_STATUS_WRONG_LOCATION,
                             "dense is a host array: use spinfer.encode(), then upload()")
        view, ld = as_rows(view, "dense")
        rows, cols = view.shape
        handle = checked(capi.spinfer_matrix_encode_device(
            ctx, view.ptr, int(view.dtype), rows, cols, ld, int(as_dtype(storage)),
            resolve_stream(stream, view.stream)))
        return Matrix._wrap(handle, context=self)

    # ---- SpMM ----------------------------------------------------------------
    def spmm(self, w: Matrix, x, bias=None, *, out=None, stream=None, split_k: int = 0,
             tile_n: int = 0):
        """Y = X * W^T (+ bias) with fp32 accumulation; returns Y.

        ``x`` is [n, K] (or a vector [K]) with K = w.cols; Y is [n, M] (or [M]),
        M = w.rows; ``bias`` is [M]. All have one dtype: f32, f16 or bf16 for a
        host matrix; the matrix's storage dtype for a device matrix.

        Host matrix: numpy arrays or CPU torch tensors; synchronous. Device matrix:
        GPU arrays from torch, CuPy, DLPack or ``__cuda_array_interface__``, used
        in place (zero-copy), with contiguous rows, 16-byte aligned, row strides a
        multiple of 8 elements. The product is queued on ``stream`` -- None means
        the caller's current stream (torch.cuda.current_stream() for torch
        tensors, CuPy's current stream for CuPy arrays, the default stream
        otherwise) -- and is not waited for.

        ``out`` (optional) receives Y; without it Y is a new array of x's kind
        (numpy, torch or CuPy). ``split_k``/``tile_n`` are CUDA expert overrides.
        """
        ctx = self.handle
        w_handle = handle_or_null(w, Matrix, "w")
        hint = resolve_stream(stream, None) if stream is not None else None
        xv = view_array(x, "x", stream=hint)
        vector = xv.ndim == 1
        if vector:
            xv = _as_row(xv, "x")
        xv, ldx = as_rows(xv, "x")
        n, k = xv.shape
        dtype = xv.dtype
        m = 0
        if w is not None:
            m = w.rows
            if k != w.cols:
                raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                                 f"x has {k} columns but W has {w.cols} (x is [n, K], W is "
                                 f"[M, K] = [{w.rows}, {w.cols}])")
            if xv.on_device != w.on_device:
                raise make_error(capi.SPINFER_STATUS_WRONG_LOCATION,
                                 "x is a GPU array but W is a host matrix" if xv.on_device else
                                 "x is a host array but W is a device matrix: use torch/CuPy "
                                 "GPU arrays")

        bias_ptr = None
        if bias is not None:
            bv = view_array(bias, "bias", stream=hint)
            if bv.shape != (m,):
                raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                                 f"bias has shape {bv.shape}, expected ({m},) (rows of W)")
            if bv.dtype is not dtype:
                raise make_error(capi.SPINFER_STATUS_UNSUPPORTED_DTYPE,
                                 f"bias has dtype {bv.dtype.name} but x has {dtype.name}")
            if bv.on_device != xv.on_device:
                raise make_error(capi.SPINFER_STATUS_WRONG_LOCATION,
                                 "bias and x must both be host arrays or both GPU arrays")
            bv = _as_row(bv, "bias")
            bias_ptr = bv.ptr

        yv, ldy = self._output(out, xv, n, m, dtype, vector, hint)
        if _overlap(yv, ldy, xv, ldx) or (bias_ptr is not None and _overlap(yv, ldy, bv, m)):
            raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                             "out must not overlap x or bias")

        stream_ptr = resolve_stream(stream, xv.stream)
        if split_k or tile_n:
            options = capi.spinfer_spmm_options_t()
            check(capi.spinfer_spmm_options_init(options))
            options.split_k = int(split_k)
            options.tile_n = int(tile_n)
            status = capi.spinfer_spmm_ex(ctx, w_handle, xv.ptr, n, ldx, bias_ptr, yv.ptr, ldy,
                                          int(dtype), options, stream_ptr)
        else:
            status = capi.spinfer_spmm(ctx, w_handle, xv.ptr, n, ldx, bias_ptr, yv.ptr, ldy,
                                       int(dtype), stream_ptr)
        check(status)
        if out is not None:
            return out
        result = yv.owner
        return result.reshape(m) if vector else result

    def spmm_plan(self, w: Matrix, n: int, dtype=None, *, stream=None, split_k: int = 0,
                  tile_n: int = 0) -> "SpmmPlan":
        """What ``spmm(w, x)`` with ``n`` tokens of ``dtype`` (default: W's storage
        dtype) would do on ``stream``, without running it (spinfer_spmm_plan): the
        kernel, tile_n, split_k, launches, the split-K workspace it uses, whether the
        stream would run without a workspace slot, the host threads. Pass its tile_n
        and split_k back to ``spmm`` to pin that configuration."""
        w_handle = handle_or_null(w, Matrix, "w")
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, not {type(n).__name__}")
        options = capi.spinfer_spmm_options_t()
        check(capi.spinfer_spmm_options_init(options))
        options.split_k = int(split_k)
        options.tile_n = int(tile_n)
        dt = as_dtype(dtype) if dtype is not None else (w.dtype if w is not None else DType.F16)
        p = checked(capi.spinfer_spmm_plan(self.handle, w_handle, n, int(dt), options,
                                           resolve_stream(stream, None)))
        return SpmmPlan(kernel=_KERNEL_NAMES.get(int(p.kernel), str(int(p.kernel))),
                        tile_n=int(p.tile_n), split_k=int(p.split_k), launches=int(p.launches),
                        workspace_bytes=int(p.workspace_bytes),
                        runs_without_workspace=bool(p.runs_without_workspace),
                        host_threads=int(p.host_threads))

    @staticmethod
    def _output(out, xv: ArrayView, n: int, m: int, dtype: DType, vector: bool, hint):
        if out is None:
            yv = allocate_like(xv, (n, m), dtype, "out")
            return yv, max(m, 1)
        yv = view_array(out, "out", stream=hint)
        expected = (m,) if vector else (n, m)
        if yv.shape != expected:
            raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                             f"out has shape {yv.shape}, expected {expected}")
        if yv.dtype is not dtype:
            raise make_error(capi.SPINFER_STATUS_UNSUPPORTED_DTYPE,
                             f"out has dtype {yv.dtype.name} but x has {dtype.name}")
        if yv.on_device != xv.on_device:
            raise make_error(capi.SPINFER_STATUS_WRONG_LOCATION,
                             "out and x must both be host arrays or both GPU arrays")
        if yv.readonly:
            raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT, "out is read-only")
        if vector:
            if m > 1 and yv.strides[0] != 1:
                raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                                 "out must be contiguous")
            yv = with_shape(yv, (1, m), (m, 1))
        ldy = leading_dimension(yv)
        if ldy is None:
            raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                             f"out must have contiguous rows (strides {yv.strides} elements)")
        return yv, ldy
