"""IDX reading and writing: every element type, plain and gzip, streaming, and corrupt input."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from datasets import DataError, IDXDataset, read_header, read_idx, write_idx
from datasets.idx import idx_header

DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]


def sample(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    rng = np.random.default_rng(7)
    if dtype.startswith("float"):
        return rng.normal(size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5,), (4, 3), (2, 3, 4), (2, 1, 3, 2, 2)])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_reads_every_type_and_rank(tmp_path, write_raw, dtype, shape, suffix):
    arr = sample(dtype, shape)
    path = write_raw(tmp_path / f"a.idx{suffix}", arr)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    assert got.shape == shape
    np.testing.assert_array_equal(got, arr)
    header = read_header(path)
    assert header.shape == shape and header.offset == 4 + 4 * len(shape)


@pytest.mark.parametrize("dtype", DTYPES)
def test_stream_memory_maps_plain_file(tmp_path, write_raw, dtype):
    arr = sample(dtype, (6, 3, 2))
    path = write_raw(tmp_path / "a.idx", arr)
    got = read_idx(path, stream=True)
    assert isinstance(got, np.memmap)
    np.testing.assert_array_equal(got, arr)  # values compare equal whatever the byte order


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("compress", [False, True])
def test_write_idx_bytes_match_spec(tmp_path, dtype, compress):
    arr = sample(dtype, (3, 2, 2))
    path = write_idx(tmp_path / "w.idx", arr, compress=compress)
    raw = path.read_bytes()
    raw = gzip.decompress(raw) if compress else raw
    code = {"uint8": 8, "int8": 9, "int16": 11, "int32": 12, "float32": 13, "float64": 14}[dtype]
    assert raw[:4] == bytes([0, 0, code, 3])
    assert struct.unpack(">3I", raw[4:16]) == (3, 2, 2)
    assert raw[16:] == arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    assert not list(tmp_path.glob("*.part"))


def test_gz_stream_uses_verified_cache(tmp_path, write_raw):
    arr = sample("int32", (50, 4, 4))
    path = write_raw(tmp_path / "a.idx.gz", arr)
    cache = tmp_path / "cache"
    got = read_idx(path, stream=True, cache_dir=cache)
    assert isinstance(got, np.memmap)
    np.testing.assert_array_equal(got, arr)
    (cached,) = cache.iterdir()
    assert cached.read_bytes() == gzip.decompress(path.read_bytes())
    stamp = cached.stat().st_mtime_ns
    np.testing.assert_array_equal(read_idx(path, stream=True, cache_dir=cache), arr)
    assert cached.stat().st_mtime_ns == stamp  # decompressed once, then reused


def test_auto_stream_picks_by_size(tmp_path, write_raw, monkeypatch):
    path = write_raw(tmp_path / "a.idx", sample("uint8", (10, 10)))
    assert not isinstance(read_idx(path, stream="auto"), np.memmap)
    monkeypatch.setattr("datasets.idx.STREAM_AUTO_BYTES", 50)
    assert isinstance(read_idx(path, stream="auto"), np.memmap)


def test_idx_header_rejects_unstorable_dtype():
    with pytest.raises(ValueError, match="int64"):
        idx_header(np.int64, (3,))


# --- corrupt input: each raises DataError naming the file and the reason -------------------

GOOD = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)


def corrupt_cases(good: bytes) -> dict[str, tuple[bytes, str]]:
    declared_more = bytearray(good)
    declared_more[4:8] = struct.pack(">I", 3)  # 3 records declared, 2 present
    return {
        "wrong magic": (b"\x01\x02" + good[2:], "magic number"),
        "unknown type": (good[:2] + b"\x0a" + good[3:], "unknown IDX type code 0x0A"),
        "truncated data": (good[:-5], "truncated IDX data"),
        "declares more": (bytes(declared_more), "header declares 3x3x4 uint8 = 36 bytes"),
        "truncated header": (good[:9], "truncated IDX header"),
        "trailing bytes": (good + b"\x00\x00", "unexpected bytes after the 24 bytes"),
        "zero dims": (good[:3] + b"\x00", "0 dimensions"),
    }


@pytest.mark.parametrize("case", list(corrupt_cases(b"\x00" * 40)))
@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("stream", [False, True])
def test_corrupt_file_raises_data_error(tmp_path, write_raw, case, suffix, stream):
    data, reason = corrupt_cases(
        bytes([0, 0, 8, 3]) + struct.pack(">3I", 2, 3, 4) + GOOD.tobytes()
    )[case]
    path = write_raw(tmp_path / f"bad.idx{suffix}", data)
    with pytest.raises(DataError, match="bad.idx") as info:
        read_idx(path, stream=stream, cache_dir=tmp_path / "cache")
    assert reason in str(info.value)
    assert "\n" not in str(info.value)
    cache = tmp_path / "cache"
    assert not cache.exists() or not list(cache.iterdir())  # no half-made cache


def test_empty_file(tmp_path):
    for name in ("empty.idx", "empty.idx.gz"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(DataError, match=f"{name}: empty file"):
            read_idx(tmp_path / name)


def _gz(raw: bytes) -> bytes:
    return gzip.compress(raw, mtime=0)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("damage", ["not gzip", "flipped byte", "cut short", "bad crc"])
def test_corrupt_gzip(tmp_path, damage, stream):
    raw = bytes([0, 0, 8, 2]) + struct.pack(">2I", 200, 50) + sample("uint8", (200, 50)).tobytes()
    blob = bytearray(_gz(raw))
    if damage == "not gzip":
        blob = bytearray(raw)
    elif damage == "flipped byte":
        blob[len(blob) // 2] ^= 0xFF
    elif damage == "cut short":
        blob = blob[:-30]
    else:
        blob[-8] ^= 0x01  # the CRC32 in the gzip trailer
    path = tmp_path / "x.idx.gz"
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="x.idx.gz: (corrupt gzip|truncated|not an IDX)"):
        read_idx(path, stream=stream, cache_dir=tmp_path / "cache")


def test_absurd_header_is_refused_without_reading(tmp_path):
    path = tmp_path / "huge.idx.gz"
    path.write_bytes(_gz(bytes([0, 0, 0x0E, 3]) + struct.pack(">3I", 2**31, 2**31, 2**20)))
    with pytest.raises(DataError, match="huge.idx.gz: header declares"):
        read_idx(path)


def test_image_label_count_mismatch(tmp_path, write_raw):
    images = write_raw(tmp_path / "img.idx", GOOD)
    labels = write_raw(tmp_path / "lbl.idx", np.arange(3, dtype=np.uint8))
    with pytest.raises(DataError, match=r"lbl.idx: 3 labels for the 2 images in .*img.idx"):
        IDXDataset(images, labels)


def test_missing_file(tmp_path):
    for name in ("nope.idx", "nope.idx.gz"):
        with pytest.raises(DataError, match=f"{name}: I/O error on IDX file .*No such file"):
            read_idx(tmp_path / name)
