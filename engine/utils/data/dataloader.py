"""DataLoader: PyTorch's arguments, batches of engine Tensors, worker processes, exact resume.

Everything random about a batch is a function of (seed, epoch, batch number): the sampler's order
comes from (seed, epoch) and transforms draw from a Generator seeded with (seed, epoch, batch).
So num_workers, prefetching and in_order never change a batch, and ``state_dict`` needs only the
seed, the epoch and which batches the consumer has taken. ``seed=`` (else ``generator``'s seed,
else a draw from engine's global RNG), ``device=`` (batches are moved there) and ``prefetch=``
(main-process read-ahead on a thread when num_workers=0; 0: none) go beyond PyTorch's arguments.
``pin_memory`` puts a batch's host arrays in page-locked memory when a GPU is visible (a copy
to the GPU then reads them directly); without one it changes nothing.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Callable, Iterator
from multiprocessing.context import BaseContext
from typing import Any

from engine import backend
from engine.errors import DataError

from ._fetch import Fetcher, as_index_array
from ._prefetch import prefetched
from ._random import epoch_rng, resolve_seed
from .collate import default_collate, default_convert, tensorize
from .dataset import Dataset, IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler
from .worker import WorkerPool, run_tasks

__all__ = ["DataLoader"]

_STATE_VERSION = 2
_WORKER_SEED_KEY = 0x5EED  # keeps worker base seeds apart from batch Generators
_FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
           "persistent_workers")


class _InfiniteConstantSampler(Sampler):
    """The sampler an iterable dataset gets: None forever (the dataset decides what comes)."""

    def __iter__(self) -> Iterator[None]:
        return itertools.repeat(None)


def _check_context(context: Any, num_workers: int) -> BaseContext | None:
    if context is None:
        return None
    if num_workers == 0:
        raise ValueError("multiprocessing_context can only be used with multi-process loading "
                         f"(num_workers > 0), but got num_workers={num_workers}")
    if isinstance(context, str):
        methods = multiprocessing.get_all_start_methods()
        if context not in methods:
            raise ValueError(f"multiprocessing_context option should specify a valid start "
                             f"method in {methods!r}, but got multiprocessing_context={context!r}")
        context = multiprocessing.get_context(context)
    if not isinstance(context, BaseContext):
        raise TypeError("multiprocessing_context option should be a valid context object or a "
                        f"string specifying the start method, but got "
                        f"multiprocessing_context={context}")
    return context


class DataLoader:
    """Iterate a dataset in batches of engine Tensors, with torch.utils.data.DataLoader's API.

    Each pass is the next epoch unless set_epoch chose one; the loader sets its sampler's epoch
    itself (so epochs differ), and state_dict/load_state_dict resume mid-epoch exactly.
    """

    def __init__(self, dataset: Dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Any = None, batch_sampler: Any = None, num_workers: int = 0,
                 collate_fn: Callable[[list[Any]], Any] | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context: Any = None, generator: Any = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True, seed: int | None = None,
                 device: str | None = None, prefetch: int = 2) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set "
                             "prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        self.multiprocessing_context = _check_context(multiprocessing_context, num_workers)
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler),
                                ("batch_sampler", batch_sampler)):
                if value not in (None, False):
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                     f"{name} option, but got {name}={value}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        self.seed = resolve_seed(seed, generator)
        if sampler is None:
            if self._iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator, seed=self.seed)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        elif batch_size is not None and int(batch_size) < 1:
            raise ValueError("batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.sampler, self.batch_sampler, self.generator = sampler, batch_sampler, generator
        self._auto_collation = batch_sampler is not None or (self._iterable
                                                             and batch_size is not None)
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn, self.num_workers = collate_fn, num_workers
        self.pin_memory, self.pin_memory_device = pin_memory, pin_memory_device
        self.timeout, self.worker_init_fn, self.prefetch_factor = timeout, worker_init_fn, \
            prefetch_factor
        self.persistent_workers, self.in_order = persistent_workers, in_order
        self.prefetch, self.device = int(prefetch), device
        self.epoch = 0
        self._position = 0  # batches handed to the consumer in the current epoch
        # Of those, the numbers beyond the contiguous start (only with in_order=False).
        self._ahead: set[int] = set()
        self._started = False  # whether a pass over self.epoch has begun
        self._resume = False  # whether the next pass continues at self._position
        self._pool: WorkerPool | None = None
        self._tokens = itertools.count()
        self._initialized = True

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_initialized", False) and name in _FROZEN:
            raise ValueError(f"{name} attribute should not be set after "
                             f"{type(self).__name__} is initialized")
        super().__setattr__(name, value)

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # TypeError when the dataset has no length, as in PyTorch
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass epoch number epoch (keeps a restored position in that epoch)."""
        if self._resume and int(epoch) == self.epoch:
            return
        self.epoch, self._position, self._started, self._resume = int(epoch), 0, False, False
        self._ahead = set()

    def _length_or_none(self) -> int | None:
        try:
            return len(self)
        except TypeError:
            return None

    def state_dict(self) -> dict[str, Any]:
        """Where the loader is: JSON-serialisable plain ints (and the sampler's state)."""
        sampler_state = self.sampler.state_dict() if hasattr(self.sampler, "state_dict") else None
        return {
            "version": _STATE_VERSION, "seed": self.seed, "epoch": self.epoch,
            "position": self._position, "consumed_ahead": sorted(self._ahead),
            "batch_size": self.batch_size, "num_batches": self._length_or_none(),
            "sampler": sampler_state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from state: the next pass yields the rest of the interrupted epoch."""
        for key, mine in (("batch_size", self.batch_size), ("num_batches", self._length_or_none())):
            if state.get(key, mine) != mine:
                raise DataError(
                    f"loader state: saved with {key} {state[key]}, this loader has {mine}; "
                    "resume with the same dataset and batch size"
                )
        self._shutdown_pool()  # workers were seeded for the old state
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])
        self._position, self._started, self._resume = int(state["position"]), True, True
        self._ahead = set(state.get("consumed_ahead", []))
        if state.get("sampler") is not None and hasattr(self.sampler, "load_state_dict"):
            self.sampler.load_state_dict(state["sampler"])

    # ----- producing batches ---------------------------------------------------------------
    def _fetcher(self) -> Fetcher:
        return Fetcher(self.dataset, self._auto_collation, self.collate_fn, self.drop_last,
                       self.batch_size, self.seed, self._iterable)

    @property
    def _pin(self) -> bool:
        """Whether batches go to page-locked memory: pin_memory, with a GPU to read them."""
        return bool(self.pin_memory) and backend.cuda_available()

    def _finish(self, raw: Any) -> Any:
        if self.collate_fn not in (default_collate, default_convert):
            return raw
        return tensorize(raw, self.device, self._pin)

    def _epoch_tasks(self, epoch: int) -> Iterator[tuple[int, Any]]:
        sampler = self._index_sampler
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        if isinstance(sampler, BatchSampler):
            batches: list[Any] = sampler.batches()
        elif self._auto_collation:
            batches = [as_index_array(b) for b in sampler]
        else:
            batches = list(sampler)
        done = self._position - len(self._ahead)  # every batch before this one was taken
        if not self._ahead:
            return enumerate(batches[done:], start=done)
        return ((k, b) for k, b in enumerate(batches) if k >= done and k not in self._ahead)

    def _local(self, epoch: int) -> Iterator[tuple[int, Any]]:
        fetcher = self._fetcher()
        if not self._iterable:
            fetch, finish = fetcher.map_batch, self._finish
            for number, indices in self._epoch_tasks(epoch):
                yield number, finish(fetch(indices, epoch, number))
            return
        fetcher.reset()
        for number in itertools.count():
            try:
                batch = fetcher.iter_batch(epoch, number, 0)
            except StopIteration:
                return
            if number >= self._position:  # resuming: the first batches were taken already
                yield number, self._finish(batch)

    def _pool_for(self, epoch: int) -> WorkerPool:
        if self._pool is not None and not self._pool.closed:
            return self._pool
        base_seed = int(epoch_rng(self.seed, epoch, _WORKER_SEED_KEY).integers(0, 2**62))
        context = self.multiprocessing_context or multiprocessing.get_context()
        pool = WorkerPool(self._fetcher(), self.num_workers, base_seed, self.worker_init_fn,
                          context, self.timeout)
        if self.persistent_workers:
            self._pool = pool
        return pool

    def _workers(self, epoch: int) -> Iterator[tuple[int, Any]]:
        pool = self._pool_for(epoch)
        try:
            tasks = None if self._iterable else self._epoch_tasks(epoch)
            depth = max(1, self.prefetch_factor or 1)
            for i, (number, raw) in enumerate(run_tasks(pool, tasks, next(self._tokens), epoch,
                                                        depth, self.in_order)):
                if self._iterable and i < self._position:
                    continue
                yield (i if self._iterable else number), self._finish(raw)
        finally:
            if pool is not self._pool:
                pool.shutdown()

    def _shutdown_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _take(self, number: int) -> None:
        if number == self._position and not self._ahead:  # in order: the common case
            self._position = number + 1
            return
        done = self._position - len(self._ahead)
        self._position += 1
        if number != done:
            self._ahead.add(number)
            return
        done += 1
        while done in self._ahead:  # the gap closed: fold the run into the contiguous start
            self._ahead.discard(done)
            done += 1

    def __iter__(self) -> Iterator[Any]:
        if self._resume:
            self._resume = False
        else:
            if self._started:
                self.epoch += 1
            self._position, self._ahead = 0, set()
        self._started = True
        epoch = self.epoch
        if self.num_workers > 0:
            batches = self._workers(epoch)
        else:
            batches = self._local(epoch)
            if self.prefetch > 0 or self.timeout > 0:
                batches = prefetched(batches, self.prefetch, self.timeout)
        finished = False
        try:
            for number, batch in batches:
                self._take(number)
                yield batch
            finished = True
        finally:
            batches.close()
        if finished and self.epoch == epoch:
            # A finished epoch: the state now points at the start of the next one.
            self.epoch, self._position, self._started, self._ahead = epoch + 1, 0, False, set()

    def __del__(self) -> None:
        try:
            self._shutdown_pool()
        except Exception:
            pass
