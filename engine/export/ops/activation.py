"""Export ops relu, sigmoid, tanh, leaky_relu, gelu and hardswish.

relu, sigmoid and tanh write into a fresh single-use input when the planner allows it; the others
run the engine op's own forward, so the runner's numerics are the engine's (GELU's erf included).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.export.registry import (
    NUMBER,
    OpDef,
    forward_kernel,
    one_of,
    onnx_node,
    options,
    register,
)
from engine.export.shapes import same
from engine.ops.activation import Gelu, Hardswish, LeakyRelu
from engine.ops.elementwise import Relu, Sigmoid, Tanh


def _relu_kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    inplace = node.get("inplace", False)
    return lambda x: xp.maximum(x, 0, out=x if inplace else None)


def _tanh_kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    inplace = node.get("inplace", False)
    return lambda x: xp.tanh(x, out=x if inplace else None)


def _sigmoid_kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    """The engine's tanh form of the logistic sigmoid (no overflow for large negative x)."""
    inplace = node.get("inplace", False)

    def sigmoid(x: Any) -> Any:
        out = x if inplace else xp.empty_like(x)
        xp.multiply(x, 0.5, out=out)
        xp.tanh(out, out=out)
        out *= 0.5
        out += 0.5
        return out

    return sigmoid


def _leaky_kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    return forward_kernel(LeakyRelu, negative_slope=float(node["attrs"]["negative_slope"]))


def _leaky_onnx(b: Any, node: dict, shapes: dict) -> None:
    b.add("LeakyRelu", node["inputs"], node["outputs"],
          alpha=float(node["attrs"]["negative_slope"]))


def _record_leaky(tr: Any, inputs: tuple, kw: dict, out: Any) -> str:
    slope = float(options(LeakyRelu, kw)["negative_slope"])
    return tr.add_node("leaky_relu", list(inputs), out, {"negative_slope": slope})


def _gelu_kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    return forward_kernel(Gelu, approximate=node["attrs"].get("approximate", "none"))


def _gelu_onnx(b: Any, node: dict, shapes: dict) -> None:
    """Gelu is an ONNX op only from opset 20: compose it from Erf (or Tanh)."""
    x, out = node["inputs"][0], node["outputs"][0]
    half, one = b.const(0.5, np.float32), b.const(1.0, np.float32)
    if node["attrs"].get("approximate", "none") == "tanh":
        b.add("Mul", [x, x], [sq := b.tmp()])
        b.add("Mul", [sq, x], [cube := b.tmp()])
        b.add("Mul", [cube, b.const(0.044715, np.float32)], [c3 := b.tmp()])
        b.add("Add", [x, c3], [s := b.tmp()])
        b.add("Mul", [s, b.const(math.sqrt(2 / math.pi), np.float32)], [inner := b.tmp()])
        b.add("Tanh", [inner], [core := b.tmp()])
    else:
        b.add("Mul", [x, b.const(1 / math.sqrt(2), np.float32)], [scaled := b.tmp()])
        b.add("Erf", [scaled], [core := b.tmp()])
    b.add("Add", [core, one], [plus := b.tmp()])
    b.add("Mul", [x, plus], [xp1 := b.tmp()])
    b.add("Mul", [xp1, half], [out])


def _record_gelu(tr: Any, inputs: tuple, kw: dict, out: Any) -> str:
    approximate = str(options(Gelu, kw)["approximate"])
    return tr.add_node("gelu", list(inputs), out, {"approximate": approximate})


register(OpDef("relu", (1, 1), {}, same, _relu_kernel, onnx_node("Relu"), traced_from=(Relu,),
               fresh=True, inplace=True))
register(OpDef("sigmoid", (1, 1), {}, same, _sigmoid_kernel, onnx_node("Sigmoid"),
               traced_from=(Sigmoid,), fresh=True, inplace=True))
register(OpDef("tanh", (1, 1), {}, same, _tanh_kernel, onnx_node("Tanh"), traced_from=(Tanh,),
               fresh=True, inplace=True))
register(OpDef("leaky_relu", (1, 1), {"negative_slope": (NUMBER, 0.01)}, same, _leaky_kernel,
               _leaky_onnx, traced_from=(LeakyRelu,), record=_record_leaky, fresh=True))
register(OpDef("gelu", (1, 1), {"approximate": (one_of("none", "tanh"), "none")}, same,
               _gelu_kernel, _gelu_onnx, traced_from=(Gelu,), record=_record_gelu, fresh=True))
register(OpDef("hardswish", (1, 1), {}, same, lambda xp, node, w, s: forward_kernel(Hardswish),
               onnx_node("HardSwish"), traced_from=(Hardswish,), fresh=True))
