"""Tracing: run a model once in eval mode and record a graph over the script format's op list.

Every primitive op the forward runs reaches the op hook of engine.function with its inputs and
keyword arguments; the registry maps its Function class to the recorder that adds the node (a
Linear module and F.linear alike become one linear node). Parameters and buffers keep their
state-dict names as weights, found by the id of the tensor or of its raw array (batch norm gets
its running statistics as raw arrays). Node names come from the module stack: the first node
inside a module is named by its path ("features.0"), later ones by path, op and position.
An op without a recorder raises ExportError naming the op and the module path.
Batch norm stays explicit in the file (so the file is also a state dict); the runner folds it into
the layer before it at load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine import function
from engine.backend import to_numpy
from engine.creation import tensor as as_tensor
from engine.errors import ExportError
from engine.export import graph as G
from engine.export.ops import OPS, TRACED
from engine.export.script import ScriptModule, save_script
from engine.grad_mode import no_grad
from engine.tensor import Tensor


@dataclass
class ExportedProgram:
    """A traced model: graph (JSON-able), weights by name, preprocessing and class names."""

    graph: dict
    weights: dict[str, np.ndarray]
    preprocessing: dict = field(default_factory=dict)
    classes: list[str] | None = None

    def save(self, path: Any) -> Any:
        """Write the script format (.safetensors)."""
        return save_script(self, path)

    def module(self) -> Any:
        """A runnable ScriptModule without a file round trip."""
        graph = json.loads(json.dumps(self.graph))
        return ScriptModule(graph, dict(self.weights), self.preprocessing, self.classes)


class Tracer:
    """Maps live tensors to value names while the model runs; builds the node list."""

    def __init__(self, model: Any) -> None:
        self.names: dict[int, tuple[str, int]] = {}  # id(tensor) -> (value name, version)
        self.keep: list[Any] = []  # keeps traced tensors alive so ids are not reused
        self.batched: set[str] = set()
        self.weights: dict[str, np.ndarray] = {}
        self.nodes: list[dict] = []
        self.node_names: set[str] = set()
        named = _named_tensors(model)
        self.params = {id(t): (k, t._data) for k, t in named}
        self.arrays = {id(t._data): (k, t._data) for k, t in named}  # raw arrays of the same
        self.paths = {id(m): p for p, m in model.named_modules()}
        self.stack: list[str] = []
        self.inplace_result: dict[int, str] = {}
        self.counter = 0

    @property
    def where(self) -> str:
        """The module path of the op being recorded, for error messages."""
        return self.stack[-1] if self.stack and self.stack[-1] else "<model>"

    def bind(self, t: Any, name: str, batched: bool) -> str:
        """Name tensor t's current version `name`."""
        self.names[id(t)] = (name, t._version)
        self.keep.append(t)
        if batched:
            self.batched.add(name)
        return name

    def fresh(self, t: Any, batched: bool) -> str:
        """A new value name for t."""
        self.counter += 1
        return self.bind(t, f"v{self.counter}", batched)

    def is_traced(self, t: Any) -> bool:
        """True when t is a value the graph computes (not a parameter or constant)."""
        return id(t) in self.names

    def is_batched(self, t: Any) -> bool:
        """True when t carries the batch dim (axis 0)."""
        return self.name_of(t) in self.batched

    def alias(self, x: Any, out: Any) -> str:
        """Give out x's value name: the op is the identity in the exported graph."""
        name = self.name_of(x)
        return self.bind(out, name, name in self.batched)

    def name_of(self, t: Any) -> str:
        """The value name of t: a traced value, a parameter or buffer, or a new constant."""
        key = id(t)
        if key in self.names:
            name, version = self.names[key]
            if t._version == version:
                return name
            if key in self.inplace_result:  # t was overwritten in place by that op's result
                return self.bind(t, self.inplace_result[key], name in self.batched)
            raise ExportError(f"in-place update of a tensor at {self.where} cannot be exported; "
                              "use the out-of-place op")
        entry = self.params.get(key) or self.arrays.get(id(t._data))
        if entry is not None:
            return self._weight(entry[0], t._data)
        self.keep.append(t)
        name = self.constant(t._data)
        self.names[key] = (name, t._version)
        return name

    def array_name(self, array: Any) -> str:
        """A weight for a raw array: its state-dict name when it is a parameter's or buffer's."""
        entry = self.arrays.get(id(array))
        return self.constant(array) if entry is None else self._weight(entry[0], array)

    def _weight(self, name: str, array: Any) -> str:
        if name not in self.weights:
            self.weights[name] = np.array(to_numpy(array), dtype=np.float32)
        return name

    def constant(self, array: Any) -> str:
        """Store a raw array met in an op's arguments as a float32 constant weight."""
        name = f"const.{len(self.weights)}"
        self.weights[name] = np.array(to_numpy(array), dtype=np.float32)
        return name

    def add_node(self, op: str, inputs: list[Any], out: Any, attrs: dict | None = None) -> str:
        """Append a node of op on inputs (tensors or value names); returns out's value name."""
        ins = [i if isinstance(i, str) else self.name_of(i) for i in inputs]
        batched = any(i in self.batched for i in ins)
        out_name = self.fresh(out, batched)
        path = self.stack[-1] if self.stack else ""
        if not path:  # forward code of the model itself
            name = f"{op}{len(self.nodes)}"
        elif path in self.node_names:  # a module's later ops: path, op and position
            name = f"{path}.{op}{len(self.nodes)}"
        else:  # a module's first op is named by its path, as a state dict names its weights
            name = path
        while name in self.node_names:  # a module path that looks like a generated name
            name += "_"
        self.node_names.add(name)
        self.nodes.append({"op": op, "name": name, "inputs": ins,
                           "outputs": [out_name], "attrs": attrs or {}})
        return out_name

    # ----- hooks ------------------------------------------------------------------------
    def pre_hook(self, module: Any, args: Any) -> None:
        """Enter a module: ops recorded until its post hook are named after its path."""
        self.stack.append(self.paths.get(id(module), type(module).__name__))

    def post_hook(self, module: Any, args: Any, output: Any) -> None:
        """Leave a module."""
        self.stack.pop()

    def op_hook(self, op: type, inputs: tuple, kwargs: dict, out: Any) -> None:
        """Record one primitive op (engine.function's trace hook)."""
        record = TRACED.get(op)
        if record is None:
            raise ExportError(f"op {op.__name__} at {self.where} is not supported by export; "
                              f"supported: {', '.join(sorted(OPS))}")
        name = record(self, inputs, kwargs, out)
        if inputs and name:
            # an in-place op (x.add_(y)) runs x.add(y) and copies the result into x
            self.inplace_result[id(inputs[0])] = name


