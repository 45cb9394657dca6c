"""Export ops max_pool2d, avg_pool2d and adaptive_avg_pool2d, on the engine's window geometry.

The runner's max and average pools take one elementwise maximum or sum per kernel tap over
strided slices of the (padded) input, keeping its memory layout; their output size, padding and
average divisor are engine.ops.pool's, and adaptive pooling is the engine op's own forward.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from engine.errors import ExportError
from engine.export.ops.conv import full_like_layout
from engine.export.registry import BOOL, REQUIRED, OpDef, forward_kernel, ints, options, register
from engine.export.shapes import Cost, Shape, known, need, positive, window
from engine.ops.conv import offset_view
from engine.ops.pool import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    MaxPool2d,
    adaptive_matrix,
    pool_out_size,
    pool_pads,
    window_counts,
)


def _shape(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    (x,) = s
    k, st, pad = a["kernel_size"], a["stride"], a["padding"]
    dil = a.get("dilation", [1, 1])
    need(len(x) == 4, f"pooling needs an (N, C, H, W) input, got {x}")
    known(x)
    positive(a, "kernel_size", "stride", *(["dilation"] if "dilation" in a else []))
    need(all(0 <= p <= kk // 2 for p, kk in zip(pad, k, strict=True)),
         f"padding {pad} must be >= 0 and at most half of kernel {k}")
    ceil = a.get("ceil_mode", False)
    hw = [window(x[2 + i], k[i], st[i], pad[i], dil[i], ceil) for i in range(2)]
    padded = x[1] * (x[2] + 2 * pad[0] + st[0]) * (x[3] + 2 * pad[1] + st[1])
    return x[:2] + hw, Cost(scratch=max(padded, k[0] * k[1] * x[1] * hw[0] * hw[1]),
                            loops=k[0] * k[1])


def _geometry(attrs: dict, h: int, w: int) -> tuple:
    """(kernel, stride, dilation, output size, (top, bottom, left, right) padding)."""
    k, s, p = tuple(attrs["kernel_size"]), tuple(attrs["stride"]), tuple(attrs["padding"])
    d = tuple(attrs.get("dilation", [1, 1]))
    ceil = attrs.get("ceil_mode", False)
    out_hw = (pool_out_size(h, p[0], k[0], s[0], d[0], ceil),
              pool_out_size(w, p[1], k[1], s[1], d[1], ceil))
    return k, s, d, out_hw, pool_pads((h, w), k, s, p, d, out_hw)


def _taps(xp: Any, x: Any, geo: tuple, fill: float) -> Iterator[Any]:
    """The strided view of every kernel tap over x padded with fill (in x's memory layout)."""
    (k0, k1), stride, dilation, out_hw, (top, bottom, left, right) = geo
    if top or bottom or left or right:
        n, c, h, w = x.shape
        buf = full_like_layout(xp, x, (n, c, h + top + bottom, w + left + right), fill)
        buf[:, :, top:top + h, left:left + w] = x
        x = buf
    for i in range(k0):
        for j in range(k1):
            yield offset_view(x, i, j, stride, dilation, out_hw)


def _reduce_taps(xp: Any, taps: Iterator[Any], ufunc: Any) -> Any:
    first = next(taps)
    out = xp.empty_like(first)  # keeps the input's memory layout
    xp.copyto(out, first)
    for tap in taps:
        ufunc(out, tap, out=out)
    return out


def _max_kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    """Max over kernel taps: one elementwise maximum per tap."""
    attrs = node["attrs"]

    def max_pool(x: Any) -> Any:
        geo = _geometry(attrs, x.shape[2], x.shape[3])
        return _reduce_taps(xp, _taps(xp, x, geo, -math.inf), xp.maximum)

    return max_pool


def _avg_kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    """Sum over kernel taps of the zero-padded input, divided as PyTorch does."""
    attrs, divisors = node["attrs"], {}
    include = attrs.get("count_include_pad", True)

    def avg_pool(x: Any) -> Any:
        h, w = x.shape[2:]
        geo = _geometry(attrs, h, w)
        if (h, w) not in divisors:
            divisors[h, w] = window_counts(xp, (h, w), geo[0], geo[1], attrs["padding"], geo[3],
                                           include, x.dtype)
        out = _reduce_taps(xp, _taps(xp, x, geo, 0.0), xp.add)
        out /= divisors[h, w]
        return out

    return avg_pool


def _onnx_attrs(a: dict) -> dict:
    p = a["padding"]
    return {"kernel_shape": a["kernel_size"], "strides": a["stride"],
            "pads": [p[0], p[1], p[0], p[1]], "ceil_mode": int(a.get("ceil_mode", False))}


def _max_onnx(b: Any, node: dict, shapes: dict) -> None:
    a = node["attrs"]
    b.add("MaxPool", node["inputs"], node["outputs"], dilations=a.get("dilation", [1, 1]),
          **_onnx_attrs(a))


def _avg_onnx(b: Any, node: dict, shapes: dict) -> None:
    a = node["attrs"]
    b.add("AveragePool", node["inputs"], node["outputs"],
          count_include_pad=int(a["count_include_pad"]), **_onnx_attrs(a))


def _pool_attrs(kw: dict) -> dict:
    return {"kernel_size": [int(v) for v in kw["kernel"]], "stride": [int(v) for v in kw["stride"]],
            "padding": [int(v) for v in kw["padding"]]}


def _record_max(tr: Any, inputs: tuple, kw: dict, out: Any) -> str:
    kw = options(MaxPool2d, kw)
    attrs = {**_pool_attrs(kw), "dilation": [int(v) for v in kw["dilation"]],
             "ceil_mode": bool(kw["ceil_mode"])}
    return tr.add_node("max_pool2d", list(inputs), out, attrs)


def _record_avg(tr: Any, inputs: tuple, kw: dict, out: Any) -> str:
    kw = options(AvgPool2d, kw)
    if kw["divisor_override"]:
        raise ExportError(f"avg_pool2d with divisor_override at {tr.where} cannot be exported; "
                          "leave divisor_override unset")
    attrs = {**_pool_attrs(kw), "ceil_mode": bool(kw["ceil_mode"]),
             "count_include_pad": bool(kw["count_include_pad"])}
    return tr.add_node("avg_pool2d", list(inputs), out, attrs)


def _adaptive_shape(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    (x,) = s
    o = a["output_size"]
    need(len(x) == 4, f"adaptive pooling needs (N, C, H, W), got {x}")
    known(x)
    positive(a, "output_size")
    return x[:2] + o, Cost(loops=o[0] * o[1])


def _adaptive_kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    return forward_kernel(AdaptiveAvgPool2d, output_size=tuple(node["attrs"]["output_size"]))


def _adaptive_onnx(b: Any, node: dict, shapes: dict) -> None:
    """GlobalAveragePool, AveragePool when the bins tile the input, else the engine's averaging
    matrices as two MatMuls (rows @ x @ cols.T)."""
    x, out = node["inputs"][0], node["outputs"][0]
    (h, w), (oh, ow) = shapes[x][2:], node["attrs"]["output_size"]
    if (oh, ow) == (1, 1):
        b.add("GlobalAveragePool", [x], [out])
    elif h % oh == 0 and w % ow == 0:
        k = [h // oh, w // ow]
        b.add("AveragePool", [x], [out], kernel_shape=k, strides=k)
    else:
        cols = b.const(adaptive_matrix(np, ow, w, np.float32).T, np.float32)
        rows = b.const(adaptive_matrix(np, oh, h, np.float32), np.float32)
        b.add("MatMul", [x, cols], [by_cols := b.tmp()])
        b.add("MatMul", [rows, by_cols], [out])


def _record_adaptive(tr: Any, inputs: tuple, kw: dict, out: Any) -> str:
    attrs = {"output_size": [int(v) for v in kw["output_size"]]}
    return tr.add_node("adaptive_avg_pool2d", list(inputs), out, attrs)


_POOL = {"kernel_size": (ints(2), REQUIRED), "stride": (ints(2), REQUIRED),
         "padding": (ints(2), REQUIRED), "ceil_mode": (BOOL, False)}
register(OpDef("max_pool2d", (1, 1), {**_POOL, "dilation": (ints(2), [1, 1])}, _shape,
               _max_kernel, _max_onnx, traced_from=(MaxPool2d,), record=_record_max))
register(OpDef("avg_pool2d", (1, 1), {**_POOL, "count_include_pad": (BOOL, True)}, _shape,
               _avg_kernel, _avg_onnx, traced_from=(AvgPool2d,), record=_record_avg))
register(OpDef("adaptive_avg_pool2d", (1, 1), {"output_size": (ints(2), REQUIRED)},
               _adaptive_shape, _adaptive_kernel, _adaptive_onnx,
               traced_from=(AdaptiveAvgPool2d,), record=_record_adaptive))
