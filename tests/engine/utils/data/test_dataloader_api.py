"""DataLoader's PyTorch arguments: what each does, and PyTorch's errors for bad combinations."""

from __future__ import annotations

import numpy as np
import pytest

import engine as en
from engine.utils.data import (
    BatchSampler,
    DataLoader,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    TensorDataset,
    WeightedRandomSampler,
)


@pytest.fixture
def ds():
    x = np.arange(10 * 2, dtype=np.float32).reshape(10, 2)
    return TensorDataset(en.from_numpy(x), en.from_numpy(np.arange(10, dtype=np.int64)))


def labels(loader):
    return [b[1].tolist() for b in loader]


def test_import_paths():
    import engine

    assert engine.utils.data.DataLoader is DataLoader
    import engine.utils.data as data

    assert data.TensorDataset is TensorDataset


def test_batches_are_tensors_and_drop_last(ds):
    batches = list(DataLoader(ds, batch_size=4))
    assert len(batches) == 3 and isinstance(batches[0], list)
    x, y = batches[0]
    assert isinstance(x, en.Tensor) and x.dtype == en.float32 and y.dtype == en.int64
    np.testing.assert_array_equal(x.numpy(), np.arange(8, dtype=np.float32).reshape(4, 2))
    assert labels(DataLoader(ds, batch_size=4)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    dropped = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dropped) == 2 and labels(dropped) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_batch_size_none_yields_single_converted_samples():
    arrays = TensorDataset(np.arange(6).reshape(3, 2), np.array([5, 6, 7]))
    items = list(DataLoader(arrays, batch_size=None))
    assert len(items) == 3
    x, y = items[1]
    assert isinstance(x, en.Tensor) and x.tolist() == [2, 3] and y.item() == 6 and x.ndim == 1


def test_batch_sampler_and_sampler(ds):
    bs = BatchSampler(SequentialSampler(range(10)), 3, drop_last=False)
    loader = DataLoader(ds, batch_sampler=bs)
    assert loader.batch_size is None and len(loader) == 4
    assert labels(loader) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    custom = DataLoader(ds, batch_sampler=[[9, 0], [4]])
    assert labels(custom) == [[9, 0], [4]]
    weighted = DataLoader(ds, batch_size=5, sampler=WeightedRandomSampler([0] * 9 + [1], 10))
    assert labels(weighted) == [[9] * 5, [9] * 5]
    loader = DataLoader(ds, batch_size=4)
    assert isinstance(loader.sampler, SequentialSampler)
    assert isinstance(loader.batch_sampler, BatchSampler)
    assert isinstance(DataLoader(ds, shuffle=True).sampler, RandomSampler)


def test_collate_fn_gets_the_samples(ds):
    seen = []
    loader = DataLoader(ds, batch_size=3, collate_fn=lambda s: seen.append(s) or len(s))
    assert list(loader) == [3, 3, 3, 1]
    assert [int(t[1]) for t in seen[0]] == [0, 1, 2]


def test_generator_and_seed_fix_the_shuffle(ds):
    class Gen:  # torch.Generator's API, as far as the loader needs it
        def __init__(self, seed):
            self.seed = seed

        def initial_seed(self):
            return self.seed

    a = labels(DataLoader(ds, batch_size=5, shuffle=True, generator=Gen(3)))
    b = labels(DataLoader(ds, batch_size=5, shuffle=True, generator=Gen(3)))
    c = labels(DataLoader(ds, batch_size=5, shuffle=True, generator=Gen(4)))
    assert a == b != c and sorted(sum(a, [])) == list(range(10))
    assert labels(DataLoader(ds, batch_size=5, shuffle=True, seed=3)) == a
    en.manual_seed(1)
    d = labels(DataLoader(ds, batch_size=5, shuffle=True))
    en.manual_seed(1)
    assert labels(DataLoader(ds, batch_size=5, shuffle=True)) == d
    with pytest.raises(TypeError, match="generator must be"):
        DataLoader(ds, shuffle=True, generator="seed")


def test_pin_memory_is_accepted_and_changes_nothing(ds):
    loader = DataLoader(ds, batch_size=4, pin_memory=True, pin_memory_device="")
    assert loader.pin_memory and labels(loader) == labels(DataLoader(ds, batch_size=4))
    assert not any(b[0].is_pinned() for b in loader)  # no GPU here: nothing to pin for


