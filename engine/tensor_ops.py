"""Tensor's math methods: each one line over a primitive op, plus PyTorch's dtype promotion."""

from __future__ import annotations

import builtins
from collections import namedtuple
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import backend, dtypes
from engine.ops import elementwise as ew
from engine.ops import movement as mv
from engine.ops import reduce as rd
from engine.ops.matmul import MatMul
from engine.ops.softmax import LogSoftmax, Softmax
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
_FLOAT32 = np.dtype(np.float32)


def _category(d: np.dtype) -> int:
    return 2 if d.kind == "f" else (1 if d.kind in "iu" else 0)


def promote_tensors(a: Any, b: Any) -> np.dtype:
    """PyTorch's result dtype for two tensors, where 0-d tensors only decide across categories."""
    da, db = a.data.dtype, b.data.dtype
    if da == db:
        return da
    a_dim, b_dim = a.data.ndim > 0, b.data.ndim > 0
    if a_dim != b_dim:
        dimmed, zero_d = (da, db) if a_dim else (db, da)
        return dimmed if _category(zero_d) <= _category(dimmed) else zero_d
    return dtypes.promote(da, db)


def _shape_arg(shape: tuple) -> tuple[int, ...]:
    """Accept f(2, 3) and f((2, 3)) as PyTorch does."""
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        return tuple(shape[0])
    return tuple(int(s) for s in shape)


