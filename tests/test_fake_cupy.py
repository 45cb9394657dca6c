"""The CuPy stand-in: CuPy's rules at the host boundary, its counters, and only CuPy's names."""

from __future__ import annotations

import types

import fake_cupy as fcp
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _fresh() -> None:
    fcp._reset()


def test_host_data_reaches_the_device_only_by_a_counted_copy() -> None:
    host = np.arange(6.0).reshape(2, 3)
    x = fcp.asarray(host)
    assert not isinstance(x, np.ndarray) and x.device.id == 0
    assert fcp._counters() == {"h2d": 1, "d2h": 0, "sync": 0}
    host[0, 0] = 99.0  # a copy, not a view of the host array
    y = (x * 2 + 1).sum(axis=0)
    assert isinstance(y, fcp.ndarray) and y.shape == (3,)
    assert fcp._counters() == {"h2d": 1, "d2h": 0, "sync": 0}
    np.testing.assert_array_equal(y.get(), [8.0, 12.0, 16.0])
    np.testing.assert_array_equal(fcp.asnumpy(x), np.arange(6.0).reshape(2, 3))
    assert fcp._counters()["d2h"] == 2
    assert float(x[1, 2]) == 5.0 and bool(x[0, 1]) and x[1, 1].item() == 4.0
    assert fcp._counters()["sync"] == 3
    fcp._reset_counters()
    assert fcp._counters() == {"h2d": 0, "d2h": 0, "sync": 0}


def test_implicit_conversion_to_numpy_raises() -> None:
    x = fcp.ones((2, 2), dtype=np.float32)
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array"):
        np.asarray(x)
    with pytest.raises(TypeError, match="does not support ufuncs"):
        np.exp(x)
    with pytest.raises(TypeError, match=r"numpy.sum called on a cupy array.*xp.sum"):
        np.sum(x)
    with pytest.raises(TypeError, match="length-1"):
        float(x)
    with pytest.raises(TypeError, match="length-1"):
        int(x)
    with pytest.raises(TypeError, match="Unsupported type"):
        fcp.add(x, np.ones((2, 2)))
    with pytest.raises(TypeError, match="Unsupported type"):
        x + np.ones((2, 2))
    with pytest.raises(TypeError):
        hash(x)
    # NumPy scalars defer to the array's reflected operator, as with CuPy
    np.testing.assert_array_equal((np.float32(3) * x).get(), np.full((2, 2), 3.0))


def test_views_share_memory_and_base() -> None:
    x = fcp.zeros((2, 3))
    row, t = x[0], x.T
    strided = fcp.lib.stride_tricks.as_strided(x, (2, 2), (8, 8))
    assert row.base is x and t.base is x and strided.base is x and (x + 1).base is None
    row[...] = 5.0
    assert x[0, 2].item() == 5.0 and x.flags.c_contiguous and not t.flags.c_contiguous
    assert not hasattr(x.flags, "writeable")  # CuPy's flags have no writeable
    assert fcp.ascontiguousarray(x) is x and x.astype(np.float64, copy=False) is x


def test_devices_and_mixing_them() -> None:
    assert fcp.cuda.runtime.getDeviceCount() == 2
    with fcp.cuda.Device(1):
        assert fcp.cuda.runtime.getDevice() == 1
        y = fcp.ones(3)
    assert y.device.id == 1 and y.device == fcp.cuda.Device(1)
    assert fcp.cuda.runtime.getDevice() == 0
    with pytest.raises(ValueError, match=r"resides \(1\) is different from the current device"):
        fcp.ones(3) + y
    z = fcp.asarray(y)  # a peer copy onto the current device
    assert z.device.id == 0 and fcp._counters()["h2d"] == 0
    assert y.reshape(3, 1).device.id == 1  # a view stays where its memory is
    with pytest.raises(fcp.cuda.runtime.CUDARuntimeError, match="invalid device ordinal"):
        fcp.cuda.Device(2).use()


