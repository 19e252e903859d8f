"""Transformer building blocks over the C API section 7: Linear, MLP, KVCache,
Attention, DecoderLayer.

Every layer is made on a Context from Matrix objects (host matrices for a host
context, device matrices for a CUDA one) and small dense host arrays (biases, norm
weights) that the library copies. A layer keeps its context and matrices alive
(the C layer refers to them). Activations are contiguous row-major [n, features]
arrays: numpy / CPU torch on a host context, GPU arrays (torch, CuPy, DLPack,
``__cuda_array_interface__``) on a CUDA context, queued on the caller's stream.
A layer runs one forward at a time: use one per thread.
"""

from __future__ import annotations

import enum
from typing import Dict, Optional, Sequence

import numpy as np

from . import capi
from ._arrays import ArrayView, allocate_like, leading_dimension, resolve_stream, view_array
from ._context import Context
from ._dtypes import DType, as_dtype
from ._handle import OwnedHandle
from ._matrix import Matrix
from ._status import check, checked, make_error


class Activation(enum.IntEnum):
    """Element-wise activation after a linear map or inside a gated MLP."""

    NONE = capi.SPINFER_ACTIVATION_NONE
    RELU = capi.SPINFER_ACTIVATION_RELU
    GELU = capi.SPINFER_ACTIVATION_GELU
    GELU_TANH = capi.SPINFER_ACTIVATION_GELU_TANH
    SILU = capi.SPINFER_ACTIVATION_SILU


class Arch(enum.IntEnum):
    """Decoder family."""

    OPT = capi.SPINFER_ARCH_OPT
    LLAMA = capi.SPINFER_ARCH_LLAMA


class MLPKind(enum.IntEnum):
    """PLAIN: down(act(up(x))); GATED: down(act(gate(x)) * up(x))."""

    PLAIN = capi.SPINFER_MLP_PLAIN
    GATED = capi.SPINFER_MLP_GATED


def _enum(cls, value, what):
    if isinstance(value, cls):
        return value
    if isinstance(value, str) and value.upper() in cls.__members__:
        return cls[value.upper()]
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # passed through: the library judges unknown values
    raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                     f"unknown {what} {value!r}: use one of {', '.join(cls.__members__)}")


def _config(struct, init, **fields):
    """A C config struct initialised by the library, then the given fields set."""
    config = struct()
    check(init(config))
    for name, value in fields.items():
        if value is not None:
            setattr(config, name, value)
    return config


def _matrix_handle(matrix, what):
    if matrix is None:
        return None
    if not isinstance(matrix, Matrix):
        raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                         f"{what} must be a spinfer.Matrix, not {type(matrix).__name__}")
    return matrix.handle


def _rows(matrix) -> Optional[int]:
    """Rows of a matrix (the length its bias must have), None when unknown."""
    return matrix.rows if isinstance(matrix, Matrix) else None


class _HostParams:
    """Small dense host arrays (biases, norm weights) sharing one dtype; kept alive
    until the creating call returns (the library copies them)."""

    def __init__(self, arrays: Dict[str, object], lengths: Dict[str, Optional[int]],
                 default=DType.F32):
        self.views: Dict[str, Optional[ArrayView]] = {}
        self.dtype: Optional[DType] = None
        for name, arr in arrays.items():
            if arr is None:
                self.views[name] = None
                continue
            v = view_array(arr, name)
            if v.on_device:
                raise make_error(capi.SPINFER_STATUS_WRONG_LOCATION,
                                 f"{name} must be a host array (the library copies it)")
            if v.ndim != 1 or (v.shape[0] > 1 and v.strides[0] != 1):
                v = view_array(np.ascontiguousarray(np.asarray(arr).reshape(-1)), name)
            # The C API takes no lengths: a short array would be read past its end.
            if lengths.get(name) is not None and v.shape[0] != lengths[name]:
                raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                                 f"{name} has {v.shape[0]} elements, expected {lengths[name]}")
            if self.dtype is not None and v.dtype is not self.dtype:
                raise make_error(capi.SPINFER_STATUS_UNSUPPORTED_DTYPE,
                                 f"{name} has dtype {v.dtype.name} but the other parameters "
                                 f"have {self.dtype.name}: give them one dtype")
            self.dtype = v.dtype
            self.views[name] = v
        if self.dtype is None:
            self.dtype = default

    def ptr(self, name):
        v = self.views.get(name)
        return None if v is None else v.ptr


