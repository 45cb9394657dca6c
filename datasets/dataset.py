"""IDXDataset: images from one IDX file and labels from another, with a batched fast path.

It implements ``gather(indices, rng)`` (see engine.utils.data.dataset): the whole collated batch
from one fancy-index per file plus the transforms' batched paths, or None when a transform has
no batched path (the DataLoader then fetches one sample at a time).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from engine import Tensor, from_numpy
from engine.errors import DataError
from engine.utils.data import Dataset

from . import transforms as T
from .idx import Stream, read_idx

__all__ = ["IDXDataset"]


def _check_index(index: int, n: int) -> int:
    index = int(index)
    if not -n <= index < n:
        raise IndexError(f"index {index} is out of range for a dataset of {n} items")
    return index % n if n else index


def _raw(value: Any) -> np.ndarray:
    return value.numpy() if isinstance(value, Tensor) else np.asarray(value)


class IDXDataset(Dataset):
    """Images from one IDX file and labels from another; item i is (transform(img), target).

    ``data`` and ``targets`` are engine Tensors over the raw arrays (no copy), as torchvision's
    are; the raw NumPy arrays are ``images`` and ``labels``. With stream=True (or "auto" on a
    large file) the images are memory-mapped and read on demand; labels are one small value per
    record and are always loaded (int64 for integer labels). Without a transform an image is a
    uint8 H x W NumPy array, the role PIL images play in torchvision; ToTensor makes it a Tensor.
    """

    def __init__(self, images: str | os.PathLike, labels: str | os.PathLike | None = None,
                 transform: Callable | None = None, target_transform: Callable | None = None,
                 stream: Stream = "auto", cache_dir: str | os.PathLike | None = None) -> None:
        self.images_path, self.labels_path = images, labels
        self.transform, self.target_transform = transform, target_transform
        self._stream, self._cache_dir = stream, cache_dir
        self.images = read_idx(images, stream=stream, cache_dir=cache_dir)
        self.labels: np.ndarray | None = None
        if labels is not None:
            raw = read_idx(labels, stream=False)
            if len(raw) != len(self.images):
                raise DataError(
                    f"{labels}: {len(raw)} labels for the {len(self.images)} images in {images};"
                    " image and label files must come from the same split"
                )
            self.labels = raw.astype(np.int64) if np.issubdtype(raw.dtype, np.integer) else raw

    def _from_arrays(self, path: str | os.PathLike, images: np.ndarray, labels: np.ndarray,
                     transform: Callable | None, target_transform: Callable | None) -> None:
        """Set up from arrays already in memory that one file held (e.g. Keras's mnist.npz)."""
        self.images_path = self.labels_path = path
        self.transform, self.target_transform = transform, target_transform
        self._stream, self._cache_dir = False, None
        self.images, self.labels = images, labels

    @property
    def data(self) -> Tensor:
        """The images as a Tensor (N x H x W; shares memory, read-only when memory-mapped)."""
        images = self.images
        if not images.dtype.isnative:  # a streamed multi-byte file: native copy
            images = images.astype(images.dtype.newbyteorder("="))
        return from_numpy(np.asarray(images))

    @data.setter
    def data(self, value: Any) -> None:
        self.images = _raw(value)

    @property
    def targets(self) -> Tensor | None:
        """The labels as a Tensor (int64 for integer labels), None without a labels file."""
        return None if self.labels is None else from_numpy(self.labels)

    @targets.setter
    def targets(self, value: Any) -> None:
        self.labels = None if value is None else _raw(value)

    def __getstate__(self) -> dict[str, Any]:
        # A memory map pickles as a full in-memory copy: send the path instead, reopen there.
        state = self.__dict__.copy()
        if isinstance(self.images, np.memmap):
            state["images"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.images is None:
            self.images = read_idx(self.images_path, stream=True, cache_dir=self._cache_dir)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Any:
        index = _check_index(index, len(self))
        img = np.array(self.images[index], dtype=self.images.dtype.newbyteorder("="))
        if self.transform is not None:
            img = self.transform(img)
        if self.labels is None:
            return img
        target = self.labels[index].item()
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def gather(self, indices: np.ndarray, rng: Any) -> Any:
        """One fancy-index per file (sorted for memory maps), then the batched transforms."""
        if not (T.supports_batch(self.transform) and T.supports_batch(self.target_transform)):
            return None
        if isinstance(self.images, np.memmap):
            # Reading the mapped records in file order touches each page once.
            order = np.argsort(indices, kind="stable")
            images = np.empty((len(indices),) + self.images.shape[1:], self.images.dtype)
            images[order] = self.images[indices[order]]
            images = images.astype(images.dtype.newbyteorder("="), copy=False)
        else:
            images = self.images[indices]
        if self.transform is not None:
            images = self.transform.apply_batch(images, rng)
        if self.labels is None:
            return images
        targets = self.labels[indices]
        if self.target_transform is not None:
            targets = self.target_transform.apply_batch(targets, rng)
        return [images, targets]
