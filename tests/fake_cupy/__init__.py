"""A CuPy stand-in for tests on machines without a GPU: the part of CuPy's API the engine uses.

Test-only, never shipped. Arrays are NumPy arrays wrapped in a distinct `ndarray` type that lives
on device "cuda:N" (two devices). Like CuPy it refuses implicit conversion to NumPy, and it counts
host->device copies, device->host copies and implicit syncs so a test can prove a training step
stays on the device: `fake_cupy._counters()` and `fake_cupy._reset_counters()`. Every public
name here exists in real CuPy (tests/engine/test_fake_cupy.py checks them against it).
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from fake_cupy import cuda, random
from fake_cupy._ndarray import _index, ndarray
from fake_cupy._state import counters as _counters
from fake_cupy._state import reset as _reset
from fake_cupy._state import reset_counters as _reset_counters
from fake_cupy._state import state as _state
from fake_cupy._state import trace as _trace
from fake_cupy._wrap import arrays_in as _arrays_in
from fake_cupy._wrap import call as _call
from fake_cupy._wrap import check_devices as _check_devices
from fake_cupy._wrap import new as _new
from fake_cupy._wrap import unwrap as _unwrap

__all__ = ["cuda", "random", "ndarray", "_counters", "_reset", "_reset_counters", "_trace"]

# NumPy objects CuPy re-exports as they are (dtypes, constants, dtype helpers).
for _name in ("bool_ byte cdouble complex128 complex64 complexfloating csingle double dtype e "
              "finfo float16 float32 float64 floating generic half iinfo index_exp inexact inf "
              "int16 int32 int64 int8 int_ intc integer intp issubdtype long longlong nan "
              "newaxis number pi promote_types s_ short signedinteger single ubyte uint uint16 "
              "uint32 uint64 uint8 uintc uintp ulong ulonglong unsignedinteger ushort "
              "broadcast_shapes").split():
    globals()[_name] = getattr(np, _name)
bool = np.bool  # noqa: A001 - CuPy's name


# CuPy supports ufunc.at only where it has a scatter kernel, and reduce only for add/multiply.
_SCATTER = {"add", "maximum", "minimum", "bitwise_and", "bitwise_or", "bitwise_xor"}
_REDUCE = {"add", "multiply"}
# The dtypes CuPy 14.2's scatter kernels take (an integer index; a mask index takes any).
_AT_DTYPES = {"add": ("int32", "int64", "float16", "float32", "float64", "uint32", "uint64"),
              "maximum": ("int32", "int64", "float32", "float64", "uint32", "uint64")}
_AT_DTYPES["minimum"] = _AT_DTYPES["maximum"]


class ufunc:  # noqa: N801 - CuPy's name
    """An elementwise function with CuPy's methods (at, reduce, accumulate, outer)."""

    def __init__(self, np_ufunc: np.ufunc, name: str) -> None:
        self._u, self._name = np_ufunc, name
        self.__name__ = name

    name = property(lambda self: f"cupy_{self._name}")
    nin = property(lambda self: self._u.nin)
    nout = property(lambda self: self._u.nout)
    nargs = property(lambda self: self._u.nargs)
    types = property(lambda self: self._u.types)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _call(self._u, args, kwargs)

    def __repr__(self) -> str:
        return f"<ufunc '{self.name}'>"

    def at(self, a: ndarray, indices: Any, b: Any = None) -> None:
        if self._name not in _SCATTER:
            raise NotImplementedError(f"`{self.name}.at` is not supported yet")
        _check_devices([a, *_arrays_in([b])])
        index, mask = _index(indices, a)
        allowed = _AT_DTYPES.get(self._name)
        if not mask and allowed is not None and a.dtype.name not in allowed:
            raise TypeError(f"cupy.{self._name}.at only supports {', '.join(allowed)}, "
                            "as data type")
        self._u.at(a._a, index, _unwrap(b))

    def reduce(self, array: ndarray, axis: Any = 0, dtype: Any = None, out: Any = None,
               keepdims: bool = False) -> Any:
        if self._name not in _REDUCE:
            raise NotImplementedError(f"`{self.name}.reduce` is not supported yet")
        return _call(self._u.reduce, (array,), {"axis": axis, "dtype": dtype, "out": out,
                                               "keepdims": keepdims})

    def accumulate(self, array: ndarray, axis: int = 0, dtype: Any = None, out: Any = None) -> Any:
        if self._name not in _REDUCE:
            raise NotImplementedError(f"`{self.name}.accumulate` is not supported yet")
        return _call(self._u.accumulate, (array,), {"axis": axis, "dtype": dtype, "out": out})

    def outer(self, a: Any, b: Any, **kwargs: Any) -> Any:
        return _call(self._u.outer, (a, b), kwargs)

    def reduceat(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"`{self.name}.reduceat` is not supported yet")


_UFUNCS = (
    "abs absolute acos acosh add arccos arccosh arcsin arcsinh arctan arctan2 arctanh "
    "asin asinh atan atan2 atanh bitwise_and bitwise_count bitwise_invert "
    "bitwise_left_shift bitwise_right_shift bitwise_not bitwise_or bitwise_xor cbrt ceil "
    "conj conjugate copysign cos cosh deg2rad degrees divide divmod equal exp exp2 expm1 "
    "fabs float_power floor floor_divide fmax fmin fmod frexp gcd greater greater_equal "
    "heaviside hypot invert isfinite isinf isnan lcm ldexp left_shift less less_equal log "
    "log10 log1p log2 logaddexp logaddexp2 logical_and logical_not logical_or logical_xor "
    "maximum minimum mod modf multiply negative nextafter not_equal positive pow power "
    "rad2deg radians reciprocal remainder right_shift rint sign signbit sin sinh sqrt "
    "square subtract tan tanh true_divide trunc")
