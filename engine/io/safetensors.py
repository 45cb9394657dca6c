"""The safetensors format, read and written here for checkpoints and exports alike.

A file is an 8-byte little-endian header length, a JSON header (``__metadata__``: a string ->
string map, then one ``{"dtype", "shape", "data_offsets"}`` entry per tensor) and the raw
little-endian tensor bytes. Our own code, not the safetensors package, so that every kind of
damage is named in one line with the caller's error type (CheckpointError, ExportError), loading
needs NumPy alone, and equal inputs give equal bytes: tensor names and metadata keys are sorted
and the data section starts 8-byte aligned. Files written here load in the safetensors package
(and so in PyTorch) unchanged, and files it writes load here.
"""

from __future__ import annotations

import json
import math
import os
import stat
import struct
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from engine.io.atomic import atomic_write

DTYPES = {"BOOL": np.dtype(np.bool_), "U8": np.dtype(np.uint8), "I8": np.dtype(np.int8),
          "I16": np.dtype(np.int16), "U16": np.dtype(np.uint16), "I32": np.dtype(np.int32),
          "U32": np.dtype(np.uint32), "I64": np.dtype(np.int64), "U64": np.dtype(np.uint64),
          "F16": np.dtype(np.float16), "F32": np.dtype(np.float32), "F64": np.dtype(np.float64)}
CODES = {dtype: code for code, dtype in DTYPES.items()}
# safetensors dtypes NumPy has no type for: named in the error instead of "malformed"
_NO_NUMPY = ("BF16", "F8_E4M3", "F8_E5M2")
MAX_HEADER = 100_000_000  # the safetensors package's own limit
Entries = dict[str, dict[str, Any]]


class Contents(NamedTuple):
    """A parsed file: arrays by name, string metadata, the raw header, the data section."""

    tensors: dict[str, np.ndarray]
    metadata: dict[str, str]
    header: dict[str, Any]
    data: memoryview


def _fail(error: type[Exception], where: str, detail: str, hint: str = "") -> Exception:
    """The one place damage messages are made: what and where, what is wrong, what to do."""
    detail = " ".join(detail.split())  # one line, whatever a JSON error put in its text
    return error(f"{where} {detail}; {hint}" if hint else f"{where} {detail}")


# ----- writing ---------------------------------------------------------------------------------

def layout(tensors: dict[str, np.ndarray], error: type[Exception],
           what: str) -> tuple[Entries, list[memoryview]]:
    """The header entries and little-endian bytes of tensors, in sorted name order.

    The bytes are views of the arrays where they already are little-endian and contiguous, so a
    large state dict is not copied on its way to the file.
    """
    entries: Entries = {}
    blobs, offset = [], 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        native = arr.dtype.newbyteorder("=")
        if native not in CODES or name == "__metadata__":
            raise error(f"cannot store tensor '{name}' of dtype {arr.dtype} in {what}: "
                        f"safetensors holds {', '.join(CODES.values())} under any name but "
                        "'__metadata__'")
        little = np.ascontiguousarray(arr.astype(native.newbyteorder("<"), copy=False))
        data = little.reshape(-1).view(np.uint8).data  # reshape first: a 0-d array has no view
        entries[name] = {"dtype": CODES[native], "shape": list(arr.shape),
                         "data_offsets": [offset, offset + data.nbytes]}
        blobs.append(data)
        offset += data.nbytes
    return entries, blobs


def to_chunks(entries: Entries, blobs: list[memoryview],
              metadata: dict[str, str]) -> list[bytes | memoryview]:
    """The file, in pieces, for layout()'s entries and bytes plus metadata: sorted keys, aligned
    data. Written one after the other, the pieces are the file."""
    header = {"__metadata__": dict(sorted(metadata.items())), **entries}
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    raw += b" " * (-len(raw) % 8)  # the data section starts 8-byte aligned
    return [struct.pack("<Q", len(raw)), raw, *blobs]


def encode(tensors: dict[str, np.ndarray], metadata: dict[str, str],
           error: type[Exception] = ValueError, what: str = "safetensors") -> bytes:
    """The safetensors bytes of tensors and string metadata."""
    return b"".join(to_chunks(*layout(tensors, error, what), metadata))


