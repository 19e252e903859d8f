"""Base of the classes that own a C handle: close(), context manager, finaliser."""

from __future__ import annotations

from . import capi
from ._status import make_error


class OwnedHandle:
    """Owns one C handle and destroys it exactly once: on close(), on leaving a
    ``with`` block, or when garbage-collected. Using it after close() raises
    InvalidArgumentError naming the closed object."""

    _destroy = None  # the C destroy function, set by subclasses
    _handle = None

    def _adopt(self, handle) -> None:
        self._handle = handle

    @property
    def handle(self):
        """The raw SWIG handle for spinfer.capi calls (raises if closed)."""
        if self._handle is None:
            raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                             f"this spinfer.{type(self).__name__} is closed")
        return self._handle

    @property
    def closed(self) -> bool:
        return self._handle is None

    def close(self) -> None:
        """Free the C object now. Idempotent."""
        handle, self._handle = self._handle, None
        if handle is not None:
            type(self)._destroy(handle)

    def __enter__(self):
        self.handle  # noqa: B018 - refuse to enter a closed object
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finaliser (interpreter exit)
            pass


def handle_or_null(obj, cls, what: str):
    """The handle of ``obj`` (an instance of ``cls``), or None for None so that the
    library reports the NULL with its own message."""
    if obj is None:
        return None
    if not isinstance(obj, cls):
        raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                         f"{what} must be a spinfer.{cls.__name__}, not {type(obj).__name__}")
    return obj.handle
