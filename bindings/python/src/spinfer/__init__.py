"""spinfer: unstructured-sparse matrix products (TCA-BME format of SpInfer, EuroSys '25).

A pythonic layer over the C API (``spinfer.h``); the raw SWIG module generated from
that header is :mod:`spinfer.capi`.

    import numpy as np, spinfer
    w = np.random.randn(256, 512).astype(np.float32)
    w[np.abs(w) < 1.0] = 0                       # ~68 % zeros
    W = spinfer.encode(w, "f16")                 # TCA-BME, fp16 non-zeros
    spinfer.save("w.safetensors", {"w": W})
    x = np.random.randn(4, 512).astype(np.float32)
    with spinfer.Context("host") as ctx:
        y = ctx.spmm(spinfer.load("w.safetensors", "w"), x)   # y = x @ w.T

Every failure raises a :class:`SpinferError` subclass carrying the library's
message. GPU arrays (PyTorch, CuPy, DLPack, ``__cuda_array_interface__``) are used in
place with a CUDA context; ``spinfer.torch`` has a drop-in ``SparseLinear``.
Transformer blocks (Linear, MLP, KVCache, Attention, DecoderLayer) and whole models
(Model.load / prefill / decode_step / generate_greedy) wrap section 7 of the C API.
"""

from . import capi
from ._context import Context, SpmmPlan
from ._convert import ConvertReport, convert_model, prune_magnitude
from ._dtypes import Backend, DType, Location
from ._files import load, matrix_names, save
from ._layers import MLP, Activation, Arch, Attention, DecoderLayer, KVCache, Linear, MLPKind
from ._matrix import Matrix, MatrixArrays, MatrixInfo, encode, from_arrays
from ._model import Model, ModelInfo
from ._status import (CorruptDataError, CudaError, FileAccessError, InternalError,
                      InvalidArgumentError, MisalignedError, NoDeviceError, NotFoundError,
                      NotSupportedError, OutOfMemoryError, ShapeMismatchError, SpinferError,
                      UnsupportedDTypeError, UnsupportedVersionError, WrongLocationError)

__version__ = capi.spinfer_version()

#: Version of the TCA-BME byte layout this library writes.
FORMAT_VERSION = capi.SPINFER_FORMAT_VERSION


def version() -> str:
    """The library version "MAJOR.MINOR.PATCH"."""
    return capi.spinfer_version()


def has_cuda() -> bool:
    """True when the library was built with CUDA kernels (a GPU may still be absent)."""
    return bool(capi.spinfer_has_cuda())


__all__ = [
    "ConvertReport", "convert_model", "prune_magnitude",
    "Backend", "Context", "DType", "Location", "Matrix", "MatrixArrays", "MatrixInfo",
    "FORMAT_VERSION", "SpmmPlan",
    "Activation", "Arch", "MLPKind", "Linear", "MLP", "KVCache", "Attention", "DecoderLayer",
    "Model", "ModelInfo",
    "encode", "from_arrays", "has_cuda", "load", "matrix_names", "save", "version",
    "SpinferError", "InvalidArgumentError", "ShapeMismatchError", "UnsupportedDTypeError",
    "MisalignedError", "OutOfMemoryError", "FileAccessError", "CorruptDataError",
    "UnsupportedVersionError", "NotFoundError", "NotSupportedError", "NoDeviceError",
    "WrongLocationError", "CudaError", "InternalError", "capi",
]
