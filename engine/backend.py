"""Array backends: NumPy on the CPU, CuPy on CUDA. The only module that imports cupy."""

from __future__ import annotations

import contextlib
import functools
from types import ModuleType
from typing import Any

import numpy as np

CUDA_INSTALL_HINT = "install the GPU extra: pip install 'gradwell[cuda]' (needs an NVIDIA GPU)"


# A module served as CuPy instead of importing it (tests on machines without a GPU).
_served: ModuleType | None = None


def _use_cupy_module(module: ModuleType | None) -> None:
    """Serve module as CuPy from now on (None: import the real one again); private to tests."""
    global _served
    _served = module
    _cupy.cache_clear()


@functools.cache
def _cupy() -> ModuleType | None:
    """Import CuPy once; None when it is absent or has no usable GPU."""
    if _served is not None:
        return _served
    try:
        import cupy  # noqa: PLC0415 - lazy on purpose: CuPy import is slow and optional

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        return cupy
    except Exception:  # ImportError, or a CUDA driver/runtime error
        return None


def cuda_available() -> bool:
    """True when CuPy is importable and sees at least one GPU."""
    return _cupy() is not None


def cuda_device_count() -> int:
    """Number of visible CUDA devices (0 without CuPy)."""
    cp = _cupy()
    return 0 if cp is None else int(cp.cuda.runtime.getDeviceCount())


def require_cupy(device: str) -> ModuleType:
    """Return the cupy module or raise one clear line saying how to get it."""
    cp = _cupy()
    if cp is None:
        raise RuntimeError(
            f"device '{device}' requested but CUDA is not available: {CUDA_INSTALL_HINT}"
        )
    return cp


# The device factories use when none is given (engine.set_default_device).
_default_device = "cpu"


def set_default_device(device: Any) -> None:
    """Make device the one tensor factories use when given none (None restores 'cpu')."""
    global _default_device
    _default_device = "cpu" if device is None else normalize_device(device)


def get_default_device() -> Any:
    """The default device of tensor factories, as an engine.device."""
    from engine._device import Device  # noqa: PLC0415 - _device imports this module

    return Device(_default_device)


def normalize_device(device: Any) -> str:
    """Turn 'cpu', 'cuda', 'cuda:1' or a Device into the canonical string ('cpu' or 'cuda:N').

    None means the default device (engine.set_default_device), 'cpu' unless set.
    """
    if device is None:
        return _default_device
    if type(device) is int:  # PyTorch reads a bare index as that GPU
        return f"cuda:{device}"
    name = str(device).strip().lower()
    if name == "cpu":
        return "cpu"
    if name == "cuda":
        return "cuda:0"
    if name.startswith("cuda:") and name[5:].isdigit():
        return name
    raise ValueError(f"unknown device '{device}': expected 'cpu', 'cuda' or 'cuda:N'")


_NO_GUARD = contextlib.nullcontext()


def on_device(device: str) -> Any:
    """A context in which CuPy works on device's GPU: CuPy runs kernels and places new arrays on
    the current GPU, whatever device the operands are on. Nothing to do for 'cpu' or when that
    GPU is already current."""
    if device == "cpu":
        return _NO_GUARD
    cp = _cupy()
    index = int(device[5:])
    if cp is None or cp.cuda.runtime.getDevice() == index:
        return _NO_GUARD
    return cp.cuda.Device(_gpu_index(cp, device))


def array_device(array: Any) -> Any:
    """on_device for the device a raw array is on (nothing to do for a NumPy array)."""
    return _NO_GUARD if type(array) is np.ndarray else on_device(device_of(array))


def full(device: str, shape: Any, value: Any, dtype: Any) -> Any:
    """An array of shape filled with value, made on device (on a GPU by a fill kernel, so a
    Python scalar becomes an array there with no copy from the host)."""
    if device == "cpu":
        return np.full(shape, value, dtype=dtype)
    with on_device(device):
        return require_cupy(device).full(shape, value, dtype=dtype)


def runs_on_device(method: Any) -> Any:
    """Decorate a Tensor method (or a function whose first argument is a Tensor) that calls xp
    directly: on a GPU it runs with the tensor's GPU current, as Function.apply runs every op."""

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self._device == "cpu":
            return method(self, *args, **kwargs)
        with on_device(self._device):
            return method(self, *args, **kwargs)

    return run


def cuda_device(device: Any = None) -> Any:
    """The device .cuda(device) moves to: 'cuda' for None, 'cuda:N' for an int N, else device."""
    if device is None:
        return "cuda"
    return f"cuda:{device}" if isinstance(device, int) else device


def array_module(device: str) -> ModuleType:
    """The array module (numpy or cupy) that serves a canonical device string."""
    if device == "cpu":
        return np
    return require_cupy(device)


def is_numpy(xp: ModuleType) -> bool:
    """True when xp (an array module from get_array_module or array_module) is NumPy."""
    return xp is np


def is_cupy_array(value: Any) -> bool:
    """True for a raw CuPy array."""
    if type(value) is np.ndarray:
        return False
    # Only a value of CuPy's own type (or of a served stand-in's) reaches _cupy(): NumPy scalars
    # and Python numbers must not import CuPy and start CUDA in CPU-only work.
    if _served is not None:
        return isinstance(value, _served.ndarray)
    if not type(value).__module__.startswith("cupy"):
        return False
    cp = _cupy()
    return cp is not None and isinstance(value, cp.ndarray)