class _Layer(OwnedHandle):
    """Common forward plumbing: validates activations against the context."""

    def _bind(self, context: Context, handle, keep) -> None:
        self._context = context
        self._keep = keep  # the matrices the C layer refers to
        self._adopt(handle)
        context._dependents.add(self)

    @property
    def context(self) -> Context:
        return self._context

    def _activation(self, arr, what, features, hint) -> ArrayView:
        v = view_array(arr, what, stream=hint)
        on_cuda = self._context.backend.name == "CUDA"
        if v.on_device != on_cuda:
            raise make_error(capi.SPINFER_STATUS_WRONG_LOCATION,
                             f"{what} must be a {'GPU' if on_cuda else 'host'} array on a "
                             f"{'CUDA' if on_cuda else 'host'} context")
        if v.ndim != 2 or v.shape[1] != features:
            raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                             f"{what} has shape {v.shape}, expected [n, {features}]")
        if leading_dimension(v) != max(features, 1):
            raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                             f"{what} must be contiguous (row-major, no row padding)")
        return v

    def _io(self, x, residual, out, stream, features_in, features_out):
        """(x view, n, residual ptr, out view, stream ptr) for a forward."""
        hint = resolve_stream(stream, None) if stream is not None else None
        xv = self._activation(x, "x", features_in, hint)
        n = xv.shape[0]
        res_ptr = None
        if residual is not None:
            rv = self._activation(residual, "residual", features_out, hint)
            if rv.shape[0] != n or rv.dtype is not xv.dtype:
                raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                                 f"residual must be [{n}, {features_out}] {xv.dtype.name}")
            res_ptr = rv.ptr
        if out is None:
            yv = allocate_like(xv, (n, features_out), xv.dtype, "out")
        else:
            yv = self._activation(out, "out", features_out, hint)
            if yv.shape[0] != n or yv.dtype is not xv.dtype:
                raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                                 f"out must be [{n}, {features_out}] {xv.dtype.name}")
        return xv, n, res_ptr, yv, resolve_stream(stream, xv.stream)


# ---- Linear ----------------------------------------------------------------------
class Linear(_Layer):
    """y = act(x W^T + bias) (+ residual) with a sparse W [out_features, in_features]."""

    _destroy = staticmethod(capi.spinfer_linear_destroy)

    def __init__(self, context: Context, weight: Matrix, bias=None, *, activation="none",
                 stream=None):
        params = _HostParams({"bias": bias}, {"bias": _rows(weight)})
        config = _config(capi.spinfer_linear_config_t, capi.spinfer_linear_config_init,
                         activation=int(_enum(Activation, activation, "activation")))
        handle = checked(capi.spinfer_linear_create(
            context.handle, _matrix_handle(weight, "weight"), params.ptr("bias"),
            int(params.dtype), config, resolve_stream(stream, None)))
        self.in_features, self.out_features = weight.cols, weight.rows
        self._bind(context, handle, [weight])

    def forward(self, x, residual=None, *, out=None, stream=None):
        """y [n, out_features] for x [n, in_features]; returns y (``out`` if given)."""
        xv, n, res, yv, s = self._io(x, residual, out, stream, self.in_features,
                                     self.out_features)
        check(capi.spinfer_linear_forward(self._context.handle, self.handle, xv.ptr, n, res,
                                          yv.ptr, int(xv.dtype), s))
        return out if out is not None else yv.owner

    __call__ = forward


# ---- MLP -------------------------------------------------------------------------
class MLP(_Layer):
    """PLAIN (OPT): down(act(up(x))); GATED (LLaMA): down(act(gate(x)) * up(x)).
    ``kind`` defaults to GATED when ``gate`` is given, else PLAIN."""

    _destroy = staticmethod(capi.spinfer_mlp_destroy)

    def __init__(self, context: Context, up: Matrix, down: Matrix, gate: Optional[Matrix] = None,
                 *, up_bias=None, down_bias=None, kind=None, activation=None,
                 max_tokens: Optional[int] = None, fuse_gate_up: Optional[bool] = None,
                 stream=None):
        params = _HostParams({"up_bias": up_bias, "down_bias": down_bias},
                             {"up_bias": _rows(up), "down_bias": _rows(down)})
        kind = (MLPKind.GATED if gate is not None else MLPKind.PLAIN) if kind is None else kind
        config = _config(
            capi.spinfer_mlp_config_t, capi.spinfer_mlp_config_init,
            kind=int(_enum(MLPKind, kind, "MLP kind")),
            activation=None if activation is None else int(_enum(Activation, activation,
                                                                 "activation")),
            max_tokens=max_tokens,
            fuse_gate_up=None if fuse_gate_up is None else int(bool(fuse_gate_up)))
        handle = checked(capi.spinfer_mlp_create(
            context.handle, _matrix_handle(gate, "gate"), _matrix_handle(up, "up"),
            _matrix_handle(down, "down"), params.ptr("up_bias"), params.ptr("down_bias"),
            int(params.dtype), config, resolve_stream(stream, None)))
        self.hidden_size, self.intermediate_size = up.cols, up.rows
        self._bind(context, handle, [up, down, gate])

    def forward(self, x, residual=None, *, out=None, stream=None):
        """y [n, hidden] = mlp(x [n, hidden]) (+ residual)."""
        xv, n, res, yv, s = self._io(x, residual, out, stream, self.hidden_size,
                                     self.hidden_size)
        check(capi.spinfer_mlp_forward(self._context.handle, self.handle, xv.ptr, n, res,
                                       yv.ptr, int(xv.dtype), s))
        return out if out is not None else yv.owner

    __call__ = forward


