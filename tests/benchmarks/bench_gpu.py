"""GPU epoch time: this engine on CuPy against PyTorch CUDA eager, fp32 and mixed precision.

Run (on a machine with an NVIDIA GPU, CuPy and PyTorch CUDA):
    python tests/benchmarks/bench_gpu.py [--repeats 3] [--epoch-fraction 1.0]
        [--batches 64,256] [--models mlp,cnn] [--precisions fp32,amp]

One epoch = every batch of the 60000 training images (Fashion-MNIST when installed, else
synthetic of the same shape), held on the GPU, each a forward, cross-entropy, zero_grad,
backward and Adam(1e-3) step, in both libraries from the same weights. "amp" is float16
autocast with dynamic loss scaling (engine.amp / torch.amp). Repeats alternate between the
libraries; figures are medians; each timing ends with a device synchronize. The first steps of
each configuration (CuPy compiles its kernels on first use, cached on disk afterwards) are run
before timing and reported apart as warm-up seconds.

--stand-in runs the script on the CPU through the tests' CuPy stand-in: its timings mean
nothing; it checks that the script itself works where there is no GPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import load_data, torch_forward  # noqa: E402
from bench_train_step import torch_twin  # noqa: E402

import engine as en  # noqa: E402
from engine import nn, optim  # noqa: E402
from trainer.zoo import MLP, SmallCNN  # noqa: E402

WARM_STEPS = 8


def engine_epoch(model: nn.Module, x: en.Tensor, y: en.Tensor, batch: int, amp: bool,
                 steps: int | None = None) -> Callable[[], None]:
    """One epoch (or its first `steps` batches) of our training on the GPU."""
    opt = optim.Adam(model.parameters(), lr=1e-3)
    scaler = en.amp.GradScaler("cuda", enabled=amp)
    loss_fn = nn.CrossEntropyLoss()
    stop = len(x) if steps is None else min(len(x), steps * batch)

    def epoch() -> None:
        model.train()
        for i in range(0, stop, batch):
            with en.amp.autocast("cuda", dtype=en.float16, enabled=amp):
                loss = loss_fn(model(x[i:i + batch]), y[i:i + batch])
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        en.cuda.synchronize()

    return epoch


def torch_epoch(name: str, model: object, x: object, y: object, batch: int, amp: bool,
                steps: int | None = None) -> Callable[[], None]:
    """The same epoch in PyTorch CUDA eager."""
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    loss_fn = torch.nn.CrossEntropyLoss()
    forward = torch_forward(name, model)
    stop = len(x) if steps is None else min(len(x), steps * batch)

    def epoch() -> None:
        model.train()
        for i in range(0, stop, batch):
            with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
                loss = loss_fn(forward(x[i:i + batch]), y[i:i + batch])
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        torch.cuda.synchronize()

    return epoch


def timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def torch_cuda() -> object | None:
    """The torch module when it sees a CUDA GPU, else None (ours is timed alone)."""
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def run_config(name: str, batch: int, amp: bool, x_host: np.ndarray, y_host: np.ndarray,
               torch: object | None, repeats: int) -> dict[str, float | None]:
    """Warm-up and median epoch seconds of both libraries for one configuration."""
    en.manual_seed(0)
    model = {"mlp": MLP, "cnn": SmallCNN}[name]()
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    model.to("cuda")
    x, y = en.tensor(x_host).to("cuda"), en.tensor(y_host).to("cuda")
    warm = timed(engine_epoch(model, x, y, batch, amp, steps=WARM_STEPS))
    ours_fn = engine_epoch(model, x, y, batch, amp)
    theirs_fn, warm_theirs = None, None
    if torch is not None:
        twin = torch_twin(name)
        twin.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        twin.cuda()
        tx, ty = torch.from_numpy(x_host).cuda(), torch.from_numpy(y_host).cuda()
        warm_theirs = timed(torch_epoch(name, twin, tx, ty, batch, amp, steps=WARM_STEPS))
        theirs_fn = torch_epoch(name, twin, tx, ty, batch, amp)
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(timed(ours_fn))
        if theirs_fn is not None:
            theirs.append(timed(theirs_fn))
    return {"ours": statistics.median(ours), "theirs": statistics.median(theirs) if theirs
            else None, "warm": warm, "warm_theirs": warm_theirs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epoch-fraction", type=float, default=1.0)
    parser.add_argument("--batches", default="64,256", help="comma-separated batch sizes")
    parser.add_argument("--models", default="mlp,cnn", help="comma-separated: mlp, cnn")
    parser.add_argument("--precisions", default="fp32,amp", help="comma-separated: fp32, amp")
    parser.add_argument("--stand-in", action="store_true",
                        help="run on the tests' CuPy stand-in (CPU; checks the script only)")
    args = parser.parse_args()
    torch = None
    if args.stand_in:
        import fake_cupy

        en.backend._use_cupy_module(fake_cupy)
    else:
        if not en.cuda.is_available():
            sys.exit("bench_gpu: no CUDA GPU visible to CuPy (use --stand-in to check the script)")
        torch = torch_cuda()
    x, y, _, source = load_data()
    n = max(64, int(len(x) * args.epoch_fraction))
    x, y = x[:n], y[:n]
    gpu = en.cuda.get_device_name(0)
    print(f"data: {source}; {n} training images per epoch; Adam(1e-3); GPU {gpu}; "
          f"{args.repeats} alternating repeats, medians"
          + (f"; torch {torch.__version__}" if torch else "; PyTorch CUDA absent: ours only"))
    print(f"{'model':5s} {'batch':>5s} {'prec':>4s} {'ours s':>8s} {'torch s':>8s} {'ratio':>6s}"
          f" {'ours/s':>9s} {'torch/s':>9s} {'warm s':>7s} {'t.warm':>7s}")
    results: dict[tuple[str, int, str], dict[str, float | None]] = {}
    for name in args.models.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            for prec in args.precisions.split(","):
                r = run_config(name, batch, prec == "amp", x, y, torch, args.repeats)
                results[name, batch, prec] = r
                ours, theirs = r["ours"], r["theirs"]
                line = f"{name:5s} {batch:5d} {prec:>4s} {ours:8.3f} "
                line += (f"{theirs:8.3f} {ours / theirs:6.2f}" if theirs else f"{'-':>8s} "
                         f"{'-':>6s}")
                line += f" {n / ours:9.0f} " + (f"{n / theirs:9.0f}" if theirs else f"{'-':>9s}")
                line += f" {r['warm']:7.2f} " + (f"{r['warm_theirs']:7.2f}" if theirs
                                                 else f"{'-':>7s}")
                print(line, flush=True)
    print("ratio = our epoch time / PyTorch CUDA eager's (below 1: faster)")
    for (name, batch, prec), r in results.items():
        fp32 = results.get((name, batch, "fp32"))
        if prec == "amp" and fp32:
            speed = fp32["ours"] / r["ours"]
            line = f"AMP speed-up {name} batch {batch}: ours {speed:.2f}x"
            if r["theirs"] and fp32["theirs"]:
                line += f", torch {fp32['theirs'] / r['theirs']:.2f}x"
            print(line)


if __name__ == "__main__":
    main()
