"""Fused affine map y = x @ W.T + b (one node instead of transpose, matmul and add), and the
same followed by a ReLU."""

from __future__ import annotations

from typing import Any

from engine.function import Function
from engine.ops.elementwise import relu_mask, relu_values
from engine.ops.util import records_any_grad


class Linear(Function):
    """x (..., in) with weight (out, in) and optional bias (out,); PyTorch's layout."""

    saved_input_count = 2  # x and weight; the bias gradient needs only g

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


class LinearRelu(Linear):
    """relu(x @ W.T + b) as one node, for Sequential's Linear, ReLU pairs: the values and
    gradients of the two ops (the same NumPy passes in the same order), one node and one tensor
    fewer, and the ReLU applied in place to the fresh GEMM output."""

    _torch_name = "ReluBackward0"  # the node PyTorch's graph ends in

    def forward(self, x: Any, weight: Any, bias: Any = None) -> Any:
        out = super().forward(x, weight, bias)
        relu_values(out, out)  # in place: the GEMM's output is fresh
        # Relu's mask, where backward can run; a bare forward call (the export runner's) has no
        # needs_input_grad
        if records_any_grad(self):
            self.mask = relu_mask(out)
        return out

    def backward(self, g: Any) -> tuple:
        return super().backward(g * self.mask)
