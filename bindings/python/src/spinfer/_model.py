"""Decoder-only language models (OPT, LLaMA, Mistral, Qwen2, Qwen3 families) run by libspinfer."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from . import capi
from ._arrays import resolve_stream
from ._context import Context
from ._dtypes import DType
from ._handle import OwnedHandle
from ._layers import Arch, _config
from ._status import check, checked, make_error


@dataclass(frozen=True)
class ModelInfo:
    """Facts about a loaded model (``spinfer_model_info_t``)."""

    arch: Arch
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    max_position_embeddings: int
    dtype: DType
    weight_bytes: int
    dense_weight_bytes: int
    kv_cache_bytes: int
    kv_cache_tokens: int


def _tokens(tokens, what) -> np.ndarray:
    given = np.asarray(tokens)
    # Token ids are integers: 2.7 must not quietly become token 2 (nor True token 1).
    if given.size and given.dtype.kind not in "iu":
        raise TypeError(f"{what} must hold integers, not {given.dtype}")
    if given.size and (given.min() < np.iinfo(np.int32).min or given.max() > np.iinfo(np.int32).max):
        raise ValueError(f"{what} holds a value outside int32")
    arr = np.ascontiguousarray(given, dtype=np.int32)
    if arr.ndim != 1:
        raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH, f"{what} must be 1-D")
    return arr


class Model(OwnedHandle):
    """A decoder-only model with its own KV cache, loaded from a directory holding
    a Hugging Face ``config.json`` and spinfer safetensors (tools/spinfer_convert.py).
    Sequences are slots 0..max_sequences-1. One thread at a time.

    >>> with spinfer.Context("auto") as ctx, spinfer.Model.load(ctx, "opt-125m-sparse") as m:
    ...     tokens = m.generate_greedy(0, prompt_ids, max_new_tokens=20)
    """

    _destroy = staticmethod(capi.spinfer_model_destroy)

    def __init__(self, *args, **kwargs):
        raise TypeError("load a model with spinfer.Model.load(context, directory)")

    @classmethod
    def load(cls, context: Context, directory, *, max_sequences: Optional[int] = None,
             max_batch_tokens: Optional[int] = None,
             max_sequence_length: Optional[int] = None, kv_block_size: Optional[int] = None,
             kv_num_blocks: Optional[int] = None, use_cuda_graphs: Optional[bool] = None,
             stream=None) -> "Model":
        """Load the model in ``directory`` onto ``context``'s device (returns when the
        weights are there). Options left None keep the library's defaults."""
        config = _config(capi.spinfer_model_config_t, capi.spinfer_model_config_init,
                         max_sequences=max_sequences, max_batch_tokens=max_batch_tokens,
                         max_sequence_length=max_sequence_length, kv_block_size=kv_block_size,
                         kv_num_blocks=kv_num_blocks,
                         use_cuda_graphs=None if use_cuda_graphs is None
                         else int(bool(use_cuda_graphs)))
        path = None if directory is None else os.fsdecode(directory)
        handle = checked(capi.spinfer_model_load(context.handle, path, config,
                                                 resolve_stream(stream, None)))
        self = cls.__new__(cls)
        self._context = context
        self._adopt(handle)
        context._dependents.add(self)
        c = checked(capi.spinfer_model_get_info(handle))
        self._info = ModelInfo(
            arch=Arch(c.arch), vocab_size=int(c.vocab_size), hidden_size=int(c.hidden_size),
            intermediate_size=int(c.intermediate_size), num_layers=int(c.num_layers),
            num_heads=int(c.num_heads), num_kv_heads=int(c.num_kv_heads),
            head_dim=int(c.head_dim), max_position_embeddings=int(c.max_position_embeddings),
            dtype=DType(c.dtype), weight_bytes=int(c.weight_bytes),
            dense_weight_bytes=int(c.dense_weight_bytes), kv_cache_bytes=int(c.kv_cache_bytes),
            kv_cache_tokens=int(c.kv_cache_tokens))
        return self

    @property
    def info(self) -> ModelInfo:
        self.handle  # noqa: B018
        return self._info

    @property
    def context(self) -> Context:
        return self._context

    def prefill(self, seq: int, tokens: Sequence[int], *, logits: bool = True,
                stream=None) -> Optional[np.ndarray]:
        """Append the prompt ``tokens`` to sequence ``seq`` and run them; returns the
        float32 logits of the last token [vocab_size] (None with logits=False, which
        does not synchronise the stream)."""
        toks = _tokens(tokens, "tokens")
        out = np.empty(self.info.vocab_size, dtype=np.float32) if logits else None
        check(capi.spinfer_model_prefill(self._context.handle, self.handle, int(seq), toks,
                                         len(toks), out, resolve_stream(stream, None)))
        return out

    def decode_step(self, seq_ids: Sequence[int], tokens: Sequence[int], *,
                    logits: bool = True, stream=None) -> Optional[np.ndarray]:
        """Append tokens[i] to sequence seq_ids[i] (each once) and return the
        next-token logits [len(seq_ids), vocab_size] (float32)."""
        ids, toks = _tokens(seq_ids, "seq_ids"), _tokens(tokens, "tokens")
        if ids.shape != toks.shape:
            raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                             f"{len(ids)} sequence ids but {len(toks)} tokens")
        out = (np.empty((len(ids), self.info.vocab_size), dtype=np.float32) if logits
               else None)
        check(capi.spinfer_model_decode_step(self._context.handle, self.handle, ids, toks,
                                             len(ids), out, resolve_stream(stream, None)))
        return out

    def generate_greedy(self, seq: int, prompt: Sequence[int], max_new_tokens: int, *,
                        eos_token: int = -1, stream=None) -> List[int]:
        """Greedy generation for sequence ``seq``: the new tokens (stops after
        ``eos_token``; -1 never stops early)."""
        toks = _tokens(prompt, "prompt")
        if max_new_tokens < 0:
            raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                             f"max_new_tokens is negative ({max_new_tokens})")
        out = np.zeros(max(int(max_new_tokens), 1), dtype=np.int32)
        generated = checked(capi.spinfer_model_generate_greedy(
            self._context.handle, self.handle, int(seq), toks, len(toks), int(max_new_tokens),
            int(eos_token), out, resolve_stream(stream, None)))
        return out[:generated].tolist()

    def sequence_length(self, seq: int) -> int:
        return checked(capi.spinfer_model_sequence_length(self.handle, int(seq)))

    def release_sequence(self, seq: int) -> None:
        """Forget sequence ``seq`` (its KV blocks return to the pool)."""
        check(capi.spinfer_model_release_sequence(self.handle, int(seq)))
