"""Tracing: run a model once in eval mode and record a graph over the script format's op list.

Leaf modules of known types (Linear, Conv2d, pools, BatchNorm, activations, Flatten, Softmax,
Dropout) become one node each, their parameters named by state-dict keys; tensor ops run by
forward code outside those leaves (add, mul, matmul, reshape, permute, cat, F.relu, ...) are
recorded through the op hook of engine.function. Anything else raises ExportError naming the op
and the module path.
Batch norm stays explicit in the file (weights keep their state-dict names, so the file is also a
state dict); the runner folds it into the layer before it at load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.backend import to_numpy
from engine.errors import ExportError
from engine.export import graph as G
from engine.export.leaves import LEAVES, leaf_kind
from engine.export.opmap import record_op


@dataclass
class ExportedProgram:
    """A traced model: graph (JSON-able), weights by name, preprocessing and class names."""

    graph: dict
    weights: dict[str, np.ndarray]
    preprocessing: dict = field(default_factory=dict)
    classes: list[str] | None = None

    def save(self, path: Any) -> Any:
        """Write the script format (.safetensors)."""
        from engine.export.script import save_script

        return save_script(self, path)

    def module(self) -> Any:
        """A runnable ScriptModule without a file round trip."""
        from engine.export.script import ScriptModule

        graph = json.loads(json.dumps(self.graph))
        return ScriptModule(graph, dict(self.weights), self.preprocessing, self.classes)


class Tracer:
    """Maps live tensors to value names while the model runs; builds the node list."""

    def __init__(self, model: Any, batch: int) -> None:
        self.model, self.batch = model, batch
        self.names: dict[int, tuple[str, int]] = {}  # id(tensor) -> (value name, version)
        self.keep: list[Any] = []  # keeps traced tensors alive so ids are not reused
        self.batched: set[str] = set()
        self.weights: dict[str, np.ndarray] = {}
        self.nodes: list[dict] = []
        self.params = {id(t): k for k, t in _named_tensors(model)}
        self.paths = {id(m): p for p, m in model.named_modules()}
        self.stack: list[str] = []
        self.leaf_depth = 0
        self.inplace_result: dict[int, str] = {}
        self.counter = 0
        self.leaf_input = ""

    @property
    def where(self) -> str:
        return self.stack[-1] if self.stack and self.stack[-1] else "<model>"

    def bind(self, t: Any, name: str, batched: bool) -> str:
        self.names[id(t)] = (name, t._version)
        self.keep.append(t)
        if batched:
            self.batched.add(name)
        return name

    def fresh(self, t: Any, batched: bool) -> str:
        self.counter += 1
        return self.bind(t, f"v{self.counter}", batched)

    def name_of(self, t: Any) -> str:
        """The value name of t: a traced value, a parameter, or a new constant."""
        key = id(t)
        if key in self.names:
            name, version = self.names[key]
            if t._version == version:
                return name
            if key in self.inplace_result:  # t was overwritten in place by that op's result
                return self.bind(t, self.inplace_result[key], name in self.batched)
            raise ExportError(f"in-place update of a tensor at {self.where} cannot be exported; "
                              "use the out-of-place op")
        if key in self.params:
            name = self.params[key]
            if name not in self.weights:
                self.weights[name] = np.array(to_numpy(t._data), dtype=np.float32)
            return name
        self.keep.append(t)
        name = self.constant(t._data)
        self.names[key] = (name, t._version)
        return name

    def constant(self, array: Any) -> str:
        """Store a raw array met in an op's arguments as a float32 constant weight."""
        name = f"const.{len(self.weights)}"
        self.weights[name] = np.array(to_numpy(array), dtype=np.float32)
        return name

    def add_node(self, op: str, inputs: list[Any], out: Any, attrs: dict | None = None,
                 name: str | None = None) -> str:
        ins = [i if isinstance(i, str) else self.name_of(i) for i in inputs]
        batched = any(i in self.batched for i in ins)
        out_name = self.fresh(out, batched)
        if name is None:  # an op in forward code: name it after its module and position
            name = f"{self.stack[-1]}.{op}{len(self.nodes)}" if self.stack and self.stack[-1] \
                else f"{op}{len(self.nodes)}"
        self.nodes.append({"op": op, "name": name, "inputs": ins,
                           "outputs": [out_name], "attrs": attrs or {}})
        return out_name

    # ----- hooks ------------------------------------------------------------------------
    def pre_hook(self, module: Any, args: Any) -> None:
        self.stack.append(self.paths.get(id(module), type(module).__name__))
        if self.leaf_depth or leaf_kind(module):
            if self.leaf_depth == 0 and args and _is_tensor(args[0]):
                # named now: an in-place layer (ReLU(inplace=True)) overwrites its input
                self.leaf_input = self.name_of(args[0])
            self.leaf_depth += 1

    def post_hook(self, module: Any, args: Any, output: Any) -> None:
        path = self.stack[-1]
        if self.leaf_depth:
            self.leaf_depth -= 1
            if self.leaf_depth == 0:
                kind = leaf_kind(module)
                x = args[0] if args else None
                if not _is_tensor(x) or not _is_tensor(output):
                    raise ExportError(f"module {path} ({type(module).__name__}) must take and "
                                      "return one tensor to be exported")
                LEAVES[kind](self, module, path, x, output)
        self.stack.pop()

    def op_hook(self, op: type, inputs: tuple, kwargs: dict, out: Any) -> None:
        if self.leaf_depth:
            return
        name = record_op(self, op, inputs, kwargs, out)
        if inputs and name:
            # an in-place op (x.add_(y)) runs x.add(y) and copies the result into x
            self.inplace_result[id(inputs[0])] = name


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "_data") and hasattr(x, "_version")


def _named_tensors(model: Any) -> list[tuple[str, Any]]:
    out = list(model.named_parameters())
    if hasattr(model, "named_buffers"):
        out += [(k, b) for k, b in model.named_buffers() if b is not None]
    return out


def trace(model: Any, example_input: Any, preprocessing: dict | None = None,
          classes: list[str] | None = None) -> ExportedProgram:
    """Run model once (eval mode, no grad) on example_input and record its graph."""
    import engine
    from engine import function

    x = example_input if _is_tensor(example_input) else engine.tensor(example_input)
    if x._data.dtype != np.float32:
        x = x.float()
    tracer = Tracer(model, x.shape[0])
    handles = []
    for _, m in model.named_modules():
        handles.append(m.register_forward_pre_hook(tracer.pre_hook))
        handles.append(m.register_forward_hook(tracer.post_hook))
    was_training = model.training
    model.eval()
    previous, function.trace_hook = function.trace_hook, tracer.op_hook
    try:
        tracer.bind(x, "input", True)
        with engine.no_grad():
            out = model(x)
    finally:
        function.trace_hook = previous
        model.train(was_training)
        for h in handles:
            h.remove()
    if not _is_tensor(out):
        raise ExportError(f"model returned {type(out).__name__}; export needs one output tensor")
    graph = {
        "inputs": [{"name": "input", "dtype": "float32", "shape": [None, *x.shape[1:]]}],
        "outputs": [tracer.name_of(out)],
        "nodes": tracer.nodes,
    }
    used = {i for n in graph["nodes"] for i in n["inputs"]}
    weights = {k: v for k, v in tracer.weights.items() if k in used}
    G.validate(json.loads(json.dumps(graph)), weights, f"trace of {type(model).__name__}")
    return ExportedProgram(graph, weights, dict(preprocessing or {}), classes)
