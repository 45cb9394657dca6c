"""The stand-in's ndarray: a NumPy array "on" a CUDA device, with CuPy's rules at the boundary.

It is not a numpy.ndarray subclass, so `isinstance(x, np.ndarray)` is False as for CuPy, and every
way of turning it into host data without asking (np.asarray, float() of many values, a NumPy
function or ufunc) raises TypeError.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from fake_cupy._state import state
from fake_cupy._wrap import arrays_in, call, check_devices, new, unwrap, wrap

_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
             "construct a NumPy array explicitly.")
_BASIC = (int, np.integer, slice, type(None), type(Ellipsis))


class Flags:
    """CuPy's ndarray.flags: only c_contiguous, f_contiguous and owndata (no `writeable`)."""

    def __init__(self, a: np.ndarray, owns: bool) -> None:
        self.c_contiguous = bool(a.flags.c_contiguous)
        self.f_contiguous = bool(a.flags.f_contiguous)
        self.owndata = owns

    def __getitem__(self, name: str) -> bool:
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous,
                "OWNDATA": self.owndata}[name]


def _index(key: Any, self: Any) -> tuple[Any, bool]:
    """NumPy's form of an index (stand-in arrays unwrapped, host arrays counted as copies) and
    whether it holds a boolean mask (CuPy syncs to learn the result's size)."""
    from fake_cupy._ndarray import ndarray  # noqa: PLC0415 - self-reference for clarity

    parts = key if isinstance(key, tuple) else (key,)
    out, mask, basic = [], False, True
    for k in parts:
        if isinstance(k, ndarray):
            check_devices([self, k])
            mask |= k._a.dtype == np.bool_
            out.append(k._a)
            basic = False
        elif isinstance(k, np.ndarray | list):
            state.count("h2d")  # CuPy copies host index arrays to the device
            arr = np.asarray(k)
            mask |= arr.dtype == np.bool_
            out.append(arr)
            basic = False
        else:
            out.append(k)
            basic &= isinstance(k, _BASIC)
    if basic and Ellipsis not in out:
        out.append(Ellipsis)  # an int index gives a 0-d view, as CuPy does, not a NumPy scalar
    return tuple(out), mask


class ndarray:  # noqa: N801 - CuPy's name
    """Multi-dimensional array on a (stand-in) CUDA device."""

    __slots__ = ("_a", "_dev", "_base", "__weakref__")
    __array_priority__ = 100
    # None (not a method raising): NumPy ufuncs on it raise TypeError, while a NumPy scalar on the
    # left of an operator defers to our reflected method, as it does for real CuPy.
    __array_ufunc__ = None
    __hash__ = None  # type: ignore[assignment] - unhashable, as CuPy's

    def __init__(self, shape: Any, dtype: Any = float, memptr: Any = None, strides: Any = None,
                 order: str = "C") -> None:
        self._a = np.empty(shape, dtype=dtype, order=order)
        self._dev, self._base = state.current, None
        state.track(self)

    # ----- NumPy must not see host data here --------------------------------------------
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError(_IMPLICIT)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        # CuPy dispatches NumPy functions to its own; the stand-in refuses, since the engine's
        # design says ops call xp.* and never np.*: a NumPy call on device data is a leak.
        raise TypeError(f"numpy.{func.__name__} called on a cupy array: call cupy's "
                        f"{func.__name__} (xp.{func.__name__}) instead")

    # ----- attributes -------------------------------------------------------------------
    @property
    def device(self) -> Any:
        from fake_cupy.cuda import Device  # noqa: PLC0415 - cuda imports this module

        return Device(self._dev)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._a.shape

    @shape.setter
    def shape(self, value: Any) -> None:
        self._a.shape = value

    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    base = property(lambda self: self._base)
    flags = property(lambda self: Flags(self._a, self._base is None))
    T = property(lambda self: wrap(self._a.T, (self,)))
    mT = property(lambda self: wrap(np.matrix_transpose(self._a), (self,)))
    real = property(lambda self: wrap(self._a.real, (self,)))
    imag = property(lambda self: wrap(self._a.imag, (self,)))

    # ----- device <-> host --------------------------------------------------------------
    def get(self, stream: Any = None, order: str = "C", out: Any = None,
            blocking: bool = True) -> np.ndarray:
        """A host copy (device -> host)."""
        state.count("d2h")
        if out is not None:
            out[...] = self._a
            return out
        return np.array(self._a, order=order, copy=True)

    def set(self, arr: np.ndarray, stream: Any = None) -> None:
        """Copy host data into this array (host -> device)."""
        if np.shape(arr) != self._a.shape:
            raise ValueError("Shape mismatch")
        state.count("h2d")
        self._a[...] = arr

    def item(self) -> Any:
        state.count("sync")
        return self._a.item()

    def tolist(self) -> Any:
        state.count("d2h")
        return self._a.tolist()

    def tobytes(self, order: str = "C") -> bytes:
        state.count("d2h")
        return self._a.tobytes(order)

    def _scalar(self, kind: type) -> Any:
        if self._a.size != 1:
            raise TypeError("only length-1 arrays can be converted to Python scalars")
        state.count("sync")
        return kind(self._a.reshape(()).item())

    def __float__(self) -> float:
        return self._scalar(float)

    def __int__(self) -> int:
        return self._scalar(int)

    def __complex__(self) -> complex:
        return self._scalar(complex)

    def __bool__(self) -> bool:
        if self._a.size != 1:
            raise ValueError("The truth value of an array with more than one element is "
                             "ambiguous. Use a.any() or a.all()")
        state.count("sync")
        return bool(self._a.reshape(()).item())

    def __repr__(self) -> str:
        state.count("d2h")
        return repr(self._a)

    def __str__(self) -> str:
        state.count("d2h")
        return str(self._a)

    def __format__(self, spec: str) -> str:
        state.count("d2h")
        return format(self._a, spec)

    # ----- container protocol -----------------------------------------------------------
    def __len__(self) -> int:
        if self._a.ndim == 0:
            raise TypeError("len() of unsized object")
        return len(self._a)

    def __iter__(self) -> Any:
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._a)))

    def __getitem__(self, key: Any) -> Any:
        index, mask = _index(key, self)
        if mask:
            state.count("sync")  # CuPy counts the mask's True values on the host
        return wrap(self._a[index], (self,))

    def __setitem__(self, key: Any, value: Any) -> None:
        index, mask = _index(key, self)
        if isinstance(value, ndarray):
            check_devices([self, value])
            value = value._a
        elif isinstance(value, np.ndarray | list):
            state.count("h2d")
        else:
            check_devices([self])
        if mask and np.ndim(value) > 0:
            state.count("sync")
        self._a[index] = value

    def __copy__(self) -> Any:
        return self.copy()

    def __deepcopy__(self, memo: Any) -> Any:
        from fake_cupy.cuda import Device  # noqa: PLC0415

        with Device(self._dev):
            return new(self._a.copy(order="K"), self._dev)

    def __reduce__(self) -> Any:
        from fake_cupy import array  # noqa: PLC0415

        state.count("d2h")
        return array, (self._a.copy(),)

    # ----- methods ----------------------------------------------------------------------
    def copy(self, order: str = "C") -> Any:
        # A copy lands on the current device, read from wherever self is (peer copy).
        return new(self._a.copy(order=order), state.current)

    def view(self, *args: Any, **kwargs: Any) -> Any:
        return wrap(self._a.view(*args, **kwargs), (self,))

    def astype(self, dtype: Any, order: str = "K", casting: Any = None, subok: Any = None,
               copy: bool = True) -> Any:
        check_devices([self])
        kwargs = {} if casting is None else {"casting": casting}
        return wrap(self._a.astype(dtype, order=order, copy=copy, **kwargs), (self,))

    def fill(self, value: Any) -> None:
        check_devices([self])
        self._a.fill(unwrap(value))

    def scatter_add(self, slices: Any, value: Any) -> None:
        check_devices([self, *arrays_in([value])])
        np.add.at(self._a, _index(slices, self)[0], unwrap(value))

    def scatter_max(self, slices: Any, value: Any) -> None:
        check_devices([self, *arrays_in([value])])
        np.maximum.at(self._a, _index(slices, self)[0], unwrap(value))

    def scatter_min(self, slices: Any, value: Any) -> None:
        check_devices([self, *arrays_in([value])])
        np.minimum.at(self._a, _index(slices, self)[0], unwrap(value))


