"""Tensor's tests and logic (isnan, logical_and, isclose, bitwise ops), prod, diagonals,
repeat_interleave, memory layout (is_contiguous, stride) and the new_* factories."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import backend, dtypes
from engine import memory_format as mf
from engine.ops import movement as mv
from engine.ops import reduce as rd
from engine.ops.util import normalize_axes

if TYPE_CHECKING:
    from engine.tensor import Tensor


class LogicOps:
    """Mixin with Tensor's elementwise tests, logical ops, prod, diagonals and new_* factories."""

    __slots__ = ()

    # ----- elementwise tests (bool results, no gradient) ---------------------------------
    def _bool(self, array: Any) -> Tensor:
        return self._wrap(array)

    def isnan(self) -> Tensor:
        """True where the value is NaN."""
        return self._bool(self._data != self._data)

    def isinf(self) -> Tensor:
        """True where the value is +inf or -inf."""
        return self._bool(backend.array_module(self._device).isinf(self._data))

    def isposinf(self) -> Tensor:
        """True where the value is +inf."""
        return self._bool(self.isinf()._data & (self._data > 0))

    def isneginf(self) -> Tensor:
        """True where the value is -inf."""
        return self._bool(self.isinf()._data & (self._data < 0))

    def isfinite(self) -> Tensor:
        """True where the value is neither inf nor NaN."""
        return self._bool(backend.array_module(self._device).isfinite(self._data))

    def isclose(self, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
                equal_nan: bool = False) -> Tensor:
        """|self - other| <= atol + rtol * |other|, elementwise."""
        a, b = self._coerce(other)
        xp = backend.array_module(self._device)
        return self._bool(xp.isclose(a._data, b._data, rtol=rtol, atol=atol, equal_nan=equal_nan))

    def equal(self, other: Tensor) -> builtins.bool:
        """True when both have the same shape and elements."""
        return self.shape == other.shape and builtins.bool((self._data == other._data).all())

    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None,
                   neginf: float | None = None) -> Tensor:
        """NaN, +inf and -inf replaced (by 0 and the dtype's largest / smallest value by default);
        the gradient flows only where the value was finite."""
        from engine.creation import where  # cycle: creation imports tensor

        xp = backend.array_module(self._device)
        replaced = xp.nan_to_num(self._data, nan=nan, posinf=posinf, neginf=neginf)
        if self._data.dtype.kind != "f":
            return self._wrap(replaced.copy())
        return where(self.isfinite(), self, self._wrap(replaced))

    def _logical(self, other: Any, op: str) -> Tensor:
        xp = backend.array_module(self._device)
        b = other._data if hasattr(other, "_data") else other
        return self._bool(getattr(xp, op)(self._data, b))

    def logical_and(self, other: Any) -> Tensor:
        """Elementwise AND of truth values."""
        return self._logical(other, "logical_and")

    def logical_or(self, other: Any) -> Tensor:
        """Elementwise OR of truth values."""
        return self._logical(other, "logical_or")

    def logical_xor(self, other: Any) -> Tensor:
        """Elementwise XOR of truth values."""
        return self._logical(other, "logical_xor")

    def logical_not(self) -> Tensor:
        """Elementwise NOT of truth values."""
        return self._bool(backend.array_module(self._device).logical_not(self._data))

    def bitwise_and(self, other: Any) -> Tensor:
        """Elementwise & of integers or bools."""
        return self._compare(other, "__and__")

    def bitwise_or(self, other: Any) -> Tensor:
        """Elementwise | of integers or bools."""
        return self._compare(other, "__or__")

    def bitwise_xor(self, other: Any) -> Tensor:
        """Elementwise ^ of integers or bools."""
        return self._compare(other, "__xor__")

    def bitwise_not(self) -> Tensor:
        """Elementwise ~ of integers or bools."""
        return self._wrap(~self._data)

    __xor__ = bitwise_xor

    def __rand__(self, other: Any) -> Tensor:
        return self.bitwise_and(other)

    def __ror__(self, other: Any) -> Tensor:
        return self.bitwise_or(other)

    def __rxor__(self, other: Any) -> Tensor:
        return self.bitwise_xor(other)

    # ----- reductions --------------------------------------------------------------------
    def prod(self, dim: int | None = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        """Product over dim (all elements when None); integers and bools multiply in int64."""
        src = self if dtype is None else self.to(dtype)
        if src._data.dtype.kind in "biu" and src._data.dtype != np.int64 and dtype is None:
            src = src._cast(np.int64)
        return rd.Prod.apply(src, axes=normalize_axes(dim, self.ndim), keepdim=keepdim)

    # ----- diagonals and repeats ---------------------------------------------------------
    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        """The diagonal of the (dim1, dim2) planes, as a new last dim."""
        axes = normalize_axes((dim1,), self.ndim), normalize_axes((dim2,), self.ndim)
        return mv.Diagonal.apply(self, offset=offset, dim1=axes[0][0], dim2=axes[1][0])

    def diag(self, diagonal: int = 0) -> Tensor:
        """1-D: a matrix with self on the given diagonal; 2-D: that diagonal."""
        if self.ndim == 2:
            return self.diagonal(diagonal)
        if self.ndim != 1:
            raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {self.ndim}D")
        from engine.creation import eye, pad  # cycle: creation imports tensor

        square = eye(self.shape[0], dtype=self.dtype, device=self._device) * self
        k = builtins.abs(diagonal)
        return pad(square, (k, 0, 0, k) if diagonal >= 0 else (0, k, k, 0)) if k else square

    def repeat_interleave(self, repeats: Any, dim: int | None = None) -> Tensor:
        """Each element (slice along dim; flattened when None) repeated `repeats` times."""
        src = self.flatten() if dim is None else self
        axis = 0 if dim is None else normalize_axes(dim, self.ndim)[0]
        xp = backend.array_module(self._device)
        counts = repeats
        if hasattr(repeats, "_data"):  # CuPy reads the counts on the host: a one-off copy
            counts = backend.to_numpy(repeats._data).tolist() if repeats.ndim else repeats.item()
        index = xp.repeat(xp.arange(src.shape[axis]), counts)
        return src.index_select(axis, self._wrap(index))

    # ----- memory layout ----------------------------------------------------------------
    def is_contiguous(self, memory_format: Any = mf.contiguous_format) -> bool:
        """True when the elements lie in row-major order without gaps."""
        mf.check_memory_format(memory_format, "is_contiguous")
        flags = getattr(self._data, "flags", None)
        return True if flags is None else builtins.bool(flags.c_contiguous)

    def stride(self, dim: int | None = None) -> Any:
        """Elements to step in memory per index of each dim (of one dim when given)."""
        steps = tuple(s // self._data.itemsize for s in self._data.strides)
        return steps if dim is None else steps[normalize_axes(dim, self.ndim)[0]]

    def element_size(self) -> int:
        """Bytes per element."""
        return self._data.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes the elements take."""
        return builtins.int(self._data.nbytes)

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        return self._data.itemsize

    def contiguous(self, memory_format: Any = mf.contiguous_format) -> Tensor:
        """Self when contiguous, else a row-major copy that stays in the graph."""
        if mf.check_memory_format(memory_format, "contiguous") is mf.preserve_format:
            raise RuntimeError("preserve memory format is unsupported by the contiguous operator")
        return self if self.is_contiguous() else mv.Contiguous.apply(self)

    # ----- factories with self's dtype and device ----------------------------------------
    def _new(self, size: tuple, value: Any, dtype: Any, device: Any,
             requires_grad: builtins.bool) -> Tensor:
        from engine.creation import full  # cycle: creation imports tensor

        shape = size[0] if len(size) == 1 and isinstance(size[0], tuple | list) else size
        return full(tuple(shape), value, dtype=dtype or self.dtype,
                    device=device or self._device, requires_grad=requires_grad)

    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: builtins.bool = False) -> Tensor:
        """Zeros of the given size with self's dtype and device."""
        return self._new(size, 0, dtype, device, requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None,
                 requires_grad: builtins.bool = False) -> Tensor:
        """Ones of the given size with self's dtype and device."""
        return self._new(size, 1, dtype, device, requires_grad)

    def new_empty(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: builtins.bool = False) -> Tensor:
        """An uninitialised (zero) tensor with self's dtype and device."""
        return self._new(size, 0, dtype, device, requires_grad)

    def new_full(self, size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
                 requires_grad: builtins.bool = False) -> Tensor:
        """fill_value everywhere, with self's dtype and device."""
        return self._new((tuple(size),), fill_value, dtype, device, requires_grad)

    def new_tensor(self, data: Any, *, dtype: Any = None, device: Any = None,
                   requires_grad: builtins.bool = False) -> Tensor:
        """A copy of data as a tensor with self's dtype and device (unless given)."""
        from engine.tensor import Tensor  # cycle: Tensor is built from this mixin

        source = data._data if isinstance(data, Tensor) else data
        np_dtype = dtypes.to_numpy_dtype(dtype) if dtype is not None else self._data.dtype
        return Tensor(backend.to_numpy(source) if hasattr(source, "shape") else source,
                      dtype=np_dtype, device=device or self._device, requires_grad=requires_grad)
