"""The script format: one safetensors file, weights as tensors, the graph and specs as metadata.

Metadata keys (all JSON strings): ``format`` ("gradwell.script"), ``version``, ``graph``,
``preprocessing`` and ``classes``. Loading parses JSON only and validates the graph before it
builds the runner: nothing in the file is ever executed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from engine.backend import device_of, get_array_module, is_numpy, on_device
from engine.errors import ExportError
from engine.export import graph as G
from engine.export.container import read_safetensors, write_safetensors
from engine.export.runtime import Program
from engine.export.shapes import per_sample

_PASS_ELEMENTS = 2**28  # largest value of one pass (rows x elements per row): 1 GiB of float32


def save_script(exported: Any, path: str | os.PathLike) -> Path:
    """Write a traced ExportedProgram to one .safetensors file; returns the path."""
    meta = {
        "format": G.FORMAT,
        "version": str(G.VERSION),
        "graph": json.dumps(exported.graph, separators=(",", ":")),
        "preprocessing": json.dumps(exported.preprocessing),
        "classes": json.dumps(list(exported.classes) if exported.classes else None),
    }
    weights = {k: np.asarray(v, dtype=np.float32) for k, v in exported.weights.items()}
    return write_safetensors(path, weights, meta)


def _json(meta: dict, key: str, where: str) -> Any:
    if key not in meta:
        raise ExportError(f"{where}: metadata has no '{key}'; not a script export")
    try:
        return json.loads(meta[key])
    except json.JSONDecodeError as exc:
        raise ExportError(f"{where}: metadata '{key}' is not valid JSON: {exc}") from None
    except RecursionError:
        raise ExportError(f"{where}: metadata '{key}' is not valid JSON: nested too "
                          "deeply") from None


class ScriptModule:
    """A loaded script export: call it on float32 model inputs (NumPy or CuPy arrays)."""

    def __init__(self, graph: dict, weights: dict[str, np.ndarray], preprocessing: Any,
                 classes: list[str] | None, where: str = "graph") -> None:
        self.graph, self.weights = graph, weights
        self.preprocessing = {} if preprocessing is None else preprocessing
        self.classes = classes
        for name, w in weights.items():
            if w.dtype != np.float32:
                raise ExportError(f"{where}: weight '{name}' is {w.dtype}; a script export "
                                  "stores float32 weights only")
        self.shapes = G.validate(graph, weights, where)
        self.input_spec = graph["inputs"][0]
        self.output_shape = self.shapes[graph["outputs"][0]]
        _check_classes(classes, self.output_shape, where)
        _check_preprocessing(self.preprocessing, self.input_spec["shape"], where)
        # keyed by device ('cpu', 'cuda:0', ...): a program holds its weights on one device
        self._programs: dict[str, Program] = {}
        # rows per pass: bounds the im2col buffers and stays cache-friendly
        peak = max([per_sample(self.shapes[n["outputs"][0]]) for n in graph["nodes"]]
                   + [per_sample(self.input_spec["shape"])])
        self.chunk = max(1, min(512, _PASS_ELEMENTS // max(peak, 1)))

    def _program(self, device: str, xp: Any) -> Program:
        """The graph compiled for device (call within on_device(device))."""
        if device not in self._programs:
            self._programs[device] = Program(self.graph, self.weights, self.shapes, xp)
        return self._programs[device]

    def __call__(self, x: Any) -> Any:
        """Run the graph on a batch shaped like the input spec; returns the first output."""
        xp = get_array_module(x)
        if is_numpy(xp):
            x = np.asarray(x)
        spec = self.input_spec["shape"]
        if x.ndim != len(spec) or any(s is not None and s != d for s, d in zip(spec, x.shape,
                                                                                strict=True)):
            raise ExportError(f"input of shape {list(x.shape)} does not match the exported "
                              f"input spec {spec} (None is the batch dimension)")
        device = device_of(x)
        with on_device(device):  # CuPy works on the current GPU: make it the input's
            return self._run(self._program(device, xp), x)

    def _run(self, prog: Program, x: Any) -> Any:
        """Run prog over x in passes of at most self.chunk rows."""
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        n = x.shape[0]
        if n <= self.chunk:
            return prog.run(x)[0]
        first = prog.run(x[: self.chunk])[0]
        out = prog.xp.empty((n,) + first.shape[1:], np.float32)
        out[: self.chunk] = first
        for i in range(self.chunk, n, self.chunk):
            out[i:i + self.chunk] = prog.run(x[i:i + self.chunk])[0]
        return out

    def preprocess(self, raw: Any) -> np.ndarray:
        """Raw images (uint8 N x H x W, or N x H x W x C) -> normalised float32 model input."""
        return preprocess(raw, self.preprocessing, self.input_spec["shape"][1:])

    def predict_proba(self, raw: Any) -> np.ndarray:
        """Class probabilities for raw images: preprocess, run, softmax unless already applied."""
        out = self(self.preprocess(raw))
        return probabilities(out, self.graph["nodes"][-1]["op"] if self.graph["nodes"] else "")

    def __repr__(self) -> str:
        ops = ", ".join(n["op"] for n in self.graph["nodes"])
        return f"ScriptModule(input={self.input_spec['shape']}, ops=[{ops}])"


def _check_classes(classes: Any, out_shape: list, where: str) -> None:
    if classes is None:
        return
    if not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise ExportError(f"{where}: metadata 'classes' must be a list of names, got "
                          f"{str(classes)[:80]}")
    if len(out_shape) == 2 and len(classes) != out_shape[1]:
        raise ExportError(f"{where}: metadata 'classes' names {len(classes)} classes but the "
                          f"model outputs {out_shape[1]}")


def _number(v: Any) -> bool:
    return type(v) in (int, float) and np.isfinite(v)


def _check_preprocessing(p: Any, spec: list, where: str) -> None:
    """Preprocessing metadata: scale, per-channel mean/std, raw input shape matching the spec."""
    bad = f"{where}: metadata 'preprocessing'"
    if not isinstance(p, dict):
        raise ExportError(f"{bad} must be an object, got {str(p)[:80]}")
    if "scale" in p and not (_number(p["scale"]) and p["scale"] != 0):
        raise ExportError(f"{bad}: 'scale' must be a nonzero number, got {str(p['scale'])[:40]}")
    if ("mean" in p) != ("std" in p):
        raise ExportError(f"{bad}: 'mean' and 'std' come together")
    channels = spec[1] if len(spec) > 1 else 1
    for key in ("mean", "std"):
        v = p.get(key, [1.0])
        if not (isinstance(v, list) and len(v) in (1, channels) and all(map(_number, v))):
            raise ExportError(f"{bad}: '{key}' must be a list of 1 or {channels} numbers, "
                              f"got {str(v)[:80]}")
    if 0 in p.get("std", [1.0]):
        raise ExportError(f"{bad}: 'std' must not be 0")
    raw = p.get("input", {})
    shape = raw.get("shape", spec[1:]) if isinstance(raw, dict) else None
    if not (isinstance(shape, list) and all(type(d) is int and d >= 1 for d in shape)
            and int(np.prod(shape, dtype=object)) == per_sample(spec)):
        raise ExportError(f"{bad}: raw input shape {str(shape)[:80]} does not hold the "
                          f"{per_sample(spec)} elements of the input spec {spec}")
    layout = raw.get("layout", "") if isinstance(raw, dict) else ""
    if layout and not (layout == "HWC" and len(spec) == 4 and shape == [*spec[2:], spec[1]]):
        raise ExportError(f"{bad}: input layout {str(layout)[:20]!r} with raw shape {shape} "
                          f"does not fit the input spec {spec}; only \"HWC\" (H x W x C raw "
                          "images for a C x H x W model) is known")


def _channels_last(p: dict) -> bool:
    """Whether the stored raw input is H x W x C (input layout "HWC") for a C x H x W model."""
    raw = p.get("input")
    return isinstance(raw, dict) and raw.get("layout") == "HWC"


def raw_shape(preprocessing: dict, spec: list) -> list[int]:
    """The per-image shape raw data must have: the stored raw input shape, else the spec's."""
    raw = preprocessing.get("input")
    return list(raw["shape"]) if isinstance(raw, dict) and "shape" in raw else list(spec)