def test_scatter_and_masks() -> None:
    x = fcp.zeros(4)
    fcp.add.at(x, fcp.asarray(np.array([0, 0, 3])), 1.0)
    np.testing.assert_array_equal(x.get(), [2.0, 0.0, 0.0, 1.0])
    with pytest.raises(NotImplementedError, match="cupy_multiply.at"):
        fcp.multiply.at(x, 0, 2.0)
    for ufunc, dtype in ((fcp.add, np.uint8), (fcp.add, np.int16), (fcp.add, np.bool_),
                         (fcp.maximum, np.float16), (fcp.minimum, np.int8)):
        small = fcp.zeros(4, dtype=dtype)
        with pytest.raises(TypeError, match=f"cupy.{ufunc.__name__}.at only supports int32"):
            ufunc.at(small, fcp.asarray(np.array([0, 1])), 1)
    wide = fcp.zeros(4, dtype=np.int64)
    fcp.maximum.at(wide, fcp.asarray(np.array([1, 1])), fcp.asarray(np.array([3, 5])))
    np.testing.assert_array_equal(wide.get(), [0, 5, 0, 0])
    fcp._reset_counters()
    picked = x[x > 0]
    assert picked.shape == (2,) and fcp._counters()["sync"] == 1
    assert len(fcp.nonzero(x)[0]) == 2 and fcp._counters()["sync"] == 2


def test_memory_pool_counts_live_arrays() -> None:
    pool = fcp.get_default_memory_pool()
    before = pool.used_bytes()
    x = fcp.empty(1024, dtype=np.float32)
    assert pool.used_bytes() == before + 4096 and pool.total_bytes() >= before + 4096
    del x
    assert pool.used_bytes() == before


def _public(namespace: object) -> set[str]:
    """Names a module or class of the stand-in serves (not the typing/stdlib it imports)."""
    names = set()
    for name in dir(namespace):
        value = getattr(namespace, name)
        if name.startswith("_") or name in {"annotations", "Any"}:
            continue
        if isinstance(value, types.ModuleType) and not value.__name__.startswith("fake_cupy"):
            continue
        names.add(name)
    return names


_DUNDERS = ("__add__ __radd__ __iadd__ __sub__ __rsub__ __isub__ __mul__ __rmul__ __imul__ "
            "__truediv__ __rtruediv__ __itruediv__ __floordiv__ __rfloordiv__ __ifloordiv__ "
            "__mod__ __rmod__ __imod__ __pow__ __rpow__ __ipow__ __matmul__ __rmatmul__ "
            "__and__ __rand__ __iand__ __or__ __ror__ __ior__ __xor__ __rxor__ __ixor__ "
            "__lshift__ __rlshift__ __ilshift__ __rshift__ __rrshift__ __irshift__ __divmod__ "
            "__rdivmod__ __lt__ __le__ __gt__ __ge__ __eq__ __ne__ __neg__ __pos__ __abs__ "
            "__invert__ __float__ __int__ __complex__ __bool__ __len__ __iter__ __getitem__ "
            "__setitem__ __copy__ __deepcopy__ __reduce__ __format__ __array__ "
            "__array_function__ __array_ufunc__ __array_priority__").split()


def test_every_served_name_exists_in_real_cupy() -> None:
    cupy = pytest.importorskip("cupy")
    from cupy._core import flags  # noqa: PLC0415
    from cupy.random import _generator_api  # noqa: PLC0415

    pairs = [
        (fcp, cupy), (fcp.cuda, cupy.cuda), (fcp.cuda.runtime, cupy.cuda.runtime),
        (fcp.random, cupy.random), (fcp.lib, cupy.lib),
        (fcp.lib.stride_tricks, cupy.lib.stride_tricks), (fcp.ndarray, cupy.ndarray),
        (fcp.ufunc, cupy.ufunc), (fcp.cuda.Device, cupy.cuda.Device),
        (fcp.cuda.Stream, cupy.cuda.Stream), (fcp.cuda.MemoryPool, cupy.cuda.MemoryPool),
        (fcp.cuda.PinnedMemoryPool, cupy.cuda.PinnedMemoryPool),
        (fcp._ndarray.Flags, flags.Flags), (fcp.random._Generator, _generator_api.Generator),
    ]
    missing = [f"{ours.__name__}.{name}" for ours, real in pairs
               for name in sorted(_public(ours)) if not hasattr(real, name)]
    missing += [f"ndarray.{name}" for name in _DUNDERS
                if hasattr(fcp.ndarray, name) and not hasattr(cupy.ndarray, name)]
    assert not missing, f"the stand-in serves names real CuPy lacks: {missing}"
    assert not hasattr(cupy.ndarray, "__imatmul__") and not hasattr(fcp.ndarray, "__imatmul__")
