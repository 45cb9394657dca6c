"""MNIST-family datasets: file lookup, items, system Fashion-MNIST, synthetic data."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from datasets import KMNIST, MNIST, DataError, FashionMNIST, make_synthetic_idx, read_idx
from datasets import transforms as T

SYSTEM = Path("/usr/share/datasets/fashion-mnist")


def put_split(folder, write_raw, images, labels, prefix="train", suffix=""):
    write_raw(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_raw(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)


@pytest.mark.parametrize("where", ["KMNIST/raw", "KMNIST", "."])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_files_found_in_each_root_folder(tmp_path, write_raw, mnist_like, where, suffix):
    images, labels = mnist_like(12, seed=2)
    put_split(tmp_path / where, write_raw, images, labels, "t10k", suffix)
    ds = KMNIST(tmp_path, train=False)
    assert len(ds) == 12 and ds.classes[2] == "su" and ds.class_to_idx["wo"] == 9
    np.testing.assert_array_equal(ds.images, images)
    assert ds.labels.dtype == np.int64
    img, target = ds[5]
    assert img.dtype == np.uint8 and target == int(labels[5]) and isinstance(target, int)
    np.testing.assert_array_equal(img, images[5])


def test_raw_folder_wins_over_root(tmp_path, write_raw, mnist_like):
    put_split(tmp_path, write_raw, *mnist_like(5, seed=1))
    images, labels = mnist_like(7, seed=2)
    put_split(tmp_path / "MNIST" / "raw", write_raw, images, labels)
    ds = MNIST(tmp_path, transform=T.ToTensor(), target_transform=lambda t: t + 100)
    assert len(ds) == 7
    img, target = ds[6]
    assert img.shape == (1, 28, 28) and target == labels[6] + 100


def test_wrong_shapes_are_rejected(tmp_path, write_raw):
    put_split(tmp_path, write_raw, np.zeros((4, 28), np.uint8), np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="train-images-idx3-ubyte: expected N x H x W uint8"):
        MNIST(tmp_path)


def test_download_needs_root():
    with pytest.raises(DataError, match="needs a root"):
        MNIST(None, download=True)


def mlp_accuracy(train, test, epochs: int, lr: float = 0.05) -> float:
    """Test accuracy of a 784-64-10 ReLU MLP after plain SGD at batch 32, in NumPy."""
    tf = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.25,))])
    x = tf.apply_batch(train.images, None).reshape(len(train), -1)
    xt = tf.apply_batch(test.images, None).reshape(len(test), -1)
    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(0, 0.05, (784, 64)), rng.normal(0, 0.05, (64, 10))
    for _ in range(epochs):
        for i in range(0, len(x), 32):
            xb, yb = x[i : i + 32], train.labels[i : i + 32]
            h = np.maximum(xb @ w1, 0)
            z = h @ w2
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(yb)), yb] -= 1
            gh = (p @ w2.T) * (h > 0)
            w2 -= lr * h.T @ p / len(yb)
            w1 -= lr * xb.T @ gh / len(yb)
    return float(((np.maximum(xt @ w1, 0) @ w2).argmax(1) == test.labels).mean())


def test_synthetic_is_learnable_and_readable(tmp_path):
    paths = make_synthetic_idx(tmp_path, n_train=1000, n_test=300, seed=1, compress=True)
    assert sorted(paths) == sorted(["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
    train, test = MNIST(tmp_path), MNIST(tmp_path, train=False)
    assert train.data.shape == (1000, 28, 28) and len(test) == 300
    assert np.bincount(train.labels).tolist() == [100] * 10
    assert mlp_accuracy(train, test, epochs=2) >= 0.9
    again = make_synthetic_idx(tmp_path / "b", n_train=1000, n_test=300, seed=1, compress=True)
    assert all(again[n].read_bytes() == p.read_bytes() for n, p in paths.items())
    other = make_synthetic_idx(tmp_path / "c", n_train=50, n_test=20, seed=2, image_size=12,
                               num_classes=3)
    assert read_idx(other["train-images-idx3-ubyte"]).shape == (50, 12, 12)


needs_debian = pytest.mark.skipif(
    not (SYSTEM / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian package dataset-fashion-mnist is not installed",
)


def raw_record(path: Path, offset: int, size: int) -> bytes:
    """size bytes at offset of the decompressed file, read without the library."""
    with gzip.open(path, "rb") as f:
        f.seek(offset)
        return f.read(size)


@needs_debian
def test_fashion_mnist_from_system_folder():
    train, test = FashionMNIST(root=None), FashionMNIST(root=None, train=False)
    assert train.data.shape == (60000, 28, 28) and test.data.shape == (10000, 28, 28)
    assert train.images_path.parent == SYSTEM
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert np.bincount(test.labels).tolist() == [1000] * 10
    for k in (0, 1, 12345, 59999):
        pixels = raw_record(SYSTEM / "train-images-idx3-ubyte.gz", 16 + 784 * k, 784)
        assert train.images[k].tobytes() == pixels
        label = raw_record(SYSTEM / "train-labels-idx1-ubyte.gz", 8 + k, 1)[0]
        img, target = train[k]
        assert target == label and img.tobytes() == pixels
    assert test[9999][1] == raw_record(SYSTEM / "t10k-labels-idx1-ubyte.gz", 8 + 9999, 1)[0]
    assert train.classes[9] == "Ankle boot"


@needs_debian
def test_root_is_searched_before_the_system_folder(tmp_path, write_raw, mnist_like):
    images, labels = mnist_like(3)
    put_split(tmp_path / "FashionMNIST" / "raw", write_raw, images, labels)
    assert len(FashionMNIST(tmp_path)) == 3
    assert len(FashionMNIST(tmp_path / "empty")) == 60000  # falls through to the system files


TORCHVISION_CLASSES = {
    MNIST: ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
            "7 - seven", "8 - eight", "9 - nine"],
    FashionMNIST: ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"],
    KMNIST: ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
}


@pytest.mark.parametrize("cls", [MNIST, FashionMNIST, KMNIST])
def test_torchvision_attributes(tmp_path, write_raw, mnist_like, cls):
    import engine as en

    images, labels = mnist_like(9, seed=4)
    put_split(tmp_path / "data" / cls.__name__ / "raw", write_raw, images, labels, "t10k", ".gz")
    ds = cls(str(tmp_path / "data"), train=False, transform=None, target_transform=None,
             download=False)
    assert isinstance(ds.data, en.Tensor) and ds.data.dtype == en.uint8
    assert ds.data.shape == (9, 28, 28)
    np.testing.assert_array_equal(ds.data.numpy(), images)
    assert isinstance(ds.targets, en.Tensor) and ds.targets.dtype == en.int64
    assert ds.targets.tolist() == labels.tolist()
    assert ds.classes == TORCHVISION_CLASSES[cls]
    assert ds.class_to_idx == {c: i for i, c in enumerate(TORCHVISION_CLASSES[cls])}
    for old, new in (("train_data", "data"), ("test_data", "data"),
                     ("train_labels", "targets"), ("test_labels", "targets")):
        with pytest.warns(UserWarning, match=f"{old} has been renamed {new}"):
            value = getattr(ds, old)
        np.testing.assert_array_equal(value.numpy(), getattr(ds, new).numpy())


def test_items_with_to_tensor_are_tensor_and_int(tmp_path, write_raw, mnist_like):
    import engine as en

    images, labels = mnist_like(5, seed=6)
    put_split(tmp_path / "FashionMNIST" / "raw", write_raw, images, labels, "t10k")
    test_data = FashionMNIST(root=tmp_path, train=False, download=False,
                             transform=T.ToTensor())
    img, label = test_data[0]
    assert isinstance(img, en.Tensor) and img.dtype == en.float32 and img.shape == (1, 28, 28)
    assert type(label) is int and label == labels[0]
    np.testing.assert_array_equal(img.numpy()[0], images[0] / np.float32(255))
    assert test_data[0][0].to("cpu").shape == (1, 28, 28)
    squeezed = img.squeeze()
    assert squeezed.shape == (28, 28)
    assert np.asarray(squeezed).shape == (28, 28)  # what matplotlib's imshow calls
    labels_map = dict(enumerate(test_data.classes))
    assert labels_map[label] == test_data.classes[labels[0]]


def test_matplotlib_imshow_takes_a_tensor(tmp_path, write_raw, mnist_like):
    plt = pytest.importorskip("matplotlib.pyplot")
    images, labels = mnist_like(2)
    put_split(tmp_path / "MNIST" / "raw", write_raw, images, labels)
    img, _ = MNIST(tmp_path, transform=T.ToTensor())[1]
    shown = plt.imshow(img.squeeze(), cmap="gray")
    np.testing.assert_array_equal(shown.get_array(), images[1] / np.float32(255))
    plt.close("all")


def test_data_and_targets_can_be_replaced_to_filter(tmp_path, write_raw, mnist_like):
    images, labels = mnist_like(20)
    put_split(tmp_path, write_raw, images, labels)
    ds = MNIST(tmp_path)
    keep = ds.targets == 3
    ds.data, ds.targets = ds.data[keep], ds.targets[keep]
    assert len(ds) == 2 and ds.targets.tolist() == [3, 3]
    np.testing.assert_array_equal(ds[1][0], images[13])


def test_system_copy_is_read_with_download_on(tmp_path, monkeypatch, mnist_like):
    """A distribution's recompressed .gz files (not the mirrors' bytes) are used, not fetched."""
    from datasets import write_idx

    system = tmp_path / "usr-share"
    images, labels = mnist_like(5)
    write_idx(system / "train-images-idx3-ubyte.gz", images)
    write_idx(system / "train-labels-idx1-ubyte.gz", labels)
    monkeypatch.setattr(FashionMNIST, "system_dirs", [str(system)])
    ds = FashionMNIST(tmp_path / "root", download=True, mirrors=["http://127.0.0.1:9/"])
    assert ds.images_path.parent == system and np.array_equal(ds.data.numpy(), images)
    assert not (tmp_path / "root").exists()  # nothing was downloaded


@needs_debian
def test_debian_fashion_mnist_with_download_on(tmp_path):
    """configs/fashion_mnist.yaml's settings (download: true) read Debian's package offline."""
    ds = FashionMNIST(tmp_path / "data", download=True, mirrors=["http://127.0.0.1:9/"])
    assert len(ds) == 60000 and ds.images_path.parent == SYSTEM
