"""Known leaf modules: each becomes one graph node whose weights keep their state-dict names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.errors import ExportError

_KINDS = {
    "Linear": "linear", "Conv2d": "conv2d", "MaxPool2d": "max_pool2d",
    "AvgPool2d": "avg_pool2d", "AdaptiveAvgPool2d": "adaptive_avg_pool2d",
    "BatchNorm1d": "batch_norm", "BatchNorm2d": "batch_norm", "ReLU": "relu",
    "LeakyReLU": "leaky_relu", "GELU": "gelu", "Sigmoid": "sigmoid", "Tanh": "tanh",
    "Softmax": "softmax", "LogSoftmax": "log_softmax", "Flatten": "flatten",
    "Dropout": "identity", "Dropout1d": "identity", "Dropout2d": "identity", "Identity": "identity",
}


def leaf_kind(module: Any) -> str | None:
    """The export kind of an engine.nn layer (by class, subclasses included), else None."""
    for cls in type(module).__mro__:
        if cls.__module__.startswith("engine.nn") and cls.__name__ in _KINDS:
            # a subclass with its own forward is traced op by op instead
            return _KINDS[cls.__name__] if type(module).forward is cls.forward else None
    return None


def pair(v: Any) -> list[int]:
    """An int or a pair of ints as a two-int list (the graph's attribute form)."""
    return [int(i) for i in v] if isinstance(v, tuple | list) else [int(v), int(v)]


def _prefix(path: str) -> str:
    return f"{path}." if path else ""


def _linear(tr: Any, m: Any, path: str, x: Any, out: Any) -> None:
    ins = [tr.leaf_input, m.weight] + ([m.bias] if m.bias is not None else [])
    tr.add_node("linear", ins, out, name=path)


def _conv_pads(m: Any, path: str) -> list[int]:
    if getattr(m, "padding_mode", "zeros") != "zeros":
        raise ExportError(f"module {path}: Conv2d padding_mode={m.padding_mode!r} cannot be "
                          "exported; use padding_mode='zeros'")
    k, d = pair(m.kernel_size), pair(m.dilation)
    if m.padding == "valid":
        return [0, 0, 0, 0]
    if m.padding == "same":  # PyTorch puts the odd extra pixel at the bottom / right
        tot = [d[i] * (k[i] - 1) for i in range(2)]
        return [tot[0] // 2, tot[0] - tot[0] // 2, tot[1] // 2, tot[1] - tot[1] // 2]
    p = pair(m.padding)
    return [p[0], p[0], p[1], p[1]]


def _conv2d(tr: Any, m: Any, path: str, x: Any, out: Any) -> None:
    attrs = {"stride": pair(m.stride), "pads": _conv_pads(m, path),
             "dilation": pair(m.dilation), "groups": int(m.groups)}
    ins = [tr.leaf_input, m.weight] + ([m.bias] if m.bias is not None else [])
    tr.add_node("conv2d", ins, out, attrs, name=path)


def _max_pool(tr: Any, m: Any, path: str, x: Any, out: Any) -> None:
    if getattr(m, "return_indices", False):
        raise ExportError(f"module {path}: MaxPool2d(return_indices=True) cannot be exported")
    k = pair(m.kernel_size)
    attrs = {"kernel_size": k, "stride": pair(m.stride if m.stride is not None else k),
             "padding": pair(m.padding), "dilation": pair(getattr(m, "dilation", 1)),
             "ceil_mode": bool(getattr(m, "ceil_mode", False))}
    tr.add_node("max_pool2d", [tr.leaf_input], out, attrs, name=path)


def _avg_pool(tr: Any, m: Any, path: str, x: Any, out: Any) -> None:
    if getattr(m, "divisor_override", None) is not None:
        raise ExportError(f"module {path}: AvgPool2d(divisor_override=...) cannot be exported")
    k = pair(m.kernel_size)
    attrs = {"kernel_size": k, "stride": pair(m.stride if m.stride is not None else k),
             "padding": pair(m.padding), "ceil_mode": bool(getattr(m, "ceil_mode", False)),
             "count_include_pad": bool(getattr(m, "count_include_pad", True))}
    tr.add_node("avg_pool2d", [tr.leaf_input], out, attrs, name=path)


def _adaptive(tr: Any, m: Any, path: str, x: Any, out: Any) -> None:
    attrs = {"output_size": list(out.shape[2:])}
    tr.add_node("adaptive_avg_pool2d", [tr.leaf_input], out, attrs, name=path)


def _batch_norm(tr: Any, m: Any, path: str, x: Any, out: Any) -> None:
    if getattr(m, "running_mean", None) is None:
        raise ExportError(f"module {path}: BatchNorm without running statistics "
                          "(track_running_stats=False) uses batch statistics and cannot be "
                          "exported")
    ins = [tr.leaf_input, m.running_mean, m.running_var]
    if getattr(m, "weight", None) is not None:
        ins += [m.weight, m.bias]
    tr.add_node("batch_norm", ins, out, {"eps": float(m.eps)}, name=path)


def _simple(op: str, attrs: Callable[[Any, Any], dict]) -> Callable[..., None]:
    def record(tr: Any, m: Any, path: str, x: Any, out: Any) -> None:
        tr.add_node(op, [tr.leaf_input], out, attrs(m, x), name=path)

    return record


def _softmax_dim(m: Any, x: Any) -> dict:
    dim = m.dim if m.dim is not None else (0 if x.ndim in (0, 1, 3) else 1)
    return {"dim": int(dim) % max(x.ndim, 1)}


def _identity(tr: Any, m: Any, path: str, x: Any, out: Any) -> None:
    name = tr.leaf_input
    tr.bind(out, name, name in tr.batched)


LEAVES: dict[str, Callable[..., None]] = {
    "linear": _linear, "conv2d": _conv2d, "max_pool2d": _max_pool, "avg_pool2d": _avg_pool,
    "adaptive_avg_pool2d": _adaptive, "batch_norm": _batch_norm, "identity": _identity,
    "relu": _simple("relu", lambda m, x: {}),
    "leaky_relu": _simple("leaky_relu", lambda m, x: {"negative_slope": float(m.negative_slope)}),
    "gelu": _simple("gelu", lambda m, x: {"approximate": str(getattr(m, "approximate", "none"))}),
    "sigmoid": _simple("sigmoid", lambda m, x: {}), "tanh": _simple("tanh", lambda m, x: {}),
    "softmax": _simple("softmax", _softmax_dim),
    "log_softmax": _simple("log_softmax", _softmax_dim),
    "flatten": _simple("flatten", lambda m, x: {"start_dim": int(m.start_dim) % x.ndim,
                                                "end_dim": int(m.end_dim) % x.ndim}),
}
