"""Hostile downloads against a local server: kills, bodies without a digest, slow servers,
malformed digests and damaged files already on disk."""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from datasets import MNIST, DataError, download_file
from datasets.download import check_digest

IMAGES = "train-images-idx3-ubyte.gz"
LABELS = "train-labels-idx1-ubyte.gz"


@pytest.fixture
def served(mirror, mnist_like, encode_idx):
    """MNIST-named train files on the mirror; returns (images, labels)."""
    images, labels = mnist_like(30, seed=1)
    mirror.files[IMAGES] = gzip.compress(encode_idx(images), mtime=0)
    mirror.files[LABELS] = gzip.compress(encode_idx(labels), mtime=0)
    return images, labels


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_part_file_of_a_killed_download_is_removed_next_time(tmp_path, mirror, served):
    mirror.trickle_s, mirror.trickle_max = 0.05, 10**6
    code = ("import sys; from datasets import download_file; "
            "download_file(sys.argv[1], sys.argv[2], [sys.argv[3]], timeout=5, progress=False)")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen([sys.executable, "-c", code, IMAGES, str(tmp_path),
                             mirror.url("trickle")], env=env)
    try:
        for _ in range(200):  # bounded: 20 s at most
            if any(n.endswith(".part") for n in _names(tmp_path)):
                break
            time.sleep(0.1)
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    parts = [n for n in _names(tmp_path) if n.endswith(".part")]
    assert len(parts) == 1 and parts[0].startswith(f".{IMAGES}.")
    path = download_file(IMAGES, tmp_path, [mirror.url("good")], progress=False)
    assert _names(tmp_path) == [IMAGES]
    assert path.read_bytes() == mirror.files[IMAGES]


def test_part_file_of_a_live_download_is_kept(tmp_path):
    from datasets.download import clean_partial

    live = tmp_path / f".{IMAGES}.abcd1234.part"
    stale = tmp_path / f".{IMAGES}.efgh5678.part"
    other = tmp_path / f".{LABELS}.ijkl9012.part"
    for p in (live, stale, other):
        p.write_bytes(b"x")
    with open(live, "rb") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        assert clean_partial(tmp_path, IMAGES) == [stale]
    assert _names(tmp_path) == sorted([live.name, other.name])


@pytest.mark.parametrize("mode", ["short", "junk"])
def test_without_digest_a_bad_body_never_takes_the_final_name(tmp_path, mirror, served, mode):
    with pytest.raises(DataError, match="corrupt gzip data") as info:
        download_file(IMAGES, tmp_path, [mirror.url(mode)], progress=False)
    assert "\n" not in str(info.value)
    assert _names(tmp_path) == []


def test_without_digest_a_wrong_idx_body_is_refused(tmp_path, mirror, encode_idx):
    # A valid gzip whose IDX header declares more than it holds.
    body = bytearray(encode_idx(np.zeros((4, 28, 28), np.uint8)))
    body[7] = 9  # 9 images declared, 4 present
    mirror.files[IMAGES] = gzip.compress(bytes(body), mtime=0)
    mirror.files[LABELS] = gzip.compress(encode_idx(np.zeros(4, np.uint8)), mtime=0)
    with pytest.raises(DataError, match=f"{IMAGES}: truncated IDX data"):
        MNIST(tmp_path, download=True, mirrors=[mirror.url("good")], checksums={},
              progress=False)
    assert _names(tmp_path / "MNIST" / "raw") == []


def test_a_trickling_server_fails_at_the_deadline(tmp_path, mirror, served):
    mirror.trickle_s = 0.1  # every byte well within the 1 s socket timeout
    start = time.monotonic()
    with pytest.raises(DataError, match="deadline passed after") as info:
        download_file(IMAGES, tmp_path, [mirror.url("trickle")], timeout=1, deadline=1.0,
                      progress=False)
    assert time.monotonic() - start < 4  # 200 bytes at 0.1 s would take 20 s
    assert "the 1 s deadline" in str(info.value)
    assert _names(tmp_path) == []


