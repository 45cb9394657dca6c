"""Rprop: per-coordinate step sizes that grow while the gradient keeps its sign."""

from __future__ import annotations

from typing import Any

from engine import backend
from engine.optim.optimizer import Optimizer
from engine.tensor import Tensor


class Rprop(Optimizer):
    """Resilient backpropagation (Riedmiller and Braun, 1993), PyTorch's variant."""

    def __init__(self, params: Any, lr: float = 1e-2, etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        self._check_nonnegative(lr=lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = {"lr": lr, "etas": tuple(etas), "step_sizes": tuple(step_sizes),
                    **self._implementation_flags(foreach=foreach), "maximize": maximize,
                    **self._implementation_flags(differentiable=differentiable,
                                                 capturable=capturable)}
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = backend.get_array_module(p._data)
        param = p._data
        (eta_minus, eta_plus), (size_min, size_max) = group["etas"], group["step_sizes"]
        if not state:
            state["step"] = self._step_tensor()
            state["prev"] = self._zeros_state(p)
            state["step_size"] = self._zeros_state(p, group["lr"])
        self._increment(state["step"])
        prev, step_size = state["prev"]._data, state["step_size"]._data
        if group["maximize"]:
            grad = xp.negative(grad, out=self._buffer(param))
        # factor: eta_plus where the gradient kept its sign, eta_minus where it flipped, else 1
        sign = xp.multiply(grad, prev, out=self._buffer(param, 1))
        factor = self._buffer(param, 2)
        factor.fill(1)
        factor[sign > 0] = eta_plus
        flipped = sign < 0
        factor[flipped] = eta_minus
        step_size *= factor
        xp.clip(step_size, size_min, size_max, out=step_size)
        # after a sign flip the coordinate rests one step (its stored gradient becomes 0)
        xp.copyto(prev, grad)
        prev[flipped] = 0
        direction = xp.sign(prev, out=factor)
        self._addcmul_(param, direction, step_size, -1.0)