def errstate(xp: ModuleType, **kwargs: Any) -> Any:
    """NumPy's errstate(**kwargs) on NumPy; a no-op on CuPy, whose kernels never warn."""
    return np.errstate(**kwargs) if xp is np else contextlib.nullcontext()


def is_writeable(array: Any) -> bool:
    """False for a read-only NumPy array (a broadcast view) and for a CuPy array whose elements
    share memory (CuPy has no read-only flag: a zero stride marks a broadcast view)."""
    if isinstance(array, np.ndarray):
        return bool(array.flags.writeable)
    if not is_cupy_array(array):
        return True
    return all(s != 0 or n <= 1 for n, s in zip(array.shape, array.strides, strict=True))


def is_array(value: Any) -> bool:
    """True for a raw NumPy or CuPy array (not a scalar, list or Tensor)."""
    return isinstance(value, np.ndarray) or is_cupy_array(value)


def get_array_module(*arrays: Any) -> ModuleType:
    """numpy or cupy, whichever owns the given arrays (Chainer's name for it)."""
    for a in arrays:
        if is_cupy_array(a):
            return _cupy()
    return np


def device_of(array: Any) -> str:
    """Canonical device string of a raw array."""
    if is_cupy_array(array):
        return f"cuda:{array.device.id}"
    return "cpu"


def to_device(array: Any, device: str) -> Any:
    """Copy a raw array to a device (no copy when it is already there)."""
    if device == "cpu":
        if isinstance(array, np.ndarray):
            return array
        return array.get() if is_cupy_array(array) else np.asarray(array)
    cp = require_cupy(device)
    with cp.cuda.Device(_gpu_index(cp, device)):
        return cp.asarray(array)


def _gpu_index(cp: ModuleType, device: str) -> int:
    """The GPU index of 'cuda:N', checked against the GPUs CuPy sees."""
    index = int(device.split(":")[1])
    if index >= cp.cuda.runtime.getDeviceCount():
        raise RuntimeError(
            f"device '{device}' does not exist: {cuda_device_count()} GPU(s) visible"
        )
    return index


def to_numpy(array: Any) -> np.ndarray:
    """A NumPy array holding the values of a raw array of either backend."""
    return to_device(array, "cpu")


def pinned_copy(array: np.ndarray) -> np.ndarray:
    """A copy of a host array in page-locked memory, which a GPU copy reads without staging."""
    cp = require_cupy("cuda")
    memory = cp.cuda.alloc_pinned_memory(max(array.nbytes, 1))
    out = np.frombuffer(memory, array.dtype, array.size).reshape(array.shape)
    out[...] = array
    return out


def is_pinned(array: Any) -> bool:
    """True for a host array in page-locked memory (made by pinned_copy)."""
    cp = _cupy()
    if cp is None or not isinstance(array, np.ndarray):
        return False
    while isinstance(array, np.ndarray) and array.base is not None:
        array = array.base
    owner = array.obj if isinstance(array, memoryview) else array  # np.frombuffer's base
    return isinstance(owner, cp.cuda.PinnedMemoryPointer)


def cuda_device_name(index: int) -> str:
    """The name of GPU index, e.g. 'NVIDIA H100'."""
    name = require_cupy(f"cuda:{index}").cuda.runtime.getDeviceProperties(index)["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def cuda_current_device() -> int:
    """The index of the current GPU."""
    return int(require_cupy("cuda").cuda.runtime.getDevice())


def cuda_set_device(index: int) -> None:
    """Make GPU index the current one."""
    require_cupy(f"cuda:{index}").cuda.Device(index).use()


def cuda_memory(kind: str) -> int:
    """Bytes in CuPy's memory pool: 'used' by arrays or 'total' held; 0 without a GPU."""
    cp = _cupy()
    if cp is None:
        return 0
    pool = cp.get_default_memory_pool()
    return int(pool.used_bytes() if kind == "used" else pool.total_bytes())


def cuda_empty_cache() -> None:
    """Return the unused blocks of CuPy's memory pools to the driver (no-op without a GPU)."""
    cp = _cupy()
    if cp is not None:
        cp.get_default_memory_pool().free_all_blocks()
        cp.get_default_pinned_memory_pool().free_all_blocks()


# cuDNN: no op here calls it. On CuPy, conv2d is im2col windows plus a matmul (cuBLAS) and its
# backward scatters windows with a fixed order, so it is deterministic whatever
# engine.backends.cudnn.deterministic says; the flags there are stored for PyTorch scripts and
# are the place a cuDNN conv path would read (benchmark -> algorithm search, deterministic ->
# deterministic algorithms only, allow_tf32 -> TF32 math).


def synchronize_cuda() -> None:
    """Wait for queued GPU work on the current device (no-op without a GPU)."""
    cp = _cupy()
    if cp is not None:
        cp.cuda.Device().synchronize()


_num_threads = [0]


def get_num_threads() -> int:
    """Threads for CPU math: the value set, else OMP_NUM_THREADS, else the CPU count."""
    if _num_threads[0]:
        return _num_threads[0]
    import os  # noqa: PLC0415

    env = os.environ.get("OMP_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else (os.cpu_count() or 1)


def set_num_threads(n: int) -> None:
    """Record the thread count; NumPy's BLAS sizes its pool at import (set OMP_NUM_THREADS before
    starting Python to change it), so this does not resize a running pool."""
    if int(n) < 1:
        raise ValueError("set_num_threads expects a positive integer")
    _num_threads[0] = int(n)
