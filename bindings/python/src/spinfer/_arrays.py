"""Uniform views of the arrays users pass in: numpy arrays, PyTorch tensors, CuPy
arrays, anything with ``__cuda_array_interface__`` or DLPack, and (as a last resort)
anything ``numpy.asarray`` accepts.

A view is a raw pointer plus shape, strides (in elements), dtype and location; the
original object is kept in ``owner`` so the memory stays alive while spinfer uses
it. Nothing is copied for device arrays (zero-copy); host arrays that are not
row-major are copied by the callers that can afford it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Tuple

import numpy as np

from . import capi
from ._dlpack import (DL_BFLOAT, DL_CPU, DL_CUDA, DL_CUDA_HOST, DL_CUDA_MANAGED, DL_FLOAT,
                      dlpack_stream_argument, read_capsule)
from ._dtypes import DType, dtype_of_numpy
from ._status import make_error


@dataclass(frozen=True)
class ArrayView:
    """A raw view of a user's array."""

    ptr: int
    shape: Tuple[int, ...]
    strides: Tuple[int, ...]  # in elements
    dtype: DType
    on_device: bool
    device: int  # CUDA ordinal; -1 on the host or when unknown
    kind: str  # "numpy", "torch", "cupy", "cuda_array_interface", "dlpack"
    owner: object
    stream: Optional[int] = None  # the producer's current stream, when it has one
    readonly: bool = False

    @property
    def ndim(self) -> int:
        return len(self.shape)


def _is_torch(obj) -> bool:
    return type(obj).__module__.startswith("torch") and hasattr(obj, "data_ptr")


def _is_cupy(obj) -> bool:
    return type(obj).__module__.startswith("cupy") and hasattr(obj, "__cuda_array_interface__")


def _torch_dtype(name: str, what: str) -> DType:
    key = name.removeprefix("torch.")
    table = {"float32": DType.F32, "float16": DType.F16, "bfloat16": DType.BF16}
    if key not in table:
        raise make_error(capi.SPINFER_STATUS_UNSUPPORTED_DTYPE,
                         f"{what} has dtype {name}: use float32, float16 or bfloat16")
    return table[key]


