"""`trainer export` and `trainer predict`: library functions plus their typer command functions.

export rebuilds the model from a run's stored config and checkpoint and writes the script format
(default) or ONNX, with the run's preprocessing and class names inside; predict runs an exported
file on an IDX images file and prints (or writes as CSV) the top classes.
"""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from trainer.options import Which

if TYPE_CHECKING:
    import numpy as np

# numpy and engine load inside the functions: the CLI imports this module for `--help` too.


class Format(StrEnum):
    script = "script"
    onnx = "onnx"


def preprocessing_of(cfg: Any) -> dict[str, Any]:
    """ToTensor then Normalize, as the run's data pipeline applies them to its uint8 images."""
    from trainer.data_spec import input_spec, normalization

    spec = input_spec(cfg)
    mean, std = normalization(cfg)
    raw: dict[str, Any] = {"dtype": "uint8", "shape": list(spec.raw)}
    if spec.layout == "HWC":
        raw["layout"] = "HWC"  # channels last: preprocess transposes to C x H x W
    return {"input": raw, "scale": 1.0 / 255.0, "mean": mean, "std": std}


def classes_of(cfg: Any) -> list[str]:
    """Class names of the run's data set (synthetic data: the digits as strings)."""
    from trainer.data_spec import config_classes

    return config_classes(cfg)


def export_run(target: str | Path, which: str = "last", format: str = "script",
               out: str | Path | None = None) -> Path:
    """Export a run directory's (or a checkpoint folder's) model; returns the written file."""
    import engine
    import engine.export as ex
    from trainer import resume_check, zoo
    from trainer.checkpoint import load_run

    run, ckpt, cfg = load_run(target, which)
    model = zoo.build_model(cfg.model.name, **cfg.model.kwargs)
    resume_check.load_model_state(model, ckpt)  # one line naming file and key
    from trainer.data_spec import input_spec

    example = engine.zeros(2, *input_spec(cfg).shape)
    suffix = ".safetensors" if format == "script" else ".onnx"
    path = Path(out) if out else run.path / "export" / f"model-{ckpt['path'].name}{suffix}"
    return ex.export(model, example, path, format, preprocessing_of(cfg), classes_of(cfg))


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

    from engine.errors import DataError
    from engine.export import load
    from engine.export.container import read_regular
    from engine.export.script import raw_shape

    model_file = Path(model_file)
    if model_file.suffix == ".onnx":
        read_regular(model_file, "ONNX model")  # refuses devices and FIFOs before onnxruntime
        runner: Any = _OnnxRunner(model_file)
    else:
        runner = load(model_file)
        if len(runner.output_shape) != 2:
            from engine.errors import ExportError

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


def format_csv(report: dict[str, Any]) -> str:
    """One row per image: index, then class, name and probability for each of the top k."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    k = report["top"].shape[1] if report["top"].ndim == 2 else 0
    header = ["index"]
    for r in range(1, k + 1):
        header += [f"class_{r}", f"name_{r}", f"prob_{r}"]
    writer.writerow(header)
    names = report["classes"]
    for i, (cls, prob) in enumerate(zip(report["top"], report["probs"], strict=True)):
        row: list[Any] = [i]
        for c, p in zip(cls, prob, strict=True):
            row += [int(c), names[c] if names and c < len(names) else "", f"{p:.6f}"]
        writer.writerow(row)
    return buf.getvalue()


def export_command(
    target: Annotated[str, typer.Argument(
        metavar="RUN_DIR|CHECKPOINT", help="A run directory or a checkpoint folder.")],
    checkpoint: Annotated[Which, typer.Option(help="Which checkpoint of a run.")] = Which.last,
    format: Annotated[Format, typer.Option(
        "--format", help="script: one .safetensors file run by NumPy; onnx: ONNX opset 17.")
    ] = Format.script,
    out: Annotated[str | None, typer.Option(
        "--out", help="Output file (default: RUN/export/model-<checkpoint>.<ext>).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Export a run's model as a code-free script file or as ONNX."""
    from trainer.cli import run_guarded

    def go() -> None:
        path = export_run(target, checkpoint.value, format.value, out)
        typer.echo(f"wrote {path}")

    run_guarded(go, debug)


def _check_out(out: Path) -> None:
    from engine.errors import DataError

    if out.is_dir():
        raise DataError(f"--out {out} is a directory; name the CSV file to write")
    if not out.parent.is_dir():
        raise DataError(f"--out {out}: folder {out.parent} does not exist; create it first")


def predict_command(
    model_file: Annotated[str, typer.Argument(
        metavar="MODEL_FILE", help="An exported .safetensors or .onnx file.")],
    images: Annotated[str, typer.Argument(
        metavar="INPUT", help="An IDX images file (N x 28 x 28 uint8).")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="Classes per image.")] = 1,
    out: Annotated[str | None, typer.Option("--out", help="Write a CSV here.")] = None,
    labels: Annotated[str | None, typer.Option(
        "--labels", help="An IDX labels file: also print the accuracy.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Run an exported model on IDX images: top classes with probabilities (and accuracy)."""
    from trainer.cli import run_guarded

    def go() -> None:
        if out:
            _check_out(Path(out))  # before the model runs: a bad --out wastes no work
        report = predict_file(model_file, images, top_k, labels)
        text = format_csv(report)
        if out:
            from trainer.runs import write_atomic

            write_atomic(Path(out), text)
            typer.echo(f"wrote {len(report['top'])} predictions to {out}")
        else:
            typer.echo(text, nl=False)
        if report["accuracy"] is not None:
            typer.echo(f"accuracy: {report['accuracy']:.4f} ({len(report['top'])} images)")

    run_guarded(go, debug)
