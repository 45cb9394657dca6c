"""Tensor's math methods: each one line over a primitive op, plus PyTorch's dtype promotion."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import backend, dtypes
from engine.ops import elementwise as ew
from engine.ops.matmul import MatMul
from engine.ops.softmax import LogSoftmax, Softmax
from engine.tensor_aliases import AliasOps
from engine.tensor_index import IndexingOps
from engine.tensor_logic import LogicOps
from engine.tensor_math import MathOps
from engine.tensor_reduce import ReduceOps
from engine.tensor_select import SelectOps
from engine.tensor_shape import ShapeOps

if TYPE_CHECKING:
    from engine.tensor import Tensor


_FLOAT32 = np.dtype(np.float32)


def _category(d: np.dtype) -> int:
    return 2 if d.kind == "f" else (1 if d.kind in "iu" else 0)


def promote_tensors(a: Any, b: Any) -> np.dtype:
    """PyTorch's result dtype for two tensors, where 0-d tensors only decide across categories."""
    da, db = a._data.dtype, b._data.dtype
    if da == db:
        return da
    a_dim, b_dim = a._data.ndim > 0, b._data.ndim > 0
    if a_dim != b_dim:
        dimmed, zero_d = (da, db) if a_dim else (db, da)
        return dimmed if _category(zero_d) <= _category(dimmed) else zero_d
    return dtypes.promote(da, db)


class TensorOps(ReduceOps, ShapeOps, IndexingOps, MathOps, LogicOps, SelectOps, AliasOps):
    """Mixin holding Tensor's differentiable math methods and operators; the other families live
    in ReduceOps (reductions), ShapeOps (shape), IndexingOps (split, sort, gather, scans), MathOps
    (further math, norms), LogicOps (tests, logic, prod) and SelectOps (order statistics,
    index_add)."""

    __slots__ = ()

    # ----- operand handling -------------------------------------------------------------
    def _tensor_like(self, value: Any, dtype: np.dtype) -> Tensor:
        if self._device == "cpu":
            return self._wrap(np.asarray(value, dtype=dtype))
        return self._wrap(backend.full(self._device, (), value, dtype))  # no host copy

    def _coerce(self, other: Any) -> tuple[Tensor, Tensor]:
        """Both operands as tensors of PyTorch's promoted dtype, on self's device."""
        if isinstance(other, TensorOps):
            if other._data.dtype == self._data.dtype:  # the common case, kept fast
                return self, other
        elif isinstance(other, builtins.int | builtins.float | builtins.bool):
            target = dtypes.scalar_dtype(self._data.dtype, other)
            a = self if self._data.dtype == target else self._cast(target)
            return a, self._tensor_like(other, target)
        else:
            from engine.tensor import Tensor  # cycle: Tensor is built from this mixin

            other = Tensor._from_array(backend.to_device(np.asarray(other), self._device),
                                       self._device)
        target = promote_tensors(self, other)
        a = self if self._data.dtype == target else self._cast(target)
        b = other if other._data.dtype == target else other._cast(target)
        return a, b

    def _cast(self, np_dtype: Any) -> Tensor:
        return ew.Cast.apply(self, dtype=np.dtype(np_dtype))

    def _floating(self) -> Tensor:
        """Self, or a float32 copy for integer and bool tensors (exp of an int tensor is float)."""
        return self if self._data.dtype.kind == "f" else self._cast(_FLOAT32)

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

    def div(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        """True division (integers divide to float32); rounding_mode 'trunc' or 'floor' rounds
        the quotient and keeps integer dtypes."""
        a, b = self._coerce(other)
        if rounding_mode is None:
            return ew.Div.apply(a._floating(), b._floating())
        if rounding_mode == "floor":
            return a.floor_divide(b)
        if rounding_mode != "trunc":
            raise ValueError("div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                             f"but found '{rounding_mode}'")
        quotient = ew.Div.apply(a._floating(), b._floating()).trunc()
        return quotient if a._data.dtype.kind == "f" else quotient._cast(a._data.dtype)

    def pow(self, exponent: Any) -> Tensor:
        """self ** exponent, exponent a Python number or a tensor."""
        if isinstance(exponent, builtins.int | builtins.float) and not isinstance(exponent, bool):
            base = self if isinstance(exponent, builtins.int) else self._floating()
            if base._data.dtype == np.bool_:
                base = base._cast(np.int64)  # bool ** int is int64 in PyTorch
            return ew.PowScalar.apply(base, exponent=exponent)
        return ew.Pow.apply(*self._coerce(exponent))

    @backend.runs_on_device
    def floor_divide(self, other: Any) -> Tensor:
        """Elementwise floor(self / other), rounding toward -inf (no gradient)."""
        a, b = self._coerce(other)
        xp = backend.array_module(self._device)
        return self._wrap(xp.floor_divide(a._data, b._data))

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
    @backend.runs_on_device
    def _compare(self, other: Any, op: str) -> Tensor:
        a, b = self._coerce(other)
        return self._wrap(getattr(a._data, op)(b._data))

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
        return self._wrap(~self._data)

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
            if bound is not None and dtypes.scalar_dtype(src._data.dtype, bound) != src._data.dtype:
                src = src._cast(dtypes.scalar_dtype(src._data.dtype, bound))
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
