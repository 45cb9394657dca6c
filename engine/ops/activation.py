"""Activations with their own backward (GELU, LeakyReLU, ELU family, softplus, hard and smooth
gates, PReLU) and erf."""

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


class _Pointwise(Function):
    """An activation whose gradient is g * derivative(x), with the derivative from forward's x."""

    saves_inputs = False

    def backward(self, g: Any) -> Any:
        return (g * self.derivative(get_array_module(g))).astype(g.dtype, copy=False)

    def derivative(self, xp: Any) -> Any:
        """d out / d x elementwise."""
        raise NotImplementedError


class Elu(_Pointwise):
    """scale x for x > 0, else scale alpha (exp(input_scale x) - 1): ELU, SELU and CELU."""

    def forward(self, a: Any, alpha: float = 1.0, scale: float = 1.0,
                input_scale: float = 1.0) -> Any:
        xp = get_array_module(a)
        self.pos = a > 0
        self.neg_exp = xp.exp(xp.minimum(a, 0) * input_scale)  # clipped: no overflow for x > 0
        self.coef = (scale, alpha, input_scale)
        out = xp.where(self.pos, a * scale, (scale * alpha) * (self.neg_exp - 1))
        return out.astype(a.dtype, copy=False)

    def derivative(self, xp: Any) -> Any:
        scale, alpha, input_scale = self.coef
        return xp.where(self.pos, scale, (scale * alpha * input_scale) * self.neg_exp)


class Softplus(_Pointwise):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold."""

    def forward(self, a: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
        xp = get_array_module(a)
        z = a * beta
        self.linear, self.z = z > threshold, z
        soft = (xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))) / beta
        return xp.where(self.linear, a, soft).astype(a.dtype, copy=False)

    def derivative(self, xp: Any) -> Any:
        sig = xp.tanh(self.z * 0.5) * 0.5 + 0.5  # sigmoid(beta x), stable
        return xp.where(self.linear, 1, sig)


class Hardtanh(_Pointwise):
    """clip(x, min_val, max_val); zero gradient outside (and on) the bounds, as PyTorch."""

    def forward(self, a: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:
        xp = get_array_module(a)
        self.inside = (a > min_val) & (a < max_val)
        return xp.clip(a, min_val, max_val).astype(a.dtype, copy=False)

    def derivative(self, xp: Any) -> Any:
        return self.inside


class Hardsigmoid(_Pointwise):
    """relu6(x + 3) / 6."""

    def forward(self, a: Any) -> Any:
        xp = get_array_module(a)
        self.inside = (a > -3) & (a < 3)
        return (xp.clip(a + 3, 0, 6) / 6).astype(a.dtype, copy=False)

    def derivative(self, xp: Any) -> Any:
        return self.inside / 6.0


class Hardswish(_Pointwise):
    """x * relu6(x + 3) / 6."""

    saves_inputs = True  # backward reads forward's x: an in-place write to it must raise

    def forward(self, a: Any) -> Any:
        xp = get_array_module(a)
        self.a = a
        return (a * xp.clip(a + 3, 0, 6) / 6).astype(a.dtype, copy=False)

    def derivative(self, xp: Any) -> Any:
        a = self.a
        return xp.where(a < -3, 0, xp.where(a <= 3, a / 3 + 0.5, 1))


class Silu(_Pointwise):
    """x * sigmoid(x)."""

    saves_inputs = True  # backward reads forward's x: an in-place write to it must raise

    def forward(self, a: Any) -> Any:
        xp = get_array_module(a)
        self.a, self.sig = a, xp.tanh(a * 0.5) * 0.5 + 0.5
        return a * self.sig

    def derivative(self, xp: Any) -> Any:
        return self.sig * (1 + self.a * (1 - self.sig))


class Mish(_Pointwise):
    """x * tanh(softplus(x))."""

    saves_inputs = True  # backward reads forward's x: an in-place write to it must raise

    def forward(self, a: Any) -> Any:
        xp = get_array_module(a)
        self.a = a
        self.t = xp.tanh(xp.maximum(a, 0) + xp.log1p(xp.exp(-xp.abs(a))))
        return a * self.t

    def derivative(self, xp: Any) -> Any:
        sig = xp.tanh(self.a * 0.5) * 0.5 + 0.5
        return self.t + self.a * sig * (1 - self.t * self.t)


class LogSigmoid(_Pointwise):
    """log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)), stable for any x."""

    saves_inputs = True  # backward reads forward's x: an in-place write to it must raise

    def forward(self, a: Any) -> Any:
        xp = get_array_module(a)
        self.a = a
        return xp.minimum(a, 0) - xp.log1p(xp.exp(-xp.abs(a)))

    def derivative(self, xp: Any) -> Any:
        return 0.5 - xp.tanh(self.a * 0.5) * 0.5  # sigmoid(-x)


class Threshold(_Pointwise):
    """x where x > threshold, else value."""

    def forward(self, a: Any, threshold: float, value: float) -> Any:
        xp = get_array_module(a)
        self.keep = a > threshold
        return xp.where(self.keep, a, value).astype(a.dtype, copy=False)

    def derivative(self, xp: Any) -> Any:
        return self.keep


class Prelu(Function):
    """x for x > 0, weight * x otherwise; weight is per channel (dim 1) or a single value."""

    def forward(self, a: Any, weight: Any) -> Any:
        xp = get_array_module(a)
        if weight.size == 1:
            w = weight.reshape(())
        else:
            w = weight.reshape((1, -1) + (1,) * (a.ndim - 2))
        self.a, self.w, self.w_shape = a, w, weight.shape
        self.pos = a > 0
        return xp.where(self.pos, a, w * a).astype(a.dtype, copy=False)

    def backward(self, g: Any) -> tuple:
        xp = get_array_module(g)
        ga = gw = None
        if self.needs_input_grad[0]:
            ga = xp.where(self.pos, g, self.w * g).astype(g.dtype, copy=False)
        if self.needs_input_grad[1]:
            contrib = xp.where(self.pos, 0, self.a * g)
            if self.w.ndim == 0:
                gw = contrib.sum().reshape(self.w_shape)
            else:
                axes = (0,) + tuple(range(2, contrib.ndim))  # all but the channel dim
                gw = contrib.sum(axis=axes).reshape(self.w_shape)
            gw = gw.astype(g.dtype, copy=False)
        return ga, gw
