"""Tensor's further math methods (log1p, rounding, atan2, lerp, norm, ...): one line over an op."""

from __future__ import annotations

import builtins
import math
from typing import TYPE_CHECKING, Any

from engine.ops import matmul as mm_ops
from engine.ops import reduce as rd
from engine.ops import unary_math as um
from engine.ops.util import normalize_axes

if TYPE_CHECKING:
    from engine.tensor import Tensor

_TORCH_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
                "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def torch_type_name(t: Any) -> str:
    """PyTorch's scalar-type name of a tensor's dtype, as its error messages spell it."""
    return _TORCH_NAMES.get(t.dtype.name, t.dtype.name)


def vector_norm(x: Tensor, ord: Any = 2, dim: Any = None, keepdim: bool = False, *,  # noqa: A002
                dtype: Any = None) -> Tensor:
    """(sum |x|^ord)^(1/ord) over dim; inf: max |x|, -inf: min |x|, 0: count of non-zeros."""
    src = x if dtype is None else x.to(dtype)
    if src._data.dtype.kind != "f":
        raise RuntimeError("linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {torch_type_name(src)}")
    axes = normalize_axes(dim, x.ndim)
    ord = builtins.float(ord)  # noqa: A001
    if math.isinf(ord):
        magnitude, axes_arg = src.abs(), (() if axes is None else axes)
        return magnitude.amax(axes_arg, keepdim) if ord > 0 else magnitude.amin(axes_arg, keepdim)
    if ord == 0:
        return (src != 0).to(src.dtype).sum(dim, keepdim)
    return rd.VectorNorm.apply(src, p=ord, axes=axes, keepdim=keepdim)


