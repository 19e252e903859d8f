"""PyTorch: SparseLinear, the custom op, torch.compile, CUDA graphs, zero-copy GPU
tensors. Skipped without torch; the CUDA tests also need a GPU and a CUDA build."""

import copy
import json
import re
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import spinfer  # noqa: E402
import spinfer.torch as st  # noqa: E402
from helpers import TOL  # noqa: E402

HAVE_CUDA = torch.cuda.is_available() and spinfer.has_cuda()
cuda_only = pytest.mark.skipif(not HAVE_CUDA, reason="needs a GPU and a CUDA build of spinfer")

TORCH_TOL = {torch.float32: TOL["f32"], torch.float16: TOL["f16"], torch.bfloat16: TOL["bf16"]}


@pytest.fixture
def gen():
    g = torch.Generator().manual_seed(int(np.random.SeedSequence().entropy % 2**31))
    print(f"seed = {g.initial_seed()}")
    return g


def rel(out, ref):
    out, ref = out.detach().double().cpu(), ref.detach().double().cpu()
    assert torch.isfinite(out).all(), "output has NaN/Inf (an element was not written?)"
    return float((out - ref).norm() / ref.norm().clamp_min(1e-300))


def make_linear(gen, k, m, dtype=torch.float32, bias=True, device="cpu"):
    layer = torch.nn.Linear(k, m, bias=bias)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(m, k, generator=gen))
        if bias:
            layer.bias.copy_(torch.randn(m, generator=gen))
    return layer.to(device=device, dtype=dtype)


def reference(layer_or_sparse, x):
    """float64 x W^T + b from the module's own (pruned, storage-rounded) weight."""
    if isinstance(layer_or_sparse, st.SparseLinear):
        w = layer_or_sparse.dense_weight()
    else:
        w = layer_or_sparse.weight
    y = x.double().cpu() @ w.double().cpu().T
    if layer_or_sparse.bias is not None:
        y = y + layer_or_sparse.bias.double().cpu()
    return y


def random_mask(gen, m, k, keep=0.4):
    return torch.rand(m, k, generator=gen) < keep


# ======================= CPU (host backend) ========================================
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("k,m", [(1, 1), (37, 19), (128, 64), (200, 96)])
def test_sparse_linear_cpu_matches_masked_linear(gen, dtype, k, m):
    layer = make_linear(gen, k, m, dtype=dtype)
    mask = random_mask(gen, m, k)
    sparse = st.SparseLinear.from_linear(layer, mask=mask)
    assert (sparse.in_features, sparse.out_features) == (k, m)
    dense = sparse.dense_weight()
    expected = torch.where(mask, layer.weight.detach().to(dense.dtype), torch.zeros(()))
    assert torch.equal(dense, expected.to(dense.dtype))
    assert sparse.nnz == int(torch.count_nonzero(expected))
    x = torch.randn(2, 3, k, generator=gen).to(dtype)
    y = sparse(x)
    assert y.shape == (2, 3, m) and y.dtype == dtype
    assert rel(y, reference(sparse, x)) <= TORCH_TOL[dtype]


def test_magnitude_pruning_keeps_the_largest(gen):
    w = torch.randn(64, 80, generator=gen)
    pruned = st.magnitude_prune(w, 0.75)
    kept = pruned != 0
    assert int(kept.sum()) == 64 * 80 // 4
    assert w.abs()[kept].min() >= w.abs()[~kept].max()
    with pytest.raises(spinfer.InvalidArgumentError, match="sparsity"):
        st.magnitude_prune(w, 1.0)


def test_from_linear_with_sparsity_and_existing_zeros(gen):
    layer = make_linear(gen, 96, 48)
    sparse = st.SparseLinear.from_linear(layer, sparsity=0.6)
    assert sparse.sparsity == pytest.approx(0.6, abs=1e-3)
    assert sparse.weight_dtype == torch.float16  # fp32 layers store fp16 by default
    with torch.no_grad():
        layer.weight.mul_(random_mask(gen, 48, 96))
    already = st.SparseLinear.from_linear(layer, dtype="bf16")
    assert already.weight_dtype == torch.bfloat16
    assert already.nnz == int(torch.count_nonzero(layer.weight.to(torch.bfloat16)))


