"""DataLoader: exact batches, seeded order, exact resume, prefetch thread hygiene."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

import engine as en
from datasets import (
    DataError,
    DataLoader,
    Dataset,
    IDXDataset,
    SubsetRandomSampler,
    TensorDataset,
)
from datasets import transforms as T

MEAN, STD = 0.1307, 0.3081


@pytest.fixture
def files(tmp_path, write_raw, mnist_like):
    images, labels = mnist_like(203, seed=1)
    write_raw(tmp_path / "img.idx", images)
    write_raw(tmp_path / "lbl.idx.gz", labels)
    return tmp_path / "img.idx", tmp_path / "lbl.idx.gz", images, labels


def normalized(images: np.ndarray) -> np.ndarray:
    x = images.astype(np.float32) / np.float32(255)
    return ((x - np.float32(MEAN)) / np.float32(STD))[:, None]


def as_numpy(batches):
    return [tuple(t.numpy().copy() for t in b) for b in batches]


def assert_same(a, b):
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert xa.tobytes() == xb.tobytes() and ya.tobytes() == yb.tobytes()


def norm() -> T.Compose:
    return T.Compose([T.ToTensor(), T.Normalize((MEAN,), (STD,))])


def augment() -> T.Compose:
    return T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip(),
                      T.ToTensor(), T.Normalize((MEAN,), (STD,))])


def test_sequential_batches_are_exact(files):
    img, lbl, images, labels = files
    loader = DataLoader(IDXDataset(img, lbl, transform=norm()), batch_size=64)
    batches = list(loader)
    assert len(loader) == len(batches) == 4
    x, y = batches[0]
    assert isinstance(x, en.Tensor) and x.dtype == en.float32 and y.dtype == en.int64
    assert x.shape == (64, 1, 28, 28) and y.shape == (64,)
    np.testing.assert_array_equal(x.numpy(), normalized(images[:64]))
    np.testing.assert_array_equal(y.numpy(), labels[:64].astype(np.int64))
    x, y = batches[-1]
    assert x.shape == (203 - 192, 1, 28, 28)
    np.testing.assert_array_equal(x.numpy(), normalized(images[192:]))
    dropped = DataLoader(IDXDataset(img, lbl), batch_size=64, drop_last=True, device="cpu")
    assert len(dropped) == len(list(dropped)) == 3
    x, _ = next(iter(dropped))
    assert x.dtype == en.uint8
    np.testing.assert_array_equal(x.numpy(), images[:64])


def test_shuffle_visits_each_index_once_and_epochs_differ(files):
    img, lbl, images, _ = files
    ds = IDXDataset(img, lbl)  # no transform: batches are raw uint8 rows
    loader = DataLoader(ds, batch_size=50, shuffle=True, seed=3)
    rows = {images[i].tobytes(): i for i in range(len(images))}
    orders = []
    for _ in range(2):
        order = [rows[r.tobytes()] for x, _ in loader for r in x.numpy()]
        assert sorted(order) == list(range(203))
        orders.append(order)
    assert orders[0] != orders[1]
    loader.set_epoch(0)
    assert [rows[r.tobytes()] for x, _ in loader for r in x.numpy()] == orders[0]


@pytest.mark.parametrize("prefetch", [0, 2])
def test_same_seed_same_batches(files, prefetch):
    img, lbl, _, _ = files
    ds = IDXDataset(img, lbl, transform=augment())
    run = [as_numpy(DataLoader(ds, 32, shuffle=True, seed=11, prefetch=prefetch))
           for _ in range(2)]
    assert_same(run[0], run[1])
    ref = as_numpy(DataLoader(ds, 32, shuffle=True, seed=11, prefetch=0))
    assert_same(run[0], ref)  # prefetching never changes the batches
    other = as_numpy(DataLoader(ds, 32, shuffle=True, seed=12, prefetch=prefetch))
    assert run[0][0][1].tobytes() != other[0][1].tobytes()


@pytest.mark.parametrize("stop_after", [0, 1, 4, 6])
def test_resume_yields_exactly_the_remaining_batches(files, stop_after):
    img, lbl, _, _ = files
    ds = IDXDataset(img, lbl, transform=augment())
    full = DataLoader(ds, 29, shuffle=True, seed=5)
    epoch0, epoch1 = as_numpy(full), as_numpy(full)
    first = DataLoader(ds, 29, shuffle=True, seed=5, prefetch=3)
    it = iter(first)
    head = as_numpy(next(it) for _ in range(stop_after))
    state = json.loads(json.dumps(first.state_dict()))  # must survive a JSON round trip
    it.close()
    assert state["position"] == stop_after and state["epoch"] == 0 and state["seed"] == 5
    resumed = DataLoader(ds, 29, shuffle=True, seed=None, prefetch=2)
    resumed.load_state_dict(state)
    resumed.set_epoch(0)  # a training loop calls this each epoch; it keeps the position
    tail = as_numpy(resumed)
    assert_same(head + tail, epoch0)
    assert resumed.state_dict()["epoch"] == 1 and resumed.state_dict()["position"] == 0
    assert_same(as_numpy(resumed), epoch1)


def test_state_after_full_epoch_points_at_next_epoch(files):
    img, lbl, _, _ = files
    loader = DataLoader(IDXDataset(img, lbl), 100, shuffle=True, seed=1)
    list(loader)
    state = loader.state_dict()
    assert (state["epoch"], state["position"], state["num_batches"]) == (1, 0, 3)
    other = DataLoader(IDXDataset(img, lbl), 50, shuffle=True, seed=1)
    with pytest.raises(DataError, match="batch_size 100, this loader has 50"):
        other.load_state_dict(state)


class PerSample(Dataset):
    """No gather(): forces the per-sample path with rng_scope."""

    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), int(self.labels[i])


def test_per_sample_path_is_seeded_and_resumable(files):
    _, _, images, labels = files
    ds = PerSample(images, labels, augment())
    a = as_numpy(DataLoader(ds, 16, shuffle=True, seed=2))
    b = as_numpy(DataLoader(ds, 16, shuffle=True, seed=2, prefetch=0))
    assert_same(a, b)
    loader = DataLoader(ds, 16, shuffle=True, seed=2)
    it = iter(loader)
    head = as_numpy([next(it), next(it)])
    state = loader.state_dict()
    it.close()
    again = DataLoader(ds, 16, shuffle=True, seed=0)
    again.load_state_dict(state)
    assert_same(head + as_numpy(again), a)


def test_per_sample_and_batched_paths_agree_for_deterministic_transforms(files):
    img, lbl, images, labels = files
    fast = as_numpy(DataLoader(IDXDataset(img, lbl, transform=norm()), 40, seed=0))
    slow = as_numpy(DataLoader(PerSample(images, labels, norm()), 40, seed=0))
    assert_same(fast, slow)


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "DataLoader-prefetch"]


def test_prefetch_thread_stops_when_iteration_stops_early(files):
    img, lbl, _, _ = files
    loader = DataLoader(IDXDataset(img, lbl), 8, shuffle=True, seed=0, prefetch=2)
    for i, _ in enumerate(loader):
        if i == 2:
            break
    assert not prefetch_threads()
    it = iter(loader)
    next(it)
    assert len(prefetch_threads()) == 1
    it.close()
    assert not prefetch_threads()
    list(loader)
    assert not prefetch_threads()


def test_errors_in_the_prefetch_thread_reach_the_caller(files):
    _, _, images, labels = files

    def boom(x):
        raise RuntimeError("bad sample")

    loader = DataLoader(PerSample(images, labels, boom), 8, prefetch=2)
    with pytest.raises(RuntimeError, match="bad sample"):
        list(loader)
    assert not prefetch_threads()


def test_collate_fn_gets_the_samples(files):
    img, lbl, images, labels = files
    seen = []
    loader = DataLoader(IDXDataset(img, lbl), 5, collate_fn=lambda s: seen.append(s) or len(s))
    assert list(loader)[:2] == [5, 5]
    first = seen[0]
    assert [t for _, t in first] == labels[:5].tolist()
    np.testing.assert_array_equal(first[3][0], images[3])


def test_tensor_dataset_and_sampler(files):
    _, _, images, labels = files
    ds = TensorDataset(en.from_numpy(images), labels.astype(np.int64))
    sampler = SubsetRandomSampler(range(10, 50), seed=4)
    batches = list(DataLoader(ds, 7, sampler=sampler))
    got = np.concatenate([y.numpy() for _, y in batches])
    assert sorted(got.tolist()) == sorted(labels[10:50].tolist())
    order = sampler.indices()
    np.testing.assert_array_equal(batches[0][0].numpy(), images[order[:7]])
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=sampler, shuffle=True)
