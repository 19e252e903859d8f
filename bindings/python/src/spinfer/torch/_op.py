"""The PyTorch custom operator ``torch.ops.spinfer.sparse_linear``.

Registered with ``torch.library.custom_op`` and a fake (meta) implementation, so
that torch.compile traces through it without a graph break and CUDA graphs can
capture it: the real implementation allocates its output with the caching
allocator and queues one spinfer_spmm on the current stream (which never
allocates or synchronises). The sparse weight is an opaque C object, so the op
takes an integer key into a registry of live weights.
"""

# No `from __future__ import annotations`: custom_op reads the annotations as types.
import itertools
import threading
import weakref
from typing import Optional

import torch

from .. import capi
from .._status import make_error
from ._weight import SparseWeight

if not hasattr(torch.library, "custom_op"):  # pragma: no cover - old torch
    raise ImportError(f"spinfer.torch needs torch >= 2.4 (torch.library.custom_op); "
                      f"found {torch.__version__}")

_weights: "weakref.WeakValueDictionary[int, SparseWeight]" = weakref.WeakValueDictionary()
_next_id = itertools.count(1)
_lock = threading.Lock()


def register_weight(weight: SparseWeight) -> int:
    """A new key for ``weight``; the registry forgets it when the weight dies."""
    with _lock:
        key = next(_next_id)
        _weights[key] = weight
        return key


def lookup_weight(key: int) -> SparseWeight:
    weight = _weights.get(int(key))
    if weight is None:
        raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                         f"spinfer weight {key} does not exist (its SparseLinear was closed "
                         f"or garbage-collected)")
    return weight


@torch.library.custom_op("spinfer::sparse_linear", mutates_args=())
def sparse_linear(x: torch.Tensor, weight_id: int, out_features: int,
                  bias: Optional[torch.Tensor]) -> torch.Tensor:
    """y = x @ W^T + bias for the registered sparse weight ``weight_id``;
    x [..., in_features] -> y [..., out_features], dtype of x."""
    weight = lookup_weight(weight_id)
    if weight.rows != out_features:
        raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                         f"out_features {out_features} does not match the weight's "
                         f"{weight.rows} rows")
    return weight.linear(x, bias)


@sparse_linear.register_fake
def _sparse_linear_fake(x, weight_id, out_features, bias):
    return x.new_empty((*x.shape[:-1], out_features))
