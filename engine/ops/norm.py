"""Normalisation ops: batch norm (every axis but the channel axis 1) and layer norm (last axes)."""

from __future__ import annotations

from typing import Any

from engine.backend import get_array_module
from engine.function import Function


def stat_axes(ndim: int) -> tuple[int, ...]:
    """Axes batch norm reduces over: all but the channel axis 1."""
    return (0,) + tuple(range(2, ndim))


def channel_shape(ndim: int, channels: int) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector against an (N, C, ...) input."""
    return (1, channels) + (1,) * (ndim - 2)


class BatchNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias with given mean and var.

    training=True: mean and var are the batch's own statistics (biased var), so the backward
    includes their dependence on x. training=False: they are constants (running statistics).
    Inputs: x, then weight and bias when affine.
    """

    def forward(self, x: Any, *affine: Any, mean: Any, var: Any, eps: float,
                training: bool) -> Any:
        xp = get_array_module(x)
        shape = channel_shape(x.ndim, x.shape[1])
        self.inv_std = (1.0 / xp.sqrt(var + eps)).astype(x.dtype, copy=False).reshape(shape)
        self.x_hat = (x - mean.reshape(shape).astype(x.dtype, copy=False)) * self.inv_std
        self.training, self.weight = training, None
        if not affine:
            return self.x_hat
        weight, bias = affine
        self.weight = weight.reshape(shape)
        return self.x_hat * self.weight + bias.reshape(shape)

    def backward(self, g: Any) -> tuple:
        needs = self.needs_input_grad
        axes = stat_axes(g.ndim)
        gx = gw = gb = None
        if len(needs) > 1 and needs[1]:
            gw = (g * self.x_hat).sum(axis=axes)
        if len(needs) > 2 and needs[2]:
            gb = g.sum(axis=axes)
        if needs[0]:
            g_hat = g if self.weight is None else g * self.weight
            scale = self.inv_std
            if self.training:
                # d/dx of the normalisation with batch statistics (mean and var depend on x).
                count = g.size // g.shape[1]
                mean_g = g_hat.sum(axis=axes, keepdims=True) / count
                mean_gx = (g_hat * self.x_hat).sum(axis=axes, keepdims=True) / count
                gx = (g_hat - mean_g - self.x_hat * mean_gx) * scale
            else:
                gx = g_hat * scale
        return (gx, gw, gb)[: len(needs)]


class LayerNorm(Function):
    """y = (x - mean) / sqrt(var + eps) [* weight] [+ bias] over the last `dims` axes.

    Inputs: x, then weight when has_weight, then bias when has_bias (both of the normalised
    shape). Statistics are the biased mean and variance of each row, as PyTorch.
    """

    def forward(self, x: Any, *affine: Any, dims: int, eps: float, has_weight: bool,
                has_bias: bool) -> Any:
        xp = get_array_module(x)
        axes = tuple(range(x.ndim - dims, x.ndim))
        centred = x - x.mean(axis=axes, keepdims=True)
        var = (centred * centred).mean(axis=axes, keepdims=True)
        self.inv_std = (1.0 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
        self.x_hat = centred * self.inv_std
        self.axes, self.lead = axes, tuple(range(x.ndim - dims))
        self.weight = affine[0] if has_weight else None
        self.has_bias = has_bias
        out = self.x_hat if self.weight is None else self.x_hat * self.weight
        return out + affine[-1] if has_bias else out

    def backward(self, g: Any) -> tuple:
        needs = self.needs_input_grad
        grads: list[Any] = [None]
        if self.weight is not None:
            grads.append((g * self.x_hat).sum(axis=self.lead) if needs[1] else None)
        if self.has_bias:
            grads.append(g.sum(axis=self.lead) if needs[-1] else None)
        if needs[0]:
            g_hat = g if self.weight is None else g * self.weight
            mean_g = g_hat.mean(axis=self.axes, keepdims=True)
            mean_gx = (g_hat * self.x_hat).mean(axis=self.axes, keepdims=True)
            grads[0] = (g_hat - mean_g - self.x_hat * mean_gx) * self.inv_std
        return tuple(grads)
