"""Y = X * W^T (+ bias) on the host backend against a float64 numpy reference."""

import threading

import numpy as np
import pytest

import spinfer
from helpers import TOL, bf16, rel_err, sparse_matrix

# (M, K, N): odd sizes, one-tile and multi-tile, tall and wide, a single token.
SHAPES = [(1, 1, 1), (17, 33, 5), (64, 64, 8), (100, 300, 13), (257, 70, 1), (96, 200, 64)]


def _np_dtype(name):
    return {"f32": np.dtype(np.float32), "f16": np.dtype(np.float16)}.get(name) or bf16()


def _reference(x, w, bias):
    ref = x.astype(np.float64) @ w.astype(np.float64).T
    return ref if bias is None else ref + bias.astype(np.float64)


@pytest.mark.parametrize("m,k,n", SHAPES)
@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
@pytest.mark.parametrize("with_bias", [False, True])
def test_spmm_matches_float64_reference(rng, host_ctx, m, k, n, dtype, with_bias):
    dt = _np_dtype(dtype)
    storage = "bf16" if dtype == "bf16" else "f16"
    w_dense = sparse_matrix(rng, m, k, sparsity=0.7)
    w = spinfer.encode(w_dense, storage)
    x = rng.standard_normal((n, k)).astype(dt)
    bias = rng.standard_normal(m).astype(dt) if with_bias else None
    out = np.full((n, m), np.nan, dtype=dt)  # poisoned: every element must be written
    y = host_ctx.spmm(w, x, bias, out=out)
    assert y is out
    ref = _reference(x, w_dense, bias)
    assert rel_err(y, ref) <= TOL[dtype]


def test_spmm_allocates_its_output(rng, host_ctx):
    w_dense = sparse_matrix(rng, 40, 72, sparsity=0.5)
    x = rng.standard_normal((3, 72)).astype(np.float32)
    y = host_ctx.spmm(spinfer.encode(w_dense), x)
    assert isinstance(y, np.ndarray) and y.shape == (3, 40) and y.dtype == np.float32
    assert rel_err(y, _reference(x, w_dense, None)) <= TOL["f32"]


def test_spmm_vector_input_gives_vector_output(rng, host_ctx):
    w_dense = sparse_matrix(rng, 30, 50, sparsity=0.6)
    x = rng.standard_normal(50).astype(np.float32)
    bias = rng.standard_normal(30).astype(np.float32)
    y = host_ctx.spmm(spinfer.encode(w_dense), x, bias)
    assert y.shape == (30,)
    assert rel_err(y, _reference(x[None, :], w_dense, bias)[0]) <= TOL["f32"]
    strided = np.repeat(x, 2)[::2]  # a vector with a stride of 2 elements
    np.testing.assert_array_equal(host_ctx.spmm(spinfer.encode(w_dense), strided, bias), y)


def test_spmm_leading_dimensions_from_strides(rng, host_ctx):
    m, k, n = 48, 80, 6
    w_dense = sparse_matrix(rng, m, k, sparsity=0.6)
    w = spinfer.encode(w_dense)
    x_big = rng.standard_normal((n, k + 24)).astype(np.float32)
    x = x_big[:, 8:8 + k]  # ldx = k + 24, offset start
    out_big = np.full((n, m + 10), np.nan, dtype=np.float32)
    out = out_big[:, :m]  # ldy = m + 10
    host_ctx.spmm(w, x, out=out)
    assert rel_err(out, _reference(x, w_dense, None)) <= TOL["f32"]
    assert np.isnan(out_big[:, m:]).all(), "wrote past the row end (ldy padding)"
    # Column-strided and Fortran-ordered inputs are copied, not misread.
    xf = np.asfortranarray(x)
    np.testing.assert_array_equal(host_ctx.spmm(w, xf), out)


def test_spmm_with_no_rows_does_nothing(rng, host_ctx):
    w = spinfer.encode(sparse_matrix(rng, 10, 20, sparsity=0.5))
    y = host_ctx.spmm(w, np.zeros((0, 20), dtype=np.float32))
    assert y.shape == (0, 10)


