"""SGD with momentum, dampening, Nesterov momentum and L2 weight decay (PyTorch's formulas)."""

from __future__ import annotations

from typing import Any

from engine import backend
from engine.optim.optimizer import Optimizer
from engine.tensor import Tensor


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum."""

    _flat_small = True

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        self._check_nonnegative(lr=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                    **self._implementation_flags(foreach=foreach, differentiable=differentiable,
                                                 fused=fused)}
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.get_array_module(p._data)
        param, momentum = p._data, group["momentum"]
        if group["maximize"]:
            grad = xp.negative(grad, out=self._buffer(param))
        if group["weight_decay"] != 0:
            grad = self._add_scaled(grad, param, group["weight_decay"], out=self._buffer(param))
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                state["momentum_buffer"] = buf = Tensor._from_array(grad.copy(), p._device)
            else:
                buf._data *= momentum
                self._add_scaled(buf._data, grad, 1 - group["dampening"], out=buf._data)
            if group["nesterov"]:
                grad = self._add_scaled(grad, buf._data, momentum, out=self._buffer(param))
            else:
                grad = buf._data
        self._add_scaled(param, grad, -group["lr"], out=param)
