"""NAdam (Adam with Nesterov momentum) and RAdam (rectified Adam), PyTorch's formulas."""

from __future__ import annotations

from typing import Any

from engine import backend
from engine.optim.adamax import check_betas
from engine.optim.optimizer import Optimizer
from engine.tensor import Tensor


class _AdamFamily(Optimizer):
    """Shared constructor checks and weight decay of NAdam and RAdam."""

    def _decay(self, param: Any, grad: Any, group: dict[str, Any]) -> Any:
        """Apply weight decay (decoupled: shrink param; else: add it to grad); returns grad."""
        wd = group["weight_decay"]
        if wd == 0:
            return grad
        if group["decoupled_weight_decay"]:
            param *= 1 - group["lr"] * wd
            return grad
        return self._add_scaled(grad, param, wd, out=self._buffer(param))

    @staticmethod
    def _check(lr: float, betas: tuple[float, float], eps: float, weight_decay: float) -> None:
        Optimizer._check_nonnegative(lr=lr, eps=eps)
        check_betas(betas)
        Optimizer._check_nonnegative(weight_decay=weight_decay)


class NAdam(_AdamFamily):
    """NAdam (Dozat, 2016) with PyTorch's momentum-decay schedule."""

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        self._check(lr, betas, eps, weight_decay)
        self._check_nonnegative(momentum_decay=momentum_decay)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay,
                    "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize,
                    **self._implementation_flags(foreach=foreach, capturable=capturable,
                                                 differentiable=differentiable)}
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.get_array_module(p._data)
        param, lr, (beta1, beta2) = p._data, group["lr"], group["betas"]
        if not state:
            state["step"] = self._step_tensor()
            # A float32 CPU scalar as in PyTorch: the product is rounded to float32 every step.
            state["mu_product"] = self._step_tensor(1.0)
            state["exp_avg"] = self._zeros_state(p)
            state["exp_avg_sq"] = self._zeros_state(p)
        if group["maximize"]:
            grad = xp.negative(grad, out=self._buffer(param))
        step = self._increment(state["step"])
        bias_correction2 = 1 - beta2**step
        grad = self._decay(param, grad, group)
        decay = group["momentum_decay"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * decay))
        state["mu_product"]._data *= mu
        mu_product = float(state["mu_product"]._data)
        exp_avg, exp_avg_sq = state["exp_avg"]._data, state["exp_avg_sq"]._data
        self._lerp_(exp_avg, grad, 1 - beta1)
        exp_avg_sq *= beta2
        self._addcmul_(exp_avg_sq, grad, grad, 1 - beta2)
        denom = xp.divide(exp_avg_sq, bias_correction2, out=self._buffer(param, 1))
        xp.sqrt(denom, out=denom)
        denom += group["eps"]
        self._addcdiv_(param, grad, denom, -lr * (1.0 - mu) / (1.0 - mu_product))
        self._addcdiv_(param, exp_avg, denom, -lr * mu_next / (1.0 - mu_product * mu_next))


class RAdam(_AdamFamily):
    """RAdam (Liu et al., 2019): Adam whose adaptive term is switched on once its variance is
    tractable, and rectified."""

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, decoupled_weight_decay: bool = False,
                 *, foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False) -> None:
        self._check(lr, betas, eps, weight_decay)
        flags = self._implementation_flags(foreach=foreach, capturable=capturable,
                                           differentiable=differentiable)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "foreach": flags["foreach"],
                    "capturable": flags["capturable"],
                    "decoupled_weight_decay": decoupled_weight_decay,
                    "differentiable": flags["differentiable"]}
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.get_array_module(p._data)
        param, lr, (beta1, beta2) = p._data, group["lr"], group["betas"]
        if not state:
            state["step"] = self._step_tensor()
            state["exp_avg"] = self._zeros_state(p)
            state["exp_avg_sq"] = self._zeros_state(p)
        if group["maximize"]:
            grad = xp.negative(grad, out=self._buffer(param))
        step = self._increment(state["step"])
        grad = self._decay(param, grad, group)
        exp_avg, exp_avg_sq = state["exp_avg"]._data, state["exp_avg_sq"]._data
        self._lerp_(exp_avg, grad, 1 - beta1)
        exp_avg_sq *= beta2
        self._addcmul_(exp_avg_sq, grad, grad, 1 - beta2)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        update = xp.divide(exp_avg, bias_correction1, out=self._buffer(param, 1))
        update *= lr
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        if rho_t > 5.0:  # variance tractable: adaptive step, rectified
            adaptive = xp.sqrt(exp_avg_sq, out=self._buffer(param, 2))
            adaptive += group["eps"]
            xp.divide(bias_correction2**0.5, adaptive, out=adaptive)
            update *= adaptive
            update *= ((rho_t - 4) * (rho_t - 2) * rho_inf
                       / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        param -= update
