"""RMSprop (optionally centered, with momentum), PyTorch's single-tensor formulas."""

from __future__ import annotations

from typing import Any

from engine import backend
from engine.optim.optimizer import Optimizer
from engine.tensor import Tensor


class RMSprop(Optimizer):
    """Divide the gradient by a running root mean square of recent gradients."""

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        self._check_nonnegative(lr=lr, eps=eps, momentum=momentum, weight_decay=weight_decay,
                                alpha=alpha)
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                    "centered": centered, "weight_decay": weight_decay,
                    **self._implementation_flags(capturable=capturable, foreach=foreach),
                    "maximize": maximize,
                    **self._implementation_flags(differentiable=differentiable)}
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.get_array_module(p._data)
        param, alpha, momentum = p._data, group["alpha"], group["momentum"]
        if not state:
            state["step"] = self._step_tensor()
            state["square_avg"] = self._zeros_state(p)
            if momentum > 0:
                state["momentum_buffer"] = self._zeros_state(p)
            if group["centered"]:
                state["grad_avg"] = self._zeros_state(p)
        self._increment(state["step"])
        if group["maximize"]:
            grad = xp.negative(grad, out=self._buffer(param))
        if group["weight_decay"] != 0:
            grad = self._add_scaled(grad, param, group["weight_decay"], out=self._buffer(param))
        square_avg = state["square_avg"]._data
        square_avg *= alpha
        self._addcmul_(square_avg, grad, grad, 1 - alpha)
        avg = self._buffer(param, 1)
        if group["centered"]:
            grad_avg = state["grad_avg"]._data
            self._lerp_(grad_avg, grad, 1 - alpha)
            xp.multiply(grad_avg, grad_avg, out=avg)
            xp.subtract(square_avg, avg, out=avg)
            xp.sqrt(avg, out=avg)
        else:
            xp.sqrt(square_avg, out=avg)
        avg += group["eps"]
        if momentum > 0:
            buf = state["momentum_buffer"]._data
            buf *= momentum
            self._addcdiv_(buf, grad, avg, 1.0)
            self._add_scaled(param, buf, -group["lr"], out=param)
        else:
            self._addcdiv_(param, grad, avg, -group["lr"])
