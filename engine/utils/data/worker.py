"""Worker processes: get_worker_info, the worker loop and the pool the DataLoader drives.

Workers are processes, as in PyTorch, chosen by measurement on a 2-core machine (batch 64 of
28x28 images, per-sample Python work in __getitem__): two worker threads ran at 0.6-1.1x the
main process (the GIL serialises __getitem__), two processes at 1.1-2.3x once a batch costs a
few milliseconds of Python (ToTensor + Normalize per sample; more with heavier transforms), and
only processes give each worker its own global RNGs and module state, which worker_init_fn and
get_worker_info-based sharding rely on. The array-backed fast path makes a batch in ~50 us, less
than any hand-off costs, so it is fastest with num_workers=0 (the default).

Each worker gets tasks on its own pipe (read by a small thread, so the main process never blocks
on a send) and sends results on its own pipe. Batch k of an epoch goes to the workers in turn,
and with in_order=True the main process reads the owner of the next batch, so batches come
in the order num_workers=0 gives them. Pipes rather than multiprocessing.Queue: a Queue's feeder
thread and locks cost ~0.4 ms per batch here, a pipe ~0.1 ms. Datasets, collate_fn and
worker_init_fn must be picklable under the spawn and forkserver start methods.
"""

from __future__ import annotations

import os
import queue
import random
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

import numpy as np

from engine import random as engine_random

__all__ = ["WorkerInfo", "get_worker_info"]

_worker_info: WorkerInfo | None = None
_STATUS_INTERVAL = 1.0  # seconds between liveness checks while waiting for a worker


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker knows about itself: id, num_workers, seed and its copy of the dataset."""

    id: int
    num_workers: int
    seed: int
    dataset: Any

    def __repr__(self) -> str:
        return (f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, "
                f"dataset={self.dataset!r})")


def get_worker_info() -> WorkerInfo | None:
    """Inside a DataLoader worker, its WorkerInfo; in the main process, None."""
    return _worker_info


class WorkerError:
    """An exception raised in a worker, carried to the main process and raised there."""

    def __init__(self, exc: BaseException, where: str) -> None:
        self.exc_type = type(exc)
        self.message = (f"Caught {type(exc).__name__} {where}.\nOriginal "
                        + "".join(traceback.format_exception(exc)))

    def reraise(self) -> None:
        """Raise an exception of the original type with the worker's traceback in its message."""
        try:
            exc = self.exc_type(self.message)
        except Exception:
            exc = RuntimeError(self.message)
        raise exc


def _seed_worker(worker_id: int, base_seed: int) -> int:
    seed = base_seed + worker_id
    random.seed(seed)
    engine_random.manual_seed(seed)
    np.random.seed(np.random.SeedSequence([worker_id, base_seed]).generate_state(4))
    return seed


def _read_tasks(conn: Any, tasks: queue.Queue) -> None:
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            task = None
        tasks.put(task)
        if task is None:
            return


def _worker_loop(fetcher: Any, task_conn: Any, result_conn: Any, worker_id: int,
                 num_workers: int, base_seed: int, worker_init_fn: Callable | None) -> None:
    global _worker_info
    seed = _seed_worker(worker_id, base_seed)
    _worker_info = WorkerInfo(worker_id, num_workers, seed, fetcher.dataset)
    where = f"in DataLoader worker process {worker_id}"
    init_error = None
    if worker_init_fn is not None:
        try:
            worker_init_fn(worker_id)
        except Exception as exc:
            init_error = WorkerError(exc, where)
    tasks: queue.Queue = queue.Queue()
    threading.Thread(target=_read_tasks, args=(task_conn, tasks), daemon=True).start()
    count = 0  # batches of the current pass (iterable datasets)
    while (task := tasks.get()) is not None:
        if task[0] == "reset":
            fetcher.reset()
            count = 0
            continue
        _, token, number, epoch, payload = task
        status, value = "ok", None
        try:
            if init_error is not None:
                status, value = "error", init_error
            elif fetcher.iterable:
                value = fetcher.iter_batch(epoch, count, worker_id + 1)
                count += 1
            else:
                value = fetcher.map_batch(payload, epoch, number)
        except StopIteration:
            status = "end"
        except Exception as exc:
            status, value = "error", WorkerError(exc, where)
        try:
            result_conn.send((token, number, status, value))
        except OSError:  # the main process closed its end: the loader is shutting down
            return
        except Exception as exc:  # e.g. a batch that cannot be pickled
            result_conn.send((token, number, "error", WorkerError(exc, where)))


