"""Dropout layers (identity in eval mode; draws from engine.random so manual_seed drives them)."""

from __future__ import annotations

from engine.nn import functional as F
from engine.nn.module import Module
from engine.tensor import Tensor


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero elements with probability p during training, scaling the rest by 1/(1-p)."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """dropout(input, p, training)."""
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) or (C, L) inputs during training."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """dropout1d(input, p, training)."""
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero whole channels of (N, C, H, W) inputs during training."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """dropout2d(input, p, training)."""
        return F.dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) inputs during training."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        """dropout3d(input, p, training)."""
        return F.dropout3d(input, self.p, self.training, self.inplace)
