"""Tensor factories and functions of several tensors: tensor, zeros, rand, cat, stack, where."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import backend, dtypes
from engine import random as _random
from engine.function import device_mismatch
from engine.memory_format import check_memory_format, preserve_format
from engine.ops import elementwise as ew
from engine.ops import movement as mv
from engine.tensor import Tensor
from engine.tensor_math import torch_type_name
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
    array = backend.full(dev, _shape_arg(shape), value, np_dtype)
    t = Tensor._from_array(array, dev)
    return t.requires_grad_(True) if requires_grad else t


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros (the default dtype unless dtype says otherwise)."""
    return _fill(size, 0.0, dtype, device, requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    return _fill(size, 1.0, dtype, device, requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
          memory_format: Any = None) -> Tensor:
    """An uninitialised tensor (zeros here, which costs little and is never garbage)."""
    if memory_format is not None:
        check_memory_format(memory_format, "empty")
    return _fill(size, 0.0, dtype, device, requires_grad)


def full(size: Sequence[int], fill_value: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor filled with fill_value (dtype inferred from it when not given)."""
    return _fill((tuple(size),), fill_value, dtype, device, requires_grad)


def _like(t: Tensor, value: Any, dtype: Any, device: Any, requires_grad: bool,
          memory_format: Any) -> Tensor:
    check_memory_format(memory_format, "empty_like")
    return _fill((t.shape,), value, dtype or t.dtype, device or t._device, requires_grad)


def zeros_like(input: Tensor, *, dtype: Any = None, device: Any = None,  # noqa: A002
               requires_grad: bool = False, memory_format: Any = preserve_format) -> Tensor:
    """Zeros with input's shape, dtype and device."""
    return _like(input, 0, dtype, device, requires_grad, memory_format)


def ones_like(input: Tensor, *, dtype: Any = None, device: Any = None,  # noqa: A002
              requires_grad: bool = False, memory_format: Any = preserve_format) -> Tensor:
    """Ones with input's shape, dtype and device."""
    return _like(input, 1, dtype, device, requires_grad, memory_format)


def empty_like(input: Tensor, *, dtype: Any = None, device: Any = None,  # noqa: A002
               requires_grad: bool = False, memory_format: Any = preserve_format) -> Tensor:
    """An uninitialised tensor like input (zeros here)."""
    return _like(input, 0, dtype, device, requires_grad, memory_format)


def full_like(input: Tensor, fill_value: Any, *, dtype: Any = None,  # noqa: A002
              device: Any = None, requires_grad: bool = False,
              memory_format: Any = preserve_format) -> Tensor:
    """fill_value with input's shape, dtype and device."""
    return _like(input, fill_value, dtype, device, requires_grad, memory_format)


def _random_like(input: Tensor, array: np.ndarray, dtype: Any, device: Any,  # noqa: A002
                 requires_grad: bool, memory_format: Any, what: str) -> Tensor:
    check_memory_format(memory_format, what)
    np_dtype = dtypes.to_numpy_dtype(dtype) if dtype is not None else input._data.dtype
    return _make(array.astype(np_dtype), device or input._device, requires_grad)


def rand_like(input: Tensor, *, dtype: Any = None, device: Any = None,  # noqa: A002
              requires_grad: bool = False, memory_format: Any = preserve_format) -> Tensor:
    """Uniform [0, 1) samples with input's shape (and dtype, device unless given)."""
    _check_floating(input, dtype, "check_uniform_bounds")
    array = _random.generator().random(input.shape)
    return _random_like(input, array, dtype, device, requires_grad, memory_format, "rand_like")


def randn_like(input: Tensor, *, dtype: Any = None, device: Any = None,  # noqa: A002
               requires_grad: bool = False, memory_format: Any = preserve_format) -> Tensor:
    """Standard normal samples with input's shape (and dtype, device unless given)."""
    _check_floating(input, dtype, "normal_kernel_cpu")
    array = _random.generator().standard_normal(input.shape)
    return _random_like(input, array, dtype, device, requires_grad, memory_format, "randn_like")


def randint_like(input: Tensor, low: int = 0, high: int | None = None, *,  # noqa: A002
                 dtype: Any = None, device: Any = None, requires_grad: bool = False,
                 memory_format: Any = preserve_format) -> Tensor:
    """Integers in [low, high) with input's shape (randint_like(t, high) also works)."""
    if high is None:
        low, high = 0, low
    array = _random.generator().integers(low, high, size=input.shape)
    return _random_like(input, array, dtype, device, requires_grad, memory_format,
                        "randint_like")


def _check_floating(input: Tensor, dtype: Any, kernel: str) -> None:  # noqa: A002
    target = dtypes.to_numpy_dtype(dtype) if dtype is not None else input._data.dtype
    if target.kind != "f":
        name = torch_type_name(Tensor._from_array(np.zeros(0, target)))
        raise NotImplementedError(f'"{kernel}" not implemented for \'{name}\'')


def eye(n: int, m: int | None = None, *, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    """The n x m identity matrix (m defaults to n)."""
    array = np.eye(n, n if m is None else m, dtype=dtypes.to_numpy_dtype(dtype))
    return _make(array, device, requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           device: Any = None, requires_grad: bool = False) -> Tensor:
    """Values from start to end (exclusive) by step; int64 unless a bound is a float."""
    if end is None:
        start, end = 0, start
    is_int = all(isinstance(v, int) for v in (start, end, step))
    np_dtype = dtypes.to_numpy_dtype(dtype) if dtype is not None else (
        np.dtype(np.int64) if is_int else dtypes.to_numpy_dtype(None))
    count = max(0, math.ceil((end - start) / step))
    dev = backend.normalize_device(device)
    xp = backend.array_module(dev)
    with backend.on_device(dev):  # made where it is used: no host copy inside a forward
        array = (start + xp.arange(count, dtype=np.float64) * step).astype(np_dtype)
    t = Tensor._from_array(array, dev)
    return t.requires_grad_(True) if requires_grad else t


def linspace(start: float, end: float, steps: int, dtype: Any = None, device: Any = None) -> Tensor:
    """steps values evenly spaced from start to end inclusive."""
    return _make(np.linspace(start, end, steps).astype(dtypes.to_numpy_dtype(dtype)), device, False)


def logspace(start: float, end: float, steps: int, base: float = 10.0, dtype: Any = None,
             device: Any = None) -> Tensor:
    """steps values base ** x for x evenly spaced from start to end inclusive."""
    values = np.power(base, np.linspace(start, end, steps))
    return _make(values.astype(dtypes.to_numpy_dtype(dtype)), device, False)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None,
                 device: Any = None) -> Tensor:
    """The (2, n) coordinates of the lower triangle of a row x col matrix, row by row."""
    return _make(np.stack(np.tril_indices(row, offset, col)).astype(
        dtypes.to_numpy_dtype(dtype or dtypes.int64)), device, False)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None,
                 device: Any = None) -> Tensor:
    """The (2, n) coordinates of the upper triangle of a row x col matrix, row by row."""
    return _make(np.stack(np.triu_indices(row, offset, col)).astype(
        dtypes.to_numpy_dtype(dtype or dtypes.int64)), device, False)


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


def where(condition: Tensor, input: Any = None, other: Any = None) -> Any:  # noqa: A002
    """Elementwise choice: input where condition, else other; where(condition) alone is
    condition.nonzero(as_tuple=True)."""
    if input is None and other is None:
        return condition.nonzero(as_tuple=True)
    cond = condition._data if isinstance(condition, Tensor) else np.asarray(condition)
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        device = condition._device if isinstance(condition, Tensor) else None
        input = tensor(input, device=device)  # noqa: A001 - two scalars: PyTorch's dtype rules
    a, b = input._coerce(other) if isinstance(input, Tensor) else other._coerce(input)[::-1]
    if isinstance(condition, Tensor) and condition._device != a._device:
        raise device_mismatch(a._device, condition._device, "where")
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
