"""Read a DLPack capsule (``obj.__dlpack__()``) without consuming it.

Only the fields spinfer needs are read: data pointer, device, shape, strides, dtype.
The capsule is *not* renamed to "used_dltensor", so the producer's capsule destructor
still frees it; the caller keeps the capsule (and the producing object) alive for as
long as it uses the pointer. Struct layouts follow dlpack.h (v0.8 legacy capsule
"dltensor" and v1.x "dltensor_versioned").
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Optional, Tuple

# DLDeviceType values spinfer cares about.
DL_CPU = 1
DL_CUDA = 2
DL_CUDA_HOST = 3
DL_CUDA_MANAGED = 13

# DLDataTypeCode values.
DL_INT, DL_UINT, DL_FLOAT, DL_BFLOAT = 0, 1, 2, 4


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p)]


class _DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class _DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [("version", _DLPackVersion), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p), ("flags", ctypes.c_uint64),
                ("dl_tensor", _DLTensor)]


_capsule_is_valid = ctypes.pythonapi.PyCapsule_IsValid
_capsule_is_valid.restype = ctypes.c_int
_capsule_is_valid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_get_pointer.restype = ctypes.c_void_p
_capsule_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


@dataclass(frozen=True)
class DLPackView:
    """What a DLPack capsule describes. ``strides`` are in elements (C-contiguous
    strides are filled in when the producer gave none)."""

    data: int
    device_type: int
    device_id: int
    shape: Tuple[int, ...]
    strides: Tuple[int, ...]
    code: int
    bits: int
    lanes: int
    capsule: object  # keeps the producer's memory alive


def _contiguous_strides(shape: Tuple[int, ...]) -> Tuple[int, ...]:
    strides, step = [], 1
    for extent in reversed(shape):
        strides.append(step)
        step *= max(int(extent), 1)
    return tuple(reversed(strides))


def read_capsule(capsule) -> DLPackView:
    """Describe the tensor inside a DLPack capsule (legacy or versioned)."""
    if _capsule_is_valid(capsule, b"dltensor"):
        managed = _DLManagedTensor.from_address(_capsule_get_pointer(capsule, b"dltensor"))
        tensor = managed.dl_tensor
    elif _capsule_is_valid(capsule, b"dltensor_versioned"):
        managed = _DLManagedTensorVersioned.from_address(
            _capsule_get_pointer(capsule, b"dltensor_versioned"))
        if managed.version.major != 1:
            raise TypeError(f"DLPack version {managed.version.major} is not supported")
        tensor = managed.dl_tensor
    else:
        raise TypeError("not an unused DLPack capsule (\"dltensor\")")
    ndim = int(tensor.ndim)
    shape = tuple(int(tensor.shape[i]) for i in range(ndim))
    if tensor.strides:
        strides = tuple(int(tensor.strides[i]) for i in range(ndim))
    else:
        strides = _contiguous_strides(shape)
    return DLPackView(
        data=int(tensor.data or 0) + int(tensor.byte_offset),
        device_type=int(tensor.device.device_type),
        device_id=int(tensor.device.device_id),
        shape=shape,
        strides=strides,
        code=int(tensor.dtype.code),
        bits=int(tensor.dtype.bits),
        lanes=int(tensor.dtype.lanes),
        capsule=capsule,
    )


def dlpack_stream_argument(stream: Optional[int]) -> int:
    """The ``stream=`` value to give a CUDA producer's ``__dlpack__`` so that its
    work is ordered before ours: our stream, or 1 (legacy default) for NULL."""
    return int(stream) if stream else 1
