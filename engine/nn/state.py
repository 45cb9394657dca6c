"""Module state plumbing: load_state_dict (strict checks, PyTorch's error text) and to()."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import backend, dtypes
from engine.tensor import Tensor, parse_to_args
from engine.tensor_inplace import mark_written

if TYPE_CHECKING:
    from engine.nn.module import Module

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _as_array(value: Any) -> Any:
    """A raw array from an engine tensor, a NumPy array, or anything NumPy can read."""
    if isinstance(value, Tensor):
        return value._data
    if backend.is_array(value):
        return value
    return np.asarray(value)


def own_state(module: Module) -> Iterator[tuple[str, Tensor]]:
    """(name, tensor) for a module's own parameters and persistent buffers, in state-dict order."""
    for name, p in module._parameters.items():
        if p is not None:
            yield name, p
    for name, b in module._buffers.items():
        if b is not None and name not in module._non_persistent:
            yield name, b


def _fmt(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def load_state_dict(module: Module, state_dict: Any, strict: bool = True,
                    assign: bool = False) -> IncompatibleKeys:
    """Copy matching entries into module's parameters and persistent buffers."""
    if not hasattr(state_dict, "keys"):
        raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}.")
    targets = {(f"{prefix}.{name}" if prefix else name): t
               for prefix, mod in module.named_modules(remove_duplicate=False)
               for name, t in own_state(mod)}
    missing = [k for k in targets if k not in state_dict]
    unexpected = [k for k in state_dict if k not in targets]
    errors = []
    loads = []
    for key, target in targets.items():
        if key not in state_dict:
            continue
        array = _as_array(state_dict[key])
        if tuple(array.shape) != tuple(target.shape):
            errors.append(
                f"size mismatch for {key}: copying a param with shape {_fmt(array.shape)} from "
                f"checkpoint, the shape in current model is {_fmt(target.shape)}."
            )
            continue
        loads.append((target, array))
    if strict:
        if unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in unexpected) + ". ")
        if missing:
            errors.insert(0, "Missing key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in missing) + ". ")
    if errors:
        raise RuntimeError(f"Error(s) in loading state_dict for {type(module).__name__}:\n\t"
                           + "\n\t".join(errors))
    for target, array in loads:
        _copy_into(target, array, assign)
    return IncompatibleKeys(missing, unexpected)


@backend.runs_on_device  # astype and the write run on target's GPU
def _copy_into(target: Tensor, array: Any, assign: bool) -> None:
    """Write array's values into target in place (cast to its dtype, moved to its device)."""
    value = backend.to_device(array, target._device)
    if assign:
        target._data = value.copy() if value is array else value
    elif not backend.is_writeable(target._data):
        target._data = value.astype(target._data.dtype, copy=True)
    else:
        target._data[...] = value.astype(target._data.dtype, copy=False)
    mark_written(target)


def move_module(module: Module, args: tuple, kwargs: dict) -> None:
    """Module.to(device | dtype | tensor): change parameters, buffers and grads in place."""
    dev, np_dtype = parse_to_args(args, kwargs)
    if np_dtype is not None and np_dtype.kind != "f":
        raise TypeError("nn.Module.to only accepts floating point dtypes, got "
                        f"{dtypes.from_numpy_dtype(np_dtype)}")
    for t in list(module.parameters()) + list(module.buffers()):
        _move(t, dev, np_dtype)
        if t.grad is not None:
            _move(t.grad, dev, np_dtype)


def _move(t: Tensor, device: str | None, np_dtype: Any) -> None:
    """Change a tensor's device and/or floating dtype in place, keeping its identity."""
    data = t._data
    if np_dtype is not None and data.dtype.kind == "f" and data.dtype != np_dtype:
        data = data.astype(np_dtype)
    if device is not None and device != t._device:
        data = backend.to_device(data, device)
        t._device = device
    t._data = data
