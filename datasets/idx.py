"""IDX files (the MNIST format): a validating reader, a streaming reader and a writer.

An IDX file is two zero bytes, a type code, the number of dimensions, one big-endian uint32 per
dimension, then the elements in C order, big-endian. Every read is bounded by the size the header
declares, so a corrupt header can never make the reader allocate or read more than that.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from engine.errors import DataError
from engine.io import atomic_write

# Type code -> big-endian NumPy dtype (the IDX spec's six element types).
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}
# Above this many bytes of data, stream="auto" memory-maps instead of loading.
STREAM_AUTO_BYTES = 256 * 2**20
_CHUNK = 1 << 20
_READ_ERRORS = (OSError, zlib.error, EOFError)  # gzip.BadGzipFile is an OSError
# deflate cannot expand data more than about 1032:1, which bounds what a .gz file can declare.
_GZIP_MAX_RATIO = 1032

Stream = bool | Literal["auto"]


@dataclass(frozen=True)
class IDXHeader:
    """What an IDX header declares: element dtype (big-endian), shape, header length in bytes."""

    path: Path
    dtype: np.dtype
    shape: tuple[int, ...]
    offset: int

    @property
    def nbytes(self) -> int:
        """Bytes of element data the header declares."""
        # Python ints: a product of 2^32-sized dims must not wrap (np.prod's int64 would).
        return math.prod(self.shape) * self.dtype.itemsize

    def describe(self) -> str:
        """Shape and type as text, e.g. '60000x28x28 uint8'."""
        return "x".join(map(str, self.shape)) + " " + self.dtype.newbyteorder("=").name


def is_gzip(path: str | os.PathLike) -> bool:
    """True when path names a gzip file (by its .gz suffix)."""
    return str(path).endswith(".gz")


def _open(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")  # noqa: SIM115


def _read_exact(f: BinaryIO, n: int, path: Path, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise DataError(
            f"{path}: truncated IDX header: expected {n} bytes of {what}, found {len(data)}; "
            "re-download or regenerate the file"
        )
    return data


def _parse_header(f: BinaryIO, path: Path) -> IDXHeader:
    magic = _read_exact(f, 4, path, "magic number")
    if magic[0] != 0 or magic[1] != 0:
        raise DataError(
            f"{path}: not an IDX file: magic number starts with {magic[:2].hex()}, expected 0000; "
            "check that the file is an uncompressed IDX file or ends in .gz if gzipped"
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise DataError(
            f"{path}: unknown IDX type code 0x{code:02X}, expected one of {known}; "
            "the file is corrupt or not an IDX file"
        )
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions, expected at least 1")
    dims = np.frombuffer(_read_exact(f, 4 * ndim, path, f"{ndim} dimensions"), dtype=">u4")
    return IDXHeader(path, IDX_TYPES[code], tuple(int(d) for d in dims), 4 + 4 * ndim)


def _read_error(path: Path, exc: BaseException, gz: bool | None = None) -> DataError:
    """The DataError for an exception raised while reading path (gzipped: by suffix if None)."""
    # OSErrors from the system carry an errno; gzip's BadGzipFile, zlib.error, EOFError do not.
    system = isinstance(exc, OSError) and exc.errno is not None
    if (is_gzip(path) if gz is None else gz) and not system:
        return DataError(f"{path}: corrupt gzip data ({exc}); re-download the file")
    return DataError(f"{path}: I/O error on IDX file ({exc}); check the path, permissions, space")


def read_header(path: str | os.PathLike) -> IDXHeader:
    """Parse and check an IDX header; for plain files also check the data size against the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _read_error(path, exc) from exc
    if size == 0:
        raise DataError(f"{path}: empty file, expected an IDX file; re-download it")
    try:
        with _open(path) as f:
            header = _parse_header(f, path)
    except _READ_ERRORS as exc:
        raise _read_error(path, exc) from exc
    if not is_gzip(path):
        _check_size(header, size - header.offset)
    else:
        _check_gzip_bound(header, size)
    return header


def _check_gzip_bound(header: IDXHeader, size: int) -> None:
    """Refuse a .gz header declaring more data than a size-byte gzip file can decompress to."""
    if header.offset + header.nbytes > _GZIP_MAX_RATIO * size + 1024:
        raise DataError(
            f"{header.path}: header declares {header.describe()} = {header.nbytes} bytes, more "
            f"than a {size}-byte gzip file can hold; the header is corrupt, re-download the file"
        )


def _check_size(header: IDXHeader, found: int) -> None:
    expected = header.nbytes
    if found < expected and expected >= 2**63:
        raise DataError(
            f"{header.path}: IDX dimensions {header.describe()} overflow: {expected} bytes is "
            "more than any file holds; the header is corrupt, re-download or regenerate the file"
        )
    if found < expected:
        raise DataError(
            f"{header.path}: truncated IDX data: header declares {header.describe()} = {expected} "
            f"bytes after the {header.offset}-byte header, file has {found}; "
            "re-download or regenerate the file"
        )
    if found > expected:
        raise DataError(
            f"{header.path}: unexpected bytes after the {expected} bytes of "
            f"{header.describe()} the header declares; the file is corrupt, re-download it"
        )


