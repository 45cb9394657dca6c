"""IDXDataset: Tensor attributes over the raw arrays, the batched path, pickling a memory map."""

from __future__ import annotations

import pickle

import numpy as np

import engine as en
from datasets import ConcatDataset, DataLoader, IDXDataset
from datasets import transforms as T


def test_data_and_targets_are_tensors_over_the_raw_arrays(tmp_path, write_raw, mnist_like):
    images, labels = mnist_like(6)
    ds = IDXDataset(write_raw(tmp_path / "i.idx", images), write_raw(tmp_path / "l.idx", labels))
    assert isinstance(ds.images, np.ndarray) and ds.labels.dtype == np.int64
    assert isinstance(ds.data, en.Tensor) and ds.data.dtype == en.uint8
    assert np.shares_memory(ds.data.numpy(), ds.images)  # a view, not a copy
    assert ds.targets.tolist() == labels.tolist()
    img, target = ds[2]
    assert isinstance(img, np.ndarray) and img.dtype == np.uint8 and type(target) is int
    gx, gy = ds.gather(np.array([4, 1]), None)
    np.testing.assert_array_equal(gx, images[[4, 1]])
    np.testing.assert_array_equal(gy, labels[[4, 1]])


def test_concat_falls_back_when_a_part_has_no_batch_path(tmp_path, write_raw, mnist_like):
    images, labels = mnist_like(6)
    img, lbl = write_raw(tmp_path / "i.idx", images), write_raw(tmp_path / "l.idx", labels)
    plain = IDXDataset(img, lbl, transform=lambda a: a)
    cat = ConcatDataset([IDXDataset(img, lbl), plain])
    assert cat.gather(np.array([0, 7]), None) is None
    fast = ConcatDataset([IDXDataset(img, lbl, transform=T.ToTensor())] * 2)
    gx, gy = fast.gather(np.array([7, 0]), None)
    np.testing.assert_array_equal(gx[0, 0], images[1] / np.float32(255))
    np.testing.assert_array_equal(gy, [labels[1], labels[0]])
    x, y = next(iter(DataLoader(cat, batch_size=12)))  # per-sample path, same values
    np.testing.assert_array_equal(x.numpy(), np.concatenate([images, images]))
    assert y.dtype == en.int64


def test_a_streamed_dataset_pickles_as_its_path(tmp_path, write_raw, mnist_like):
    images, labels = mnist_like(50)
    img, lbl = write_raw(tmp_path / "i.idx", images), write_raw(tmp_path / "l.idx", labels)
    streamed = IDXDataset(img, lbl, stream=True)
    blob = pickle.dumps(streamed)
    assert len(blob) < images.nbytes // 4  # the pixels are not in the pickle
    again = pickle.loads(blob)
    assert isinstance(again.images, np.memmap)
    np.testing.assert_array_equal(again.images, images)
    loaded = pickle.loads(pickle.dumps(IDXDataset(img, lbl, stream=False)))
    np.testing.assert_array_equal(loaded.images, images)


def test_workers_read_the_idx_fast_path_like_the_main_process(tmp_path, write_raw, mnist_like):
    images, labels = mnist_like(90, seed=3)
    img, lbl = write_raw(tmp_path / "i.idx", images), write_raw(tmp_path / "l.idx", labels)
    tf = T.Compose([T.RandomCrop(28, padding=2), T.ToTensor(), T.Normalize((0.5,), (0.2,))])
    ds = IDXDataset(img, lbl, transform=tf, stream=True)
    ref = [(x.numpy().copy(), y.numpy().copy())
           for x, y in DataLoader(ds, 16, shuffle=True, seed=8)]
    got = [(x.numpy().copy(), y.numpy().copy())
           for x, y in DataLoader(ds, 16, shuffle=True, seed=8, num_workers=2)]
    assert len(got) == len(ref) == 6
    for (xa, ya), (xb, yb) in zip(got, ref, strict=True):
        assert xa.tobytes() == xb.tobytes() and ya.tobytes() == yb.tobytes()
