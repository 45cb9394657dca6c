"""Adamax: Adam with the infinity norm of past gradients in place of their RMS."""

from __future__ import annotations

from typing import Any

from engine import backend
from engine.optim.optimizer import Optimizer
from engine.tensor import Tensor


def check_betas(betas: tuple[float, float]) -> None:
    """PyTorch's "Invalid beta parameter at index i" check (each beta in [0, 1))."""
    for i, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")


class Adamax(Optimizer):
    """Adamax (Kingma and Ba, 2014, section 7) with L2 weight decay."""

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        self._check_nonnegative(lr=lr, eps=eps)
        check_betas(betas)
        self._check_nonnegative(weight_decay=weight_decay)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    **self._implementation_flags(foreach=foreach), "maximize": maximize,
                    **self._implementation_flags(differentiable=differentiable,
                                                 capturable=capturable)}
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.get_array_module(p._data)
        param, (beta1, beta2) = p._data, group["betas"]
        if not state:
            state["step"] = self._step_tensor()
            state["exp_avg"] = self._zeros_state(p)
            state["exp_inf"] = self._zeros_state(p)
        if group["maximize"]:
            grad = xp.negative(grad, out=self._buffer(param))
        step = self._increment(state["step"])
        if group["weight_decay"] != 0:
            grad = self._add_scaled(grad, param, group["weight_decay"], out=self._buffer(param))
        exp_avg, exp_inf = state["exp_avg"]._data, state["exp_inf"]._data
        self._lerp_(exp_avg, grad, 1 - beta1)
        exp_inf *= beta2
        norm = xp.abs(grad, out=self._buffer(param, 1))
        norm += group["eps"]
        xp.maximum(exp_inf, norm, out=exp_inf)
        self._addcdiv_(param, exp_avg, exp_inf, -group["lr"] / (1 - beta1**step))