def _elements(strides_bytes, itemsize: int, what: str) -> Tuple[int, ...]:
    out = []
    for s in strides_bytes:
        if s % itemsize:
            raise make_error(capi.SPINFER_STATUS_MISALIGNED,
                             f"{what} has a stride of {s} bytes, not a multiple of its "
                             f"{itemsize}-byte elements")
        out.append(s // itemsize)
    return tuple(out)


def _view_numpy(arr: np.ndarray, what: str) -> ArrayView:
    dtype = _numpy_dtype(arr.dtype, what)
    return ArrayView(
        ptr=int(arr.__array_interface__["data"][0]), shape=tuple(arr.shape),
        strides=_elements(arr.strides, arr.itemsize, what), dtype=dtype, on_device=False,
        device=-1, kind="numpy", owner=arr, readonly=not arr.flags.writeable)


def _numpy_dtype(dt: np.dtype, what: str) -> DType:
    try:
        return dtype_of_numpy(dt)
    except TypeError:
        raise make_error(capi.SPINFER_STATUS_UNSUPPORTED_DTYPE,
                         f"{what} has numpy dtype {dt}: use float32, float16 or "
                         f"ml_dtypes.bfloat16") from None


def _view_torch(t, what: str) -> ArrayView:
    import torch

    dtype = _torch_dtype(str(t.dtype), what)
    if t.device.type == "cuda":
        index = t.device.index if t.device.index is not None else torch.cuda.current_device()
        stream = torch.cuda.current_stream(t.device).cuda_stream
        on_device = True
    elif t.device.type == "cpu":
        index, stream, on_device = -1, None, False
    else:
        raise make_error(capi.SPINFER_STATUS_WRONG_LOCATION,
                         f"{what} is on torch device '{t.device}': spinfer takes cpu or cuda")
    return ArrayView(ptr=int(t.data_ptr()), shape=tuple(t.shape), strides=tuple(t.stride()),
                     dtype=dtype, on_device=on_device, device=index, kind="torch", owner=t,
                     stream=stream)


_CAI_TYPES = {"<f4": DType.F32, "<f2": DType.F16, "=f4": DType.F32, "=f2": DType.F16}


def _view_cai(obj, what: str, kind: str, device: int, stream) -> ArrayView:
    cai = obj.__cuda_array_interface__
    typestr = cai["typestr"]
    if typestr not in _CAI_TYPES:
        raise make_error(capi.SPINFER_STATUS_UNSUPPORTED_DTYPE,
                         f"{what} has __cuda_array_interface__ typestr {typestr!r}: use <f4 or <f2")
    dtype = _CAI_TYPES[typestr]
    shape = tuple(int(s) for s in cai["shape"])
    if cai.get("strides") is None:
        strides, step = [], 1
        for extent in reversed(shape):
            strides.append(step)
            step *= max(extent, 1)
        strides = tuple(reversed(strides))
    else:
        strides = _elements(cai["strides"], dtype.itemsize, what)
    ptr, readonly = cai["data"]
    if stream is None:
        stream = cai.get("stream")  # v3: the stream the producer last used
    return ArrayView(ptr=int(ptr or 0), shape=shape, strides=strides, dtype=dtype,
                     on_device=True, device=device, kind=kind, owner=obj, stream=stream,
                     readonly=bool(readonly))


def _view_dlpack(obj, what: str, stream: Optional[int]) -> ArrayView:
    device_type, device_id = obj.__dlpack_device__()
    if device_type in (DL_CPU, DL_CUDA_HOST):
        capsule, on_device = obj.__dlpack__(), False
    elif device_type in (DL_CUDA, DL_CUDA_MANAGED):
        capsule, on_device = obj.__dlpack__(stream=dlpack_stream_argument(stream)), True
    else:
        raise make_error(capi.SPINFER_STATUS_WRONG_LOCATION,
                         f"{what} is on DLPack device type {device_type}: spinfer takes CPU "
                         f"or CUDA")
    view = read_capsule(capsule)
    if view.lanes != 1:
        raise make_error(capi.SPINFER_STATUS_UNSUPPORTED_DTYPE, f"{what} has vector lanes")
    if (view.code, view.bits) == (DL_FLOAT, 32):
        dtype = DType.F32
    elif (view.code, view.bits) == (DL_FLOAT, 16):
        dtype = DType.F16
    elif (view.code, view.bits) == (DL_BFLOAT, 16):
        dtype = DType.BF16
    else:
        raise make_error(capi.SPINFER_STATUS_UNSUPPORTED_DTYPE,
                         f"{what} has DLPack dtype code {view.code} with {view.bits} bits: "
                         f"use float32, float16 or bfloat16")
    return ArrayView(ptr=view.data, shape=view.shape, strides=view.strides, dtype=dtype,
                     on_device=on_device, device=device_id if on_device else -1,
                     kind="dlpack", owner=(obj, capsule), stream=stream if on_device else None)


def view_array(obj, what: str, stream: Optional[int] = None) -> ArrayView:
    """View ``obj`` (named ``what`` in messages). ``stream`` is the stream the caller
    will run on, handed to DLPack producers so their work is ordered before ours."""
    if obj is None:
        raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT, f"{what} is None")
    if isinstance(obj, np.ndarray):
        return _view_numpy(obj, what)
    if _is_torch(obj):
        return _view_torch(obj, what)
    if _is_cupy(obj):
        import cupy

        hint = cupy.cuda.get_current_stream().ptr
        return _view_cai(obj, what, "cupy", int(obj.device.id), hint)
    if hasattr(obj, "__cuda_array_interface__"):
        return _view_cai(obj, what, "cuda_array_interface", -1, None)
    if hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__"):
        return _view_dlpack(obj, what, stream)
    try:
        arr = np.asarray(obj)
    except Exception as e:  # noqa: BLE001 - any failure means "not an array"
        raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                         f"{what} is not an array ({type(obj).__name__}): {e}") from None
    if arr.dtype == object:
        raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                         f"{what} is not an array of numbers ({type(obj).__name__})")
    return _view_numpy(arr, what)


