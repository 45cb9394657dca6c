"""MNIST, Fashion-MNIST and Kuzushiji-MNIST with torchvision's files, names and signature.

Files are looked up, for the split asked, first under ``root`` (``root/<ClassName>/raw``,
``root/<ClassName>``, then ``root`` itself, as plain or .gz), then in the system folders where a
distribution ships them, then (MNIST only) in Keras's ``~/.keras/datasets/mnist.npz``, and are
downloaded into ``root/<ClassName>/raw`` only if download=True.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from engine import Tensor
from engine.errors import DataError

from .dataset import IDXDataset
from .download import _intact, download_files, validate_digest
from .idx import Stream, check_idx_file
from .keras import keras_datasets_dir, read_keras_mnist

__all__ = ["KMNIST", "MNIST", "FashionMNIST", "FilesNotFound"]


class FilesNotFound(DataError):
    """A data set's files are in none of the folders searched (and download=False)."""


class MNIST(IDXDataset):
    """The MNIST digits: 60000 training and 10000 test 28x28 uint8 images, labels 0-9.

    torchvision's signature and attributes: ``data`` (uint8 Tensor N x 28 x 28), ``targets``
    (int64 Tensor), ``classes``, ``class_to_idx``; item i is (image, int label), the image a
    uint8 NumPy array without a transform (a Tensor after transforms.ToTensor()).
    """

    mirrors: ClassVar[list[str]] = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    # torchvision's pinned md5 of each published .gz file.
    resources: ClassVar[dict[str, str]] = {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    classes: ClassVar[list[str]] = [
        "0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
        "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine",
    ]
    system_dirs: ClassVar[list[str]] = []
    # The file keras.datasets.<name>.load_data() leaves in ~/.keras/datasets (None: no such file).
    keras_file: ClassVar[str | None] = "mnist.npz"

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        train: bool = True,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        download: bool = False,
        *,
        stream: Stream = "auto",
        mirrors: Sequence[str] | None = None,
        checksums: dict[str, str] | None = None,
        cache_dir: str | os.PathLike | None = None,
        progress: bool = True,
    ) -> None:
        self.root = None if root is None else Path(root).expanduser()
        self.train = train
        images, labels = self._find(download, mirrors, checksums, progress)
        if images.suffix == ".npz":
            self._from_arrays(images, *read_keras_mnist(images, train), transform,
                              target_transform)
        else:
            super().__init__(images, labels, transform, target_transform, stream, cache_dir)
        self._check_shape()

    @property
    def raw_folder(self) -> Path | None:
        """root/<ClassName>/raw, where downloads go (None without a root)."""
        return None if self.root is None else self.root / type(self).__name__ / "raw"

    @property
    def class_to_idx(self) -> dict[str, int]:
        """Class name -> label."""
        return {c: i for i, c in enumerate(self.classes)}

    def _split_files(self) -> tuple[str, str]:
        return split_files(self.train)

    def search_dirs(self) -> list[Path]:
        """Folders searched for the files, in order."""
        dirs: list[Path] = []
        if self.root is not None:
            dirs += [self.raw_folder, self.root / type(self).__name__, self.root]
        return dirs + [Path(d) for d in self.system_dirs]

    def keras_path(self) -> Path | None:
        """Keras's copy of this data set (read when no folder holds the IDX files), if any."""
        return None if self.keras_file is None else keras_datasets_dir() / self.keras_file

    def _find(self, download: bool, mirrors: Sequence[str] | None,
              checksums: dict[str, str] | None, progress: bool) -> tuple[Path, Path]:
        names = self._split_files()
        given = self.resources if checksums is None else checksums
        if not isinstance(given, dict):
            raise DataError(f"checksums must be a dict of file name -> md5 or sha256 hex digest, "
                            f"got {type(given).__name__}")
        pinned = {n: validate_digest(d, n) for n, d in given.items()}
        system = {Path(d) for d in self.system_dirs}
        for folder in self.search_dirs():
            found = [_existing(folder / n) for n in names]
            if not all(found):
                continue
            # A distribution's copy is recompressed (its .gz bytes differ from the mirrors' pinned
            # digests) and checked by its package manager: only its IDX structure is checked.
            digest = {} if folder in system else pinned
            # With download=True a damaged copy is replaced (downloaded into raw/), not read.
            if not download or all(_intact(p, digest.get(p.name), _check_idx) for p in found):
                return found[0], found[1]
        keras = self.keras_path()
        if keras is not None and keras.is_file():
            return keras, keras
        name = type(self).__name__
        wanted = ", ".join(f"{n}(.gz)" for n in names)
        searched = self.search_dirs() + ([] if keras is None else [keras])
        places = ", ".join(str(d) for d in searched) or "(no root given)"
        if not download:
            raise FilesNotFound(
                f"{name}: files {wanted} not found in {places}; put them there or pass "
                "download=True with a root"
            )
        if self.raw_folder is None:
            raise DataError(f"{name}: download=True needs a root folder to download into")
        files = {f"{n}.gz": pinned.get(f"{n}.gz") for n in names}
        elsewhere = searched[1:]
        got = download_files(files, self.raw_folder, self.mirrors if mirrors is None else mirrors,
                             name, elsewhere, progress=progress, check=_check_idx)
        return got[0], got[1]

    def _check_shape(self) -> None:
        if self.images.ndim != 3 or self.images.dtype.itemsize != 1:
            raise DataError(
                f"{self.images_path}: expected N x H x W uint8 images, found "
                f"{'x'.join(map(str, self.images.shape))} {self.images.dtype.name}; wrong file?"
            )
        if self.labels is None or self.labels.ndim != 1:
            raise DataError(f"{self.labels_path}: expected one label per image (a 1-D IDX file)")
        if 0 in self.images.shape[1:]:
            raise DataError(f"{self.images_path}: images are "
                            f"{'x'.join(map(str, self.images.shape[1:]))} pixels; the file is "
                            "corrupt, re-download or regenerate it")
        if len(self.images) == 0:
            raise DataError(f"{self.images_path}: the IDX file holds 0 images; the data set is "
                            "empty, re-download or regenerate it")
        check_labels(self.labels, len(self.classes), self.labels_path)

    # torchvision's deprecated names, with its warnings.
    @property
    def train_labels(self) -> Tensor | None:
        """Deprecated: targets."""
        warnings.warn("train_labels has been renamed targets", stacklevel=2)
        return self.targets

    @property
    def test_labels(self) -> Tensor | None:
        """Deprecated: targets."""
        warnings.warn("test_labels has been renamed targets", stacklevel=2)
        return self.targets

    @property
    def train_data(self) -> Tensor:
        """Deprecated: data."""
        warnings.warn("train_data has been renamed data", stacklevel=2)
        return self.data

    @property
    def test_data(self) -> Tensor:
        """Deprecated: data."""
        warnings.warn("test_data has been renamed data", stacklevel=2)
        return self.data

    def __repr__(self) -> str:
        split = "Train" if self.train else "Test"
        return (f"Dataset {type(self).__name__}\n    Number of datapoints: {len(self)}\n"
                f"    Split: {split}\n    Images: {self.images_path}")


