"""DataLoader: batches of engine Tensors, prefetched on a thread, exactly resumable.

Everything random about a batch is a function of (seed, epoch, batch number): the sampler's order
comes from (seed, epoch) and the transforms draw from a Generator seeded with (seed, epoch, batch).
So a batch does not depend on which thread made it or on how far prefetching ran ahead, and
``state_dict`` needs only the seed, the epoch and how many batches the consumer has taken.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import engine as en
from engine.errors import DataError

from . import transforms as T
from .dataset import Dataset, _as_array
from .sampler import RandomSampler, Sampler, SequentialSampler, epoch_rng, fresh_seed

__all__ = ["DataLoader", "default_collate"]

_STATE_VERSION = 1


def _to_tensor(arr: np.ndarray, device: str | None) -> Any:
    """The one place that turns a NumPy batch into an engine Tensor (no copy on CPU)."""
    t = en.from_numpy(np.ascontiguousarray(arr))
    return t if device is None else t.to(device)


def _tensorize(batch: Any, device: str | None) -> Any:
    if isinstance(batch, np.ndarray):
        return _to_tensor(batch, device)
    if isinstance(batch, tuple | list):
        return type(batch)(_tensorize(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _tensorize(v, device) for k, v in batch.items()}
    return batch


def _stack(samples: list[Any]) -> Any:
    first = samples[0]
    if isinstance(first, tuple | list):
        if any(len(s) != len(first) for s in samples):
            raise DataError("default_collate: samples in a batch have different numbers of fields")
        return type(first)(_stack(list(field)) for field in zip(*samples, strict=True))
    if isinstance(first, dict):
        return {k: _stack([s[k] for s in samples]) for k in first}
    if isinstance(first, bool | int | np.integer):
        return np.asarray(samples, dtype=np.int64)
    if isinstance(first, float | np.floating):
        return np.asarray(samples, dtype=np.float32)
    if isinstance(first, str | bytes):
        return list(samples)
    return np.stack([_as_array(s) for s in samples])


def default_collate(samples: list[Any]) -> Any:
    """Stack samples field by field into Tensors: ints -> int64, floats -> float32."""
    return _tensorize(_stack(samples), None)


class _LazyRng:
    """Creates the batch's Generator on first use: most pipelines draw nothing, and seeding a
    Generator costs about as much as gathering a small batch."""

    def __init__(self, seed: int, epoch: int, batch: int) -> None:
        self._keys = (seed, epoch, batch)
        self._rng: np.random.Generator | None = None

    def __getattr__(self, name: str) -> Any:
        if self._rng is None:
            self._rng = epoch_rng(*self._keys)
        return getattr(self._rng, name)


class DataLoader:
    """Iterate a dataset in batches of engine Tensors, PyTorch-style.

    seed fixes the shuffle order and every random transform (None: drawn from OS entropy);
    a background thread prepares batches and hands them over prefetch at a time (0: no thread).
    Each pass over the loader is the next epoch unless set_epoch chose one; the loader sets its
    sampler's epoch itself, so call loader.set_epoch rather than sampler.set_epoch.
    """

    def __init__(self, dataset: Dataset, batch_size: int = 1, shuffle: bool = False,
                 sampler: Sampler | None = None, drop_last: bool = False,
                 collate_fn: Callable[[list[Any]], Any] | None = None, prefetch: int = 2,
                 seed: int | None = None, device: str | None = None) -> None:
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size}")
        if sampler is not None and shuffle:
            raise ValueError("sampler and shuffle=True are mutually exclusive")
        self.dataset, self.batch_size, self.drop_last = dataset, int(batch_size), drop_last
        self.collate_fn, self.prefetch, self.device = collate_fn, int(prefetch), device
        self.seed = fresh_seed() if seed is None else int(seed)
        if sampler is None and shuffle:
            sampler = RandomSampler(dataset, seed=self.seed)
        self.sampler = SequentialSampler(dataset) if sampler is None else sampler
        self.epoch = 0
        self._position = 0  # batches handed to the consumer in the current epoch
        self._started = False  # whether a pass over self.epoch has begun
        self._resume = False  # whether the next pass continues at self._position

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch number epoch (keeps a restored position in that epoch)."""
        if self._resume and int(epoch) == self.epoch:
            return
        self.epoch, self._position, self._started, self._resume = int(epoch), 0, False, False

    def state_dict(self) -> dict[str, Any]:
        """Where the loader is: JSON-serialisable plain ints (and the sampler's state)."""
        sampler_state = self.sampler.state_dict() if hasattr(self.sampler, "state_dict") else None
        return {
            "version": _STATE_VERSION, "seed": self.seed, "epoch": self.epoch,
            "position": self._position, "batch_size": self.batch_size,
            "num_batches": len(self), "sampler": sampler_state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from state: the next pass yields the rest of the interrupted epoch."""
        for key, mine in (("batch_size", self.batch_size), ("num_batches", len(self))):
            if state.get(key, mine) != mine:
                raise DataError(
                    f"loader state: saved with {key} {state[key]}, this loader has {mine}; "
                    "resume with the same dataset and batch size"
                )
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])
        self._position, self._started, self._resume = int(state["position"]), True, True
        if state.get("sampler") is not None and hasattr(self.sampler, "load_state_dict"):
            self.sampler.load_state_dict(state["sampler"])

    def _epoch_indices(self, epoch: int) -> np.ndarray:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)
        if hasattr(self.sampler, "indices"):
            return np.asarray(self.sampler.indices(), dtype=np.int64)
        return np.fromiter(iter(self.sampler), dtype=np.int64)

    def _make_batch(self, indices: np.ndarray, epoch: int, number: int) -> Any:
        rng = _LazyRng(self.seed, epoch, number)
        if self.collate_fn is None:
            batch = self.dataset.gather(indices, rng) if hasattr(self.dataset, "gather") else None
            if batch is not None:
                return _tensorize(batch, self.device)
        with T.rng_scope(rng):
            samples = [self.dataset[i] for i in indices.tolist()]
        if self.collate_fn is not None:
            return self.collate_fn(samples)
        return _tensorize(_stack(samples), self.device)

    def _produce(self, epoch: int, start: int) -> Iterator[Any]:
        indices, bs = self._epoch_indices(epoch), self.batch_size
        for number in range(start, len(self)):
            yield self._make_batch(indices[number * bs : (number + 1) * bs], epoch, number)

    def __iter__(self) -> Iterator[Any]:
        if self._resume:
            self._resume = False
        else:
            if self._started:
                self.epoch += 1
            self._position = 0
        self._started = True
        epoch, start = self.epoch, self._position
        batches = self._produce(epoch, start)
        if self.prefetch > 0:
            batches = _prefetched(batches, self.prefetch)
        try:
            for batch in batches:
                self._position += 1
                yield batch
        finally:
            batches.close()
        if self.epoch == epoch and self._position == len(self):
            # A finished epoch: the state now points at the start of the next one.
            self.epoch, self._position, self._started = epoch + 1, 0, False


_DONE = object()


def _prefetched(source: Iterator[Any], depth: int) -> Iterator[Any]:
    """Run source on a daemon thread, handing over groups of depth items; stop when closed.

    Handing over a group rather than each item amortises the thread hand-off (tens of
    microseconds, as much as making a small batch); at most two groups wait ahead.
    """
    groups: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: Any) -> bool:
        # Bounded waits so the thread notices stop when the consumer went away.
        while not stop.is_set():
            try:
                groups.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        group: list[Any] = []
        try:
            for item in source:
                group.append(item)
                if len(group) == depth:
                    if not put((group, None)):
                        return
                    group = []
            put((group + [_DONE], None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((group, exc))
        finally:
            source.close()

    thread = threading.Thread(target=work, name="DataLoader-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            group, exc = groups.get()
            for item in group:
                if item is _DONE:
                    return
                yield item
            if exc is not None:
                raise exc
    finally:
        stop.set()
        thread.join()
