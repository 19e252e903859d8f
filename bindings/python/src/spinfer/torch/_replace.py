"""Swap the nn.Linear layers of a model (e.g. a Hugging Face transformer) for
SparseLinear, in place."""

from __future__ import annotations

from typing import Callable, Iterable, List, Mapping, Optional

import torch

from ._linear import SparseLinear

# Hugging Face models tie lm_head to the embedding matrix; leave it dense by default.
DEFAULT_SKIP = ("lm_head",)


def replace_linears(model: torch.nn.Module, *, sparsity: Optional[float] = None,
                    masks: Optional[Mapping[str, torch.Tensor]] = None,
                    skip: Iterable[str] = DEFAULT_SKIP,
                    predicate: Optional[Callable[[str, torch.nn.Linear], bool]] = None,
                    dtype=None) -> List[str]:
    """Replace every ``torch.nn.Linear`` inside ``model`` by a SparseLinear built with
    :meth:`SparseLinear.from_linear`; returns the qualified names replaced.

    ``sparsity`` prunes each layer by magnitude; ``masks`` maps qualified names
    (``"model.layers.0.mlp.up_proj"``) to bool keep-masks and wins over
    ``sparsity`` for those layers; with neither, the zeros already in the weights
    are used. Layers whose full name or last name component is in ``skip``
    (default: ``lm_head``), or for which ``predicate(name, layer)`` is False, stay
    dense, and so does the out_proj of a torch.nn.MultiheadAttention (which reads
    the weight directly). Works on any nn.Module; for a Hugging Face model pass the model itself
    (``AutoModelForCausalLM.from_pretrained(...)``).
    """
    skip = set(skip)
    targets = [(name, module) for name, module in model.named_modules()
               if isinstance(module, torch.nn.Linear) and name]
    replaced = []
    for name, linear in targets:
        parent_name, _, leaf = name.rpartition(".")
        if name in skip or leaf in skip:
            continue
        if predicate is not None and not predicate(name, linear):
            continue
        parent = model.get_submodule(parent_name) if parent_name else model
        if isinstance(parent, torch.nn.MultiheadAttention):
            continue  # it reads out_proj.weight itself instead of calling the layer
        mask = masks.get(name) if masks is not None else None
        sparse = SparseLinear.from_linear(linear, sparsity=None if mask is not None else sparsity,
                                          mask=mask, dtype=dtype)
        setattr(parent, leaf, sparse)
        replaced.append(name)
    return replaced
