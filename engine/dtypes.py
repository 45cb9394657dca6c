"""dtype objects with PyTorch's names, wrapping NumPy dtypes, and PyTorch's promotion rules."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np


class dtype:  # noqa: N801 - PyTorch spells it in lower case
    """A tensor element type; compares equal to the NumPy dtype it wraps."""

    __slots__ = ("name", "np", "is_floating_point", "itemsize")

    def __init__(self, name: str, np_dtype: Any) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = self.np.kind == "f"
        self.itemsize = self.np.itemsize

    def __repr__(self) -> str:
        return f"engine.{self.name}"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, dtype):
            return self.np == other.np
        try:
            return self.np == np.dtype(other)  # type: ignore[arg-type]
        except TypeError:
            return False

    def __hash__(self) -> int:
        return hash(self.np)


float32 = dtype("float32", np.float32)
float64 = dtype("float64", np.float64)
float16 = dtype("float16", np.float16)
int64 = dtype("int64", np.int64)
int32 = dtype("int32", np.int32)
int16 = dtype("int16", np.int16)
int8 = dtype("int8", np.int8)
uint8 = dtype("uint8", np.uint8)
bool_ = dtype("bool", np.bool_)


class _EmulatedDtype(dtype):
    """A dtype with no array type (bfloat16): usable as autocast's dtype, refused for storage."""

    def __init__(self, name: str, itemsize: int) -> None:  # no NumPy dtype to wrap
        self.name, self.is_floating_point, self.itemsize = name, True, itemsize

    @property  # type: ignore[override]
    def np(self) -> Any:
        """No NumPy dtype: a tensor cannot be stored as bfloat16."""
        raise TypeError(f"engine.{self.name} has no array type (NumPy and CuPy have none): it is "
                        f"only emulated inside autocast(..., dtype=engine.{self.name}), which "
                        "rounds values to its precision and stores them as float32")

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return hash(self.name)


# Emulated only: see engine.amp (values rounded to bfloat16 and stored as float32).
bfloat16 = _EmulatedDtype("bfloat16", 2)
float = float32  # noqa: A001 - PyTorch alias
double = float64
half = float16
long = int64
int = int32  # noqa: A001 - PyTorch alias

# The dtype of Python floats and float factories (engine.set_default_dtype): float32 unless set.
_default_float = np.dtype(np.float32)


def set_default_dtype(d: Any) -> None:
    """Make d (float32 or float64 or float16) the dtype of Python floats and float factories."""
    global _default_float
    np_dtype = to_numpy_dtype(d) if d is not None else None
    if np_dtype is None or np_dtype.kind != "f":
        raise TypeError("only floating-point types are supported as the default type")
    _default_float = np_dtype


def get_default_dtype() -> dtype:
    """The default floating-point dtype (engine.float32 unless set_default_dtype changed it)."""
    return _BY_NUMPY[_default_float]


_BY_NUMPY = {d.np: d for d in (float32, float64, float16, int64, int32, int16, int8, uint8, bool_)}


def from_numpy_dtype(np_dtype: Any) -> dtype:
    """The engine dtype for a NumPy dtype."""
    try:
        return _BY_NUMPY[np.dtype(np_dtype)]
    except KeyError:
        raise TypeError(f"unsupported dtype {np.dtype(np_dtype)}") from None


def to_numpy_dtype(d: Any) -> np.dtype:
    """The NumPy dtype for an engine dtype, NumPy dtype or string such as 'float32'."""
    if d is None:
        return _default_float
    if isinstance(d, dtype):
        return d.np
    return np.dtype(d)


def infer_numpy_dtype(data: Any) -> np.dtype:
    """PyTorch's dtype for Python data: floats -> float32, ints -> int64, bools -> bool."""
    arr = np.asarray(data)
    kind = arr.dtype.kind
    if kind == "f":
        return arr.dtype if isinstance(data, np.ndarray | np.generic) else _default_float
    if kind in "iu":
        return arr.dtype if isinstance(data, np.ndarray | np.generic) else np.dtype(np.int64)
    if kind == "b":
        return np.dtype(np.bool_)
    raise TypeError(f"cannot make a tensor from data of type {arr.dtype}")


def promote(a: np.dtype, b: np.dtype) -> np.dtype:
    """PyTorch's result type for two tensors: a float operand wins over any integer one."""
    if a == b:
        return a
    a_float, b_float = a.kind == "f", b.kind == "f"
    if a_float and not b_float:
        return a
    if b_float and not a_float:
        return b
    return np.promote_types(a, b)


def scalar_dtype(tensor_dtype: np.dtype, scalar: Any) -> np.dtype:
    """Result dtype of tensor (op) Python scalar: the scalar never upcasts the tensor's category."""
    if isinstance(scalar, bool):
        return tensor_dtype
    if isinstance(scalar, builtins.float):
        return tensor_dtype if tensor_dtype.kind == "f" else _default_float
    if tensor_dtype.kind == "b":
        return np.dtype(np.int64)
    return tensor_dtype

