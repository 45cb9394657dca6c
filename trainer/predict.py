"""Predict as a library function: run an exported file on an IDX images file, top-k classes.

The script format runs on NumPy through engine.export; an .onnx file runs on onnxruntime.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# numpy and engine load inside the functions: the CLI imports this module only when predict runs.


class _OnnxRunner:
    """An exported .onnx file run by onnxruntime, with the preprocessing stored in it."""

    def __init__(self, path: Path) -> None:
        from engine.errors import ExportError

        try:
            import onnxruntime as ort
        except ImportError:
            raise ExportError("running an .onnx file needs onnxruntime: "
                              "pip install onnxruntime") from None
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ExportError(f"cannot load ONNX model {path}: {exc}") from None
        props = self.session.get_modelmeta().custom_metadata_map
        try:
            self.preprocessing = json.loads(props.get("preprocessing", "{}"))
            self.classes = json.loads(props.get("classes", "null"))
        except (ValueError, RecursionError):
            raise ExportError(f"ONNX model {path}: its preprocessing or classes property is "
                              "not valid JSON; re-export it") from None
        self.input_name = self.session.get_inputs()[0].name
        self.input_shape = self.session.get_inputs()[0].shape
        if not (isinstance(self.preprocessing, dict) and len(self.input_shape) >= 2
                and all(type(d) is int and d >= 1 for d in self.input_shape[1:])):
            raise ExportError(f"ONNX model {path}: input shape {self.input_shape} or its "
                              "preprocessing property is not one predict can feed")
        if self.classes is not None and not (
                isinstance(self.classes, list) and all(isinstance(c, str) for c in self.classes)):
            raise ExportError(f"ONNX model {path}: its classes property is not a list of names")
        self.input_spec = {"shape": [None, *self.input_shape[1:]]}
        self.last_op = _onnx_last_op(path)

    def predict_proba(self, raw: np.ndarray) -> np.ndarray:
        from engine.export.script import preprocess, probabilities

        x = preprocess(raw, self.preprocessing, self.input_shape[1:])
        out = self.session.run(None, {self.input_name: x})[0]
        return probabilities(out, self.last_op)


# ONNX op types whose output is already (log-)probabilities, in the script graph's op names.
_ONNX_OPS = {"Softmax": "softmax", "LogSoftmax": "log_softmax"}


def _onnx_last_op(path: Path) -> str:
    """The op that produces an ONNX model's output, named as in a script graph where they agree."""
    from engine.errors import ExportError

    try:
        import onnx
    except ImportError:
        raise ExportError("running an .onnx file needs onnx to read its graph: "
                          "pip install onnx") from None
    graph = onnx.load(str(path), load_external_data=False).graph
    output = graph.output[0].name
    op = next((n.op_type for n in reversed(graph.node) if output in n.output), "")
    return _ONNX_OPS.get(op, op)


def regular_file(path: str | Path, what: str) -> Path:
    """path, when it names a regular file; a device, FIFO or directory is refused before opening."""
    import stat

    from engine.errors import DataError

    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise DataError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise DataError(f"{what} {path} is not a regular file (a device, FIFO or directory); "
                        "pass an IDX file")
    return path


def read_images(path: str | Path) -> np.ndarray:
    """An IDX images file (N x H x W, or N x H x W x C channels last) via the IDX reader."""
    from datasets.idx import read_idx
    from engine.errors import DataError

    images = read_idx(regular_file(path, "images file"))
    if images.ndim not in (3, 4):
        raise DataError(f"{path} holds an IDX array of shape {list(images.shape)}; predict "
                        "expects N x H x W or N x H x W x C images")
    return images


def predict_file(model_file: str | Path, images: str | Path, top_k: int = 1,
                 labels: str | Path | None = None, batch_size: int = 1000) -> dict[str, Any]:
    """Top-k classes and probabilities for each image; accuracy too when labels are given."""
    import numpy as np

    from engine.errors import DataError, ExportError
    from engine.export import load
    from engine.export.script import raw_shape
    from engine.io import read_regular

    model_file = Path(model_file)
    if model_file.suffix == ".onnx":
        # refuses devices and FIFOs before onnxruntime opens the file
        read_regular(model_file, ExportError, "ONNX model")
        runner: Any = _OnnxRunner(model_file)
    else:
        runner = load(model_file)
        if len(runner.output_shape) != 2:
            raise ExportError(f"exported model {model_file} outputs shape {runner.output_shape}; "
                              "predict needs (batch, classes) scores")
    if labels is not None:
        regular_file(labels, "labels file")
    raw = read_images(images)
    spec = runner.input_spec["shape"]
    want = raw_shape(runner.preprocessing, spec[1:])
    if list(raw.shape[1:]) not in (want, list(spec[1:])):
        size = "x".join(map(str, raw.shape[1:]))
        raise DataError(f"images in {images} are {size} but the model {model_file} expects "
                        f"{'x'.join(map(str, want))} (input spec {spec}); images are never "
                        "reshaped to fit")
    probs = np.concatenate([runner.predict_proba(raw[i:i + batch_size])
                            for i in range(0, len(raw), batch_size)]) if len(raw) else \
        np.zeros((0, 0), np.float32)
    k = max(1, min(top_k, probs.shape[1] if probs.size else 1))
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    report: dict[str, Any] = {"top": top, "probs": np.take_along_axis(probs, top, axis=1),
                              "classes": runner.classes, "accuracy": None}
    if labels is not None:
        from datasets.idx import read_idx

        y = read_idx(labels)
        if not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"labels file {labels} holds {y.dtype} values; expected integers")
        y = y.astype(np.int64)
        if y.shape != (len(raw),):
            raise DataError(f"labels file {labels} has shape {list(y.shape)}; expected "
                            f"[{len(raw)}] to match the images")
        report["accuracy"] = float((top[:, 0] == y).mean()) if len(y) else 0.0
    return report


def check_out(out: Path) -> None:
    """Refuse a CSV --out that is a directory or lies in a missing folder (before any work)."""
    from engine.errors import DataError

    if out.is_dir():
        raise DataError(f"--out {out} is a directory; name the CSV file to write")
    if not out.parent.is_dir():
        raise DataError(f"--out {out}: folder {out.parent} does not exist; create it first")