def probabilities(out: np.ndarray, last_op: str) -> np.ndarray:
    """Class probabilities from a model's output, given the graph op that produced it.

    softmax: already probabilities; log_softmax: exponentiated; anything else is taken as logits.
    """
    if last_op == "softmax":
        return out
    if last_op == "log_softmax":
        return np.exp(out)
    e = np.exp(out - out.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def preprocess(raw: Any, preprocessing: dict, shape: list) -> np.ndarray:
    """Raw images -> float32 model input of shape (N, *shape): scale, then per-channel normalise.

    `preprocessing` is what an export stores (script metadata or ONNX model properties).
    """
    p = preprocessing
    shape = [int(d) for d in shape]
    raw = np.asarray(raw)
    want = raw_shape(p, shape)
    if list(raw.shape[1:]) not in (want, shape):
        raise ExportError(f"images of shape {list(raw.shape[1:])} do not match the model's "
                          f"input {want} (spec {shape}); resize them first, they are never "
                          "reshaped to fit")
    x = raw.astype(np.float32) * np.float32(p.get("scale", 1.0))
    if _channels_last(p) and list(raw.shape[1:]) == want:
        x = x.transpose(0, 3, 1, 2)  # H x W x C records: transposed to C x H x W, not reshaped
    x = x.reshape([-1] + shape)
    if "mean" in p and "std" in p:
        mean, std = (np.asarray(p[k], dtype=np.float32) for k in ("mean", "std"))
        view = (-1,) + (1,) * (len(shape) - 1) if mean.size > 1 else ()
        x = (x - mean.reshape(view)) / std.reshape(view)
    return np.ascontiguousarray(x, dtype=np.float32)


def load(path: str | os.PathLike) -> ScriptModule:
    """Load and validate a script export; returns a callable ScriptModule."""
    where = f"exported model {path}"
    weights, meta = read_safetensors(path)
    if meta.get("format") != G.FORMAT:
        raise ExportError(f"{where}: not a script export (metadata format is "
                          f"{meta.get('format')!r}, expected {G.FORMAT!r})")
    if meta.get("version") != str(G.VERSION):
        raise ExportError(f"{where}: script format version {meta.get('version')!r} is not "
                          f"supported (this engine reads version {G.VERSION}); re-export it")
    graph = _json(meta, "graph", where)
    preprocessing = _json(meta, "preprocessing", where) if "preprocessing" in meta else {}
    classes = _json(meta, "classes", where) if "classes" in meta else None
    return ScriptModule(graph, weights, preprocessing, classes, where)
