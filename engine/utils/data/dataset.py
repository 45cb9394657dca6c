"""Datasets: the map-style and iterable protocols, TensorDataset and the combinators.

A map-style dataset may also implement ``gather(indices, rng)``, which returns the whole collated
batch (NumPy arrays, or a list of them) from one fancy-index per array plus batched transforms.
It returns None when it cannot, and the DataLoader then fetches one sample at a time.
"""

from __future__ import annotations

import bisect
import itertools
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ._random import epoch_rng, resolve_seed

__all__ = ["ChainDataset", "ConcatDataset", "Dataset", "IterableDataset", "StackDataset",
           "Subset", "TensorDataset", "random_split"]

Batch = Any  # an array, or a list of arrays, as default collation would build it


class Dataset:
    """Base class of map-style datasets: ``__getitem__`` (and usually ``__len__``)."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def gather(self, indices: np.ndarray, rng: Any) -> Batch | None:
        """The collated batch for indices as raw arrays, or None if there is no fast path."""
        return None

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Base class of iterable-style datasets: ``__iter__`` yields the samples.

    With workers, each worker iterates its own copy; use ``get_worker_info()`` in ``__iter__``
    to give each worker its share (otherwise every worker yields the whole stream).
    """

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other: Dataset) -> ChainDataset:  # type: ignore[override]
        return ChainDataset([self, other])


def _raw(value: Any) -> Any:
    """The raw array behind an engine Tensor (detached), else the value as an array."""
    data = getattr(value, "_data", None)
    return data if data is not None and hasattr(value, "_device") else np.asarray(value)


class TensorDataset(Dataset):
    """Rows of equally long tensors (or arrays); item i is the tuple of their i-th rows."""

    def __init__(self, *tensors: Any) -> None:
        if any(len(tensors[0]) != len(t) for t in tensors):
            raise AssertionError("Size mismatch between tensors")
        self.tensors = tensors
        self._arrays = tuple(_raw(t) for t in tensors)

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])

    def gather(self, indices: np.ndarray, rng: Any) -> list[Any]:
        """One fancy-index per array."""
        return [a[indices] for a in self._arrays]


class Subset(Dataset):
    """The items of dataset at the given indices (kept as given, as in PyTorch)."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices
        self._index_source: Any = None
        self._index_array = np.empty(0, np.int64)

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        return len(self.indices)

    def gather(self, indices: np.ndarray, rng: Any) -> Batch | None:
        """Map the indices, then ask the underlying dataset."""
        if self._index_source is not self.indices:  # first use, or indices were replaced
            self._index_source = self.indices
            self._index_array = np.asarray(self.indices, dtype=np.int64)
        return self.dataset.gather(self._index_array[indices], rng)


class ConcatDataset(Dataset):
    """Datasets one after another."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise AssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> Any:
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        part = bisect.bisect_right(self.cumulative_sizes, idx)
        local = idx - (self.cumulative_sizes[part - 1] if part else 0)
        if part == len(self.datasets):
            raise IndexError(f"index {idx} is out of range for a dataset of {len(self)} items")
        return self.datasets[part][local]

    def gather(self, indices: np.ndarray, rng: Any) -> Batch | None:
        """Gather from each part, then put rows back in the order asked."""
        starts = np.asarray([0] + self.cumulative_sizes[:-1])
        parts = np.searchsorted(self.cumulative_sizes, indices, side="right")
        out: list[np.ndarray] | None = None
        single = False
        for p in np.unique(parts):
            where = np.flatnonzero(parts == p)
            got = self.datasets[p].gather(indices[where] - starts[p], rng)
            if got is None:
                return None
            single = not isinstance(got, list | tuple)
            got = [got] if single else got
            if out is None:
                out = [np.empty((len(indices),) + g.shape[1:], g.dtype) for g in got]
            for o, g in zip(out, got, strict=True):
                o[where] = g
        if out is None:
            return None
        return out[0] if single else out


class ChainDataset(IterableDataset):
    """Iterable datasets one after another, chained lazily."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = datasets

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)  # type: ignore[arg-type]


class StackDataset(Dataset):
    """Equally long datasets side by side: item i is a tuple (or dict) of their items i."""

    def __init__(self, *args: Dataset, **kwargs: Dataset) -> None:
        if args and kwargs:
            raise ValueError("Supported either ``tuple``- (via ``args``) or``dict``- (via "
                             "``kwargs``) like input/output, but both types are given.")
        if not args and not kwargs:
            raise ValueError("At least one dataset should be passed")
        parts = list(args) or list(kwargs.values())
        self._length = len(parts[0])
        if any(self._length != len(d) for d in parts):
            raise ValueError("Size mismatch between datasets")
        self.datasets: tuple | dict = args or kwargs

    def __getitem__(self, index: int) -> Any:
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self) -> int:
        return self._length


def _split_lengths(lengths: Sequence[int | float], n: int) -> list[int]:
    if not (math.isclose(sum(lengths), 1) and sum(lengths) <= 1):
        return [int(x) for x in lengths]
    counts: list[int] = []
    for i, frac in enumerate(lengths):
        if frac < 0 or frac > 1:
            raise ValueError(f"Fraction at index {i} is not between 0 and 1")
        counts.append(math.floor(n * frac))
    for i in range(n - sum(counts)):  # the remainder, one each, round-robin
        counts[i % len(counts)] += 1
    for i, length in enumerate(counts):
        if length == 0:
            warnings.warn(f"Length of split at index {i} is 0. "
                          f"This might result in an empty dataset.", stacklevel=3)
    return counts


def random_split(dataset: Dataset, lengths: Sequence[int | float], generator: Any = None, *,
                 seed: int | None = None) -> list[Subset]:
    """Split into non-overlapping Subsets of the given lengths (or fractions summing to 1).

    The permutation comes from seed, else generator (see resolve_seed), else engine's global RNG.
    """
    counts = _split_lengths(lengths, len(dataset))
    if sum(counts) != len(dataset):
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    perm = epoch_rng(resolve_seed(seed, generator)).permutation(sum(counts)).tolist()
    bounds = list(itertools.accumulate(counts))
    return [Subset(dataset, perm[end - size : end]) for end, size in zip(bounds, counts,
                                                                        strict=True)]
