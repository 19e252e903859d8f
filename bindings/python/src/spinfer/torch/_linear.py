"""SparseLinear: a drop-in replacement for torch.nn.Linear with a TCA-BME weight."""

from __future__ import annotations

from typing import Dict, Mapping, Optional, Tuple

import numpy as np
import torch

from .. import capi
from .._dtypes import DType, as_dtype
from .._convert import prune_magnitude
from .._matrix import Matrix, encode, from_arrays
from .._status import SpinferError, make_error
from ._op import register_weight, sparse_linear
from ._weight import _TORCH_OF, SparseWeight


def magnitude_prune(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """A copy of ``weight`` with its smallest-magnitude ``sparsity`` fraction set to
    zero: round(sparsity * numel) entries (half to even) with a strict threshold, so
    entries tied at it are kept (the library's spinfer_prune_magnitude, the converter's
    pruning; computed on a float32 host copy)."""
    if not 0.0 <= float(sparsity) < 1.0:
        raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                         f"sparsity must be in [0, 1), got {sparsity}")
    if weight.numel() == 0:
        return weight.clone()
    host = weight.detach().reshape(1, -1).float().cpu().numpy()
    kept = torch.from_numpy(prune_magnitude(host, float(sparsity)) != 0).to(weight.device)
    return torch.where(kept.view_as(weight), weight.detach(), torch.zeros_like(weight))


# State-dict entries of a SparseLinear's weight (after the module's prefix) and
# their dtypes. Integer tensors only: tools that cast floating tensors of a state
# dict (to a model's dtype, say) must not touch the bit patterns.
_STATE_DTYPES = {
    "weight_values": torch.int16,         # the fp16/bf16 bits of `values`
    "weight_bitmaps": torch.int64,        # uint64 words, same bits
    "weight_group_offsets": torch.int64,  # uint64 words, same bits
    "weight_format": torch.int64,         # [rows, cols, dtype code, format version]
}


def _weight_state(sparse: SparseWeight) -> Dict[str, torch.Tensor]:
    """The encoded weight as new CPU tensors (contiguous, sharing no memory),
    keyed by their names in _STATE_DTYPES."""
    arrays = sparse.arrays()
    return {
        "weight_values": torch.from_numpy(arrays.values.view(np.int16)),
        "weight_bitmaps": torch.from_numpy(arrays.bitmaps.view(np.int64)),
        "weight_group_offsets": torch.from_numpy(arrays.group_offsets.view(np.int64)),
        "weight_format": torch.tensor([sparse.rows, sparse.cols, int(sparse.dtype),
                                       sparse.format_version], dtype=torch.int64),
    }


def _corrupt(message: str) -> SpinferError:
    return make_error(capi.SPINFER_STATUS_CORRUPT_DATA, message)


def _matrix_from_state(tensors: Mapping[str, object], prefix: str,
                       shape: Tuple[int, int]) -> Matrix:
    """A host matrix rebuilt from the entries of _STATE_DTYPES, each checked
    (type, dtype, 1-D, the format row, the module's ``shape`` = (out, in)); the
    library's from_arrays then validates the TCA-BME structure. Raises a
    SpinferError naming the first bad entry."""
    arrays = {}
    for name, dtype in _STATE_DTYPES.items():
        t = tensors[name]
        if not isinstance(t, torch.Tensor):
            raise _corrupt(f"{prefix}{name} must be a tensor, not {type(t).__name__}")
        if t.dtype != dtype or t.dim() != 1:
            raise _corrupt(f"{prefix}{name} must be a 1-D {dtype} tensor, got a "
                           f"{t.dtype} tensor of shape {tuple(t.shape)}")
        arrays[name] = t.detach().cpu().contiguous().numpy()
    if arrays["weight_format"].shape != (4,):
        raise _corrupt(f"{prefix}weight_format must hold 4 entries (rows, cols, dtype "
                       f"code, format version), got {arrays['weight_format'].shape[0]}")
    rows, cols, code, version = (int(v) for v in arrays["weight_format"])
    if (rows, cols) != tuple(shape):
        raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                         f"size mismatch for {prefix}weight: the checkpoint's is "
                         f"[{rows}, {cols}], the module's [{shape[0]}, {shape[1]}]")
    if code not in (int(DType.F16), int(DType.BF16)):
        raise _corrupt(f"{prefix}weight_format has dtype code {code}; expected "
                       f"{int(DType.F16)} (f16) or {int(DType.BF16)} (bf16)")
    if not 0 <= version < 2**32:
        raise _corrupt(f"{prefix}weight_format has format version {version}")
    return from_arrays(rows, cols, DType(code), arrays["weight_values"].view(np.uint16),
                       arrays["weight_bitmaps"].view(np.uint64),
                       arrays["weight_group_offsets"].view(np.uint64), format_version=version)


