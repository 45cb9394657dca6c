"""Tensor's reductions, shape and indexing methods: one line each over a primitive op."""

from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import backend, dtypes
from engine.ops import movement as mv
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


def _shape_arg(shape: tuple) -> tuple[int, ...]:
    """Accept f(2, 3) and f((2, 3)) as PyTorch does."""
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        return tuple(shape[0])
    return tuple(int(s) for s in shape)


class ShapeOps:
    """Mixin holding Tensor's reductions and shape methods (TensorOps builds on it)."""

    __slots__ = ()

    # ----- reductions -------------------------------------------------------------------
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

    # ----- shape ------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        """Same data in a new shape (one dim may be -1)."""
        return mv.Reshape.apply(self, shape=_shape_arg(shape))

    def view(self, *shape: Any) -> Tensor:
        """Same as reshape (arrays here are never required to be contiguous)."""
        if len(shape) == 1 and isinstance(shape[0], dtypes.dtype):
            raise NotImplementedError("view(dtype) is not supported")
        return mv.Reshape.apply(self, shape=_shape_arg(shape))

    def view_as(self, other: Tensor) -> Tensor:
        """Reshape to other's shape."""
        return self.reshape(other.shape)

    reshape_as = view_as

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge dims start_dim..end_dim into one."""
        if self.ndim == 0:
            return self.reshape(1)
        return mv.Flatten.apply(self, start=start_dim % self.ndim, end=end_dim % self.ndim)

    def unflatten(self, dim: int, sizes: tuple[int, ...]) -> Tensor:
        """Split one dim into sizes."""
        dim = dim % self.ndim
        return self.reshape(self.shape[:dim] + tuple(sizes) + self.shape[dim + 1:])

    def permute(self, *dims: Any) -> Tensor:
        """Reorder dims."""
        dims = _shape_arg(dims)
        return mv.Permute.apply(self, dims=tuple(d % self.ndim for d in dims))

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap two dims."""
        if self.ndim == 0:
            return self
        order = list(range(self.ndim))
        order[dim0], order[dim1] = order[dim1], order[dim0]
        return mv.Permute.apply(self, dims=tuple(order))

    def t(self) -> Tensor:
        """Transpose a matrix (1-D and 0-D tensors unchanged)."""
        return self if self.ndim < 2 else self.transpose(0, 1)

    @property
    def T(self) -> Tensor:  # noqa: N802 - PyTorch's name
        """All dims reversed."""
        return mv.Permute.apply(self, dims=tuple(reversed(range(self.ndim))))

    @property
    def mT(self) -> Tensor:  # noqa: N802 - PyTorch's name
        """Last two dims swapped."""
        return self.transpose(-2, -1)

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert a size-1 dim."""
        dim = dim if dim >= 0 else dim + self.ndim + 1
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim: Any = None) -> Tensor:
        """Remove size-1 dims (all, or those named)."""
        axes = range(self.ndim) if dim is None else normalize_axes(dim, self.ndim) or ()
        drop = {a for a in axes if self.ndim and self.shape[a] == 1}
        return self.reshape(tuple(s for i, s in enumerate(self.shape) if i not in drop))

    def expand(self, *sizes: Any) -> Tensor:
        """Broadcast to a larger shape without copying (-1 keeps a dim)."""
        sizes = _shape_arg(sizes)
        lead = len(sizes) - self.ndim
        shape = tuple(self.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
        return mv.Expand.apply(self, shape=shape)

    def expand_as(self, other: Tensor) -> Tensor:
        """Broadcast to other's shape."""
        return self.expand(other.shape)

    def _convert_index(self, index: Any) -> Any:
        from engine.tensor import Tensor

        items = index if isinstance(index, tuple) else (index,)
        converted = tuple(
            i._data if isinstance(i, Tensor) else (np.asarray(i) if isinstance(i, list) else i)
            for i in items
        )
        return converted if isinstance(index, tuple) else converted[0]

    def __getitem__(self, index: Any) -> Tensor:
        return mv.GetItem.apply(self, index=self._convert_index(index))

    def __iter__(self) -> Any:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def masked_fill(self, mask: Tensor, value: float) -> Tensor:
        """Values replaced by value where mask is True."""
        from engine.creation import where

        return where(mask, self._tensor_like(value, self._data.dtype), self)

    def type_as(self, other: Tensor) -> Tensor:
        """Cast to other's dtype."""
        return self.to(other.dtype)
