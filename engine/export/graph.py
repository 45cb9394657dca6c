"""The exported graph: a JSON schema over the registry's op list, and its validation with shape
inference.

A graph is ``{"inputs": [{"name", "dtype", "shape"}], "outputs": [name], "nodes": [{"op", "name",
"inputs", "outputs", "attrs"}]}`` with one input and one output. A node input names the graph
input, an earlier node's output or a weight. Shapes use ``None`` for the dynamic batch dimension
(axis 0). ``validate`` checks the structure, each node against its op's registry entry (arity,
attribute names, types and ranges) and every reference, then propagates shapes from the input
spec and refuses any value, scratch buffer or loop larger than a fixed budget, so a file that
would fail, allocate without bound or run for minutes is rejected at load with one ExportError.
It is linear in the number of nodes.
"""

from __future__ import annotations

from typing import Any

from engine.errors import ExportError
from engine.export.ops import OPS
from engine.export.registry import REQUIRED
from engine.export.shapes import MAX_DIMS, Bad, Cost, Shape, per_sample

FORMAT = "gradwell.script"
VERSION = 2  # 2: the file carries an integrity checksum

MAX_ELEMENTS = 2**26  # per sample, for any value or scratch buffer (256 MiB of float32)
MAX_LOOPS = 2**14  # Python-level iterations of one node (pool taps, adaptive bins)
_NODE_KEYS = {"op", "name", "inputs", "outputs", "attrs"}


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except RecursionError:
        text = "<deeply nested value>"
    return text if len(text) <= 80 else text[:77] + "..."


def _input_spec(graph: dict, where: str) -> tuple[str, Shape]:
    specs = graph["inputs"]
    if not (isinstance(specs, list) and len(specs) == 1):
        raise ExportError(f"{where}: graph 'inputs' must be a list of one input spec, got "
                          f"{_short(specs)}")
    spec = specs[0]
    if not (isinstance(spec, dict) and isinstance(spec.get("name"), str)
            and spec.get("dtype") == "float32"):
        raise ExportError(f"{where}: invalid input spec {_short(spec)} (need a name, dtype "
                          "float32 and a shape)")
    shape = spec.get("shape")
    if not (isinstance(shape, list) and 1 <= len(shape) <= MAX_DIMS and shape[0] is None
            and all(type(d) is int and d >= 1 for d in shape[1:])):
        raise ExportError(f"{where}: input spec shape {_short(shape)} must be [null, positive "
                          f"ints...] with at most {MAX_DIMS} dims (null is the batch dim)")
    if per_sample(shape) > MAX_ELEMENTS:
        raise ExportError(f"{where}: input spec shape {shape} is too large: "
                          f"{per_sample(shape)} elements per sample, over the budget of "
                          f"{MAX_ELEMENTS}")
    return spec["name"], list(shape)


def validate(graph: Any, weights: dict[str, Any], where: str) -> dict[str, Shape]:
    """Check graph against weights and return every value's inferred shape; else ExportError."""
    if not isinstance(graph, dict) or not all(k in graph for k in ("inputs", "outputs", "nodes")):
        raise ExportError(f"{where}: graph must be an object with inputs, outputs and nodes")
    if not isinstance(graph["nodes"], list):
        raise ExportError(f"{where}: graph 'nodes' must be a list, got {_short(graph['nodes'])}")
    outputs = graph["outputs"]
    if not (isinstance(outputs, list) and len(outputs) == 1 and isinstance(outputs[0], str)):
        raise ExportError(f"{where}: graph 'outputs' must be a list of one value name, got "
                          f"{_short(outputs)}")
    name, shape = _input_spec(graph, where)
    shapes: dict[str, Shape] = {name: shape}
    for key, w in weights.items():
        if key in shapes:
            raise ExportError(f"{where}: weight '{key}' has the name of a graph input")
        shapes[key] = list(w.shape)
    for i, node in enumerate(graph["nodes"]):
        _check_node(node, i, shapes, weights, where)
    out = outputs[0]
    if out not in shapes:
        raise ExportError(f"{where}: graph output '{out}' is produced by no node (dangling edge)")
    if not shapes[out] or shapes[out][0] is not None:
        raise ExportError(f"{where}: graph output '{out}' of shape {shapes[out]} has no batch "
                          "dim; the output must be computed from the input")
    return shapes


