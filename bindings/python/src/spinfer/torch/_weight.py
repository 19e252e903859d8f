"""A sparse weight kept where its module lives (host or one GPU), and the linear
product Y = X W^T + b on torch tensors through the C API (zero-copy)."""

from __future__ import annotations

import threading
from typing import Dict, Optional, Union

import torch

from .. import capi
from .._context import Context
from .._dtypes import DType
from .._matrix import Matrix, MatrixArrays
from .._status import check, make_error

_TORCH_OF = {DType.F32: torch.float32, DType.F16: torch.float16, DType.BF16: torch.bfloat16}
_DTYPE_OF = {v: k for k, v in _TORCH_OF.items()}

_contexts: Dict[Union[str, int], Context] = {}
_contexts_lock = threading.Lock()


def context_for(device: torch.device) -> Context:
    """The shared spinfer context of a torch device ("cpu" -> host backend, "cuda:i"
    -> CUDA device i). Made on first use, kept for the life of the process."""
    key: Union[str, int] = "cpu" if device.type == "cpu" else _cuda_index(device)
    with _contexts_lock:
        if key not in _contexts:
            _contexts[key] = (Context("host") if key == "cpu"
                              else Context("cuda", device=key))
        return _contexts[key]


def _cuda_index(device: torch.device) -> int:
    if device.type != "cuda":
        raise make_error(capi.SPINFER_STATUS_WRONG_LOCATION,
                         f"spinfer runs on cpu and cuda tensors, not on '{device}'")
    return device.index if device.index is not None else torch.cuda.current_device()


def _key(device: torch.device) -> Union[str, int]:
    return "cpu" if device.type == "cpu" else _cuda_index(device)


def _round_up8(v: int) -> int:
    return (v + 7) // 8 * 8


