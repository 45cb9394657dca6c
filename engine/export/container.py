"""Read and write the safetensors container: 8-byte header length, JSON header, raw tensor bytes.

Our own reader (not the safetensors package) so that a damaged file gives an ExportError that
says exactly what is wrong, and loading needs NumPy alone. Files written here load in the
safetensors package (and so in PyTorch) unchanged. The metadata key ``checksum`` holds a SHA-256
over the canonical JSON header (metadata, dtypes, shapes, offsets; the checksum itself left out)
and the whole data section, so one flipped bit anywhere is found at read.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
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
CHECKSUM_KEY = "checksum"


def _digest(header: dict, metadata: dict, data: bytes | memoryview) -> str:
    """sha256 of the canonical header (without the checksum) followed by the data section."""
    meta = {k: v for k, v in metadata.items() if k != CHECKSUM_KEY}
    canonical = json.dumps({**header, "__metadata__": meta}, sort_keys=True,
                           separators=(",", ":")).encode()
    h = hashlib.sha256(len(canonical).to_bytes(8, "little"))
    h.update(canonical)
    h.update(data)
    return "sha256:" + h.hexdigest()


def write_safetensors(path: str | os.PathLike, tensors: dict[str, np.ndarray],
                      metadata: dict[str, str], checksum: bool = True) -> Path:
    """Write tensors and string metadata to path atomically (temp file, then rename).

    With checksum (the default) the metadata gains the integrity checksum read_safetensors checks.
    """
    path = Path(path)
    header: dict[str, Any] = {"__metadata__": {k: v for k, v in metadata.items()
                                               if k != CHECKSUM_KEY}}
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
    if checksum:
        meta = header["__metadata__"]
        meta[CHECKSUM_KEY] = _digest(header, meta, b"".join(blobs))
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data section starts 8-byte aligned
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)
    return path


def read_regular(path: Path, what: str) -> bytes:
    """The bytes of a regular file; a device, FIFO or directory is refused before it is opened."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ExportError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ExportError(f"{what} {path} is not a regular file (a device, FIFO or directory); "
                          "pass the exported file itself")
    try:
        with open(path, "rb", opener=_nonblocking) as f:
            return f.read(info.st_size + 1)
    except OSError as exc:
        raise ExportError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _nonblocking(path: str, flags: int) -> int:
    # a FIFO swapped in after the stat must not block the open
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def read_safetensors(path: str | os.PathLike, verify: bool = True,
                     ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read (tensors, metadata) from a safetensors file; any damage raises ExportError.

    With verify, the file must carry the integrity checksum and match it.
    """
    path = Path(path)
    blob = read_regular(path, "exported model")
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
    except RecursionError:
        raise ExportError(f"{where} has an invalid JSON header: nested too deeply") from None
    if not isinstance(header, dict):
        raise ExportError(f"{where} has an invalid header: expected a JSON object")
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ExportError(f"{where} has invalid metadata: expected a string -> string map")
    data = memoryview(blob)[8 + size:]
    tensors = {}
    for name, info in header.items():
        if name != "__metadata__":
            tensors[name] = _tensor(name, info, data, where)
    if verify:
        _verify(header, metadata, data, where)
    return tensors, dict(metadata)


def _verify(header: dict, metadata: dict, data: memoryview, where: str) -> None:
    found = metadata.get(CHECKSUM_KEY)
    if found is None:
        raise ExportError(f"{where} has no integrity checksum (metadata '{CHECKSUM_KEY}'); "
                          "re-export it with this version")
    if found != _digest(header, metadata, data):
        raise ExportError(f"{where} fails its integrity checksum: the header or the weights were "
                          "changed after export (damaged or tampered); re-export it")


def _tensor(name: str, info: Any, data: memoryview, where: str) -> np.ndarray:
    def is_int(v: Any) -> bool:
        return type(v) is int

    ok = (isinstance(info, dict) and info.get("dtype") in _DTYPES
          and isinstance(info.get("shape"), list) and all(map(is_int, info["shape"]))
          and isinstance(info.get("data_offsets"), list) and len(info["data_offsets"]) == 2
          and all(map(is_int, info["data_offsets"])))
    if not ok:
        raise ExportError(f"{where}: tensor '{name[:80]}' has a malformed header entry "
                          f"{json.dumps(info)[:200]}")
    dtype = np.dtype(_DTYPES[info["dtype"]]).newbyteorder("<")
    shape = tuple(info["shape"])
    start, end = info["data_offsets"]
    count = math.prod(shape)  # Python ints: a shape like 2^32 x 2^32 cannot wrap to 0
    if end > len(data):
        raise ExportError(f"{where} is truncated: tensor '{name}' needs bytes {start}..{end} "
                          f"of the data section, which has {len(data)}")
    if min(shape, default=1) < 0 or start < 0 or end - start != count * dtype.itemsize:
        raise ExportError(f"{where}: tensor '{name}' has {end - start} bytes, which does not "
                          f"fit shape {list(shape)} of {info['dtype']}")
    arr = np.frombuffer(data[start:end], dtype=dtype).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)  # own, aligned, writeable, native
