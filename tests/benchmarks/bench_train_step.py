"""Training-step time: this engine against PyTorch (CPU) for the zoo's MLP and SmallCNN, batch 64.

Run: python tests/benchmarks/bench_train_step.py [--repeats 7] [--steps 20] [--threads N]
     [--optimizer sgd|adam] [--models mlp,cnn]

One step = forward, cross-entropy, zero_grad, backward and an optimizer update (SGD with momentum
0.9, or Adam 1e-3), the same in both libraries, from the same weights. Each repeat times `steps`
consecutive steps; repeats alternate between the libraries and the figure is the median per-step
time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __name__ == "__main__" and "--threads" in sys.argv:  # BLAS reads this once, at import
    _n = sys.argv[sys.argv.index("--threads") + 1]
    os.environ.update(OPENBLAS_NUM_THREADS=_n, OMP_NUM_THREADS=_n, MKL_NUM_THREADS=_n)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import engine as en  # noqa: E402
from engine import nn, optim  # noqa: E402
from trainer.zoo import MLP, SmallCNN  # noqa: E402

BATCH = 64


def torch_twin(name: str) -> object:
    """The same architecture in PyTorch, with the same state-dict keys."""
    import torch

    tnn = torch.nn
    if name == "mlp":
        net = tnn.Sequential(tnn.Flatten(), tnn.Linear(784, 128), tnn.ReLU(), tnn.Linear(128, 10))
        return tnn.ModuleDict({"net": net})
    features = tnn.Sequential(tnn.Conv2d(1, 16, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                              tnn.Conv2d(16, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2))
    classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(1568, 128), tnn.ReLU(),
                                tnn.Linear(128, 10))
    return tnn.ModuleDict({"features": features, "classifier": classifier})


def make_optimizer(lib: object, name: str, params: object) -> object:
    """The benchmark's optimizer from lib (engine.optim or torch.optim)."""
    if name == "adam":
        return lib.Adam(params, lr=1e-3)
    return lib.SGD(params, lr=0.01, momentum=0.9)


def engine_step(model: nn.Module, x: en.Tensor, y: en.Tensor,
                optimizer: str = "sgd") -> Callable[[], None]:
    opt = make_optimizer(optim, optimizer, model.parameters())
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def torch_step(name: str, model: object, x: np.ndarray, y: np.ndarray,
               optimizer: str = "sgd") -> Callable[[], None]:
    import torch

    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    opt = make_optimizer(torch.optim, optimizer, model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    forward = (lambda: model["net"](tx)) if name == "mlp" else (
        lambda: model["classifier"](model["features"](tx)))

    def step() -> None:
        loss = loss_fn(forward(), ty)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def time_steps(step: Callable[[], None], steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="BLAS/torch threads (0: default)")
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    parser.add_argument("--models", default="mlp,cnn", help="comma-separated: mlp, cnn")
    args = parser.parse_args()
    try:
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, BATCH).astype(np.int64)
    print(f"{args.optimizer}, batch {BATCH}, {args.repeats} repeats x {args.steps} steps, "
          "median ms per step"
          + (f"; torch {torch.__version__}, {torch.get_num_threads()} threads" if torch else ""))
    wanted = args.models.split(",")
    for name, cls in [m for m in (("mlp", MLP), ("cnn", SmallCNN)) if m[0] in wanted]:
        en.manual_seed(0)
        model = cls()
        ours = engine_step(model, en.tensor(x), en.tensor(y), args.optimizer)
        theirs = None
        if torch is not None:
            twin = torch_twin(name)
            twin.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                                  for k, v in model.state_dict().items()})
            theirs = torch_step(name, twin, x, y, args.optimizer)
        ours(), theirs and theirs()  # warm up
        times: dict[str, list[float]] = {"engine": [], "torch": []}
        for _ in range(args.repeats):
            times["engine"].append(time_steps(ours, args.steps))
            if theirs is not None:
                times["torch"].append(time_steps(theirs, args.steps))
        ms = {k: 1e3 * statistics.median(v) for k, v in times.items() if v}
        line = f"{name:4s} engine {ms['engine']:7.2f} ms"
        if "torch" in ms:
            line += f"   torch {ms['torch']:7.2f} ms   ratio {ms['engine'] / ms['torch']:5.2f}x"
        print(line)


if __name__ == "__main__":
    main()
