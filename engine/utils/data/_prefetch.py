"""A background thread that runs the main-process batch pipeline ahead of the consumer."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["prefetched"]

_DONE = object()


def prefetched(source: Iterator[Any], depth: int, timeout: float = 0) -> Iterator[Any]:
    """Run source on a daemon thread, handing over groups of depth items; stop when closed.

    Handing over a group rather than each item amortises the thread hand-off (tens of
    microseconds, as much as making a small batch); at most two groups wait ahead. With a
    timeout, items go over one at a time, so the timeout bounds the wait for each batch.
    """
    group_size, slots = (1, max(depth, 1)) if timeout > 0 else (depth, 1)
    groups: queue.Queue = queue.Queue(maxsize=slots)
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
                if len(group) == group_size:
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
            try:
                group, exc = groups.get(timeout=timeout if timeout > 0 else None)
            except queue.Empty:
                raise RuntimeError(f"DataLoader timed out after {timeout} seconds") from None
            for item in group:
                if item is _DONE:
                    return
                yield item
            if exc is not None:
                raise exc
    finally:
        stop.set()
        thread.join(timeout=None if timeout <= 0 else 0.1)
