"""SparseLinear: a drop-in replacement for torch.nn.Linear with a TCA-BME weight."""

from __future__ import annotations

from typing import Optional

import torch

from .. import capi
from .._dtypes import as_dtype
from .._matrix import Matrix, encode
from .._status import make_error
from ._op import register_weight, sparse_linear
from ._weight import _TORCH_OF, SparseWeight


def magnitude_prune(weight: torch.Tensor, sparsity: float) -> torch.Tensor:
    """A copy of ``weight`` with its smallest-magnitude ``sparsity`` fraction set to
    zero (exactly round(sparsity * numel) entries; ties broken by torch.topk)."""
    if not 0.0 <= float(sparsity) < 1.0:
        raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                         f"sparsity must be in [0, 1), got {sparsity}")
    total = weight.numel()
    keep = total - int(round(float(sparsity) * total))
    if keep >= total:
        return weight.clone()
    flat = weight.detach().reshape(-1)
    kept = torch.topk(flat.abs().float(), keep, sorted=False).indices
    mask = torch.zeros(total, dtype=torch.bool, device=weight.device)
    mask[kept] = True
    return torch.where(mask.view_as(weight), weight.detach(), torch.zeros_like(weight))


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

    def __deepcopy__(self, memo):
        bias = None if self.bias is None else self.bias.detach().clone()
        new = SparseLinear(self._sparse.clone_host(), bias, device=self._device_anchor.device)
        new.train(self.training)
        memo[id(self)] = new
        return new

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
