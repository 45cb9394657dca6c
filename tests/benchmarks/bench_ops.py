"""Forward+backward time of small ops: this engine vs raw NumPy (hand-written backward) vs PyTorch.

Run: python tests/benchmarks/bench_ops.py [--runs 3] [--repeats 7] [--iters 300]
Not collected by pytest. Prints one table; "overhead" is time above the NumPy equivalent, and
"ratio" is our overhead over PyTorch's (target: within 2x).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

import engine as en

try:
    import torch
except ImportError:
    torch = None


def _time(fn: Callable[[], object], iters: int, repeats: int) -> float:
    """Median over repeats of the mean time per call, in microseconds."""
    for _ in range(max(5, iters // 10)):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        samples.append((time.perf_counter() - start) / iters * 1e6)
    return statistics.median(samples)


def _cases() -> dict[str, dict[str, Callable[[], object]]]:
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((64, 128), dtype=np.float32) for _ in range(2))
    x = rng.standard_normal((64, 784), dtype=np.float32)
    w = rng.standard_normal((784, 128), dtype=np.float32) * 0.05
    g = np.ones((64, 128), dtype=np.float32)

    def numpy_cases() -> dict[str, Callable[[], object]]:
        def add():
            out = a + b
            return out, g.copy(), g.copy()

        def mul():
            return a * b, g * b, g * a

        def relu():
            mask = a > 0
            return a * mask, g * mask

        def sum_():
            out = a.sum()
            return out, np.broadcast_to(np.float32(1.0), a.shape).copy()

        def matmul():
            return x @ w, g @ w.T, x.T @ g

        return {"add": add, "mul": mul, "relu": relu, "sum": sum_, "matmul": matmul}

    def framework_cases(lib) -> dict[str, Callable[[], object]]:
        def leaf(arr):
            return lib.tensor(arr, requires_grad=True)

        ta, tb, tx, tw = leaf(a), leaf(b), leaf(x), leaf(w)
        tg = lib.tensor(g)

        def step(out, *leaves, grad=tg):
            for t in leaves:
                t.grad = None  # zero_grad(set_to_none=True)
            out.backward(grad)

        return {
            "add": lambda: step(ta + tb, ta, tb),
            "mul": lambda: step(ta * tb, ta, tb),
            "relu": lambda: step(ta.relu(), ta),
            "sum": lambda: step(ta.sum(), ta, grad=None),
            "matmul": lambda: step(tx @ tw, tx, tw),
        }

    cases = {"numpy": numpy_cases(), "engine": framework_cases(en)}
    if torch is not None:
        cases["torch"] = framework_cases(torch)
    return cases


def main() -> None:
    """Time every op in every library and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--runs", type=int, default=1, help="whole runs; cells are their median")
    args = parser.parse_args()
    cases = _cases()
    names = {"add": "add 64x128", "mul": "mul 64x128", "relu": "relu 64x128",
             "sum": "sum 64x128", "matmul": "matmul 64x784@784x128"}
    threads = f", torch threads {torch.get_num_threads()}" if torch is not None else ""
    print(f"forward+backward, us per call, median of {args.repeats} x {args.iters}{threads}"
          f"{f', median of {args.runs} runs' if args.runs > 1 else ''}")
    header = f"{'op':<24}{'numpy':>9}{'engine':>9}{'torch':>9}{'ours-np':>9}{'torch-np':>9}"
    print(header + f"{'ratio':>8}{'ours/torch':>11}")
    libs = [lib for lib in ("numpy", "engine", "torch") if lib in cases]
    runs = [{(lib, op): _time(cases[lib][op], args.iters, args.repeats)
             for op in names for lib in libs} for _ in range(args.runs)]
    cell = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    for op, label in names.items():
        t_np, t_en = cell["numpy", op], cell["engine", op]
        t_th = cell.get(("torch", op), float("nan"))
        ours, theirs = t_en - t_np, t_th - t_np
        ratio = f"{ours / theirs:8.2f}" if theirs > 0 else f"{'n/a':>8}"
        print(f"{label:<24}{t_np:9.1f}{t_en:9.1f}{t_th:9.1f}{ours:9.1f}{theirs:9.1f}{ratio}"
              f"{t_en / t_th:11.2f}")


if __name__ == "__main__":
    main()