def test_pin_memory_with_a_gpu_pins_batches_and_device_moves_them(ds, fake_gpu):
    plain = list(DataLoader(ds, batch_size=4))
    pinned = list(DataLoader(ds, batch_size=4, pin_memory=True))
    on_gpu = list(DataLoader(ds, batch_size=4, pin_memory=True, device="cuda"))
    assert len(plain) == len(pinned) == len(on_gpu) == 3
    for a, b, c in zip(plain, pinned, on_gpu, strict=True):
        assert not a[0].is_pinned() and b[0].is_pinned() and b[1].is_pinned()
        assert b[0].device == "cpu" and c[0].device == "cuda:0" and c[1].device == "cuda:0"
        np.testing.assert_array_equal(b[0].numpy(), a[0].numpy())
        np.testing.assert_array_equal(c[0].cpu().numpy(), a[0].numpy())
        np.testing.assert_array_equal(c[1].cpu().numpy(), a[1].numpy())
    t = en.arange(6.0).reshape(2, 3).t()  # not contiguous: pinned as a C-ordered copy
    p = t.pin_memory()
    assert p.is_pinned() and p.pin_memory() is p and not t.is_pinned()
    np.testing.assert_array_equal(p.numpy(), t.numpy())
    with pytest.raises(RuntimeError, match="only dense CPU tensors can be pinned"):
        t.cuda().pin_memory()


class Stream(IterableDataset):
    def __iter__(self):
        return iter(range(7))


def test_iterable_dataset_batches_and_len():
    loader = DataLoader(Stream(), batch_size=3)
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in DataLoader(Stream(), batch_size=3, drop_last=True)] == [
        [0, 1, 2], [3, 4, 5]]
    with pytest.raises(TypeError, match="has no len"):
        len(loader)
    assert loader.state_dict()["num_batches"] is None


@pytest.mark.parametrize("kwargs, error, message", [
    ({"num_workers": -1}, ValueError,
     "num_workers option should be non-negative; use num_workers=0 to disable multiprocessing."),
    ({"timeout": -1}, ValueError, "timeout option should be non-negative"),
    ({"prefetch_factor": 2}, ValueError,
     "prefetch_factor option could only be specified in multiprocessing.let num_workers > 0"),
    ({"num_workers": 1, "prefetch_factor": -1}, ValueError,
     "prefetch_factor option should be non-negative"),
    ({"persistent_workers": True}, ValueError, "persistent_workers option needs num_workers > 0"),
    ({"sampler": [0, 1], "shuffle": True}, ValueError,
     "sampler option is mutually exclusive with shuffle"),
    ({"batch_sampler": [[0]], "batch_size": 2}, ValueError,
     "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and "
     "drop_last"),
    ({"batch_sampler": [[0]], "drop_last": True}, ValueError,
     "batch_sampler option is mutually exclusive"),
    ({"batch_size": None, "drop_last": True}, ValueError,
     "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"),
    ({"batch_size": 0}, ValueError,
     "batch_size should be a positive integer value, but got batch_size=0"),
    ({"multiprocessing_context": "fork"}, ValueError,
     "multiprocessing_context can only be used with multi-process loading \\(num_workers > 0\\), "
     "but got num_workers=0"),
    ({"num_workers": 1, "multiprocessing_context": "nope"}, ValueError,
     "multiprocessing_context option should specify a valid start method in"),
    ({"num_workers": 1, "multiprocessing_context": 3}, TypeError,
     "multiprocessing_context option should be a valid context object or a string"),
])
def test_bad_arguments_raise_torchs_errors(ds, kwargs, error, message):
    with pytest.raises(error, match=message):
        DataLoader(ds, **kwargs)


def test_bad_arguments_match_torch_messages(ds):
    torch = pytest.importorskip("torch")
    tds = torch.utils.data.TensorDataset(torch.zeros(4))
    for kwargs in ({"num_workers": -1}, {"prefetch_factor": 2}, {"batch_size": None,
                                                                  "drop_last": True},
                   {"batch_sampler": [[0]], "shuffle": True}):
        with pytest.raises(ValueError) as theirs:
            torch.utils.data.DataLoader(tds, **kwargs)
        with pytest.raises(ValueError) as ours:
            DataLoader(ds, **kwargs)
        assert str(ours.value) == str(theirs.value)


def test_iterable_dataset_rejects_shuffle_and_samplers():
    with pytest.raises(ValueError, match="DataLoader with IterableDataset: expected unspecified "
                                         "shuffle option, but got shuffle=True"):
        DataLoader(Stream(), shuffle=True)
    with pytest.raises(ValueError, match="expected unspecified sampler option"):
        DataLoader(Stream(), sampler=[0])


def test_frozen_attributes(ds):
    loader = DataLoader(ds, batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set after "
                                         "DataLoader is initialized"):
        loader.batch_size = 3
    loader.num_workers = 0  # not frozen in PyTorch either
