"""Loader throughput: this DataLoader against torch's, batch 64 over 60000 x 28 x 28 uint8.

Run: python tests/benchmarks/bench_loader.py [--runs 5]

Ours reads the images from an in-memory IDX data set with ToTensor + Normalize (the batched
path). Torch's DataLoader (num_workers=0) iterates a TensorDataset of the same uint8 array and
applies the same arithmetic to each collated batch, which is the cheapest way torch can do it
(with one intra-op thread, its fastest setting at this size).
Each run is one shuffled epoch (938 batches), runs interleaved; the figure is the median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from datasets import DataLoader, IDXDataset, write_idx  # noqa: E402
from datasets import transforms as T  # noqa: E402

N, BATCH, MEAN, STD = 60000, 64, 0.1307, 0.3081


def epoch_rate(batches) -> float:
    """Batches per second for one pass."""
    start, n = time.perf_counter(), 0
    for _ in batches:
        n += 1
    return n / (time.perf_counter() - start)


def our_loader(images: np.ndarray, labels: np.ndarray, prefetch: int) -> DataLoader:
    with tempfile.TemporaryDirectory() as tmp:
        img = write_idx(Path(tmp) / "images.idx", images)
        lbl = write_idx(Path(tmp) / "labels.idx", labels)
        tf = T.Compose([T.ToTensor(), T.Normalize((MEAN,), (STD,))])
        ds = IDXDataset(img, lbl, transform=tf, stream=False)
    return DataLoader(ds, batch_size=BATCH, shuffle=True, seed=0, prefetch=prefetch)


def torch_epochs(images: np.ndarray, labels: np.ndarray):
    """A callable returning one epoch of torch batches with the same preprocessing."""
    import torch
    from torch.utils.data import DataLoader as TorchLoader
    from torch.utils.data import TensorDataset

    # One intra-op thread: torch's fastest setting for 64-image ops, and no spinning pool
    # threads competing with the loader being measured.
    torch.set_num_threads(1)
    ds = TensorDataset(torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)))
    loader = TorchLoader(ds, batch_size=BATCH, shuffle=True, num_workers=0)

    def batches():
        for x, y in loader:
            yield (x.float().div(255).unsqueeze(1) - MEAN) / STD, y

    return batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(N, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=N).astype(np.uint8)

    contenders = {
        "ours (prefetch=2)": our_loader(images, labels, prefetch=2).__iter__,
        "ours (prefetch=0)": our_loader(images, labels, prefetch=0).__iter__,
    }
    try:
        contenders["torch DataLoader"] = torch_epochs(images, labels)
    except ImportError:
        print("torch is not installed: no baseline")
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for epoch in contenders.values():
        epoch_rate(epoch())  # warm-up
    # Interleaved, so a busy machine slows every contender alike.
    for _ in range(args.runs):
        for name, epoch in contenders.items():
            results[name].append(epoch_rate(epoch()))
    medians = {k: statistics.median(v) for k, v in results.items()}
    for name, rates in results.items():
        runs = ", ".join(f"{r:.0f}" for r in rates)
        print(f"{name:20s} median {medians[name]:8.0f} batches/s   runs: {runs}")
    if "torch DataLoader" in medians:
        base = medians["torch DataLoader"]
        for name in ("ours (prefetch=2)", "ours (prefetch=0)"):
            print(f"ratio {name} / torch: {medians[name] / base:.2f}x (target >= 3x)")


if __name__ == "__main__":
    main()
