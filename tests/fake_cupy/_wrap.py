"""Moving values between the stand-in's arrays and the NumPy arrays that hold them."""

from __future__ import annotations

from typing import Any

import numpy as np

from fake_cupy._state import state


def _root(a: Any) -> Any:
    """The object at the end of a NumPy view's .base chain (the memory owner)."""
    while getattr(a, "base", None) is not None:
        a = a.base
    return a


def new(a: np.ndarray, dev: int, base: Any = None) -> Any:
    """A stand-in array around a (no copy) on device dev, a view of base when given."""
    from fake_cupy._ndarray import ndarray  # noqa: PLC0415 - the class uses these helpers

    out = object.__new__(ndarray)
    out._a, out._dev, out._base = a, dev, base
    if base is None:
        state.track(out)
    return out


def wrap(result: Any, parents: tuple = ()) -> Any:
    """Wrap what a NumPy call returned: arrays (a view of a parent stays on its device and
    shares its base), NumPy scalars (as 0-d arrays, as CuPy returns), tuples and lists of them."""
    if isinstance(result, np.ndarray):
        if result.base is not None or parents:
            for p in parents:
                if result is p._a:
                    return p
            if result.base is not None:
                root = _root(result)
                for p in parents:
                    if _root(p._a) is root:
                        return new(result, p._dev, p._base if p._base is not None else p)
        return new(result, state.current)
    if isinstance(result, np.generic):
        return new(np.asarray(result), state.current)
    if isinstance(result, tuple | list):
        return type(result)(wrap(r, parents) for r in result)
    return result


def arrays_in(values: Any) -> list[Any]:
    """The stand-in arrays among values (one level into lists, tuples and dicts)."""
    from fake_cupy._ndarray import ndarray  # noqa: PLC0415

    found = []
    for v in values:
        if isinstance(v, ndarray):
            found.append(v)
        elif isinstance(v, tuple | list):
            found.extend(x for x in v if isinstance(x, ndarray))
    return found


def check_devices(arrays: list[Any]) -> None:
    """Raise as CuPy does when a kernel's operand lives on a device other than the current one."""
    for a in arrays:
        if a._dev != state.current:
            raise ValueError(
                f"The device where the array resides ({a._dev}) is different from the current "
                f"device ({state.current}). Peer access is unavailable between these devices.")


def unwrap(value: Any, host_ok: bool = False) -> Any:
    """The NumPy array behind a stand-in array, recursing into lists and tuples.

    A NumPy array among a function's operands is a TypeError, as in CuPy ("Unsupported type"):
    data reaches the device only through cupy.asarray/array (counted as a host->device copy).
    """
    from fake_cupy._ndarray import ndarray  # noqa: PLC0415

    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, np.ndarray):
        if not host_ok:
            raise TypeError(f"Unsupported type {type(value)}")
        return value
    if isinstance(value, tuple | list):
        return type(value)(unwrap(v, host_ok) for v in value)
    return value


def call(fn: Any, args: tuple, kwargs: dict, *, view: bool = False) -> Any:
    """Run NumPy's fn on the arrays behind args: devices checked (unless fn only makes a view),
    no floating-point warnings (a GPU raises none), out= returned as given."""
    found = arrays_in(args) + arrays_in(kwargs.values())
    if not view:
        check_devices(found)
    out = kwargs.get("out")
    with np.errstate(all="ignore"):
        result = fn(*[unwrap(a) for a in args], **{k: unwrap(v) for k, v in kwargs.items()})
    if out is not None and not isinstance(out, tuple) and result is getattr(out, "_a", None):
        return out
    return wrap(result, tuple(found))
