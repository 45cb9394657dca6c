"""Keras's ~/.keras/datasets/mnist.npz as a source of MNIST: read, preferred order, bad files."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from datasets import MNIST, DataError, FashionMNIST


def _arrays(n_train: int = 12, n_test: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "y_train": (np.arange(n_train) % 10).astype(np.uint8),
            "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "y_test": (np.arange(n_test) * 3 % 10).astype(np.uint8)}


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh HOME (KERAS_HOME unset); returns its .keras/datasets folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KERAS_HOME", raising=False)
    folder = tmp_path / "home" / ".keras" / "datasets"
    folder.mkdir(parents=True)
    return folder


def test_keras_npz_loads_as_mnist(tmp_path, home) -> None:
    arrays = _arrays()
    np.savez(home / "mnist.npz", **arrays)
    for train, x, y in ((True, "x_train", "y_train"), (False, "x_test", "y_test")):
        ds = MNIST(tmp_path / "empty", train=train)  # download=False: nothing is fetched
        np.testing.assert_array_equal(ds.data.numpy(), arrays[x])
        np.testing.assert_array_equal(ds.targets.numpy(), arrays[y].astype(np.int64))
        assert ds.targets.numpy().dtype == np.int64 and len(ds) == len(arrays[x])
        assert ds.images_path == home / "mnist.npz"
        image, label = ds[1]
        np.testing.assert_array_equal(image, arrays[x][1])
        assert label == int(arrays[y][1])


def test_idx_files_under_root_come_first_and_fashion_ignores_keras(tmp_path, home, write_raw,
                                                                   mnist_like,
                                                                   monkeypatch) -> None:
    monkeypatch.setattr(FashionMNIST, "system_dirs", [])  # Debian's copy may be installed
    np.savez(home / "mnist.npz", **_arrays())
    images, labels = mnist_like(7, seed=2)
    write_raw(tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte", images)
    write_raw(tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte", labels)
    ds = MNIST(tmp_path)
    np.testing.assert_array_equal(ds.data.numpy(), images)
    with pytest.raises(DataError, match="FashionMNIST: files .* not found in") as info:
        FashionMNIST(tmp_path / "empty")
    assert "mnist.npz" not in str(info.value)


def test_keras_home_is_honoured(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    (tmp_path / "kh" / "datasets").mkdir(parents=True)
    arrays = _arrays(n_train=3)
    np.savez_compressed(tmp_path / "kh" / "datasets" / "mnist.npz", **arrays)
    np.testing.assert_array_equal(MNIST(tmp_path / "r").data.numpy(), arrays["x_train"])


def _write(path, kind: str) -> None:
    arrays = _arrays()
    if kind == "garbage":
        path.write_bytes(b"not a zip at all" * 10)
    elif kind == "truncated":
        np.savez(path, **arrays)
        path.write_bytes(path.read_bytes()[:3000])
    elif kind == "missing_key":
        np.savez(path, **{k: v for k, v in arrays.items() if k != "y_test"})
    elif kind == "float_images":
        np.savez(path, **{**arrays, "x_train": arrays["x_train"].astype(np.float32)})
    elif kind == "wrong_size":
        np.savez(path, **{**arrays, "x_train": np.zeros((12, 32, 32), np.uint8)})
    elif kind == "label_count":
        np.savez(path, **{**arrays, "y_train": arrays["y_train"][:5]})
    elif kind == "pickled":
        np.savez(path, **{**arrays, "x_train": np.array([object()], dtype=object)})
    elif kind == "single_array":
        with open(path, "wb") as f:
            np.save(f, arrays["x_train"])
    elif kind == "bad_member":
        with zipfile.ZipFile(path, "w") as z:
            for k in arrays:
                z.writestr(f"{k}.npy", b"\x93NUMPY junk")


@pytest.mark.parametrize(("kind", "message"), [
    ("garbage", r"unreadable \("), ("truncated", r"unreadable \("),
    ("missing_key", "no y_test in it, not Keras's MNIST"),
    ("float_images", "x_train is 12x28x28 float32, expected N x 28 x 28 uint8"),
    ("wrong_size", "x_train is 12x32x32 uint8, expected N x 28 x 28 uint8"),
    ("label_count", "y_train is 5 uint8, expected 12 integer labels"),
    ("pickled", r"unreadable \(.*allow_pickle"), ("single_array", "a single array, not an .npz"),
    ("bad_member", r"unreadable \("),
])
def test_a_bad_keras_file_is_one_line_naming_it(tmp_path, home, kind, message) -> None:
    path = home / "mnist.npz"
    _write(path, kind)
    with pytest.raises(DataError, match=message) as info:
        MNIST(tmp_path / "empty")
    text = str(info.value)
    assert text.startswith(f"{path}: ") and "\n" not in text, text
    assert text.endswith("delete it (Keras downloads it again) or point data.root at the IDX "
                         "files")
