"""TensorDataset, Subset, ConcatDataset, ChainDataset, StackDataset and random_split."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
from engine.utils.data import (
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    random_split,
)


@pytest.fixture
def arrays():
    x = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)
    y = np.arange(40, dtype=np.int64) * 10
    return x, y


def test_tensor_dataset_items_are_rows_of_the_tensors(arrays):
    x, y = arrays
    ds = TensorDataset(en.from_numpy(x), en.from_numpy(y))
    assert len(ds) == 40
    xi, yi = ds[7]
    assert isinstance(xi, en.Tensor) and isinstance(yi, en.Tensor)
    np.testing.assert_array_equal(xi.numpy(), [21, 22, 23])
    assert yi.item() == 70 and ds[-1][1].item() == 390
    gx, gy = ds.gather(np.array([3, 1, 3]), None)
    np.testing.assert_array_equal(gy, [30, 10, 30])
    np.testing.assert_array_equal(gx[1], x[1])
    with pytest.raises(IndexError):
        ds[40]
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(en.from_numpy(x), en.from_numpy(y[:5]))


def test_subset_and_concat_map_indices(arrays):
    x, y = arrays
    ds = TensorDataset(x, y)
    sub = Subset(ds, [5, 2, 9])
    assert sub.indices == [5, 2, 9] and len(sub) == 3 and sub[1][1] == 20
    np.testing.assert_array_equal(sub.gather(np.array([2, 0]), None)[1], [90, 50])
    cat = ConcatDataset([sub, TensorDataset(x[:4] + 1000, y[:4] + 1)])
    assert cat.cumulative_sizes == [3, 7]
    assert len(cat) == 7 and cat[3][1] == 1 and cat[6][1] == 31 and cat[-5][1] == 90
    gx, gy = cat.gather(np.array([6, 0, 4, 2]), None)
    np.testing.assert_array_equal(gy, [31, 50, 11, 90])
    np.testing.assert_array_equal(gx[0], x[3] + 1000)
    both = sub + sub
    assert isinstance(both, ConcatDataset) and len(both) == 6
    with pytest.raises(ValueError, match="absolute value of index should not exceed"):
        cat[-8]
    with pytest.raises(AssertionError, match="should not be an empty iterable"):
        ConcatDataset([])


class Count(IterableDataset):
    def __init__(self, start, stop):
        self.start, self.stop = start, stop

    def __iter__(self):
        return iter(range(self.start, self.stop))

    def __len__(self):
        return self.stop - self.start


def test_chain_and_stack_datasets(arrays):
    chained = Count(0, 3) + Count(10, 12)
    assert isinstance(chained, ChainDataset) and list(chained) == [0, 1, 2, 10, 11]
    assert len(chained) == 5
    with pytest.raises(AssertionError, match="does not support IterableDataset"):
        ConcatDataset([Count(0, 2)])
    x, y = arrays
    a, b = TensorDataset(x), TensorDataset(y)
    assert StackDataset(a, b)[3][1][0] == 30
    assert StackDataset(img=a, label=b)[2]["label"][0] == 20
    with pytest.raises(ValueError, match="Size mismatch between datasets"):
        StackDataset(a, TensorDataset(y[:3]))


def test_base_dataset_needs_getitem():
    with pytest.raises(NotImplementedError, match="should implement __getitem__"):
        Dataset()[0]


def test_random_split_is_a_seeded_partition(arrays):
    ds = TensorDataset(*arrays)
    a, b, c = random_split(ds, [20, 15, 5], seed=3)
    assert isinstance(a.indices, list)
    idx = a.indices + b.indices + c.indices
    assert sorted(idx) == list(range(40))
    a2, _, _ = random_split(ds, [20, 15, 5], seed=3)
    assert a.indices == a2.indices
    assert a.indices != random_split(ds, [20, 15, 5], seed=4)[0].indices
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length"):
        random_split(ds, [20, 19])
    with pytest.raises(ValueError, match="Fraction at index 1 is not between 0 and 1"):
        random_split(ds, [0.5, 1.5, -1.0])


def test_random_split_follows_the_global_seed_and_generators(arrays):
    ds = TensorDataset(*arrays)
    en.manual_seed(7)
    first = random_split(ds, [30, 10])[0].indices
    en.manual_seed(7)
    assert random_split(ds, [30, 10])[0].indices == first

    class Gen:  # torch.Generator's seed API
        def initial_seed(self):
            return 11

    assert (random_split(ds, [30, 10], generator=Gen())[0].indices
            == random_split(ds, [30, 10], seed=11)[0].indices)


@pytest.mark.parametrize("n, fractions", [(40, [0.5, 0.3, 0.2]), (10, [0.8, 0.2]),
                                          (7, [0.8, 0.2]), (11, [0.3, 0.3, 0.4])])
def test_random_split_fraction_sizes_match_torch(n, fractions):
    torch = pytest.importorskip("torch")
    ours = [len(p) for p in random_split(range(n), fractions, seed=0)]
    theirs = [len(p) for p in torch.utils.data.random_split(range(n), fractions)]
    assert ours == theirs


def test_zero_length_split_warns():
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(range(2), [1.0, 0.0], seed=0)
