"""IDXFolder: any image data set stored as the four MNIST-named IDX files in one folder.

Images are N x H x W (grey) or N x H x W x C (channels last, as image IDX files store them)
uint8; labels are one integer class per image, and the classes are 0..max label.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.errors import DataError

from .dataset import IDXDataset
from .idx import Stream
from .mnist import FilesNotFound, _existing, split_files

__all__ = ["IDXFolder", "channel_stats"]

_STATS_CHUNK = 1 << 24  # pixels counted per pass: bounds channel_stats' working memory


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


class IDXFolder(IDXDataset):
    """The train or t10k split of an IDX image folder; item i is (transform(img), int label).

    Without a transform an image is a uint8 H x W (or H x W x C) array; ToTensor makes it a
    C x H x W Tensor. ``classes`` names the labels 0..max label of this split as strings.
    """

    def __init__(self, root: str | os.PathLike, train: bool = True,
                 transform: Callable | None = None, target_transform: Callable | None = None,
                 *, stream: Stream = "auto", cache_dir: str | os.PathLike | None = None) -> None:
        self.root = Path(root).expanduser()
        self.train = train
        found = []
        for name in split_files(train):
            path = _existing(self.root / name)
            if path is None:
                raise FilesNotFound(f"{self.root / name}(.gz) not found; an IDX image folder "
                                    "holds train-/t10k- images-idx3-ubyte and labels-idx1-ubyte")
            found.append(path)
        super().__init__(found[0], found[1], transform, target_transform, stream, cache_dir)
        self._check()
        self.classes = [str(i) for i in range(int(self.labels.max()) + 1)]

    def _check(self) -> None:
        images, labels = self.images, self.labels
        if images.ndim not in (3, 4) or images.dtype != np.uint8:
            raise DataError(f"{self.images_path}: images are {_shape_text(images.shape)} "
                            f"{images.dtype.name}, expected N x H x W (grey) or N x H x W x C "
                            "(channels last) uint8; wrong file?")
        if 0 in images.shape:
            raise DataError(f"{self.images_path}: holds {_shape_text(images.shape)} images; an "
                            "empty data set or the file is corrupt")
        if labels is None or labels.ndim != 1:
            raise DataError(f"{self.labels_path}: labels are {_shape_text(labels.shape)}, "
                            "expected one label per image (a 1-D IDX file)")
        if not np.issubdtype(labels.dtype, np.integer) or int(labels.min()) < 0:
            bad = "not integers" if not np.issubdtype(labels.dtype, np.integer) else \
                f"negative at record {int(np.argmin(labels))}"
            raise DataError(f"{self.labels_path}: labels are {bad}; expected class indices "
                            "0, 1, 2, ...")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image after ToTensor."""
        shape = self.images.shape[1:]
        return (1, *shape) if len(shape) == 2 else (shape[2], shape[0], shape[1])

    def __repr__(self) -> str:
        split = "Train" if self.train else "Test"
        return (f"Dataset IDXFolder\n    Number of datapoints: {len(self)}\n"
                f"    Split: {split}\n    Root location: {self.root}\n"
                f"    Images: {_shape_text(self.image_shape)}")


def channel_stats(images: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 N x H x W (x C) images after ToTensor's /255.

    Counted as one histogram of the 256 values per channel, a chunk of records at a time: no
    float copy of the images is made, and the result is exact and independent of chunking.
    """
    if images.dtype != np.uint8:
        raise DataError(f"channel statistics need uint8 images, got {images.dtype.name}")
    channels = images.shape[3] if images.ndim == 4 else 1
    per_record = max(1, int(np.prod(images.shape[1:])))
    step = max(1, _STATS_CHUNK // per_record)
    counts = np.zeros((channels, 256), np.int64)
    offsets = np.arange(channels, dtype=np.int64) * 256
    for start in range(0, len(images), step):
        chunk = np.asarray(images[start:start + step]).reshape(-1, channels)
        # One bincount over (channel, value) pairs: value + 256 * channel.
        counts += np.bincount((chunk + offsets).ravel(), minlength=256 * channels).reshape(
            channels, 256)
    values = np.arange(256, dtype=np.float64) / 255.0
    n = counts.sum(axis=1)
    mean = (counts * values).sum(axis=1) / n
    var = (counts * (values[None, :] - mean[:, None]) ** 2).sum(axis=1) / n
    return [float(m) for m in mean], [float(s) for s in np.sqrt(var)]