def test_sparse_linear_errors(gen):
    layer = make_linear(gen, 16, 8)
    with pytest.raises(spinfer.InvalidArgumentError, match="not both"):
        st.SparseLinear.from_linear(layer, sparsity=0.5, mask=random_mask(gen, 8, 16))
    with pytest.raises(spinfer.ShapeMismatchError, match="mask has shape"):
        st.SparseLinear.from_linear(layer, mask=random_mask(gen, 16, 8))
    with pytest.raises(spinfer.InvalidArgumentError, match="torch.nn.Linear"):
        st.SparseLinear.from_linear(torch.nn.ReLU())
    sparse = st.SparseLinear.from_linear(layer, sparsity=0.5)
    with pytest.raises(spinfer.ShapeMismatchError, match=r"expected \[\.\.\., 16\]"):
        sparse(torch.randn(4, 15))
    sparse.close()
    with pytest.raises(spinfer.SpinferError):
        sparse(torch.randn(4, 16))


def test_custom_op_passes_opcheck(gen):
    sparse = st.SparseLinear.from_linear(make_linear(gen, 40, 24), sparsity=0.5)
    x = torch.randn(5, 40, generator=gen)
    torch.library.opcheck(torch.ops.spinfer.sparse_linear.default,
                          (x, sparse.weight_id, sparse.out_features, sparse.bias))
    torch.library.opcheck(torch.ops.spinfer.sparse_linear.default,
                          (x, sparse.weight_id, sparse.out_features, None))


def test_traced_by_torch_compile_without_graph_breaks(gen):
    model = torch.nn.Sequential(make_linear(gen, 64, 128), torch.nn.ReLU(),
                                make_linear(gen, 128, 32))
    st.replace_linears(model, sparsity=0.5)
    x = torch.randn(7, 64, generator=gen)
    eager = model(x)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    assert torch.equal(compiled(x), eager)


def test_replace_linears_in_a_model(gen):
    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.up = make_linear(gen, 32, 64)
            self.down = make_linear(gen, 64, 32, bias=False)

        def forward(self, x):
            return self.down(torch.relu(self.up(x)))

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([Block(), Block()])
            self.lm_head = make_linear(gen, 32, 10)

        def forward(self, x):
            for block in self.layers:
                x = x + block(x)
            return self.lm_head(x)

    model = Model()
    masks = {"layers.0.up": random_mask(gen, 64, 32)}
    replaced = st.replace_linears(model, sparsity=0.5, masks=masks,
                                  predicate=lambda name, _: name != "layers.1.down")
    assert replaced == ["layers.0.up", "layers.0.down", "layers.1.up"]
    assert isinstance(model.lm_head, torch.nn.Linear)
    assert isinstance(model.layers[1].down, torch.nn.Linear)
    up0 = model.layers[0].up
    assert torch.equal(up0.dense_weight() != 0,
                       masks["layers.0.up"] & (up0.dense_weight() != 0))
    x = torch.randn(3, 32, generator=gen)
    # Reference: the same model with every SparseLinear swapped back to dense float64.
    ref_model = copy.deepcopy(model).double()
    for name in replaced:
        parent_name, _, leaf = name.rpartition(".")
        sparse = ref_model.get_submodule(name)
        dense = torch.nn.Linear(sparse.in_features, sparse.out_features,
                                bias=sparse.bias is not None).double()
        with torch.no_grad():
            dense.weight.copy_(sparse.dense_weight().double())
            if sparse.bias is not None:
                dense.bias.copy_(sparse.bias.double())
        setattr(ref_model.get_submodule(parent_name), leaf, dense)
    assert rel(model(x), ref_model(x.double())) <= TOL["f32"]


def test_replace_linears_leaves_multihead_attention_alone(gen):
    model = torch.nn.ModuleDict({"attn": torch.nn.MultiheadAttention(32, 4),
                                 "proj": torch.nn.Linear(32, 32)})
    assert st.replace_linears(model, sparsity=0.5) == ["proj"]
    assert type(model["attn"].out_proj) is not st.SparseLinear


