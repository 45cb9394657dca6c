"""repr of tensors in PyTorch's format (torch/_tensor_str.py), so ported scripts print the same."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine import backend, dtypes

_HIDDEN_DTYPES = {"int64", "bool"}  # and the default float dtype, as PyTorch


class _Options:
    """PyTorch's print options (engine.set_printoptions changes them)."""

    precision, threshold, edgeitems, linewidth = 4, 1000, 3, 80
    sci_mode: bool | None = None  # None: chosen from the values, as PyTorch


_PROFILES = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80),
             "full": (4, math.inf, 3, 80)}


def set_printoptions(precision: int | None = None, threshold: float | None = None,
                     edgeitems: int | None = None, linewidth: int | None = None,
                     profile: str | None = None, sci_mode: bool | None = None) -> None:
    """Set how tensors print, as torch.set_printoptions (profile: default, short or full)."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"profile must be one of {sorted(_PROFILES)}, got {profile!r}")
        (_Options.precision, _Options.threshold, _Options.edgeitems,
         _Options.linewidth) = _PROFILES[profile]
    for name, value in (("precision", precision), ("threshold", threshold),
                        ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if value is not None:
            setattr(_Options, name, value)
    _Options.sci_mode = sci_mode


class _Formatter:
    """PyTorch's element formatter: one width, and int / fixed / scientific mode for floats."""

    def __init__(self, values: np.ndarray) -> None:
        self.floating = values.dtype.kind == "f"
        self.int_mode, self.sci_mode, self.max_width = True, False, 1
        if not self.floating:
            for v in values.tolist():
                self.max_width = max(self.max_width, len(f"{v}"))
            return
        finite = values[np.isfinite(values) & (values != 0)].astype(np.float64)
        if finite.size == 0:
            return
        magnitudes = np.abs(finite)
        low, high = magnitudes.min(), magnitudes.max()
        self.int_mode = bool(np.all(np.ceil(finite) == finite))
        sci, fixed = f"{{:.{_Options.precision}e}}", f"{{:.{_Options.precision}f}}"
        if self.int_mode:
            self.sci_mode = high / low > 1000.0 or high > 1.0e8
            if _Options.sci_mode is not None:
                self.sci_mode = _Options.sci_mode
            pattern, extra = (sci, 0) if self.sci_mode else ("{:.0f}", 1)
        else:
            self.sci_mode = high / low > 1000.0 or high > 1.0e8 or low < 1.0e-4
            if _Options.sci_mode is not None:
                self.sci_mode = _Options.sci_mode
            pattern, extra = sci if self.sci_mode else fixed, 0
        for v in finite.tolist():
            self.max_width = max(self.max_width, len(pattern.format(v)) + extra)

    def format(self, value: Any) -> str:
        """One element, right-aligned to the common width."""
        if not self.floating:
            text = f"{value}"
        elif self.sci_mode:
            text = f"{value:{self.max_width}.{_Options.precision}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("" if math.isinf(value) or math.isnan(value) else ".")
        else:
            text = f"{value:.{_Options.precision}f}"
        return " " * (self.max_width - len(text)) + text


def _summarized(a: np.ndarray) -> np.ndarray:
    """The elements that will be shown (edges only along every long dim)."""
    if a.ndim == 0:
        return a
    if a.shape[0] > 2 * _Options.edgeitems:
        a = np.concatenate([a[:_Options.edgeitems], a[-_Options.edgeitems:]])
    if a.ndim == 1:
        return a
    return np.stack([_summarized(row) for row in a])


def _vector(a: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    per_line = max(1, int(math.floor((_Options.linewidth - indent) / (fmt.max_width + 2))))
    if summarize and a.shape[0] > 2 * _Options.edgeitems:
        data = ([fmt.format(v) for v in a[:_Options.edgeitems].tolist()] + [" ..."]
                + [fmt.format(v) for v in a[-_Options.edgeitems:].tolist()])
    else:
        data = [fmt.format(v) for v in a.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str(a: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if a.ndim == 0:
        return fmt.format(a.item())
    if a.ndim == 1:
        return _vector(a, indent, summarize, fmt)
    n = a.shape[0]
    if summarize and n > 2 * _Options.edgeitems:
        edge = _Options.edgeitems
        rows: list[int | None] = [*range(edge), None, *range(n - edge, n)]
    else:
        rows = list(range(n))
    slices = ["..." if i is None else _tensor_str(a[i], indent + 1, summarize, fmt) for i in rows]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    """Append ', suffix' items, wrapping to a new line where the line would pass the width."""
    parts = [text]
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > _Options.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    return "".join(parts) + ")"


def tensor_repr(t: Any) -> str:
    """The text PyTorch prints for a tensor, with 'engine.' in place of 'torch.' in dtypes."""
    a = backend.to_numpy(t._data)
    if a.dtype == np.float16:
        a = a.astype(np.float32)  # as PyTorch: format half values through float
    prefix, indent = "tensor(", len("tensor(")
    suffixes = []
    if t._device != "cpu":
        suffixes.append(f"device='{t._device}'")
    name = t.dtype.name
    hidden = name in _HIDDEN_DTYPES or t._data.dtype == dtypes._default_float
    if a.size == 0:
        if a.ndim != 1:
            suffixes.append(f"size={tuple(a.shape)}")
        if t._data.dtype != dtypes._default_float:
            suffixes.append(f"dtype=engine.{name}")
        body = "[]"
    else:
        if not hidden:
            suffixes.append(f"dtype=engine.{name}")
        summarize = a.size > _Options.threshold
        fmt = _Formatter(_summarized(a).reshape(-1) if summarize else a.reshape(-1))
        body = _tensor_str(a, indent, summarize, fmt)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)
