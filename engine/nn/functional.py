"""engine.nn.functional: stateless layers and activations (PyTorch's torch.nn.functional)."""

from __future__ import annotations

from typing import Any

from engine.creation import pad
from engine.ops.elementwise import Relu
from engine.ops.softmax import LogSoftmax, Softmax
from engine.tensor import Tensor

__all__ = ["log_softmax", "pad", "relu", "softmax"]


def softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:  # noqa: A002
    """Softmax along dim, computed stably."""
    x = input if dtype is None else input.to(dtype)
    return Softmax.apply(x._floating(), axis=_dim(x, dim))


def log_softmax(input: Tensor, dim: int | None = None, dtype: Any = None) -> Tensor:  # noqa: A002
    """log(softmax(x)) along dim, fused for stability."""
    x = input if dtype is None else input.to(dtype)
    return LogSoftmax.apply(x._floating(), axis=_dim(x, dim))


def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(x, 0)."""
    return Relu.apply(input)


def _dim(x: Tensor, dim: int | None) -> int:
    # PyTorch's legacy rule when dim is omitted: 0 for 0-D, 1-D and 3-D inputs, else 1.
    if dim is None:
        return 0 if x.ndim in (0, 1, 3) else 1
    return dim
