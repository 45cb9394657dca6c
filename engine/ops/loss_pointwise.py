"""Elementwise losses as one node each: l(x, y) per element, optional weight, then a reduction.

Each subclass gives the loss and its partial derivatives in x and y; the base applies the
weight, the reduction and broadcasting, so MSE, L1, smooth L1, Huber, BCE and KL divergence
share one forward/backward skeleton.
"""

from __future__ import annotations

from typing import Any

from engine import backend
from engine.backend import get_array_module, is_numpy
from engine.function import Function
from engine.ops.util import unbroadcast

# PyTorch clamps BCE's logs at -100 (so log(0) stays finite) and its gradient denominator at 1e-12.
_LOG_FLOOR = -100.0
_BCE_EPS = 1e-12


class _PointwiseLoss(Function):
    """weight * l(x, y), reduced by 'none' | 'sum' | 'mean'; divisor overrides the mean's count."""

    def forward(self, x: Any, y: Any, weight: Any = None, reduction: str = "mean",
                divisor: Any = None, **params: Any) -> Any:
        xp = get_array_module(x)
        self.x, self.y, self.weight, self.reduction = x, y, weight, reduction
        self.params = params
        loss = self.loss(xp, x, y)
        if weight is not None:
            loss = loss * weight
        self.loss_shape = loss.shape
        if reduction == "none":
            self.divisor = None
            return loss.astype(x.dtype, copy=False)
        if divisor is None:
            divisor = loss.size if reduction == "mean" else 1
        self.divisor = divisor
        return (loss.sum() / divisor).astype(x.dtype)

    def loss(self, xp: Any, x: Any, y: Any) -> Any:
        """Elementwise loss."""
        raise NotImplementedError

    def partials(self, xp: Any, x: Any, y: Any) -> tuple[Any, Any]:
        """(dl/dx, dl/dy) elementwise."""
        raise NotImplementedError

    def backward(self, g: Any) -> tuple:
        xp = get_array_module(g)
        x, y = self.x, self.y
        if self.divisor is not None:
            g = g / self.divisor
        if self.weight is not None:
            g = g * self.weight
        dx, dy = self.partials(xp, x, y)
        gx = gy = None
        if self.needs_input_grad[0]:
            gx = unbroadcast(g * dx, x.shape).astype(x.dtype, copy=False)
        if self.needs_input_grad[1]:
            gy = unbroadcast(g * dy, y.shape).astype(y.dtype, copy=False)
        return gx, gy


class MSELoss(_PointwiseLoss):
    """(x - y)^2."""

    def loss(self, xp: Any, x: Any, y: Any) -> Any:
        d = x - y
        return d * d

    def partials(self, xp: Any, x: Any, y: Any) -> tuple[Any, Any]:
        d2 = 2 * (x - y)
        return d2, -d2


class L1Loss(_PointwiseLoss):
    """|x - y|; the gradient at x == y is 0, as sign(0)."""

    def loss(self, xp: Any, x: Any, y: Any) -> Any:
        return xp.abs(x - y)

    def partials(self, xp: Any, x: Any, y: Any) -> tuple[Any, Any]:
        s = xp.sign(x - y)
        return s, -s


class SmoothL1Loss(_PointwiseLoss):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta > 0)."""

    def loss(self, xp: Any, x: Any, y: Any) -> Any:
        beta = self.params["beta"]
        d = x - y
        ad = xp.abs(d)
        return xp.where(ad < beta, (0.5 / beta) * d * d, ad - 0.5 * beta)

    def partials(self, xp: Any, x: Any, y: Any) -> tuple[Any, Any]:
        beta = self.params["beta"]
        d = x - y
        dx = xp.where(xp.abs(d) < beta, d / beta, xp.sign(d))
        return dx, -dx


class HuberLoss(_PointwiseLoss):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta)."""

    def loss(self, xp: Any, x: Any, y: Any) -> Any:
        delta = self.params["delta"]
        d = x - y
        ad = xp.abs(d)
        return xp.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))

    def partials(self, xp: Any, x: Any, y: Any) -> tuple[Any, Any]:
        delta = self.params["delta"]
        dx = xp.clip(x - y, -delta, delta)
        return dx, -dx


class BinaryCrossEntropy(_PointwiseLoss):
    """-(y log x + (1 - y) log(1 - x)) for probabilities x, each log clamped at -100."""

    def loss(self, xp: Any, x: Any, y: Any) -> Any:
        # NaN fails too, as in PyTorch; on a GPU the check would stop it each step, and an input
        # out of range gives a NaN loss there (the log of a negative number)
        if is_numpy(xp) and x.size and not bool(((x >= 0) & (x <= 1)).all()):
            raise RuntimeError("all elements of input should be between 0 and 1")
        self.log_x, self.log_1mx = self._logs(xp, x)
        return -(y * self.log_x + (1 - y) * self.log_1mx)

    @staticmethod
    def _logs(xp: Any, x: Any) -> tuple[Any, Any]:
        with _quiet(xp):
            return xp.maximum(xp.log(x), _LOG_FLOOR), xp.maximum(xp.log1p(-x), _LOG_FLOOR)

    def partials(self, xp: Any, x: Any, y: Any) -> tuple[Any, Any]:
        dx = (x - y) / xp.maximum(x * (1 - x), _BCE_EPS)
        return dx, self.log_1mx - self.log_x


class KLDivLoss(_PointwiseLoss):
    """y (log y - x) for log-probabilities x (0 where y == 0); exp(y) (y - x) with log_target."""

    def loss(self, xp: Any, x: Any, y: Any) -> Any:
        if self.params["log_target"]:
            self.p = xp.exp(y)
            return self.p * (y - x)
        with _quiet(xp):
            self.log_y = xp.log(xp.where(y == 0, 1, y))  # xlogy: 0 * log 0 counts as 0
        return y * self.log_y - y * x

    def partials(self, xp: Any, x: Any, y: Any) -> tuple[Any, Any]:
        if self.params["log_target"]:
            return -self.p, self.p * (y - x + 1)
        return -y, self.log_y + 1 - x


def _quiet(xp: Any) -> Any:
    """Ignore divide-by-zero and invalid on NumPy (CuPy has no such warnings)."""
    return backend.errstate(xp, divide="ignore", invalid="ignore")
