"""Fused affine map y = x @ W.T + b (one node instead of transpose, matmul and add)."""

from __future__ import annotations

from typing import Any

from engine.function import Function


class Linear(Function):
    """x (..., in) with weight (out, in) and optional bias (out,); PyTorch's layout."""

    def forward(self, x: Any, weight: Any, bias: Any = None) -> Any:
        self.x, self.weight = x, weight
        x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        out = x2 @ weight.T
        if bias is not None:
            out += bias  # out is a fresh array: adding in place saves one allocation
        return out if x.ndim == 2 else out.reshape(x.shape[:-1] + (weight.shape[0],))

    def backward(self, g: Any) -> tuple:
        needs = self.needs_input_grad
        g2 = g if g.ndim == 2 else g.reshape(-1, g.shape[-1])
        # A first layer's input needs no gradient: skip the largest matmul of the backward.
        gx = (g2 @ self.weight).reshape(self.x.shape) if needs[0] else None
        gw = None
        if needs[1]:
            x2 = self.x if self.x.ndim == 2 else self.x.reshape(-1, self.x.shape[-1])
            gw = g2.T @ x2
        gb = g2.sum(axis=0) if len(needs) > 2 and needs[2] else None
        return (gx, gw, gb)[: len(needs)]