def _named_tensors(model: Any) -> list[tuple[str, Any]]:
    buffers = [(k, b) for k, b in model.named_buffers() if b is not None]
    return list(model.named_parameters()) + buffers


def _example(example_input: Any) -> Tensor:
    """A float32 copy of the example input, detached from any graph."""
    x = example_input.detach() if isinstance(example_input, Tensor) else as_tensor(example_input)
    return x.float().clone() if x._data.dtype != np.float32 else x.clone()


def trace(model: Any, example_input: Any, preprocessing: dict | None = None,
          classes: list[str] | None = None) -> ExportedProgram:
    """Run model once (eval mode, no grad) on example_input and record its graph."""
    # A copy: a forward that writes its input in place (F.relu(x, inplace=True)) must not change
    # the caller's example.
    x = _example(example_input)
    for name, t in _named_tensors(model):
        if t._data.dtype.kind == "f" and t._data.dtype != np.float32:
            raise ExportError(f"{type(model).__name__} '{name}' is {t._data.dtype.name}; "
                              "export computes in float32: export model.float()")
    tracer = Tracer(model)
    handles = []
    for _, m in model.named_modules():
        handles.append(m.register_forward_pre_hook(tracer.pre_hook))
        handles.append(m.register_forward_hook(tracer.post_hook))
    was_training = model.training
    model.eval()
    previous, function.trace_hook = function.trace_hook, tracer.op_hook
    try:
        tracer.bind(x, "input", True)
        with no_grad():
            out = model(x)
    finally:
        function.trace_hook = previous
        model.train(was_training)
        for h in handles:
            h.remove()
    if not isinstance(out, Tensor):
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
