"""DistributedSampler: each rank's share of one seeded order (torch.utils.data.distributed)."""

from __future__ import annotations

import math
import os
from collections.abc import Sized

import numpy as np

from ._random import epoch_rng
from .sampler import _ArraySampler

__all__ = ["DistributedSampler"]


class DistributedSampler(_ArraySampler):
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
            raise ValueError(f"Invalid rank {self.rank}, rank should be in the interval "
                             f"[0, {self.num_replicas - 1}]")
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
