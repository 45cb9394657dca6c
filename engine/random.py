"""The global random generator behind rand/randn/randint, init, dropout and shuffling defaults."""

from __future__ import annotations

from typing import Any

import numpy as np

_generator = np.random.Generator(np.random.PCG64())


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the global generator (PyTorch's torch.manual_seed)."""
    global _generator
    _generator = np.random.Generator(np.random.PCG64(int(seed)))
    return _generator


def seed() -> int:
    """Seed from the OS and return the seed used."""
    value = int(np.random.SeedSequence().entropy % (2**63))
    manual_seed(value)
    return value


def generator() -> np.random.Generator:
    """The current global generator (draws happen on the CPU, so devices give equal streams)."""
    return _generator


def get_rng_state() -> dict[str, Any]:
    """The generator state as a JSON-serialisable dict (for checkpoints)."""
    return _generator.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state from get_rng_state."""
    _generator.bit_generator.state = state