class TensorOps:
    """Mixin holding Tensor's differentiable methods and operators."""

    __slots__ = ()

    # ----- operand handling -------------------------------------------------------------
    def _tensor_like(self, value: Any, dtype: np.dtype) -> Tensor:
        xp = backend.array_module(self._device)
        return type(self)._from_array(xp.asarray(value, dtype=dtype), self._device)

    def _coerce(self, other: Any) -> tuple[Tensor, Tensor]:
        """Both operands as tensors of PyTorch's promoted dtype, on self's device."""
        if isinstance(other, TensorOps):
            if other.data.dtype == self.data.dtype:  # the common case, kept fast
                return self, other
        else:
            from engine.tensor import Tensor

            if isinstance(other, builtins.int | builtins.float | builtins.bool):
                target = dtypes.scalar_dtype(self.data.dtype, other)
                a = self if self.data.dtype == target else self._cast(target)
                return a, self._tensor_like(other, target)
            other = Tensor._from_array(backend.to_device(np.asarray(other), self._device),
                                       self._device)
        target = promote_tensors(self, other)
        a = self if self.data.dtype == target else self._cast(target)
        b = other if other.data.dtype == target else other._cast(target)
        return a, b

    def _cast(self, np_dtype: Any) -> Tensor:
        return ew.Cast.apply(self, dtype=np.dtype(np_dtype))

    def _floating(self) -> Tensor:
        """Self, or a float32 copy for integer and bool tensors (exp of an int tensor is float)."""
        return self if self.data.dtype.kind == "f" else self._cast(_FLOAT32)

    # ----- arithmetic -------------------------------------------------------------------
    def add(self, other: Any, *, alpha: float = 1) -> Tensor:
        """self + alpha * other."""
        return ew.Add.apply(*self._coerce(other if alpha == 1 else other * alpha))

    def sub(self, other: Any, *, alpha: float = 1) -> Tensor:
        """self - alpha * other."""
        return ew.Sub.apply(*self._coerce(other if alpha == 1 else other * alpha))

    def mul(self, other: Any) -> Tensor:
        """Elementwise product."""
        return ew.Mul.apply(*self._coerce(other))

    def div(self, other: Any) -> Tensor:
        """True division (integers divide to float32)."""
        a, b = self._coerce(other)
        return ew.Div.apply(a._floating(), b._floating())

    def pow(self, exponent: Any) -> Tensor:
        """self ** exponent, exponent a Python number or a tensor."""
        if isinstance(exponent, builtins.int | builtins.float) and not isinstance(exponent, bool):
            base = self if isinstance(exponent, builtins.int) else self._floating()
            if base.data.dtype == np.bool_:
                base = base._cast(np.int64)  # bool ** int is int64 in PyTorch
            return ew.PowScalar.apply(base, exponent=exponent)
        return ew.Pow.apply(*self._coerce(exponent))

    def floor_divide(self, other: Any) -> Tensor:
        """Elementwise floor(self / other), rounding toward -inf (no gradient)."""
        a, b = self._coerce(other)
        xp = backend.array_module(self._device)
        return type(self)._from_array(xp.floor_divide(a.data, b.data), self._device)

    def remainder(self, other: Any) -> Tensor:
        """Python-style modulus self - floor(self / other) * other (sign of other)."""
        a, b = self._coerce(other)
        return a - a.floor_divide(b) * b

    def __rfloordiv__(self, other: Any) -> Tensor:
        b, a = self._coerce(other)
        return a.floor_divide(b)

    def __rmod__(self, other: Any) -> Tensor:
        b, a = self._coerce(other)
        return a.remainder(b)

    def neg(self) -> Tensor:
        """-self."""
        return ew.Neg.apply(self)

    def matmul(self, other: Tensor) -> Tensor:
        """Matrix product (1-D, 2-D, batched)."""
        return MatMul.apply(*self._coerce(other))

    __add__ = add
    __sub__ = sub
    __mul__ = mul
    __truediv__ = div
    __pow__ = pow
    __matmul__ = matmul
    __neg__ = neg
    __floordiv__ = floor_divide
    __mod__ = remainder

    def __radd__(self, other: Any) -> Tensor:
        return self.add(other)

    def __rsub__(self, other: Any) -> Tensor:
        b, a = self._coerce(other)
        return ew.Sub.apply(a, b)

    def __rmul__(self, other: Any) -> Tensor:
        return self.mul(other)

    def __rtruediv__(self, other: Any) -> Tensor:
        b, a = self._coerce(other)
        return ew.Div.apply(a._floating(), b._floating())

    def __rpow__(self, other: Any) -> Tensor:
        b, a = self._coerce(other)
        return ew.Pow.apply(a, b)

    def __rmatmul__(self, other: Any) -> Tensor:
        b, a = self._coerce(other)
        return MatMul.apply(a, b)

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    def __pos__(self) -> Tensor:
        return self

    # ----- comparisons (no gradient) ----------------------------------------------------
    def _compare(self, other: Any, op: str) -> Tensor:
        a, b = self._coerce(other)
        return type(self)._from_array(getattr(a.data, op)(b.data), self._device)

    def eq(self, other: Any) -> Tensor:
        """Elementwise ==."""
        return self._compare(other, "__eq__")

    def ne(self, other: Any) -> Tensor:
        """Elementwise !=."""
        return self._compare(other, "__ne__")

    def lt(self, other: Any) -> Tensor:
        """Elementwise <."""
        return self._compare(other, "__lt__")

    def le(self, other: Any) -> Tensor:
        """Elementwise <=."""
        return self._compare(other, "__le__")

    def gt(self, other: Any) -> Tensor:
        """Elementwise >."""
        return self._compare(other, "__gt__")

    def ge(self, other: Any) -> Tensor:
        """Elementwise >=."""
        return self._compare(other, "__ge__")

    __eq__ = eq  # type: ignore[assignment]
    __ne__ = ne  # type: ignore[assignment]
    __lt__ = lt
    __le__ = le
    __gt__ = gt
    __ge__ = ge

    def __invert__(self) -> Tensor:
        return type(self)._from_array(~self.data, self._device)

    def __and__(self, other: Any) -> Tensor:
        return self._compare(other, "__and__")

    def __or__(self, other: Any) -> Tensor:
        return self._compare(other, "__or__")

    # ----- unary math -------------------------------------------------------------------
    def exp(self) -> Tensor:
        """e ** self."""
        return ew.Exp.apply(self._floating())

    def log(self) -> Tensor:
        """Natural logarithm."""
        return ew.Log.apply(self._floating())

    def sqrt(self) -> Tensor:
        """Square root."""
        return ew.Sqrt.apply(self._floating())

    def abs(self) -> Tensor:
        """Absolute value."""
        return ew.Abs.apply(self)

    __abs__ = abs

    def sin(self) -> Tensor:
        """Sine."""
        return ew.Sin.apply(self._floating())

    def cos(self) -> Tensor:
        """Cosine."""
        return ew.Cos.apply(self._floating())

    def tanh(self) -> Tensor:
        """Hyperbolic tangent."""
        return ew.Tanh.apply(self._floating())

    def sigmoid(self) -> Tensor:
        """Logistic sigmoid."""
        return ew.Sigmoid.apply(self._floating())

    def relu(self) -> Tensor:
        """max(self, 0)."""
        return ew.Relu.apply(self)

    def square(self) -> Tensor:
        """self * self."""
        return ew.PowScalar.apply(self, exponent=2)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        """Limit values to [min, max]."""
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        if isinstance(min, TensorOps) or isinstance(max, TensorOps):  # tensor bounds
            out = self if min is None else self.maximum(min)
            return out if max is None else out.minimum(max)
        src = self
        for bound in (min, max):  # int tensor with a float bound becomes float, as in PyTorch
            if bound is not None and dtypes.scalar_dtype(src.data.dtype, bound) != src.data.dtype:
                src = src._cast(dtypes.scalar_dtype(src.data.dtype, bound))
        return ew.Clamp.apply(src, min=min, max=max)

    clip = clamp

    def maximum(self, other: Tensor) -> Tensor:
        """Elementwise maximum (ties share the gradient)."""
        return ew.Maximum.apply(*self._coerce(other))

    def minimum(self, other: Tensor) -> Tensor:
        """Elementwise minimum (ties share the gradient)."""
        return ew.Minimum.apply(*self._coerce(other))

    def softmax(self, dim: int) -> Tensor:
        """Softmax along dim."""
        return Softmax.apply(self._floating(), axis=dim)

    def log_softmax(self, dim: int) -> Tensor:
        """log(softmax) along dim, computed stably."""
        return LogSoftmax.apply(self._floating(), axis=dim)

    # ----- reductions -------------------------------------------------------------------
    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
        """Sum over dim (int, tuple or all)."""
        src = self if dtype is None else self.to(dtype)
        if src.data.dtype.kind in "bi" and src.data.dtype != np.int64:
            src = src._cast(np.int64)  # PyTorch sums integers and bools to int64
        return rd.Sum.apply(src, axes=normalize_axes(dim, self.ndim), keepdim=keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Mean over dim (floating tensors only, as in PyTorch)."""
        if self.data.dtype.kind != "f":
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
        indices = self.data.argmax(axis=axis) if largest else self.data.argmin(axis=axis)
        values = rd.TakeAlongDim.apply(self, indices=indices, axis=axis, keepdim=keepdim)
        if keepdim:
            indices = backend.array_module(self._device).expand_dims(indices, axis)
        return _RETURN_TYPES[largest](
            values, type(self)._from_array(indices.astype(np.int64), self._device))

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
        return self._arg(self.data.argmax, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Index of the smallest value (flattened when dim is None)."""
        return self._arg(self.data.argmin, dim, keepdim)

    def _arg(self, fn: Any, dim: int | None, keepdim: bool) -> Tensor:
        if dim is None:
            out = fn()
            out = out.reshape((1,) * self.ndim) if keepdim else out
        else:
            axes = normalize_axes(dim, self.ndim)
            out = fn() if axes is None else fn(axis=axes[0], keepdims=keepdim)
        xp = backend.array_module(self._device)
        return type(self)._from_array(xp.asarray(out, dtype=np.int64), self._device)

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

    def all(self) -> Tensor:
        """True when every element is non-zero."""
        return type(self)._from_array(self.data.all(), self._device)

    def any(self) -> Tensor:
        """True when some element is non-zero."""
        return type(self)._from_array(self.data.any(), self._device)

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
        start, end = start_dim % self.ndim, end_dim % self.ndim
        shape = self.shape[:start] + (-1,) + self.shape[end + 1:]
        return self.reshape(shape)

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

    def contiguous(self) -> Tensor:
        """Self (kept for PyTorch code; layouts are handled by the array library)."""
        return self

    def _convert_index(self, index: Any) -> Any:
        from engine.tensor import Tensor

        items = index if isinstance(index, tuple) else (index,)
        converted = tuple(
            i.data if isinstance(i, Tensor) else (np.asarray(i) if isinstance(i, list) else i)
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

        return where(mask, self._tensor_like(value, self.data.dtype), self)

    def type_as(self, other: Tensor) -> Tensor:
        """Cast to other's dtype."""
        return self.to(other.dtype)