def write_file(path: str | os.PathLike, data: bytes | list[bytes | memoryview],
               error: type[Exception], what: str, fsync: bool = True) -> Path:
    """Write data (bytes, or to_chunks' pieces) to path atomically (temp file, then rename),
    synced to disk with fsync."""
    path = Path(path)
    try:
        with atomic_write(path, fsync=fsync) as f:
            for chunk in [data] if isinstance(data, bytes) else data:
                f.write(chunk)
    except OSError as exc:
        raise error(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    return path


# ----- reading ---------------------------------------------------------------------------------

def read_regular(path: str | os.PathLike, error: type[Exception], what: str) -> bytes:
    """The bytes of a regular file; a device, FIFO or directory is refused before it is opened."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(f"cannot read {what} {path}: no such file") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{what} {path} is not a regular file (a device, FIFO or directory); "
                    "pass the file itself")
    try:
        with open(path, "rb", opener=_nonblocking) as f:
            return f.read(info.st_size + 1)
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _nonblocking(path: str, flags: int) -> int:
    # a FIFO swapped in after the stat must not block the open
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def read_file(path: str | os.PathLike, error: type[Exception], what: str,
              hint: str = "") -> Contents:
    """The contents of the safetensors file at path; see decode."""
    return decode(read_regular(path, error, what), error, f"{what} {path}", hint)


def decode(blob: bytes, error: type[Exception], where: str, hint: str = "") -> Contents:
    """The tensors, metadata, header and data section of safetensors bytes; damage raises error.

    where names the file in messages ("exported model m.safetensors"); hint says what to do.
    The arrays are native-endian copies, so they are aligned, writeable and own their memory.
    """
    if len(blob) < 8:
        raise _fail(error, where, f"is truncated: {len(blob)} bytes, not even a header length",
                    hint)
    (size,) = struct.unpack("<Q", blob[:8])
    if size > MAX_HEADER or 8 + size > len(blob):
        raise _fail(error, where, f"is truncated or not a valid safetensors file: header claims "
                    f"{size} bytes but the file has {len(blob) - 8} after the length", hint)
    try:
        header = json.loads(blob[8:8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(error, where, f"is not a valid safetensors file: invalid JSON header ({exc})",
                    hint) from None
    except RecursionError:
        raise _fail(error, where, "is not a valid safetensors file: invalid JSON header (nested "
                    "too deeply)", hint) from None
    if not isinstance(header, dict):
        raise _fail(error, where, "has an invalid header: expected a JSON object", hint)
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise _fail(error, where, "has invalid metadata: expected a string -> string map", hint)
    data = memoryview(blob)[8 + size:]
    spans = {name: _span(name, info, len(data), error, where, hint)
             for name, info in header.items() if name != "__metadata__"}
    _check_overlap(spans, error, where, hint)
    tensors = {}
    for name, (start, end) in spans.items():
        dtype = DTYPES[header[name]["dtype"]]
        arr = np.frombuffer(data[start:end], dtype=dtype.newbyteorder("<"))
        tensors[name] = arr.reshape(header[name]["shape"]).astype(dtype, copy=True)
    return Contents(tensors, dict(metadata), header, data)


def _is_int(v: Any) -> bool:
    return type(v) is int  # not bool, not float


def _span(name: str, info: Any, available: int, error: type[Exception], where: str,
          hint: str) -> tuple[int, int]:
    """The checked [start, end) of one tensor's bytes in the data section."""
    if isinstance(info, dict) and info.get("dtype") in _NO_NUMPY:
        raise _fail(error, where, f"holds tensor '{name[:80]}' as {info['dtype']}, which NumPy "
                    "has no type for; convert it to float32 before saving", "")
    ok = (isinstance(info, dict) and info.get("dtype") in DTYPES
          and isinstance(info.get("shape"), list) and all(map(_is_int, info["shape"]))
          and isinstance(info.get("data_offsets"), list) and len(info["data_offsets"]) == 2
          and all(map(_is_int, info["data_offsets"])))
    if not ok:
        raise _fail(error, where, f"has a malformed header entry for tensor '{name[:80]}': "
                    f"{json.dumps(info)[:200]}", hint)
    start, end = info["data_offsets"]
    shape = info["shape"]
    count = math.prod(shape)  # Python ints: a shape like 2^32 x 2^32 cannot wrap to 0
    if end > available:
        raise _fail(error, where, f"is truncated: tensor '{name}' needs bytes {start}..{end} of "
                    f"the data section, which has {available}", hint)
    if min(shape, default=1) < 0 or start < 0 or end - start != count * DTYPES[
            info["dtype"]].itemsize:
        raise _fail(error, where, f"has tensor '{name}' with {end - start} bytes, which does not "
                    f"fit shape {shape} of {info['dtype']}", hint)
    return start, end


def _check_overlap(spans: dict[str, tuple[int, int]], error: type[Exception], where: str,
                   hint: str) -> None:
    """Refuse two tensors sharing bytes: an edit to one would silently change the other."""
    ordered = sorted((span, name) for name, span in spans.items() if span[1] > span[0])
    for ((s0, e0), a), ((s1, e1), b) in zip(ordered, ordered[1:], strict=False):
        if s1 < e0:
            raise _fail(error, where, f"has overlapping tensors: '{a}' (bytes {s0}..{e0}) and "
                        f"'{b}' (bytes {s1}..{e1})", hint)
