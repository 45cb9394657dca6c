"""datasets.io.read_image and datasets.utils.make_grid / save_image, torchvision's image helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import engine as en
from datasets.io import ImageReadMode, read_image
from datasets.utils import make_grid, save_image

Image = pytest.importorskip("PIL.Image")


def reference_grid(batch: np.ndarray, nrow: int, padding: int, pad_value: float) -> np.ndarray:
    """The layout written out by hand: images row by row, padding before each and at the end."""
    n, c, h, w = batch.shape
    cols, rows = min(nrow, n), -(-n // min(nrow, n))
    grid = np.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value,
                   dtype=np.float32)
    for k in range(n):
        y, x = divmod(k, cols)
        top, left = padding + y * (h + padding), padding + x * (w + padding)
        grid[:, top:top + h, left:left + w] = batch[k]
    return grid


def test_make_grid_lays_out_rows_and_repeats_grey_channels():
    batch = np.random.default_rng(0).random((5, 1, 4, 3)).astype(np.float32)
    grid = make_grid(en.tensor(batch), nrow=2, padding=1, pad_value=0.5)
    assert isinstance(grid, en.Tensor) and tuple(grid.shape) == (3, 16, 9)
    expected = reference_grid(np.repeat(batch, 3, axis=1), 2, 1, 0.5)
    np.testing.assert_array_equal(grid.numpy(), expected)


def test_make_grid_normalizes_to_the_range():
    batch = np.array([[[[2.0, 4.0]]], [[[6.0, 10.0]]]], dtype=np.float32)
    grid = make_grid(batch, padding=0, normalize=True).numpy()
    np.testing.assert_allclose(grid[0], [[0.0, 0.25, 0.5, 1.0]])
    each = make_grid(batch, padding=0, normalize=True, scale_each=True).numpy()
    np.testing.assert_allclose(each[0], [[0.0, 1.0, 0.0, 1.0]])


def test_save_image_then_read_image_round_trips(tmp_path: Path):
    batch = np.random.default_rng(1).random((4, 3, 5, 6)).astype(np.float32)
    path = tmp_path / "grid.png"
    save_image(en.tensor(batch), path, nrow=2, padding=0)
    back = read_image(path)
    assert back.dtype == en.uint8 and tuple(back.shape) == (3, 10, 12)
    pixels = np.clip(reference_grid(batch, 2, 0, 0.0) * 255 + 0.5, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(back.numpy(), pixels)
    grey = read_image(path, ImageReadMode.GRAY)
    assert tuple(grey.shape) == (1, 10, 12)


def test_read_image_of_a_non_image_names_the_file(tmp_path: Path):
    path = tmp_path / "notes.png"
    path.write_text("not a picture")
    with pytest.raises(en.DataError, match="notes.png: cannot read it as an image"):
        read_image(path)