def split_files(train: bool) -> tuple[str, str]:
    """The (images, labels) file names of a split, without the optional .gz."""
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _check_idx(path: Path, name: str) -> None:
    """A downloaded MNIST-family file's check: its gzip stream and IDX header and size."""
    check_idx_file(path, gz=name.endswith(".gz"), shown=name)


def check_labels(labels: np.ndarray, num_classes: int, path: object) -> None:
    """DataError naming path and the first record whose label is not in 0..num_classes-1."""
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: labels are {labels.dtype.name}, expected integer class "
                        "indices; wrong file?")
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}: record {i}: label {int(labels[i])} is outside the {num_classes} classes "
            f"(0-{num_classes - 1}); {bad.size} such record(s); the file is corrupt or from "
            "another data set"
        )


def _existing(path: Path) -> Path | None:
    """path or path.gz, whichever is a file (plain first: no decompression needed)."""
    for candidate in (path, path.with_name(path.name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: MNIST's layout with ten kinds of clothing."""

    mirrors: ClassVar[list[str]] = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources: ClassVar[dict[str, str]] = {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }
    classes: ClassVar[list[str]] = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]
    # Debian's dataset-fashion-mnist package.
    system_dirs: ClassVar[list[str]] = ["/usr/share/datasets/fashion-mnist"]
    # Keras keeps the four .gz files in ~/.keras/datasets/fashion-mnist: pass that as root.
    keras_file: ClassVar[str | None] = None


class KMNIST(MNIST):
    """Kuzushiji-MNIST: ten cursive Japanese characters in MNIST's layout."""

    mirrors: ClassVar[list[str]] = ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"]
    resources: ClassVar[dict[str, str]] = {
        "train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
        "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
        "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
        "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134",
    }
    classes: ClassVar[list[str]] = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
    keras_file: ClassVar[str | None] = None
