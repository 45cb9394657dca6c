"""engine.accelerator: the current accelerator (CUDA through CuPy), as torch.accelerator."""

from __future__ import annotations

from typing import Any

from engine import backend
from engine._device import Device


def is_available() -> bool:
    """True when a GPU is usable."""
    return backend.cuda_available()


def device_count() -> int:
    """Number of visible GPUs (0 without one)."""
    return backend.cuda_device_count()


def current_accelerator(check_available: bool = False) -> Device | None:
    """device(type='cuda') when a GPU is usable, else None."""
    return Device("cuda") if backend.cuda_available() else None


def current_device_index() -> int:
    """The index of the current GPU."""
    return backend.cuda_current_device()


def set_device_index(device: Any) -> None:
    """Make the GPU with this index (or 'cuda:N') the current one."""
    index = device if isinstance(device, int) else int(backend.normalize_device(device)[5:])
    backend.cuda_set_device(index)


def synchronize(device: Any = None) -> None:
    """Wait for queued GPU work (no-op without a GPU)."""
    backend.synchronize_cuda()
