"""Keras's copy of MNIST (``~/.keras/datasets/mnist.npz``) as one more place MNIST is found.

``keras.datasets.mnist.load_data()`` leaves that file behind; it holds x_train (60000 x 28 x 28
uint8), y_train, x_test and y_test. It is read with allow_pickle=False, so it cannot run code.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from engine.errors import DataError

__all__ = ["keras_datasets_dir", "read_keras_mnist"]

_KEYS = ("x_train", "y_train", "x_test", "y_test")


def keras_datasets_dir() -> Path:
    """Where Keras caches data sets: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def read_keras_mnist(path: str | os.PathLike, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """(images N x 28 x 28 uint8, labels N int64) of one split; DataError naming the file."""
    path = Path(path)
    fix = "delete it (Keras downloads it again) or point data.root at the IDX files"
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: a single array, not an .npz archive; {fix}")
        with z:
            missing = [k for k in _KEYS if k not in z.files]
            if missing:
                raise DataError(f"{path}: no {', '.join(missing)} in it, not Keras's MNIST; {fix}")
            images, labels = (z[k] for k in (("x_train", "y_train") if train else
                                              ("x_test", "y_test")))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: unreadable ({reason}); {fix}") from None
    if images.ndim != 3 or images.dtype != np.uint8 or images.shape[1:] != (28, 28):
        raise DataError(f"{path}: {'x_train' if train else 'x_test'} is "
                        f"{'x'.join(map(str, images.shape))} {images.dtype.name}, expected "
                        f"N x 28 x 28 uint8; {fix}")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: {'y_train' if train else 'y_test'} is "
                        f"{'x'.join(map(str, labels.shape))} {labels.dtype.name}, expected "
                        f"{len(images)} integer labels; {fix}")
    return images, labels.astype(np.int64)
