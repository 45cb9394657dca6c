"""Export ops relu, sigmoid, tanh, leaky_relu, gelu, hardswish and elu (ELU, SELU and CELU).

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
from engine.ops.activation import Elu, Gelu, Hardswish, LeakyRelu
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


def _elu_kernel(xp: Any, node: dict, weights: dict, shapes: dict) -> Any:
    a = node["attrs"]
    return forward_kernel(Elu, alpha=a["alpha"], scale=a["scale"], input_scale=a["input_scale"])


def _elu_onnx(b: Any, node: dict, shapes: dict) -> None:
    """Elu, Selu or Celu for what F.elu, F.selu and F.celu trace to; else composed."""
    a, x, out = node["attrs"], node["inputs"][0], node["outputs"][0]
    alpha, scale, input_scale = (float(a[k]) for k in ("alpha", "scale", "input_scale"))
    if input_scale == 1.0:
        if scale == 1.0:
            b.add("Elu", [x], [out], alpha=alpha)
        else:
            b.add("Selu", [x], [out], alpha=alpha, gamma=scale)
    elif scale == 1.0 and math.isclose(alpha * input_scale, 1.0, rel_tol=1e-12):
        b.add("Celu", [x], [out], alpha=alpha)
    else:  # scale * (relu(x) + alpha * (exp(input_scale * min(x, 0)) - 1))
        b.add("Min", [x, b.const(0.0, np.float32)], [neg := b.tmp()])
        b.add("Mul", [neg, b.const(input_scale, np.float32)], [z := b.tmp()])
        b.add("Exp", [z], [e := b.tmp()])
        b.add("Sub", [e, b.const(1.0, np.float32)], [em1 := b.tmp()])
        b.add("Mul", [em1, b.const(alpha, np.float32)], [tail := b.tmp()])
        b.add("Relu", [x], [pos := b.tmp()])
        b.add("Add", [pos, tail], [both := b.tmp()])
        b.add("Mul", [both, b.const(scale, np.float32)], [out])


def _record_elu(tr: Any, inputs: tuple, kw: dict, out: Any) -> str:
    kw = options(Elu, kw)
    attrs = {k: float(kw[k]) for k in ("alpha", "scale", "input_scale")}
    return tr.add_node("elu", list(inputs), out, attrs)


register(OpDef("elu", (1, 1), {k: (NUMBER, 1.0) for k in ("alpha", "scale", "input_scale")},
               same, _elu_kernel, _elu_onnx, traced_from=(Elu,), record=_record_elu,
               fresh=True))
