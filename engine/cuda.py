"""engine.cuda: GPU availability, seeding and memory, as torch.cuda (CuPy calls, or no-ops)."""

from __future__ import annotations

import sys
from typing import Any

from engine import _cuda_amp as amp
from engine import backend, random
from engine.backend import cuda_available, cuda_device_count, synchronize_cuda

# `from engine.cuda.amp import autocast, GradScaler` (torch.cuda.amp's deprecated names): the
# import system finds the submodule here.
sys.modules[__name__ + ".amp"] = amp

# Factories (rand, randn, init) draw from the global CPU generator on any device, so a seed gives
# the same values on a GPU; dropout masks on a GPU come from CuPy's generator there, seeded from
# the global generator's seed (engine.random.device_uniform). The cuda seeding functions therefore
# only record the seed; engine.manual_seed is what seeds the draws.
_seed = [0]


def is_available() -> bool:
    """True when CuPy is installed and sees a GPU."""
    return cuda_available()


def device_count() -> int:
    """Number of visible GPUs."""
    return cuda_device_count()


def synchronize(device: Any = None) -> None:
    """Wait for queued GPU work (no-op without a GPU)."""
    synchronize_cuda()


def is_initialized() -> bool:
    """True when a GPU is usable (CuPy initialises lazily on first use)."""
    return cuda_available()


def current_device() -> int:
    """The index of the current GPU (raises without one)."""
    _require()
    return backend.cuda_current_device()


def set_device(device: Any) -> None:
    """Make device (an index, 'cuda:N' or engine.device) the current GPU."""
    _require()
    backend.cuda_set_device(_index(device))


def get_device_name(device: Any = None) -> str:
    """The GPU's name (the current one by default)."""
    _require()
    return backend.cuda_device_name(_index(device))


def manual_seed(seed: int) -> None:
    """Accepted for PyTorch scripts: GPU draws come from the global generator (see module doc)."""
    _seed[0] = int(seed)


def manual_seed_all(seed: int) -> None:
    """As manual_seed, for every GPU."""
    _seed[0] = int(seed)


def seed() -> None:
    """As manual_seed with a seed from the OS."""
    _seed[0] = random.Generator().seed()


def seed_all() -> None:
    """As seed, for every GPU."""
    seed()


def initial_seed() -> int:
    """The seed last given to manual_seed / seed."""
    return _seed[0]


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """False: there is no bfloat16 dtype here (NumPy has none)."""
    return False


def memory_allocated(device: Any = None) -> int:
    """Bytes held by tensors in CuPy's memory pool (0 without a GPU)."""
    return backend.cuda_memory("used")


def memory_reserved(device: Any = None) -> int:
    """Bytes CuPy's memory pool holds, in use or cached (0 without a GPU)."""
    return backend.cuda_memory("total")


def empty_cache() -> None:
    """Release cached, unused GPU memory (no-op without a GPU)."""
    backend.cuda_empty_cache()


def _require() -> None:
    if not cuda_available():
        raise RuntimeError(f"Torch not compiled with CUDA enabled: no GPU is usable here; "
                           f"{backend.CUDA_INSTALL_HINT}")


def _index(device: Any) -> int:
    if device is None:
        return backend.cuda_current_device()
    if isinstance(device, int):
        return device
    name = backend.normalize_device(device)
    if name == "cpu":
        raise ValueError(f"Expected a cuda device, but got: {device}")
    return int(name.split(":")[1])
