"""Compile a validated graph into a list of kernel calls and run it on NumPy or CuPy arrays.

Compilation folds each batch norm into the layer before it that absorbs one (conv2d, linear) when
that layer's output feeds nothing else, fuses a following relu into such a layer, and lets ops
that can (relu, sigmoid, tanh, add, ...) write into a fresh single-use input instead of
allocating. Each node's kernel comes from its op's registry entry.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from engine.export.ops import OPS
from engine.export.ops.norm import scale_shift


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
        absorbs = single and OPS[src["op"]].absorbs and not src.get("relu")
        if op == "batch_norm" and absorbs:
            scale, shift = scale_shift(weights, node["inputs"], float(node["attrs"]["eps"]))
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
        if op == "relu" and absorbs:
            src["relu"] = True
            src["outputs"] = node["outputs"]
            producer[node["outputs"][0]] = src
            continue
        if OPS[op].inplace:
            node["inplace"] = single and OPS[src["op"]].fresh
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
            spec = OPS[node["op"]]
            kernel = spec.kernel(xp, node, weights, shapes)
            ins = node["inputs"][:spec.weight_inputs]  # weights from there on live in the kernel
            self.steps.append((kernel, [slot(i) for i in ins], slot(node["outputs"][0])))
        self.output_slots = [slot(o) for o in graph["outputs"]]

    def run(self, *inputs: Any) -> list[Any]:
        """Run every step on float32 inputs; returns the outputs (fresh arrays)."""
        vals = list(self.consts)
        for s, x in zip(self.input_slots, inputs, strict=True):
            vals[s] = x
        for kernel, ins, out in self.steps:
            vals[out] = kernel(*[vals[i] for i in ins])
        # outputs may view reused buffers: hand back owned, contiguous copies
        return [self.xp.array(vals[s], order="C") for s in self.output_slots]
