"""The exported graph: a JSON schema over a fixed op list, and its validation with shape inference.

A graph is ``{"inputs": [{"name", "dtype", "shape"}], "outputs": [names], "nodes": [{"op", "name",
"inputs", "outputs", "attrs"}]}``. A node input names a graph input, an earlier node's output or a
weight. Shapes use ``None`` for the dynamic batch dimension. ``validate`` checks every reference,
each weight's shape against its op's attributes, and propagates shapes from the input spec, so a
file that would fail at run time is rejected at load with an ExportError that says why.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from engine.errors import ExportError
from engine.ops.pool import pool_out_size

FORMAT = "gradwell.script"
VERSION = 1

Shape = list  # list[int | None]; None is the dynamic batch dimension


class _Bad(Exception):
    """Raised by a shape rule; validate() adds the node and turns it into an ExportError."""


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise _Bad(msg)


def _ints(attrs: dict, key: str, n: int) -> list[int]:
    v = attrs.get(key)
    _need(isinstance(v, list) and len(v) == n and all(type(i) is int for i in v),
          f"attribute '{key}' must be a list of {n} ints, got {v!r}")
    return v


def _int(attrs: dict, key: str) -> int:
    v = attrs.get(key)
    _need(type(v) is int, f"attribute '{key}' must be an int, got {v!r}")
    return v


def _dim(d: int, ndim: int) -> int:
    _need(-ndim <= d < ndim, f"dim {d} is out of range for {ndim} dims")
    return d % ndim


def broadcast(a: Shape, b: Shape) -> Shape:
    """NumPy broadcasting of two shapes, None (batch) only matching None or 1."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise _Bad(f"shapes {a} and {b} do not broadcast")
    return out[::-1]


def _linear(s: list[Shape], a: dict) -> Shape:
    x, w = s[0], s[1]
    _need(len(w) == 2, f"weight must be 2-D (out, in), got {w}")
    _need(len(x) >= 1 and x[-1] == w[1], f"input {x} does not match weight {w} (in={w[1]})")
    _need(len(s) < 3 or s[2] == [w[0]], f"bias {s[-1]} does not match weight {w}")
    return x[:-1] + [w[0]]


def _matmul(s: list[Shape], a: dict) -> Shape:
    x, y = s
    _need(len(x) >= 1 and len(y) >= 1, "matmul needs inputs of at least 1 dim")
    x2, y2 = (x if len(x) > 1 else [1] + x), (y if len(y) > 1 else y + [1])
    _need(x2[-1] == y2[-2], f"shapes {x} and {y} cannot be multiplied")
    out = broadcast(x2[:-2], y2[:-2]) + [x2[-2], y2[-1]]
    if len(x) == 1:
        out.pop(-2)
    if len(y) == 1:
        out.pop(-1)
    return out


