"""Helpers of the script graph's shape rules (each op's own rule lives with its registry entry).

A rule gets the input shapes (None is the batch dimension, always axis 0) and the node's
attributes, already type-checked against the op's schema by ``graph.validate``; it checks ranges
and returns the output shape plus the per-sample cost of running the node (scratch elements such as
im2col columns or padded copies, and Python-level loop iterations), so that load can refuse a
file whose attributes would allocate or loop without bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from engine.ops.pool import pool_out_size

Shape = list  # list[int | None]; None is the dynamic batch dimension
MAX_DIMS = 8


class Bad(Exception):
    """Raised by a shape rule; validate() adds the node and turns it into an ExportError."""


@dataclass
class Cost:
    """Per-sample scratch elements and Python-level loop iterations of one node."""

    scratch: int = 0
    loops: int = 0


def need(cond: bool, msg: str) -> None:
    """Raise Bad(msg) unless cond holds."""
    if not cond:
        raise Bad(msg)


def dim(d: int, ndim: int) -> int:
    """d as a dim index in 0..ndim-1; Bad when out of range."""
    need(-ndim <= d < ndim, f"dim {d} is out of range for {ndim} dims")
    return d % ndim


def known(shape: Shape) -> Shape:
    """shape, checked to have the batch dim only at axis 0."""
    need(None not in shape[1:], f"shape {shape} has the batch dim away from axis 0")
    return shape


def per_sample(shape: Shape) -> int:
    """Elements per batch row (the batch dim counts as 1)."""
    return math.prod(d for d in shape if d is not None)


def broadcast(a: Shape, b: Shape) -> Shape:
    """NumPy broadcasting of two shapes, None (batch) only matching None or 1."""
    if a == b:
        return list(a)
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise Bad(f"shapes {a} and {b} do not broadcast")
    return out[::-1]


def window(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    """Output length of a window of k taps (dilation d, stride s) over size + 2p cells."""
    need(size + 2 * p - d * (k - 1) - 1 >= 0,
         f"kernel {k} (dilation {d}) does not fit size {size} + 2*{p}")
    return pool_out_size(size, p, k, s, d, ceil)


def positive(a: dict, *keys: str) -> None:
    """Each named attribute (an int or a list of ints) is at least 1."""
    for key in keys:
        v = a[key] if isinstance(a[key], list) else [a[key]]
        need(min(v) >= 1, f"attribute '{key}' must be >= 1, got {a[key]}")


def same(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    """The shape rule of an elementwise op of one input."""
    return s[0], Cost()


def reshape_shape(x: Shape, target: list[int]) -> Shape:
    """Resolve a reshape target (0 copies the input dim, -1 is inferred) against shape x."""
    need(all(t >= -1 for t in target) and target.count(-1) <= 1,
         f"invalid reshape target {target}")
    out = [x[i] if t == 0 and i < len(x) else t for i, t in enumerate(target)]
    need(x.count(None) == out.count(None), f"reshape {x} -> {target} must keep the batch dim")
    total = per_sample(x)
    rest = math.prod(d for d in out if d is not None and d != -1)
    if -1 in out:
        need(rest > 0 and total % rest == 0, f"cannot reshape {x} to {target}")
        out[out.index(-1)] = total // rest
    need(per_sample(out) == total, f"cannot reshape {x} to {target}")
    return out


Rule = Callable[[list[Shape], dict], tuple[Shape, Cost]]