def test_spmm_scenario_exact_in_fp32(host_ctx):
    # Products of multiples of 1/8 and 1/4 are exact in fp32 accumulation.
    i, j = np.arange(96)[:, None], np.arange(200)[None, :]
    w_dense = np.where((i * 7 + j * 13) % 10 < 5, ((i * 131 + j * 71) % 17 - 8) / 8.0, 0.0)
    n = np.arange(5)[:, None]
    x = (((n * 29 + j * 37) % 11 - 5) / 4.0).astype(np.float32)
    bias = ((np.arange(96) % 7 - 3) / 2.0).astype(np.float32)
    y = host_ctx.spmm(spinfer.encode(w_dense.astype(np.float32)), x, bias)
    np.testing.assert_array_equal(y, _reference(x, w_dense, bias))
    assert f"{y.sum(dtype=np.float64):.6f}" == "-26.937500"


def test_host_threads_do_not_change_results(rng):
    w_dense = sparse_matrix(rng, 200, 300, sparsity=0.5)
    x = rng.standard_normal((17, 300)).astype(np.float32)
    w = spinfer.encode(w_dense)
    with spinfer.Context("host", host_threads=1) as one, \
            spinfer.Context("host", host_threads=4) as four:
        np.testing.assert_array_equal(one.spmm(w, x), four.spmm(w, x))


def test_expert_options_are_accepted_on_the_host(rng, host_ctx):
    w_dense = sparse_matrix(rng, 64, 128, sparsity=0.5)
    x = rng.standard_normal((4, 128)).astype(np.float32)
    y = host_ctx.spmm(spinfer.encode(w_dense), x, split_k=2, tile_n=8)
    assert rel_err(y, _reference(x, w_dense, None)) <= TOL["f32"]


def test_one_context_from_many_threads(rng, host_ctx):
    # The GIL is released during spinfer calls; a context may serve many threads.
    w_dense = sparse_matrix(rng, 128, 256, sparsity=0.6)
    w = spinfer.encode(w_dense)
    inputs = [rng.standard_normal((9, 256)).astype(np.float32) for _ in range(8)]
    results = [None] * len(inputs)

    def work(i):
        for _ in range(5):
            results[i] = host_ctx.spmm(w, inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for x, y in zip(inputs, results):
        assert rel_err(y, _reference(x, w_dense, None)) <= TOL["f32"]


def test_auto_context_resolves_to_a_real_backend():
    with spinfer.Context() as ctx:
        assert ctx.backend in (spinfer.Backend.HOST, spinfer.Backend.CUDA)
        if not spinfer.has_cuda():
            assert ctx.backend is spinfer.Backend.HOST and ctx.device == -1
        assert ctx.backend.name.lower() in repr(ctx)


def test_spmm_plan_on_the_host(rng, host_ctx):
    w = spinfer.encode(sparse_matrix(rng, 40, 72, sparsity=0.5))
    plan = host_ctx.spmm_plan(w, 8, "f32")
    assert isinstance(plan, spinfer.SpmmPlan)
    assert plan.kernel == "host"
    assert plan.split_k == 1 and plan.tile_n == 0 and plan.workspace_bytes == 0
    assert plan.host_threads == 1  # too small a product to wake workers
    assert not plan.runs_without_workspace
    assert host_ctx.spmm_plan(w, 0).host_threads == 0
    with pytest.raises(spinfer.InvalidArgumentError, match="negative"):
        host_ctx.spmm_plan(w, -1)
    with pytest.raises(TypeError):
        host_ctx.spmm_plan(w, 1.5)
    with pytest.raises(spinfer.InvalidArgumentError):
        host_ctx.spmm_plan(None, 1)


def test_context_workspace_slots_and_release():
    with spinfer.Context("host", spmm_workspace_slots=0) as ctx:
        ctx.release_stream()  # nothing to give back on the host
    with pytest.raises(spinfer.InvalidArgumentError, match="spmm_workspace_slots"):
        spinfer.Context("host", spmm_workspace_slots=65)
    with spinfer.Context("host", spmm_workspace_lazy=True) as ctx:
        assert ctx.backend is spinfer.Backend.HOST
    with pytest.raises(TypeError, match="spmm_workspace_lazy"):
        spinfer.Context("host", spmm_workspace_lazy=2)
