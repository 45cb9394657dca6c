"""Read and write the safetensors container: 8-byte header length, JSON header, raw tensor bytes.

Our own reader (not the safetensors package) so that a damaged file gives an ExportError that
says exactly what is wrong, and loading needs NumPy alone. Files written here load in the
safetensors package (and so in PyTorch) unchanged.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ExportError
from engine.fileio import atomic_write

_DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64,
           "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}
_MAX_HEADER = 100_000_000  # the safetensors package's own limit


def write_safetensors(path: str | os.PathLike, tensors: dict[str, np.ndarray],
                      metadata: dict[str, str]) -> Path:
    """Write tensors and string metadata to path atomically (temp file, then rename)."""
    path = Path(path)
    header: dict[str, Any] = {"__metadata__": dict(metadata)}
    blobs, offset = [], 0
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        if arr.dtype.newbyteorder("=") not in _CODES:
            raise ExportError(f"cannot store tensor '{name}' of dtype {arr.dtype} in safetensors")
        data = arr.tobytes()
        header[name] = {"dtype": _CODES[arr.dtype.newbyteorder("=")], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data section starts 8-byte aligned
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)
    return path


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read (tensors, metadata) from a safetensors file; any damage raises ExportError."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise ExportError(f"cannot read exported model {path}: {exc.strerror or exc}") from None
    where = f"exported model {path}"
    if len(blob) < 8:
        raise ExportError(f"{where} is truncated: {len(blob)} bytes, not even a header length")
    (size,) = struct.unpack("<Q", blob[:8])
    if size > _MAX_HEADER or 8 + size > len(blob):
        raise ExportError(f"{where} is truncated or not a safetensors file: header claims "
                          f"{size} bytes but the file has {len(blob) - 8} after the length")
    try:
        header = json.loads(blob[8:8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ExportError(f"{where} has an invalid JSON header: {exc}") from None
    if not isinstance(header, dict):
        raise ExportError(f"{where} has an invalid header: expected a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ExportError(f"{where} has invalid metadata: expected a string -> string map")
    data = memoryview(blob)[8 + size:]
    tensors = {}
    for name, info in header.items():
        tensors[name] = _tensor(name, info, data, where)
    return tensors, metadata


def _tensor(name: str, info: Any, data: memoryview, where: str) -> np.ndarray:
    try:
        dtype = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
        shape = tuple(int(s) for s in info["shape"])
        start, end = (int(o) for o in info["data_offsets"])
    except (KeyError, TypeError, ValueError):
        raise ExportError(f"{where}: tensor '{name}' has a malformed header entry "
                          f"{json.dumps(info)[:200]}") from None
    count = int(np.prod(shape, dtype=np.int64))
    if end > len(data):
        raise ExportError(f"{where} is truncated: tensor '{name}' needs bytes {start}..{end} "
                          f"of the data section, which has {len(data)}")
    if min(shape, default=1) < 0 or start < 0 or end - start != count * dtype.itemsize:
        raise ExportError(f"{where}: tensor '{name}' has {end - start} bytes, which does not "
                          f"fit shape {list(shape)} of {info['dtype']}")
    arr = np.frombuffer(data[start:end], dtype=dtype).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)  # own, aligned, writeable, native
