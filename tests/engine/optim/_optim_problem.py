"""A tiny regression problem that both this engine and PyTorch train, with real gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import engine as en

SHAPES = {"w1": (8, 5), "b1": (8,), "w2": (3, 8), "b2": (3,)}


def initial_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """Starting weights shared by both frameworks."""
    rng = np.random.default_rng(seed)
    return {k: (0.5 * rng.standard_normal(s)).astype(np.float32) for k, s in SHAPES.items()}


def batches(n: int = 20, seed: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    """n (x, y) batches of a noisy linear target."""
    rng = np.random.default_rng(seed)
    true = rng.standard_normal((5, 3)).astype(np.float32)
    out = []
    for _ in range(n):
        x = rng.standard_normal((16, 5)).astype(np.float32)
        out.append((x, (x @ true + 0.1 * rng.standard_normal((16, 3))).astype(np.float32)))
    return out


def loss_fn(p: dict[str, Any], x: Any, y: Any) -> Any:
    """Mean squared error of a one-hidden-layer tanh net; works on engine and torch tensors."""
    h = (x @ p["w1"].t() + p["b1"]).tanh()
    return ((h @ p["w2"].t() + p["b2"] - y) ** 2).mean()


def engine_params(weights: dict[str, np.ndarray], device: str = "cpu") -> dict[str, Any]:
    """Engine parameters holding copies of weights."""
    return {k: en.nn.Parameter(en.tensor(v.copy(), device=device)) for k, v in weights.items()}


def torch_params(torch: Any, weights: dict[str, np.ndarray]) -> dict[str, Any]:
    """Torch leaf tensors holding copies of weights."""
    return {k: torch.tensor(v.copy(), requires_grad=True) for k, v in weights.items()}


def train(opt: Any, params: dict[str, Any], data: list, make: Callable[[np.ndarray], Any],
          sched: Any = None) -> list[float]:
    """Run one optimizer step per batch (zero_grad, backward, step); returns the losses."""
    losses = []
    for x, y in data:
        opt.zero_grad()
        loss = loss_fn(params, make(x), make(y))
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        losses.append(float(loss.item()))
    return losses


def to_numpy(t: Any) -> np.ndarray:
    """Host copy of an engine or torch tensor."""
    if isinstance(t, en.Tensor):
        return en.backend.to_numpy(t._data).copy()
    return t.detach().cpu().numpy().copy()
