"""SparseAdam: kept for PyTorch's name; this library has no sparse gradients, so it refuses."""

from __future__ import annotations

from typing import Any

from engine.optim.adamax import check_betas
from engine.optim.optimizer import Optimizer
from engine.tensor import Tensor


class SparseAdam(Optimizer):
    """PyTorch's lazy Adam for sparse gradients; every gradient here is dense, so step() raises
    PyTorch's own error for dense gradients (use Adam)."""

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, maximize: bool = False) -> None:
        if not 0.0 < lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        check_betas(betas)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "maximize": maximize}
        super().__init__(params, defaults)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise RuntimeError("SparseAdam does not support dense gradients, please consider Adam "
                           "instead")
