"""Random generators: engine.Generator and the global one behind rand/randn, init and dropout."""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np

# PyTorch seeds a fresh Generator with this value; ours does too, so initial_seed() agrees.
DEFAULT_SEED = 67280421310721

_epochs = itertools.count()
_device_epochs: dict[int, int] = {}  # GPU index -> the global generator epoch it was seeded at


class Generator:
    """A random number generator with its own state, as torch.Generator (draws on the CPU)."""

    def __init__(self, device: Any = "cpu") -> None:
        from engine._device import Device  # noqa: PLC0415 - keeps this module light

        self.device = Device(device)
        self.manual_seed(DEFAULT_SEED)

    def manual_seed(self, seed: int) -> Generator:
        """Reseed; returns self as PyTorch does."""
        seed = int(seed)
        if seed < 0:  # PyTorch takes negative seeds as their 64-bit two's complement
            seed += 2**64
        self._seed = seed
        self._np = np.random.Generator(np.random.PCG64(seed))
        self._epoch = next(_epochs)  # tells GPU generators (device_uniform) to reseed
        return self

    def seed(self) -> int:
        """Reseed from OS entropy and return the seed used."""
        value = int(np.random.SeedSequence().entropy % (2**63))
        self.manual_seed(value)
        return value

    def initial_seed(self) -> int:
        """The seed the generator was last seeded with."""
        return self._seed

    def get_state(self) -> Any:
        """The state as a uint8 tensor (the JSON text of the bit generator's state)."""
        from engine.tensor import Tensor  # noqa: PLC0415 - tensor imports this module's users

        text = json.dumps(self._np.bit_generator.state, separators=(",", ":")).encode()
        return Tensor._from_array(np.frombuffer(text, dtype=np.uint8).copy(), "cpu")

    def set_state(self, new_state: Any) -> Generator:
        """Restore a state from get_state()."""
        raw = new_state._data if hasattr(new_state, "_data") else np.asarray(new_state)
        if np.dtype(raw.dtype) != np.uint8:
            raise TypeError("expected a torch.ByteTensor, but got a tensor of dtype "
                            f"{raw.dtype} (pass what get_state() returned)")
        self._np.bit_generator.state = json.loads(bytes(np.asarray(raw)).decode())
        return self

    def __repr__(self) -> str:
        return f"<engine.Generator object on {self.device}>"


default_generator = Generator()
default_generator.manual_seed(int(np.random.SeedSequence().entropy % (2**63)))


def manual_seed(seed: int) -> Generator:
    """Seed the global generator (PyTorch's torch.manual_seed); returns it."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the global generator from the OS and return the seed used."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed of the global generator."""
    return default_generator.initial_seed()


def generator(gen: Generator | None = None) -> np.random.Generator:
    """The NumPy generator to draw from: gen's when given, else the global one."""
    if gen is None:
        return default_generator._np
    if not isinstance(gen, Generator):
        raise TypeError(f"generator must be an engine.Generator, not {type(gen).__name__}")
    return gen._np


def get_rng_state() -> dict[str, Any]:
    """The global generator's state as a JSON-serialisable dict (for checkpoints)."""
    return default_generator._np.bit_generator.state


def set_rng_state(state: Any) -> None:
    """Restore a state from get_rng_state (a dict, or a uint8 tensor from Generator.get_state)."""
    if isinstance(state, dict):
        default_generator._np.bit_generator.state = state
    else:
        default_generator.set_state(state)


def device_uniform(shape: tuple[int, ...], device: str) -> Any:
    """float32 draws in [0, 1) made on device's GPU by CuPy's generator, with no copy from the
    host (dropout masks every step). Each GPU's generator is seeded from the global generator's
    seed, so engine.manual_seed repeats its draws; the CPU and GPU streams differ, as PyTorch's
    CPU and CUDA generators do."""
    from engine import backend  # noqa: PLC0415 - backend imports nothing from here

    index = int(device[5:])
    xp = backend.array_module(device)
    with backend.on_device(device):
        if _device_epochs.get(index) != default_generator._epoch:
            xp.random.seed((default_generator._seed + index) % 2**63)
            _device_epochs[index] = default_generator._epoch
        return xp.random.random(shape, dtype=np.float32)
