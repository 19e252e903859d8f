"""Array interchange on the host: DLPack capsules, __cuda_array_interface__ parsing,
streams. (GPU producers are exercised in test_torch.py / test_cupy.py.)"""

import numpy as np
import pytest

import spinfer
from spinfer._arrays import resolve_stream, view_array
from spinfer._dlpack import DL_CPU, DL_FLOAT, read_capsule
from helpers import TOL, bf16, rel_err, sparse_matrix


class DLPackOnly:
    """Exposes only the DLPack protocol of a numpy array."""

    def __init__(self, arr):
        self._arr = arr

    def __dlpack__(self, stream=None, **kwargs):
        return self._arr.__dlpack__()

    def __dlpack_device__(self):
        return self._arr.__dlpack_device__()


class FakeCudaArray:
    """A __cuda_array_interface__ (v3) describing host memory: parsed, never run."""

    def __init__(self, arr, stream=None):
        self._arr = arr
        self.__cuda_array_interface__ = {
            "shape": arr.shape, "typestr": arr.dtype.str, "version": 3, "stream": stream,
            "data": (arr.__array_interface__["data"][0], False),
            "strides": None if arr.flags.c_contiguous else arr.strides,
        }


def test_read_capsule_of_numpy(rng):
    base = rng.standard_normal((6, 10)).astype(np.float32)
    arr = base[1:5, 2:9]
    view = read_capsule(arr.__dlpack__())
    assert view.device_type == DL_CPU
    assert view.data == arr.__array_interface__["data"][0]
    assert view.shape == (4, 7) and view.strides == (10, 1)
    assert (view.code, view.bits, view.lanes) == (DL_FLOAT, 32, 1)


def test_dlpack_host_arrays_go_through_spmm(rng, host_ctx):
    w_dense = sparse_matrix(rng, 24, 40, sparsity=0.5)
    x = rng.standard_normal((3, 40)).astype(np.float16)
    w = spinfer.encode(DLPackOnly(w_dense))
    np.testing.assert_array_equal(w.decode(), w_dense)
    out = np.full((3, 24), np.nan, dtype=np.float16)
    host_ctx.spmm(w, DLPackOnly(x), out=out)
    ref = x.astype(np.float64) @ w_dense.astype(np.float64).T
    assert rel_err(out, ref) <= TOL["f16"]
    y = host_ctx.spmm(w, DLPackOnly(x))  # host DLPack input: a numpy output
    assert isinstance(y, np.ndarray) and np.array_equal(y, out)


def test_cuda_array_interface_is_parsed(rng):
    arr = rng.standard_normal((5, 12)).astype(np.float16)[:, ::2]
    view = view_array(FakeCudaArray(arr, stream=7), "x")
    assert view.on_device and view.kind == "cuda_array_interface"
    assert view.shape == (5, 6) and view.strides == (12, 2)
    assert view.stream == 7 and view.dtype is spinfer.DType.F16


def test_device_arrays_are_not_mixed_with_host_matrices(rng, host_ctx):
    w = spinfer.encode(sparse_matrix(rng, 8, 16, sparsity=0.5))
    x = np.ones((2, 16), dtype=np.float32)
    with pytest.raises(spinfer.WrongLocationError, match="GPU array but W is a host matrix"):
        host_ctx.spmm(w, FakeCudaArray(x))
    with pytest.raises(spinfer.WrongLocationError, match="context="):
        spinfer.encode(FakeCudaArray(x))
    with pytest.raises(spinfer.InvalidArgumentError, match="contiguous rows"):
        host_ctx.spmm(w, FakeCudaArray(np.ones((16, 2), dtype=np.float32).T))
    with pytest.raises(spinfer.UnsupportedDTypeError, match="typestr"):
        view_array(FakeCudaArray(np.ones((2, 2), dtype=np.float64)), "x")


def test_bf16_numpy_arrays(rng, host_ctx):
    dt = bf16()
    w_dense = sparse_matrix(rng, 33, 65, sparsity=0.6)
    x = rng.standard_normal((4, 65)).astype(dt)
    bias = rng.standard_normal(33).astype(dt)
    y = host_ctx.spmm(spinfer.encode(w_dense.astype(dt), "bf16"), x, bias)
    assert y.dtype == dt
    ref = x.astype(np.float64) @ w_dense.astype(np.float64).T + bias.astype(np.float64)
    assert rel_err(y.astype(np.float32), ref) <= TOL["bf16"]


def test_stream_resolution():
    class TorchLike:
        cuda_stream = 1234

    class CupyLike:
        ptr = 99

    class Protocol:
        def __cuda_stream__(self):
            return (0, 4321)

    assert resolve_stream(None, None) == 0
    assert resolve_stream(None, 55) == 55
    assert resolve_stream(77, 55) == 77
    assert resolve_stream(TorchLike(), None) == 1234
    assert resolve_stream(CupyLike(), None) == 99
    assert resolve_stream(Protocol(), None) == 4321
