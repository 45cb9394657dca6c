"""Downloads against a local HTTP server: success, bad checksum, failover, all down, cut."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest

from datasets import MNIST, DataError, download_file

NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


@pytest.fixture
def served(mirror, mnist_like, encode_idx):
    """Generated MNIST-named .gz files on the mirror; returns (images, labels, md5 sums)."""
    images, labels = mnist_like(30, seed=4)
    test_images, test_labels = mnist_like(10, seed=5)
    for name, arr in zip(NAMES, [images, labels, test_images, test_labels], strict=True):
        mirror.files[name] = gzip.compress(encode_idx(arr), mtime=0)
    sums = {n: hashlib.md5(b).hexdigest() for n, b in mirror.files.items()}
    return images, labels, sums


def leftovers(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_download_success_and_reuse(tmp_path, mirror, served):
    images, labels, sums = served
    ds = MNIST(tmp_path, download=True, mirrors=[mirror.url("good")], checksums=sums,
               progress=False)
    np.testing.assert_array_equal(ds.data, images)
    np.testing.assert_array_equal(ds.targets, labels.astype(np.int64))
    raw = tmp_path / "MNIST" / "raw"
    assert leftovers(raw) == sorted(NAMES[:2])
    assert (raw / NAMES[0]).read_bytes() == mirror.files[NAMES[0]]
    test = MNIST(tmp_path, train=False, download=True, mirrors=[mirror.url("good")],
                 checksums=sums, progress=False)
    assert len(test) == 10 and leftovers(raw) == sorted(NAMES)
    before = sum(mirror.requests.values())
    MNIST(tmp_path, download=True, mirrors=[mirror.url("good")], checksums=sums)
    assert sum(mirror.requests.values()) == before  # found locally, nothing fetched


def test_sha256_checksums_are_accepted(tmp_path, mirror, served):
    sha = {n: hashlib.sha256(b).hexdigest() for n, b in mirror.files.items()}
    path = download_file(NAMES[1], tmp_path, [mirror.url("good")], sha[NAMES[1]],
                         progress=False)
    assert path.read_bytes() == mirror.files[NAMES[1]]


def test_checksum_mismatch_leaves_nothing(tmp_path, mirror, served):
    *_, sums = served
    with pytest.raises(DataError, match="checksum mismatch") as info:
        MNIST(tmp_path, download=True, mirrors=[mirror.url("bad")], checksums=sums,
              progress=False)
    assert "expected " + sums[NAMES[0]] in str(info.value)
    assert leftovers(tmp_path) == []
    assert mirror.requests[f"/bad/{NAMES[0]}"] == 2  # the first try and one retry


def test_first_mirror_down_second_up(tmp_path, mirror, served, dead_url):
    images, _, sums = served
    ds = MNIST(tmp_path, download=True, mirrors=[dead_url, mirror.url("missing"),
                                                 mirror.url("good")],
               checksums=sums, progress=False)
    np.testing.assert_array_equal(ds.data, images)
    assert mirror.requests[f"/missing/{NAMES[0]}"] == 2


def test_all_mirrors_down_gives_one_message(tmp_path, mirror, served, dead_url, monkeypatch):
    *_, sums = served
    keras_dir = tmp_path / "home" / ".keras" / "datasets"
    monkeypatch.setenv("KERAS_HOME", str(keras_dir.parent))
    mirrors = [dead_url, mirror.url("missing")]
    with pytest.raises(DataError) as info:
        MNIST(tmp_path, download=True, mirrors=mirrors, checksums=sums, progress=False)
    msg = str(info.value)
    assert msg == (f"MNIST: train-images-idx3-ubyte.gz and 1 more not in {tmp_path}/MNIST(/raw), "
                   f"{tmp_path}, {keras_dir}/mnist.npz; download failed "
                   "(Connection refused; HTTP Error 404: Not Found)")
    # Each mirror's URL and error stay on the exception (trainer --debug shows them).
    assert info.value.tried[0].startswith(f"{dead_url}train-images-idx3-ubyte.gz (")
    assert info.value.tried[1] == (f"{mirror.url('missing')}train-images-idx3-ubyte.gz "
                                   "(HTTP Error 404: Not Found)")
    assert info.value.missing == NAMES[:2]
    assert leftovers(tmp_path) == []


def test_connection_cut_mid_file_leaves_no_partial_file(tmp_path, mirror, served):
    *_, sums = served
    with pytest.raises(DataError, match=r"connection closed after \d+ of \d+ bytes"):
        MNIST(tmp_path, download=True, mirrors=[mirror.url("cut")], checksums=sums,
              progress=False)
    assert leftovers(tmp_path) == []


def test_cut_once_then_retry_succeeds(tmp_path, mirror, served):
    images, _, sums = served
    ds = MNIST(tmp_path, download=True, mirrors=[mirror.url("flaky")], checksums=sums,
               progress=False)
    np.testing.assert_array_equal(ds.data, images)
    assert mirror.requests[f"/flaky/{NAMES[0]}"] == 2


def test_missing_files_without_download(tmp_path):
    with pytest.raises(DataError) as info:
        MNIST(tmp_path)
    msg = str(info.value)
    assert msg.startswith("MNIST: files train-images-idx3-ubyte(.gz), train-labels-idx1-ubyte(.gz)"
                          f" not found in {tmp_path / 'MNIST' / 'raw'}")
    assert "download=True" in msg and "\n" not in msg