def test_the_default_deadline_is_a_multiple_of_the_timeout(tmp_path, mirror, served):
    start = time.monotonic()
    with pytest.raises(DataError, match="deadline passed"):
        download_file(IMAGES, tmp_path, [mirror.url("trickle")], timeout=0.2, progress=False)
    assert time.monotonic() - start < 5  # 10 x 0.2 s, not the 20 s of the whole body


@pytest.mark.parametrize("digest", ["abc", "z" * 32, "0" * 40, 12345, "é" * 32])
def test_malformed_digest_is_one_line(tmp_path, mirror, served, digest):
    with pytest.raises(DataError, match="is neither an md5 .32 hex digits. nor a sha256") as info:
        download_file(IMAGES, tmp_path, [mirror.url("good")], digest, progress=False)
    assert "\n" not in str(info.value) and str(info.value).startswith(IMAGES)
    with pytest.raises(DataError, match="is neither an md5"):
        MNIST(tmp_path, download=True, mirrors=[mirror.url("good")],
              checksums={IMAGES: digest}, progress=False)
    assert sum(mirror.requests.values()) == 0  # refused before any request


def test_check_digest_refuses_a_malformed_digest(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    with pytest.raises(DataError, match="neither an md5"):
        check_digest(tmp_path / "f", "xyz")
    assert check_digest(tmp_path / "f", hashlib.md5(b"abc").hexdigest().upper())


@pytest.mark.parametrize("pinned", [True, False])
def test_existing_truncated_file_is_downloaded_again(tmp_path, mirror, served, pinned):
    images, _ = served
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / IMAGES).write_bytes(mirror.files[IMAGES][:100])
    (raw / LABELS).write_bytes(mirror.files[LABELS])
    sums = {n: hashlib.md5(b).hexdigest() for n, b in mirror.files.items()} if pinned else {}
    ds = MNIST(tmp_path, download=True, mirrors=[mirror.url("good")], checksums=sums,
               progress=False)
    np.testing.assert_array_equal(ds.data, images)
    assert (raw / IMAGES).read_bytes() == mirror.files[IMAGES]
    assert mirror.requests[f"/good/{IMAGES}"] == 1 and mirror.requests[f"/good/{LABELS}"] == 0


def test_existing_truncated_file_without_download_names_the_file(tmp_path, mirror, served):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / IMAGES).write_bytes(mirror.files[IMAGES][:100])
    (raw / LABELS).write_bytes(mirror.files[LABELS])
    with pytest.raises(DataError, match=f"{raw / IMAGES}: corrupt gzip data"):
        MNIST(tmp_path, download=False)


def test_redirect_loop_is_one_line(tmp_path, mirror, served):
    with pytest.raises(DataError, match="HTTP Error 302: .* infinite loop") as info:
        download_file(IMAGES, tmp_path, [mirror.url("loop")], progress=False)
    assert "\n" not in str(info.value)


def test_empty_mirror_list_says_so(tmp_path):
    with pytest.raises(DataError, match=r"tried no mirror \(the mirror list is empty\)$"):
        download_file(IMAGES, tmp_path, [], progress=False)


@pytest.mark.parametrize("name", ["../escape.gz", "a/b.gz", "", ".."])
def test_file_name_must_be_one_component(tmp_path, mirror, name):
    with pytest.raises(DataError, match="must be one path component"):
        download_file(name, tmp_path / "inner", [mirror.url("good")], progress=False)
    assert sum(mirror.requests.values()) == 0 and not (tmp_path / "inner").exists()


def test_root_that_is_a_file_is_one_line(tmp_path, mirror):
    root = tmp_path / "afile"
    root.write_bytes(b"x")
    with pytest.raises(DataError, match=r"MNIST: cannot create the download folder .*afile/"
                                        r"MNIST/raw \(Not a directory\)"):
        MNIST(root, download=True, mirrors=[mirror.url("good")], progress=False)
    with pytest.raises(DataError, match="checksums must be a dict"):
        MNIST(tmp_path, download=True, mirrors=[mirror.url("good")], checksums=["x"])
