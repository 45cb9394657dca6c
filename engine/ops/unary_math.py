"""More elementwise math: log1p, expm1, log2/log10/exp2, rsqrt, reciprocal, hyperbolic and inverse
trigonometric functions, erf, rounding (zero gradient), frac, atan2 and hypot."""

from __future__ import annotations

import math
from typing import Any

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
        with xp.errstate(divide="ignore"):
            self.out = 1 / xp.sqrt(a)
        return self.out

    def backward(self, g: Any) -> Any:
        return g * self.out * self.out * self.out * self.out.dtype.type(-0.5)


class Reciprocal(Function):
    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        with get_array_module(a).errstate(divide="ignore"):
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
