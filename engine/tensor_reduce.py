"""Tensor's reductions (sum, mean, max/min, arg*, var/std, logsumexp, all/any): one line each
over a primitive op, and the named tuples max(dim) and min(dim) return."""

from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import backend
from engine.ops import reduce as rd
from engine.ops.util import normalize_axes

if TYPE_CHECKING:
    from engine.tensor import Tensor


class _ReturnType:
    """repr as PyTorch's torch.return_types.max(values=..., indices=...)."""

    __slots__ = ()
    _name = ""

    def __repr__(self) -> str:
        fields = ",\n".join(f"{k}={v!r}" for k, v in zip(self._fields, self, strict=True))
        return f"engine.return_types.{self._name}(\n{fields})"


class MaxMin(_ReturnType, namedtuple("MaxMin", ["values", "indices"])):
    """(values, indices) of Tensor.max(dim)."""

    __slots__ = ()
    _name = "max"


class _Min(MaxMin):
    """(values, indices) of Tensor.min(dim)."""

    __slots__ = ()
    _name = "min"


_RETURN_TYPES = {True: MaxMin, False: _Min}


class ReduceOps:
    """Mixin holding Tensor's reductions (TensorOps builds on it)."""

    __slots__ = ()

    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        """Sum over dim (int, tuple or all)."""
        src = self if dtype is None else self.to(dtype)
        if src._data.dtype.kind in "bi" and src._data.dtype != np.int64:
            src = src._cast(np.int64)  # PyTorch sums integers and bools to int64
        return rd.Sum.apply(src, axes=normalize_axes(dim, self.ndim), keepdim=keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Mean over dim (floating tensors only, as in PyTorch)."""
        if self._data.dtype.kind != "f":
            raise RuntimeError(
                "mean(): could not infer output dtype. Input dtype must be either a floating "
                f"point or complex dtype. Got: {self.dtype.name}"
            )
        return rd.Mean.apply(self, axes=normalize_axes(dim, self.ndim), keepdim=keepdim)

    @backend.runs_on_device
    def _extreme(self, dim: Any, keepdim: bool, largest: bool) -> Any:
        if dim is None:
            return rd.AMax.apply(self, axes=None, keepdim=False, largest=largest)
        if self.ndim == 0:  # PyTorch allows dim 0 / -1 here: the value itself and index 0
            normalize_axes(dim, 0)  # range check only
            return self.reshape(1)._extreme(0, False, largest)
        axis = normalize_axes(dim, self.ndim)[0]
        indices = self._data.argmax(axis=axis) if largest else self._data.argmin(axis=axis)
        values = rd.TakeAlongDim.apply(self, indices=indices, axis=axis, keepdim=keepdim)
        if keepdim:
            indices = backend.array_module(self._device).expand_dims(indices, axis)
        return _RETURN_TYPES[largest](
            values, self._wrap(indices.astype(np.int64)))

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Largest value, or (values, indices) along dim; other tensor: elementwise maximum."""
        if hasattr(dim, "data"):
            return self.maximum(dim)
        return self._extreme(dim, keepdim, largest=True)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        """Smallest value, or (values, indices) along dim; other tensor: elementwise minimum."""
        if hasattr(dim, "data"):
            return self.minimum(dim)
        return self._extreme(dim, keepdim, largest=False)

    def amax(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        """Largest values over dims (ties share the gradient)."""
        axes = normalize_axes(dim, self.ndim) if dim != () else None
        return rd.AMax.apply(self, axes=axes, keepdim=keepdim, largest=True)

    def amin(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        """Smallest values over dims (ties share the gradient)."""
        axes = normalize_axes(dim, self.ndim) if dim != () else None
        return rd.AMax.apply(self, axes=axes, keepdim=keepdim, largest=False)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the largest value (flattened when dim is None)."""
        return self._arg(self._data.argmax, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the smallest value (flattened when dim is None)."""
        return self._arg(self._data.argmin, dim, keepdim)

    @backend.runs_on_device
    def _arg(self, fn: Any, dim: int | None, keepdim: bool) -> Tensor:
        if dim is None:
            out = fn()
            out = out.reshape((1,) * self.ndim) if keepdim else out
        else:
            axes = normalize_axes(dim, self.ndim)
            out = fn() if axes is None else fn(axis=axes[0], keepdims=keepdim)
        xp = backend.array_module(self._device)
        return self._wrap(xp.asarray(out, dtype=np.int64))

    def var(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Tensor:
        """Variance with Bessel's correction by default (correction=1)."""
        if correction is None:
            correction = 0 if unbiased is False else 1
        return rd.Var.apply(self._floating(), axes=normalize_axes(dim, self.ndim),
                            correction=correction, keepdim=keepdim)

    def std(self, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
            correction: float | None = None) -> Tensor:
        """Standard deviation: sqrt of var."""
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        """log(sum(exp(self))) over dim, computed stably."""
        return rd.LogSumExp.apply(self._floating(), axes=normalize_axes(dim, self.ndim),
                                  keepdim=keepdim)

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """True when every element (over dim, or all) is non-zero."""
        axes = normalize_axes(dim, self.ndim)
        return self._wrap(self._data.all(axis=axes, keepdims=keepdim))

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """True when some element (over dim, or all) is non-zero."""
        axes = normalize_axes(dim, self.ndim)
        return self._wrap(self._data.any(axis=axes, keepdims=keepdim))
