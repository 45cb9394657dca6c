"""File I/O for the library: the one safetensors reader/writer, and atomic writes."""

from engine.io.atomic import atomic_path, atomic_write, fsync_dir
from engine.io.safetensors import (
    CODES,
    DTYPES,
    Contents,
    decode,
    encode,
    layout,
    read_file,
    read_regular,
    to_chunks,
    write_file,
)

__all__ = ["CODES", "DTYPES", "Contents", "atomic_path", "atomic_write", "decode", "encode",
           "fsync_dir", "layout", "read_file", "read_regular", "to_chunks", "write_file"]
