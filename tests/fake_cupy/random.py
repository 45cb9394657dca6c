"""The stand-in's cupy.random: draws made "on the device" (no host copy is counted)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fake_cupy._wrap import call as _call
from fake_cupy._wrap import unwrap as _unwrap
from fake_cupy._wrap import wrap as _wrap

_rng = [np.random.default_rng(0)]


def seed(seed: int | None = None) -> None:
    """Reseed the global device generator (a 64-bit seed, as CuPy takes)."""
    _rng[0] = np.random.default_rng(seed)


def _draw(fn: str, *args: Any, dtype: Any = None, **kwargs: Any) -> Any:
    out = getattr(_rng[0], fn)(*[_unwrap(a) for a in args], **kwargs)
    out = np.asarray(out)
    return _wrap(out if dtype is None else out.astype(dtype))


def rand(*size: int, dtype: Any = float) -> Any:
    return _draw("random", size, dtype=dtype)


def randn(*size: int, dtype: Any = float) -> Any:
    return _draw("standard_normal", size, dtype=dtype)


def random_sample(size: Any = None, dtype: Any = float) -> Any:
    return _draw("random", size, dtype=dtype)


random = random_sample


def uniform(low: Any = 0.0, high: Any = 1.0, size: Any = None, dtype: Any = float) -> Any:
    return _draw("uniform", low, high, size, dtype=dtype)


def normal(loc: Any = 0.0, scale: Any = 1.0, size: Any = None, dtype: Any = float) -> Any:
    return _draw("normal", loc, scale, size, dtype=dtype)


def standard_normal(size: Any = None, dtype: Any = float) -> Any:
    return _draw("standard_normal", size, dtype=dtype)


def randint(low: int, high: int | None = None, size: Any = None, dtype: Any = int) -> Any:
    return _draw("integers", low, high, size, dtype=dtype)


def permutation(a: Any) -> Any:
    return _draw("permutation", a)


def shuffle(a: Any) -> None:
    _call(_rng[0].shuffle, (a,), {})


def choice(a: Any, size: Any = None, replace: bool = True, p: Any = None) -> Any:
    return _draw("choice", a, size, replace, p)


class _Generator:
    """cupy.random.Generator (from default_rng)."""

    def __init__(self, seed: Any = None) -> None:
        self._g = np.random.default_rng(seed)

    def random(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> Any:
        return _wrap(np.asarray(self._g.random(size, dtype=dtype)))

    def standard_normal(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> Any:
        return _wrap(np.asarray(self._g.standard_normal(size, dtype=dtype)))

    def uniform(self, low: Any = 0.0, high: Any = 1.0, size: Any = None,
                dtype: Any = np.float64) -> Any:
        return _wrap(np.asarray(self._g.uniform(low, high, size)).astype(dtype))

    def integers(self, low: int, high: int | None = None, size: Any = None,
                 dtype: Any = np.int64, endpoint: bool = False) -> Any:
        return _wrap(np.asarray(self._g.integers(low, high, size, dtype=dtype,
                                                endpoint=endpoint)))


def default_rng(seed: Any = None) -> _Generator:
    """A new device generator."""
    return _Generator(seed)
