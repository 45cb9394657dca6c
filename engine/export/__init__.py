"""engine.export: trace a model to a graph, save it as a code-free script or as ONNX, run it.

    prog = engine.export.trace(model, example)       # eval mode, no grad, one forward
    engine.export.save_script(prog, "model.safetensors")
    run = engine.export.load("model.safetensors")      # NumPy (or CuPy) runner; no model code
    probs = run(x)
    engine.export.to_onnx(prog, "model.onnx")          # needs the onnx extra
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.errors import ExportError
from engine.export.onnx import to_onnx as _to_onnx
from engine.export.script import ScriptModule, load, save_script
from engine.export.trace import ExportedProgram, trace

__all__ = ["ExportedProgram", "ScriptModule", "export", "load", "save_script", "to_onnx", "trace"]


def to_onnx(exported: Any, path: str | os.PathLike | None = None) -> Any:
    """Convert a traced program (or a loaded ScriptModule) to a checked ONNX model."""
    return _to_onnx(exported, path)


def export(model: Any, example_input: Any, path: str | os.PathLike, format: str = "script",
           preprocessing: dict | None = None, classes: list[str] | None = None) -> Path:
    """Trace model on example_input and write it as format 'script' or 'onnx'."""
    prog = trace(model, example_input, preprocessing, classes)
    if format == "script":
        return save_script(prog, path)
    if format == "onnx":
        to_onnx(prog, path)
        return Path(path)
    raise ExportError(f"unknown export format {format!r}; use 'script' or 'onnx'")
