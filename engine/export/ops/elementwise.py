"""Export ops add, sub, mul and div (NumPy broadcasting; the batch dim broadcasts only with 1)."""

from __future__ import annotations

from typing import Any

from engine.export.registry import OpDef, onnx_node, register
from engine.export.shapes import Cost, Shape, broadcast
from engine.ops.elementwise import Add, Div, Mul, Sub


def _shape(s: list[Shape], a: dict) -> tuple[Shape, Cost]:
    return broadcast(s[0], s[1]), Cost()


def _binary(ufunc_name: str) -> Any:
    def build(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
        """The ufunc, writing into a fresh single-use first input of the output's shape."""
        ufunc = getattr(xp, ufunc_name)
        ins = node["inputs"]
        same = node.get("inplace", False) and shapes[ins[0]] == shapes[node["outputs"][0]]
        return lambda x, y: ufunc(x, y, out=x if same else None)
    return build


for _name, _ufunc, _onnx, _cls in (("add", "add", "Add", Add), ("sub", "subtract", "Sub", Sub),
                                   ("mul", "multiply", "Mul", Mul), ("div", "divide", "Div", Div)):
    register(OpDef(_name, (2, 2), {}, _shape, _binary(_ufunc), onnx_node(_onnx),
                   traced_from=(_cls,), fresh=True, inplace=True))
