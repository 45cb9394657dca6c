"""Adam (optionally AMSGrad) and AdamW (decoupled weight decay) with PyTorch's formulas."""

from __future__ import annotations

from typing import Any

from engine import backend
from engine.optim.optimizer import Optimizer
from engine.tensor import Tensor


class Adam(Optimizer):
    """Adam: bias-corrected moving averages of the gradient and of its square."""

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        self._check_nonnegative(lr=lr, eps=eps)
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        self._check_nonnegative(weight_decay=weight_decay)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize,
                    **self._implementation_flags(foreach=foreach, capturable=capturable,
                                                 differentiable=differentiable, fused=fused),
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.get_array_module(p._data)
        param = p._data
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        if not state:  # lazy initialisation, as PyTorch does on the first step
            state["step"] = self._step_tensor()
            state["exp_avg"] = self._zeros_state(p)
            state["exp_avg_sq"] = self._zeros_state(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = self._zeros_state(p)
        exp_avg, exp_avg_sq = state["exp_avg"]._data, state["exp_avg_sq"]._data
        if group["maximize"]:
            grad = xp.negative(grad, out=self._buffer(param))
        step = self._increment(state["step"])
        if wd != 0:
            if group["decoupled_weight_decay"]:
                param *= 1 - lr * wd
            else:
                grad = self._add_scaled(grad, param, wd, out=self._buffer(param))
        self._lerp_(exp_avg, grad, 1 - beta1)
        exp_avg_sq *= beta2
        self._addcmul_(exp_avg_sq, grad, grad, 1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        second = exp_avg_sq
        if group["amsgrad"]:
            second = xp.maximum(state["max_exp_avg_sq"]._data, exp_avg_sq,
                                out=state["max_exp_avg_sq"]._data)
        denom = xp.sqrt(second, out=self._buffer(param, 1))
        denom /= bias_correction2_sqrt
        denom += group["eps"]
        self._addcdiv_(param, exp_avg, denom, -lr / bias_correction1)


class AdamW(Adam):
    """Adam with decoupled weight decay: parameters shrink by lr * weight_decay each step."""

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable, differentiable=differentiable,
                         fused=fused, decoupled_weight_decay=True)
