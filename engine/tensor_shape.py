"""Tensor's shape and indexing methods: one line each over a primitive op."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from engine import backend, dtypes
from engine.ops import movement as mv
from engine.ops.util import normalize_axes

if TYPE_CHECKING:
    from engine.tensor import Tensor


def _shape_arg(shape: tuple) -> tuple[int, ...]:
    """Accept f(2, 3) and f((2, 3)) as PyTorch does."""
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        return tuple(shape[0])
    return tuple(int(s) for s in shape)


class ShapeOps:
    """Mixin holding Tensor's shape methods (TensorOps builds on it)."""

    __slots__ = ()

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
        from engine.tensor import Tensor  # cycle: Tensor is built from this mixin

        items = index if isinstance(index, tuple) else (index,)
        converted = tuple(
            self._index_on_device(i) if isinstance(i, Tensor)
            else (np.asarray(i) if isinstance(i, list) else i)
            for i in items
        )
        return converted if isinstance(index, tuple) else converted[0]

    def _index_on_device(self, index: Any) -> Any:
        """An index tensor's array on self's device: PyTorch takes host indices for a GPU
        tensor (copied over) but refuses an index on any other GPU."""
        if index._device == self._device:
            return index._data
        if index._device != "cpu":
            raise RuntimeError("indices should be either on cpu or on the same device as the "
                               f"indexed tensor ({self._device})")
        return backend.to_device(index._data, self._device)

    def __getitem__(self, index: Any) -> Tensor:
        return mv.GetItem.apply(self, index=self._convert_index(index))

    def __iter__(self) -> Any:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def masked_fill(self, mask: Tensor, value: float) -> Tensor:
        """Values replaced by value where mask is True."""
        from engine.creation import where  # cycle: creation imports tensor

        return where(mask, self._tensor_like(value, self._data.dtype), self)

    def type_as(self, other: Tensor) -> Tensor:
        """Cast to other's dtype."""
        return self.to(other.dtype)
