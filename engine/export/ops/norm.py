"""Export op batch_norm: eval-mode batch norm with running statistics kept by state-dict name.

The file keeps it explicit (so the file is also a state dict); the runner's planner folds it into
the conv2d or linear before it, and otherwise runs it as x * scale + shift.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.errors import ExportError
from engine.export.registry import NUMBER, REQUIRED, OpDef, register
from engine.export.shapes import Cost, Shape, need
from engine.ops.norm import BatchNorm


def scale_shift(weights: dict, ins: list[str], eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel y = x * scale + shift of an eval-mode batch norm, computed in float64."""
    mean, var = (weights[n].astype(np.float64) for n in ins[1:3])
    gamma = weights[ins[3]].astype(np.float64) if len(ins) > 3 else 1.0
    beta = weights[ins[4]].astype(np.float64) if len(ins) > 4 else 0.0
    scale = gamma / np.sqrt(var + eps)
    return scale, beta - mean * scale


def _shape(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    x = s[0]
    need(len(x) >= 2 and x[1] is not None, f"batch_norm needs (N, C, ...), got {x}")
    need(a["eps"] > 0, f"attribute 'eps' must be > 0, got {a['eps']}")
    for p in s[1:]:
        need(p == [x[1]], f"parameter of shape {p} does not match {x[1]} channels of {x}")
    return x, Cost()


def _kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    """x * scale + shift (a batch norm the planner could not fold)."""
    ins = node["inputs"]
    view = (-1,) + (1,) * (len(shapes[ins[0]]) - 2)
    scale, shift = (xp.asarray(v.reshape(view).astype(np.float32))
                    for v in scale_shift(weights, ins, float(node["attrs"]["eps"])))
    return lambda x: x * scale + shift


def _onnx(b: Any, node: dict, shapes: dict) -> None:
    ins = node["inputs"]
    x, mean, var = ins[:3]
    c = b.inits[mean].shape[0]
    scale = ins[3] if len(ins) > 3 else b.const(np.ones(c), np.float32)
    bias = ins[4] if len(ins) > 4 else b.const(np.zeros(c), np.float32)
    b.add("BatchNormalization", [x, scale, bias, mean, var], node["outputs"],
          epsilon=float(node["attrs"]["eps"]))


def _record(tr: Any, inputs: tuple, kw: dict, out: Any) -> str:
    if kw["training"]:
        raise ExportError(f"batch_norm at {tr.where} uses batch statistics (train mode or "
                          "track_running_stats=False) and cannot be exported; export in eval "
                          "mode with running statistics")
    stats = [tr.array_name(kw["mean"]), tr.array_name(kw["var"])]
    return tr.add_node("batch_norm", [inputs[0], *stats, *inputs[1:]], out,
                       {"eps": float(kw["eps"])})


register(OpDef("batch_norm", (3, 5), {"eps": (NUMBER, REQUIRED)}, _shape, _kernel, _onnx,
               traced_from=(BatchNorm,), record=_record, weight_inputs=1, fresh=True))
