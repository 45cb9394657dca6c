"""num_workers > 0: the same batches as the main process, exact resume, PyTorch's worker API."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

import engine as en
from engine.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info
from engine.utils.data._random import current_rng

# Datasets live at module level so worker processes can unpickle them under spawn too.


class Noisy(Dataset):
    """Per-sample Python work with a random draw, as a random transform makes."""

    def __init__(self, n: int = 57) -> None:
        self.x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        noise = current_rng().normal(size=3).astype(np.float32)
        return en.from_numpy(self.x[i] + noise), i


class WhoAmI(Dataset):
    """Reports which worker made each item, its seed and what worker_init_fn recorded."""

    def __len__(self) -> int:
        return 12

    def __getitem__(self, i: int):
        info = get_worker_info()
        return {"i": i, "id": info.id, "n": info.num_workers, "seed": info.seed,
                "init": _INIT.get("id", -1), "pid": os.getpid(),
                "np": int(np.random.randint(0, 2**31)), "same_ds": info.dataset is not None}


_INIT: dict[str, int] = {}


def record_init(worker_id: int) -> None:
    _INIT["id"] = worker_id


class Sharded(IterableDataset):
    """range(start, stop), split between workers as PyTorch's IterableDataset docs do it."""

    def __init__(self, start: int, stop: int) -> None:
        self.start, self.stop = start, stop

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.start, self.stop))
        per = -(-(self.stop - self.start) // info.num_workers)
        lo = self.start + info.id * per
        return iter(range(lo, min(lo + per, self.stop)))


def torch_sharded(torch, start: int, stop: int):
    """The same dataset as Sharded, built on torch's classes (torch checks its own types)."""

    class TorchSharded(torch.utils.data.IterableDataset):
        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            if info is None:
                return iter(range(start, stop))
            per = -(-(stop - start) // info.num_workers)
            lo = start + info.id * per
            return iter(range(lo, min(lo + per, stop)))

    return TorchSharded()


class Slow(Dataset):
    def __init__(self, delay: float) -> None:
        self.delay = delay

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int):
        if i == 2:
            time.sleep(self.delay)
        return i


class Fails(Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int):
        if i == 2 and os.environ.get("DIE_IN_WORKER") == "1":
            os._exit(3)
        if i == 5:
            raise ValueError(f"bad sample {i}")
        return i


def numpy_batches(loader):
    return [(x.numpy().copy(), y.numpy().copy()) for x, y in loader]


def assert_same(a, b):
    assert len(a) == len(b)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert xa.tobytes() == xb.tobytes() and ya.tobytes() == yb.tobytes()


@pytest.mark.parametrize("workers, factor", [(1, 2), (2, 1), (3, 4)])
def test_workers_give_the_batches_of_the_main_process(workers, factor):
    ds = Noisy()
    ref = numpy_batches(DataLoader(ds, 8, shuffle=True, seed=4))
    loader = DataLoader(ds, 8, shuffle=True, seed=4, num_workers=workers,
                        prefetch_factor=factor)
    got = numpy_batches(loader)
    assert_same(got, ref)
    assert isinstance(ref[0][0], np.ndarray) and ref[0][1].dtype == np.int64
    # The next pass is the next epoch, in both.
    main = DataLoader(ds, 8, shuffle=True, seed=4, prefetch=0)
    numpy_batches(main)
    assert_same(numpy_batches(loader), numpy_batches(main))


def test_in_order_false_gives_the_same_batches_in_some_order():
    ds = Noisy()
    ref = {y.tobytes(): x.tobytes() for x, y in numpy_batches(DataLoader(ds, 5, seed=1))}
    got = numpy_batches(DataLoader(ds, 5, seed=1, num_workers=2, in_order=False))
    assert {y.tobytes(): x.tobytes() for x, y in got} == ref and len(got) == len(ref)


@pytest.mark.parametrize("in_order", [True, False])
@pytest.mark.parametrize("stop_after", [0, 3, 7])
def test_resume_with_workers_continues_exactly(stop_after, in_order):
    ds = Noisy()
    full = DataLoader(ds, 7, shuffle=True, seed=9)
    epoch0, epoch1 = numpy_batches(full), numpy_batches(full)
    first = DataLoader(ds, 7, shuffle=True, seed=9, num_workers=2, in_order=in_order)
    it = iter(first)
    head = [(x.numpy().copy(), y.numpy().copy()) for x, y in (next(it) for _ in range(stop_after))]
    state = json.loads(json.dumps(first.state_dict()))
    it.close()
    assert state["position"] == stop_after
    resumed = DataLoader(ds, 7, shuffle=True, num_workers=2, in_order=in_order)
    resumed.load_state_dict(state)
    tail = numpy_batches(resumed)
    if in_order:
        assert_same(head + tail, epoch0)
        assert_same(numpy_batches(resumed), epoch1)
    else:  # the same batches, each exactly once, in the order they were ready
        def by_labels(batches):
            return sorted((y.tobytes(), x.tobytes()) for x, y in batches)

        assert by_labels(head + tail) == by_labels(epoch0)
        assert by_labels(numpy_batches(resumed)) == by_labels(epoch1)


def test_worker_info_seeds_and_worker_init_fn():
    assert get_worker_info() is None  # in the main process
    loader = DataLoader(WhoAmI(), batch_size=None, num_workers=3, seed=5,
                        worker_init_fn=record_init)
    items = list(loader)
    assert [d["i"] for d in items] == list(range(12))
    assert [d["id"] for d in items] == [i % 3 for i in range(12)]  # batches go round-robin
    assert all(d["init"] == d["id"] and d["n"] == 3 and d["same_ds"] for d in items)
    seeds = {d["id"]: d["seed"] for d in items}
    base = seeds[0]
    assert seeds == {0: base, 1: base + 1, 2: base + 2}  # base_seed + worker_id, as PyTorch
    assert len({d["np"] for d in items[:3]}) == 3  # NumPy's global RNG differs per worker
    again = list(DataLoader(WhoAmI(), batch_size=None, num_workers=3, seed=5))
    assert [d["seed"] for d in again] == [d["seed"] for d in items]
    assert [d["np"] for d in again] == [d["np"] for d in items]  # seeded from the loader seed
    assert len({d["pid"] for d in items}) == 3 and os.getpid() not in {d["pid"] for d in items}


def test_persistent_workers_keep_their_processes():
    loader = DataLoader(WhoAmI(), batch_size=4, num_workers=2, persistent_workers=True)
    pids = [set(b["pid"].tolist()) for b in loader]
    again = [set(b["pid"].tolist()) for b in loader]
    assert pids == again
    fresh = DataLoader(WhoAmI(), batch_size=4, num_workers=2)
    first, second = ({int(b["pid"][0]) for b in fresh} for _ in range(2))
    assert first.isdisjoint(second)


@pytest.mark.parametrize("workers", [0, 2])
def test_iterable_dataset_sharding_matches_torch(workers):
    torch = pytest.importorskip("torch")
    ours = [b.tolist() for b in DataLoader(Sharded(3, 20), batch_size=4, num_workers=workers)]
    reference = torch.utils.data.DataLoader(torch_sharded(torch, 3, 20), batch_size=4,
                                            num_workers=workers)
    theirs = [b.tolist() for b in reference]
    assert ours == theirs
    flat = sorted(i for b in ours for i in b)
    assert flat == list(range(3, 20))


def test_iterable_dataset_drop_last_and_resume_with_workers():
    full = [b.tolist() for b in DataLoader(Sharded(0, 22), batch_size=4, num_workers=2)]
    dropped = [b.tolist() for b in DataLoader(Sharded(0, 22), batch_size=4, num_workers=2,
                                              drop_last=True)]
    assert dropped == [b for b in full if len(b) == 4] and len(dropped) < len(full)
    loader = DataLoader(Sharded(0, 22), batch_size=4, num_workers=2)
    it = iter(loader)
    head = [next(it).tolist() for _ in range(3)]
    state = loader.state_dict()
    it.close()
    again = DataLoader(Sharded(0, 22), batch_size=4, num_workers=2)
    again.load_state_dict(state)
    assert head + [b.tolist() for b in again] == full


@pytest.mark.parametrize("workers", [0, 2])
def test_timeout_raises_torchs_error(workers):
    loader = DataLoader(Slow(1.5), batch_size=1, num_workers=workers, timeout=0.3)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0\.3 seconds"):
        list(loader)
    assert time.monotonic() - start < 1.4  # raised on time, without waiting for the batch
    slow_but_in_time = DataLoader(Slow(0.2), batch_size=2, num_workers=workers, timeout=5)
    assert [b.tolist() for b in slow_but_in_time] == [[0, 1], [2, 3]]


def test_worker_errors_reach_the_caller_with_their_type():
    with pytest.raises(ValueError, match=r"(?s)Caught ValueError in DataLoader worker "
                                         r"process 1.*bad sample 5"):
        list(DataLoader(Fails(), batch_size=1, num_workers=2))


def test_a_dead_worker_is_reported(monkeypatch):
    monkeypatch.setenv("DIE_IN_WORKER", "1")
    loader = DataLoader(Fails(), batch_size=2, num_workers=2)
    batches = iter(loader)
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid\(s\) \d+\) exited "
                                           r"unexpectedly"):
        list(batches)


def test_spawned_workers_give_the_same_batches():
    ds = Noisy(20)
    ref = numpy_batches(DataLoader(ds, 6, shuffle=True, seed=2))
    got = numpy_batches(DataLoader(ds, 6, shuffle=True, seed=2, num_workers=2,
                                   multiprocessing_context="spawn"))
    assert_same(got, ref)
