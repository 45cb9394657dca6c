"""engine.save / engine.load: nested state dicts on safetensors plus JSON metadata, never pickle.

A file is an ordinary safetensors file, written and read by engine.io. Each tensor is stored under
its dotted path ("fc1.weight", "optimizer.state.0.exp_avg"), so a saved model state dict also
loads with `safetensors.torch.load_file`. The metadata entry "tree" is JSON describing the nesting
and the plain values; "checksums" holds a CRC32 per tensor so a damaged tensor is named, and
"digest" a SHA-256 over every tensor's name, dtype, shape and bytes plus the other metadata, so a
header edited to retype or reshape a tensor (which leaves the bytes and their CRCs unchanged) is
refused too. Loading only parses JSON and copies bytes: it never runs code.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import zlib
from typing import IO, Any

import numpy as np

from engine import backend
from engine._foreign_files import describe_pickle
from engine.errors import CheckpointError
from engine.io import DTYPES, decode, layout, read_regular, to_chunks, write_file
from engine.nn.parameter import Parameter
from engine.tensor import Tensor

FORMAT = "engine"
VERSION = 2  # 2 added "digest"; version 1 files (no digest) still load
# Tags of the JSON tree; a user dict holding one of these keys is written in the "__dict__" form.
_TAGS = ("__tensor__", "__ndarray__", "__float__", "__tuple__", "__dict__")
_DTYPES = set(DTYPES.values())
_DAMAGED = "the file is truncated or corrupt, write it again"


def save(obj: Any, f: str | os.PathLike | IO[bytes], pickle_module: Any = None,
         pickle_protocol: int = 2, _use_new_zipfile_serialization: bool = True) -> None:
    """Write nested dicts/lists/tuples of tensors and plain values to f: a path (written
    atomically and synced to disk) or a binary file object such as io.BytesIO. The pickle
    arguments are accepted for PyTorch's signature; the file is always safetensors."""
    encoder = _Encoder()
    tree = encoder.encode(obj, "")
    metadata = {"format": FORMAT, "version": str(VERSION),
                "tree": json.dumps(tree, allow_nan=False, separators=(",", ":")),
                "checksums": json.dumps(encoder.checksums, separators=(",", ":"))}
    metadata["digest"] = _digest(metadata, encoder.arrays)
    chunks = to_chunks(*layout(encoder.arrays, CheckpointError, "checkpoint"), metadata)
    if not hasattr(f, "write"):
        write_file(f, chunks, CheckpointError, "checkpoint", fsync=True)
        return
    for chunk in chunks:
        f.write(chunk)


def load(f: str | os.PathLike | IO[bytes], map_location: Any = None, pickle_module: Any = None,
         *, weights_only: bool | None = None, mmap: bool | None = None,
         **pickle_load_args: Any) -> Any:
    """Read what save() wrote, from a path or a binary file object.

    map_location picks the tensors' device as in PyTorch: "cpu", "cuda:1", an engine.device, a
    {saved: target} dict, or a callable (tensor, saved_location) -> tensor. Nothing is ever
    unpickled, so weights_only (True, False or None) changes nothing, and a PyTorch pickle file
    is refused with one line on how to convert it. mmap is accepted; tensors are read into memory.
    A plain safetensors file without this project's metadata (e.g. one written by
    safetensors.torch.save_file) loads as a flat {name: Tensor} dict.
    """
    metadata, arrays, path = _read(f)
    if metadata.get("format") != FORMAT:
        return {name: _place(path, array, "cpu", map_location) for name, array in arrays.items()}
    try:
        version = int(metadata.get("version", "0"))
        tree = json.loads(metadata["tree"])
        checksums = json.loads(metadata.get("checksums", "{}"))
    except (KeyError, ValueError) as exc:
        raise _corrupt(path, f"its metadata is damaged ({exc})") from None
    if version > VERSION:
        raise CheckpointError(f"cannot load '{path}': written by a newer format version "
                              f"({version} > {VERSION}); upgrade this package")
    for name, array in arrays.items():
        expected = checksums.get(name)
        if expected is not None and expected != _crc(array):
            raise _corrupt(path, f"tensor '{name}' fails its checksum (the data is damaged)")
    if version >= 2 and metadata.get("digest") != _digest(metadata, arrays):
        raise _corrupt(path, "its header (tensor names, dtypes, shapes or metadata) or data does "
                       "not match the digest written with it")
    return _Decoder(path, arrays, map_location).decode(tree)


