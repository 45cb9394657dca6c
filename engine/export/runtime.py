"""Compile a validated graph into a list of kernel calls and run it on NumPy or CuPy arrays.

Compilation folds each batch norm into the convolution or linear layer before it (when that
layer's output feeds nothing else), fuses a following relu into the producer, and lets unary
activations and adds write into a fresh single-use input instead of allocating.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from engine.export import kernels as K

_FRESH = {"linear", "conv2d", "batch_norm", "add", "sub", "mul", "div", "matmul", "gelu",
          "sigmoid", "tanh", "leaky_relu", "relu", "mean"}  # producers returning a new array
_BINARY = {"add": "add", "sub": "subtract", "mul": "multiply", "div": "divide"}


def _bn_scale_shift(weights: dict, ins: list[str], eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel y = x * scale + shift of an eval-mode batch norm, computed in float64."""
    mean, var = (weights[n].astype(np.float64) for n in ins[1:3])
    gamma = weights[ins[3]].astype(np.float64) if len(ins) > 3 else 1.0
    beta = weights[ins[4]].astype(np.float64) if len(ins) > 4 else 0.0
    scale = gamma / np.sqrt(var + eps)
    return scale, beta - mean * scale


def plan(graph: dict, weights: dict[str, np.ndarray]) -> list[dict]:
    """Rewrite the node list for inference: fold batch norms, fuse relus; weights as arrays."""
    nodes = [dict(n, attrs=dict(n["attrs"])) for n in graph["nodes"]]
    uses = Counter(i for n in nodes for i in n["inputs"]) + Counter(graph["outputs"])
    producer = {n["outputs"][0]: n for n in nodes}
    out: list[dict] = []
    kept: set[int] = set()  # ids of the nodes in out: a list membership test made load O(n^2)
    for node in nodes:
        op, src = node["op"], producer.get(node["inputs"][0])
        single = src is not None and uses[node["inputs"][0]] == 1 and id(src) in kept
        if op == "batch_norm":
            scale, shift = _bn_scale_shift(weights, node["inputs"], float(node["attrs"]["eps"]))
            if single and src["op"] in ("conv2d", "linear") and not src.get("relu"):
                w = src["w"] if "w" in src else weights[src["inputs"][1]].astype(np.float64)
                b = src.get("b")
                if b is None:
                    b = (weights[src["inputs"][2]].astype(np.float64) if len(src["inputs"]) > 2
                         else np.zeros(w.shape[0]))
                src["w"] = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
                src["b"] = b * scale + shift
                src["outputs"] = node["outputs"]
                producer[node["outputs"][0]] = src
                continue
            node["scale"], node["shift"] = scale, shift
        if op == "relu" and single and src["op"] in ("conv2d", "linear") and not src.get("relu"):
            src["relu"] = True
            src["outputs"] = node["outputs"]
            producer[node["outputs"][0]] = src
            continue
        if op in ("relu", "leaky_relu", "sigmoid", "tanh", "add", "sub", "mul", "div"):
            node["inplace"] = single and src["op"] in _FRESH
        out.append(node)
        kept.add(id(node))
    return out


class Program:
    """A graph compiled for one array module (numpy or cupy): call it with the input arrays."""

    def __init__(self, graph: dict, weights: dict[str, np.ndarray], shapes: dict, xp: Any) -> None:
        self.xp = xp
        names: dict[str, int] = {}
        self.consts: list[Any] = []

        def slot(name: str) -> int:
            if name not in names:
                names[name] = len(names)
                self.consts.append(xp.asarray(weights[name]) if name in weights else None)
            return names[name]

        self.input_slots = [slot(s["name"]) for s in graph["inputs"]]
        self.steps = []
        for node in plan(graph, weights):
            kernel, ins = self._kernel(node, weights, shapes)
            self.steps.append((kernel, [slot(i) for i in ins], slot(node["outputs"][0])))
        self.output_slots = [slot(o) for o in graph["outputs"]]

    def _kernel(self, node: dict, weights: dict, shapes: dict) -> tuple[Any, list[str]]:
        xp, op, a, ins = self.xp, node["op"], node["attrs"], node["inputs"]

        def f32(arr: Any) -> Any:
            return None if arr is None else xp.asarray(np.asarray(arr, dtype=np.float32))

        if op in ("linear", "conv2d"):
            w = node.get("w", weights[ins[1]])
            b = node.get("b", weights[ins[2]] if len(ins) > 2 else None)
            build = K.build_linear if op == "linear" else K.build_conv2d
            return build(xp, a, f32(w), f32(b), bool(node.get("relu"))), ins[:1]
        if op == "batch_norm":
            view = (-1,) + (1,) * (len(shapes[ins[0]]) - 2)
            scale, shift = f32(node["scale"].reshape(view)), f32(node["shift"].reshape(view))
            return (lambda x: x * scale + shift), ins[:1]
        if op in ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"):
            return getattr(K, f"build_{op}")(xp, a), ins
        inplace = node.get("inplace", False)
        if op == "relu":
            return (lambda x: xp.maximum(x, 0, out=x if inplace else None)), ins
        if op == "leaky_relu":
            slope = float(a["negative_slope"])
            return (lambda x: xp.where(x > 0, x, x * np.float32(slope))), ins
        if op in ("sigmoid", "tanh"):
            if op == "tanh":
                return (lambda x: xp.tanh(x, out=x if inplace else None)), ins
            return (lambda x: K.sigmoid(xp, x, inplace)), ins
        if op == "gelu":
            approx = a.get("approximate", "none")
            return (lambda x: K.gelu(xp, x, approx)), ins
        if op in ("softmax", "log_softmax"):
            dim, log = a["dim"], op == "log_softmax"
            return (lambda x: K.softmax(xp, x, dim, log)), ins
        if op in _BINARY:
            ufunc = getattr(xp, _BINARY[op])
            same = inplace and shapes[ins[0]] == shapes[node["outputs"][0]]
            return (lambda x, y: ufunc(x, y, out=x if same else None)), ins
        if op == "matmul":
            return xp.matmul, ins
        if op == "reshape":
            target = a["shape"]
            return (lambda x: x.reshape([x.shape[i] if t == 0 else t
                                         for i, t in enumerate(target)])), ins
        if op == "flatten":
            s, e = a["start_dim"], a["end_dim"]
            return (lambda x: x.reshape(x.shape[:s] + (-1,) + x.shape[e % x.ndim + 1:])), ins
        if op == "transpose":
            perm = tuple(a["perm"])
            return (lambda x: x.transpose(perm)), ins
        if op == "cat":
            dim = a["dim"]
            return (lambda *xs: xp.concatenate(xs, axis=dim)), ins
        if op == "mean":
            dims, keep = tuple(a["dim"]), bool(a.get("keepdim", False))
            return (lambda x: x.mean(axis=dims, keepdims=keep)), ins
        raise AssertionError(f"op {op} passed validation but has no kernel")

    def run(self, *inputs: Any) -> list[Any]:
        """Run every step on float32 inputs; returns the outputs (fresh arrays)."""
        vals = list(self.consts)
        for s, x in zip(self.input_slots, inputs, strict=True):
            vals[s] = x
        for kernel, ins, out in self.steps:
            vals[out] = kernel(*[vals[i] for i in ins])
        # outputs may view reused buffers: hand back owned, contiguous copies
        return [self.xp.array(vals[s], order="C") for s in self.output_slots]
