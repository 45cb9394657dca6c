"""Tensor's order statistics (median, kthvalue, mode), unique/bincount/searchsorted, index_add /
index_fill / index_copy, unfold and dim moves: each a line or a few over an op."""

from __future__ import annotations

import builtins
from collections import namedtuple
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import backend
from engine.ops import index as ix
from engine.ops import movement as mv
from engine.ops.util import normalize_axes
from engine.tensor_reduce import _ReturnType

if TYPE_CHECKING:
    from engine.tensor import Tensor


def _named(name: str) -> type:
    base = namedtuple(name.capitalize(), ["values", "indices"])
    return type(name.capitalize(), (_ReturnType, base), {"__slots__": (), "_name": name,
                                                          "__doc__": f"(values, indices) of "
                                                                     f"Tensor.{name}."})


MedianResult, KthvalueResult, ModeResult = _named("median"), _named("kthvalue"), _named("mode")


def _axis(dim: int, ndim: int) -> int:
    axes = normalize_axes(dim, ndim)
    return 0 if axes is None else axes[0]


class SelectOps:
    """Mixin with Tensor's order statistics, counting, index_add/fill/copy, unfold, dim moves."""

    __slots__ = ()

    # ----- order statistics (values carry the gradient through a gather) -----------------
    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False) -> Any:
        """The k-th smallest value along dim (1-based) and its index."""
        axis = _axis(dim, self.ndim)
        size = self.shape[axis] if self.ndim else 1
        if not 1 <= k <= size:
            raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {dim}")
        values, indices = self.sort(dim)
        if self.ndim == 0:
            return KthvalueResult(values, indices)
        values, indices = values.select(axis, k - 1), indices.select(axis, k - 1)
        if keepdim:
            values, indices = values.unsqueeze(axis), indices.unsqueeze(axis)
        return KthvalueResult(values, indices)

    def median(self, dim: int | None = None, keepdim: bool = False) -> Any:
        """The lower median: of all elements (a value), or along dim (values, indices)."""
        if dim is None:
            flat = self.flatten()
            return flat.kthvalue((flat.shape[0] + 1) // 2, 0).values
        size = self.shape[_axis(dim, self.ndim)] if self.ndim else 1
        return MedianResult(*self.kthvalue((size + 1) // 2, dim, keepdim))

    @backend.runs_on_device
    def mode(self, dim: int = -1, keepdim: bool = False) -> Any:
        """The most frequent value along dim (the smallest among equally frequent ones) and the
        index of its last occurrence."""
        if self.ndim == 0:
            values, indices = self.reshape(1).mode(0)
            return ModeResult(values.reshape(()), indices.reshape(()))
        xp = backend.array_module(self._device)
        axis = _axis(dim, self.ndim)
        moved = xp.moveaxis(self._data, axis, -1)
        counts = (moved[..., :, None] == moved[..., None, :]).sum(axis=-1)
        most = counts == counts.max(axis=-1, keepdims=True)
        largest = xp.inf if moved.dtype.kind == "f" else xp.iinfo(moved.dtype).max
        value = xp.where(most, moved, largest).min(axis=-1, keepdims=True)
        last = xp.where(moved == value, xp.arange(moved.shape[-1]), -1).max(axis=-1)
        index = xp.expand_dims(last, axis).astype(np.int64)
        values = ix.Gather.apply(self, index=index, axis=axis)
        if keepdim:
            return ModeResult(values, self._wrap(index))
        return ModeResult(values.squeeze(axis), self._wrap(last.astype(np.int64)))

    # ----- counting and searching (no gradient) ------------------------------------------
    @backend.runs_on_device
    def unique(self, sorted: builtins.bool = True, return_inverse: builtins.bool = False,  # noqa: A002
               return_counts: builtins.bool = False, dim: int | None = None) -> Any:
        """The distinct values (sorted), with the inverse map and counts when asked."""
        if dim is not None:
            raise NotImplementedError("unique(dim=...) is not supported")
        xp = backend.array_module(self._device)
        values, inverse, counts = xp.unique(self._data, return_inverse=True, return_counts=True)
        out = [self._wrap(values)]
        if return_inverse:
            out.append(self._wrap(inverse.reshape(self.shape).astype(np.int64)))
        if return_counts:
            out.append(self._wrap(counts.astype(np.int64)))
        return out[0] if len(out) == 1 else tuple(out)

    @backend.runs_on_device
    def bincount(self, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
        """Counts of each non-negative integer value (weighted sums with weights)."""
        if self.ndim != 1 or self._data.dtype.kind not in "iu":
            raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
        xp = backend.array_module(self._device)
        w = None if weights is None else weights._data
        out = xp.bincount(self._data, weights=w, minlength=minlength)
        dtype = np.int64 if w is None else (w.dtype if w.dtype.kind == "f" else np.float64)
        return self._wrap(out.astype(dtype))

    @backend.runs_on_device
    def searchsorted(self, values: Any, *, right: builtins.bool = False,
                     side: str | None = None) -> Tensor:
        """Indices where values would be inserted into this sorted (last-dim) tensor."""
        xp = backend.array_module(self._device)
        where = side or ("right" if right else "left")
        v = values._data if hasattr(values, "_data") else xp.asarray(values)
        if self.ndim <= 1:
            return self._wrap(xp.searchsorted(self._data, v, side=where).astype(np.int64))
        rows = [xp.searchsorted(s, r, side=where) for s, r in zip(
            self._data.reshape(-1, self.shape[-1]), v.reshape(-1, v.shape[-1]), strict=True)]
        return self._wrap(xp.stack(rows).reshape(v.shape).astype(np.int64))

    # ----- index_add / index_fill / index_copy along one dim -----------------------------
    def _index_along(self, name: str, dim: int, index: Any) -> tuple[int, Any]:
        idx = index._data.reshape(-1)
        if idx.dtype.kind not in "iu":
            raise IndexError(f"{name}(): Expected dtype int64 for index")
        return _axis(dim, self.ndim), idx

    def index_add(self, dim: int, index: Tensor, source: Tensor, *, alpha: float = 1) -> Tensor:
        """A copy with alpha * source[i] added at self[index[i]] along dim (repeats add up)."""
        axis, idx = self._index_along("index_add", dim, index)
        if source.ndim and source.shape[axis] != idx.shape[0]:
            raise RuntimeError(f"index_add_(): Number of indices ({idx.shape[0]}) should be equal "
                               f"to source.size(dim): ({source.shape[axis]}), for dim: {dim}")
        a, s = self._coerce(source)
        return ix.IndexAdd.apply(a, s, index=idx, axis=axis, alpha=alpha)

    def index_fill(self, dim: int, index: Tensor, value: Any) -> Tensor:
        """A copy with the slices at index along dim set to value."""
        axis, idx = self._index_along("index_fill", dim, index)
        fill = value if hasattr(value, "_data") else self._tensor_like(value, self._data.dtype)
        return mv.IndexPut.apply(self, fill.to(self.dtype), index=(slice(None),) * axis + (idx,))

    def index_copy(self, dim: int, index: Tensor, source: Tensor) -> Tensor:
        """A copy with source's slices written at index along dim."""
        axis, idx = self._index_along("index_copy", dim, index)
        return mv.IndexPut.apply(self, source.to(self.dtype),
                                 index=(slice(None),) * axis + (idx,))

    def index_put(self, indices: tuple, values: Any, accumulate: builtins.bool = False) -> Tensor:
        """A copy with self[indices] = values (added instead with accumulate=True)."""
        index = self._convert_index(tuple(indices))
        value = values if hasattr(values, "_data") else self._tensor_like(values,
                                                                          self._data.dtype)
        value = value.to(self.dtype)
        if accumulate:
            return ix.IndexPutAccumulate.apply(self, value, index=index)
        return mv.IndexPut.apply(self, value, index=index)

    # ----- windows and dim moves ---------------------------------------------------------
    def unfold(self, dimension: int, size: int, step: int) -> Tensor:
        """Windows of size elements every step along dimension, as a new last dim."""
        axis = _axis(dimension, self.ndim)
        if size > (self.shape[axis] if self.ndim else 1):
            raise RuntimeError(f"maximum size for tensor at dimension {axis} is "
                               f"{self.shape[axis] if self.ndim else 1} but size is {size}")
        if step <= 0:
            raise RuntimeError(f"step is {step} but must be > 0")
        return ix.Unfold.apply(self, axis=axis, size=size, step=step)

    def movedim(self, source: Any, destination: Any) -> Tensor:
        """Move dims from source positions to destination positions, others keep their order."""
        src = [source] if isinstance(source, builtins.int) else list(source)
        dst = [destination] if isinstance(destination, builtins.int) else list(destination)
        src, dst = [s % self.ndim for s in src], [d % self.ndim for d in dst]
        order = [d for d in range(self.ndim) if d not in src]
        for d, s in sorted(zip(dst, src, strict=True)):
            order.insert(d, s)
        return self.permute(order)

    moveaxis = movedim

    def swapaxes(self, axis0: int, axis1: int) -> Tensor:
        """Swap two dims (transpose)."""
        return self.transpose(axis0, axis1)

    swapdims = swapaxes

    def rot90(self, k: int = 1, dims: Any = (0, 1)) -> Tensor:
        """Rotate by 90 degrees k times in the plane of dims (from the first towards the
        second)."""
        k %= 4
        a, b = dims
        if k == 1:
            return self.flip(b).transpose(a, b)
        if k == 2:
            return self.flip(a, b)
        return self.transpose(a, b).flip(b) if k == 3 else self.clone()
