"""Shared state of the CuPy stand-in: the current device and the transfer/sync counters."""

from __future__ import annotations

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
        self.live: dict[int, Any] = {}  # id -> weakref of arrays owning memory (memory pool)

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


def counters() -> dict[str, int]:
    """The counters since the last reset: {'h2d': .., 'd2h': .., 'sync': ..}."""
    return {"h2d": state.h2d, "d2h": state.d2h, "sync": state.sync}


def reset() -> None:
    """Back to device 0 with zeroed counters (done when a test installs the stand-in)."""
    state.current = 0
    reset_counters()
