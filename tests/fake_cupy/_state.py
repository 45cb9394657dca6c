"""Shared state of the CuPy stand-in: the current device and the transfer/sync counters."""

from __future__ import annotations

import traceback
import weakref
from typing import Any

# Two devices, so code paths that pick cuda:1 (and mix devices by mistake) are exercised.
DEVICE_COUNT = 2


class _State:
    """The current device and what a test can read: host<->device copies and implicit syncs."""

    def __init__(self) -> None:
        self.current = 0
        self.h2d = 0  # host -> device copies (cupy.asarray of host data, setitem from host, ...)
        self.d2h = 0  # device -> host copies (.get(), cupy.asnumpy, tolist, printing)
        self.sync = 0  # implicit syncs: item(), float(), int(), bool(), mask indexing, nonzero
        self.where: list[str] | None = None  # where each event happened, while tracing
        self.live: dict[int, Any] = {}  # id -> weakref of arrays owning memory (memory pool)

    def count(self, kind: str) -> None:
        """Count one event ('h2d', 'd2h' or 'sync'), noting where it came from when tracing."""
        setattr(self, kind, getattr(self, kind) + 1)
        if self.where is not None:
            frame = next(f for f in traceback.extract_stack()[::-1]
                         if "fake_cupy" not in f.filename)
            self.where.append(f"{kind} at {frame.filename}:{frame.lineno} ({frame.name})")

    def track(self, array: Any) -> None:
        """Count array's memory as used until it is freed (arrays are unhashable: keyed by id)."""
        key = id(array)
        self.live[key] = weakref.ref(array, lambda _ref: self.live.pop(key, None))

    def live_arrays(self) -> list[Any]:
        """The arrays that own device memory now."""
        return [a for a in (r() for r in list(self.live.values())) if a is not None]


state = _State()


def reset_counters() -> None:
    """Zero the copy and sync counters."""
    state.h2d = state.d2h = state.sync = 0


def trace(on: bool = True) -> list[str]:
    """Start (or stop) noting where each counted event happens; returns the notes so far."""
    notes = state.where or []
    state.where = [] if on else None
    return notes


def counters() -> dict[str, int]:
    """The counters since the last reset: {'h2d': .., 'd2h': .., 'sync': ..}."""
    return {"h2d": state.h2d, "d2h": state.d2h, "sync": state.sync}


def reset() -> None:
    """Back to device 0 with zeroed counters (done when a test installs the stand-in)."""
    state.current = 0
    state.where = None
    reset_counters()
