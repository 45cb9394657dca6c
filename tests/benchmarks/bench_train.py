"""Epoch time: this engine against PyTorch (CPU) for the zoo's MLP and SmallCNN, and eval speed.

Run: python tests/benchmarks/bench_train.py [--repeats 3] [--epoch-fraction 1.0] [--threads 1]

One epoch = every batch of 64 of the 60000 training images (the last one partial), in a fixed
shuffled order, each a forward, cross-entropy, zero_grad, backward and Adam(1e-3) step, the same
in both libraries from the same weights. Data is Fashion-MNIST from
/usr/share/datasets/fashion-mnist/ when installed, else synthetic of the same shape; it is held
in memory as normalised float32. Repeats alternate between the libraries; figures are medians.
--threads (default 1, what the CLI picks on a 2-core machine) sets BLAS and torch threads.
Eval: 10000 images at batch 1000 under no_grad, in eval mode.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

_THREADS = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
if __name__ == "__main__":  # BLAS reads this once, when numpy is imported
    os.environ.update(OPENBLAS_NUM_THREADS=_THREADS, OMP_NUM_THREADS=_THREADS,
                      MKL_NUM_THREADS=_THREADS)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train_step import torch_twin  # noqa: E402

import engine as en  # noqa: E402
from engine import nn, optim  # noqa: E402
from trainer.zoo import MLP, SmallCNN  # noqa: E402

BATCH, EVAL_BATCH, EVAL_IMAGES = 64, 1000, 10000
DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
# Multiply-adds x 2 per sample of one forward pass (conv: out cells x in-channels x kernel).
FORWARD_FLOP = {
    "mlp": 2 * (784 * 128 + 128 * 10),
    "cnn": 2 * (28 * 28 * 16 * 9 + 14 * 14 * 32 * 16 * 9 + 1568 * 128 + 128 * 10),
}


def _find(stem: str) -> Path | None:
    """DATA_DIR/<stem>-ubyte, plain or gzipped, if installed."""
    return next((p for gz in ("", ".gz") if (p := DATA_DIR / f"{stem}-ubyte{gz}").exists()), None)


def _normalised(images: np.ndarray) -> np.ndarray:
    return ((images.astype(np.float32)[:, None] / 255.0 - 0.2860) / 0.3530).astype(np.float32)


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """(train images (60000,1,28,28) normalised float32 in a fixed shuffled order, labels int64,
    10000 eval images (the test set when installed), where they came from)."""
    images, labels, test = (_find(s) for s in ("train-images-idx3", "train-labels-idx1",
                                               "t10k-images-idx3"))
    if images and labels:
        from datasets.idx import read_idx

        x, y = _normalised(read_idx(images)), read_idx(labels).astype(np.int64)
        x_eval = _normalised(read_idx(test)) if test else x
        source = str(DATA_DIR)
    else:
        rng = np.random.default_rng(0)
        x = _normalised(rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8))
        y = rng.integers(0, 10, 60000).astype(np.int64)
        x_eval, source = x, "synthetic (Fashion-MNIST not installed)"
    order = np.random.default_rng(1).permutation(len(x))
    return (np.ascontiguousarray(x[order]), y[order], np.ascontiguousarray(x_eval[:EVAL_IMAGES]),
            source)


def engine_epoch(model: nn.Module, x: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()

    def epoch() -> None:
        model.train()
        for i in range(0, len(x), BATCH):
            loss = loss_fn(model(en.from_numpy(x[i:i + BATCH])), en.from_numpy(y[i:i + BATCH]))
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch


def engine_eval(model: nn.Module, x: np.ndarray) -> Callable[[], None]:
    def run() -> None:
        model.eval()
        with en.no_grad():
            for i in range(0, len(x), EVAL_BATCH):
                model(en.from_numpy(x[i:i + EVAL_BATCH])).numpy().argmax(1)

    return run


def torch_forward(name: str, model: object) -> Callable[[object], object]:
    return (lambda t: model["net"](t)) if name == "mlp" else (
        lambda t: model["classifier"](model["features"](t)))


def torch_epoch(name: str, model: object, x: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    import torch

    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    forward = torch_forward(name, model)

    def epoch() -> None:
        model.train()
        for i in range(0, len(tx), BATCH):
            loss = loss_fn(forward(tx[i:i + BATCH]), ty[i:i + BATCH])
            opt.zero_grad()
            loss.backward()
            opt.step()

    return epoch


def torch_eval(name: str, model: object, x: np.ndarray) -> Callable[[], None]:
    import torch

    tx, forward = torch.from_numpy(x), torch_forward(name, model)

    def run() -> None:
        model.eval()
        with torch.no_grad():
            for i in range(0, len(tx), EVAL_BATCH):
                forward(tx[i:i + EVAL_BATCH]).numpy().argmax(1)

    return run


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def gemm_peak() -> float:
    """Measured float32 GEMM rate (GFLOP/s) of one 1024x1024 matmul, best of 5."""
    a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    a @ a
    best = min(timed(lambda: a @ a) for _ in range(5))
    return 2 * 1024 ** 3 / best / 1e9


def alternate(ours: Callable[[], None], theirs: Callable[[], None] | None,
              repeats: int) -> tuple[float, float | None]:
    """Median seconds of each, runs alternating."""
    mine, other = [], []
    for _ in range(repeats):
        mine.append(timed(ours))
        if theirs is not None:
            other.append(timed(theirs))
    return statistics.median(mine), statistics.median(other) if other else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epoch-fraction", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads")
    parser.add_argument("--models", default="mlp,cnn", help="comma-separated: mlp, cnn")
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    x, y, x_eval, source = load_data()
    n = max(BATCH, int(len(x) * args.epoch_fraction))
    x, y = x[:n], y[:n]
    peak = gemm_peak()
    print(f"data: {source}; {n} training images per run (epoch fraction {args.epoch_fraction}), "
          f"batch {BATCH}, Adam(1e-3); {args.repeats} alternating repeats, medians; "
          f"{args.threads} thread(s)" + (f"; torch {torch.__version__}" if torch else ""))
    print(f"GEMM peak (1024^3 float32): {peak:.1f} GFLOP/s")
    print(f"{'model':5s} {'ours/s':>9s} {'torch/s':>9s} {'ratio':>6s} {'GFLOP/s':>8s} {'%peak':>6s}"
          f" | {'eval ours/s':>11s} {'torch/s':>9s} {'ratio':>6s}")
    models = {"mlp": MLP, "cnn": SmallCNN}
    for name in args.models.split(","):
        en.manual_seed(0)
        model = models[name]()
        twin = None
        if torch is not None:
            twin = torch_twin(name)
            twin.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                                  for k, v in model.state_dict().items()})
        warm = slice(0, 4 * BATCH)  # first-call costs (allocations, BLAS start) left out
        engine_epoch(model, x[warm], y[warm])()
        if twin is not None:
            torch_epoch(name, twin, x[warm], y[warm])()
        ours, theirs = alternate(engine_epoch(model, x, y),
                                 twin and torch_epoch(name, twin, x, y), args.repeats)
        ev_ours, ev_theirs = alternate(engine_eval(model, x_eval),
                                       twin and torch_eval(name, twin, x_eval), args.repeats)
        gflops = 3 * FORWARD_FLOP[name] * n / ours / 1e9  # backward ~ 2 forwards
        line = f"{name:5s} {n / ours:9.0f} "
        line += f"{n / theirs:9.0f} {ours / theirs:6.2f}" if theirs else f"{'-':>9s} {'-':>6s}"
        line += f" {gflops:8.2f} {100 * gflops / peak:6.1f} | {EVAL_IMAGES / ev_ours:11.0f} "
        line += (f"{EVAL_IMAGES / ev_theirs:9.0f} {ev_ours / ev_theirs:6.2f}" if ev_theirs
                 else f"{'-':>9s} {'-':>6s}")
        print(line, flush=True)
    print("ratio = our time / PyTorch's (below 1: faster); eval ratio likewise")


if __name__ == "__main__":
    main()