class MathOps:
    """Mixin with Tensor's further elementwise math, norms and matrix products."""

    __slots__ = ()

    # ----- unary math (integer inputs compute in float32, as in PyTorch) -----------------
    def log1p(self) -> Tensor:
        """log(1 + self), accurate for small self."""
        return um.Log1p.apply(self._floating())

    def expm1(self) -> Tensor:
        """exp(self) - 1, accurate for small self."""
        return um.Expm1.apply(self._floating())

    def log2(self) -> Tensor:
        """Base-2 logarithm."""
        return um.Log2.apply(self._floating())

    def log10(self) -> Tensor:
        """Base-10 logarithm."""
        return um.Log10.apply(self._floating())

    def exp2(self) -> Tensor:
        """2 ** self."""
        return um.Exp2.apply(self._floating())

    def rsqrt(self) -> Tensor:
        """1 / sqrt(self)."""
        return um.Rsqrt.apply(self._floating())

    def reciprocal(self) -> Tensor:
        """1 / self."""
        return um.Reciprocal.apply(self._floating())

    def sinh(self) -> Tensor:
        """Hyperbolic sine."""
        return um.Sinh.apply(self._floating())

    def cosh(self) -> Tensor:
        """Hyperbolic cosine."""
        return um.Cosh.apply(self._floating())

    def tan(self) -> Tensor:
        """Tangent."""
        return um.Tan.apply(self._floating())

    def asin(self) -> Tensor:
        """Inverse sine."""
        return um.Asin.apply(self._floating())

    def acos(self) -> Tensor:
        """Inverse cosine."""
        return um.Acos.apply(self._floating())

    def atan(self) -> Tensor:
        """Inverse tangent."""
        return um.Atan.apply(self._floating())

    arcsin, arccos, arctan = asin, acos, atan

    def erf(self) -> Tensor:
        """The error function."""
        return um.Erf.apply(self._floating())

    def erfinv(self) -> Tensor:
        """Inverse of the error function on (-1, 1)."""
        return um.Erfinv.apply(self._floating())

    def logaddexp(self, other: Any) -> Tensor:
        """log(exp(self) + exp(other)), computed stably."""
        a, b = self._coerce(other)
        a, b = a._floating(), b._floating()
        return a.maximum(b) + (-(a - b).abs()).exp().log1p()

    def trace(self) -> Tensor:
        """Sum of the main diagonal of a matrix."""
        if self.ndim != 2:
            raise RuntimeError("trace: expected a matrix")
        return self.diagonal().sum()

    def frac(self) -> Tensor:
        """self - trunc(self)."""
        return um.Frac.apply(self)

    # ----- piecewise constant (zero gradient; integers stay integers) -----------------------
    def sign(self) -> Tensor:
        """-1, 0 or 1 by the sign of each element."""
        return um.Step.apply(self, kind="sign")

    sgn = sign

    def floor(self) -> Tensor:
        """Round down."""
        return um.Step.apply(self, kind="floor")

    def ceil(self) -> Tensor:
        """Round up."""
        return um.Step.apply(self, kind="ceil")

    def trunc(self) -> Tensor:
        """Round toward zero."""
        return um.Step.apply(self, kind="trunc")

    fix = trunc

    def round(self, *, decimals: int = 0) -> Tensor:
        """Round half to even, to `decimals` decimal places."""
        return um.Step.apply(self, kind="round", decimals=decimals)

    # ----- bounds ------------------------------------------------------------------------
    def clamp_min(self, min: Any) -> Tensor:  # noqa: A002 - PyTorch's name
        """max(self, min)."""
        return self.clamp(min=min)

    def clamp_max(self, max: Any) -> Tensor:  # noqa: A002 - PyTorch's name
        """min(self, max)."""
        return self.clamp(max=max)

    # ----- binary and ternary ------------------------------------------------------------
    def atan2(self, other: Any) -> Tensor:
        """Angle of the point (other, self), elementwise."""
        a, b = self._coerce(other)
        return um.Atan2.apply(a._floating(), b._floating())

    arctan2 = atan2

    def hypot(self, other: Any) -> Tensor:
        """sqrt(self**2 + other**2) without overflow."""
        return um.Hypot.apply(*self._coerce(other))

    def lerp(self, end: Tensor, weight: Any) -> Tensor:
        """self + weight * (end - self)."""
        return self + weight * (end - self)

    def addcmul(self, tensor1: Tensor, tensor2: Tensor, *, value: float = 1) -> Tensor:
        """self + value * tensor1 * tensor2."""
        product = tensor1 * tensor2
        return self + (product if value == 1 else product * value)

    def addcdiv(self, tensor1: Tensor, tensor2: Tensor, *, value: float = 1) -> Tensor:
        """self + value * tensor1 / tensor2."""
        quotient = tensor1 / tensor2
        return self + (quotient if value == 1 else quotient * value)

    def xlogy(self, other: Any) -> Tensor:
        """self * log(other), 0 where self is 0."""
        from engine.creation import where  # cycle: creation imports tensor

        a, b = self._coerce(other)
        a, b = a._floating(), b._floating()
        return where(a == 0, a * 0, a * b.log())

    # ----- matrix products ---------------------------------------------------------------
    def mm(self, mat2: Tensor) -> Tensor:
        """Product of two matrices."""
        if self.ndim != 2:
            raise RuntimeError("self must be a matrix")
        if mat2.ndim != 2:
            raise RuntimeError("mat2 must be a matrix")
        return mm_ops.MatMul.apply(*self._coerce(mat2))

    def bmm(self, mat2: Tensor) -> Tensor:
        """Product of two batches of matrices (b, n, m) @ (b, m, p)."""
        if self.ndim != 3:
            raise RuntimeError("batch1 must be a 3D tensor")
        if mat2.ndim != 3:
            raise RuntimeError("batch2 must be a 3D tensor")
        if self.shape[0] != mat2.shape[0] or self.shape[2] != mat2.shape[1]:
            raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                               f"[{self.shape[0]}, {self.shape[2]}] but got: "
                               f"[{mat2.shape[0]}, {mat2.shape[1]}].")
        return mm_ops.MatMul.apply(*self._coerce(mat2))

    def addmm(self, mat1: Tensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
        """beta * self + alpha * (mat1 @ mat2)."""
        product = mat1.mm(mat2)
        product = product if alpha == 1 else product * alpha
        return (self if beta == 1 else self * beta) + product

    def mv(self, vec: Tensor) -> Tensor:
        """Matrix times vector."""
        return self.matmul(vec)

    def dot(self, other: Tensor) -> Tensor:
        """Inner product of two 1-D tensors."""
        if self.ndim != 1 or other.ndim != 1:
            raise RuntimeError(f"1D tensors expected, but got {self.ndim}D and {other.ndim}D "
                               "tensors")
        return self.matmul(other)

    def outer(self, vec2: Tensor) -> Tensor:
        """Outer product of two 1-D tensors."""
        return self.reshape(-1, 1) * vec2.reshape(1, -1)

    # ----- norms -------------------------------------------------------------------------
    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False,
             dtype: Any = None) -> Tensor:
        """Vector p-norm over dim (all elements when None): p a number, inf, -inf or 'fro'."""
        if p == "nuc":
            raise NotImplementedError("norm(p='nuc') is not supported")
        return vector_norm(self, 2 if p in ("fro", None) else p, dim, keepdim, dtype=dtype)

    def dist(self, other: Tensor, p: float = 2) -> Tensor:
        """p-norm of self - other."""
        return (self - other).norm(p)

