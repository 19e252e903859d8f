"""Swap the nn.Linear layers of a model (e.g. a Hugging Face transformer) for
SparseLinear, in place; load a patched model's saved state back."""

from __future__ import annotations

import json
import pathlib
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


def load_pretrained_state(model: torch.nn.Module, directory, *, strict: bool = True):
    """Load the state that ``save_pretrained`` wrote to ``directory``
    (``model.safetensors``, or the shards listed in ``model.safetensors.index.json``)
    into ``model``: a model built from the same config and patched by
    :func:`replace_linears` as the saved one was. Returns torch's incompatible keys
    (``missing_keys``, ``unexpected_keys``); with ``strict`` they raise as in
    ``load_state_dict``. A missing key of a tied parameter (``lm_head.weight`` when it
    is the embedding) counts as loaded when its twin is. Needs ``safetensors``.

        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path))
        replace_linears(model)
        load_pretrained_state(model, path)
    """
    from safetensors.torch import load_file

    folder = pathlib.Path(directory)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    state = {}
    for name in files:
        state.update(load_file(folder / name))
    result = model.load_state_dict(state, strict=False)
    # Tied parameters are one tensor under several names; save_pretrained writes one.
    names_of = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        names_of.setdefault(id(param), []).append(name)
    tied_loaded = {name for names in names_of.values() if any(n in state for n in names)
                   for name in names}
    result.missing_keys[:] = [k for k in result.missing_keys if k not in tied_loaded]
    if strict and (result.missing_keys or result.unexpected_keys):
        raise RuntimeError(f"Error(s) in loading {folder} into {type(model).__name__}: "
                           f"missing keys {result.missing_keys}, unexpected keys "
                           f"{result.unexpected_keys}")
    return result
