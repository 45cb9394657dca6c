"""Samplers: which dataset indices an epoch visits, and in what order.

Each sampler's order is a pure function of (seed, epoch), so a loader restored from its state
reproduces an interrupted epoch exactly. ``indices()`` returns the whole epoch as one int64 array,
which is what the DataLoader slices into batches; iterating yields Python ints as in PyTorch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence, Sized
from typing import Any

import numpy as np

__all__ = [
    "DistributedSampler", "RandomSampler", "Sampler", "SequentialSampler",
    "SubsetRandomSampler", "epoch_rng", "fresh_seed",
]


def fresh_seed() -> int:
    """A random seed from OS entropy that fits in a signed 64-bit int (and in JSON)."""
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))


def epoch_rng(seed: int, *keys: int) -> np.random.Generator:
    """A Generator determined by seed and keys (e.g. epoch, batch), independent of any other."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence((seed, *keys))))


class Sampler:
    """Base class: an epoch's indices, ``set_epoch`` and a JSON-able ``state_dict``."""

    epoch: int = 0

    def indices(self) -> np.ndarray:
        """This epoch's indices as an int64 array."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order indices() returns."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict[str, Any]:
        """What determines the order: plain ints, JSON-serialisable."""
        return {"epoch": self.epoch, "seed": getattr(self, "seed", None)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict returned."""
        self.epoch = int(state["epoch"])
        if state.get("seed") is not None:
            self.seed = int(state["seed"])


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def indices(self) -> np.ndarray:
        """All indices in order."""
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh permutation each epoch (or num_samples draws with replacement)."""

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, seed: int | None = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        if num_samples is not None and num_samples <= 0:
            raise ValueError(f"num_samples must be a positive int, got {num_samples}")
        self.seed = fresh_seed() if seed is None else int(seed)

    @property
    def num_samples(self) -> int:
        """How many indices an epoch yields."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def indices(self) -> np.ndarray:
        """This epoch's permutation, from (seed, epoch)."""
        n, rng = len(self.data_source), epoch_rng(self.seed, self.epoch)
        if self.replacement:
            return rng.integers(0, n, size=self.num_samples, dtype=np.int64)
        # Without replacement and more samples than items, repeat whole permutations (as torch).
        reps = -(-self.num_samples // n) if n else 0
        perm = np.concatenate([rng.permutation(n) for _ in range(reps)] or [np.empty(0, int)])
        return perm[: self.num_samples].astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices, in a fresh random order each epoch."""

    def __init__(self, indices: Sequence[int], seed: int | None = None) -> None:
        self.subset = np.asarray(indices, dtype=np.int64)
        self.seed = fresh_seed() if seed is None else int(seed)

    def indices(self) -> np.ndarray:
        """The subset permuted by (seed, epoch)."""
        return self.subset[epoch_rng(self.seed, self.epoch).permutation(len(self.subset))]

    def __len__(self) -> int:
        return len(self.subset)


class DistributedSampler(Sampler):
    """This rank's share of the dataset: every num_replicas-th index of a common order.

    As in PyTorch, every rank must use the same seed and call set_epoch each epoch; the order is
    padded by repeating its start (or truncated when drop_last) so each rank gets the same count.
    num_replicas and rank default to $WORLD_SIZE and $RANK, else 1 and 0.
    """

    def __init__(self, dataset: Sized, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        self.num_replicas = int(os.environ.get("WORLD_SIZE", 1) if num_replicas is None
                                else num_replicas)
        self.rank = int(os.environ.get("RANK", 0) if rank is None else rank)
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"rank {self.rank} is outside [0, {self.num_replicas - 1}]")
        self.dataset, self.shuffle, self.drop_last = dataset, shuffle, drop_last
        self.seed = int(seed)
        n = len(dataset)
        if drop_last:
            self.num_samples = n // self.num_replicas
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch."""
        n = len(self.dataset)
        if self.shuffle:
            order = epoch_rng(self.seed, self.epoch).permutation(n).astype(np.int64)
        else:
            order = np.arange(n, dtype=np.int64)
        if self.total_size > n:
            order = np.resize(order, self.total_size)  # np.resize repeats from the start
        order = order[: self.total_size]
        return order[self.rank : self.total_size : self.num_replicas]

    def __len__(self) -> int:
        return self.num_samples
