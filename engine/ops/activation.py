"""Activations with their own backward: GELU (exact erf and tanh forms), LeakyReLU; and erf."""

from __future__ import annotations

import math
from typing import Any

from engine.backend import get_array_module
from engine.function import Function

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SWITCH = 2.5  # below: Maclaurin series; above: continued fraction for erfc
_SERIES_TERMS = 44
_CF_DEPTH = 60


def erf(a: Any) -> Any:
    """The error function elementwise, about 1e-15 accurate, computed in float64 with xp only.

    |x| < 2.5 sums erf's Maclaurin series; beyond, Laplace's continued fraction for erfc
    converges fast. (NumPy has no erf, and scipy is not a dependency.)
    """
    xp = get_array_module(a)
    x = xp.asarray(a, dtype=xp.float64)
    ax = xp.abs(x)
    # Series: erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)); Horner from the tail.
    s = xp.minimum(ax, _SWITCH)
    s2 = s * s
    term_sum = xp.zeros_like(s)
    # c_n = (-1)^n / (n! (2n+1)); evaluate sum c_n s2^n by Horner on n.
    for n in range(_SERIES_TERMS, -1, -1):
        term_sum = term_sum * s2 + ((-1) ** n) / (math.factorial(n) * (2 * n + 1))
    small = (2.0 / math.sqrt(math.pi)) * s * term_sum
    # erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), from the tail.
    big_x = xp.maximum(ax, _SWITCH)
    frac = big_x
    for k in range(_CF_DEPTH, 0, -1):
        frac = big_x + (k / 2.0) / frac
    large = 1.0 - xp.exp(-big_x * big_x) / (math.sqrt(math.pi) * frac)
    return xp.sign(x) * xp.where(ax < _SWITCH, small, large)


class Gelu(Function):
    """x * Phi(x) with the exact normal CDF, or PyTorch's tanh approximation."""

    def forward(self, a: Any, approximate: str = "none") -> Any:
        xp = get_array_module(a)
        self.a, self.approximate = a, approximate
        if approximate == "tanh":
            self.t = xp.tanh(_SQRT_2_OVER_PI * (a + 0.044715 * a * a * a))
            return (0.5 * a * (1 + self.t)).astype(a.dtype, copy=False)
        self.cdf = (0.5 * (1.0 + erf(a * _INV_SQRT_2))).astype(a.dtype, copy=False)
        return a * self.cdf

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        a = self.a
        if self.approximate == "tanh":
            inner_d = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * a * a)
            d = 0.5 * (1 + self.t) + 0.5 * a * (1 - self.t * self.t) * inner_d
        else:
            d = self.cdf + a * _INV_SQRT_2PI * xp.exp(-0.5 * a * a)
        return (g * d).astype(g.dtype, copy=False)


class LeakyRelu(Function):
    """x for x > 0, negative_slope * x otherwise."""

    saves_inputs = False

    def forward(self, a: Any, negative_slope: float = 0.01) -> Any:
        xp = get_array_module(a)
        self.mask, self.slope = a > 0, negative_slope
        return xp.where(self.mask, a, a * a.dtype.type(negative_slope))

    def backward(self, g: Any) -> Any:
        xp = get_array_module(g)
        return xp.where(self.mask, g, g * g.dtype.type(self.slope))