def _method(name: str, view: bool = False, syncs: bool = False) -> Any:
    def method(self: ndarray, *args: Any, **kwargs: Any) -> Any:
        if syncs:
            state.count("sync")
        return call(getattr(np.ndarray, name), (self, *args), kwargs, view=view)

    method.__name__ = name
    return method


for _name in ("reshape", "transpose", "swapaxes", "squeeze", "ravel", "diagonal"):
    setattr(ndarray, _name, _method(_name, view=True))
for _name in ("all", "any", "argmax", "argmin", "argpartition", "argsort", "clip", "conj",
              "conjugate", "cumprod", "cumsum", "dot", "flatten", "max", "mean", "min",
              "partition", "prod", "put", "repeat", "round", "searchsorted", "sort",
              "std", "sum", "take", "trace", "var"):
    setattr(ndarray, _name, _method(_name))
ndarray.nonzero = _method("nonzero", syncs=True)
ndarray.ptp = lambda self, *a, **k: call(np.ptp, (self, *a), k)


def _binary(fn: Any, reflected: bool = False) -> Any:
    def op(self: ndarray, other: Any) -> Any:
        if (not isinstance(other, ndarray | np.ndarray)
                and getattr(other, "__array_priority__", 0) > ndarray.__array_priority__):
            return NotImplemented  # CuPy's _should_use_rop: e.g. an engine Tensor takes over
        args = (other, self) if reflected else (self, other)
        return call(fn, args, {})

    return op


def _inplace(fn: Any) -> Any:
    def op(self: ndarray, other: Any) -> Any:
        call(fn, (self, other), {"out": self})
        return self

    return op


for _op, _fn in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                 ("truediv", np.true_divide), ("floordiv", np.floor_divide), ("mod", np.mod),
                 ("pow", np.power), ("matmul", np.matmul), ("and", np.bitwise_and),
                 ("or", np.bitwise_or), ("xor", np.bitwise_xor), ("lshift", np.left_shift),
                 ("rshift", np.right_shift), ("divmod", np.divmod)):
    setattr(ndarray, f"__{_op}__", _binary(_fn))
    setattr(ndarray, f"__r{_op}__", _binary(_fn, reflected=True))
    if _op not in ("matmul", "divmod"):  # CuPy has no __imatmul__
        setattr(ndarray, f"__i{_op}__", _inplace(_fn))
for _op, _fn in (("lt", np.less), ("le", np.less_equal), ("gt", np.greater),
                 ("ge", np.greater_equal), ("eq", np.equal), ("ne", np.not_equal)):
    setattr(ndarray, f"__{_op}__", _binary(_fn))
for _op, _fn in (("neg", operator.neg), ("pos", operator.pos), ("abs", operator.abs),
                 ("invert", operator.invert)):
    setattr(ndarray, f"__{_op}__", lambda self, _f=_fn: call(_f, (self,), {}))
