"""default_collate and default_convert with PyTorch's rules, in two steps.

``collate_raw`` stacks samples into raw arrays (NumPy, or the samples' backend) with the same
structure default_collate gives; ``tensorize`` then wraps every array in an engine Tensor without
copying. The loader keeps the two apart so workers send plain arrays and the main process alone
makes Tensors (and moves them to the loader's device).
"""

from __future__ import annotations

import collections.abc
import copy
from typing import Any

import numpy as np

from engine import backend
from engine.tensor import Tensor

__all__ = ["collate_raw", "convert_raw", "default_collate", "default_convert", "tensorize"]

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        "found {}")


def _is_text_array(arr: np.ndarray) -> bool:
    return arr.dtype.kind in "SaUO"


def _restructure(elem: Any, values: list[Any]) -> Any:
    """values in elem's container type: dict and list types kept, tuples become lists."""
    if isinstance(elem, tuple):
        return elem_type(*values) if hasattr(elem_type := type(elem), "_fields") else values
    try:
        return type(elem)(values)
    except TypeError:
        return values


def collate_raw(batch: list[Any]) -> Any:
    """default_collate's structure with raw arrays in place of Tensors."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        xp = backend.get_array_module(elem._data)
        return xp.stack([t._data for t in batch])
    if isinstance(elem, np.ndarray):
        if _is_text_array(elem):
            raise TypeError(_ERR.format(elem.dtype))
        return np.stack(batch)
    if isinstance(elem, np.bool_ | np.number):
        return np.asarray(batch)
    if isinstance(elem, bool):
        return np.asarray(batch, dtype=np.bool_)
    if isinstance(elem, int):
        return np.asarray(batch, dtype=np.int64)
    if isinstance(elem, float):
        return np.asarray(batch, dtype=np.float64)
    if isinstance(elem, str | bytes):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        out = {key: collate_raw([d[key] for d in batch]) for key in elem}
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(out)
            return clone
        try:
            return type(elem)(out)
        except TypeError:
            return out
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return _restructure(elem, [collate_raw(list(s)) for s in zip(*batch, strict=True)])
    raise TypeError(_ERR.format(type(elem)))


def convert_raw(data: Any) -> Any:
    """default_convert's structure with raw arrays in place of Tensors."""
    if isinstance(data, np.ndarray | np.bool_ | np.number) and not (
            isinstance(data, np.ndarray) and _is_text_array(data)):
        return np.asarray(data)
    if isinstance(data, collections.abc.Mapping):
        return {k: convert_raw(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(convert_raw(d) for d in data))
    if isinstance(data, tuple):
        return [convert_raw(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, str | bytes):
        return _restructure(data, [convert_raw(d) for d in data])
    return data


def _wrap(arr: Any, device: str | None, pin: bool) -> Tensor:
    source = "cpu" if type(arr) is np.ndarray else backend.device_of(arr)
    if source == "cpu":
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        if pin:  # a C-ordered copy in page-locked memory
            arr = backend.pinned_copy(arr)
        elif not arr.flags.c_contiguous:  # (np.ascontiguousarray would make a 0-d array 1-d)
            arr = arr.copy()
    t = Tensor._from_array(arr, source)
    return t if device is None or device == source else t.to(device)


def tensorize(batch: Any, device: str | None = None, pin: bool = False) -> Any:
    """Every raw array in batch (nested in lists, tuples, dicts) as a Tensor, on device if given;
    pin: host arrays are first copied into page-locked memory (DataLoader's pin_memory)."""
    if isinstance(batch, np.ndarray) or backend.is_cupy_array(batch):
        return _wrap(batch, device, pin)
    if isinstance(batch, Tensor):
        if pin and batch._device == "cpu":
            batch = batch.pin_memory()
        return batch if device is None else batch.to(device)
    if isinstance(batch, dict):
        items = {k: tensorize(v, device, pin) for k, v in batch.items()}
        return items if type(batch) is dict else type(batch)(items)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(tensorize(b, device, pin) for b in batch))
    if isinstance(batch, list | tuple):
        return type(batch)(tensorize(b, device, pin) for b in batch)
    return batch


def default_collate(batch: list[Any]) -> Any:
    """Stack samples field by field into Tensors, with PyTorch's rules.

    Tensors and arrays are stacked; ints -> int64, floats -> float64, bools -> bool; str and bytes
    stay lists; dicts, namedtuples and lists keep their type, tuples become lists (as PyTorch).
    """
    return tensorize(collate_raw(batch))


def default_convert(data: Any) -> Any:
    """Turn NumPy arrays and scalars (nested anywhere) into Tensors, leaving everything else."""
    return tensorize(convert_raw(data))
