"""IDXFolder (any IDX image folder, grey or channels last) and channel_stats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import datasets.folder as folder_mod
from datasets import DataError, IDXFolder, channel_stats, read_idx, write_idx
from datasets import transforms as T
from datasets.mnist import FilesNotFound


def _write(root: Path, images: np.ndarray, labels: np.ndarray, split: str = "train",
           gz: bool = False) -> None:
    ext = ".gz" if gz else ""
    write_idx(root / f"{split}-images-idx3-ubyte{ext}", images)
    write_idx(root / f"{split}-labels-idx1-ubyte{ext}", labels)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_channels_last_folder_items_are_chw_tensors(tmp_path, rng):
    images = rng.integers(0, 256, (12, 5, 6, 3), dtype=np.uint8)
    labels = rng.integers(0, 4, 12).astype(np.uint8)
    labels[0] = 4
    _write(tmp_path, images, labels, gz=True)
    assert read_idx(tmp_path / "train-images-idx3-ubyte.gz").shape == (12, 5, 6, 3)
    ds = IDXFolder(tmp_path, train=True, transform=T.ToTensor())
    assert ds.image_shape == (3, 5, 6)
    assert ds.classes == ["0", "1", "2", "3", "4"]
    image, label = ds[1]
    np.testing.assert_array_equal(image.numpy(), images[1].transpose(2, 0, 1) / np.float32(255))
    assert label == int(labels[1])
    batch, targets = ds.gather(np.array([3, 1]), np.random.default_rng(0))
    np.testing.assert_array_equal(batch, images[[3, 1]].transpose(0, 3, 1, 2) / np.float32(255))
    np.testing.assert_array_equal(targets, labels[[3, 1]])


def test_grey_folder_of_another_size(tmp_path, rng):
    images = rng.integers(0, 256, (9, 16, 16), dtype=np.uint8)
    _write(tmp_path, images, np.arange(9, dtype=np.uint8) % 3, split="t10k")
    ds = IDXFolder(tmp_path, train=False)
    assert ds.image_shape == (1, 16, 16) and len(ds) == 9 and ds.classes == ["0", "1", "2"]
    np.testing.assert_array_equal(ds[4][0], images[4])


@pytest.mark.parametrize("shape", [(40, 7, 9, 3), (40, 7, 9), (3, 2, 2, 1)])
def test_channel_stats_equal_numpy_and_do_not_depend_on_chunking(shape, rng, monkeypatch):
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    channels = shape[3] if len(shape) == 4 else 1
    scaled = images.reshape(-1, channels) / 255.0
    mean, std = channel_stats(images)
    np.testing.assert_allclose(mean, scaled.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(std, scaled.std(axis=0), rtol=1e-13)
    monkeypatch.setattr(folder_mod, "_STATS_CHUNK", 1)  # one record per pass
    assert channel_stats(images) == (mean, std)


def test_channel_stats_on_a_memory_map(tmp_path, rng):
    images = rng.integers(0, 256, (20, 4, 4, 2), dtype=np.uint8)
    write_idx(tmp_path / "x", images)
    mapped = read_idx(tmp_path / "x", stream=True)
    assert isinstance(mapped, np.memmap)
    assert channel_stats(mapped) == channel_stats(images)


def test_channel_stats_refuse_float_images():
    with pytest.raises(DataError, match="channel statistics need uint8 images, got float32"):
        channel_stats(np.zeros((2, 3, 3), np.float32))


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_missing_file_is_named(tmp_path, rng):
    write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 9, (3, 4, 4), np.uint8))
    with pytest.raises(FilesNotFound, match=r"train-labels-idx1-ubyte\(\.gz\) not found") as exc:
        IDXFolder(tmp_path)
    assert str(tmp_path / "train-labels-idx1-ubyte") in _one_line(exc)


def test_image_label_count_mismatch_names_both_files(tmp_path, rng):
    _write(tmp_path, rng.integers(0, 9, (5, 4, 4), np.uint8), np.zeros(4, np.uint8))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: 4 labels for the 5 images in "
                                        r".*train-images-idx3-ubyte") as exc:
        IDXFolder(tmp_path)
    _one_line(exc)


@pytest.mark.parametrize("shape, dtype", [((2, 3, 4, 3, 2), np.uint8), ((6,), np.uint8),
                                          ((2, 4, 4), np.float32)])
def test_images_of_the_wrong_rank_or_type_are_refused(tmp_path, shape, dtype):
    _write(tmp_path, np.zeros(shape, dtype), np.zeros(shape[0], np.uint8))
    shown = "x".join(map(str, shape))
    with pytest.raises(DataError, match=rf"train-images-idx3-ubyte: images are {shown} "
                                        rf"{np.dtype(dtype).name}, expected N x H x W \(grey\) "
                                        r"or N x H x W x C \(channels last\) uint8") as exc:
        IDXFolder(tmp_path)
    _one_line(exc)


def test_labels_not_one_dimensional_are_refused(tmp_path):
    _write(tmp_path, np.zeros((3, 4, 4), np.uint8), np.zeros((3, 2), np.uint8))
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte: labels are 3x2, expected one "
                                        r"label per image \(a 1-D IDX file\)") as exc:
        IDXFolder(tmp_path)
    _one_line(exc)


@pytest.mark.parametrize("labels, reason", [
    (np.array([0, -2, 1], np.int8), "negative at record 1"),
    (np.array([0.0, 1.0, 1.0], np.float32), "not integers"),
])
def test_labels_that_are_not_class_indices_are_refused(tmp_path, labels, reason):
    _write(tmp_path, np.zeros((3, 4, 4), np.uint8), labels)
    with pytest.raises(DataError, match=rf"train-labels-idx1-ubyte: labels are {reason}; "
                                        "expected class indices"):
        IDXFolder(tmp_path)


def test_empty_images_are_refused(tmp_path):
    _write(tmp_path, np.zeros((0, 4, 4), np.uint8), np.zeros(0, np.uint8))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: holds 0x4x4 images"):
        IDXFolder(tmp_path)
