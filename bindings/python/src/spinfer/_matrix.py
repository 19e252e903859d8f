"""Encoded sparse matrices: encode from dense, decode back, facts, raw arrays."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import NamedTuple, Optional

import numpy as np

from . import capi
from ._arrays import as_rows, view_array
from ._dtypes import DType, Location, as_dtype
from ._handle import OwnedHandle
from ._status import check, checked, make_error


@dataclass(frozen=True)
class MatrixInfo:
    """Facts about an encoded matrix (``spinfer_matrix_info_t``)."""

    rows: int
    cols: int
    dtype: DType
    location: Location
    device: int
    format_version: int
    nnz: int
    sparsity: float
    bytes: int
    dense_bytes: int
    compression_ratio: float
    values_count: int = 0   #: 16-bit elements of the values array
    bitmaps_count: int = 0  #: uint64 words of the bitmaps array
    offsets_count: int = 0  #: uint64 words of the group_offsets array

    @classmethod
    def _from_c(cls, info) -> "MatrixInfo":
        return cls(rows=int(info.rows), cols=int(info.cols), dtype=DType(info.dtype),
                   location=Location(info.location), device=int(info.device),
                   format_version=int(info.format_version), nnz=int(info.nnz),
                   sparsity=float(info.sparsity), bytes=int(info.bytes),
                   dense_bytes=int(info.dense_bytes),
                   compression_ratio=float(info.compression_ratio),
                   values_count=int(info.values_count), bitmaps_count=int(info.bitmaps_count),
                   offsets_count=int(info.offsets_count))


class MatrixArrays(NamedTuple):
    """The raw TCA-BME arrays of a matrix (docs/format.md)."""

    values: np.ndarray         #: uint16, the fp16/bf16 bits of the non-zeros (+ padding)
    bitmaps: np.ndarray        #: uint64, one word per 8x8 BitmapTile
    group_offsets: np.ndarray  #: uint64, GroupTile starts in ``values``, then the total


class Matrix(OwnedHandle):
    """An immutable TCA-BME sparse matrix W [rows = M, cols = K], on the host or on a
    GPU. Made by :func:`spinfer.encode`, :func:`spinfer.load`,
    :func:`spinfer.from_arrays`, :meth:`Context.upload` or :meth:`Context.encode`.
    Frees its memory on :meth:`close` (or ``with``, or garbage collection). A device
    matrix keeps its context alive. Any number of threads may use it at once."""

    _destroy = staticmethod(capi.spinfer_matrix_destroy)

    def __init__(self, *args, **kwargs):
        raise TypeError("make a spinfer.Matrix with spinfer.encode(), spinfer.load(), "
                        "spinfer.from_arrays() or Context.upload()")

    @classmethod
    def _wrap(cls, handle, context=None) -> "Matrix":
        self = cls.__new__(cls)
        self._adopt(handle)
        self._context = context  # a device matrix must not outlive its context
        self._info = MatrixInfo._from_c(checked(capi.spinfer_matrix_get_info(handle)))
        return self

    # ---- facts ---------------------------------------------------------------
    @property
    def info(self) -> MatrixInfo:
        self.handle  # noqa: B018 - a closed matrix has no facts
        return self._info

    @property
    def rows(self) -> int:
        return self.info.rows

    @property
    def cols(self) -> int:
        return self.info.cols

    @property
    def shape(self):
        return (self.info.rows, self.info.cols)

    @property
    def dtype(self) -> DType:
        """Storage dtype of the non-zeros (F16 or BF16)."""
        return self.info.dtype

    @property
    def nnz(self) -> int:
        return self.info.nnz

    @property
    def sparsity(self) -> float:
        return self.info.sparsity

    @property
    def location(self) -> Location:
        return self.info.location

    @property
    def on_device(self) -> bool:
        return self.info.location is Location.DEVICE

    @property
    def context(self):
        """The context a device matrix belongs to (None for host matrices)."""
        return self._context

    def __repr__(self) -> str:
        if self._handle is None:
            return "<spinfer.Matrix closed>"
        i = self._info
        where = f"cuda:{i.device}" if i.location is Location.DEVICE else "host"
        return (f"<spinfer.Matrix {i.rows}x{i.cols} {i.dtype.name} nnz={i.nnz} "
                f"sparsity={i.sparsity:.3f} {where}>")

    # ---- operations ----------------------------------------------------------
    def decode(self, dtype="f32") -> np.ndarray:
        """The dense matrix [rows, cols] as a new numpy array of ``dtype`` (f32, f16,
        or bf16 with ml_dtypes). Host matrices only (download device ones first)."""
        dt = as_dtype(dtype)
        out = np.empty((self.rows, self.cols), dtype=dt.numpy)
        check(capi.spinfer_matrix_decode(self.handle, out, int(dt), self.cols))
        return out

    def validate(self) -> None:
        """Check every format invariant; raises CorruptDataError naming the first
        broken one."""
        check(capi.spinfer_matrix_validate(self.handle))

    def to_arrays(self) -> MatrixArrays:
        """The raw TCA-BME arrays of this host matrix as new numpy arrays: what
        :func:`from_arrays` takes back (with ``rows``, ``cols``, ``dtype`` and
        ``info.format_version``) to rebuild the same matrix, bit for bit."""
        if self.on_device:
            raise make_error(capi.SPINFER_STATUS_WRONG_LOCATION,
                             "to_arrays reads host matrices: download() this one first")
        i = self.info
        arrays = MatrixArrays(values=np.empty(i.values_count, dtype=np.uint16),
                              bitmaps=np.empty(i.bitmaps_count, dtype=np.uint64),
                              group_offsets=np.empty(i.offsets_count, dtype=np.uint64))
        check(capi.spinfer_matrix_copy_arrays(self.handle, *arrays))
        return arrays

    def upload(self, context, stream=None) -> "Matrix":
        """A copy of this host matrix on ``context``'s GPU (see Context.upload)."""
        return context.upload(self, stream=stream)

    def download(self, stream=None) -> "Matrix":
        """A host copy of this device matrix (synchronises ``stream``)."""
        if self._context is None:
            raise make_error(capi.SPINFER_STATUS_WRONG_LOCATION,
                             "this matrix is on the host already")
        return self._context.download(self, stream=stream)


