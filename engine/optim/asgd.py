"""ASGD: SGD with decaying steps and a running (Polyak) average of the iterates."""

from __future__ import annotations

from typing import Any

from engine import backend
from engine.optim.optimizer import Optimizer
from engine.tensor import Tensor


class ASGD(Optimizer):
    """Averaged SGD (Polyak and Juditsky, 1992) with PyTorch's eta/mu schedules."""

    def __init__(self, params: Any, lr: float = 1e-2, lambd: float = 1e-4, alpha: float = 0.75,
                 t0: float = 1e6, weight_decay: float = 0, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        self._check_nonnegative(lr=lr, weight_decay=weight_decay)
        defaults = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0,
                    "weight_decay": weight_decay,
                    **self._implementation_flags(foreach=foreach), "maximize": maximize,
                    **self._implementation_flags(differentiable=differentiable,
                                                 capturable=capturable)}
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.get_array_module(p._data)
        param, lr, lambd = p._data, group["lr"], group["lambd"]
        if not state:
            # eta and mu are float32 scalars on the parameter's device, as PyTorch keeps them:
            # their values are rounded to float32 before each use.
            state["step"] = self._step_tensor()
            state["eta"] = Tensor._from_array(xp.full((), lr, dtype=xp.float32), p._device)
            state["mu"] = Tensor._from_array(xp.ones((), dtype=xp.float32), p._device)
            state["ax"] = self._zeros_state(p)
        if group["maximize"]:
            grad = xp.negative(grad, out=self._buffer(param))
        step = self._increment(state["step"])
        if group["weight_decay"] != 0:
            grad = self._add_scaled(grad, param, group["weight_decay"], out=self._buffer(param))
        eta, mu = float(state["eta"]._data), float(state["mu"]._data)
        param *= 1 - lambd * eta
        self._add_scaled(param, grad, -eta, out=param)
        ax = state["ax"]._data
        if mu != 1:
            diff = xp.subtract(param, ax, out=self._buffer(param, 1))
            diff *= mu
            ax += diff
        else:
            ax[...] = param
        state["eta"]._data[...] = lr / ((1 + lambd * lr * step) ** group["alpha"])
        state["mu"]._data[...] = 1 / max(1, step - group["t0"])
