"""Forward+backward time of recurrent layers: fused sequence ops vs a per-step composition of
small ops vs PyTorch, at the zoo lstm's size (batch 64, 28 steps of 28 features, hidden 128).

Run: python tests/benchmarks/bench_rnn.py [--repeats 15]
Not collected by pytest. Prints milliseconds per forward+backward (minimum over repeats, which is
the least disturbed by other work on the machine) and the ratio to PyTorch.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

import engine as en
import engine.nn.functional as F
from engine import nn

try:
    import torch
except ImportError:
    torch = None

BATCH, STEPS, FEATURES, HIDDEN = 64, 28, 28, 128


def _best_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return min(samples) * 1e3


def _composed_lstm(m: nn.LSTM, x: en.Tensor) -> en.Tensor:
    """The alternative to the fused op: ~15 small ops per time step."""
    size = HIDDEN
    xproj = F.linear(x.transpose(0, 1), m.weight_ih_l0, m.bias_ih_l0)
    h = c = en.zeros(BATCH, size)
    for t in range(STEPS):
        g = xproj[t] + F.linear(h, m.weight_hh_l0, m.bias_hh_l0)
        i, f = g[:, :size].sigmoid(), g[:, size:2 * size].sigmoid()
        cell, o = g[:, 2 * size:3 * size].tanh(), g[:, 3 * size:].sigmoid()
        c = f * c + i * cell
        h = o * c.tanh()
    return h


def main() -> None:
    """Print one line per layer kind."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    x = np.random.default_rng(0).standard_normal((BATCH, STEPS, FEATURES)).astype(np.float32)
    if torch is not None:
        torch.set_num_threads(2)
    for name in ("LSTM", "GRU", "RNN"):
        ours = getattr(nn, name)(FEATURES, HIDDEN, batch_first=True)

        def run_ours(ours: nn.Module = ours) -> None:
            out, _ = ours(en.tensor(x))
            out.sum().backward()

        fused = _best_ms(run_ours, args.repeats)
        line = f"{name:5s} fused {fused:7.2f} ms"
        if name == "LSTM":
            def run_composed(ours: nn.Module = ours) -> None:
                _composed_lstm(ours, en.tensor(x)).sum().backward()

            line += f" | per-step composition {_best_ms(run_composed, args.repeats):7.2f} ms"
        if torch is not None:
            theirs = getattr(torch.nn, name)(FEATURES, HIDDEN, batch_first=True)

            def run_torch(theirs: object = theirs) -> None:
                out, _ = theirs(torch.from_numpy(x))
                out.sum().backward()

            ms = _best_ms(run_torch, args.repeats)
            line += f" | torch {ms:7.2f} ms | fused/torch {fused / ms:4.2f}"
        print(line)


if __name__ == "__main__":
    main()
