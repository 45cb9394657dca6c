"""Tensor methods that PyTorch programs reach for which are other names for, or thin forms of,
existing ones (nelement, absolute, fmod, nansum, tile, squeeze_, ...)."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from engine import backend
from engine.tensor_inplace import mark_written

if TYPE_CHECKING:
    from engine.tensor import Tensor


class AliasOps:
    """Mixin: PyTorch's aliases and conveniences, each one line over an existing method."""

    __slots__ = ()

    def nelement(self) -> int:
        """Number of elements (PyTorch's alias of numel)."""
        return self.numel()

    def ndimension(self) -> int:
        """Number of dimensions (PyTorch's alias of dim)."""
        return self.dim()

    def absolute(self) -> Tensor:
        """Alias of abs."""
        return self.abs()

    def fmod(self, other: Any) -> Tensor:
        """C-style remainder: self - trunc(self / other) * other (sign of self)."""
        a, b = self._coerce(other)
        if a._data.dtype.kind == "f":
            return a - (a / b).trunc() * b
        return a - a.div(b, rounding_mode="trunc") * b

    def nansum(self, dim: Any = None, keepdim: builtins.bool = False) -> Tensor:
        """Sum that treats NaN as zero."""
        return self.nan_to_num(0.0, posinf=float("inf"), neginf=float("-inf")).sum(dim, keepdim)

    def nanmean(self, dim: Any = None, keepdim: builtins.bool = False) -> Tensor:
        """Mean over the values that are not NaN."""
        return self.nansum(dim, keepdim) / (~self.isnan()).sum(dim, keepdim)

    def tile(self, *dims: Any) -> Tensor:
        """Repeat along each dim; fewer dims than self.ndim are padded with ones at the front."""
        reps = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], tuple | list) else dims
        reps = (1,) * (self.ndim - len(reps)) + tuple(reps)
        return self.repeat(*reps)

    def allclose(self, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
                 equal_nan: builtins.bool = False) -> builtins.bool:
        """True when every element is close to other's."""
        return builtins.bool(self.isclose(other, rtol=rtol, atol=atol, equal_nan=equal_nan).all())

    def pin_memory(self, device: Any = None) -> Tensor:
        """A copy in page-locked host memory (self when already pinned, or without a GPU)."""
        if self._device != "cpu":
            raise RuntimeError(f"cannot pin '{self.type()}' only dense CPU tensors can be pinned")
        if not backend.cuda_available() or backend.is_pinned(self._data):
            return self
        return self._wrap(backend.pinned_copy(self._data))

    def is_pinned(self, device: Any = None) -> builtins.bool:
        """True when the values live in page-locked host memory."""
        return backend.is_pinned(self._data)

    def detach_(self) -> Tensor:
        """Cut self from the graph in place (it becomes a leaf that does not require grad)."""
        self.grad_fn = None
        self.requires_grad = False
        return self

    def squeeze_(self, dim: Any = None) -> Tensor:
        """Squeeze in place: self takes the squeezed shape (a view of the same memory)."""
        return self._reshape_in_place(self.squeeze(dim))

    def unsqueeze_(self, dim: int) -> Tensor:
        """Unsqueeze in place: self takes the new shape (a view of the same memory)."""
        return self._reshape_in_place(self.unsqueeze(dim))

    def _reshape_in_place(self, shaped: Tensor) -> Tensor:
        if self.requires_grad:
            raise RuntimeError("in-place shape changes of a tensor that requires grad are not "
                               "supported here: use the out-of-place form (x = x.squeeze())")
        self._data = shaped._data
        mark_written(self)  # PyTorch counts a shape change in place as a write
        return self
