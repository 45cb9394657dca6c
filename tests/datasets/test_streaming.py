"""Streaming a >= 150 MB IDX file: bounded memory, and the same batches as loading it."""

from __future__ import annotations

import hashlib
import tracemalloc

import numpy as np

from datasets import DataLoader, IDXDataset, idx_header
from datasets import transforms as T

N = 201_000  # 201000 x 28 x 28 bytes = 157.6 MB > 150 MiB


def write_big(path, rng) -> None:
    """Write the images file chunk by chunk, so the test itself never holds it all."""
    with open(path, "wb") as f:
        f.write(idx_header(np.uint8, (N, 28, 28)))
        for start in range(0, N, 20_000):
            n = min(20_000, N - start)
            f.write(rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8).tobytes())


def digest_pass(loader) -> list[str]:
    """One hash per batch (images and labels), so two passes compare without storing them."""
    out = []
    for x, y in loader:
        h = hashlib.blake2b(digest_size=16)
        h.update(memoryview(x.numpy()).cast("B"))
        h.update(memoryview(y.numpy()).cast("B"))
        out.append(h.hexdigest())
    return out


def test_stream_pass_is_bounded_and_matches_in_memory(tmp_path):
    rng = np.random.default_rng(0)
    images, labels = tmp_path / "big-images.idx", tmp_path / "big-labels.idx"
    write_big(images, rng)
    with open(labels, "wb") as f:
        f.write(idx_header(np.uint8, (N,)) + (np.arange(N) % 10).astype(np.uint8).tobytes())
    assert images.stat().st_size >= 150 * 2**20
    tf = T.Compose([T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize((0.5,), (0.25,))])

    tracemalloc.start()
    try:
        streamed = IDXDataset(images, labels, transform=tf, stream=True)
        assert isinstance(streamed.images, np.memmap)
        stream_hashes = digest_pass(DataLoader(streamed, 1000, shuffle=True, seed=9))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20, f"tracemalloc peak {peak / 2**20:.1f} MiB"
    assert len(stream_hashes) == 201

    loaded = IDXDataset(images, labels, transform=tf, stream=False)
    assert not isinstance(loaded.images, np.memmap)
    assert digest_pass(DataLoader(loaded, 1000, shuffle=True, seed=9)) == stream_hashes
    # Spot-check real values: a streamed record equals the bytes in the file.
    k = 123_456
    with open(images, "rb") as f:
        f.seek(16 + 784 * k)
        raw = np.frombuffer(f.read(784), np.uint8).reshape(28, 28)
    np.testing.assert_array_equal(streamed.images[k], raw)
    np.testing.assert_array_equal(streamed.data[k].numpy(), raw)  # the Tensor view agrees
