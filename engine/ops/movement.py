"""Shape ops: reshape, permute, expand, indexing, index assignment, cat, stack, pad, flip, roll,
repeat, tril/triu, contiguous."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import backend
from engine.backend import get_array_module
from engine.function import Function
from engine.ops.util import unbroadcast


class Reshape(Function):
    saves_inputs = False
    makes_view = True

    def forward(self, a: Any, shape: tuple[int, ...]) -> Any:
        self.in_shape = a.shape
        return a.reshape(shape)

    def backward(self, g: Any) -> Any:
        return g.reshape(self.in_shape)


class Flatten(Reshape):
    """Reshape merging dims start..end (given in range): its own class so export sees a flatten."""

    _torch_name = "ViewBackward0"

    def forward(self, a: Any, start: int, end: int) -> Any:  # type: ignore[override]
        return super().forward(a, a.shape[:start] + (-1,) + a.shape[end + 1:])


class Permute(Function):
    saves_inputs = False
    makes_view = True

    def forward(self, a: Any, dims: tuple[int, ...]) -> Any:
        self.dims = dims
        return a.transpose(dims)

    def backward(self, g: Any) -> Any:
        inverse = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inverse[d] = i
        return g.transpose(inverse)


class Expand(Function):
    saves_inputs = False
    makes_view = True

    def forward(self, a: Any, shape: tuple[int, ...]) -> Any:
        self.in_shape = a.shape
        return get_array_module(a).broadcast_to(a, shape)

    def backward(self, g: Any) -> Any:
        return unbroadcast(g, self.in_shape)


def _is_advanced(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return any(hasattr(i, "shape") and i.ndim > 0 or isinstance(i, list) for i in items)


class GetItem(Function):
    saves_inputs = False
    makes_view = True

    def forward(self, a: Any, index: Any) -> Any:
        self.in_shape, self.dtype, self.index = a.shape, a.dtype, index
        out = a[index]
        if isinstance(out, np.generic):  # NumPy gives a scalar copy for all-int indices
            out = a[(index if isinstance(index, tuple) else (index,)) + (Ellipsis,)]
        return out

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        grad = xp.zeros(self.in_shape, dtype=g.dtype)
        if _is_advanced(self.index):
            xp.add.at(grad, self.index, g)  # repeated indices must add up
        else:
            grad[self.index] = g
        return grad


class IndexPut(Function):
    """out = a with out[index] = value; backs `tensor[index] = value`."""

    saves_inputs = False

    def forward(self, a: Any, value: Any, index: Any) -> Any:
        self.index, self.value_shape = index, value.shape
        out = a.copy()
        out[index] = value
        return out

    def backward(self, g: Any) -> tuple:
        ga = gv = None
        if self.needs_input_grad[0]:
            ga = g.copy()
            ga[self.index] = 0
        if self.needs_input_grad[1]:
            gv = unbroadcast(g[self.index], self.value_shape)
        return ga, gv


class Cat(Function):
    saves_inputs = False

    def forward(self, *arrays: Any, axis: int) -> Any:
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        return get_array_module(*arrays).concatenate(arrays, axis=axis)

    def backward(self, g: Any) -> tuple:
        grads, start = [], 0
        for size, needed in zip(self.sizes, self.needs_input_grad, strict=True):
            index = [slice(None)] * g.ndim
            index[self.axis] = slice(start, start + size)
            grads.append(g[tuple(index)] if needed else None)
            start += size
        return tuple(grads)


class Stack(Function):
    saves_inputs = False

    def forward(self, *arrays: Any, axis: int) -> Any:
        self.axis = axis
        return get_array_module(*arrays).stack(arrays, axis=axis)

    def backward(self, g: Any) -> tuple:
        xp = get_array_module(g)
        return tuple(
            xp.take(g, i, axis=self.axis) if needed else None
            for i, needed in enumerate(self.needs_input_grad)
        )


class Pad(Function):
    """Constant padding with PyTorch's pad order: (last_left, last_right, prev_left, ...)."""

    saves_inputs = False

    def forward(self, a: Any, pad: tuple[int, ...], value: float) -> Any:
        widths = [(0, 0)] * a.ndim
        for i in range(len(pad) // 2):
            widths[a.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
        xp = get_array_module(a)
        # negative pads crop, as in PyTorch
        crop = tuple(
            slice(-lo if lo < 0 else 0, size + hi if hi < 0 else size)
            for (lo, hi), size in zip(widths, a.shape, strict=True)
        )
        cropped = a[crop]
        positive = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
        self.in_shape, self.crop = a.shape, crop
        self.inner = tuple(
            slice(lo, lo + n) for (lo, _), n in zip(positive, cropped.shape, strict=True)
        )
        return xp.pad(cropped, positive, mode="constant", constant_values=value)

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        grad = xp.zeros(self.in_shape, dtype=g.dtype)
        grad[self.crop] = g[self.inner]
        return grad


class ToDevice(Function):
    """Copy between CPU and GPU; the gradient travels back to the source device."""

    saves_inputs = False

    def forward(self, a: Any, device: str) -> Any:
        self.source = backend.device_of(a)
        return backend.to_device(a, device)

    def backward(self, g: Any) -> Any:
        return backend.to_device(g, self.source)


class Flip(Function):
    saves_inputs = False

    def forward(self, a: Any, axes: tuple[int, ...]) -> Any:
        self.axes = axes
        return get_array_module(a).flip(a, axis=axes).copy()  # PyTorch's flip copies

    def backward(self, g: Any) -> Any:
        return get_array_module(g).flip(g, axis=self.axes)


class Roll(Function):
    saves_inputs = False

    def forward(self, a: Any, shifts: Any, axes: Any) -> Any:
        self.shifts, self.axes = shifts, axes
        return get_array_module(a).roll(a, shifts, axis=axes)

    def backward(self, g: Any) -> Any:
        back = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return get_array_module(g).roll(g, back, axis=self.axes)


class Repeat(Function):
    """Tile a (leading dims added as needed) `repeats` times along each dim."""

    saves_inputs = False

    def forward(self, a: Any, repeats: tuple[int, ...]) -> Any:
        self.in_shape = (1,) * (len(repeats) - a.ndim) + a.shape
        self.repeats, self.orig_shape = repeats, a.shape
        return get_array_module(a).tile(a.reshape(self.in_shape), repeats)

    def backward(self, g: Any) -> Any:
        # Interleave (repeat, size) pairs so each copy sums onto the one input element.
        split = []
        for r, s in zip(self.repeats, self.in_shape, strict=True):
            split += [r, s]
        summed = g.reshape(split).sum(axis=tuple(range(0, 2 * len(self.repeats), 2)))
        return summed.reshape(self.orig_shape)


class Triangle(Function):
    """tril / triu over the last two dims, keeping the diagonal offset `diagonal`."""

    saves_inputs = False

    def forward(self, a: Any, upper: bool, diagonal: int) -> Any:
        self.upper, self.diagonal = upper, diagonal
        xp = get_array_module(a)
        return (xp.triu if upper else xp.tril)(a, diagonal)

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        return (xp.triu if self.upper else xp.tril)(g, self.diagonal)


class Contiguous(Function):
    """A C-contiguous copy; the gradient passes through."""

    saves_inputs = False

    def forward(self, a: Any) -> Any:
        return a.copy(order="C")  # (ascontiguousarray would turn a 0-d array into 1-d)

    def backward(self, g: Any) -> Any:
        return g


class Diagonal(Function):
    """The diagonal (offset above the main one) of the (dim1, dim2) planes, as the last dim."""

    saves_inputs = False

    def forward(self, a: Any, offset: int, dim1: int, dim2: int) -> Any:
        self.in_shape, self.offset, self.dims = a.shape, offset, (dim1, dim2)
        xp = get_array_module(a)
        return xp.diagonal(a, offset, dim1, dim2).copy()  # NumPy's view is read-only

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        grad = xp.zeros(self.in_shape, dtype=g.dtype)
        planes = xp.moveaxis(grad, self.dims, (-2, -1))  # a view: writes land in grad
        steps = xp.arange(g.shape[-1])
        planes[..., steps + max(-self.offset, 0), steps + max(self.offset, 0)] = g
        return grad
