"""Making one batch: the same code in the main process and in every worker.

A batch is a function of (seed, epoch, batch number) and its indices alone: transforms draw from
a Generator seeded with those numbers (installed with rng_scope for per-sample calls), so a batch
does not depend on which worker made it, or on how far prefetching ran ahead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ._random import LazyRng, rng_scope
from .collate import collate_raw, convert_raw, default_collate, default_convert

__all__ = ["Fetcher"]


class Fetcher:
    """Builds batches of a dataset; raw=True for default collation (tensorized by the caller)."""

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable, drop_last: bool,
                 batch_size: int | None, seed: int, iterable: bool) -> None:
        self.dataset, self.auto_collation, self.drop_last = dataset, auto_collation, drop_last
        self.batch_size, self.seed, self.iterable = batch_size, seed, iterable
        # The default collate functions run here as their raw halves: the caller tensorizes.
        self.raw = collate_fn is default_collate or collate_fn is default_convert
        self.collate_fn = collate_fn
        self._iter: Iterator[Any] | None = None
        self._exhausted = False

    def _collate(self, samples: Any) -> Any:
        if not self.raw:
            return self.collate_fn(samples)
        return collate_raw(samples) if self.auto_collation else convert_raw(samples)

    def map_batch(self, indices: Any, epoch: int, number: int) -> Any:
        """The batch of map-style items at indices (an int64 array, or one index unbatched)."""
        rng = LazyRng(self.seed, epoch, number)
        if not self.auto_collation:
            with rng_scope(rng):
                return self._collate(self.dataset[int(indices)])
        if self.raw and self.collate_fn is default_collate:
            gather = getattr(self.dataset, "gather", None)
            batch = gather(indices, rng) if gather is not None else None
            if batch is not None:
                return batch
        with rng_scope(rng):
            getitems = getattr(self.dataset, "__getitems__", None)
            if getitems is not None:
                samples = getitems(indices.tolist())
            else:
                samples = [self.dataset[i] for i in indices.tolist()]
        return self._collate(samples)

    def reset(self) -> None:
        """Start a new pass over an iterable dataset."""
        self._iter, self._exhausted = iter(self.dataset), False

    def iter_batch(self, epoch: int, number: int, stream: int) -> Any:
        """The next batch of an iterable dataset; raises StopIteration at its end."""
        if self._iter is None:
            self.reset()
        if self._exhausted:
            raise StopIteration
        with rng_scope(LazyRng(self.seed, epoch, number, stream)):
            if not self.auto_collation:
                try:
                    return self._collate(next(self._iter))
                except StopIteration:
                    self._exhausted = True
                    raise
            samples = []
            for _ in range(self.batch_size or 1):
                try:
                    samples.append(next(self._iter))
                except StopIteration:
                    self._exhausted = True
                    break
        if not samples or (self.drop_last and len(samples) < (self.batch_size or 1)):
            raise StopIteration
        return self._collate(samples)


def as_index_array(batch: Any) -> Any:
    """A batch of indices from a batch sampler as an int64 array (ints stay ints)."""
    return batch if isinstance(batch, int | np.integer) else np.asarray(batch, dtype=np.int64)
