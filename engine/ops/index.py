"""Index ops along one dim: gather, scatter (a tensor or a value, optional reduce), scatter_add."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.backend import get_array_module
from engine.function import Function
from engine.ops.scatter_at import scatter_at
from engine.ops.util import unbroadcast


def index_grid(index: Any, axis: int) -> tuple:
    """The advanced index that addresses, for every element of index, the position whose
    coordinate along axis is that element and whose other coordinates are the element's own."""
    xp = get_array_module(index)
    grid = []
    for d, size in enumerate(index.shape):
        if d == axis:
            grid.append(index)
        else:
            shape = [1] * index.ndim
            shape[d] = size
            grid.append(xp.arange(size).reshape(shape))
    return tuple(grid)


def check_index(name: str, a_shape: tuple, index: Any, axis: int, src_shape: tuple = ()) -> None:
    """PyTorch's checks: same number of dims, index no larger than input (and src) elsewhere,
    and every index inside the dim. That last one is made on the CPU only: on a GPU it would
    read the index back each call, so an out-of-range index is not checked there (its result is
    undefined, as the losses' class indices)."""
    if index.dtype.kind not in "iu":
        raise RuntimeError(f"{name}(): Expected dtype int64 for index")
    if index.ndim != len(a_shape) and not (index.ndim <= 1 and len(a_shape) <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for d, size in enumerate(index.shape):
        if d != axis and size > a_shape[d]:
            raise RuntimeError(f"Size does not match at dimension {d} expected index "
                               f"{list(index.shape)} to be smaller than self {list(a_shape)} "
                               f"apart from dimension {axis}")
        if src_shape and size > src_shape[d]:
            raise RuntimeError(f"Expected index {list(index.shape)} to be smaller than self "
                               f"{list(a_shape)} apart from dimension {axis} and to be smaller "
                               f"size than src {list(src_shape)}")
    if index.size and type(index) is np.ndarray:
        low, high = int(index.min()), int(index.max())
        if low < 0 or high >= a_shape[axis]:  # no wrap-around of negative indices here
            raise RuntimeError(f"index {low if low < 0 else high} is out of bounds for "
                               f"dimension {axis} with size {a_shape[axis]}")


def _leading(src: Any, shape: tuple) -> Any:
    """The leading block of src with the given shape (PyTorch reads src only where index is)."""
    return src[tuple(slice(0, s) for s in shape)]


class Gather(Function):
    """out[i][j] = a[index[i][j]][j] for dim 0 (and likewise for other dims)."""

    saves_inputs = False

    def forward(self, a: Any, index: Any, axis: int) -> Any:
        self.in_shape, self.grid = a.shape, index_grid(index, axis)
        return a[self.grid]

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        grad = xp.zeros(self.in_shape, dtype=g.dtype)
        xp.add.at(grad, self.grid, g)  # an index repeated along the dim adds up
        return grad


class Scatter(Function):
    """a with a[index[i][j]][j] = src[i][j] (dim 0); reduce 'add' / 'multiply' combines instead.

    src is a tensor input or, when value is given, a Python number."""

    def forward(self, a: Any, *src: Any, index: Any, axis: int, value: Any = None,
                reduce: str | None = None) -> Any:
        xp = get_array_module(a)
        self.grid, self.index_shape, self.reduce = index_grid(index, axis), index.shape, reduce
        values = a.dtype.type(value) if not src else _leading(src[0], index.shape)
        out = a.copy()
        if reduce is None:
            out[self.grid] = values
        elif reduce in ("add", "multiply"):
            scatter_at(reduce, out, self.grid, xp.broadcast_to(values, index.shape))
        else:
            raise RuntimeError(f"reduce argument must be either add or multiply. Got {reduce}")
        self.a, self.src = a, (src[0] if src else None)
        return out

    def backward(self, g: Any) -> tuple:
        xp = get_array_module(g)
        if self.reduce == "multiply":
            raise RuntimeError("the derivative of scatter with reduce='multiply' is not "
                               "implemented")
        ga = gsrc = None
        if self.needs_input_grad[0]:
            ga = g.copy()
            if self.reduce is None:
                ga[self.grid] = 0  # overwritten positions took nothing from the input
        if len(self.needs_input_grad) > 1 and self.needs_input_grad[1]:
            gsrc = xp.zeros(self.src.shape, dtype=g.dtype)
            gsrc[tuple(slice(0, s) for s in self.index_shape)] = g[self.grid]
        return (ga, gsrc) if self.src is not None else ga


def sort_indices(a: Any, axis: int, descending: bool, stable: bool = True) -> Any:
    """argsort along axis, ties in input order; NaN sorts as the largest value (as in PyTorch)."""
    xp = get_array_module(a)
    if not descending:
        return xp.argsort(a, axis=axis, kind="stable")
    # Descending and still stable: sort the reversed array ascending, reverse the result, and
    # map positions back (negating would break for unsigned and bool arrays).
    order = xp.argsort(xp.flip(a, axis=axis), axis=axis, kind="stable")
    return (a.shape[axis] - 1) - xp.flip(order, axis=axis)


class IndexAdd(Function):
    """a with alpha * source added at positions index along axis (repeats add up)."""

    saves_inputs = False

    def forward(self, a: Any, source: Any, index: Any, axis: int, alpha: float) -> Any:
        xp = get_array_module(a)
        self.index, self.axis, self.alpha = index, axis, alpha
        out = a.copy()
        moved = xp.moveaxis(out, axis, 0)  # a view: add.at writes into out
        values = xp.moveaxis(source, axis, 0)
        scatter_at("add", moved, index,
                   values if alpha == 1 else values * a.dtype.type(alpha))
        return out

    def backward(self, g: Any) -> tuple:
        xp = get_array_module(g)
        gsrc = None
        if self.needs_input_grad[1]:
            gsrc = xp.take(g, self.index, axis=self.axis)
            gsrc = gsrc if self.alpha == 1 else gsrc * g.dtype.type(self.alpha)
        return (g if self.needs_input_grad[0] else None), gsrc


class Unfold(Function):
    """Windows of `size` elements every `step` along axis, as a new last dim (Tensor.unfold)."""

    saves_inputs = False

    def forward(self, a: Any, axis: int, size: int, step: int) -> Any:
        xp = get_array_module(a)
        self.in_shape, self.axis, self.size, self.step = a.shape, axis, size, step
        count = (a.shape[axis] - size) // step + 1
        self.starts = xp.arange(count) * step
        positions = self.starts[:, None] + xp.arange(size)[None, :]  # (count, size)
        windows = xp.take(a, positions, axis=axis)  # axis becomes (count, size)
        return xp.moveaxis(windows, axis + 1, -1)

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        grad = xp.zeros(self.in_shape, dtype=g.dtype)
        positions = self.starts[:, None] + xp.arange(self.size)[None, :]
        windows = xp.moveaxis(g, -1, self.axis + 1)  # (..., count, size, ...)
        moved = xp.moveaxis(grad, self.axis, 0)
        # overlapping windows share elements: their gradients add up
        xp.add.at(moved, positions, xp.moveaxis(windows, (self.axis, self.axis + 1), (0, 1)))
        return grad


class IndexPutAccumulate(Function):
    """a with value added at a[index] (an advanced index; repeated positions add up)."""

    saves_inputs = False

    def forward(self, a: Any, value: Any, index: Any) -> Any:
        xp = get_array_module(a)
        self.index, self.value_shape = index, value.shape
        out = a.copy()
        target_shape = out[index].shape
        scatter_at("add", out, index, xp.broadcast_to(value, target_shape))
        return out

    def backward(self, g: Any) -> tuple:
        gv = unbroadcast(g[self.index], self.value_shape) if self.needs_input_grad[1] else None
        return (g if self.needs_input_grad[0] else None), gv


class ScatterReduce(Function):
    """Tensor.scatter_reduce: src combined into a at index along axis by sum, prod, mean, amax or
    amin, with or without a's own values (include_self)."""

    def forward(self, a: Any, src: Any, index: Any, axis: int, reduce: str,
                include_self: bool) -> Any:
        xp = get_array_module(a)
        grid = index_grid(index, axis)
        values = _leading(src, index.shape)
        hit = xp.zeros(a.shape, dtype=bool)
        hit[grid] = True
        self.grid, self.hit, self.reduce, self.include_self = grid, hit, reduce, include_self
        self.index_shape = index.shape
        self.a, self.src = a, src
        out = a.copy()
        if not include_self:  # start from the reduction's identity where src lands
            identity = {"sum": 0, "mean": 0, "prod": 1,
                        "amax": -xp.inf if a.dtype.kind == "f" else xp.iinfo(a.dtype).min,
                        "amin": xp.inf if a.dtype.kind == "f" else xp.iinfo(a.dtype).max}[reduce]
            out[hit] = identity
        ufunc = {"sum": "add", "mean": "add", "prod": "multiply", "amax": "maximum",
                 "amin": "minimum"}[reduce]
        scatter_at(ufunc, out, grid, values)
        if reduce == "mean":
            self.count = xp.ones(a.shape, dtype=a.dtype) if include_self else xp.zeros(
                a.shape, dtype=a.dtype)
            scatter_at("add", self.count, grid, 1)
            self.count = xp.maximum(self.count, 1)
            out = out / self.count if a.dtype.kind == "f" else out // self.count.astype(a.dtype)
        self.out = out
        return out

    def backward(self, g: Any) -> tuple:
        xp = get_array_module(g)
        reduce, grid, hit = self.reduce, self.grid, self.hit
        if reduce == "prod":
            raise NotImplementedError("scatter_reduce(reduce='prod') has no gradient here")
        own = ~hit if not self.include_self else xp.ones(hit.shape, dtype=bool)
        if reduce in ("sum", "mean"):
            scaled = g / self.count if reduce == "mean" else g
            ga, per_src = xp.where(own, scaled, 0), scaled[grid]
        else:  # the gradient is shared evenly between every value equal to the extreme
            values = _leading(self.src, self.index_shape)
            self_wins = own & (self.a == self.out)
            src_wins = values == self.out[grid]
            count = self_wins.astype(g.dtype)
            xp.add.at(count, grid, src_wins.astype(g.dtype))
            share = g / xp.maximum(count, 1)
            ga, per_src = xp.where(self_wins, share, 0), xp.where(src_wins, share[grid], 0)
        gsrc = None
        if self.needs_input_grad[1]:
            gsrc = xp.zeros(self.src.shape, dtype=g.dtype)
            gsrc[tuple(slice(0, s) for s in per_src.shape)] = per_src
        return (ga.astype(g.dtype, copy=False) if self.needs_input_grad[0] else None), gsrc
