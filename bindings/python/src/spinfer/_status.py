"""Statuses of the C API as Python exceptions.

Every failed call raises a subclass of :class:`SpinferError` that carries the status
code, its name and the library's message (``spinfer_last_error_message()``). Each
subclass also derives from the built-in exception a Python user would expect
(``ValueError`` for bad arguments and shapes, ``TypeError`` for dtypes, ``OSError``
for files, ``MemoryError``, ``LookupError``, ``RuntimeError``), so generic handlers
keep working.
"""

from __future__ import annotations

from . import capi


class SpinferError(Exception):
    """A spinfer call failed. ``status`` is the C status code, ``status_name`` its
    name (e.g. ``"SPINFER_STATUS_SHAPE_MISMATCH"``), ``message`` the library's text."""

    status: int = capi.SPINFER_STATUS_INTERNAL_ERROR
    status_name: str = "SPINFER_STATUS_INTERNAL_ERROR"
    message: str = ""


class InvalidArgumentError(SpinferError, ValueError):
    """NULL pointer, bad enum, negative size, closed handle."""


class ShapeMismatchError(SpinferError, ValueError):
    """Sizes that do not agree with each other."""


class UnsupportedDTypeError(SpinferError, TypeError):
    """A dtype this call or backend does not accept."""


class MisalignedError(SpinferError, ValueError):
    """A pointer or leading dimension that is not aligned enough."""


class OutOfMemoryError(SpinferError, MemoryError):
    """A host or device allocation failed."""


class FileAccessError(SpinferError, OSError):
    """A file could not be opened, read or written."""


class CorruptDataError(SpinferError, ValueError):
    """Encoded data or a file breaks a format invariant."""


class UnsupportedVersionError(SpinferError, ValueError):
    """A format version this library does not understand."""


class NotFoundError(SpinferError, LookupError):
    """A named matrix is not in the file."""


class NotSupportedError(SpinferError, RuntimeError):
    """The backend cannot do this (e.g. CUDA asked of a build without CUDA)."""


class NoDeviceError(SpinferError, RuntimeError):
    """CUDA was requested but no usable GPU is present."""


class WrongLocationError(SpinferError, ValueError):
    """Host data given where device data is needed, or the other way round."""


class CudaError(SpinferError, RuntimeError):
    """A CUDA runtime or library call failed."""


class InternalError(SpinferError, RuntimeError):
    """A bug in spinfer: please report it."""


_BY_STATUS = {
    capi.SPINFER_STATUS_INVALID_ARGUMENT: InvalidArgumentError,
    capi.SPINFER_STATUS_SHAPE_MISMATCH: ShapeMismatchError,
    capi.SPINFER_STATUS_UNSUPPORTED_DTYPE: UnsupportedDTypeError,
    capi.SPINFER_STATUS_MISALIGNED: MisalignedError,
    capi.SPINFER_STATUS_OUT_OF_MEMORY: OutOfMemoryError,
    capi.SPINFER_STATUS_IO_ERROR: FileAccessError,
    capi.SPINFER_STATUS_CORRUPT_DATA: CorruptDataError,
    capi.SPINFER_STATUS_UNSUPPORTED_VERSION: UnsupportedVersionError,
    capi.SPINFER_STATUS_NOT_FOUND: NotFoundError,
    capi.SPINFER_STATUS_NOT_SUPPORTED: NotSupportedError,
    capi.SPINFER_STATUS_NO_DEVICE: NoDeviceError,
    capi.SPINFER_STATUS_WRONG_LOCATION: WrongLocationError,
    capi.SPINFER_STATUS_CUDA_ERROR: CudaError,
    capi.SPINFER_STATUS_INTERNAL_ERROR: InternalError,
}


def make_error(status: int, message: str) -> SpinferError:
    """The exception for ``status`` with ``message`` (no library call is made)."""
    cls = _BY_STATUS.get(status, SpinferError)
    name = capi.spinfer_status_string(status)
    # One positional argument only: OSError would read two as (errno, strerror).
    err = cls(f"{name}: {message}" if message else name)
    err.status = status
    err.status_name = name
    err.message = message
    return err


def check(status: int) -> None:
    """Raise the exception for a failed C status, with the library's message.

    Must be called right after the failing call, on the same thread: the message is
    thread-local and valid until the next spinfer call.
    """
    if status != capi.SPINFER_STATUS_SUCCESS:
        raise make_error(status, capi.spinfer_last_error_message())


def checked(result):
    """For a call with out-parameters (``[status, out...]``): raise on failure,
    else return the single output, or the tuple of outputs."""
    status, *outs = result
    check(status)
    return outs[0] if len(outs) == 1 else tuple(outs)


# Show the public name (spinfer.ShapeMismatchError) in tracebacks.
for _cls in (SpinferError, *_BY_STATUS.values()):
    _cls.__module__ = "spinfer"
del _cls
