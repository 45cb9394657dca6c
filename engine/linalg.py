"""engine.linalg: vector and matrix norms (PyTorch's torch.linalg.norm / vector_norm)."""

from __future__ import annotations

import math
from typing import Any

from engine.tensor import Tensor
from engine.tensor_math import vector_norm

__all__ = ["norm", "vector_norm", "matrix_norm"]


def matrix_norm(A: Tensor, ord: Any = "fro", dim: tuple[int, int] = (-2, -1),  # noqa: A002, N803
                keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Matrix norm over two dims: 'fro', or 1, -1, inf, -inf (max / min absolute column or row
    sum)."""
    if ord == "fro":
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if ord in ("nuc", 2, -2):
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} needs singular values, "
                                  "which are not supported")
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 "
                           "dimensions.")
    rows, cols = (d % A.ndim for d in dim)
    src = A if dtype is None else A.to(dtype)
    # |ord| 1: sum down each column (over rows), then the extreme over columns; inf: the reverse
    summed, across = (rows, cols) if abs(float(ord)) == 1 else (cols, rows)
    if not math.isinf(float(ord)) and abs(float(ord)) != 1:
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    sums = src.abs().sum(summed, keepdim=True)
    out = sums.amax(across, keepdim=True) if float(ord) > 0 else sums.amin(across, keepdim=True)
    return out if keepdim else out.squeeze((rows, cols))


def norm(A: Tensor, ord: Any = None, dim: Any = None, keepdim: bool = False,  # noqa: A002, N803
         *, dtype: Any = None) -> Tensor:
    """Vector norm, or matrix norm when dim names two dims (or A is 2-D) and ord is given."""
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if dim is None and A.ndim == 2 or dim is not None and len(dim) == 2:
        return matrix_norm(A, ord, (-2, -1) if dim is None else tuple(dim), keepdim,
                           dtype=dtype)
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.vector_norm: ord={ord!r} is only for matrices")
    return vector_norm(A, ord, dim, keepdim, dtype=dtype)
