"""Tensor factories and functions of several tensors: tensor, zeros, rand, cat, stack, where."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import backend, dtypes
from engine import random as _random
from engine.ops import elementwise as ew
from engine.ops import movement as mv
from engine.tensor import Tensor
from engine.tensor_shape import _shape_arg


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of data (floats -> float32, ints -> int64)."""
    return Tensor._from_data(data, dtype=dtype, device=device, requires_grad=requires_grad)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """A tensor sharing data's memory when dtype and device allow."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if (device or dtype) else data
    if isinstance(data, np.ndarray) and dtype is None and device in (None, "cpu"):
        return Tensor._from_array(data, "cpu")
    return Tensor._from_data(data, dtype=dtype, device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing array's memory (no copy)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dtypes.from_numpy_dtype(array.dtype)  # raises for unsupported dtypes
    return Tensor._from_array(array, "cpu")


def _make(array: np.ndarray, device: Any, requires_grad: bool) -> Tensor:
    dev = backend.normalize_device(device)
    t = Tensor._from_array(array if dev == "cpu" else backend.to_device(array, dev), dev)
    return t.requires_grad_(True) if requires_grad else t


def _fill(shape: tuple, value: Any, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    np_dtype = (dtypes.to_numpy_dtype(dtype) if dtype is not None
                else dtypes.infer_numpy_dtype(value))
    dev = backend.normalize_device(device)
    array = backend.array_module(dev).full(_shape_arg(shape), value, dtype=np_dtype)
    t = Tensor._from_array(array, dev)
    return t.requires_grad_(True) if requires_grad else t


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (the default dtype unless dtype says otherwise)."""
    return _fill(size, 0.0, dtype, device, requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return _fill(size, 1.0, dtype, device, requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor (zeros here, which costs little and is never garbage)."""
    return _fill(size, 0.0, dtype, device, requires_grad)


def full(size: Sequence[int], fill_value: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor filled with fill_value (dtype inferred from it when not given)."""
    return _fill((tuple(size),), fill_value, dtype, device, requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, device: Any = None,
               requires_grad: bool = False) -> Tensor:
    """Zeros with t's shape, dtype and device."""
    return _fill((t.shape,), 0, dtype or t.dtype, device or t._device, requires_grad)


def ones_like(t: Tensor, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    """Ones with t's shape, dtype and device."""
    return _fill((t.shape,), 1, dtype or t.dtype, device or t._device, requires_grad)


def full_like(t: Tensor, fill_value: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """fill_value with t's shape, dtype and device."""
    return _fill((t.shape,), fill_value, dtype or t.dtype, device or t._device, False)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           device: Any = None, requires_grad: bool = False) -> Tensor:
    """Values from start to end (exclusive) by step; int64 unless a bound is a float."""
    if end is None:
        start, end = 0, start
    is_int = all(isinstance(v, int) for v in (start, end, step))
    np_dtype = dtypes.to_numpy_dtype(dtype) if dtype is not None else (
        np.dtype(np.int64) if is_int else dtypes.to_numpy_dtype(None))
    count = max(0, math.ceil((end - start) / step))
    array = (start + np.arange(count, dtype=np.float64) * step).astype(np_dtype)
    return _make(array, device, requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: Any = None) -> Tensor:
    """steps values evenly spaced from start to end inclusive."""
    return _make(np.linspace(start, end, steps).astype(dtypes.to_numpy_dtype(dtype)), device, False)


def rand(*size: Any, generator: Any = None, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from generator (the global one by default)."""
    array = _random.generator(generator).random(_shape_arg(size))
    array = array.astype(dtypes.to_numpy_dtype(dtype))
    return _make(array, device, requires_grad)


def randn(*size: Any, generator: Any = None, dtype: Any = None, device: Any = None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples from generator (the global one by default)."""
    array = _random.generator(generator).standard_normal(_shape_arg(size))
    return _make(array.astype(dtypes.to_numpy_dtype(dtype)), device, requires_grad)


def randint(low: int, high: int | None = None, size: Sequence[int] = (), generator: Any = None,
            dtype: Any = None, device: Any = None) -> Tensor:
    """Integers in [low, high) (randint(high, size) also works)."""
    if high is None:
        low, high = 0, low
    np_dtype = dtypes.to_numpy_dtype(dtype) if dtype is not None else np.dtype(np.int64)
    array = _random.generator(generator).integers(low, high, size=tuple(size)).astype(np_dtype)
    return _make(array, device, False)


def randperm(n: int, generator: Any = None, dtype: Any = None, device: Any = None) -> Tensor:
    """A random permutation of 0..n-1."""
    np_dtype = dtypes.to_numpy_dtype(dtype) if dtype is not None else np.dtype(np.int64)
    return _make(_random.generator(generator).permutation(n).astype(np_dtype), device, False)


def _same_dtype(tensors: Sequence[Tensor]) -> list[Tensor]:
    target = tensors[0]._data.dtype
    for t in tensors[1:]:
        target = dtypes.promote(target, t._data.dtype)
    return [t if t._data.dtype == target else t._cast(target) for t in tensors]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dim."""
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    ts = _same_dtype(list(tensors))
    return mv.Cat.apply(*ts, axis=dim % ts[0].ndim)


concat = cat


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along a new dim."""
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    ts = _same_dtype(list(tensors))
    return mv.Stack.apply(*ts, axis=dim % (ts[0].ndim + 1))


def where(condition: Tensor, input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise choice: input where condition, else other."""
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        device = condition._device if isinstance(condition, Tensor) else None
        input = tensor(input, device=device)  # noqa: A001 - two scalars: PyTorch's dtype rules
    a, b = input._coerce(other) if isinstance(input, Tensor) else other._coerce(input)[::-1]
    return ew.Where.apply(a, b, condition=cond)


def maximum(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """Elementwise maximum."""
    return input.maximum(other)


def minimum(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """Elementwise minimum."""
    return input.minimum(other)


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:  # noqa: A002
    """Pad with a constant; pad lists (left, right) pairs from the last dim backwards."""
    if mode != "constant":
        raise NotImplementedError(f"pad mode '{mode}' is not supported (only 'constant')")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError(f"Padding length must be divisible by 2 and at most 2*ndim, got {pad}")
    return mv.Pad.apply(input, pad=tuple(pad), value=value)
