"""PyTorch's legacy tensor types: engine.FloatTensor([1, 2]), isinstance(t, engine.LongTensor)."""

from __future__ import annotations

from typing import Any

from engine import creation, dtypes
from engine._device import Size
from engine.tensor import Tensor

# Legacy type names by dtype, as PyTorch's ('torch.FloatTensor' is engine.FloatTensor here).
NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
         "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}
_BY_NAME = {f"{v}Tensor": getattr(dtypes, "bool_" if k == "bool" else k) for k, v in NAMES.items()}


def type_name(t: Any) -> str:
    """t.type(): 'engine.FloatTensor', or 'engine.cuda.FloatTensor' on a GPU."""
    where = "engine." if t._device == "cpu" else "engine.cuda."
    return f"{where}{NAMES[t.dtype.name]}Tensor"


def dtype_of_type(spec: Any) -> Any:
    """The dtype a t.type(spec) argument names: a dtype, a legacy type or its string."""
    if isinstance(spec, _LegacyType):
        return spec.dtype
    if isinstance(spec, str):
        base = spec.rsplit(".", 1)[-1]
        if base in _BY_NAME and spec.split(".")[0] in ("engine", "torch"):
            return _BY_NAME[base]
        raise ValueError(f"invalid type: '{spec}'")
    return spec


class _LegacyType(type):
    """Metaclass: a legacy type builds tensors of its dtype and matches them in isinstance."""

    dtype: Any

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor) and obj._device == "cpu" and obj.dtype == cls.dtype

    def __call__(cls, *args: Any, device: Any = None) -> Any:
        if len(args) == 1 and not isinstance(args[0], int):
            data = args[0]
            if isinstance(data, Size):
                return creation.zeros(*data, dtype=cls.dtype, device=device)
            return Tensor._from_data(data, dtype=cls.dtype, device=device)
        # sizes: uninitialised in PyTorch, zeros here
        return creation.zeros(*args, dtype=cls.dtype, device=device)

    def __repr__(cls) -> str:
        return f"<class 'engine.{cls.__name__}'>"


def _make(name: str, d: Any) -> type:
    return _LegacyType(name, (), {"dtype": d, "__doc__": f"Tensors of dtype {d!r}."})


FloatTensor = _make("FloatTensor", dtypes.float32)
DoubleTensor = _make("DoubleTensor", dtypes.float64)
HalfTensor = _make("HalfTensor", dtypes.float16)
LongTensor = _make("LongTensor", dtypes.int64)
IntTensor = _make("IntTensor", dtypes.int32)
ShortTensor = _make("ShortTensor", dtypes.int16)
CharTensor = _make("CharTensor", dtypes.int8)
ByteTensor = _make("ByteTensor", dtypes.uint8)
BoolTensor = _make("BoolTensor", dtypes.bool_)
