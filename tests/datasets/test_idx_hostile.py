"""Hostile IDX files: dims that overflow, headers that claim more than the file holds, labels
outside the classes, empty sets; each a one-line DataError naming the file."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

import datasets
from datasets import MNIST, DataError, read_header, read_idx


def _header(dims: tuple[int, ...], code: int = 0x08) -> bytes:
    return struct.pack(">BBBB", 0, 0, code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


# 2^16 four times is 2^64 elements: int64 arithmetic wraps that to 0 bytes.
WRAPS = (65536, 65536, 65536, 65536)


@pytest.mark.parametrize("stream", [False, True])
def test_dims_that_overflow_int64_are_refused(tmp_path, stream):
    path = tmp_path / "wrap-idx4-ubyte"
    path.write_bytes(_header(WRAPS))
    with pytest.raises(DataError, match=r"IDX dimensions 65536x65536x65536x65536 uint8 "
                                        r"overflow: 18446744073709551616 bytes") as info:
        read_idx(path, stream=stream)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_overflowing_float_dims_in_gzip_are_refused(tmp_path):
    path = tmp_path / "wrap-idx4-float.gz"
    path.write_bytes(gzip.compress(_header((2**31, 2**31, 2**31, 8), code=0x0E), mtime=0))
    with pytest.raises(DataError, match="more than a .*-byte gzip file can hold"):
        read_idx(path, stream=True, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_gzip_header_claiming_more_than_it_can_hold(tmp_path):
    path = tmp_path / "big-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_header((60000, 280, 280)), mtime=0))
    with pytest.raises(DataError, match=r"60000x280x280 uint8 = 4704000000 bytes, more than a "
                                        r"\d+-byte gzip file can hold"):
        read_header(path)


def test_a_real_header_in_a_small_gzip_still_reads(tmp_path):
    # Zeros compress about 1000:1, the bound's limit: a legitimate file must pass.
    arr = np.zeros((200, 28, 28), np.uint8)
    path = tmp_path / "zeros-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_header(arr.shape) + arr.tobytes(), compresslevel=9, mtime=0))
    np.testing.assert_array_equal(read_idx(path), arr)


def test_check_idx_file_finds_a_flipped_crc(tmp_path, encode_idx):
    body = bytearray(gzip.compress(encode_idx(np.arange(50, dtype=np.uint8)), mtime=0))
    body[-5] ^= 0xFF  # inside the stored CRC-32
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(bytes(body))
    with pytest.raises(DataError, match=r"x-idx1-ubyte.gz: corrupt gzip data \(CRC check"):
        datasets.check_idx_file(path)


def test_check_idx_file_on_a_temp_name_reports_the_final_name(tmp_path, encode_idx):
    path = tmp_path / ".x.gz.abc.part"
    path.write_bytes(gzip.compress(encode_idx(np.arange(5, dtype=np.uint8)) + b"extra", mtime=0))
    with pytest.raises(DataError, match=r"^x.gz: unexpected bytes after the 5 bytes"):
        datasets.check_idx_file(path, gz=True, shown="x.gz")
    header = datasets.check_idx_file(_ok(tmp_path, encode_idx))
    assert header.shape == (3, 2)


def _ok(tmp_path, encode_idx):
    path = tmp_path / "ok-idx2.gz"
    path.write_bytes(gzip.compress(encode_idx(np.ones((3, 2), np.int16)), mtime=0))
    return path


def _mnist_files(root, write_raw, images, labels):
    for prefix in ("train", "t10k"):
        write_raw(root / f"{prefix}-images-idx3-ubyte", images)
        write_raw(root / f"{prefix}-labels-idx1-ubyte", labels)


def test_label_200_names_file_and_record_at_load(tmp_path, write_raw, mnist_like):
    images, labels = mnist_like(12)
    labels[7] = 200
    _mnist_files(tmp_path, write_raw, images, labels)
    with pytest.raises(DataError) as info:
        MNIST(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'train-labels-idx1-ubyte'}: record 7: label 200 is outside the 10 classes "
        "(0-9); 1 such record(s); the file is corrupt or from another data set")


def test_negative_and_float_labels_are_refused(tmp_path, write_raw, mnist_like):
    images, _ = mnist_like(4)
    _mnist_files(tmp_path, write_raw, images, np.array([0, 1, -3, 2], np.int16))
    with pytest.raises(DataError, match="record 2: label -3 is outside"):
        MNIST(tmp_path)
    _mnist_files(tmp_path, write_raw, images, np.array([0, 1, 2, 3], np.float32))
    with pytest.raises(DataError, match="labels are float32, expected integer class indices"):
        MNIST(tmp_path)


def test_empty_set_is_refused(tmp_path, write_raw):
    _mnist_files(tmp_path, write_raw, np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))
    with pytest.raises(DataError) as info:
        MNIST(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'train-images-idx3-ubyte'}: the IDX file "
                                      "holds 0 images")


def test_images_with_a_zero_side_are_refused(tmp_path, write_raw, mnist_like):
    _, labels = mnist_like(10)
    _mnist_files(tmp_path, write_raw, np.zeros((10, 0, 28), np.uint8), labels)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: images are 0x28 pixels"):
        MNIST(tmp_path)