def test_deepcopy_is_independent(gen):
    sparse = st.SparseLinear.from_linear(make_linear(gen, 24, 16), sparsity=0.5)
    twin = copy.deepcopy(sparse)
    assert twin.weight_id != sparse.weight_id
    assert torch.equal(twin.dense_weight(), sparse.dense_weight())
    x = torch.randn(2, 24, generator=gen)
    expected = sparse(x)
    sparse.close()
    assert torch.equal(twin(x), expected)


def test_repr(gen):
    sparse = st.SparseLinear.from_linear(make_linear(gen, 24, 16), sparsity=0.5)
    text = repr(sparse)
    assert "in_features=24" in text and "out_features=16" in text and "sparsity=0.500" in text


# ======================= saving and loading ========================================
WEIGHT_KEYS = ["weight_values", "weight_bitmaps", "weight_group_offsets", "weight_format"]


def fresh_like(sparse, gen, dtype="bf16"):
    """A SparseLinear of the same size with another weight (and storage dtype)."""
    layer = make_linear(gen, sparse.in_features, sparse.out_features,
                        bias=sparse.bias is not None)
    return st.SparseLinear.from_linear(layer, sparsity=0.9, dtype=dtype)


def weight_bits(sparse):
    return sparse.dense_weight().view(torch.int16)


@pytest.mark.parametrize("storage", ["f16", "bf16"])
@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_holds_the_encoded_weight(gen, storage, bias):
    sparse = st.SparseLinear.from_linear(make_linear(gen, 150, 70, bias=bias), sparsity=0.6,
                                         dtype=storage)
    state = sparse.state_dict()
    assert list(state) == WEIGHT_KEYS + (["bias"] if bias else [])
    assert [state[k].dtype for k in WEIGHT_KEYS] == [torch.int16] + [torch.int64] * 3
    code = int(spinfer.DType.F16 if storage == "f16" else spinfer.DType.BF16)
    assert state["weight_format"].tolist() == [70, 150, code, spinfer.FORMAT_VERSION]
    assert state["weight_group_offsets"].shape == (2 * 3 + 1,)  # GroupTiles of 64x64, + 1
    assert state["weight_bitmaps"].shape == (2 * 3 * 64,)
    assert int(state["weight_group_offsets"][-1]) == state["weight_values"].numel()
    # safetensors needs contiguous tensors that share no memory.
    ptrs = [state[k].untyped_storage().data_ptr() for k in WEIGHT_KEYS]
    assert len(set(ptrs)) == len(ptrs)
    assert all(state[k].is_contiguous() and state[k].device.type == "cpu" for k in WEIGHT_KEYS)
    # Non-zero values only (plus the padding zeros), in the storage dtype's bits.
    values = state["weight_values"]
    assert int(torch.count_nonzero(values)) == sparse.nnz


@pytest.mark.parametrize("k,m", [(1, 1), (37, 19), (200, 96), (64, 128)])
@pytest.mark.parametrize("storage", ["f16", "bf16"])
def test_load_state_dict_into_a_fresh_module_is_exact(gen, k, m, storage):
    sparse = st.SparseLinear.from_linear(make_linear(gen, k, m), sparsity=0.5, dtype=storage)
    fresh = fresh_like(sparse, gen, dtype="f16" if storage == "bf16" else "bf16")
    old_id = fresh.weight_id
    assert not torch.equal(weight_bits(fresh), weight_bits(sparse))
    assert str(fresh.load_state_dict(sparse.state_dict())) == "<All keys matched successfully>"
    assert fresh.weight_id != old_id and fresh.weight_dtype == sparse.weight_dtype
    assert fresh.nnz == sparse.nnz
    assert torch.equal(weight_bits(fresh), weight_bits(sparse))
    assert torch.equal(fresh.bias, sparse.bias)
    x = torch.randn(4, k, generator=gen)
    assert torch.equal(fresh(x), sparse(x))
    for key, tensor in fresh.state_dict().items():
        assert torch.equal(tensor, sparse.state_dict()[key]), key


