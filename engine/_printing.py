"""repr of tensors in PyTorch's format, so ported scripts print the same text."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import backend

_HIDDEN_DTYPES = {"float32", "int64", "bool"}
THRESHOLD, EDGE_ITEMS, LINE_WIDTH, PRECISION = 1000, 3, 80, 4


def _float_formatter(values: np.ndarray) -> Any:
    finite = np.abs(values[np.isfinite(values)].astype(np.float64))
    nonzero = finite[finite != 0]
    integral = finite.size == 0 or bool(np.all(np.ceil(finite) == finite))
    if integral:
        if nonzero.size and nonzero.max() > 1e8:
            return lambda v: _special(v) or f"{v:.{PRECISION}e}"
        return lambda v: _special(v) or f"{v:.0f}."
    if nonzero.size and (nonzero.max() / nonzero.min() > 1000 or nonzero.max() > 1e8
                         or nonzero.min() < 1e-4):
        return lambda v: _special(v) or f"{v:.{PRECISION}e}"
    return lambda v: _special(v) or f"{v:.{PRECISION}f}"


def _special(v: float) -> str | None:
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def _formatter(values: np.ndarray) -> Any:
    if values.dtype.kind == "f":
        return _float_formatter(values)
    if values.dtype.kind == "b":
        return lambda v: "True" if v else "False"
    return lambda v: str(int(v))


def _summarize(a: np.ndarray) -> np.ndarray:
    """The elements that will be shown (edges only for large tensors)."""
    if a.ndim == 0 or a.size <= THRESHOLD:
        return a.reshape(-1)
    parts = []
    for i in range(a.shape[0]) if a.shape[0] <= 2 * EDGE_ITEMS else list(range(EDGE_ITEMS)) + list(
            range(a.shape[0] - EDGE_ITEMS, a.shape[0])):
        parts.append(_summarize(a[i]))
    return np.concatenate(parts) if parts else a.reshape(-1)


def _format(a: np.ndarray, fmt: Any, width: int, indent: int, summarize: bool) -> str:
    if a.ndim == 0:
        return fmt(a.item()).rjust(width)
    n = a.shape[0]
    cut = summarize and n > 2 * EDGE_ITEMS
    indices = list(range(EDGE_ITEMS)) + [None] + list(range(n - EDGE_ITEMS, n)) if cut else \
        list(range(n))
    if a.ndim == 1:
        items = ["..." if i is None else fmt(a[i].item()).rjust(width) for i in indices]
        per_line = max(1, (LINE_WIDTH - indent) // (width + 2))
        lines = [", ".join(items[k:k + per_line]) for k in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    sep = "," + "\n" * (a.ndim - 1) + " " * (indent + 1)
    rows = ["..." if i is None else _format(a[i], fmt, width, indent + 1, summarize)
            for i in indices]
    return "[" + sep.join(rows) + "]"


def tensor_repr(t: Any) -> str:
    """The text PyTorch prints for a tensor, with 'engine.' in place of 'torch.' in dtypes."""
    a = backend.to_numpy(t.data)
    suffix = []
    if t._device != "cpu":
        suffix.append(f"device='{t._device}'")
    if a.size == 0 and a.ndim != 1:
        body = "[]"
        suffix.insert(0, f"size={tuple(a.shape)}")
    elif a.size == 0:
        body = "[]"
    else:
        summarize = a.size > THRESHOLD
        shown = _summarize(a)
        fmt = _formatter(shown)
        width = max(len(fmt(v)) for v in shown.tolist())
        body = _format(a, fmt, width, len("tensor("), summarize)
    if t.dtype.name not in _HIDDEN_DTYPES or (a.size == 0 and t.dtype.name != "float32"):
        suffix.append(f"dtype=engine.{t.dtype.name}")
    if t.grad_fn is not None:
        suffix.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffix.append("requires_grad=True")
    return "tensor(" + ", ".join([body, *suffix]) + ")"
