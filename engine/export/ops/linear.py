"""Export ops linear (y = x @ W.T + b, PyTorch's weight layout) and matmul."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.export.registry import OpDef, onnx_node, register
from engine.export.shapes import Cost, Shape, broadcast, need
from engine.ops.linear import Linear
from engine.ops.matmul import MatMul


def affine_weights(xp: Any, node: dict, weights: dict) -> tuple[Any, Any]:
    """(weight, bias) of a linear or conv2d node as float32 on xp: folded by the planner (a
    batch norm after it), else the file's."""
    ins = node["inputs"]
    w = node.get("w", weights[ins[1]])
    b = node.get("b", weights[ins[2]] if len(ins) > 2 else None)
    return xp.asarray(np.asarray(w, np.float32)), (None if b is None else
                                                   xp.asarray(np.asarray(b, np.float32)))


def _linear_shape(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    x, w = s[0], s[1]
    need(len(w) == 2, f"weight must be 2-D (out, in), got {w}")
    need(len(x) >= 1 and x[-1] == w[1], f"input {x} does not match weight {w} (in={w[1]})")
    need(len(s) < 3 or s[2] == [w[0]], f"bias {s[-1]} does not match weight {w}")
    return x[:-1] + [w[0]], Cost()


def _linear_kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    """y = x @ W.T + b (then relu in place when fused)."""
    weight, bias = affine_weights(xp, node, weights)
    relu = bool(node.get("relu"))
    wt = xp.ascontiguousarray(weight.T)
    n_in, n_out = wt.shape

    def linear(x: Any) -> Any:
        x2 = x if x.ndim == 2 else x.reshape(-1, n_in)
        out = xp.matmul(x2, wt)
        if bias is not None:
            out += bias
        if relu:
            xp.maximum(out, 0, out=out)
        return out if x.ndim == 2 else out.reshape(x.shape[:-1] + (n_out,))

    return linear


def _linear_onnx(b: Any, node: dict, shapes: dict) -> None:
    ins, out = node["inputs"], node["outputs"][0]
    if len(shapes[ins[0]]) == 2:
        b.add("Gemm", ins, [out], transB=1)
        return
    wt = b.const(b.inits[ins[1]].T, np.float32)
    mm = b.tmp() if len(ins) > 2 else out
    b.add("MatMul", [ins[0], wt], [mm])
    if len(ins) > 2:
        b.add("Add", [mm, ins[2]], [out])


def _matmul_shape(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
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


register(OpDef("linear", (2, 3), {}, _linear_shape, _linear_kernel, _linear_onnx,
               traced_from=(Linear,), weight_inputs=1, fresh=True, absorbs=True))
register(OpDef("matmul", (2, 2), {}, _matmul_shape, lambda xp, node, w, s: xp.matmul,
               onnx_node("MatMul"), traced_from=(MatMul,), fresh=True))
