"""Adadelta: step sizes from running averages of squared gradients and squared updates."""

from __future__ import annotations

from typing import Any

from engine import backend
from engine.optim.optimizer import Optimizer
from engine.tensor import Tensor


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012) with L2 weight decay, PyTorch's single-tensor formulas."""

    def __init__(self, params: Any, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        self._check_nonnegative(lr=lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        self._check_nonnegative(eps=eps, weight_decay=weight_decay)
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize,
                    **self._implementation_flags(capturable=capturable, foreach=foreach,
                                                 differentiable=differentiable)}
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.get_array_module(p._data)
        param, rho, eps = p._data, group["rho"], group["eps"]
        if not state:
            state["step"] = self._step_tensor()
            state["square_avg"] = self._zeros_state(p)
            state["acc_delta"] = self._zeros_state(p)
        self._increment(state["step"])
        if group["maximize"]:
            grad = xp.negative(grad, out=self._buffer(param))
        if group["weight_decay"] != 0:
            grad = self._add_scaled(grad, param, group["weight_decay"], out=self._buffer(param))
        square_avg, acc_delta = state["square_avg"]._data, state["acc_delta"]._data
        square_avg *= rho
        self._addcmul_(square_avg, grad, grad, 1 - rho)
        std = xp.add(square_avg, eps, out=self._buffer(param, 1))
        xp.sqrt(std, out=std)
        delta = xp.add(acc_delta, eps, out=self._buffer(param, 2))
        xp.sqrt(delta, out=delta)
        delta /= std
        delta *= grad
        acc_delta *= rho
        self._addcmul_(acc_delta, delta, delta, 1 - rho)
        self._add_scaled(param, delta, -group["lr"], out=param)
