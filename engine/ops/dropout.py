"""Inverted dropout (elementwise and channel-wise): zero with probability p, scale the rest
by 1 / (1 - p)."""

from __future__ import annotations

from typing import Any

from engine import backend
from engine import random as _random
from engine.backend import get_array_module
from engine.function import Function


def keep_mask(shape: tuple[int, ...], p: float, dtype: Any, device: str) -> Any:
    """Scaled keep mask: drawn from the global generator on the CPU, and on a GPU by its own
    generator (a mask copied from the host each step would stall training)."""
    if device == "cpu":
        draws = _random.generator().random(shape, dtype="float32")
    else:
        draws = _random.device_uniform(shape, device)
    return (draws >= p).astype(dtype) * dtype.type(1.0 / (1.0 - p))


class Dropout(Function):
    """Elementwise inverted dropout."""

    saves_inputs = False

    def forward(self, a: Any, p: float) -> Any:
        xp = get_array_module(a)
        if p >= 1.0:
            self.mask = xp.zeros(a.shape, dtype=a.dtype)
        else:
            self.mask = keep_mask(a.shape, p, a.dtype, backend.device_of(a))
        return a * self.mask

    def backward(self, g: Any) -> Any:
        return g * self.mask


class FeatureDropout(Function):
    """Channel-wise dropout: one keep/drop draw per (sample, channel), broadcast over the rest."""

    saves_inputs = False

    def forward(self, a: Any, p: float, mask_shape: tuple[int, ...]) -> Any:
        xp = get_array_module(a)
        if p >= 1.0:
            self.mask = xp.zeros(mask_shape, dtype=a.dtype)
        else:
            self.mask = keep_mask(mask_shape, p, a.dtype, backend.device_of(a))
        return a * self.mask

    def backward(self, g: Any) -> Any:
        return g * self.mask
