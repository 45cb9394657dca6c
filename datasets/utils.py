"""torchvision.utils' image helpers: a batch of images as one grid, and the grid as a file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from datasets._pil import pil_image
from engine.tensor import Tensor


def _as_array(images: Any) -> np.ndarray:
    if isinstance(images, list | tuple):
        return np.stack([_as_array(t) for t in images])
    if isinstance(images, Tensor):
        return images.detach().cpu().numpy().astype(np.float32)
    return np.asarray(images, dtype=np.float32)


def _normalized(batch: np.ndarray, value_range: tuple[float, float] | None,
                scale_each: bool) -> np.ndarray:
    def scale(x: np.ndarray) -> np.ndarray:
        low, high = value_range if value_range is not None else (x.min(), x.max())
        return (np.clip(x, low, high) - low) / max(float(high - low), 1e-5)

    return np.stack([scale(x) for x in batch]) if scale_each else scale(batch)


def make_grid(tensor: Any, nrow: int = 8, padding: int = 2, normalize: bool = False,
              value_range: tuple[float, float] | None = None, scale_each: bool = False,
              pad_value: float = 0.0) -> Tensor:
    """Lay out a batch (B, C, H, W) as one image, nrow images per row, as torchvision does."""
    batch = _as_array(tensor).copy()
    if batch.ndim == 2:
        batch = batch[None]
    if batch.ndim == 3:
        batch = batch[None]  # one image (C, H, W)
    if batch.ndim != 4:
        raise ValueError(f"make_grid takes 2-D, 3-D or 4-D images, got shape {batch.shape}")
    if batch.shape[1] == 1:
        batch = np.repeat(batch, 3, axis=1)
    if normalize:
        batch = _normalized(batch, value_range, scale_each)
    if batch.shape[0] == 1:
        return Tensor._from_array(batch[0])
    count, channels, height, width = batch.shape
    columns = min(nrow, count)
    rows = math.ceil(count / columns)
    cell_h, cell_w = height + padding, width + padding
    grid = np.full((channels, rows * cell_h + padding, columns * cell_w + padding), pad_value,
                   dtype=np.float32)
    for k in range(count):
        top, left = (k // columns) * cell_h + padding, (k % columns) * cell_w + padding
        grid[:, top:top + height, left:left + width] = batch[k]
    return Tensor._from_array(grid)


def save_image(tensor: Any, fp: str | Path | Any, format: str | None = None,  # noqa: A002
               **grid_args: Any) -> None:
    """Save a batch of images in [0, 1] as one grid picture (PNG, JPEG, ... by the file name)."""
    grid = make_grid(tensor, **grid_args).numpy()
    pixels = np.clip(grid * 255 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    pil_image().fromarray(pixels).save(fp, format=format)