class WorkerPool:
    """num_workers processes, each with a task pipe and a result pipe."""

    def __init__(self, fetcher: Any, num_workers: int, base_seed: int,
                 worker_init_fn: Callable | None, context: Any, timeout: float) -> None:
        self.num_workers, self.timeout = num_workers, timeout
        self.processes, self.task_conns, self.result_conns = [], [], []
        for worker_id in range(num_workers):
            task_r, task_w = context.Pipe(duplex=False)
            result_r, result_w = context.Pipe(duplex=False)
            proc = context.Process(
                target=_worker_loop, daemon=True,
                args=(fetcher, task_r, result_w, worker_id, num_workers, base_seed,
                      worker_init_fn))
            proc.start()
            # Closing our copies of the worker's ends makes a dead worker read as EOF.
            task_r.close()
            result_w.close()
            self.processes.append(proc)
            self.task_conns.append(task_w)
            self.result_conns.append(result_r)
        self.closed = False
        self._owner = os.getpid()  # a forked child inherits this object and must not use it

    def send(self, worker: int, task: Any) -> None:
        """Queue a task on a worker (never blocks for long: the worker's reader drains it)."""
        self.task_conns[worker].send(task)

    def _dead(self, worker: int | None = None) -> RuntimeError:
        if worker is not None:  # its pipe closed: it is exiting, or has
            self.processes[worker].join(timeout=1)
        dead = [p for p in self.processes if not p.is_alive()]
        if worker is not None and self.processes[worker] not in dead:
            dead.append(self.processes[worker])
        pids = ", ".join(str(p.pid) for p in dead)
        return RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly")

    def recv(self, workers: list[int]) -> tuple[int, Any]:
        """The next result from any of workers, honouring the timeout and noticing deaths."""
        conns = [self.result_conns[w] for w in workers]
        deadline = time.monotonic() + self.timeout if self.timeout > 0 else None
        while True:
            step = _STATUS_INTERVAL
            if deadline is not None:
                step = max(0.0, min(step, deadline - time.monotonic()))
            ready = wait(conns, step)
            if ready:
                conn = ready[0]
                worker = workers[conns.index(conn)]
                try:
                    return worker, conn.recv()
                except (EOFError, OSError):
                    raise self._dead(worker) from None
            if deadline is not None and time.monotonic() >= deadline:
                raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds")
            if any(not p.is_alive() for p in self.processes):
                raise self._dead()

    def shutdown(self) -> None:
        """Stop the workers: ask politely, then terminate any that linger."""
        if self.closed or os.getpid() != self._owner:
            return
        self.closed = True
        for conn in self.task_conns:
            try:
                conn.send(None)
            except OSError:
                pass
        for conn in self.result_conns:  # a worker blocked sending a result gets EPIPE and exits
            conn.close()
        deadline = time.monotonic() + 0.5  # idle workers exit at once; busy ones are stopped
        for proc in self.processes:
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join()
        for conn in self.task_conns:
            conn.close()

    def __del__(self) -> None:
        try:
            self.shutdown()
        except Exception:
            pass


def run_tasks(pool: WorkerPool, tasks: Iterator[tuple[int, Any]] | None, token: int, epoch: int,
              depth: int, in_order: bool) -> Iterator[tuple[str, Any]]:
    """Drive the pool through one pass; yield (status, value) per task in the order asked.

    tasks gives (number, indices) for a map-style dataset; None means an iterable dataset, whose
    workers each produce batches from their own iterator until they report "end".
    """
    n = pool.num_workers
    active = [True] * n
    outstanding: list[list[int]] = [[] for _ in range(n)]
    sent: list[tuple[int, int]] = []  # (number, worker) in send order
    counter = iter(range(2**62))
    cursor = 0
    if tasks is None:
        for w in range(n):
            pool.send(w, ("reset", token))

    def assign(worker: int | None) -> None:
        nonlocal cursor
        if tasks is None:  # iterable: the next active worker in turn
            for _ in range(n):
                cand, cursor = cursor, (cursor + 1) % n
                if active[cand]:
                    break
            else:
                return
            number, payload, worker = next(counter), None, cand
        else:
            item = next(tasks, None)
            if item is None:
                return
            number, payload = item
        pool.send(worker, ("task", token, number, epoch, payload))
        outstanding[worker].append(number)
        sent.append((number, worker))

    for _ in range(depth):
        for w in range(n):
            assign(w)
    head = 0
    while head < len(sent):
        if in_order:
            number, worker = sent[head]
            head += 1
            while True:
                _, (tok, got, status, value) = pool.recv([worker])
                if tok == token:
                    break
        else:
            while True:
                live = [w for w in range(n) if outstanding[w]]
                worker, (tok, got, status, value) = pool.recv(live)
                if tok == token:
                    break
            head += 1
        outstanding[worker].remove(got)
        if status == "end":
            active[worker] = False
        elif status == "error":
            value.reraise()
        assign(worker)
        if status == "ok":
            yield number if in_order else got, value
