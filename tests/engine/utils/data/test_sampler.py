"""Samplers: seeded orders, WeightedRandomSampler's distribution, BatchSampler against torch."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
from engine.utils.data import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)


def test_sequential_random_and_subset_samplers():
    data = range(10)
    assert list(SequentialSampler(data)) == list(range(10))
    rs = RandomSampler(data, seed=1)
    e0 = list(rs)
    assert sorted(e0) == list(range(10)) and all(type(i) is int for i in e0)
    rs.set_epoch(1)
    assert list(rs) != e0
    rs.set_epoch(0)
    assert list(rs) == e0 == list(RandomSampler(data, seed=1))
    assert len(RandomSampler(data, num_samples=25, seed=0)) == 25
    many = list(RandomSampler(data, num_samples=25, seed=0))
    assert sorted(many[:10]) == list(range(10)) and sorted(many[10:20]) == list(range(10))
    drawn = list(RandomSampler(data, replacement=True, num_samples=100, seed=0))
    assert len(drawn) == 100 and set(drawn) <= set(range(10)) and len(set(drawn)) < 100
    assert sorted(SubsetRandomSampler([3, 5, 7], seed=0)) == [3, 5, 7]
    en.manual_seed(4)
    unseeded = list(RandomSampler(data))
    en.manual_seed(4)
    assert list(RandomSampler(data)) == unseeded  # the global seed fixes unseeded samplers


def test_random_sampler_errors_are_torchs():
    with pytest.raises(TypeError, match="replacement should be a boolean value, but got "
                                        "replacement=1"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but "
                                         "got num_samples=0"):
        RandomSampler(range(3), num_samples=0)


def test_weighted_sampler_follows_the_weights():
    weights = [0.0, 1.0, 3.0, 6.0]
    drawn = np.array(list(WeightedRandomSampler(weights, 20000, seed=0)))
    freq = np.bincount(drawn, minlength=4) / len(drawn)
    assert freq[0] == 0  # zero weight: never drawn
    # Binomial standard error at n=20000 is below 0.0035; allow four of them.
    np.testing.assert_allclose(freq, [0.0, 0.1, 0.3, 0.6], atol=0.014)
    no_repeat = list(WeightedRandomSampler([1, 1, 1, 5, 0], 4, replacement=False, seed=1))
    assert sorted(no_repeat) == [0, 1, 2, 3]
    s = WeightedRandomSampler(weights, 50, seed=3)
    first = list(s)
    s.set_epoch(1)
    assert list(s) != first and len(s) == 50


def test_weighted_sampler_errors_are_torchs():
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        WeightedRandomSampler([1.0], 0)
    with pytest.raises(ValueError, match="replacement should be a boolean value"):
        WeightedRandomSampler([1.0], 1, replacement="yes")
    with pytest.raises(ValueError, match=r"weights should be a 1d sequence but given weights "
                                         r"have shape \(1, 2\)"):
        WeightedRandomSampler([[1.0, 2.0]], 1)
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist.size"):
        WeightedRandomSampler([1.0, 2.0], 3, replacement=False)


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("n, size", [(10, 3), (9, 3), (5, 7)])
def test_batch_sampler_matches_torch(n, size, drop_last):
    torch = pytest.importorskip("torch")
    ours = BatchSampler(SequentialSampler(range(n)), size, drop_last)
    theirs = torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(range(n)), size,
                                           drop_last)
    assert list(ours) == list(theirs) and len(ours) == len(theirs)
    # Any iterable of indices works, as in torch.
    assert list(BatchSampler([4, 2, 7, 1], 3, drop_last)) == list(
        torch.utils.data.BatchSampler([4, 2, 7, 1], 3, drop_last))


def test_batch_sampler_errors_are_torchs():
    with pytest.raises(ValueError, match="batch_size should be a positive integer value, but "
                                         "got batch_size=0"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean value, but got "
                                         "drop_last=1"):
        BatchSampler(range(3), 2, 1)


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
    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval "
                                         r"\[0, 2\]"):
        DistributedSampler(data, num_replicas=3, rank=3)


def test_distributed_sampler_unshuffled_matches_torch():
    torch = pytest.importorskip("torch")
    for rank in range(3):
        for drop_last in (False, True):
            ours = DistributedSampler(range(11), 3, rank, shuffle=False, drop_last=drop_last)
            theirs = torch.utils.data.DistributedSampler(range(11), 3, rank, shuffle=False,
                                                         drop_last=drop_last)
            assert list(ours) == list(theirs)
