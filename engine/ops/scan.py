"""Scans along one dim: cumsum and cumprod."""

from __future__ import annotations

from typing import Any

from engine.backend import get_array_module
from engine.function import Function


def _reverse_cumsum(g: Any, axis: int) -> Any:
    """sum_{k >= i} g_k along axis."""
    xp = get_array_module(g)
    return xp.flip(xp.cumsum(xp.flip(g, axis=axis), axis=axis), axis=axis)


class CumSum(Function):
    saves_inputs = False

    def forward(self, a: Any, axis: int) -> Any:
        self.axis = axis
        return get_array_module(a).cumsum(a, axis=axis, dtype=a.dtype)

    def backward(self, g: Any) -> Any:
        return _reverse_cumsum(g, self.axis)


class CumProd(Function):
    saves_output = True

    def forward(self, a: Any, axis: int) -> Any:
        self.a, self.axis = a, axis
        self.out = get_array_module(a).cumprod(a, axis=axis, dtype=a.dtype)
        return self.out

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        a, axis = self.a, self.axis
        if bool((a != 0).all()):
            # d out_k / d a_i = out_k / a_i for k >= i
            return _reverse_cumsum(g * self.out, axis) / a
        # With zeros out_k / a_i is undefined: take each product with a_i left out, by setting
        # a_i to 1 (quadratic in the dim's length, and only on this path).
        grad = xp.empty_like(g)
        moved_a, moved_g, moved_grad = (xp.moveaxis(x, axis, 0) for x in (a, g, grad))
        for i in range(moved_a.shape[0]):
            without_i = moved_a[i:].copy()
            without_i[0] = 1
            partial = xp.cumprod(without_i, axis=0)
            if i:
                partial = partial * self.out_prefix(moved_a, i)
            moved_grad[i] = (moved_g[i:] * partial).sum(axis=0)
        return grad

    @staticmethod
    def out_prefix(moved_a: Any, i: int) -> Any:
        """The product of the first i entries (dim moved to the front)."""
        return moved_a[:i].prod(axis=0)
