"""Adagrad: per-coordinate learning rates from the running sum of squared gradients."""

from __future__ import annotations

from typing import Any

from engine import backend
from engine.optim.optimizer import Optimizer
from engine.tensor import Tensor


class Adagrad(Optimizer):
    """Adagrad with learning-rate decay and L2 weight decay (PyTorch's formulas)."""

    def __init__(self, params: Any, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        self._check_nonnegative(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                initial_accumulator_value=initial_accumulator_value, eps=eps)
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value,
                    **self._implementation_flags(foreach=foreach), "maximize": maximize,
                    **self._implementation_flags(differentiable=differentiable, fused=fused)}
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group; its accumulators start at initial_accumulator_value."""
        super().add_param_group(param_group)
        # PyTorch creates Adagrad's state eagerly, so a fresh optimizer's state_dict has it.
        group = self.param_groups[-1]
        for p in group["params"]:
            self._init_state(p, group)

    def _init_state(self, p: Tensor, group: dict[str, Any]) -> None:
        state = self.state[p]
        if not state:
            state["step"] = self._step_tensor()
            state["sum"] = self._zeros_state(p, self.defaults["initial_accumulator_value"])

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.get_array_module(p._data)
        param = p._data
        if not state:
            self._init_state(p, group)
        step = self._increment(state["step"])
        if group["maximize"]:
            grad = xp.negative(grad, out=self._buffer(param))
        if group["weight_decay"] != 0:
            grad = self._add_scaled(grad, param, group["weight_decay"], out=self._buffer(param))
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        state_sum = state["sum"]._data
        self._addcmul_(state_sum, grad, grad, 1.0)
        std = xp.sqrt(state_sum, out=self._buffer(param, 1))
        std += group["eps"]
        self._addcdiv_(param, grad, std, -clr)