class SparseWeight:
    """An encoded weight W [out_features, in_features] with copies on the host and/or
    GPUs. Copies are made on demand (``on``) and dropped by ``move_to``."""

    def __init__(self, matrix: Matrix):
        self.rows, self.cols = matrix.shape
        self.dtype = matrix.dtype
        self.format_version = matrix.info.format_version
        self.nnz = matrix.nnz
        self.sparsity = matrix.sparsity
        if matrix.on_device:
            self._copies: Dict[Union[str, int], Matrix] = {matrix.info.device: matrix}
        else:
            self._copies = {"cpu": matrix}
        self._lock = threading.Lock()

    @property
    def devices(self):
        return sorted(self._copies, key=str)

    def _host_matrix(self) -> Matrix:
        if not self._copies:
            raise make_error(capi.SPINFER_STATUS_INVALID_ARGUMENT,
                             "this sparse weight is closed (SparseLinear.close() was called)")
        if "cpu" in self._copies:
            return self._copies["cpu"]
        key, m = next(iter(self._copies.items()))
        return context_for(torch.device("cuda", key)).download(
            m, stream=torch.cuda.current_stream(key).cuda_stream)

    def on(self, device: torch.device) -> Matrix:
        """The copy on ``device``, made now if missing (an upload: do it before any
        CUDA-graph capture)."""
        key = _key(device)
        with self._lock:
            m = self._copies.get(key)
            if m is None:
                host = self._host_matrix()
                if key == "cpu":
                    m = host
                else:
                    m = context_for(device).upload(
                        host, stream=torch.cuda.current_stream(key).cuda_stream)
                self._copies[key] = m
            return m

    def move_to(self, device: torch.device) -> None:
        """Keep only the copy on ``device``."""
        key = _key(device)
        self.on(device)
        if key != "cpu":
            torch.cuda.current_stream(key).synchronize()  # the upload read the host copy
        with self._lock:
            for other in [k for k in self._copies if k != key]:
                self._copies.pop(other).close()

    def dense(self, device: torch.device) -> torch.Tensor:
        """The dense W in its storage dtype on ``device`` (decoded on the host)."""
        arr = self._host_matrix().decode(DType.F32)
        return torch.from_numpy(arr).to(device=device, dtype=_TORCH_OF[self.dtype])

    def arrays(self) -> MatrixArrays:
        """The raw TCA-BME arrays (new host numpy arrays), from the host copy or
        downloaded from a GPU one."""
        return self._host_matrix().to_arrays()

    def close(self) -> None:
        with self._lock:
            for m in self._copies.values():
                m.close()
            self._copies.clear()

    def __reduce_ex__(self, protocol):
        raise TypeError("a spinfer SparseWeight cannot be pickled: save the encoded matrix "
                        "with spinfer.save() and rebuild the module")

    # ---- Y = X W^T + b ---------------------------------------------------------
    def linear(self, x: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
        """``x`` [..., in_features] -> [..., out_features], in x's dtype."""
        k, m = self.cols, self.rows
        if x.dim() == 0 or x.shape[-1] != k:
            raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                             f"input has shape {tuple(x.shape)}, expected [..., {k}] "
                             f"(in_features)")
        if bias is not None:
            if tuple(bias.shape) != (m,):
                raise make_error(capi.SPINFER_STATUS_SHAPE_MISMATCH,
                                 f"bias has shape {tuple(bias.shape)}, expected ({m},)")
            if bias.device != x.device:
                raise make_error(capi.SPINFER_STATUS_WRONG_LOCATION,
                                 f"bias is on {bias.device} but the input is on {x.device}")
        lead = x.shape[:-1]
        x2 = x.reshape(-1, k)
        if x.device.type == "cuda":
            y = self._linear_cuda(x2, bias)
        elif x.device.type == "cpu":
            y = self._linear_host(x2, bias)
        else:
            raise make_error(capi.SPINFER_STATUS_WRONG_LOCATION,
                             f"spinfer runs on cpu and cuda tensors, not on '{x.device}'")
        y = y if y.dtype == x.dtype else y.to(x.dtype)
        return y.reshape(*lead, m)

    def _linear_host(self, x2: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
        n, k, m = x2.shape[0], self.cols, self.rows
        compute = x2.dtype if x2.dtype in _DTYPE_OF else torch.float32
        y = torch.empty((n, m), dtype=compute)
        if n == 0:
            return y
        xc = x2.to(compute).contiguous()
        b = None if bias is None else bias.detach().to(compute).contiguous()
        w = self.on(torch.device("cpu"))
        check(capi.spinfer_spmm(context_for(x2.device).handle, w.handle, xc.data_ptr(), n, k,
                                None if b is None else b.data_ptr(), y.data_ptr(), m,
                                int(_DTYPE_OF[compute]), None))
        return y

    def _linear_cuda(self, x2: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
        # The GPU kernels take the storage dtype, 16-byte aligned rows and leading
        # dimensions that are multiples of 8: odd shapes go through padded buffers.
        n, k, m = x2.shape[0], self.cols, self.rows
        compute = _TORCH_OF[self.dtype]
        ldx, ldy = _round_up8(k), _round_up8(m)
        if n == 0:
            return torch.empty((0, m), dtype=compute, device=x2.device)
        y = torch.empty((n, ldy), dtype=compute, device=x2.device)
        xc = x2.to(compute)
        if ldx != k or not xc.is_contiguous() or xc.data_ptr() % 16:
            padded = torch.zeros((n, ldx), dtype=compute, device=x2.device)
            padded[:, :k] = xc
            xc = padded
        b = None if bias is None else bias.detach().to(compute).contiguous()
        w = self.on(x2.device)
        stream = torch.cuda.current_stream(x2.device).cuda_stream
        check(capi.spinfer_spmm(context_for(x2.device).handle, w.handle, xc.data_ptr(), n, ldx,
                                None if b is None else b.data_ptr(), y.data_ptr(), ldy,
                                int(self.dtype), stream))
        return y if ldy == m else y[:, :m].contiguous()
