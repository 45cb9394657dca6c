"""Fused, numerically stable softmax and log-softmax along one axis."""

from __future__ import annotations

from typing import Any

from engine.backend import get_array_module
from engine.function import Function


def implicit_dim(ndim: int) -> int:
    """PyTorch's legacy softmax dim when none is given: 0 for 0-D, 1-D and 3-D inputs, else 1."""
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Function):
    saves_inputs = False
    saves_output = True

    def forward(self, a: Any, axis: int) -> Any:
        xp = get_array_module(a)
        axis = None if a.ndim == 0 else axis  # softmax of a 0-d tensor is 1
        shifted = xp.exp(a - a.max(axis=axis, keepdims=True))
        self.out, self.axis = shifted / shifted.sum(axis=axis, keepdims=True), axis
        return self.out

    def backward(self, g: Any) -> Any:
        inner = (g * self.out).sum(axis=self.axis, keepdims=True)
        return self.out * (g - inner)


class LogSoftmax(Function):
    saves_inputs = False
    saves_output = True

    def forward(self, a: Any, axis: int) -> Any:
        xp = get_array_module(a)
        axis = None if a.ndim == 0 else axis
        shifted = a - a.max(axis=axis, keepdims=True)
        self.out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        self.axis = axis
        return self.out

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        return g - xp.exp(self.out) * g.sum(axis=self.axis, keepdims=True)
