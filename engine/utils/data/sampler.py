"""Samplers: which dataset indices an epoch visits, and in what order.

Each of these samplers' order is a pure function of (seed, epoch), so a loader restored from its
state reproduces an interrupted epoch exactly. ``indices()`` returns the whole epoch as one int64
array, which the DataLoader slices into batches; iterating yields Python ints as in PyTorch.
A sampler's seed is ``seed=`` if given, else its ``generator``'s, else drawn from engine's global
RNG when the sampler is made (so ``engine.manual_seed`` makes unseeded samplers reproducible).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any

import numpy as np

from ._random import epoch_rng, resolve_seed

__all__ = ["BatchSampler", "RandomSampler", "Sampler", "SequentialSampler",
           "SubsetRandomSampler", "WeightedRandomSampler"]


class Sampler:
    """Base class: ``__iter__`` over indices; these also give ``indices()``, ``set_epoch`` and a
    JSON-able ``state_dict``."""

    epoch: int = 0

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next pass yields."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict[str, Any]:
        """What determines the order: plain ints, JSON-serialisable."""
        return {"epoch": self.epoch, "seed": getattr(self, "seed", None)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict returned."""
        self.epoch = int(state["epoch"])
        if state.get("seed") is not None:
            self.seed = int(state["seed"])


class _ArraySampler(Sampler):
    """A sampler whose epoch is one int64 array."""

    def indices(self) -> np.ndarray:
        """This epoch's indices as an int64 array."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())


class SequentialSampler(_ArraySampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def indices(self) -> np.ndarray:
        """All indices in order."""
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(_ArraySampler):
    """A fresh permutation each epoch (or num_samples draws with replacement)."""

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator: Any = None, *,
                 seed: int | None = None) -> None:
        self.data_source, self.replacement = data_source, replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(
                f"replacement should be a boolean value, but got replacement={replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError("num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")
        self.seed = resolve_seed(seed, generator)

    @property
    def num_samples(self) -> int:
        """How many indices an epoch yields."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def indices(self) -> np.ndarray:
        """This epoch's permutation, from (seed, epoch)."""
        n, rng = len(self.data_source), epoch_rng(self.seed, self.epoch)
        if self.replacement:
            return rng.integers(0, n, size=self.num_samples, dtype=np.int64)
        # More samples than items without replacement: whole permutations in turn (as torch).
        reps = -(-self.num_samples // n) if n else 0
        perm = np.concatenate([rng.permutation(n) for _ in range(reps)] or [np.empty(0, int)])
        return perm[: self.num_samples].astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(_ArraySampler):
    """The given indices, in a fresh random order each epoch."""

    def __init__(self, indices: Sequence[int], generator: Any = None, *,
                 seed: int | None = None) -> None:
        self.subset = np.asarray(indices, dtype=np.int64)
        self.generator = generator
        self.seed = resolve_seed(seed, generator)

    def indices(self) -> np.ndarray:
        """The subset permuted by (seed, epoch)."""
        return self.subset[epoch_rng(self.seed, self.epoch).permutation(len(self.subset))]

    def __len__(self) -> int:
        return len(self.subset)


class WeightedRandomSampler(_ArraySampler):
    """num_samples indices drawn with probability proportional to weights (torch.multinomial)."""

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Any = None, *, seed: int | None = None) -> None:
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError("num_samples should be a positive integer value, but got "
                             f"num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(
                f"replacement should be a boolean value, but got replacement={replacement}")
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError("weights should be a 1d sequence but given weights have shape "
                             f"{tuple(w.shape)}")
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        if not replacement and num_samples > len(w):
            raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                               "replacement")
        if not replacement and num_samples > np.count_nonzero(w):
            raise RuntimeError("invalid multinomial distribution (with replacement=False, not "
                               "enough non-negative category to sample)")
        self.weights, self.num_samples, self.replacement = w, num_samples, replacement
        self.generator = generator
        self.seed = resolve_seed(seed, generator)

    def indices(self) -> np.ndarray:
        """This epoch's draws, from (seed, epoch)."""
        rng = epoch_rng(self.seed, self.epoch)
        return rng.choice(len(self.weights), size=self.num_samples, replace=self.replacement,
                          p=self.weights / self.weights.sum()).astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """A sampler's indices in lists of batch_size (the last one shorter unless drop_last)."""

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int,
                 drop_last: bool) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError("batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def batches(self) -> list[np.ndarray]:
        """This epoch's batches as int64 arrays (slices of one array for these samplers)."""
        if hasattr(self.sampler, "indices"):
            order = np.asarray(self.sampler.indices(), dtype=np.int64)
        else:
            order = np.fromiter(iter(self.sampler), dtype=np.int64)
        n, bs = len(order), self.batch_size
        stop = n - n % bs if self.drop_last else n
        return [order[i : i + bs] for i in range(0, stop, bs)]

    def __iter__(self) -> Iterator[list[int]]:
        return (b.tolist() for b in self.batches())

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Pass the epoch on to the wrapped sampler."""
        self.epoch = int(epoch)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def state_dict(self) -> dict[str, Any]:
        """The wrapped sampler's state."""
        inner = self.sampler.state_dict() if hasattr(self.sampler, "state_dict") else None
        return {"epoch": self.epoch, "sampler": inner}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict returned."""
        self.epoch = int(state["epoch"])
        if state.get("sampler") is not None and hasattr(self.sampler, "load_state_dict"):
            self.sampler.load_state_dict(state["sampler"])
