"""Bad input raises Python exceptions that carry the library's status and message."""

import numpy as np
import pytest

import spinfer
from spinfer import capi
from helpers import sparse_matrix


@pytest.fixture
def w(rng):
    with spinfer.encode(sparse_matrix(rng, 8, 16, sparsity=0.5)) as m:
        yield m


def _x(n=2, k=16, dtype=np.float32):
    return np.ones((n, k), dtype=dtype)


def test_every_status_has_its_exception_class():
    for name in dir(capi):
        if name.startswith("SPINFER_STATUS_") and name != "SPINFER_STATUS_SUCCESS":
            status = getattr(capi, name)
            err = spinfer._status.make_error(status, "because")
            assert isinstance(err, spinfer.SpinferError)
            assert type(err) is not spinfer.SpinferError, f"{name} has no subclass"
            assert err.status == status and err.status_name == name
            assert str(err) == f"{name}: because"


def test_exceptions_are_also_builtin_exceptions():
    assert issubclass(spinfer.ShapeMismatchError, ValueError)
    assert issubclass(spinfer.InvalidArgumentError, ValueError)
    assert issubclass(spinfer.UnsupportedDTypeError, TypeError)
    assert issubclass(spinfer.FileAccessError, OSError)
    assert issubclass(spinfer.NotFoundError, LookupError)
    assert issubclass(spinfer.OutOfMemoryError, MemoryError)
    assert issubclass(spinfer.NotSupportedError, RuntimeError)
    # OSError must not read (status, message) as (errno, strerror).
    err = spinfer._status.make_error(capi.SPINFER_STATUS_IO_ERROR, "cannot open 'f'")
    assert str(err) == "SPINFER_STATUS_IO_ERROR: cannot open 'f'"


# ---- None ---------------------------------------------------------------------------
def test_none_matrix_gets_the_library_message(host_ctx):
    with pytest.raises(spinfer.InvalidArgumentError) as e:
        host_ctx.spmm(None, _x())
    assert e.value.status == capi.SPINFER_STATUS_INVALID_ARGUMENT
    assert "w" in e.value.message and "NULL" in e.value.message


def test_none_arrays_and_paths(host_ctx, w, tmp_path):
    with pytest.raises(spinfer.InvalidArgumentError, match="x is None"):
        host_ctx.spmm(w, None)
    with pytest.raises(spinfer.InvalidArgumentError, match="dense is None"):
        spinfer.encode(None)
    with pytest.raises(spinfer.InvalidArgumentError, match="path is NULL"):
        spinfer.load(None)
    with pytest.raises(spinfer.InvalidArgumentError, match=r"matrices\[0\] is NULL"):
        spinfer.save(tmp_path / "a.safetensors", {"w": None})
    with pytest.raises(spinfer.SpinferError):  # NOT_SUPPORTED on a host context
        host_ctx.upload(None)


# ---- shapes -------------------------------------------------------------------------
def test_wrong_shapes(host_ctx, w):
    with pytest.raises(spinfer.ShapeMismatchError, match="x has 15 columns but W has 16"):
        host_ctx.spmm(w, _x(k=15))
    with pytest.raises(spinfer.ShapeMismatchError, match="bias has shape"):
        host_ctx.spmm(w, _x(), np.ones(7, dtype=np.float32))
    with pytest.raises(spinfer.ShapeMismatchError, match="out has shape"):
        host_ctx.spmm(w, _x(), out=np.empty((2, 9), dtype=np.float32))
    with pytest.raises(spinfer.ShapeMismatchError, match="must be 2-D"):
        host_ctx.spmm(w, np.ones((2, 2, 16), dtype=np.float32))
    with pytest.raises(spinfer.ShapeMismatchError, match="must be 2-D"):
        spinfer.encode(np.ones(16, dtype=np.float32))


def test_empty_matrix_is_refused_by_the_library():
    with pytest.raises(spinfer.InvalidArgumentError) as e:
        spinfer.encode(np.zeros((0, 3), dtype=np.float32))
    assert "0 x 3" in e.value.message