class SparseLinear(torch.nn.Module):
    """y = x W^T + b with a sparse W in spinfer's TCA-BME format.

    Behaves like ``torch.nn.Linear`` in forward: input [..., in_features], output
    [..., out_features] in the input's dtype, on CPU (host backend) or CUDA tensors.
    On CUDA the product runs in W's storage dtype (f16 or bf16; other inputs are
    cast) on ``torch.cuda.current_stream()``. ``.to(device)`` / ``.cuda()`` /
    ``.cpu()`` move the encoded weight with the module. The forward is the custom op
    ``torch.ops.spinfer.sparse_linear`` (works under torch.compile and CUDA-graph
    capture). Inference only: there is no backward.

    Build one from an existing layer with :meth:`from_linear`, or from an encoded
    matrix (e.g. ``spinfer.load(...)``) with the constructor, which takes ownership
    of ``weight``.

    Saving and loading: ``state_dict()`` holds the encoded weight as four integer
    CPU tensors beside ``bias`` (the TCA-BME arrays of docs/format.md, bit for bit):

    - ``weight_values``: int16 [len(values)], the fp16/bf16 bits of the non-zeros;
    - ``weight_bitmaps``: int64 [len(bitmaps)], the uint64 bitmap words;
    - ``weight_group_offsets``: int64 [GroupTiles + 1], the uint64 offsets;
    - ``weight_format``: int64 [4] = rows (out_features), cols (in_features),
      dtype code (1 = f16, 2 = bf16, as ``spinfer.DType``), format version.

    ``load_state_dict`` rebuilds the weight from them, checked (dtypes, shapes, the
    module's size, the dtype code; the library validates the arrays) and placed on
    the module's device; problems are reported as torch reports them (missing and
    unexpected keys, size mismatch). The arrays' lengths depend on the non-zeros, so
    a state dict loads into any SparseLinear of the same size. ``torch.save`` of the
    module, pickling and ``copy.deepcopy`` carry the same arrays.

    A Hugging Face model patched with :func:`replace_linears` saves with
    ``save_pretrained``. ``from_pretrained`` does not know these entries (it would
    leave the patched layers randomly initialised), so reload by building the model
    from its config, patching it the same way, and loading the saved state::

        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path))
        replace_linears(model)                    # same layers as when it was saved
        load_pretrained_state(model, path)        # model.safetensors or the shards
    """

    def __init__(self, weight: Matrix, bias: Optional[torch.Tensor] = None, *,
                 device=None):
        super().__init__()
        if not isinstance(weight, Matrix):
            raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                             f"weight must be a spinfer.Matrix, not {type(weight).__name__}")
        weight.handle  # noqa: B018 - refuse a closed matrix now, not at the first forward
        self.in_features = weight.cols
        self.out_features = weight.rows
        self._sparse = SparseWeight(weight)
        self.weight_id = register_weight(self._sparse)
        if device is None:
            device = (bias.device if bias is not None else
                      torch.device("cuda", weight.info.device) if weight.on_device else
                      torch.device("cpu"))
        if bias is not None:
            if tuple(bias.shape) != (self.out_features,):
                raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                                 f"bias has shape {tuple(bias.shape)}, expected "
                                 f"({self.out_features},)")
            self.bias = torch.nn.Parameter(bias.detach().clone(), requires_grad=False)
        else:
            self.register_parameter("bias", None)
        # An empty buffer that follows .to()/.cuda(): _apply reads where it went.
        self.register_buffer("_device_anchor", torch.empty(0), persistent=False)
        self.to(device)

    @classmethod
    def from_linear(cls, linear: torch.nn.Linear, *, sparsity: Optional[float] = None,
                    mask: Optional[torch.Tensor] = None, dtype=None) -> "SparseLinear":
        """A SparseLinear equal to ``linear`` with its weight pruned: by ``mask``
        (bool [out, in], True = keep), or by magnitude to ``sparsity`` (fraction of
        zeros), or -- with neither -- keeping the zeros already there. Non-zeros are
        stored as ``dtype`` (f16 or bf16; default: the layer's dtype when it is one
        of these, else f16). The result lives on the layer's device."""
        if not isinstance(linear, torch.nn.Linear):
            raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                             f"linear must be a torch.nn.Linear, not {type(linear).__name__}")
        if mask is not None and sparsity is not None:
            raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                             "give either sparsity or mask, not both")
        weight = linear.weight.detach()
        if mask is not None:
            if tuple(mask.shape) != tuple(weight.shape):
                raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                                 f"mask has shape {tuple(mask.shape)}, the weight "
                                 f"{tuple(weight.shape)}")
            weight = torch.where(mask.to(device=weight.device, dtype=torch.bool), weight,
                                 torch.zeros_like(weight))
        elif sparsity is not None:
            weight = magnitude_prune(weight, sparsity)
        if dtype is None:
            dtype = weight.dtype if weight.dtype in (torch.float16, torch.bfloat16) else "f16"
        host = weight.to("cpu")
        if host.dtype not in (torch.float32, torch.float16, torch.bfloat16):
            host = host.float()
        matrix = encode(host.contiguous(), as_dtype(dtype))
        return cls(matrix, linear.bias, device=linear.weight.device)

    # ---- nn.Module -----------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sparse_linear(x, self.weight_id, self.out_features, self.bias)

    def _apply(self, fn, *args, **kwargs):
        result = super()._apply(fn, *args, **kwargs)
        self._sparse.move_to(self._device_anchor.device)
        return result

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, sparsity={self._sparse.sparsity:.3f}, "
                f"dtype={_TORCH_OF[self._sparse.dtype]}")

    # ---- saving and loading ----------------------------------------------------
    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, tensor in _weight_state(self._sparse).items():
            destination[prefix + name] = tensor
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        keys = {name: prefix + name for name in _STATE_DTYPES}
        # torch loads the bias and reports unknown keys; ours are not unknown.
        others = {k: v for k, v in state_dict.items() if k not in keys.values()}
        super()._load_from_state_dict(others, prefix, local_metadata, strict,
                                      missing_keys, unexpected_keys, error_msgs)
        missing = [key for key in keys.values() if key not in state_dict]
        if missing:  # keep the current weight, as torch does for a missing parameter
            if strict:
                missing_keys.extend(missing)
            return
        try:
            matrix = _matrix_from_state({name: state_dict[key] for name, key in keys.items()},
                                        prefix, (self.out_features, self.in_features))
        except SpinferError as e:
            error_msgs.append(f"While loading the sparse weight {prefix}weight_*: {e}")
            return
        self._adopt(matrix)

    def _adopt(self, matrix: Matrix) -> None:
        """Make the host ``matrix`` (owned from now on) the weight, on the module's
        device, under a new registry key (the old weight goes with its last user)."""
        sparse = SparseWeight(matrix)
        sparse.move_to(self._device_anchor.device)
        self._sparse, self.weight_id = sparse, register_weight(sparse)

    # Pickling (torch.save of the module) and deepcopy: the weight travels as its
    # state-dict tensors; the registry key is valid only in this process.
    def __getstate__(self):
        state = super().__getstate__()
        state.pop("weight_id")
        state["_sparse"] = _weight_state(self._sparse)
        return state

    def __setstate__(self, state):
        state = dict(state)
        tensors = state.pop("_sparse")
        super().__setstate__(state)
        self._adopt(_matrix_from_state(tensors, "", (self.out_features, self.in_features)))

    # ---- facts ---------------------------------------------------------------
    @property
    def sparsity(self) -> float:
        """Fraction of zeros in W."""
        return self._sparse.sparsity

    @property
    def nnz(self) -> int:
        """Stored non-zeros of W."""
        return self._sparse.nnz

    @property
    def weight_dtype(self) -> torch.dtype:
        """Storage dtype of W's non-zeros."""
        return _TORCH_OF[self._sparse.dtype]

    def dense_weight(self) -> torch.Tensor:
        """W as a dense tensor [out_features, in_features] on the module's device
        (for checks; it costs the dense memory)."""
        return self._sparse.dense(self._device_anchor.device)

    def close(self) -> None:
        """Free the encoded weight now; the module cannot run afterwards."""
        self._sparse.close()
