"""The script export's container: a safetensors file (engine.io) sealed with an integrity checksum.

The metadata key ``checksum`` holds a SHA-256 over the canonical JSON header (metadata, dtypes,
shapes, offsets; the checksum itself left out) and the whole data section, so one flipped bit
anywhere is found at read. Every kind of damage raises ExportError naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from engine.errors import ExportError
from engine.io import layout, read_file, to_chunks, write_file

CHECKSUM_KEY = "checksum"
_WHAT = "exported model"


def _digest(header: dict, metadata: dict, *data: bytes | memoryview) -> str:
    """sha256 of the canonical header (without the checksum) followed by the data section (in
    one piece or per tensor)."""
    meta = {k: v for k, v in metadata.items() if k != CHECKSUM_KEY}
    canonical = json.dumps({**header, "__metadata__": meta}, sort_keys=True,
                           separators=(",", ":")).encode()
    h = hashlib.sha256(len(canonical).to_bytes(8, "little"))
    h.update(canonical)
    for piece in data:
        h.update(piece)
    return "sha256:" + h.hexdigest()


def write_safetensors(path: str | os.PathLike, tensors: dict[str, np.ndarray],
                      metadata: dict[str, str], checksum: bool = True) -> Path:
    """Write tensors and string metadata to path atomically and durably (fsync).

    With checksum (the default) the metadata gains the integrity checksum read_safetensors checks.
    """
    path = Path(path)
    entries, blobs = layout(tensors, ExportError, _WHAT)
    meta = {k: v for k, v in metadata.items() if k != CHECKSUM_KEY}
    if checksum:
        meta[CHECKSUM_KEY] = _digest(entries, meta, *blobs)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_file(path, to_chunks(entries, blobs, meta), ExportError, _WHAT, fsync=True)


def read_safetensors(path: str | os.PathLike, verify: bool = True,
                     ) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Read (tensors, metadata) from a safetensors file; any damage raises ExportError.

    With verify, the file must carry the integrity checksum and match it.
    """
    path = Path(path)
    contents = read_file(path, ExportError, _WHAT, "re-export it")
    metadata = contents.metadata
    if verify:
        where = f"{_WHAT} {path}"
        found = metadata.get(CHECKSUM_KEY)
        if found is None:
            raise ExportError(f"{where} has no integrity checksum (metadata '{CHECKSUM_KEY}'); "
                              "re-export it with this version")
        if found != _digest(contents.header, metadata, contents.data):
            raise ExportError(f"{where} fails its integrity checksum: the header or the weights "
                              "were changed after export (damaged or tampered); re-export it")
    return contents.tensors, metadata