# ---- dtypes -------------------------------------------------------------------------
def test_wrong_dtypes(host_ctx, w):
    with pytest.raises(spinfer.UnsupportedDTypeError, match="float64"):
        host_ctx.spmm(w, _x(dtype=np.float64))
    with pytest.raises(spinfer.UnsupportedDTypeError, match="int32"):
        spinfer.encode(np.eye(4, dtype=np.int32))
    with pytest.raises(spinfer.UnsupportedDTypeError, match="bias has dtype F16 but x has F32"):
        host_ctx.spmm(w, _x(), np.ones(8, dtype=np.float16))
    with pytest.raises(spinfer.UnsupportedDTypeError, match="out has dtype"):
        host_ctx.spmm(w, _x(), out=np.empty((2, 8), dtype=np.float16))
    with pytest.raises(spinfer.UnsupportedDTypeError, match="unknown dtype"):
        w.decode("int8")


def test_f32_storage_is_refused_by_the_library():
    with pytest.raises(spinfer.UnsupportedDTypeError) as e:
        spinfer.encode(np.eye(8, dtype=np.float32), "f32")
    assert e.value.status == capi.SPINFER_STATUS_UNSUPPORTED_DTYPE
    assert "storage" in e.value.message


# ---- closed handles -----------------------------------------------------------------
def test_closed_matrix_and_context(rng, tmp_path):
    ctx = spinfer.Context("host")
    w = spinfer.encode(sparse_matrix(rng, 8, 16, sparsity=0.5))
    w.close()
    with pytest.raises(spinfer.InvalidArgumentError, match="Matrix is closed"):
        ctx.spmm(w, _x())
    with pytest.raises(spinfer.InvalidArgumentError, match="Matrix is closed"):
        spinfer.save(tmp_path / "a.safetensors", {"w": w})
    ctx.close()
    w2 = spinfer.encode(sparse_matrix(rng, 8, 16, sparsity=0.5))
    with pytest.raises(spinfer.InvalidArgumentError, match="Context is closed"):
        ctx.spmm(w2, _x())
    with pytest.raises(spinfer.InvalidArgumentError, match="Context is closed"):
        ctx.backend  # noqa: B018


# ---- other bad arguments ------------------------------------------------------------
def test_bad_objects(host_ctx, w):
    with pytest.raises(spinfer.InvalidArgumentError, match="w must be a spinfer.Matrix"):
        host_ctx.spmm("W", _x())
    with pytest.raises(spinfer.UnsupportedDTypeError):
        host_ctx.spmm(w, "not an array")
    with pytest.raises(spinfer.InvalidArgumentError, match="not an array of numbers"):
        host_ctx.spmm(w, [object()])
    with pytest.raises(spinfer.InvalidArgumentError, match="unknown backend"):
        spinfer.Context("gpu")
    with pytest.raises(spinfer.InvalidArgumentError, match="stream must be"):
        host_ctx.spmm(w, _x(), stream="s")


def test_library_validates_context_config():
    with pytest.raises(spinfer.InvalidArgumentError) as e:
        spinfer.Context("host", host_threads=-1)
    assert "host_threads" in e.value.message


def test_out_must_be_writable_and_not_overlap(host_ctx, rng):
    w = spinfer.encode(sparse_matrix(rng, 16, 16, sparsity=0.5))
    out = np.empty((2, 16), dtype=np.float32)
    out.flags.writeable = False
    with pytest.raises(spinfer.InvalidArgumentError, match="read-only"):
        host_ctx.spmm(w, _x(), out=out)
    buf = np.ones((2, 16), dtype=np.float32)
    with pytest.raises(spinfer.InvalidArgumentError, match="overlap"):
        host_ctx.spmm(w, buf, out=buf)
    with pytest.raises(spinfer.InvalidArgumentError, match="contiguous rows"):
        host_ctx.spmm(w, _x(), out=np.empty((16, 2), dtype=np.float32).T)


def test_device_calls_on_a_host_build_or_context(rng, host_ctx):
    w = spinfer.encode(sparse_matrix(rng, 8, 16, sparsity=0.5))
    with pytest.raises(spinfer.NotSupportedError) as e:
        host_ctx.upload(w)
    assert e.value.message  # the library's own words
    with pytest.raises(spinfer.WrongLocationError):
        w.download()
    if not spinfer.has_cuda():
        with pytest.raises(spinfer.NotSupportedError, match="without CUDA"):
            spinfer.Context("cuda")


def test_message_is_thread_local_and_reset_by_success(host_ctx, rng):
    with pytest.raises(spinfer.SpinferError):
        host_ctx.spmm(None, _x())
    assert capi.spinfer_last_error_message() != ""
    spinfer.encode(sparse_matrix(rng, 4, 4, sparsity=0.5))
    assert capi.spinfer_last_error_message() == ""
