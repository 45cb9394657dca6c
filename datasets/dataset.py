"""Map-style datasets: the Dataset protocol, array-backed datasets and their combinators.

An array-backed dataset implements ``gather(indices, rng)``: the whole collated batch from one
fancy-index per array plus the transforms' batched paths. It returns None when it cannot (a
transform without a batched path), and the DataLoader then falls back to one sample at a time.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.errors import DataError

from . import transforms as T
from .idx import Stream, read_idx
from .sampler import epoch_rng

__all__ = ["ConcatDataset", "Dataset", "IDXDataset", "Subset", "TensorDataset", "random_split"]

Batch = Any  # an array, or a tuple of arrays, as default collation would build it


class Dataset:
    """Base class of map-style datasets: ``__getitem__`` and ``__len__``."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def gather(self, indices: np.ndarray, rng: np.random.Generator) -> Batch | None:
        """The collated batch for indices as NumPy arrays, or None if there is no fast path."""
        return None

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


def _check_index(index: int, n: int) -> int:
    index = int(index)
    if not -n <= index < n:
        raise IndexError(f"index {index} is out of range for a dataset of {n} items")
    return index % n if n else index


def _as_array(value: Any) -> np.ndarray:
    # Engine Tensors expose .numpy(); plain sequences go through np.asarray.
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


class TensorDataset(Dataset):
    """Rows of equally long arrays (or engine Tensors); item i is the tuple of their i-th rows."""

    def __init__(self, *tensors: Any) -> None:
        self.tensors = tuple(_as_array(t) for t in tensors)
        sizes = {len(t) for t in self.tensors}
        if len(sizes) > 1:
            shapes = ", ".join(str(t.shape) for t in self.tensors)
            raise ValueError(f"TensorDataset: arrays differ in their first dimension: {shapes}")

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        index = _check_index(index, len(self))
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0]) if self.tensors else 0

    def gather(self, indices: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """One fancy-index per array."""
        return tuple(t[indices] for t in self.tensors)


class Subset(Dataset):
    """The items of dataset at the given indices."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[_check_index(index, len(self))])]

    def __len__(self) -> int:
        return len(self.indices)

    def gather(self, indices: np.ndarray, rng: np.random.Generator) -> Batch | None:
        """Map the indices, then ask the underlying dataset."""
        return self.dataset.gather(self.indices[indices], rng)


class ConcatDataset(Dataset):
    """Datasets one after another."""

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def _locate(self, index: int) -> tuple[int, int]:
        index = _check_index(index, len(self))
        part = bisect.bisect_right(self.cumulative_sizes, index)
        return part, index - (self.cumulative_sizes[part - 1] if part else 0)

    def __getitem__(self, index: int) -> Any:
        part, local = self._locate(index)
        return self.datasets[part][local]

    def gather(self, indices: np.ndarray, rng: np.random.Generator) -> Batch | None:
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
            single = not isinstance(got, tuple)
            got = (got,) if single else got
            if out is None:
                out = [np.empty((len(indices),) + g.shape[1:], g.dtype) for g in got]
            for o, g in zip(out, got, strict=True):
                o[where] = g
        if out is None:
            return None
        return out[0] if single else tuple(out)


def random_split(dataset: Dataset, lengths: Sequence[int | float],
                 seed: int = 0) -> list[Subset]:
    """Split into non-overlapping Subsets of the given lengths (or fractions summing to 1)."""
    n = len(dataset)
    if all(0 <= x <= 1 for x in lengths) and math.isclose(sum(lengths), 1) and sum(lengths) != n:
        counts = [math.floor(n * f) for f in lengths]
        for i in range(n - sum(counts)):  # spread the remainder round-robin, as torch does
            counts[i % len(counts)] += 1
    else:
        counts = [int(x) for x in lengths]
    if sum(counts) != n:
        raise ValueError(f"random_split: lengths {list(lengths)} sum to {sum(counts)}, "
                         f"the dataset has {n} items")
    perm = epoch_rng(seed).permutation(n)
    bounds = np.cumsum([0] + counts)
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


class IDXDataset(Dataset):
    """Images from one IDX file and labels from another; item i is (transform(img), target).

    With stream=True (or "auto" on a large file) the images are memory-mapped and read on
    demand; labels are one small value per record and are always loaded, so ``targets`` is an
    in-memory array (int64 for integer labels) either way.
    """

    def __init__(self, images: str | os.PathLike, labels: str | os.PathLike | None = None,
                 transform: Callable | None = None, target_transform: Callable | None = None,
                 stream: Stream = "auto", cache_dir: str | os.PathLike | None = None) -> None:
        self.images_path, self.labels_path = images, labels
        self.transform, self.target_transform = transform, target_transform
        self.data = read_idx(images, stream=stream, cache_dir=cache_dir)
        self.targets: np.ndarray | None = None
        if labels is not None:
            targets = read_idx(labels, stream=False)
            if len(targets) != len(self.data):
                raise DataError(
                    f"{labels}: {len(targets)} labels for the {len(self.data)} images in {images};"
                    " image and label files must come from the same split"
                )
            is_int = np.issubdtype(targets.dtype, np.integer)
            self.targets = targets.astype(np.int64) if is_int else targets

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> Any:
        index = _check_index(index, len(self))
        img = np.array(self.data[index], dtype=self.data.dtype.newbyteorder("="))
        if self.transform is not None:
            img = self.transform(img)
        if self.targets is None:
            return img
        target = self.targets[index].item()
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def gather(self, indices: np.ndarray, rng: np.random.Generator) -> Batch | None:
        """One fancy-index per file (sorted for memory maps), then the batched transforms."""
        if not (T.supports_batch(self.transform) and T.supports_batch(self.target_transform)):
            return None
        if isinstance(self.data, np.memmap):
            # Reading the mapped records in file order touches each page once.
            order = np.argsort(indices, kind="stable")
            images = np.empty((len(indices),) + self.data.shape[1:], self.data.dtype)
            images[order] = self.data[indices[order]]
            images = images.astype(images.dtype.newbyteorder("="), copy=False)
        else:
            images = self.data[indices]
        if self.transform is not None:
            images = self.transform.apply_batch(images, rng)
        if self.targets is None:
            return images
        targets = self.targets[indices]
        if self.target_transform is not None:
            targets = self.target_transform.apply_batch(targets, rng)
        return images, targets