def _window(size: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    _need(size + 2 * p - d * (k - 1) - 1 >= 0 and s > 0,
          f"kernel {k} (dilation {d}) does not fit size {size} + 2*{p}")
    return pool_out_size(size, p, k, s, d, ceil)


def _conv2d(s: list[Shape], a: dict) -> Shape:
    x, w = s[0], s[1]
    st, pad, dil = _ints(a, "stride", 2), _ints(a, "pads", 4), _ints(a, "dilation", 2)
    g = _int(a, "groups")
    _need(len(x) == 4 and len(w) == 4, f"conv2d needs a 4-D input and weight, got {x} and {w}")
    _need(g >= 1 and w[0] % g == 0 and x[1] == w[1] * g,
          f"input {x} has {x[1]} channels; weight {w} with groups={g} expects {w[1] * g}")
    _need(len(s) < 3 or s[2] == [w[0]], f"bias {s[-1]} does not match weight {w}")
    _need(min(st + dil) >= 1 and min(pad) >= 0, "stride and dilation must be >= 1, padding >= 0")
    # pads are (top, bottom, left, right): fold them into the size
    hw = [_window(x[2 + i] + pad[2 * i] + pad[2 * i + 1], w[2 + i], st[i], 0, dil[i], False)
          for i in range(2)]
    return [x[0], w[0]] + hw


def _pool(s: list[Shape], a: dict) -> Shape:
    (x,) = s
    k, st, pad = _ints(a, "kernel_size", 2), _ints(a, "stride", 2), _ints(a, "padding", 2)
    dil = _ints(a, "dilation", 2) if "dilation" in a else [1, 1]
    _need(len(x) == 4 and None not in x[1:], f"pooling needs an (N, C, H, W) input, got {x}")
    _need(all(0 <= p <= kk // 2 for p, kk in zip(pad, k, strict=True)),
          f"padding {pad} must be at most half of kernel {k}")
    ceil = bool(a.get("ceil_mode", False))
    return x[:2] + [_window(x[2 + i], k[i], st[i], pad[i], dil[i], ceil) for i in range(2)]


def _adaptive(s: list[Shape], a: dict) -> Shape:
    (x,) = s
    o = _ints(a, "output_size", 2)
    _need(len(x) == 4 and min(o) >= 1, f"adaptive pooling needs (N, C, H, W), got {x}")
    return x[:2] + o


def _batch_norm(s: list[Shape], a: dict) -> Shape:
    x = s[0]
    _need(len(x) >= 2 and x[1] is not None, f"batch_norm needs (N, C, ...), got {x}")
    _need(isinstance(a.get("eps"), float | int), "attribute 'eps' must be a number")
    for p in s[1:]:
        _need(p == [x[1]], f"parameter of shape {p} does not match {x[1]} channels of {x}")
    return x


def _same(s: list[Shape], a: dict) -> Shape:
    return s[0]


def _softmax(s: list[Shape], a: dict) -> Shape:
    _dim(_int(a, "dim"), len(s[0]))
    return s[0]


def _binary(s: list[Shape], a: dict) -> Shape:
    return broadcast(s[0], s[1])


def reshape_shape(x: Shape, target: list[int]) -> Shape:
    """Resolve a reshape target (0 copies the input dim, -1 is inferred) against shape x."""
    _need(all(type(t) is int and t >= -1 for t in target) and target.count(-1) <= 1,
          f"invalid reshape target {target}")
    out = [x[i] if t == 0 and i < len(x) else t for i, t in enumerate(target)]
    _need(x.count(None) == out.count(None), f"reshape {x} -> {target} must keep the batch dim")
    known = math.prod(d for d in x if d is not None)
    rest = math.prod(d for d in out if d is not None and d != -1)
    if -1 in out:
        _need(rest > 0 and known % rest == 0, f"cannot reshape {x} to {target}")
        out[out.index(-1)] = known // rest
    _need(math.prod(d for d in out if d is not None) == known, f"cannot reshape {x} to {target}")
    return out


def _reshape(s: list[Shape], a: dict) -> Shape:
    _need(isinstance(a.get("shape"), list), "attribute 'shape' must be a list of ints")
    return reshape_shape(s[0], a["shape"])


def _flatten(s: list[Shape], a: dict) -> Shape:
    x = s[0]
    start, end = _dim(_int(a, "start_dim"), len(x)), _dim(_int(a, "end_dim"), len(x))
    _need(start <= end, f"flatten: start_dim {start} is after end_dim {end}")
    _need(start == end or None not in x[start:end + 1],
          f"flatten({start}, {end}) of {x} would merge the batch dim")
    merged = math.prod(x[start:end + 1]) if start < end else x[start]
    return x[:start] + [merged] + x[end + 1:]


def _transpose(s: list[Shape], a: dict) -> Shape:
    x, perm = s[0], a.get("perm")
    _need(isinstance(perm, list) and sorted(perm) == list(range(len(x))),
          f"attribute 'perm' {perm!r} is not a permutation of {len(x)} dims")
    return [x[p] for p in perm]


def _cat(s: list[Shape], a: dict) -> Shape:
    d = _dim(_int(a, "dim"), len(s[0]))
    for t in s[1:]:
        _need(len(t) == len(s[0]) and all(t[i] == s[0][i] for i in range(len(t)) if i != d),
              f"cat along dim {d}: shapes {s} differ elsewhere")
    _need(None not in [t[d] for t in s], "cat along the batch dim is not supported")
    return s[0][:d] + [sum(t[d] for t in s)] + s[0][d + 1:]


def _mean(s: list[Shape], a: dict) -> Shape:
    x = s[0]
    _need(isinstance(a.get("dim"), list), "attribute 'dim' must be a list of ints")
    dims = {_dim(d, len(x)) for d in a["dim"]}
    keep = bool(a.get("keepdim", False))
    return [1 if i in dims else n for i, n in enumerate(x) if keep or i not in dims]


# op -> (min inputs, max inputs, shape rule); inputs at positions >= 1 of linear/conv2d/batch_norm
# must be weights (the runner precomputes from them at load).
OPS: dict[str, tuple[int, int, Callable[[list[Shape], dict], Shape]]] = {
    "linear": (2, 3, _linear), "matmul": (2, 2, _matmul), "conv2d": (2, 3, _conv2d),
    "max_pool2d": (1, 1, _pool), "avg_pool2d": (1, 1, _pool),
    "adaptive_avg_pool2d": (1, 1, _adaptive), "batch_norm": (3, 5, _batch_norm),
    "relu": (1, 1, _same), "leaky_relu": (1, 1, _same), "gelu": (1, 1, _same),
    "sigmoid": (1, 1, _same), "tanh": (1, 1, _same), "softmax": (1, 1, _softmax),
    "log_softmax": (1, 1, _softmax), "add": (2, 2, _binary), "sub": (2, 2, _binary),
    "mul": (2, 2, _binary), "div": (2, 2, _binary), "reshape": (1, 1, _reshape),
    "flatten": (1, 1, _flatten), "transpose": (1, 1, _transpose), "cat": (1, 64, _cat),
    "mean": (1, 1, _mean),
}
WEIGHT_INPUTS = {"linear": 1, "conv2d": 1, "batch_norm": 1}  # first weight-only input position


def validate(graph: Any, weights: dict[str, Any], where: str) -> dict[str, Shape]:
    """Check graph against weights and return every value's inferred shape; else ExportError."""
    if not isinstance(graph, dict) or not all(k in graph for k in ("inputs", "outputs", "nodes")):
        raise ExportError(f"{where}: graph must be an object with inputs, outputs and nodes")
    shapes: dict[str, Shape] = {}
    for spec in graph["inputs"]:
        if not (isinstance(spec, dict) and isinstance(spec.get("name"), str)
                and spec.get("dtype") == "float32" and isinstance(spec.get("shape"), list)):
            raise ExportError(f"{where}: invalid input spec {spec!r} (need name, float32, shape)")
        shapes[spec["name"]] = list(spec["shape"])
    for name, w in weights.items():
        if name in shapes:
            raise ExportError(f"{where}: weight '{name}' has the name of a graph input")
        shapes[name] = list(w.shape)
    for i, node in enumerate(graph["nodes"]):
        _check_node(node, i, shapes, weights, where)
    for out in graph["outputs"]:
        if out not in shapes:
            raise ExportError(f"{where}: graph output '{out}' is produced by no node "
                              "(dangling edge)")
    return shapes


def _check_node(node: Any, i: int, shapes: dict, weights: dict, where: str) -> None:
    if not isinstance(node, dict) or not isinstance(node.get("op"), str):
        raise ExportError(f"{where}: node {i} is malformed: {str(node)[:120]}")
    op, label = node["op"], f"node {i} ({node.get('op')} '{node.get('name', '?')}')"
    if op not in OPS:
        raise ExportError(f"{where}: {label} uses unknown op '{op}'; known ops: "
                          f"{', '.join(sorted(OPS))}")
    ins, outs = node.get("inputs"), node.get("outputs")
    attrs = node.setdefault("attrs", {})
    if not (isinstance(ins, list) and isinstance(outs, list) and len(outs) == 1
            and isinstance(attrs, dict)):
        raise ExportError(f"{where}: {label} needs lists 'inputs', 'outputs' (one) and 'attrs'")
    lo, hi, rule = OPS[op]
    if not lo <= len(ins) <= hi:
        raise ExportError(f"{where}: {label} takes {lo}..{hi} inputs, got {len(ins)}")
    for pos, name in enumerate(ins):
        if name not in shapes:
            if "." in str(name):  # weights are named by state-dict keys
                raise ExportError(f"{where}: {label} reads weight '{name}', which is missing "
                                  "from the file")
            raise ExportError(f"{where}: {label} reads value '{name}', which no graph input "
                              "or earlier node produces (dangling edge)")
        if op in WEIGHT_INPUTS and pos >= WEIGHT_INPUTS[op] and name not in weights:
            raise ExportError(f"{where}: {label} input {pos} must be a weight, got '{name}'")
    try:
        out = rule([shapes[n] for n in ins], attrs)
    except _Bad as exc:
        raise ExportError(f"{where}: {label}: shape mismatch: {exc}") from None
    if outs[0] in shapes:
        raise ExportError(f"{where}: {label} redefines value '{outs[0]}'")
    shapes[outs[0]] = out