def encode(dense, storage="f16", *, context=None, stream=None) -> Matrix:
    """Encode a dense row-major matrix [rows, cols] into TCA-BME.

    ``dense`` is a numpy array (float32, float16 or ml_dtypes.bfloat16), a CPU torch
    tensor, or -- with a CUDA ``context`` -- a GPU array (torch, CuPy, DLPack,
    ``__cuda_array_interface__``), which is encoded on the GPU into a device matrix.
    Values that are zero in the ``storage`` dtype (f16 or bf16) are dropped; the
    others are kept rounded to it.
    """
    storage_dt = as_dtype(storage)
    view = view_array(dense, "dense")
    if view.on_device:
        if context is None:
            raise make_error(capi.SPINFER_STATUS_WRONG_LOCATION,
                             "dense is a GPU array: pass context= (a CUDA spinfer.Context)")
        return context.encode(dense, storage_dt, stream=stream)
    view, ld = as_rows(view, "dense")
    rows, cols = view.shape
    handle = checked(capi.spinfer_matrix_encode(view.ptr, int(view.dtype), rows, cols, ld,
                                                int(storage_dt)))
    del view  # the dense array may go now: the matrix owns copies
    return Matrix._wrap(handle)


def from_arrays(rows: int, cols: int, dtype, values, bitmaps, group_offsets,
                format_version: Optional[int] = None) -> Matrix:
    """Build a host matrix from raw TCA-BME arrays (docs/format.md), copying and
    validating them: ``values`` 16-bit items (uint16 bits or float16/bfloat16),
    ``bitmaps`` and ``group_offsets`` uint64."""
    version = capi.SPINFER_FORMAT_VERSION if format_version is None else format_version
    # Sizes are integers, as Python's own sequence APIs require (rows=1.5 is a TypeError).
    rows, cols, version = operator.index(rows), operator.index(cols), operator.index(version)
    arrays = []
    for name, arr, item in (("values", values, np.uint16), ("bitmaps", bitmaps, np.uint64),
                            ("group_offsets", group_offsets, np.uint64)):
        if arr is None:
            arrays.append(None)  # the library names the missing array
            continue
        if isinstance(arr, np.ndarray):
            given = arr
        else:  # a sequence: Python integers only (bit patterns), converted exactly
            items = list(arr)
            if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
                raise TypeError(f"{name} must hold integers (bit patterns)")
            given = np.array(items, dtype=item)
        # The bits are taken as they are: an array of another kind (float64 bitmaps,
        # say) would be reinterpreted, so only integers of the right width pass, plus
        # 16-bit floats for the values.
        ok = given.dtype.itemsize == np.dtype(item).itemsize and (
            given.dtype.kind in "iu" or (name == "values" and given.dtype.kind in "fV")
            or (name == "values" and given.dtype.name == "bfloat16"))
        if not ok:
            raise TypeError(f"{name} must be an array of {np.dtype(item).name}"
                            f"{' (or float16 / bfloat16)' if name == 'values' else ''}, "
                            f"not {given.dtype}")
        arrays.append(np.ascontiguousarray(given))
    handle = checked(capi.spinfer_matrix_from_arrays(rows, cols, int(as_dtype(dtype)),
                                                     version, *arrays))
    return Matrix._wrap(handle)