# ---- KV cache --------------------------------------------------------------------
class KVCache(OwnedHandle):
    """A paged key/value cache for several sequences (slots 0..max_sequences-1) and
    every layer of a model, on the context's device. One thread at a time."""

    _destroy = staticmethod(capi.spinfer_kv_cache_destroy)

    def __init__(self, context: Context, *, num_layers: int, num_kv_heads: int, head_dim: int,
                 num_blocks: int, block_size: Optional[int] = None,
                 max_sequences: Optional[int] = None,
                 max_sequence_length: Optional[int] = None, dtype=None):
        config = _config(capi.spinfer_kv_cache_config_t, capi.spinfer_kv_cache_config_init,
                         num_layers=num_layers, num_kv_heads=num_kv_heads, head_dim=head_dim,
                         num_blocks=num_blocks, block_size=block_size,
                         max_sequences=max_sequences, max_sequence_length=max_sequence_length,
                         dtype=None if dtype is None else int(as_dtype(dtype)))
        self._context = context
        self._adopt(checked(capi.spinfer_kv_cache_create(context.handle, config)))
        context._dependents.add(self)

    def begin_step(self, seq_ids: Sequence[int], new_tokens: Sequence[int], stream=None):
        """Sequence seq_ids[i] receives new_tokens[i] tokens in the coming forwards."""
        ids = np.ascontiguousarray(seq_ids, dtype=np.int32)
        counts = np.ascontiguousarray(new_tokens, dtype=np.int32)
        if ids.shape != counts.shape or ids.ndim != 1:
            raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                             "seq_ids and new_tokens must be 1-D and of one length")
        check(capi.spinfer_kv_cache_begin_step(self.handle, ids, counts, len(ids),
                                               resolve_stream(stream, None)))

    def sequence_length(self, seq: int) -> int:
        return checked(capi.spinfer_kv_cache_sequence_length(self.handle, int(seq)))

    def release_sequence(self, seq: int) -> None:
        check(capi.spinfer_kv_cache_release_sequence(self.handle, int(seq)))

    @property
    def free_blocks(self) -> int:
        return checked(capi.spinfer_kv_cache_free_blocks(self.handle))


# ---- Attention -------------------------------------------------------------------
class Attention(_Layer):
    """Self-attention: sparse Q/K/V/O projections, dense causal attention over a
    KVCache (RoPE optional, grouped-query heads)."""

    _destroy = staticmethod(capi.spinfer_attention_destroy)

    def __init__(self, context: Context, q: Matrix, k: Matrix, v: Matrix, o: Matrix, *,
                 num_heads: int, num_kv_heads: int = 0, head_dim: int = 0,
                 q_bias=None, k_bias=None, v_bias=None, o_bias=None,
                 use_rope: Optional[bool] = None, rope_theta: Optional[float] = None,
                 scale: Optional[float] = None, max_tokens: Optional[int] = None,
                 fuse_qkv: Optional[bool] = None, stream=None):
        params = _HostParams({"q_bias": q_bias, "k_bias": k_bias, "v_bias": v_bias,
                              "o_bias": o_bias},
                             {"q_bias": _rows(q), "k_bias": _rows(k), "v_bias": _rows(v),
                              "o_bias": _rows(o)})
        config = _config(
            capi.spinfer_attention_config_t, capi.spinfer_attention_config_init,
            num_heads=num_heads, num_kv_heads=num_kv_heads, head_dim=head_dim,
            use_rope=None if use_rope is None else int(bool(use_rope)), rope_theta=rope_theta,
            scale=scale, max_tokens=max_tokens,
            fuse_qkv=None if fuse_qkv is None else int(bool(fuse_qkv)))
        handle = checked(capi.spinfer_attention_create(
            context.handle, _matrix_handle(q, "q"), _matrix_handle(k, "k"),
            _matrix_handle(v, "v"), _matrix_handle(o, "o"), params.ptr("q_bias"),
            params.ptr("k_bias"), params.ptr("v_bias"), params.ptr("o_bias"),
            int(params.dtype), config, resolve_stream(stream, None)))
        self.hidden_size = o.rows
        self._bind(context, handle, [q, k, v, o])

    def forward(self, cache: KVCache, layer_index: int, x, residual=None, *, out=None,
                stream=None):
        """y = attention(x) (+ residual) for the current step of ``cache``."""
        xv, n, res, yv, s = self._io(x, residual, out, stream, self.hidden_size,
                                     self.hidden_size)
        check(capi.spinfer_attention_forward(self._context.handle, self.handle, cache.handle,
                                             int(layer_index), xv.ptr, n, res, yv.ptr,
                                             int(xv.dtype), s))
        return out if out is not None else yv.owner

    __call__ = forward


