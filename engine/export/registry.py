"""The op registry: one OpDef per graph op, read by validation, the runner, ONNX and the tracer.

A family module in ``engine/export/ops/`` registers each op it owns with everything about it: the
number of inputs, the attribute schema, the shape rule, the NumPy/CuPy kernel builder, the ONNX
emitter and the engine Function classes it is traced from (with the recorder that turns one call
of such a Function into a node). Adding an exportable op is one ``register`` call in one file.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.export.shapes import MAX_DIMS, Rule

REQUIRED = object()  # an attribute default: the attribute must be given
Check = Callable[[Any], bool]  # an attribute check; its __doc__ says what it accepts
# (xp, node, weights, shapes) -> kernel called with the node's runtime inputs
Builder = Callable[[Any, dict, dict, dict], Callable[..., Any]]
Emitter = Callable[[Any, dict, dict], None]  # (ONNX builder, node, shapes) -> adds ONNX nodes
Recorder = Callable[[Any, tuple, dict, Any], "str | None"]  # (tracer, inputs, kwargs, output)


@dataclass(frozen=True)
class OpDef:
    """Everything about one graph op."""

    name: str
    arity: tuple[int, int]  # min and max number of inputs
    attrs: dict[str, tuple[Check, Any]]  # attribute -> (check, default or REQUIRED)
    shape: Rule
    kernel: Builder
    onnx: Emitter
    traced_from: tuple[type, ...] = ()
    record: Recorder | None = None  # None: all of the Function's inputs, no attributes
    # inputs from this position on must be weights: the kernel holds them, and is called with
    # the inputs before it only
    weight_inputs: int | None = None
    fresh: bool = False  # the kernel returns a new array that a single consumer may overwrite
    inplace: bool = False  # the kernel can write into a fresh single-use input (node["inplace"])
    absorbs: bool = False  # a following batch norm folds, and a following relu fuses, into it


OPS: dict[str, OpDef] = {}
TRACED: dict[type, Recorder] = {}  # engine Function class -> recorder


def register(op: OpDef) -> OpDef:
    """Add op to the registry and map each Function class it is traced from to its recorder."""
    if op.name in OPS:
        raise ValueError(f"export op {op.name!r} is registered twice")
    OPS[op.name] = op
    record = op.record or functools.partial(_record_all, op.name)
    trace_as(record, *op.traced_from)
    return op


def trace_as(record: Recorder, *classes: type) -> None:
    """Map engine Function classes to a recorder (for ops that become no node, e.g. a cast)."""
    for cls in classes:
        if cls in TRACED:
            raise ValueError(f"{cls.__name__} is traced by two export recorders")
        TRACED[cls] = record


def _record_all(name: str, tr: Any, inputs: tuple, kw: dict, out: Any) -> str:
    return tr.add_node(name, list(inputs), out)


@functools.cache
def _defaults(cls: type) -> dict[str, Any]:
    params = inspect.signature(cls.forward).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def options(cls: type, kw: dict) -> dict:
    """A Function's keyword arguments with the defaults of its forward filled in."""
    return {**_defaults(cls), **kw}


def forward_kernel(cls: type, **kw: Any) -> Callable[..., Any]:
    """A kernel that is the engine op's own forward on raw arrays: the same numerics as eval."""
    forward = cls.forward

    def run(*arrays: Any) -> Any:
        return forward(cls.__new__(cls), *arrays, **kw)

    return run


# ----- attribute kinds ------------------------------------------------------------------------
def _kind(check: Check, doc: str) -> Check:
    check.__doc__ = doc
    return check


def ints(n: int | None) -> Check:
    """A list of n ints (any length up to MAX_DIMS when n is None)."""
    def check(v: Any) -> bool:
        return (isinstance(v, list) and (len(v) == n if n else len(v) <= MAX_DIMS)
                and all(type(i) is int for i in v))
    return _kind(check, f"a list of {n} ints" if n else f"a list of at most {MAX_DIMS} ints")


INT = _kind(lambda v: type(v) is int, "an int")
NUMBER = _kind(lambda v: type(v) in (int, float) and math.isfinite(v), "a finite number")
BOOL = _kind(lambda v: type(v) is bool, "true or false")


def one_of(*values: str) -> Check:
    """One of the given strings."""
    return _kind(lambda v: v in values, " or ".join(repr(v) for v in values))


def onnx_node(op_type: str) -> Emitter:
    """An emitter writing the node as one ONNX op of the same inputs and no attributes."""
    def emit(b: Any, node: dict, shapes: dict) -> None:
        b.add(op_type, node["inputs"], node["outputs"])
    return emit
