"""The stand-in's cupy.cuda: devices, the runtime calls, streams and memory pools."""

from __future__ import annotations

import types
from typing import Any

from fake_cupy._state import DEVICE_COUNT as _DEVICE_COUNT
from fake_cupy._state import state as _state


class _CUDARuntimeError(RuntimeError):
    """A failing CUDA runtime call (cupy_backends' CUDARuntimeError)."""


_CUDARuntimeError.__name__ = _CUDARuntimeError.__qualname__ = "CUDARuntimeError"


def _check(index: int) -> int:
    if not 0 <= index < _DEVICE_COUNT:
        raise _CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
    return index


class Device:
    """A CUDA device; `with Device(i):` makes it current for the block."""

    def __init__(self, device: Any = None) -> None:
        if device is None:
            self.id = _state.current
        else:
            self.id = device.id if isinstance(device, Device) else int(device)
        self._previous: list[int] = []

    def __enter__(self) -> Device:
        self._previous.append(_state.current)
        _state.current = _check(self.id)
        return self

    def __exit__(self, *exc: Any) -> None:
        _state.current = self._previous.pop()

    def use(self) -> None:
        """Make this device the current one."""
        _state.current = _check(self.id)

    def synchronize(self) -> None:
        """Wait for the device's queued work (an explicit sync: not counted)."""
        _check(self.id)

    @property
    def compute_capability(self) -> str:
        return "90"

    @property
    def mem_info(self) -> tuple[int, int]:
        total = _properties(self.id)["totalGlobalMem"]
        return total - _memory_pool.used_bytes(), total

    def __int__(self) -> int:
        return self.id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<CUDA Device {self.id}>"


def _properties(index: int) -> dict[str, Any]:
    _check(index)
    return {"name": b"Stand-in GPU", "totalGlobalMem": 16 << 30, "major": 9, "minor": 0,
            "multiProcessorCount": 132}


runtime = types.ModuleType("fake_cupy.cuda.runtime")
runtime.CUDARuntimeError = _CUDARuntimeError
runtime.getDeviceCount = lambda: _DEVICE_COUNT
runtime.getDevice = lambda: _state.current
runtime.setDevice = lambda index: Device(index).use()
runtime.getDeviceProperties = _properties
runtime.deviceSynchronize = lambda: None


def get_device_id() -> int:
    """The current device's index."""
    return _state.current


def is_available() -> bool:
    """True: the stand-in always has its devices."""
    return True


class Stream:
    """A CUDA stream: work is done at once here, so synchronize has nothing to wait for."""

    null: Stream

    def __init__(self, null: bool = False, non_blocking: bool = False, ptds: bool = False,
                 priority: int | None = None) -> None:
        self._device_id = -1 if null else _state.current

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def use(self) -> Stream:
        return self

    def synchronize(self) -> None:
        return None

    @property
    def done(self) -> bool:
        return True


Stream.null = Stream(null=True)


def get_current_stream() -> Stream:
    """The stream work goes to (the null stream)."""
    return Stream.null


class MemoryPool:
    """Device memory pool: bytes held by live arrays, plus what was held until freed."""

    def __init__(self) -> None:
        self._held = 0

    def used_bytes(self) -> int:
        return sum(a._a.nbytes for a in _state.live_arrays())

    def total_bytes(self) -> int:
        self._held = max(self._held, self.used_bytes())
        return self._held

    def free_bytes(self) -> int:
        return self.total_bytes() - self.used_bytes()

    def free_all_blocks(self) -> None:
        self._held = self.used_bytes()

    def n_free_blocks(self) -> int:
        return 0


class PinnedMemoryPool:
    """Page-locked host memory pool."""

    def free_all_blocks(self) -> None:
        return None

    def n_free_blocks(self) -> int:
        return 0


class PinnedMemoryPointer(bytearray):
    """Page-locked host memory (ordinary host memory here), readable by np.frombuffer."""


def alloc_pinned_memory(size: int) -> PinnedMemoryPointer:
    """Page-locked host memory of size bytes."""
    return PinnedMemoryPointer(size)


_memory_pool = MemoryPool()
_pinned_memory_pool = PinnedMemoryPool()
