"""ONNX writer: the traced graph as an opset-17, IR-version-10 model with a dynamic batch dim.

``onnx`` is an optional extra, imported only here and only when called.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ExportError

OPSET, IR_VERSION = 17, 10
INSTALL_HINT = "ONNX export needs the onnx package: pip install 'gradwell[onnx]'"


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ExportError(INSTALL_HINT) from None
    return onnx


class _Builder:
    def __init__(self, onnx: Any, exported: Any) -> None:
        self.onnx, self.h = onnx, onnx.helper
        self.nodes: list[Any] = []
        self.inits = {k: np.asarray(v, np.float32) for k, v in exported.weights.items()}
        self.count = 0

    def const(self, array: Any, dtype: Any = np.int64) -> str:
        self.count += 1
        name = f"_c{self.count}"
        self.inits[name] = np.asarray(array, dtype=dtype)
        return name

    def tmp(self) -> str:
        self.count += 1
        return f"_t{self.count}"

    def add(self, op: str, ins: list[str], outs: list[str], **attrs: Any) -> None:
        self.nodes.append(self.h.make_node(op, ins, outs, **attrs))


def _emit(b: _Builder, node: dict, shapes: dict) -> None:
    op, a, ins, out = node["op"], node["attrs"], node["inputs"], node["outputs"][0]
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "add": "Add", "sub": "Sub",
              "mul": "Mul", "div": "Div", "matmul": "MatMul"}
    if op in simple:
        b.add(simple[op], ins, [out])
    elif op == "linear":
        if len(shapes[ins[0]]) == 2:
            b.add("Gemm", ins, [out], transB=1)
        else:
            wt = b.const(b.inits[ins[1]].T, np.float32)
            mm = b.tmp() if len(ins) > 2 else out
            b.add("MatMul", [ins[0], wt], [mm])
            if len(ins) > 2:
                b.add("Add", [mm, ins[2]], [out])
    elif op == "conv2d":
        t, bt, lf, rt = a["pads"]
        w = b.inits[ins[1]]
        b.add("Conv", ins, [out], kernel_shape=list(w.shape[2:]), strides=a["stride"],
              pads=[t, lf, bt, rt], dilations=a["dilation"], group=a["groups"])
    elif op in ("max_pool2d", "avg_pool2d"):
        p = a["padding"]
        kw = {"kernel_shape": a["kernel_size"], "strides": a["stride"],
              "pads": [p[0], p[1], p[0], p[1]], "ceil_mode": int(a.get("ceil_mode", False))}
        if op == "max_pool2d":
            b.add("MaxPool", ins, [out], dilations=a.get("dilation", [1, 1]), **kw)
        else:
            b.add("AveragePool", ins, [out], count_include_pad=int(a["count_include_pad"]), **kw)
    elif op == "adaptive_avg_pool2d":
        (h, w), (oh, ow) = shapes[ins[0]][2:], a["output_size"]
        if (oh, ow) == (1, 1):
            b.add("GlobalAveragePool", ins, [out])
        elif h % oh == 0 and w % ow == 0:
            k = [h // oh, w // ow]
            b.add("AveragePool", ins, [out], kernel_shape=k, strides=k)
        else:
            _adaptive_bins(b, ins[0], out, (h, w), (oh, ow))
    elif op == "batch_norm":
        x, mean, var = ins[:3]
        c = b.inits[mean].shape[0]
        scale = ins[3] if len(ins) > 3 else b.const(np.ones(c), np.float32)
        bias = ins[4] if len(ins) > 4 else b.const(np.zeros(c), np.float32)
        b.add("BatchNormalization", [x, scale, bias, mean, var], [out], epsilon=float(a["eps"]))
    elif op == "leaky_relu":
        b.add("LeakyRelu", ins, [out], alpha=float(a["negative_slope"]))
    elif op == "gelu":
        _gelu(b, ins[0], out, a.get("approximate", "none"))
    elif op in ("softmax", "log_softmax"):
        b.add("Softmax" if op == "softmax" else "LogSoftmax", ins, [out], axis=a["dim"])
    elif op == "reshape":
        b.add("Reshape", [ins[0], b.const(a["shape"])], [out])
    elif op == "flatten":
        b.add("Reshape", [ins[0], b.const([0 if d is None else d for d in shapes[out]])], [out])
    elif op == "transpose":
        b.add("Transpose", ins, [out], perm=a["perm"])
    elif op == "cat":
        b.add("Concat", ins, [out], axis=a["dim"])
    elif op == "mean":
        b.add("ReduceMean", ins, [out], axes=a["dim"], keepdims=int(a.get("keepdim", False)))
    else:
        raise ExportError(f"op {op} of node '{node['name']}' has no ONNX mapping")


def _adaptive_bins(b: _Builder, x: str, out: str, hw: tuple, ohw: tuple) -> None:
    """Uneven adaptive bins: one Slice + ReduceMean per output cell, concatenated."""
    (h, w), (oh, ow) = hw, ohw
    rows = []
    for i in range(oh):
        r0, r1 = (i * h) // oh, -(-((i + 1) * h) // oh)
        cells = []
        for j in range(ow):
            c0, c1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            sl, cell = b.tmp(), b.tmp()
            b.add("Slice", [x, b.const([r0, c0]), b.const([r1, c1]), b.const([2, 3])], [sl])
            b.add("ReduceMean", [sl], [cell], axes=[2, 3], keepdims=1)
            cells.append(cell)
        b.add("Concat", cells, [row := b.tmp()], axis=3)
        rows.append(row)
    b.add("Concat", rows, [out], axis=2)


def _gelu(b: _Builder, x: str, out: str, approximate: str) -> None:
    """Gelu is an ONNX op only from opset 20: compose it from Erf (or Tanh)."""
    half, one = b.const(0.5, np.float32), b.const(1.0, np.float32)
    if approximate == "tanh":
        cube, inner, t = b.tmp(), b.tmp(), b.tmp()
        b.add("Mul", [x, x], [sq := b.tmp()])
        b.add("Mul", [sq, x], [cube])
        b.add("Mul", [cube, b.const(0.044715, np.float32)], [c3 := b.tmp()])
        b.add("Add", [x, c3], [s := b.tmp()])
        b.add("Mul", [s, b.const(math.sqrt(2 / math.pi), np.float32)], [inner])
        b.add("Tanh", [inner], [t])
        core = t
    else:
        b.add("Mul", [x, b.const(1 / math.sqrt(2), np.float32)], [scaled := b.tmp()])
        b.add("Erf", [scaled], [core := b.tmp()])
    b.add("Add", [core, one], [plus := b.tmp()])
    b.add("Mul", [x, plus], [xp1 := b.tmp()])
    b.add("Mul", [xp1, half], [out])


def to_onnx(exported: Any, path: str | os.PathLike | None = None) -> Any:
    """A traced ExportedProgram as a checked ONNX ModelProto, written to path when given."""
    from engine.export import graph as G

    onnx = _onnx()
    graph = exported.graph
    shapes = G.validate(graph, exported.weights, "ONNX export")
    b = _Builder(onnx, exported)
    for node in graph["nodes"]:
        _emit(b, node, shapes)

    def value(name: str) -> Any:
        dims = ["batch" if d is None else d for d in shapes[name]]
        return b.h.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims)

    used = {i for n in b.nodes for i in n.input}
    inits = [onnx.numpy_helper.from_array(v, k) for k, v in b.inits.items() if k in used]
    g = b.h.make_graph(b.nodes, "gradwell", [value(s["name"]) for s in graph["inputs"]],
                       [value(o) for o in graph["outputs"]], initializer=inits)
    model = b.h.make_model(g, opset_imports=[b.h.make_opsetid("", OPSET)],
                           producer_name="gradwell")
    model.ir_version = IR_VERSION
    _metadata(b, model, exported)
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"ONNX check failed: {str(exc).splitlines()[0]}") from None
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(path))
    return model


def _metadata(b: _Builder, model: Any, exported: Any) -> None:
    import json

    props = {"preprocessing": json.dumps(exported.preprocessing),
             "classes": json.dumps(exported.classes)}
    b.h.set_model_props(model, props)
