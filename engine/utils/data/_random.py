"""Seeds for the data pipeline: orders and per-batch draws that depend only on (seed, keys).

Every random choice of the loader (a sampler's order, a transform's draw, a worker's seed) comes
from a Generator built from the loader's seed and a few integers such as (epoch, batch number),
never from shared mutable state, so a batch is the same whichever thread or process made it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from engine import random as engine_random

__all__ = ["current_rng", "epoch_rng", "resolve_seed", "rng_scope"]

_local = threading.local()
_fallback = np.random.default_rng()


def epoch_rng(seed: int, *keys: int) -> np.random.Generator:
    """A Generator determined by seed and keys (e.g. epoch, batch), independent of any other."""
    # SeedSequence takes non-negative ints: a negative user seed wraps to its 64-bit pattern.
    entropy = (int(seed) % 2**64, *keys)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def _global_draw() -> int:
    # engine.manual_seed(s) then makes every unseeded loader and sampler reproducible, as
    # torch.manual_seed does for torch's.
    return int(engine_random.generator().integers(0, 2**63 - 1))


def resolve_seed(seed: int | None = None, generator: Any = None) -> int:
    """The seed a sampler or loader uses: seed, else the generator's, else one from engine's RNG.

    generator may be an int, an object with ``initial_seed()`` (torch.Generator's API) or a
    NumPy Generator (one draw from it); the order then depends on that seed alone.
    """
    if seed is not None:
        return int(seed)
    if generator is None:
        return _global_draw()
    if isinstance(generator, int | np.integer):
        return int(generator)
    if hasattr(generator, "initial_seed"):
        return int(generator.initial_seed())
    if isinstance(generator, np.random.Generator):
        return int(generator.integers(0, 2**63 - 1))
    raise TypeError(f"generator must be an int, a NumPy Generator or an object with "
                    f"initial_seed(), got {type(generator).__name__}")


@contextmanager
def rng_scope(rng: Any) -> Iterator[Any]:
    """Make rng the source of randomness for per-sample transform calls in this thread."""
    previous = getattr(_local, "rng", None)
    _local.rng = rng
    try:
        yield rng
    finally:
        _local.rng = previous


def current_rng() -> np.random.Generator:
    """The Generator installed by rng_scope in this thread, else a process-wide unseeded one."""
    rng = getattr(_local, "rng", None)
    return _fallback if rng is None else rng


class LazyRng:
    """Creates the batch's Generator on first use: most pipelines draw nothing, and seeding a
    Generator costs about as much as gathering a small batch."""

    def __init__(self, seed: int, *keys: int) -> None:
        self._keys = (seed, *keys)
        self._rng: np.random.Generator | None = None

    def __getattr__(self, name: str) -> Any:
        if self._rng is None:
            self._rng = epoch_rng(*self._keys)
        return getattr(self._rng, name)
