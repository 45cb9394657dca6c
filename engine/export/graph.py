"""The exported graph: a JSON schema over a fixed op list, and its validation with shape inference.

A graph is ``{"inputs": [{"name", "dtype", "shape"}], "outputs": [name], "nodes": [{"op", "name",
"inputs", "outputs", "attrs"}]}`` with one input and one output. A node input names the graph
input, an earlier node's output or a weight. Shapes use ``None`` for the dynamic batch dimension
(axis 0). ``validate`` checks the structure, each node against its op's schema (arity, attribute
names, types and ranges) and every reference, then propagates shapes from the input spec and
refuses any value, scratch buffer or loop larger than a fixed budget, so a file that would fail,
allocate without bound or run for minutes is rejected at load with one ExportError. It is linear
in the number of nodes.
"""

from __future__ import annotations

import math
from typing import Any

from engine.errors import ExportError
from engine.export import shapes as S
from engine.export.shapes import Bad, Shape, broadcast, reshape_shape  # noqa: F401 (re-exported)

FORMAT = "gradwell.script"
VERSION = 2  # 2: the file carries an integrity checksum

MAX_ELEMENTS = 2**26  # per sample, for any value or scratch buffer (256 MiB of float32)
MAX_LOOPS = 2**14  # Python-level iterations of one node (pool taps, adaptive bins)
MAX_DIMS = 8
_NODE_KEYS = {"op", "name", "inputs", "outputs", "attrs"}


def _is_int(v: Any) -> bool:
    return type(v) is int


def _is_number(v: Any) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def _ints(n: int | None) -> Any:
    def check(v: Any) -> bool:
        return (isinstance(v, list) and (len(v) == n if n else len(v) <= MAX_DIMS)
                and all(_is_int(i) for i in v))
    check.__doc__ = f"a list of {n} ints" if n else f"a list of at most {MAX_DIMS} ints"
    return check


def _kind(check: Any, doc: str) -> Any:
    check.__doc__ = doc
    return check


INT = _kind(_is_int, "an int")
NUMBER = _kind(_is_number, "a finite number")
BOOL = _kind(lambda v: type(v) is bool, "true or false")
APPROXIMATE = _kind(lambda v: v in ("none", "tanh"), "'none' or 'tanh'")
REQUIRED = object()

_POOL = {"kernel_size": (_ints(2), REQUIRED), "stride": (_ints(2), REQUIRED),
         "padding": (_ints(2), REQUIRED), "ceil_mode": (BOOL, False)}
# op -> (min inputs, max inputs, {attribute: (check, default or REQUIRED)}, shape rule)
OPS: dict[str, tuple[int, int, dict, S.Rule]] = {
    "linear": (2, 3, {}, S._linear), "matmul": (2, 2, {}, S._matmul),
    "conv2d": (2, 3, {"stride": (_ints(2), REQUIRED), "pads": (_ints(4), REQUIRED),
                      "dilation": (_ints(2), REQUIRED), "groups": (INT, REQUIRED)}, S._conv2d),
    "max_pool2d": (1, 1, {**_POOL, "dilation": (_ints(2), [1, 1])}, S._pool),
    "avg_pool2d": (1, 1, {**_POOL, "count_include_pad": (BOOL, True)}, S._pool),
    "adaptive_avg_pool2d": (1, 1, {"output_size": (_ints(2), REQUIRED)}, S._adaptive),
    "batch_norm": (3, 5, {"eps": (NUMBER, REQUIRED)}, S._batch_norm),
    "relu": (1, 1, {}, S._same), "sigmoid": (1, 1, {}, S._same), "tanh": (1, 1, {}, S._same),
    "leaky_relu": (1, 1, {"negative_slope": (NUMBER, 0.01)}, S._same),
    "gelu": (1, 1, {"approximate": (APPROXIMATE, "none")}, S._same),
    "softmax": (1, 1, {"dim": (INT, REQUIRED)}, S._softmax),
    "log_softmax": (1, 1, {"dim": (INT, REQUIRED)}, S._softmax),
    "add": (2, 2, {}, S._binary), "sub": (2, 2, {}, S._binary),
    "mul": (2, 2, {}, S._binary), "div": (2, 2, {}, S._binary),
    "reshape": (1, 1, {"shape": (_ints(None), REQUIRED)}, S._reshape),
    "flatten": (1, 1, {"start_dim": (INT, REQUIRED), "end_dim": (INT, REQUIRED)}, S._flatten),
    "transpose": (1, 1, {"perm": (_ints(None), REQUIRED)}, S._transpose),
    "cat": (1, 64, {"dim": (INT, REQUIRED)}, S._cat),
    "mean": (1, 1, {"dim": (_ints(None), REQUIRED), "keepdim": (BOOL, False)}, S._mean),
}
# inputs at positions >= this of linear/conv2d/batch_norm must be weights (folded at load)
WEIGHT_INPUTS = {"linear": 1, "conv2d": 1, "batch_norm": 1}


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
            and all(_is_int(d) and d >= 1 for d in shape[1:])):
        raise ExportError(f"{where}: input spec shape {_short(shape)} must be [null, positive "
                          f"ints...] with at most {MAX_DIMS} dims (null is the batch dim)")
    if S.per_sample(shape) > MAX_ELEMENTS:
        raise ExportError(f"{where}: input spec shape {shape} is too large: "
                          f"{S.per_sample(shape)} elements per sample, over the budget of "
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
    schema = OPS[op][2]
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
    lo, hi, _, rule = OPS[op]
    if not lo <= len(ins) <= hi:
        raise ExportError(f"{where}: {label} takes {lo}..{hi} inputs, got {len(ins)}")
    for pos, name in enumerate(ins):
        if name not in shapes:
            if "." in name:  # weights are named by state-dict keys
                raise ExportError(f"{where}: {label} reads weight {_short(name)}, which is "
                                  "missing from the file")
            raise ExportError(f"{where}: {label} reads value {_short(name)}, which no graph "
                              "input or earlier node produces (dangling edge)")
        if op in WEIGHT_INPUTS and pos >= WEIGHT_INPUTS[op] and name not in weights:
            raise ExportError(f"{where}: {label} input {pos} must be a weight, got '{name}'")
    if outs[0] in shapes:
        raise ExportError(f"{where}: {label} redefines value {_short(outs[0])}")
    try:
        _check_attrs(op, attrs)
    except Bad as exc:
        raise ExportError(f"{where}: {label}: {exc}") from None
    try:
        out, cost = rule([shapes[n] for n in ins], attrs)
    except Bad as exc:
        raise ExportError(f"{where}: {label}: shape mismatch: {exc}") from None
    try:
        _check_budget(out, cost)
    except Bad as exc:
        raise ExportError(f"{where}: {label}: {exc}") from None
    shapes[outs[0]] = out


def _check_budget(out: Shape, cost: S.Cost) -> None:
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
