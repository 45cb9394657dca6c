"""A small, learnable, MNIST-shaped synthetic data set written as the four MNIST IDX files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .idx import write_idx

__all__ = ["make_synthetic_idx"]


def _blur(img: np.ndarray, passes: int = 2) -> np.ndarray:
    """Separable 3-tap box blur over the last two axes (edges wrap, harmless for blobs)."""
    for _ in range(passes):
        for axis in (-1, -2):
            img = (np.roll(img, 1, axis) + img + np.roll(img, -1, axis)) / 3
    return img


def _prototypes(rng: np.random.Generator, num_classes: int, size: int) -> np.ndarray:
    """One smooth blob pattern in [0, 1] per class: coarse noise, upsampled and blurred."""
    coarse = max(2, size // 4)
    reps = -(-size // coarse)
    low = rng.random((num_classes, coarse, coarse))
    up = np.repeat(np.repeat(low, reps, axis=1), reps, axis=2)[:, :size, :size]
    protos = _blur(up)
    protos -= protos.min(axis=(1, 2), keepdims=True)
    return protos / protos.max(axis=(1, 2), keepdims=True)


def _samples(rng: np.random.Generator, protos: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    num_classes = len(protos)
    labels = rng.permutation(np.arange(n) % num_classes).astype(np.uint8)
    contrast = rng.uniform(0.7, 1.0, size=(n, 1, 1))
    images = protos[labels] * contrast + rng.normal(0, 0.35, size=(n,) + protos.shape[1:])
    shift = rng.integers(-1, 2, size=(n, 2))
    for dy in (-1, 0, 1):  # a one-pixel jitter, so a model must generalise a little
        for dx in (-1, 0, 1):
            sel = (shift[:, 0] == dy) & (shift[:, 1] == dx)
            images[sel] = np.roll(images[sel], (dy, dx), axis=(1, 2))
    return np.clip(images * 255, 0, 255).astype(np.uint8), labels


def make_synthetic_idx(
    root: str | os.PathLike,
    n_train: int = 2000,
    n_test: int = 500,
    seed: int = 0,
    image_size: int = 28,
    num_classes: int = 10,
    compress: bool = False,
) -> dict[str, Path]:
    """Write train/t10k images and labels (MNIST file names, .gz if compress) into root.

    make_synthetic_idx(root, n_train=2000, n_test=500, seed=0, image_size=28, num_classes=10,
    compress=False) -> {file name: path}. Each class is a blurred random prototype; samples add
    contrast jitter, Gaussian noise and a one-pixel shift, so an MLP on ToTensor+Normalize inputs
    passes 0.9 validation accuracy within a couple of epochs. Labels are balanced; the same
    arguments always write the same bytes. ``MNIST(root)`` reads the result.
    """
    if not 2 <= num_classes <= 256:
        raise ValueError(f"num_classes must be in [2, 256] (uint8 labels), got {num_classes}")
    if n_train < 1 or n_test < 1 or image_size < 2:
        raise ValueError("n_train and n_test must be >= 1 and image_size >= 2")
    rng = np.random.Generator(np.random.PCG64(seed))
    protos = _prototypes(rng, num_classes, image_size)
    suffix = ".gz" if compress else ""
    written: dict[str, Path] = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = _samples(rng, protos, n)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte{suffix}"
            written[name] = write_idx(Path(root) / name, arr)
    return written
