"""engine.onnx.export: PyTorch's torch.onnx.export signature over engine.export's ONNX writer.

The writer traces one forward of a model with one input tensor and one output tensor and writes
opset 17 (IR version 10). As in PyTorch's exporter, shapes are the example's unless dynamic_axes
names an axis; only the batch axis (0) can be dynamic, since traced reshapes fix the others.
"""

from __future__ import annotations

import os
from typing import IO, Any

from engine.errors import ExportError
from engine.export import to_onnx, trace
from engine.export.onnx import _onnx as load_onnx

OPSET = 17


def export(model: Any, args: Any, f: str | os.PathLike | IO[bytes] | None = None,
           kwargs: dict | None = None, *, export_params: bool = True, verbose: bool | None = None,
           input_names: list[str] | None = None, output_names: list[str] | None = None,
           opset_version: int | None = None, dynamic_axes: Any = None,
           keep_initializers_as_inputs: bool = False, dynamo: bool = False,
           **options: Any) -> None:
    """Trace model(*args) and write it to f (a path or binary file object) as ONNX."""
    example = _one_input(args, kwargs)
    if opset_version not in (None, OPSET):
        raise ExportError(f"opset_version={opset_version}: this exporter writes opset {OPSET} "
                          f"only; pass opset_version={OPSET} or leave it out")
    if not export_params:
        raise ExportError("export_params=False is not supported: the weights are always "
                          "stored in the model as initializers")
    if keep_initializers_as_inputs:
        raise ExportError("keep_initializers_as_inputs=True is not supported")
    model_proto = to_onnx(trace(model, example))
    graph = model_proto.graph
    _rename(graph, [v.name for v in graph.input], input_names, "input_names")
    _rename(graph, [v.name for v in graph.output], output_names, "output_names")
    _set_batch_axes(graph, dynamic_axes, int(example.shape[0]))
    if verbose:
        print(_onnx().helper.printable_graph(graph))
    _onnx().checker.check_model(model_proto)
    if f is None:
        return None
    if hasattr(f, "write"):
        f.write(model_proto.SerializeToString())
    else:
        _onnx().save(model_proto, os.fspath(f))
    return None


def is_in_onnx_export() -> bool:
    """False: tracing for export does not run user code in a special mode here."""
    return False


def _onnx() -> Any:
    return load_onnx()


def _one_input(args: Any, kwargs: dict | None) -> Any:
    if kwargs:
        raise ExportError("kwargs are not supported: the model must take one input tensor")
    if isinstance(args, tuple | list):
        if len(args) == 2 and isinstance(args[-1], dict) and not args[-1]:
            args = args[:1]  # PyTorch's (x, {}) form: no keyword arguments
        if len(args) != 1:
            raise ExportError(f"the model must take one input tensor; args has {len(args)} items")
        args = args[0]
    return args


def _rename(graph: Any, old: list[str], new: list[str] | None, what: str) -> None:
    """Give graph inputs or outputs the names the caller chose (PyTorch: extra names fail)."""
    if not new:
        return
    if len(new) > len(old):
        raise ExportError(f"{what} has {len(new)} names but the model has {len(old)}")
    mapping = dict(zip(old, new, strict=False))
    for value in (*graph.input, *graph.output, *graph.value_info):
        value.name = mapping.get(value.name, value.name)
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = mapping.get(name, name)
        for i, name in enumerate(node.output):
            node.output[i] = mapping.get(name, name)


def _set_batch_axes(graph: Any, dynamic_axes: Any, batch: int) -> None:
    """Fix axis 0 to the example's size, or name it where dynamic_axes asks (PyTorch's form:
    {name: {0: 'batch'}} or {name: [0]})."""
    wanted = dict(dynamic_axes or {})
    values = {v.name: v for v in (*graph.input, *graph.output)}
    unknown = set(wanted) - set(values)
    if unknown:
        raise ExportError(f"dynamic_axes names {sorted(unknown)}, which are not inputs or "
                          f"outputs of the graph ({sorted(values)})")
    for name, value in values.items():
        axes = wanted.get(name, {})
        if isinstance(axes, list | tuple):
            axes = {a: f"{name}_dynamic_axes_{i + 1}" for i, a in enumerate(axes)}
        if set(axes) - {0}:
            raise ExportError(f"dynamic_axes for '{name}': only axis 0 (the batch) can be "
                              "dynamic here; traced reshapes fix the other axes")
        dim = value.type.tensor_type.shape.dim[0]
        if 0 in axes:
            dim.dim_param = str(axes[0])
        else:
            dim.dim_value = batch