for _name in _UFUNCS.split():
    globals()[_name] = ufunc(getattr(np, _name), _name)


def _function(np_fn: Any, name: str, view: bool = False, syncs: bool = False) -> Any:
    def fn(*args: Any, **kwargs: Any) -> Any:
        if syncs or (name == "where" and len(args) == 1):
            _state.count("sync")  # the result's size is read back on the host
        return _call(np_fn, args, kwargs, view=view)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"CuPy's {name} (NumPy's, on the device)."
    return fn


_KERNELS = (
    "all allclose amax amin any append arange argmax argmin argpartition argsort around "
    "array_equal ascontiguousarray asfortranarray average bartlett blackman broadcast_arrays "
    "choose clip column_stack concatenate convolve copy copyto corrcoef correlate count_nonzero "
    "cov cross cumprod cumsum delete diag diagflat diff digitize dot dstack ediff1d einsum empty "
    "empty_like eye fill_diagonal fix full full_like hamming hanning hstack identity indices "
    "inner interp isclose isin kron lexsort linspace logspace matmul max mean median meshgrid "
    "min nan_to_num nanargmax nanargmin nancumprod nancumsum nanmax nanmean nanmin nanprod "
    "nanstd nansum nanvar ones ones_like outer pad partition percentile prod ptp put "
    "put_along_axis putmask quantile ravel_multi_index repeat resize roll round searchsorted "
    "select sort stack std sum take take_along_axis tensordot tile trace tri tril tril_indices "
    "triu triu_indices unravel_index vdot vstack where zeros zeros_like")
_VIEWS = (
    "atleast_1d atleast_2d atleast_3d broadcast_to diagonal dsplit expand_dims flip fliplr "
    "flipud hsplit moveaxis array_split permute_dims ravel real imag reshape rollaxis rot90 "
    "split squeeze swapaxes transpose vsplit can_cast iscomplexobj isrealobj isscalar "
    "may_share_memory min_scalar_type ndim result_type shape shares_memory size")
_SYNCING = ("argwhere bincount compress extract flatnonzero intersect1d nonzero setdiff1d "
            "setxor1d trim_zeros union1d unique unique_all unique_counts unique_inverse "
            "unique_values")
for _names, _kind in ((_KERNELS, {}), (_VIEWS, {"view": True}), (_SYNCING, {"syncs": True})):
    for _name in _names.split():
        globals()[_name] = _function(getattr(np, _name), _name, **_kind)


def array(obj: Any, dtype: Any = None, copy: Any = True, order: str = "K", subok: Any = False,
          ndmin: int = 0, *, blocking: Any = False) -> ndarray:
    """An array on the current device from host data (a counted copy) or a device array."""
    if isinstance(obj, ndarray):
        if obj._dev != _state.current:  # a peer copy lands on the current device
            obj = _new(obj._a.copy(order=order), _state.current)
        out = obj.astype(dtype or obj.dtype, order=order, copy=bool(copy))
        return out if ndmin <= out.ndim else out.reshape((1,) * (ndmin - out.ndim) + out.shape)
    inner = _arrays_in([obj]) if isinstance(obj, list | tuple) else []
    if inner:  # a sequence of device arrays: stacked on the device
        _check_devices(inner)
        host = np.array(_unwrap(obj), dtype=dtype, order=order, ndmin=ndmin)
    else:
        _state.count("h2d")
        host = np.array(obj, dtype=dtype, order=order, ndmin=ndmin, copy=True)
    return _new(host, _state.current)


def asarray(a: Any, dtype: Any = None, order: Any = None, *, blocking: Any = False) -> ndarray:
    """As array, without copying a device array that needs no change."""
    return array(a, dtype, copy=False, order=order or "K")


asanyarray = asarray


def frombuffer(buffer: Any, dtype: Any = float, count: int = -1, offset: int = 0) -> ndarray:
    """An array on the device from a host buffer."""
    return array(np.frombuffer(buffer, dtype, count, offset))


def fromiter(iterable: Any, dtype: Any, count: int = -1) -> ndarray:
    """An array on the device from a host iterable."""
    return array(np.fromiter(iterable, dtype, count))


def asnumpy(a: Any, stream: Any = None, order: str = "C", out: Any = None, *,
            blocking: bool = True) -> np.ndarray:
    """A host array from a device array (a counted copy); host data is returned as it is."""
    if isinstance(a, ndarray):
        return a.get(stream, order, out)
    return np.asarray(a, order=order)


def get_array_module(*args: Any) -> types.ModuleType:
    """This module when any argument is a device array, else numpy."""
    import fake_cupy  # noqa: PLC0415

    return fake_cupy if any(isinstance(a, ndarray) for a in args) else np


def get_default_memory_pool() -> cuda.MemoryPool:
    """The device memory pool."""
    return cuda._memory_pool


def get_default_pinned_memory_pool() -> cuda.PinnedMemoryPool:
    """The pinned host memory pool."""
    return cuda._pinned_memory_pool


def is_available() -> bool:
    """True: the stand-in always has its devices."""
    return True


def _as_strided(x: ndarray, shape: Any = None, strides: Any = None) -> ndarray:
    return _call(np.lib.stride_tricks.as_strided, (x,), {"shape": shape, "strides": strides},
                view=True)


lib = types.ModuleType("fake_cupy.lib")
lib.stride_tricks = types.ModuleType("fake_cupy.lib.stride_tricks")
lib.stride_tricks.as_strided = _as_strided
lib.stride_tricks.sliding_window_view = _function(
    np.lib.stride_tricks.sliding_window_view, "sliding_window_view", view=True)
