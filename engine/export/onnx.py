"""ONNX writer: the traced graph as an opset-17, IR-version-10 model with a dynamic batch dim.

Each node is written by its op's registry entry through the builder here (nodes, constants,
temporary names). ``onnx`` is an optional extra, imported only here and only when called.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ExportError
from engine.export import graph as G
from engine.export.ops import OPS

OPSET, IR_VERSION = 17, 10
INSTALL_HINT = "ONNX export needs the onnx package: pip install 'gradwell[onnx]'"


def _onnx() -> Any:
    try:  # an optional extra: imported when an ONNX file is written, never at engine import
        import onnx
    except ImportError:
        raise ExportError(INSTALL_HINT) from None
    return onnx


class _Builder:
    """Collects ONNX nodes and initializers; the weights are initializers under their names."""

    def __init__(self, onnx: Any, exported: Any) -> None:
        self.onnx, self.h = onnx, onnx.helper
        self.nodes: list[Any] = []
        self.inits = {k: np.asarray(v, np.float32) for k, v in exported.weights.items()}
        self.count = 0

    def const(self, array: Any, dtype: Any = np.int64) -> str:
        """A new initializer holding array; returns its name."""
        self.count += 1
        name = f"_c{self.count}"
        self.inits[name] = np.asarray(array, dtype=dtype)
        return name

    def tmp(self) -> str:
        """A fresh name for an intermediate value."""
        self.count += 1
        return f"_t{self.count}"

    def add(self, op: str, ins: list[str], outs: list[str], **attrs: Any) -> None:
        """Append one ONNX node."""
        self.nodes.append(self.h.make_node(op, ins, outs, **attrs))


def to_onnx(exported: Any, path: str | os.PathLike | None = None) -> Any:
    """A traced ExportedProgram as a checked ONNX ModelProto, written to path when given."""
    onnx = _onnx()
    graph = exported.graph
    shapes = G.validate(graph, exported.weights, "ONNX export")
    b = _Builder(onnx, exported)
    for node in graph["nodes"]:
        OPS[node["op"]].onnx(b, node, shapes)

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
    props = {"preprocessing": json.dumps(exported.preprocessing),
             "classes": json.dumps(exported.classes)}
    b.h.set_model_props(model, props)