# ---- Decoder layer ---------------------------------------------------------------
_WEIGHT_MATRICES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                    "down_proj")
_WEIGHT_ARRAYS = ("q_bias", "k_bias", "v_bias", "o_bias", "up_bias", "down_bias",
                  "attn_norm_weight", "attn_norm_bias", "mlp_norm_weight", "mlp_norm_bias")


class DecoderLayer(_Layer):
    """norm -> attention -> residual -> norm -> MLP -> residual, for OPT or LLaMA.

    ``weights`` maps the names of ``spinfer_decoder_weights_t`` to matrices
    (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj) and to host
    arrays of one dtype (q_bias ... down_bias, attn_norm_weight/bias,
    mlp_norm_weight/bias). Other keyword arguments are the decoder config."""

    _destroy = staticmethod(capi.spinfer_decoder_layer_destroy)

    def __init__(self, context: Context, weights: Dict[str, object], *, hidden_size: int,
                 intermediate_size: int, num_heads: int, arch="llama", num_kv_heads: int = 0,
                 head_dim: int = 0, norm_eps: Optional[float] = None,
                 rope_theta: Optional[float] = None, activation=None,
                 max_tokens: Optional[int] = None, fuse_projections: Optional[bool] = None,
                 stream=None):
        unknown = set(weights) - set(_WEIGHT_MATRICES) - set(_WEIGHT_ARRAYS)
        if unknown:
            raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                             f"unknown decoder weights {sorted(unknown)}")
        rows = {f"{p}_bias": _rows(weights.get(f"{p}_proj")) for p in ("q", "k", "v", "o")}
        rows.update(up_bias=_rows(weights.get("up_proj")),
                    down_bias=_rows(weights.get("down_proj")),
                    **{name: int(hidden_size) for name in _WEIGHT_ARRAYS if "norm" in name})
        params = _HostParams({name: weights.get(name) for name in _WEIGHT_ARRAYS}, rows)
        w = capi.spinfer_decoder_weights_t()
        check(capi.spinfer_decoder_weights_init(w))
        for name in _WEIGHT_MATRICES:
            setattr(w, name, _matrix_handle(weights.get(name), name))
        for name in _WEIGHT_ARRAYS:
            setattr(w, name, params.ptr(name))
        w.dense_dtype = int(params.dtype)
        config = _config(
            capi.spinfer_decoder_config_t, capi.spinfer_decoder_config_init,
            arch=int(_enum(Arch, arch, "arch")), hidden_size=hidden_size,
            intermediate_size=intermediate_size, num_heads=num_heads,
            num_kv_heads=num_kv_heads, head_dim=head_dim, norm_eps=norm_eps,
            rope_theta=rope_theta,
            activation=None if activation is None else int(_enum(Activation, activation,
                                                                 "activation")),
            max_tokens=max_tokens,
            fuse_projections=None if fuse_projections is None else int(bool(fuse_projections)))
        handle = checked(capi.spinfer_decoder_layer_create(context.handle, w, config,
                                                           resolve_stream(stream, None)))
        self.hidden_size = int(hidden_size)
        self._bind(context, handle, [weights.get(name) for name in _WEIGHT_MATRICES])

    def forward(self, cache: KVCache, layer_index: int, x, *, out=None, stream=None):
        """y [n, hidden] = layer(x) for the current step of ``cache`` (out may be x)."""
        hint = resolve_stream(stream, None) if stream is not None else None
        xv = self._activation(x, "x", self.hidden_size, hint)
        n = xv.shape[0]
        if out is None:
            yv = allocate_like(xv, (n, self.hidden_size), xv.dtype, "out")
        else:
            yv = self._activation(out, "out", self.hidden_size, hint)
            if yv.shape[0] != n or yv.dtype is not xv.dtype:
                raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                                 f"out must be [{n}, {self.hidden_size}] {xv.dtype.name}")
        check(capi.spinfer_decoder_layer_forward(self._context.handle, self.handle,
                                                 cache.handle, int(layer_index), xv.ptr, n,
                                                 yv.ptr, int(xv.dtype),
                                                 resolve_stream(stream, xv.stream)))
        return out if out is not None else yv.owner

    __call__ = forward
