"""Tensor-level ops seen by the trace hook outside known leaf modules, mapped to graph nodes."""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.errors import ExportError
from engine.export.leaves import pair

_SIMPLE = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "MatMul": "matmul",
           "Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Linear": "linear"}


def _batch_kept(tr: Any, x: Any) -> bool:
    """True when x carries the batch dim (axis 0)."""
    return tr.name_of(x) in tr.batched


def record_op(tr: Any, op: type, inputs: tuple, kw: dict, out: Any) -> str | None:
    """Add the node for one primitive op; ExportError for ops the script format lacks."""
    name = op.__name__
    if name in _SIMPLE:
        return tr.add_node(_SIMPLE[name], list(inputs), out)
    x = inputs[0] if inputs else None
    if name == "Cast":
        if id(x) not in tr.names:
            return None  # cast of a constant or parameter: its result is captured as a constant
        if out._data.dtype == np.float32:
            return _alias(tr, x, out)
        raise ExportError(f"cast to {out._data.dtype} at {tr.where} cannot be exported; the "
                          "script format computes in float32")
    if name == "Reshape":
        return tr.add_node("reshape", [x], out, {"shape": _reshape_target(tr, x, out)})
    if name == "Flatten":
        if _batch_kept(tr, x) and kw["start"] == 0 and kw["end"] > 0:
            raise ExportError(f"flatten at {tr.where} merges the batch dim with others; "
                              "flatten from dim 1 (e.g. x.flatten(1))")
        return tr.add_node("flatten", [x], out, {"start_dim": kw["start"], "end_dim": kw["end"]})
    if name == "AdaptiveAvgPool2d":
        return tr.add_node("adaptive_avg_pool2d", [x], out,
                           {"output_size": list(kw["output_size"])})
    if name == "Permute":
        dims = [int(d) % x.ndim for d in kw["dims"]]
        if _batch_kept(tr, x) and dims[0] != 0:
            raise ExportError(f"permute {dims} at {tr.where} moves the batch dimension; "
                              "keep dim 0 first to export")
        return tr.add_node("transpose", [x], out, {"perm": dims})
    if name == "Cat":
        return tr.add_node("cat", list(inputs), out, {"dim": int(kw["axis"]) % out.ndim})
    if name in ("Softmax", "LogSoftmax"):
        op_name = "softmax" if name == "Softmax" else "log_softmax"
        return tr.add_node(op_name, [x], out, {"dim": int(kw["axis"]) % x.ndim})
    if name == "Mean":
        axes = kw.get("axes")
        dims = list(range(x.ndim)) if axes is None else [int(a) % x.ndim for a in axes]
        if 0 in dims and _batch_kept(tr, x):
            raise ExportError(f"mean over the batch dimension at {tr.where} cannot be exported")
        return tr.add_node("mean", [x], out, {"dim": dims, "keepdim": bool(kw.get("keepdim"))})
    if name == "Conv2d":
        attrs = {"stride": pair(kw.get("stride", 1)), "pads": list(kw.get("pads", (0,) * 4)),
                 "dilation": pair(kw.get("dilation", 1)), "groups": int(kw.get("groups", 1))}
        return tr.add_node("conv2d", list(inputs), out, attrs)
    if name in ("Gelu", "GELU"):
        return tr.add_node("gelu", [x], out, {"approximate": str(kw.get("approximate", "none"))})
    if name in ("LeakyRelu", "LeakyReLU"):
        slope = kw.get("negative_slope", kw.get("slope", 0.01))
        return tr.add_node("leaky_relu", [x], out, {"negative_slope": float(slope)})
    if name in ("Identity", "Dropout"):
        return _alias(tr, x, out)  # export is for inference: dropout is the identity
    if name == "MaxPool2d":
        attrs = {"kernel_size": pair(kw["kernel"]), "stride": pair(kw["stride"]),
                 "padding": pair(kw.get("padding", 0)), "dilation": pair(kw.get("dilation", 1)),
                 "ceil_mode": bool(kw.get("ceil_mode", False))}
        return tr.add_node("max_pool2d", [x], out, attrs)
    if name == "AvgPool2d":
        if kw.get("divisor_override"):
            raise ExportError(f"avg_pool2d with divisor_override at {tr.where} cannot be exported")
        attrs = {"kernel_size": pair(kw["kernel"]), "stride": pair(kw["stride"]),
                 "padding": pair(kw.get("padding", 0)),
                 "ceil_mode": bool(kw.get("ceil_mode", False)),
                 "count_include_pad": bool(kw.get("count_include_pad", True))}
        return tr.add_node("avg_pool2d", [x], out, attrs)
    if name == "BatchNorm":
        if kw.get("training"):
            raise ExportError(f"batch_norm with training=True at {tr.where} uses batch "
                              "statistics and cannot be exported")
        stats = [tr.constant(kw["mean"]), tr.constant(kw["var"])]
        return tr.add_node("batch_norm", [x, *stats, *inputs[1:]], out, {"eps": float(kw["eps"])})
    raise ExportError(f"op {name} at {tr.where} is not supported by export; supported: linear, "
                      "matmul, conv2d, pools, batch norm, dropout, relu, leaky_relu, gelu, "
                      "sigmoid, tanh, softmax, log_softmax, add, sub, mul, div, reshape/flatten, "
                      "transpose/permute, cat, mean")


def _alias(tr: Any, x: Any, out: Any) -> str:
    name = tr.name_of(x)
    return tr.bind(out, name, name in tr.batched)


def _reshape_target(tr: Any, x: Any, out: Any) -> list[int]:
    """Static target shape, with 0 (copy the input's dim) for a batch dim kept at axis 0."""
    if not _batch_kept(tr, x):
        return [int(d) for d in out.shape]
    if out.ndim == 0 or out.shape[0] != x.shape[0]:
        raise ExportError(f"reshape {tuple(x.shape)} -> {tuple(out.shape)} at {tr.where} mixes "
                          "the batch dim with others; keep dim 0 (e.g. x.view(x.size(0), -1))")
    return [0] + [int(d) for d in out.shape[1:]]
