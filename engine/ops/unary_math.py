"""More elementwise math: log1p, expm1, log2/log10/exp2, rsqrt, reciprocal, hyperbolic and inverse
trigonometric functions, erf, erfinv, rounding (zero gradient), frac, atan2 and hypot."""

from __future__ import annotations

import math
from typing import Any

from engine import backend
from engine.backend import get_array_module
from engine.function import Function
from engine.ops.activation import erf
from engine.ops.util import unbroadcast

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


class Log1p(Function):
    def forward(self, a: Any) -> Any:
        self.a = a
        return get_array_module(a).log1p(a)

    def backward(self, g: Any) -> Any:
        return g / (1 + self.a)


class Expm1(Function):
    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        self.out = get_array_module(a).expm1(a)
        return self.out

    def backward(self, g: Any) -> Any:
        return g * (self.out + 1)


class Log2(Function):
    def forward(self, a: Any) -> Any:
        self.a = a
        return get_array_module(a).log2(a)

    def backward(self, g: Any) -> Any:
        return g / (self.a * self.a.dtype.type(_LN2))


class Log10(Function):
    def forward(self, a: Any) -> Any:
        self.a = a
        return get_array_module(a).log10(a)

    def backward(self, g: Any) -> Any:
        return g / (self.a * self.a.dtype.type(_LN10))


class Exp2(Function):
    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        self.out = get_array_module(a).exp2(a)
        return self.out

    def backward(self, g: Any) -> Any:
        return g * self.out * self.out.dtype.type(_LN2)


class Rsqrt(Function):
    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        xp = get_array_module(a)
        with backend.errstate(xp, divide="ignore"):
            self.out = 1 / xp.sqrt(a)
        return self.out

    def backward(self, g: Any) -> Any:
        return g * self.out * self.out * self.out * self.out.dtype.type(-0.5)


class Reciprocal(Function):
    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        with backend.errstate(get_array_module(a), divide="ignore"):
            self.out = a.dtype.type(1) / a
        return self.out

    def backward(self, g: Any) -> Any:
        return -g * self.out * self.out


class Sinh(Function):
    def forward(self, a: Any) -> Any:
        self.a = a
        return get_array_module(a).sinh(a)

    def backward(self, g: Any) -> Any:
        return g * get_array_module(g).cosh(self.a)


class Cosh(Function):
    def forward(self, a: Any) -> Any:
        self.a = a
        return get_array_module(a).cosh(a)

    def backward(self, g: Any) -> Any:
        return g * get_array_module(g).sinh(self.a)


class Tan(Function):
    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        self.out = get_array_module(a).tan(a)
        return self.out

    def backward(self, g: Any) -> Any:
        return g * (1 + self.out * self.out)


class Asin(Function):
    def forward(self, a: Any) -> Any:
        self.a = a
        return get_array_module(a).arcsin(a)

    def backward(self, g: Any) -> Any:
        return g / get_array_module(g).sqrt(1 - self.a * self.a)


class Acos(Function):
    def forward(self, a: Any) -> Any:
        self.a = a
        return get_array_module(a).arccos(a)

    def backward(self, g: Any) -> Any:
        return -g / get_array_module(g).sqrt(1 - self.a * self.a)


class Atan(Function):
    def forward(self, a: Any) -> Any:
        self.a = a
        return get_array_module(a).arctan(a)

    def backward(self, g: Any) -> Any:
        return g / (1 + self.a * self.a)


class Erf(Function):
    def forward(self, a: Any) -> Any:
        self.a = a
        return erf(a).astype(a.dtype, copy=False)

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        return g * (_TWO_OVER_SQRT_PI * xp.exp(-self.a * self.a)).astype(g.dtype, copy=False)


class Frac(Function):
    """a - trunc(a): the gradient passes through unchanged, as in PyTorch."""

    saves_inputs = False

    def forward(self, a: Any) -> Any:
        return a - get_array_module(a).trunc(a)

    def backward(self, g: Any) -> Any:
        return g


class Step(Function):
    """Piecewise-constant functions (floor, ceil, round, trunc, sign): the gradient is zero."""

    saves_inputs = False

    def forward(self, a: Any, kind: str, decimals: int = 0) -> Any:
        xp = get_array_module(a)
        if kind == "sign":
            return xp.sign(a)
        if a.dtype.kind in "biu":
            return a.copy()  # integers are already whole: PyTorch returns them unchanged
        if kind == "round":
            return xp.round(a, decimals)
        return {"floor": xp.floor, "ceil": xp.ceil, "trunc": xp.trunc}[kind](a)

    def backward(self, g: Any) -> Any:
        return get_array_module(g).zeros_like(g)


class Atan2(Function):
    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return get_array_module(a).arctan2(a, b)

    def backward(self, g: Any) -> tuple:
        a, b = self.a, self.b
        scale = g / (a * a + b * b)
        ga = unbroadcast(scale * b, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(-scale * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Hypot(Function):
    saves_output = True

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        self.out = get_array_module(a).hypot(a, b)
        return self.out

    def backward(self, g: Any) -> tuple:
        scale = g / self.out
        ga = unbroadcast(scale * self.a, self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(scale * self.b, self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Erfinv(Function):
    """Inverse error function: Giles' single-precision approximation, then two Newton steps
    on the float64 erf (about 1e-12 accurate)."""

    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        xp = get_array_module(a)
        x = a.astype(xp.float64)
        with backend.errstate(xp, divide="ignore", invalid="ignore"):
            w = -xp.log((1.0 - x) * (1.0 + x))
            central, tail = w - 2.5, xp.sqrt(w) - 3.0
            p_central = _horner(central, _GILES_CENTRAL)
            p_tail = _horner(tail, _GILES_TAIL)
            y = xp.where(w < 5.0, p_central, p_tail) * x
            for _ in range(2):  # Newton on erf(y) = x, exact derivative 2/sqrt(pi) exp(-y^2)
                step = (erf(y) - x) / (_TWO_OVER_SQRT_PI * xp.exp(-y * y))
                y = xp.where(xp.isfinite(step), y - step, y)
            y = xp.where(xp.abs(x) == 1, xp.sign(x) * xp.inf, y)
        self.out = y.astype(a.dtype)
        return self.out

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        return g * (0.5 * math.sqrt(math.pi) * xp.exp(self.out * self.out)).astype(g.dtype)


_GILES_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                  0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_GILES_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
               0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)


def _horner(x: Any, coefficients: tuple[float, ...]) -> Any:
    out = coefficients[0]
    for c in coefficients[1:]:
        out = out * x + c
    return out