def _read(f: Any) -> tuple[dict[str, str], dict[str, np.ndarray], str]:
    """The metadata and arrays of a safetensors file (path or file object), and its name."""
    if hasattr(f, "read"):
        data = f.read()
        path = str(getattr(f, "name", "<file object>"))
    else:
        path = os.fspath(f)
        data = read_regular(path, CheckpointError, "checkpoint")
    refusal = describe_pickle(data[:8], data, path)
    if refusal:
        raise CheckpointError(refusal)
    contents = decode(data, CheckpointError, f"checkpoint '{path}'", _DAMAGED)
    return contents.metadata, contents.tensors, path


def _corrupt(path: str, reason: str) -> CheckpointError:
    return CheckpointError(f"cannot load '{path}': {reason}; {_DAMAGED}")


def _contiguous(array: np.ndarray) -> np.ndarray:
    # not np.ascontiguousarray: it turns 0-d arrays into 1-d ones
    return array if array.flags.c_contiguous else array.copy(order="C")


def _digest(metadata: dict[str, str], arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the metadata (less the digest) and each tensor's name, dtype, shape, bytes.

    Computed from the parsed arrays, so the offsets are covered through the bytes each name gets.
    """
    h = hashlib.sha256()
    meta = {k: v for k, v in sorted(metadata.items()) if k != "digest"}
    h.update(json.dumps(meta, separators=(",", ":")).encode())
    for name in sorted(arrays):
        array = _contiguous(arrays[name])
        h.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode())
        h.update(array.reshape(-1).view(np.uint8).data)
    return h.hexdigest()


def _crc(array: np.ndarray) -> int:
    return zlib.crc32(_contiguous(array).reshape(-1).view(np.uint8).data)


class _Encoder:
    """Turns an object into a JSON tree, collecting its arrays under unique dotted names."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.checksums: dict[str, int] = {}
        self._seen: dict[int, str] = {}  # id(tensor) -> name: a shared tensor is stored once
        self._keep: list[Any] = []  # keeps encoded objects alive so their ids stay unique

    def encode(self, obj: Any, where: str) -> Any:
        if obj is None or isinstance(obj, bool | str):
            return obj
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            return float(obj) if math.isfinite(obj) else {"__float__": repr(float(obj))}
        if isinstance(obj, np.generic) and obj.dtype in _DTYPES:
            return self.encode(obj.item(), where)
        if isinstance(obj, Tensor):
            node = {"__tensor__": self._add(obj, obj._data, where)}
            if obj._device != "cpu":
                node["device"] = obj._device
            if obj.requires_grad:
                node["requires_grad"] = True
            if isinstance(obj, Parameter):
                node["parameter"] = True
            return node
        if isinstance(obj, np.ndarray):
            return {"__ndarray__": self._add(obj, obj, where)}
        if isinstance(obj, dict):
            if all(isinstance(k, str) and k not in _TAGS for k in obj):
                return {k: self.encode(v, _join(where, k)) for k, v in obj.items()}
            return {"__dict__": [[self._key(k, where), self.encode(v, _join(where, k))]
                                 for k, v in obj.items()]}
        if isinstance(obj, list | tuple):
            items = [self.encode(v, _join(where, i)) for i, v in enumerate(obj)]
            return items if isinstance(obj, list) else {"__tuple__": items}
        raise TypeError(f"engine.save cannot store a {type(obj).__name__} at "
                        f"'{where or '<root>'}': only tensors, NumPy arrays, dicts, lists, tuples, "
                        "str, int, float, bool and None")

    def _key(self, key: Any, where: str) -> Any:
        if key is None or isinstance(key, bool | int | float | str | tuple):
            return self.encode(key, where)
        raise TypeError(f"engine.save cannot store a dict key of type {type(key).__name__} "
                        f"under '{where or '<root>'}'")

    def _add(self, owner: Any, array: Any, where: str) -> str:
        if id(owner) in self._seen:
            return self._seen[id(owner)]
        host = _contiguous(backend.to_numpy(array))
        if host.dtype not in _DTYPES:
            raise TypeError(f"engine.save cannot store dtype {host.dtype} at '{where}'")
        name, n = where or "tensor", 1
        while name in self.arrays:
            n += 1
            name = f"{where or 'tensor'}#{n}"
        self.arrays[name] = host
        self.checksums[name] = _crc(host)
        self._seen[id(owner)] = name
        self._keep.append(owner)
        return name


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


class _Decoder:
    """Rebuilds the object from a JSON tree and the file's arrays."""

    def __init__(self, path: str, arrays: dict[str, np.ndarray], map_location: Any) -> None:
        self.path, self.arrays, self.map_location = path, arrays, map_location
        self._made: dict[str, Any] = {}  # name -> object, so shared tensors stay shared

    def decode(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "__tensor__" in node:
            return self._tensor(node)
        if "__ndarray__" in node:
            return self._array(node["__ndarray__"]).copy()
        if "__float__" in node:
            return float(node["__float__"])
        if "__tuple__" in node:
            return tuple(self.decode(v) for v in node["__tuple__"])
        if "__dict__" in node:
            return {_hashable(self.decode(k)): self.decode(v) for k, v in node["__dict__"]}
        return {k: self.decode(v) for k, v in node.items()}

    def _array(self, name: str) -> np.ndarray:
        if name not in self.arrays:
            raise _corrupt(self.path, f"its metadata names a tensor '{name}' the file lacks")
        return self.arrays[name]

    def _tensor(self, node: dict[str, Any]) -> Tensor:
        name = node["__tensor__"]
        if name in self._made:
            return self._made[name]
        placed = _place(self.path, self._array(name), node.get("device", "cpu"), self.map_location)
        if node.get("parameter"):
            t = Parameter(placed, requires_grad=node.get("requires_grad", False))
        else:
            t = placed
            if node.get("requires_grad"):
                t.requires_grad_(True)
        self._made[name] = t
        return t


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, list | tuple) else key


def _wrap(array: np.ndarray, device: str) -> Tensor:
    return Tensor._from_array(backend.to_device(array, device) if device != "cpu" else array,
                              device)


def _place(path: str, array: np.ndarray, saved: str, map_location: Any) -> Tensor:
    """The tensor for a saved array, on the device map_location picks."""
    if callable(map_location) and not isinstance(map_location, dict | str):
        # PyTorch calls map_location(storage, location); here the storage is a CPU tensor
        cpu = _wrap(array, "cpu")
        moved = map_location(cpu, saved)
        if moved is None:
            return _wrap(array, _target(path, saved, None))
        if not isinstance(moved, Tensor):
            raise CheckpointError(f"cannot load '{path}': map_location returned a "
                                  f"{type(moved).__name__}, expected a tensor")
        return moved
    return _wrap(array, _target(path, saved, map_location))


def _target(path: str, saved: str, map_location: Any) -> str:
    """The device a tensor saved on `saved` loads to under map_location."""
    if isinstance(map_location, dict):
        target = map_location.get(saved, saved)
    else:
        target = saved if map_location is None else map_location
    device = backend.normalize_device(str(target))
    if device != "cpu" and not backend.cuda_available():
        raise CheckpointError(f"cannot load '{path}' onto {device}: CUDA is not available; pass "
                              "map_location='cpu'")
    return device
