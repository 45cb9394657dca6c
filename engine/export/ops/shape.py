"""Export ops reshape, flatten, transpose, cat and mean; casts to float32 and dropout add no node.

The batch dim is dynamic in the file: these ops must keep it at axis 0 and never mix it with
others, which the recorders check at trace time with a message saying what to write instead.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.errors import ExportError
from engine.export.registry import BOOL, INT, REQUIRED, OpDef, ints, register, trace_as
from engine.export.shapes import Cost, Shape, dim, need, reshape_shape
from engine.ops.dropout import Dropout, FeatureDropout
from engine.ops.elementwise import Cast
from engine.ops.movement import Cat, Flatten, Permute, Reshape
from engine.ops.reduce import Mean


def _reshape_shape(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    return reshape_shape(s[0], a["shape"]), Cost()


def _reshape_kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    target = node["attrs"]["shape"]
    return lambda x: x.reshape([x.shape[i] if t == 0 else t for i, t in enumerate(target)])


def _reshape_onnx(b: Any, node: dict, shapes: dict) -> None:
    b.add("Reshape", [node["inputs"][0], b.const(node["attrs"]["shape"])], node["outputs"])


def _record_reshape(tr: Any, inputs: tuple, kw: dict, out: Any) -> str:
    """A static target shape, with 0 (copy the input's dim) for a batch dim kept at axis 0."""
    x = inputs[0]
    if not tr.is_batched(x):
        target = [int(d) for d in out.shape]
    elif out.ndim == 0 or out.shape[0] != x.shape[0]:
        raise ExportError(f"reshape {tuple(x.shape)} -> {tuple(out.shape)} at {tr.where} mixes "
                          "the batch dim with others; keep dim 0 (e.g. x.view(x.size(0), -1))")
    else:
        target = [0] + [int(d) for d in out.shape[1:]]
    return tr.add_node("reshape", [x], out, {"shape": target})


def _flatten_shape(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    x = s[0]
    start, end = dim(a["start_dim"], len(x)), dim(a["end_dim"], len(x))
    need(start <= end, f"flatten: start_dim {start} is after end_dim {end}")
    need(start == end or None not in x[start:end + 1],
         f"flatten({start}, {end}) of {x} would merge the batch dim")
    merged = math.prod(x[start:end + 1]) if start < end else x[start]
    return x[:start] + [merged] + x[end + 1:], Cost()


def _flatten_kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    s, e = node["attrs"]["start_dim"], node["attrs"]["end_dim"]
    return lambda x: x.reshape(x.shape[:s] + (-1,) + x.shape[e % x.ndim + 1:])


def _flatten_onnx(b: Any, node: dict, shapes: dict) -> None:
    out = node["outputs"][0]
    b.add("Reshape", [node["inputs"][0], b.const([0 if d is None else d for d in shapes[out]])],
          [out])


def _record_flatten(tr: Any, inputs: tuple, kw: dict, out: Any) -> str:
    x, start, end = inputs[0], int(kw["start"]), int(kw["end"])
    if tr.is_batched(x) and start == 0 and end > 0:
        raise ExportError(f"flatten at {tr.where} merges the batch dim with others; flatten "
                          "from dim 1 (e.g. x.flatten(1))")
    return tr.add_node("flatten", [x], out, {"start_dim": start, "end_dim": end})


def _transpose_shape(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    x, perm = s[0], a["perm"]
    need(sorted(perm) == list(range(len(x))),
         f"attribute 'perm' {perm!r} is not a permutation of {len(x)} dims")
    return [x[p] for p in perm], Cost()


def _transpose_kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    perm = tuple(node["attrs"]["perm"])
    return lambda x: x.transpose(perm)


def _transpose_onnx(b: Any, node: dict, shapes: dict) -> None:
    b.add("Transpose", node["inputs"], node["outputs"], perm=node["attrs"]["perm"])


def _record_permute(tr: Any, inputs: tuple, kw: dict, out: Any) -> str:
    x = inputs[0]
    dims = [int(d) % x.ndim for d in kw["dims"]]
    if tr.is_batched(x) and dims[0] != 0:
        raise ExportError(f"permute {dims} at {tr.where} moves the batch dimension; keep dim 0 "
                          "first to export")
    return tr.add_node("transpose", [x], out, {"perm": dims})


def _cat_shape(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    d = dim(a["dim"], len(s[0]))
    for t in s[1:]:
        need(len(t) == len(s[0]) and all(t[i] == s[0][i] for i in range(len(t)) if i != d),
             f"cat along dim {d}: shapes {s} differ elsewhere")
    need(None not in [t[d] for t in s], "cat along the batch dim is not supported")
    return s[0][:d] + [sum(t[d] for t in s)] + s[0][d + 1:], Cost()


def _cat_kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    axis = node["attrs"]["dim"]
    return lambda *xs: xp.concatenate(xs, axis=axis)


def _cat_onnx(b: Any, node: dict, shapes: dict) -> None:
    b.add("Concat", node["inputs"], node["outputs"], axis=node["attrs"]["dim"])


def _record_cat(tr: Any, inputs: tuple, kw: dict, out: Any) -> str:
    return tr.add_node("cat", list(inputs), out, {"dim": int(kw["axis"]) % out.ndim})


def _mean_shape(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    x = s[0]
    dims = [dim(d, len(x)) for d in a["dim"]]
    need(len(set(dims)) == len(dims), f"attribute 'dim' {a['dim']} repeats a dim")
    need(all(x[d] is not None for d in dims), "mean over the batch dim is not supported")
    keep = a.get("keepdim", False)
    return [1 if i in dims else n for i, n in enumerate(x) if keep or i not in dims], Cost()


def _mean_kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    dims, keep = tuple(node["attrs"]["dim"]), bool(node["attrs"].get("keepdim", False))
    return lambda x: x.mean(axis=dims, keepdims=keep)


def _mean_onnx(b: Any, node: dict, shapes: dict) -> None:
    a = node["attrs"]
    b.add("ReduceMean", node["inputs"], node["outputs"], axes=a["dim"],
          keepdims=int(a.get("keepdim", False)))


def _record_mean(tr: Any, inputs: tuple, kw: dict, out: Any) -> str:
    x, axes = inputs[0], kw.get("axes")
    dims = list(range(x.ndim)) if axes is None else [int(a) % x.ndim for a in axes]
    if 0 in dims and tr.is_batched(x):
        raise ExportError(f"mean over the batch dimension at {tr.where} cannot be exported")
    return tr.add_node("mean", [x], out, {"dim": dims, "keepdim": bool(kw.get("keepdim"))})


def _record_cast(tr: Any, inputs: tuple, kw: dict, out: Any) -> str | None:
    x = inputs[0]
    if not tr.is_traced(x):
        return None  # cast of a constant or parameter: its result is captured as a constant
    if out._data.dtype == np.float32:
        return tr.alias(x, out)
    raise ExportError(f"cast to {out._data.dtype} at {tr.where} cannot be exported; the "
                      "script format computes in float32")


def _record_dropout(tr: Any, inputs: tuple, kw: dict, out: Any) -> str:
    return tr.alias(inputs[0], out)  # export is for inference: dropout is the identity


register(OpDef("reshape", (1, 1), {"shape": (ints(None), REQUIRED)}, _reshape_shape,
               _reshape_kernel, _reshape_onnx, traced_from=(Reshape,), record=_record_reshape))
register(OpDef("flatten", (1, 1), {"start_dim": (INT, REQUIRED), "end_dim": (INT, REQUIRED)},
               _flatten_shape, _flatten_kernel, _flatten_onnx, traced_from=(Flatten,),
               record=_record_flatten))
register(OpDef("transpose", (1, 1), {"perm": (ints(None), REQUIRED)}, _transpose_shape,
               _transpose_kernel, _transpose_onnx, traced_from=(Permute,),
               record=_record_permute))
register(OpDef("cat", (1, 64), {"dim": (INT, REQUIRED)}, _cat_shape, _cat_kernel, _cat_onnx,
               traced_from=(Cat,), record=_record_cat))
register(OpDef("mean", (1, 1), {"dim": (ints(None), REQUIRED), "keepdim": (BOOL, False)},
               _mean_shape, _mean_kernel, _mean_onnx, traced_from=(Mean,), record=_record_mean,
               fresh=True))
trace_as(_record_cast, Cast)
trace_as(_record_dropout, Dropout, FeatureDropout)
