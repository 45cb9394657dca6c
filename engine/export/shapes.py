"""Shape rules of the script graph's ops, with the attribute schema and cost each op declares.

A rule gets the input shapes (None is the batch dimension, always axis 0) and the node's
attributes, already type-checked against the op's schema in ``graph.py``; it checks ranges and
returns the output shape plus the per-sample cost of running the node (scratch elements such as
im2col columns or padded copies, and Python-level loop iterations), so that load can refuse a
file whose attributes would allocate or loop without bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from engine.ops.pool import pool_out_size

Shape = list  # list[int | None]; None is the dynamic batch dimension


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


def _dim(d: int, ndim: int) -> int:
    need(-ndim <= d < ndim, f"dim {d} is out of range for {ndim} dims")
    return d % ndim


def _known(shape: Shape) -> Shape:
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


def _linear(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    x, w = s[0], s[1]
    need(len(w) == 2, f"weight must be 2-D (out, in), got {w}")
    need(len(x) >= 1 and x[-1] == w[1], f"input {x} does not match weight {w} (in={w[1]})")
    need(len(s) < 3 or s[2] == [w[0]], f"bias {s[-1]} does not match weight {w}")
    return x[:-1] + [w[0]], Cost()


def _matmul(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    x, y = s
    need(len(x) >= 1 and len(y) >= 1, "matmul needs inputs of at least 1 dim")
    x2, y2 = (x if len(x) > 1 else [1] + x), (y if len(y) > 1 else y + [1])
    need(x2[-1] is not None and x2[-1] == y2[-2], f"shapes {x} and {y} cannot be multiplied")
    out = broadcast(x2[:-2], y2[:-2]) + [x2[-2], y2[-1]]
    if len(x) == 1:
        out.pop(-2)
    if len(y) == 1:
        out.pop(-1)
    return out, Cost()


def _window(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    need(size + 2 * p - d * (k - 1) - 1 >= 0,
         f"kernel {k} (dilation {d}) does not fit size {size} + 2*{p}")
    return pool_out_size(size, p, k, s, d, ceil)


def _positive(a: dict, *keys: str) -> None:
    for key in keys:
        v = a[key] if isinstance(a[key], list) else [a[key]]
        need(min(v) >= 1, f"attribute '{key}' must be >= 1, got {a[key]}")


def _conv2d(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    x, w = s[0], s[1]
    need(len(x) == 4 and len(w) == 4, f"conv2d needs a 4-D input and weight, got {x} and {w}")
    _known(x)
    _positive(a, "stride", "dilation", "groups")
    pad, g = a["pads"], a["groups"]
    need(min(pad) >= 0, f"attribute 'pads' must be >= 0, got {pad}")
    need(w[0] % g == 0 and x[1] == w[1] * g,
         f"input {x} has {x[1]} channels; weight {w} with groups={g} expects {w[1] * g}")
    need(len(s) < 3 or s[2] == [w[0]], f"bias {s[-1]} does not match weight {w}")
    # pads are (top, bottom, left, right): fold them into the size
    padded = [x[2] + pad[0] + pad[1], x[3] + pad[2] + pad[3]]
    hw = [_window(padded[i], w[2 + i], a["stride"][i], 0, a["dilation"][i], False)
          for i in range(2)]
    cols = x[1] * w[2] * w[3] * hw[0] * hw[1]  # the im2col buffer
    return [x[0], w[0]] + hw, Cost(scratch=max(cols, x[1] * padded[0] * padded[1]))


def _pool(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    (x,) = s
    k, st, pad = a["kernel_size"], a["stride"], a["padding"]
    dil = a.get("dilation", [1, 1])
    need(len(x) == 4, f"pooling needs an (N, C, H, W) input, got {x}")
    _known(x)
    _positive(a, "kernel_size", "stride", *(["dilation"] if "dilation" in a else []))
    need(all(0 <= p <= kk // 2 for p, kk in zip(pad, k, strict=True)),
         f"padding {pad} must be >= 0 and at most half of kernel {k}")
    ceil = a.get("ceil_mode", False)
    hw = [_window(x[2 + i], k[i], st[i], pad[i], dil[i], ceil) for i in range(2)]
    padded = x[1] * (x[2] + 2 * pad[0] + st[0]) * (x[3] + 2 * pad[1] + st[1])
    return x[:2] + hw, Cost(scratch=max(padded, k[0] * k[1] * x[1] * hw[0] * hw[1]),
                            loops=k[0] * k[1])


def _adaptive(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    (x,) = s
    o = a["output_size"]
    need(len(x) == 4, f"adaptive pooling needs (N, C, H, W), got {x}")
    _known(x)
    _positive(a, "output_size")
    return x[:2] + o, Cost(loops=o[0] * o[1])


def _batch_norm(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    x = s[0]
    need(len(x) >= 2 and x[1] is not None, f"batch_norm needs (N, C, ...), got {x}")
    need(a["eps"] > 0, f"attribute 'eps' must be > 0, got {a['eps']}")
    for p in s[1:]:
        need(p == [x[1]], f"parameter of shape {p} does not match {x[1]} channels of {x}")
    return x, Cost()


def _same(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    return s[0], Cost()


def _softmax(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    _dim(a["dim"], len(s[0]))
    return s[0], Cost()


def _binary(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    return broadcast(s[0], s[1]), Cost()


def reshape_shape(x: Shape, target: list[int]) -> Shape:
    """Resolve a reshape target (0 copies the input dim, -1 is inferred) against shape x."""
    need(all(t >= -1 for t in target) and target.count(-1) <= 1,
         f"invalid reshape target {target}")
    out = [x[i] if t == 0 and i < len(x) else t for i, t in enumerate(target)]
    need(x.count(None) == out.count(None), f"reshape {x} -> {target} must keep the batch dim")
    known = per_sample(x)
    rest = math.prod(d for d in out if d is not None and d != -1)
    if -1 in out:
        need(rest > 0 and known % rest == 0, f"cannot reshape {x} to {target}")
        out[out.index(-1)] = known // rest
    need(per_sample(out) == known, f"cannot reshape {x} to {target}")
    return out


def _reshape(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    return reshape_shape(s[0], a["shape"]), Cost()


def _flatten(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    x = s[0]
    start, end = _dim(a["start_dim"], len(x)), _dim(a["end_dim"], len(x))
    need(start <= end, f"flatten: start_dim {start} is after end_dim {end}")
    need(start == end or None not in x[start:end + 1],
         f"flatten({start}, {end}) of {x} would merge the batch dim")
    merged = math.prod(x[start:end + 1]) if start < end else x[start]
    return x[:start] + [merged] + x[end + 1:], Cost()


def _transpose(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    x, perm = s[0], a["perm"]
    need(sorted(perm) == list(range(len(x))),
         f"attribute 'perm' {perm!r} is not a permutation of {len(x)} dims")
    return [x[p] for p in perm], Cost()


def _cat(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    d = _dim(a["dim"], len(s[0]))
    for t in s[1:]:
        need(len(t) == len(s[0]) and all(t[i] == s[0][i] for i in range(len(t)) if i != d),
             f"cat along dim {d}: shapes {s} differ elsewhere")
    need(None not in [t[d] for t in s], "cat along the batch dim is not supported")
    return s[0][:d] + [sum(t[d] for t in s)] + s[0][d + 1:], Cost()


def _mean(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    x = s[0]
    dims = [_dim(d, len(x)) for d in a["dim"]]
    need(len(set(dims)) == len(dims), f"attribute 'dim' {a['dim']} repeats a dim")
    need(all(x[d] is not None for d in dims), "mean over the batch dim is not supported")
    keep = a.get("keepdim", False)
    return [1 if i in dims else n for i, n in enumerate(x) if keep or i not in dims], Cost()


Rule = Callable[[list[Shape], dict], tuple[Shape, Cost]]
