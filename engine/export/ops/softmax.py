"""Export ops softmax and log_softmax along one dim: the engine op's own forward."""

from __future__ import annotations

from typing import Any

from engine.export.registry import INT, REQUIRED, OpDef, forward_kernel, register
from engine.export.shapes import Cost, Shape, dim
from engine.ops.softmax import LogSoftmax, Softmax


def _shape(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    dim(a["dim"], len(s[0]))
    return s[0], Cost()


def _family(name: str, cls: type, onnx_type: str) -> OpDef:
    def kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
        return forward_kernel(cls, axis=node["attrs"]["dim"])

    def emit(b: Any, node: dict, shapes: dict) -> None:
        b.add(onnx_type, node["inputs"], node["outputs"], axis=node["attrs"]["dim"])

    def record(tr: Any, inputs: tuple, kw: dict, out: Any) -> str:
        return tr.add_node(name, list(inputs), out,
                           {"dim": int(kw["axis"]) % max(inputs[0].ndim, 1)})

    return OpDef(name, (1, 1), {"dim": (INT, REQUIRED)}, _shape, kernel, emit,
                 traced_from=(cls,), record=record)


register(_family("softmax", Softmax, "Softmax"))
register(_family("log_softmax", LogSoftmax, "LogSoftmax"))