def check_idx_file(path: str | os.PathLike, gz: bool | None = None,
                   shown: str | os.PathLike | None = None) -> IDXHeader:
    """Read an IDX file to its end in chunks: magic, header, exact size and, if gzipped, the CRC.

    gz defaults to the path's .gz suffix; shown is the name used in messages (e.g. the final name
    of a file still under a temporary one). Memory use is one chunk whatever the file declares.
    """
    path = Path(path)
    shown = path if shown is None else Path(shown)
    gz = is_gzip(path) if gz is None else gz
    try:
        size = path.stat().st_size
        if size == 0:
            raise DataError(f"{shown}: empty file, expected an IDX file; re-download it")
        with gzip.open(path, "rb") if gz else open(path, "rb") as f:  # noqa: SIM115
            header = _parse_header(f, shown)
            if gz:
                _check_gzip_bound(header, size)
            expected, got = header.nbytes, 0
            # Reading one byte past the declared size reaches gzip's end, which checks the CRC.
            while chunk := f.read(min(_CHUNK, expected - got + 1)):
                got += len(chunk)
                if got > expected:
                    break
            _check_size(header, got)
    except _READ_ERRORS as exc:
        raise _read_error(shown, exc, gz) from exc
    return header


def _native(arr: np.ndarray) -> np.ndarray:
    """Byte-swap a freshly read big-endian array in place and view it as native-endian."""
    if arr.dtype.itemsize == 1 or arr.dtype.isnative:
        return arr.view(arr.dtype.newbyteorder("="))
    arr.byteswap(inplace=True)
    return arr.view(arr.dtype.newbyteorder())


def _read_into(f: BinaryIO, arr: np.ndarray, header: IDXHeader) -> None:
    buf = memoryview(arr.reshape(-1).view(np.uint8))
    got = 0
    while got < len(buf):
        n = f.readinto(buf[got:])
        if not n:
            break
        got += n
    _check_size(header, got if got < len(buf) else got + len(f.read(1)))


def _load(header: IDXHeader) -> np.ndarray:
    try:
        arr = np.empty(header.shape, dtype=header.dtype)
    except (MemoryError, ValueError) as exc:
        raise DataError(
            f"{header.path}: header declares {header.describe()} = {header.nbytes} bytes, more "
            "than can be allocated; the header is corrupt, or pass stream=True"
        ) from exc
    try:
        with _open(header.path) as f:
            f.read(header.offset)  # the header, already checked by read_header
            _read_into(f, arr, header)
    except _READ_ERRORS as exc:
        raise _read_error(header.path, exc) from exc
    return _native(arr)


def default_cache_dir() -> Path:
    """Where decompressed copies of streamed .gz files go ($XDG_CACHE_HOME/gradwell/idx)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gradwell" / "idx"


def _gz_cache(header: IDXHeader, cache_dir: str | os.PathLike | None) -> Path:
    """Decompress a .gz IDX file once, in chunks, into a verified cache file; return its path.

    The cache name hashes the source's path, size and mtime, so a changed source gets a new
    cache; the file is written under a temporary name and renamed only after the decompressed
    size matched the header and gzip's CRC checked out, so an existing cache file is complete.
    """
    src = header.path
    st = src.stat()
    key = hashlib.sha256(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = folder / f"{src.name[:-3]}.{key[:16]}"
    total = header.offset + header.nbytes
    if target.exists() and target.stat().st_size == total:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_write(target) as out, gzip.open(src, "rb") as f:
            written = 0
            while written < total:
                chunk = f.read(min(_CHUNK, total - written))
                if not chunk:
                    break
                out.write(chunk)
                written += len(chunk)
            # Reading one byte past the bound reaches gzip's end, which checks the CRC.
            _check_size(header, written - header.offset + len(f.read(1)))
    except _READ_ERRORS as exc:
        raise _read_error(src, exc) from exc
    return target


def resolve_stream(stream: Stream, header: IDXHeader) -> bool:
    """Turn stream=True/False/"auto" into a decision for this file."""
    if stream == "auto":
        return header.nbytes > STREAM_AUTO_BYTES
    if not isinstance(stream, bool):
        raise ValueError(f"stream must be True, False or 'auto', got {stream!r}")
    return stream


def read_idx(
    path: str | os.PathLike, stream: Stream = False, cache_dir: str | os.PathLike | None = None
) -> np.ndarray:
    """Read an IDX file (plain or .gz) into a native-endian array, or memory-map it if streaming.

    With stream=True the result is a read-only memory map (big-endian dtype for multi-byte
    types); a .gz file is first decompressed once into a verified cache under cache_dir.
    """
    header = read_header(path)
    if not resolve_stream(stream, header):
        return _load(header)
    source = _gz_cache(header, cache_dir) if is_gzip(header.path) else header.path
    if header.nbytes == 0:
        return np.empty(header.shape, dtype=header.dtype.newbyteorder("="))
    return np.memmap(source, dtype=header.dtype, mode="r", offset=header.offset, shape=header.shape)


def idx_header(dtype: np.dtype | type, shape: tuple[int, ...]) -> bytes:
    """The header bytes of an IDX file holding elements of dtype in the given shape."""
    native = np.dtype(dtype).newbyteorder("=")
    if native not in _CODES:
        raise ValueError(f"IDX cannot store dtype {native}; use one of uint8, int8, int16, "
                         "int32, float32, float64")
    if not 1 <= len(shape) <= 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got shape {shape}")
    head = bytes([0, 0, _CODES[native], len(shape)])
    return head + np.asarray(shape, dtype=">u4").tobytes()


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write array as an IDX file, gzipped when compress is True (default: path ends in .gz).

    The file is written under a temporary name and renamed, so a reader never sees half of it.
    """
    path = Path(path)
    array = np.asarray(array)
    data = array.astype(array.dtype.newbyteorder(">"), copy=False)
    header = idx_header(array.dtype, array.shape)
    compress = is_gzip(path) if compress is None else compress
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as raw:
        # No name in the gzip header: the temp name would make equal data give unequal bytes.
        f = gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) if compress else raw
        f.write(header)
        f.write(memoryview(np.ascontiguousarray(data).reshape(-1).view(np.uint8)))
        if compress:
            f.close()
    return path
