"""The compiled CPU kernels (engine.ops.cpu_kernels), loaded on first use; None without numba.

Ops ask `kernels()` on their NumPy path and fall back to their NumPy code when it is None: numba
is not installed (or cannot load on this platform), or GRADWELL_JIT=0 is set. The CuPy path
never asks. Results are the same either way; only the speed differs.
"""

from __future__ import annotations

import os
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
            try:
                from engine.ops import cpu_kernels
            except ImportError:  # numba missing, or built for another NumPy
                pass
            else:
                _kernels = cpu_kernels
    return _kernels


def set_enabled(enabled: bool) -> None:
    """Use the compiled kernels (True, where numba loads) or the NumPy code (False)."""
    global _kernels
    _kernels = _UNLOADED
    if not enabled:
        _kernels = None


def plain_float(*arrays: Any) -> bool:
    """Every array a C-contiguous NumPy float32/float64 array, all of one dtype: what the
    kernels take."""
    dtype = arrays[0].dtype
    return all(type(a) is np.ndarray and a.dtype == dtype and a.flags.c_contiguous
               for a in arrays) and dtype in FLOATS
