"""The compiled CPU kernels (engine.ops.cpu_kernels), loaded on first use; None without numba.

Ops ask `kernels()` on their NumPy path and fall back to their NumPy code when it is None: numba
is not installed (or cannot load on this platform), or GRADWELL_JIT=0 is set. The CuPy path
never asks. Results are the same either way; only the speed differs.
"""

from __future__ import annotations

import os
import signal
from types import ModuleType
from typing import Any

import numpy as np

_UNLOADED: Any = object()
_kernels: Any = _UNLOADED
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def kernels() -> ModuleType | None:
    """engine.ops.cpu_kernels, imported once; None when numba is absent or disabled."""
    global _kernels
    if _kernels is _UNLOADED:
        _kernels = None
        if os.environ.get("GRADWELL_JIT", "1").strip().lower() not in ("0", "false", "no", "off"):
            _kernels = _import_holding_ctrl_c()
    return _kernels


def _import_holding_ctrl_c() -> ModuleType | None:
    """Import cpu_kernels (it compiles: seconds the first time) with SIGINT held back and
    delivered once the module is in place: numba's compiler calls back into Python, and a
    KeyboardInterrupt raised in that callback is printed and dropped, so a Ctrl-C during a
    first run's compile was lost. None where numba is missing or built for another NumPy."""
    received: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    except ValueError:  # not the main thread, which alone receives signals
        previous = received = None
    global _kernels
    try:
        from engine.ops import cpu_kernels
        _kernels = cpu_kernels  # before the held signal: an interrupted import still loaded
    except ImportError:
        pass
    finally:
        if received is not None:
            # None: a handler set outside Python, which can't be put back; the default then
            signal.signal(signal.SIGINT,
                          signal.default_int_handler if previous is None else previous)
            if received:
                signal.raise_signal(signal.SIGINT)
    return _kernels


def set_enabled(enabled: bool) -> None:
    """Use the compiled kernels (True, where numba loads) or the NumPy code (False)."""
    global _kernels
    _kernels = _UNLOADED
    if not enabled:
        _kernels = None


def plain_float(*arrays: Any) -> bool:
    """Every array a C-contiguous, writeable NumPy float32/float64 array, all of one dtype:
    what the kernels are compiled for."""
    dtype = arrays[0].dtype
    return all(type(a) is np.ndarray and a.dtype == dtype and a.flags.c_contiguous
               and a.flags.writeable for a in arrays) and dtype in FLOATS


def plain_int64(array: Any) -> bool:
    """A C-contiguous, writeable NumPy int64 array: the class targets the kernels take."""
    return type(array) is np.ndarray and array.dtype == np.int64 and \
        array.flags.c_contiguous and array.flags.writeable
