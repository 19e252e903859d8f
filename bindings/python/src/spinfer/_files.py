"""Safetensors files of encoded matrices: save, load, list names."""

from __future__ import annotations

import os
from typing import List, Mapping, Optional, Sequence, Tuple, Union

from . import capi
from ._handle import handle_or_null
from ._matrix import Matrix
from ._status import check, checked

PathLike = Union[str, "os.PathLike[str]"]
Matrices = Union[Mapping[str, Matrix], Sequence[Tuple[str, Matrix]]]


def _path(path) -> Optional[str]:
    if path is None:
        return None  # the library reports the NULL path
    text = os.fsdecode(path)
    if "\0" in text:  # as open() does: C would stop at the NUL and open another file
        raise ValueError("embedded null character in path")
    return text


def _name(name, what: str = "name") -> Optional[str]:
    if name is None:
        return None
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, not {type(name).__name__}")
    if "\0" in name:  # a C string would keep only the part before it
        raise ValueError(f"embedded null character in {what} {name!r}")
    return name


def save(path: PathLike, matrices: Matrices) -> None:
    """Save host matrices to one safetensors file, each under its name.

    ``matrices`` maps names to matrices (a dict, or a sequence of (name, matrix)
    pairs). The file is written to a temporary name and renamed, so a failure leaves
    no partial file.
    """
    pairs = list(matrices.items()) if isinstance(matrices, Mapping) else list(matrices)
    raw = []
    for pair in pairs:
        name, matrix = pair
        raw.append((_name(name, "matrix name"), handle_or_null(matrix, Matrix, f"matrix {name!r}")))
    # `pairs` keeps the matrices alive during the call.
    check(capi.spinfer_save(_path(path), raw))
    del pairs


def load(path: PathLike, name: Optional[str] = None) -> Matrix:
    """Load the matrix ``name`` from a safetensors file into a new host matrix
    (``name`` may be None when the file holds exactly one). Every field is
    validated: a corrupt file raises CorruptDataError, an unknown name NotFoundError."""
    return Matrix._wrap(checked(capi.spinfer_load(_path(path), _name(name))))


def matrix_names(path: PathLike) -> List[str]:
    """Names of the spinfer matrices in a safetensors file, sorted."""
    p = _path(path)
    count = checked(capi.spinfer_file_matrix_count(p))
    names = []
    for index in range(count):
        status, text, required = capi.spinfer_file_matrix_name(p, index, 256)
        if status != capi.SPINFER_STATUS_SUCCESS and required > 256:
            status, text, required = capi.spinfer_file_matrix_name(p, index, required)
        check(status)
        names.append(text)
    return names
