"""Enums of the C API (dtype, backend, location) and their Python spellings."""

from __future__ import annotations

import enum

import numpy as np

from . import capi
from ._status import make_error


class DType(enum.IntEnum):
    """Element type of dense arrays and of stored non-zeros."""

    F32 = capi.SPINFER_DTYPE_F32
    F16 = capi.SPINFER_DTYPE_F16
    BF16 = capi.SPINFER_DTYPE_BF16

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return int(capi.spinfer_dtype_size(int(self)))

    @property
    def numpy(self) -> np.dtype:
        """The numpy dtype (bf16 needs the ``ml_dtypes`` package)."""
        if self is DType.F32:
            return np.dtype(np.float32)
        if self is DType.F16:
            return np.dtype(np.float16)
        try:
            import ml_dtypes
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("bf16 arrays in numpy need the ml_dtypes package "
                              "(pip install ml_dtypes)") from e
        return np.dtype(ml_dtypes.bfloat16)


class Backend(enum.IntEnum):
    """Where a context runs work."""

    AUTO = capi.SPINFER_BACKEND_AUTO
    HOST = capi.SPINFER_BACKEND_HOST
    CUDA = capi.SPINFER_BACKEND_CUDA


class Location(enum.IntEnum):
    """Where a matrix's arrays live."""

    HOST = capi.SPINFER_LOCATION_HOST
    DEVICE = capi.SPINFER_LOCATION_DEVICE


_DTYPE_NAMES = {
    "f32": DType.F32, "float32": DType.F32, "fp32": DType.F32, "float": DType.F32,
    "f16": DType.F16, "float16": DType.F16, "fp16": DType.F16, "half": DType.F16,
    "bf16": DType.BF16, "bfloat16": DType.BF16,
}


def as_dtype(value) -> DType:
    """A DType from a DType, its int, a name ("f16", "bfloat16"...), a numpy dtype
    or a torch dtype."""
    if isinstance(value, DType):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        try:
            return DType(int(value))
        except ValueError:
            pass
    elif isinstance(value, str):
        key = value.lower().removeprefix("torch.")
        if key in _DTYPE_NAMES:
            return _DTYPE_NAMES[key]
    elif type(value).__module__ == "torch":  # torch.float16 etc., without importing torch
        key = str(value).removeprefix("torch.")
        if key in _DTYPE_NAMES:
            return _DTYPE_NAMES[key]
    else:
        try:
            return dtype_of_numpy(np.dtype(value))
        except TypeError:
            pass
    raise make_error(capi.SPINFER_STATUS_UNSUPPORTED_DTYPE,
                     f"unknown dtype {value!r}: use f32, f16 or bf16")


def dtype_of_numpy(dt: np.dtype) -> DType:
    """The DType of a numpy dtype; raises UnsupportedDTypeError for others."""
    if dt == np.float32:
        return DType.F32
    if dt == np.float16:
        return DType.F16
    if dt.name == "bfloat16":  # ml_dtypes.bfloat16, recognised without importing it
        return DType.BF16
    raise make_error(capi.SPINFER_STATUS_UNSUPPORTED_DTYPE,
                     f"numpy dtype {dt} is not supported: use float32, float16 or "
                     f"ml_dtypes.bfloat16")


def as_backend(value) -> Backend:
    """A Backend from a Backend, its int or a name ("auto", "host", "cpu", "cuda")."""
    if isinstance(value, Backend):
        return value
    if isinstance(value, str):
        key = value.lower()
        if key == "cpu":
            key = "host"
        if key.upper() in Backend.__members__:
            return Backend[key.upper()]
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            return Backend(value)
        except ValueError:
            pass
    raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                     f"unknown backend {value!r}: use 'auto', 'host' or 'cuda'")


__all__ = ["DType", "Backend", "Location", "as_dtype", "as_backend", "dtype_of_numpy"]
