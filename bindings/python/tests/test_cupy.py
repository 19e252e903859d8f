"""CuPy arrays on a CUDA context: zero-copy, CuPy's current stream, CuPy outputs.
Skipped without CuPy, a GPU or a CUDA build of spinfer."""

import numpy as np
import pytest

cupy = pytest.importorskip("cupy")

import spinfer  # noqa: E402
from helpers import TOL, rel_err, sparse_matrix  # noqa: E402

try:
    _gpu = cupy.cuda.runtime.getDeviceCount() > 0
except Exception:  # noqa: BLE001 - no driver
    _gpu = False
pytestmark = pytest.mark.skipif(not (_gpu and spinfer.has_cuda()),
                                reason="needs a GPU and a CUDA build of spinfer")


@pytest.fixture
def cuda_ctx():
    with spinfer.Context("cuda") as ctx:
        yield ctx


@pytest.mark.parametrize("m,k,n", [(64, 64, 1), (96, 200, 5), (512, 1024, 32)])
def test_spmm_with_cupy_arrays(rng, cuda_ctx, m, k, n):
    w_dense = sparse_matrix(rng, m, k, sparsity=0.6)
    w = spinfer.encode(w_dense, "f16").upload(cuda_ctx)
    x = rng.standard_normal((n, k)).astype(np.float16)
    bias = rng.standard_normal(m).astype(np.float16)
    x_gpu, bias_gpu = cupy.asarray(x), cupy.asarray(bias)
    out = cupy.full((n, m), np.nan, dtype=cupy.float16)
    assert cuda_ctx.spmm(w, x_gpu, bias_gpu, out=out) is out
    y = cuda_ctx.spmm(w, x_gpu, bias_gpu)  # allocated by CuPy
    assert isinstance(y, cupy.ndarray) and y.dtype == cupy.float16
    cupy.cuda.Device().synchronize()
    ref = x.astype(np.float64) @ w_dense.astype(np.float64).T + bias.astype(np.float64)
    assert rel_err(cupy.asnumpy(out), ref) <= TOL["f16"]
    assert rel_err(cupy.asnumpy(y), ref) <= TOL["f16"]


def test_runs_on_cupys_current_stream(rng, cuda_ctx):
    m, k, n = 256, 512, 16
    w_dense = sparse_matrix(rng, m, k, sparsity=0.5)
    w = spinfer.encode(w_dense, "f16").upload(cuda_ctx)
    x = rng.standard_normal((n, k)).astype(np.float16)
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        x_gpu = cupy.asarray(x)
        out = cupy.full((n, m), np.nan, dtype=cupy.float16)
        cuda_ctx.spmm(w, x_gpu, out=out)  # stream=None: CuPy's current stream
    stream.synchronize()
    ref = x.astype(np.float64) @ w_dense.astype(np.float64).T
    assert rel_err(cupy.asnumpy(out), ref) <= TOL["f16"]


def test_device_encode_from_cupy(rng, cuda_ctx):
    dense = sparse_matrix(rng, 70, 96, sparsity=0.5).astype(np.float16)
    on_gpu = cuda_ctx.encode(cupy.asarray(dense), "f16")
    np.testing.assert_array_equal(on_gpu.download().decode("f16"), dense)


def test_cupy_errors(rng, cuda_ctx):
    w = spinfer.encode(sparse_matrix(rng, 64, 64, sparsity=0.5), "f16").upload(cuda_ctx)
    with pytest.raises(spinfer.UnsupportedDTypeError):
        cuda_ctx.spmm(w, cupy.ones((2, 64), dtype=cupy.float64))
    with pytest.raises(spinfer.ShapeMismatchError):
        cuda_ctx.spmm(w, cupy.ones((2, 63), dtype=cupy.float16))
    with pytest.raises(spinfer.WrongLocationError):
        spinfer.encode(sparse_matrix(rng, 8, 8, sparsity=0.5)).upload(cuda_ctx).decode()
