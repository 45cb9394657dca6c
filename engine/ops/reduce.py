"""Reductions: sum, mean, amax/amin, gather along a dim (max/min with dim), var, logsumexp, norm."""

from __future__ import annotations

from typing import Any

from engine import backend
from engine.backend import get_array_module
from engine.function import Function
from engine.ops.util import expand_reduced


class Sum(Function):
    saves_inputs = False

    def forward(self, a: Any, axes: tuple[int, ...] | None, keepdim: bool) -> Any:
        self.in_shape, self.axes, self.keepdim = a.shape, axes, keepdim
        return a.sum(axis=axes, keepdims=keepdim)

    def backward(self, g: Any) -> Any:
        return _spread(expand_reduced(g, self.in_shape, self.axes, self.keepdim), self.in_shape)


class Mean(Function):
    saves_inputs = False

    def forward(self, a: Any, axes: tuple[int, ...] | None, keepdim: bool) -> Any:
        self.in_shape, self.axes, self.keepdim = a.shape, axes, keepdim
        self.count = max(1, a.size // max(1, _kept_size(a.shape, axes)))
        return a.mean(axis=axes, keepdims=keepdim)

    def backward(self, g: Any) -> Any:
        g = expand_reduced(g, self.in_shape, self.axes, self.keepdim) / g.dtype.type(self.count)
        return _spread(g, self.in_shape)


def _spread(g: Any, shape: tuple[int, ...]) -> Any:
    """g broadcast to shape as a fresh array (broadcast_to is slow, and its view needs a copy)."""
    out = get_array_module(g).empty(shape, dtype=g.dtype)
    out[...] = g
    return out


def _kept_size(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> int:
    """Number of elements left after reducing over axes (1 for a full reduction)."""
    if axes is None:
        return 1
    size = 1
    for i, s in enumerate(shape):
        if i not in axes:
            size *= s
    return size


def _drop_reduced(out: Any, axes: tuple[int, ...] | None, keepdim: bool) -> Any:
    """A result reduced with keepdims=True, without the reduced dims unless keepdim."""
    if keepdim:
        return out
    return out.reshape(()) if axes is None else out.squeeze(axis=axes)


class AMax(Function):
    """amax / amin and full max(): the gradient is shared evenly between tied extrema."""

    saves_inputs = False

    def forward(self, a: Any, axes: tuple[int, ...] | None, keepdim: bool, largest: bool) -> Any:
        out = a.max(axis=axes, keepdims=True) if largest else a.min(axis=axes, keepdims=True)
        self.mask = a == out
        self.in_shape, self.axes, self.keepdim = a.shape, axes, keepdim
        return _drop_reduced(out, axes, keepdim)

    def backward(self, g: Any) -> Any:
        g = expand_reduced(g, self.in_shape, self.axes, self.keepdim)
        count = self.mask.sum(axis=self.axes, keepdims=True)
        return g * self.mask / count.astype(g.dtype)


class TakeAlongDim(Function):
    """Values picked at given indices along one axis (max/min with dim); grad goes back there."""

    saves_inputs = False

    def forward(self, a: Any, indices: Any, axis: int, keepdim: bool) -> Any:
        xp = get_array_module(a)
        self.in_shape, self.axis, self.keepdim = a.shape, axis, keepdim
        self.indices = xp.expand_dims(indices, axis)
        out = xp.take_along_axis(a, self.indices, axis=axis)
        return out if keepdim else out.squeeze(axis=axis)

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        grad = xp.zeros(self.in_shape, dtype=g.dtype)
        g = g if self.keepdim else xp.expand_dims(g, self.axis)
        xp.put_along_axis(grad, self.indices, g, axis=self.axis)
        return grad


class Var(Function):
    def forward(self, a: Any, axes: tuple[int, ...] | None, correction: float,
                keepdim: bool) -> Any:
        self.a, self.axes, self.keepdim = a, axes, keepdim
        self.mean = a.mean(axis=axes, keepdims=True)
        n = a.size // max(1, _kept_size(a.shape, axes))
        self.denominator = max(n - correction, 0)
        centered = a - self.mean
        total = (centered * centered).sum(axis=axes, keepdims=keepdim)
        xp = get_array_module(a)
        with backend.errstate(xp, divide="ignore", invalid="ignore"):
            return (total / a.dtype.type(self.denominator)).astype(a.dtype, copy=False)

    def backward(self, g: Any) -> Any:
        g = expand_reduced(g, self.a.shape, self.axes, self.keepdim)
        return g * (2 * (self.a - self.mean) / self.a.dtype.type(self.denominator))


class LogSumExp(Function):
    saves_inputs = False

    def forward(self, a: Any, axes: tuple[int, ...] | None, keepdim: bool) -> Any:
        xp = get_array_module(a)
        self.in_shape, self.axes, self.keepdim = a.shape, axes, keepdim
        peak = a.max(axis=axes, keepdims=True)
        peak = xp.where(xp.isfinite(peak), peak, 0)  # all -inf rows give -inf, not nan
        shifted = xp.exp(a - peak)
        total = shifted.sum(axis=axes, keepdims=True)
        self.softmax = shifted / total
        return _drop_reduced(xp.log(total) + peak, axes, keepdim)

    def backward(self, g: Any) -> Any:
        return expand_reduced(g, self.in_shape, self.axes, self.keepdim) * self.softmax


class VectorNorm(Function):
    """(sum |a|^p)^(1/p) over axes for a finite p other than 0; the gradient is 0 at a zero norm
    (PyTorch's subgradient), not the NaN a composition of pow and sqrt would give."""

    def forward(self, a: Any, p: float, axes: tuple[int, ...] | None, keepdim: bool) -> Any:
        xp = get_array_module(a)
        self.a, self.p, self.axes, self.keepdim = a, p, axes, keepdim
        magnitude = xp.abs(a)
        if p == 2:
            norm = xp.sqrt((a * a).sum(axis=axes, keepdims=True))
        elif p == 1:
            norm = magnitude.sum(axis=axes, keepdims=True)
        else:
            norm = (magnitude ** p).sum(axis=axes, keepdims=True) ** (1.0 / p)
        self.norm = norm.astype(a.dtype, copy=False)
        return _drop_reduced(self.norm, axes, keepdim)

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        a, p, norm = self.a, self.p, self.norm
        g = expand_reduced(g, a.shape, self.axes, self.keepdim)
        if p == 1:
            return g * xp.sign(a)
        with backend.errstate(xp, divide="ignore", invalid="ignore"):
            if p == 2:
                scale = a / norm
            else:  # d/da_i = sign(a_i) |a_i|^(p-1) / norm^(p-1)
                scale = xp.sign(a) * (xp.abs(a) / norm) ** (p - 1)
        return g * xp.where(norm == 0, 0, scale).astype(g.dtype, copy=False)


class Prod(Function):
    """Product over axes; d/da_i is the product of the other elements (exact with zeros too)."""

    def forward(self, a: Any, axes: tuple[int, ...] | None, keepdim: bool) -> Any:
        self.a, self.axes, self.keepdim = a, axes, keepdim
        return a.prod(axis=axes, keepdims=keepdim)

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        a = self.a
        axes = tuple(range(a.ndim)) if self.axes is None else self.axes
        kept = [d for d in range(a.ndim) if d not in axes]
        # Reduced dims last, flattened into one: products of all-but-one along that dim come from
        # the running products before (left) and after (right) each element.
        moved = xp.transpose(a, kept + list(axes))
        flat = moved.reshape(moved.shape[:len(kept)] + (-1,))
        ones = xp.ones(flat.shape[:-1] + (1,), dtype=a.dtype)
        left = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        right = xp.flip(xp.cumprod(xp.flip(xp.concatenate([flat[..., 1:], ones], axis=-1),
                                           axis=-1), axis=-1), axis=-1)
        others = (left * right).reshape(moved.shape)
        inverse = [0] * a.ndim
        for i, d in enumerate(kept + list(axes)):
            inverse[d] = i
        others = xp.transpose(others, inverse)
        return expand_reduced(g, a.shape, self.axes, self.keepdim) * others
