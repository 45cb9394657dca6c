"""Sampling functions (PyTorch's torch.bernoulli, torch.normal, torch.multinomial), drawn on the CPU
from the global generator like engine.rand, then moved to the input's device."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import backend, dtypes
from engine import random as _random
from engine.tensor import Tensor


def _on(array: np.ndarray, device: str) -> Tensor:
    return Tensor._from_array(array if device == "cpu" else backend.to_device(array, device),
                              device)


def bernoulli(input: Tensor, p: float | None = None) -> Tensor:  # noqa: A002
    """1 with probability input (or p) elementwise, else 0, in input's dtype."""
    probs = backend.to_numpy(input._data) if p is None else p
    draws = _random.generator().random(input.shape) < probs
    return _on(draws.astype(input._data.dtype), input._device)


def normal(mean: Any, std: Any = 1.0, size: Any = None, *, dtype: Any = None,
           device: Any = None) -> Tensor:
    """Samples of N(mean, std**2): mean and std tensors or numbers (size= when both are)."""
    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    m = backend.to_numpy(mean._data) if isinstance(mean, Tensor) else mean
    s = backend.to_numpy(std._data) if isinstance(std, Tensor) else std
    if tensors:
        shape = np.broadcast_shapes(*[t.shape for t in tensors])
        np_dtype = tensors[0]._data.dtype
        dev = tensors[0]._device
    else:
        if size is None:
            raise TypeError("normal() missing the size argument for scalar mean and std")
        shape = tuple(size)
        np_dtype = dtypes.to_numpy_dtype(dtype)
        dev = backend.normalize_device(device)
    draws = _random.generator().normal(m, s, shape).astype(np_dtype)
    return _on(draws, dev)


def multinomial(input: Tensor, num_samples: int,  # noqa: A002
                replacement: bool = False) -> Tensor:
    """Indices drawn from the categories weighted by each row of input (1-D or 2-D), int64."""
    if input.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    weights = backend.to_numpy(input._data).astype(np.float64).reshape(-1, input.shape[-1])
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if (weights.sum(axis=1) <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    categories = weights.shape[1]
    if not replacement and num_samples > categories:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")
    gen = _random.generator()
    if replacement:  # inverse CDF: one uniform per sample
        cdf = np.cumsum(weights, axis=1)
        cdf /= cdf[:, -1:]
        u = gen.random((weights.shape[0], num_samples))
        picks = np.stack([np.searchsorted(c, row, side="right") for c, row in zip(cdf, u,
                                                                                  strict=True)])
        picks = np.minimum(picks, categories - 1)
    else:  # Gumbel top-k: the order of log w + Gumbel noise samples without replacement
        with np.errstate(divide="ignore"):
            keys = np.log(weights) - np.log(-np.log(gen.random(weights.shape)))
        picks = np.argsort(-keys, axis=1, kind="stable")[:, :num_samples]
    out = picks.astype(np.int64)
    return _on(out if input.ndim == 2 else out.reshape(-1), input._device)
