"""TensorDataset, Subset, ConcatDataset, random_split and the samplers."""

from __future__ import annotations

import numpy as np
import pytest

from datasets import (
    ConcatDataset,
    DistributedSampler,
    IDXDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    random_split,
)
from datasets import transforms as T


@pytest.fixture
def arrays():
    x = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    y = np.arange(40, dtype=np.int64) * 10
    return x, y


def test_tensor_dataset_items_and_gather(arrays):
    x, y = arrays
    ds = TensorDataset(x, y)
    assert len(ds) == 40
    xi, yi = ds[7]
    np.testing.assert_array_equal(xi, [21, 22, 23])
    assert yi == 70 and ds[-1][1] == 390
    gx, gy = ds.gather(np.array([3, 1, 3]), None)
    np.testing.assert_array_equal(gy, [30, 10, 30])
    with pytest.raises(IndexError, match="index 40 is out of range"):
        ds[40]
    with pytest.raises(ValueError, match="first dimension"):
        TensorDataset(x, y[:5])


def test_subset_and_concat_map_indices(arrays, tmp_path, write_raw):
    x, y = arrays
    ds = TensorDataset(x, y)
    sub = Subset(ds, [5, 2, 9])
    assert len(sub) == 3 and sub[1][1] == 20
    np.testing.assert_array_equal(sub.gather(np.array([2, 0]), None)[1], [90, 50])
    cat = ConcatDataset([sub, TensorDataset(x[:4] + 1000, y[:4] + 1)])
    assert len(cat) == 7 and cat[3][1] == 1 and cat[6][1] == 31 and cat[-5][1] == 90
    gx, gy = cat.gather(np.array([6, 0, 4, 2]), None)
    np.testing.assert_array_equal(gy, [31, 50, 11, 90])
    np.testing.assert_array_equal(gx[0], x[3] + 1000)
    both = sub + sub
    assert isinstance(both, ConcatDataset) and len(both) == 6


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


def test_random_split_is_a_seeded_partition(arrays):
    ds = TensorDataset(*arrays)
    a, b, c = random_split(ds, [20, 15, 5], seed=3)
    idx = np.concatenate([a.indices, b.indices, c.indices])
    assert sorted(idx.tolist()) == list(range(40))
    a2, _, _ = random_split(ds, [20, 15, 5], seed=3)
    np.testing.assert_array_equal(a.indices, a2.indices)
    assert not np.array_equal(a.indices, random_split(ds, [20, 15, 5], seed=4)[0].indices)
    parts = random_split(ds, [0.5, 0.3, 0.2], seed=0)
    assert [len(p) for p in parts] == [20, 12, 8]
    with pytest.raises(ValueError, match="sum to 39"):
        random_split(ds, [20, 19])


def test_samplers():
    data = range(10)
    assert list(SequentialSampler(data)) == list(range(10))
    rs = RandomSampler(data, seed=1)
    e0 = list(rs)
    assert sorted(e0) == list(range(10))
    rs.set_epoch(1)
    assert list(rs) != e0
    rs.set_epoch(0)
    assert list(rs) == e0 == list(RandomSampler(data, seed=1))
    assert len(RandomSampler(data, num_samples=25, seed=0)) == 25
    many = list(RandomSampler(data, num_samples=25, seed=0))
    assert sorted(many[:10]) == list(range(10)) and sorted(many[10:20]) == list(range(10))
    drawn = list(RandomSampler(data, replacement=True, num_samples=100, seed=0))
    assert len(drawn) == 100 and set(drawn) <= set(range(10)) and len(set(drawn)) < 100
    sub = list(SubsetRandomSampler([3, 5, 7], seed=0))
    assert sorted(sub) == [3, 5, 7]


@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_partitions(drop_last):
    data = range(11)
    shards = [DistributedSampler(data, num_replicas=3, rank=r, seed=7, drop_last=drop_last)
              for r in range(3)]
    lists = [list(s) for s in shards]
    assert {len(x) for x in lists} == {3 if drop_last else 4}
    flat = [i for group in zip(*lists, strict=True) for i in group]
    if drop_last:
        assert len(set(flat)) == 9
    else:
        assert set(flat) == set(range(11)) and len(flat) == 12  # one index padded
    for s in shards:
        s.set_epoch(1)
    assert [list(s) for s in shards] != lists
    ordered = DistributedSampler(data, num_replicas=2, rank=1, shuffle=False)
    assert list(ordered) == [1, 3, 5, 7, 9, 0]
    with pytest.raises(ValueError, match="rank 3"):
        DistributedSampler(data, num_replicas=3, rank=3)