def leading_dimension(view: ArrayView) -> Optional[int]:
    """The row stride of a 2-D view whose rows are contiguous (unit column stride),
    or None when the view is not laid out that way."""
    rows, cols = view.shape
    if rows == 0 or cols == 0:
        return max(cols, 1)  # empty: numpy may report zero strides
    if cols > 1 and view.strides[1] != 1:
        return None
    if rows == 1:
        return cols
    ld = view.strides[0]
    return ld if ld >= cols and ld >= 1 else None


def host_copy(view: ArrayView, what: str) -> ArrayView:
    """A C-contiguous host copy of a host view (for inputs that are not row-major)."""
    if view.kind == "torch":
        return _view_torch(view.owner.contiguous(), what)
    source = view.owner[0] if view.kind == "dlpack" else view.owner
    arr = np.from_dlpack(source) if view.kind == "dlpack" else np.asarray(source)
    return _view_numpy(np.ascontiguousarray(arr), what)


def as_rows(view: ArrayView, what: str) -> Tuple[ArrayView, int]:
    """A 2-D view with contiguous rows and its leading dimension. Host inputs that
    are laid out otherwise are copied; device inputs are refused (zero-copy)."""
    if view.ndim != 2:
        raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                         f"{what} must be 2-D, got shape {view.shape}")
    ld = leading_dimension(view)
    if ld is not None:
        return view, ld
    if view.on_device:
        raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                         f"{what} must have contiguous rows (strides {view.strides} elements); "
                         f"make it contiguous first (spinfer does not copy device arrays)")
    copy = host_copy(view, what)
    return copy, leading_dimension(copy)


def allocate_like(view: ArrayView, shape: Tuple[int, ...], dtype: DType, what: str) -> ArrayView:
    """A new uninitialised array of ``shape`` beside ``view``: the same library
    (numpy, torch, cupy) and device. Generic device arrays cannot be allocated."""
    if view.kind == "torch":
        import torch

        table = {DType.F32: torch.float32, DType.F16: torch.float16, DType.BF16: torch.bfloat16}
        return _view_torch(torch.empty(shape, dtype=table[dtype], device=view.owner.device), what)
    if view.kind == "cupy":
        import cupy

        if dtype is DType.BF16:
            raise make_error(capi.SPINFER_STATUS_UNSUPPORTED_DTYPE, "CuPy has no bfloat16 arrays")
        with cupy.cuda.Device(view.device):
            out = cupy.empty(shape, dtype=dtype.numpy)
        return _view_cai(out, what, "cupy", view.device, view.stream)
    if not view.on_device:
        return _view_numpy(np.empty(shape, dtype=dtype.numpy), what)
    raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                     f"cannot allocate {what} beside a {type(view.owner).__name__} device array: "
                     f"pass out=")


def resolve_stream(stream, hint: Optional[int]) -> int:
    """A cudaStream_t as an int from None (the hint, else the default stream 0), an
    int, a torch.cuda.Stream (.cuda_stream), a CuPy stream (.ptr) or any object with
    the ``__cuda_stream__`` protocol."""
    if stream is None:
        return int(hint or 0)
    if isinstance(stream, int) and not isinstance(stream, bool):
        return stream
    if hasattr(stream, "__cuda_stream__"):
        return int(stream.__cuda_stream__()[1])
    if hasattr(stream, "cuda_stream"):
        return int(stream.cuda_stream)
    if hasattr(stream, "ptr"):
        return int(stream.ptr)
    raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                     f"stream must be None, an int cudaStream_t, a torch.cuda.Stream or a CuPy "
                     f"stream, not {type(stream).__name__}")


def with_shape(view: ArrayView, shape: Tuple[int, ...], strides: Tuple[int, ...]) -> ArrayView:
    """The same memory seen with another shape (used to see 1-D vectors as rows)."""
    return replace(view, shape=shape, strides=strides)