_FRESH_PROCESS = """
import sys, torch, spinfer.torch as st
folder = sys.argv[1]
x = torch.load(folder + "/x.pt")
module = torch.load(folder + "/module.pt", weights_only=False)
fresh = st.SparseLinear.from_linear(torch.nn.Linear(module.in_features, module.out_features),
                                    sparsity=0.9)
print(fresh.load_state_dict(torch.load(folder + "/state.pt")))
torch.save({"module": module(x), "state": fresh(x)}, folder + "/out.pt")
"""


def test_torch_save_and_load_in_a_fresh_process(gen, tmp_path):
    model = torch.nn.Sequential(make_linear(gen, 96, 80), torch.nn.ReLU(),
                                make_linear(gen, 80, 48))
    st.replace_linears(model, sparsity=0.6)
    sparse = model[2]
    x = torch.randn(5, 80, generator=gen)
    torch.save(x, tmp_path / "x.pt")
    torch.save(sparse, tmp_path / "module.pt")
    torch.save(sparse.state_dict(), tmp_path / "state.pt")
    # The state dict is plain tensors: the safe loader takes it.
    assert sorted(torch.load(tmp_path / "state.pt", weights_only=True)) == sorted(
        WEIGHT_KEYS + ["bias"])
    run = subprocess.run([sys.executable, "-c", _FRESH_PROCESS, str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    out = torch.load(tmp_path / "out.pt")
    expected = sparse(x)
    assert torch.equal(out["module"], expected) and torch.equal(out["state"], expected)


def test_deepcopy_of_a_model_keeps_every_weight(gen):
    model = torch.nn.Sequential(make_linear(gen, 64, 40), torch.nn.ReLU(),
                                make_linear(gen, 40, 24, bias=False))
    st.replace_linears(model, sparsity=0.5)
    twin = copy.deepcopy(model)
    x = torch.randn(3, 64, generator=gen)
    expected = model(x)
    for layer in model:
        if isinstance(layer, st.SparseLinear):
            layer.close()
    assert torch.equal(twin(x), expected)
    assert twin[2].bias is None and not twin[0].bias.requires_grad


def corruptions():
    """(name, change to a state dict, message expected)."""
    def cut(key, n):
        return lambda s: s.__setitem__(key, s[key][:-n])

    def set_format(index, value):
        def change(s):
            s["weight_format"] = s["weight_format"].clone()
            s["weight_format"][index] = value
        return change

    def flip_bit(s):
        s["weight_bitmaps"] = s["weight_bitmaps"].clone()
        s["weight_bitmaps"][0] ^= 1 << 9
    return [
        ("values cut", cut("weight_values", 8), "number of values"),
        ("bitmaps cut", cut("weight_bitmaps", 1), "bitmap"),
        ("offsets cut", cut("weight_group_offsets", 1), "offset"),
        ("bitmap bit flipped", flip_bit, "corrupt TCA-BME"),
        ("dtype code", set_format(2, 7), "dtype code 7"),
        ("dtype code f32", set_format(2, int(spinfer.DType.F32)), "dtype code 0"),
        ("format version", set_format(3, 99), "version"),
        ("format too short", cut("weight_format", 1), "4 entries"),
        ("rows", set_format(0, 63), "size mismatch"),
        ("values as float16", lambda s: s.__setitem__(
            "weight_values", s["weight_values"].view(torch.float16)), "int16"),
        ("bitmaps 2-D", lambda s: s.__setitem__(
            "weight_bitmaps", s["weight_bitmaps"].view(2, -1)), "1-D"),
        ("offsets not a tensor", lambda s: s.__setitem__(
            "weight_group_offsets", [0, 8]), "must be a tensor"),
    ]


@pytest.mark.parametrize("name,change,message", corruptions(), ids=[c[0] for c in corruptions()])
def test_corrupt_state_is_refused_with_a_clear_error(gen, name, change, message):
    sparse = st.SparseLinear.from_linear(make_linear(gen, 100, 64), sparsity=0.5)
    state = dict(sparse.state_dict())
    change(state)
    target = fresh_like(sparse, gen)
    before = weight_bits(target)
    with pytest.raises(RuntimeError, match="sparse weight weight_") as e:
        target.load_state_dict(state)
    assert e.value.args[0].count("\n") == 1  # one error, and torch's heading
    assert re.search(message, str(e.value)), str(e.value)
    # The module keeps its weight and still runs.
    assert torch.equal(weight_bits(target), before)
    target(torch.randn(2, 100, generator=gen))


def test_missing_and_unexpected_keys(gen):
    sparse = st.SparseLinear.from_linear(make_linear(gen, 32, 16), sparsity=0.5)
    model = torch.nn.ModuleDict({"proj": sparse})
    state = dict(model.state_dict())
    del state["proj.weight_bitmaps"]
    state["proj.weight"] = torch.zeros(16, 32)  # a dense nn.Linear's key
    target = torch.nn.ModuleDict({"proj": fresh_like(sparse, gen)})
    before = weight_bits(target["proj"])
    with pytest.raises(RuntimeError) as e:
        target.load_state_dict(state)
    text = str(e.value)
    assert 'Missing key(s) in state_dict: "proj.weight_bitmaps"' in text
    assert 'Unexpected key(s) in state_dict: "proj.weight"' in text
    result = target.load_state_dict(state, strict=False)
    assert result.missing_keys == ["proj.weight_bitmaps"]
    assert result.unexpected_keys == ["proj.weight"]
    assert torch.equal(weight_bits(target["proj"]), before)  # nothing half-loaded
    state = dict(model.state_dict())
    del state["proj.bias"]
    assert target.load_state_dict(state, strict=False).missing_keys == ["proj.bias"]
    assert torch.equal(weight_bits(target["proj"]), weight_bits(sparse))


# ======================= CUDA ======================================================
@cuda_only
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("m,k,n", [(64, 64, 1), (96, 200, 5), (256, 512, 64), (1024, 4096, 16)])
def test_context_spmm_with_torch_tensors_zero_copy(gen, dtype, m, k, n):
    storage = "f16" if dtype == torch.float16 else "bf16"
    w_dense = torch.randn(m, k, generator=gen) * (torch.rand(m, k, generator=gen) < 0.4)
    with spinfer.Context("cuda") as ctx:
        w = spinfer.encode(w_dense.to(dtype), storage).upload(ctx)
        assert w.on_device and w.context is ctx
        x = torch.randn(n, k, generator=gen).to(dtype).cuda()
        bias = torch.randn(m, generator=gen).to(dtype).cuda()
        out = torch.full((n, m), float("nan"), dtype=dtype, device="cuda")
        ptr = out.data_ptr()
        y = ctx.spmm(w, x, bias, out=out)
        torch.cuda.synchronize()
        assert y is out and out.data_ptr() == ptr
        ref = x.double().cpu() @ w_dense.to(dtype).double().T + bias.double().cpu()
        assert rel(out, ref) <= TORCH_TOL[dtype]
        allocated = ctx.spmm(w, x, bias)
        assert allocated.is_cuda and allocated.dtype == dtype
        torch.cuda.synchronize()
        assert rel(allocated, ref) <= TORCH_TOL[dtype]  # split-K need not be bitwise stable


@cuda_only
def test_spmm_runs_on_the_callers_stream(gen):
    m, k, n = 512, 1024, 32
    w_dense = torch.randn(m, k, generator=gen) * (torch.rand(m, k, generator=gen) < 0.3)
    ctx = spinfer.torch.context_for(torch.device("cuda"))
    w = spinfer.encode(w_dense.half()).upload(ctx)
    x = torch.randn(n, k, generator=gen).half().cuda()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        out = torch.full((n, m), float("nan"), dtype=torch.float16, device="cuda")
        ctx.spmm(w, x, out=out)  # stream=None: torch's current stream, i.e. `side`
        explicit = torch.full_like(out, float("nan"))
        ctx.spmm(w, x, out=explicit, stream=side)
    side.synchronize()
    ref = x.double().cpu() @ w_dense.half().double().T
    assert rel(out, ref) <= TOL["f16"] and rel(explicit, ref) <= TOL["f16"]


@cuda_only
def test_dlpack_and_cuda_array_interface_producers(gen):
    class DLPackOnly:
        def __init__(self, t):
            self.t = t

        def __dlpack__(self, stream=None, **kw):
            return self.t.__dlpack__(stream=stream)

        def __dlpack_device__(self):
            return self.t.__dlpack_device__()

    class CAIOnly:
        def __init__(self, t):
            self.__cuda_array_interface__ = t.__cuda_array_interface__
            self.t = t

    m, k, n = 128, 256, 8
    w_dense = torch.randn(m, k, generator=gen) * (torch.rand(m, k, generator=gen) < 0.5)
    with spinfer.Context("cuda") as ctx:
        w = spinfer.encode(w_dense.half()).upload(ctx)
        x = torch.randn(n, k, generator=gen).half().cuda()
        ref = x.double().cpu() @ w_dense.half().double().T
        for wrap in (DLPackOnly, CAIOnly):
            out = torch.full((n, m), float("nan"), dtype=torch.float16, device="cuda")
            ctx.spmm(w, wrap(x), out=wrap(out))
            torch.cuda.synchronize()
            assert rel(out, ref) <= TOL["f16"], wrap.__name__
            with pytest.raises(spinfer.InvalidArgumentError, match="pass out="):
                ctx.spmm(w, wrap(x))


@cuda_only
def test_device_errors_carry_the_library_message(gen):
    with spinfer.Context("cuda") as ctx:
        w = spinfer.encode(torch.eye(64)).upload(ctx)  # fp16 storage
        with pytest.raises(spinfer.UnsupportedDTypeError) as e:
            ctx.spmm(w, torch.ones(4, 64, device="cuda"))  # fp32 x for an fp16 matrix
        assert e.value.message
        big = torch.ones(4, 72, dtype=torch.float16, device="cuda")
        with pytest.raises(spinfer.MisalignedError) as e:
            ctx.spmm(w, big[:, 1:65])  # start 2 bytes off, ldx = 72
        assert e.value.message
        with pytest.raises(spinfer.WrongLocationError):
            ctx.spmm(w, torch.ones(4, 64, dtype=torch.float16))  # host x, device W
        with pytest.raises(spinfer.InvalidArgumentError, match="contiguous rows"):
            ctx.spmm(w, torch.ones(64, 4, dtype=torch.float16, device="cuda").T)


@cuda_only
def test_upload_download_and_device_encode_agree(gen):
    m, k = 130, 200
    dense = (torch.randn(m, k, generator=gen) * (torch.rand(m, k, generator=gen) < 0.5)).half()
    with spinfer.Context("cuda") as ctx:
        host = spinfer.encode(dense)
        dev = ctx.upload(host)
        assert dev.info.location is spinfer.Location.DEVICE and dev.nnz == host.nnz
        back = dev.download()
        assert np.array_equal(back.decode(), host.decode())
        encoded_on_gpu = ctx.encode(dense.cuda(), "f16")
        assert encoded_on_gpu.on_device and encoded_on_gpu.nnz == host.nnz
        assert np.array_equal(encoded_on_gpu.download().decode(), host.decode())
        with pytest.raises(spinfer.WrongLocationError):
            dev.decode()  # device matrices decode after download


@cuda_only
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_linear_layer_on_cuda_with_torch_tensors(gen, dtype):
    k, m, n = 256, 128, 12
    storage = "f16" if dtype == torch.float16 else "bf16"
    w = (torch.randn(m, k, generator=gen) * (torch.rand(m, k, generator=gen) < 0.5)).to(dtype)
    bias = torch.randn(m, generator=gen)
    ctx = st.context_for(torch.device("cuda"))
    layer = spinfer.Linear(ctx, spinfer.encode(w, storage).upload(ctx), bias.numpy(),
                           activation="silu")
    x = torch.randn(n, k, generator=gen).to(dtype).cuda()
    residual = torch.randn(n, m, generator=gen).to(dtype).cuda()
    y = layer(x, residual)
    torch.cuda.synchronize()
    pre = x.double().cpu() @ w.double().T + bias.double()
    ref = pre * torch.sigmoid(pre) + residual.double().cpu()
    assert y.dtype == dtype and rel(y, ref) <= TORCH_TOL[dtype] * 2


@cuda_only
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("k,m", [(64, 64), (100, 37), (4096, 1024)])
def test_sparse_linear_cuda(gen, dtype, k, m):
    layer = make_linear(gen, k, m, dtype=dtype, device="cuda")
    sparse = st.SparseLinear.from_linear(layer, sparsity=0.6)
    assert sparse.bias.is_cuda
    x = torch.randn(3, 5, k, generator=gen).to(dtype).cuda()
    y = sparse(x)
    assert y.shape == (3, 5, m) and y.dtype == dtype and y.is_cuda
    # fp32 modules compute in fp16 on the GPU (the storage dtype).
    ref = reference(sparse, x.to(sparse.weight_dtype))
    assert rel(y, ref) <= TORCH_TOL[sparse.weight_dtype]


@cuda_only
def test_sparse_linear_moves_between_devices(gen):
    layer = make_linear(gen, 64, 32)
    sparse = st.SparseLinear.from_linear(layer, sparsity=0.5)
    x = torch.randn(4, 64, generator=gen)
    on_cpu = sparse(x)
    sparse.cuda()
    on_gpu = sparse(x.cuda())
    sparse.cpu()
    again = sparse(x)
    assert torch.equal(on_cpu, again)
    assert rel(on_gpu, reference(sparse, x.half())) <= TOL["f16"]


@cuda_only
def test_saving_and_loading_on_cuda_keeps_the_weight_on_the_gpu(gen, tmp_path):
    sparse = st.SparseLinear.from_linear(make_linear(gen, 200, 96, dtype=torch.float16,
                                                     device="cuda"), sparsity=0.5)
    x = torch.randn(6, 200, generator=gen).half().cuda()
    expected = sparse(x)
    state = sparse.state_dict()
    assert all(state[k].device.type == "cpu" for k in WEIGHT_KEYS)  # downloaded
    assert sparse._sparse.devices == [torch.cuda.current_device()]  # and still on the GPU
    cuda_fresh = fresh_like(sparse, gen).cuda()
    cpu_fresh = fresh_like(sparse, gen)
    cuda_fresh.load_state_dict(state)
    cpu_fresh.load_state_dict(state)
    assert cuda_fresh._sparse.devices == [torch.cuda.current_device()]
    assert cpu_fresh._sparse.devices == ["cpu"] and cpu_fresh.bias.device.type == "cpu"
    assert torch.equal(cuda_fresh(x), expected)
    assert torch.equal(cpu_fresh.cuda()(x), expected)
    twin = copy.deepcopy(sparse)
    assert twin._sparse.devices == [torch.cuda.current_device()]
    assert torch.equal(twin(x), expected)
    torch.save(sparse, tmp_path / "module.pt")
    loaded = torch.load(tmp_path / "module.pt", weights_only=False)
    assert loaded._sparse.devices == [torch.cuda.current_device()]
    assert torch.equal(loaded(x), expected)


@cuda_only
def test_torch_compile_inductor_on_cuda(gen):
    model = torch.nn.Sequential(make_linear(gen, 256, 512), torch.nn.GELU(),
                                make_linear(gen, 512, 256)).half().cuda()
    st.replace_linears(model, sparsity=0.7)
    x = torch.randn(16, 256, generator=gen).half().cuda()
    eager = model(x)
    compiled = torch.compile(model, fullgraph=True)
    assert rel(compiled(x), eager.float()) <= TOL["f16"]
    overhead = torch.compile(model, mode="reduce-overhead", fullgraph=True)
    for _ in range(3):  # warm-up, record, replay
        out = overhead(x)
    assert rel(out, eager.float()) <= TOL["f16"]


@cuda_only
def test_cuda_graph_capture_and_replay(gen):
    sparse = st.SparseLinear.from_linear(make_linear(gen, 512, 256, dtype=torch.float16,
                                                     device="cuda"), sparsity=0.5)
    static_x = torch.randn(8, 512, generator=gen).half().cuda()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(2):
            sparse(static_x)  # warm-up before capture
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_y = sparse(static_x)
    for _ in range(3):
        fresh = torch.randn(8, 512, generator=gen).half().cuda()
        static_x.copy_(fresh)
        static_y.fill_(float("nan"))
        graph.replay()
        torch.cuda.synchronize()
        assert rel(static_y, reference(sparse, fresh)) <= TOL["f16"]


@cuda_only
def test_hugging_face_opt_model(gen):
    transformers = pytest.importorskip("transformers")
    config = transformers.OPTConfig(vocab_size=512, hidden_size=128, num_hidden_layers=2,
                                    ffn_dim=256, num_attention_heads=4,
                                    max_position_embeddings=64, word_embed_proj_dim=128)
    torch.manual_seed(int(gen.initial_seed()))
    model = transformers.OPTForCausalLM(config).half().cuda().eval()
    # Prune in place first, so that the dense model is the exact reference.
    with torch.no_grad():
        for name, mod in model.named_modules():
            if isinstance(mod, torch.nn.Linear) and not name.endswith("lm_head"):
                mod.weight.copy_(st.magnitude_prune(mod.weight, 0.5))
    ids = torch.randint(0, 512, (2, 24), generator=gen).cuda()
    with torch.no_grad():
        ref = model(ids).logits.float()
        replaced = st.replace_linears(model)
        assert len(replaced) == 2 * 6  # q, k, v, out_proj, fc1, fc2 per layer
        out = model(ids).logits.float()
    assert rel(out, ref) <= TOL["f16"] * 10  # fp16 end to end, two layers deep


_RELOAD_LLAMA = """
import json, sys, torch, transformers, spinfer.torch as st
folder = sys.argv[1]
model = transformers.LlamaForCausalLM(transformers.LlamaConfig.from_pretrained(folder)).eval()
st.replace_linears(model)  # a random weight in every patched layer until the load
st.load_pretrained_state(model, folder)
ids = torch.tensor(json.loads(sys.argv[2]))
with torch.no_grad():
    for _ in range(int(sys.argv[3])):
        ids = torch.cat([ids, model(ids).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    torch.save(model(ids).logits, folder + "/logits.pt")
print(json.dumps(ids.tolist()))
"""


@pytest.mark.parametrize("tied,shard", [(False, None), (True, "40KB")],
                         ids=["one-file", "tied-sharded"])
def test_hugging_face_save_pretrained_and_reload_in_a_fresh_process(gen, tmp_path, tied, shard):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("safetensors")
    config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128,
                                      num_hidden_layers=2, num_attention_heads=4,
                                      vocab_size=100, tie_word_embeddings=tied)
    torch.manual_seed(int(gen.initial_seed()))
    model = transformers.LlamaForCausalLM(config).eval()
    assert len(st.replace_linears(model, sparsity=0.5)) == 2 * 7  # q k v o gate up down
    prompt = torch.randint(0, 100, (2, 5), generator=gen)
    steps = 8
    ids = prompt
    with torch.no_grad():
        for _ in range(steps):
            ids = torch.cat([ids, model(ids).logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        logits = model(ids).logits
    folder = tmp_path / "ckpt"
    model.save_pretrained(folder, **({"max_shard_size": shard} if shard else {}))
    index = folder / "model.safetensors.index.json"
    assert index.is_file() == bool(shard)
    if shard:
        keys = json.loads(index.read_text())["weight_map"]
    else:
        from safetensors import safe_open
        with safe_open(folder / "model.safetensors", "pt") as f:
            keys = list(f.keys())
    q = "model.layers.1.self_attn.q_proj."
    assert {q + k for k in WEIGHT_KEYS} <= set(keys) and q + "weight" not in keys
    run = subprocess.run([sys.executable, "-c", _RELOAD_LLAMA, str(folder),
                          json.dumps(prompt.tolist()), str(steps)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == ids.tolist()
    assert torch.equal(torch.load(folder / "logits.pt"), logits)


def test_load_pretrained_state_reports_what_does_not_match(gen, tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("safetensors")
    config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128,
                                      num_hidden_layers=1, num_attention_heads=4,
                                      vocab_size=100)
    model = transformers.LlamaForCausalLM(config)
    st.replace_linears(model, sparsity=0.5)
    model.save_pretrained(tmp_path)
    dense = transformers.LlamaForCausalLM(config)  # not patched: a user's mistake
    with pytest.raises(RuntimeError, match=r"missing keys \[.*q_proj\.weight"):
        st.load_pretrained_state(dense, tmp_path)
    result = st.load_pretrained_state(dense, tmp_path, strict=False)
    assert "model.layers.0.mlp.up_proj.weight_values" in result.unexpected_keys
