"""Elementwise ops: arithmetic, unary math, activations, clamp, maximum/minimum, where, cast."""

from __future__ import annotations

import operator
from typing import Any

from engine import backend
from engine.backend import get_array_module
from engine.function import Function
from engine.ops.util import records_grad, unbroadcast


class Add(Function):
    saves_inputs = False

    def forward(self, a: Any, b: Any) -> Any:
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, g: Any) -> tuple:
        ga = unbroadcast(g, self.shapes[0]) if self.needs_input_grad[0] else None
        gb = unbroadcast(g, self.shapes[1]) if self.needs_input_grad[1] else None
        return ga, gb


class Sub(Function):
    saves_inputs = False

    def forward(self, a: Any, b: Any) -> Any:
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, g: Any) -> tuple:
        ga = unbroadcast(g, self.shapes[0]) if self.needs_input_grad[0] else None
        gb = unbroadcast(-g, self.shapes[1]) if self.needs_input_grad[1] else None
        return ga, gb


class Mul(Function):
    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return a * b

    def backward(self, g: Any) -> tuple:
        ga = unbroadcast(g * self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(g * self.a, self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return a / b

    def backward(self, g: Any) -> tuple:
        ga = unbroadcast(g / self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = None
        if self.needs_input_grad[1]:
            gb = unbroadcast(-g * self.a / (self.b * self.b), self.b.shape)
        return ga, gb


class Neg(Function):
    saves_inputs = False

    def forward(self, a: Any) -> Any:
        return -a

    def backward(self, g: Any) -> Any:
        return -g


class PowScalar(Function):
    def forward(self, a: Any, exponent: float) -> Any:
        self.a, self.exponent = a, exponent
        return a**exponent

    def backward(self, g: Any) -> Any:
        p = self.exponent
        if p == 0:
            return g * 0
        return g * (p * self.a ** (p - 1)).astype(self.a.dtype, copy=False)


class Pow(Function):
    saves_output = True

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        self.out = a**b
        return self.out

    def backward(self, g: Any) -> tuple:
        xp = get_array_module(g)
        a, b = self.a, self.b
        ga = gb = None
        # 0 ** negative and log(0) give inf/nan inside the masked-out branches: not errors
        with backend.errstate(xp, divide="ignore", invalid="ignore"):
            if self.needs_input_grad[0]:
                # d/da a**b = b * a**(b-1); 0 where b == 0 (PyTorch masks that case too)
                ga = unbroadcast(g * xp.where(b == 0, 0, b * a ** (b - 1)), a.shape)
            if self.needs_input_grad[1]:
                log_a = xp.log(a)
                gb = unbroadcast(g * xp.where((a == 0) & (b >= 0), 0, self.out * log_a), b.shape)
        return ga, gb


class Exp(Function):
    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        self.out = get_array_module(a).exp(a)
        return self.out

    def backward(self, g: Any) -> Any:
        return g * self.out


class Log(Function):
    def forward(self, a: Any) -> Any:
        self.a = a
        return get_array_module(a).log(a)

    def backward(self, g: Any) -> Any:
        return g / self.a


class Sqrt(Function):
    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        self.out = get_array_module(a).sqrt(a)
        return self.out

    def backward(self, g: Any) -> Any:
        return g / (2 * self.out)


class Abs(Function):
    def forward(self, a: Any) -> Any:
        self.a = a
        return abs(a)

    def backward(self, g: Any) -> Any:
        return g * get_array_module(g).sign(self.a)


class Sin(Function):
    def forward(self, a: Any) -> Any:
        self.a = a
        return get_array_module(a).sin(a)

    def backward(self, g: Any) -> Any:
        return g * get_array_module(g).cos(self.a)


class Cos(Function):
    def forward(self, a: Any) -> Any:
        self.a = a
        return get_array_module(a).cos(a)

    def backward(self, g: Any) -> Any:
        return -g * get_array_module(g).sin(self.a)


class Tanh(Function):
    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        self.out = get_array_module(a).tanh(a)
        return self.out

    def backward(self, g: Any) -> Any:
        return g * (1 - self.out * self.out)


class Sigmoid(Function):
    saves_inputs = False
    saves_output = True

    def forward(self, a: Any) -> Any:
        # tanh form: never overflows, unlike 1 / (1 + exp(-a)) for large negative a
        self.out = get_array_module(a).tanh(a * 0.5) * 0.5 + 0.5
        return self.out

    def backward(self, g: Any) -> Any:
        return g * self.out * (1 - self.out)


def relu_values(a: Any, out: Any = None) -> Any:
    """max(a, 0) with PyTorch's values, into out if given (which may be a itself)."""
    # Not a * mask: that gives -0.0 for negatives and NaN for -inf. For floats, clip to
    # [0, inf] (PyTorch's values, -0.0 and NaN kept) runs 3x faster than maximum(a, 0) in
    # NumPy's float32 loops, measured.
    xp = get_array_module(a)
    if a.dtype.kind == "f":
        return xp.clip(a, 0.0, xp.inf, out=out)
    return xp.maximum(a, a.dtype.type(0), out=out)


def relu_mask(out: Any) -> Any:
    """Where ReLU's gradient passes, from its output: everywhere but the zeros, so a NaN passes
    it, as in PyTorch (whose backward tests output <= 0); a mask of input > 0 stopped it."""
    return out != 0


class Relu(Function):
    saves_inputs = False  # keeps a private mask, not the input array

    def forward(self, a: Any) -> Any:
        out = relu_values(a)
        if records_grad(self):  # no mask in eval or for an input without grad
            self.mask = relu_mask(out)
        return out

    def backward(self, g: Any) -> Any:
        return g * self.mask


class Clamp(Function):
    saves_inputs = False

    def forward(self, a: Any, min: float | None, max: float | None) -> Any:  # noqa: A002
        xp = get_array_module(a)
        self.mask = xp.ones(a.shape, dtype=bool)
        if min is not None:
            self.mask &= a >= min
        if max is not None:
            self.mask &= a <= max
        return xp.clip(a, min, max).astype(a.dtype, copy=False)

    def backward(self, g: Any) -> Any:
        return g * self.mask


class _Extremum(Function):
    """maximum / minimum: the larger (smaller) input gets the gradient, ties split it in half."""

    pick_first: Any = None
    beats: Any = None  # a wins over b (strictly; NaN never wins)

    def forward(self, a: Any, b: Any) -> Any:
        self.a, self.b = a, b
        return type(self).pick_first(get_array_module(a), a, b)

    def backward(self, g: Any) -> tuple:
        xp = get_array_module(g)
        wins = type(self).beats(self.a, self.b)
        tie = self.a == self.b
        share_a = xp.where(tie, 0.5, wins.astype(g.dtype)).astype(g.dtype, copy=False)
        ga = unbroadcast(g * share_a, self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(g * (1 - share_a), self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Maximum(_Extremum):
    pick_first = staticmethod(lambda xp, a, b: xp.maximum(a, b))
    beats = staticmethod(operator.gt)


class Minimum(_Extremum):
    pick_first = staticmethod(lambda xp, a, b: xp.minimum(a, b))
    beats = staticmethod(operator.lt)


class Where(Function):
    saves_inputs = False

    def forward(self, a: Any, b: Any, condition: Any) -> Any:
        self.condition, self.shapes = condition, (a.shape, b.shape)
        return get_array_module(a).where(condition, a, b)

    def backward(self, g: Any) -> tuple:
        zero = g.dtype.type(0)
        xp = get_array_module(g)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(xp.where(self.condition, g, zero), self.shapes[0])
        if self.needs_input_grad[1]:
            gb = unbroadcast(xp.where(self.condition, zero, g), self.shapes[1])
        return ga, gb


class Cast(Function):
    saves_inputs = False

    def forward(self, a: Any, dtype: Any) -> Any:
        self.in_dtype = a.dtype
        return a.astype(dtype)

    def backward(self, g: Any) -> Any:
        return g.astype(self.in_dtype, copy=False)

    def _release(self) -> None:
        # Only a dtype is kept, nothing to free: as PyTorch's ToCopyBackward0 (no saved tensor),
        # several graphs may backward through one cast (autocast's cached casts of a weight).
        pass