class _Label:
    """'node i (op name)', formatted only when an error message needs it."""

    def __init__(self, i: int, node: dict) -> None:
        self.i, self.node = i, node

    def __str__(self) -> str:
        return f"node {self.i} ({self.node['op'][:40]} {_short(self.node.get('name', '?'))})"


def _check_attrs(op: str, attrs: dict) -> None:
    schema = OPS[op].attrs
    for key in attrs:
        if key not in schema:
            known = ", ".join(sorted(schema)) or "none"
            raise Bad(f"unknown attribute '{key}' (op {op} takes: {known})")
    for key, (check, default) in schema.items():
        if key not in attrs:
            if default is REQUIRED:
                raise Bad(f"attribute '{key}' is missing")
            attrs[key] = default
        elif not check(attrs[key]):
            raise Bad(f"attribute '{key}' must be {check.__doc__}, got {_short(attrs[key])}")


def _check_node(node: Any, i: int, shapes: dict, weights: dict, where: str) -> None:
    if not isinstance(node, dict) or not isinstance(node.get("op"), str):
        raise ExportError(f"{where}: node {i} is malformed: {_short(node)}")
    op = node["op"]
    label = _Label(i, node)
    if op not in OPS:
        raise ExportError(f"{where}: {label} uses unknown op '{op[:80]}'; known ops: "
                          f"{', '.join(sorted(OPS))}")
    extra = set(node) - _NODE_KEYS
    if extra:
        raise ExportError(f"{where}: {label} has unknown key(s) {sorted(extra)}; a node has "
                          f"only {sorted(_NODE_KEYS)}")
    ins, outs = node.get("inputs"), node.get("outputs")
    attrs = node.setdefault("attrs", {})
    if not (isinstance(ins, list) and all(isinstance(n, str) for n in ins)
            and isinstance(outs, list) and len(outs) == 1 and isinstance(outs[0], str)
            and isinstance(attrs, dict) and isinstance(node.get("name", ""), str)):
        raise ExportError(f"{where}: {label} needs lists of value names 'inputs' and 'outputs' "
                          "(one), an object 'attrs' and a string 'name'")
    spec = OPS[op]
    lo, hi = spec.arity
    if not lo <= len(ins) <= hi:
        raise ExportError(f"{where}: {label} takes {lo}..{hi} inputs, got {len(ins)}")
    for pos, name in enumerate(ins):
        if name not in shapes:
            if "." in name:  # weights are named by state-dict keys
                raise ExportError(f"{where}: {label} reads weight {_short(name)}, which is "
                                  "missing from the file")
            raise ExportError(f"{where}: {label} reads value {_short(name)}, which no graph "
                              "input or earlier node produces (dangling edge)")
        if spec.weight_inputs is not None and pos >= spec.weight_inputs and name not in weights:
            raise ExportError(f"{where}: {label} input {pos} must be a weight, got '{name}'")
    if outs[0] in shapes:
        raise ExportError(f"{where}: {label} redefines value {_short(outs[0])}")
    try:
        _check_attrs(op, attrs)
    except Bad as exc:
        raise ExportError(f"{where}: {label}: {exc}") from None
    try:
        out, cost = spec.shape([shapes[n] for n in ins], attrs)
    except Bad as exc:
        raise ExportError(f"{where}: {label}: shape mismatch: {exc}") from None
    try:
        _check_budget(out, cost)
    except Bad as exc:
        raise ExportError(f"{where}: {label}: {exc}") from None
    shapes[outs[0]] = out


def _check_budget(out: Shape, cost: Cost) -> None:
    # plain ifs: this runs once per node, and building each message eagerly doubled load time
    if len(out) > MAX_DIMS:
        raise Bad(f"output has {len(out)} dims, more than {MAX_DIMS}")
    if None in out[1:]:
        raise Bad(f"output shape {out} has the batch dim away from axis 0")
    size = 1
    for d in out:
        if d is not None:
            if d < 1:
                raise Bad(f"output shape {out} has an empty dim")
            size *= d
    size = max(size, cost.scratch)
    if size > MAX_ELEMENTS:
        raise Bad(f"output {out} needs {size} elements per sample, over the budget of "
                  f"{MAX_ELEMENTS}; the attributes do not fit the input spec")
    if cost.loops > MAX_LOOPS:
        raise Bad(f"needs {cost.loops} kernel steps, over the budget of {MAX_LOOPS}; the "
                  "attributes do not fit the input spec")
