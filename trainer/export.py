"""Export as a library function: a run's model as a script file or ONNX, with its preprocessing.

export_run rebuilds the model from a run's stored config and checkpoint and writes the script
format (default) or ONNX, with the run's preprocessing and class names inside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# numpy and engine load inside the functions: the CLI imports this module lazily, but keeping
# it light lets anything that only wants preprocessing_of or classes_of stay fast too.


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
    from engine.errors import ConfigError
    from trainer import resume_check, zoo
    from trainer.checkpoint import load_run
    from trainer.data_spec import input_spec

    suffix = ".safetensors" if format == "script" else ".onnx"
    if out is not None and Path(out).suffix in (".safetensors", ".onnx") \
            and Path(out).suffix != suffix:  # predict picks the reader by the suffix
        raise ConfigError(f"--out {out} names a {Path(out).suffix} file but --format {format} "
                          f"writes {suffix}; change one of them")
    run, ckpt, cfg = load_run(target, which)
    model = zoo.build_model(cfg.model.name, **cfg.model.kwargs)
    resume_check.load_model_state(model, ckpt)  # one line naming file and key
    example = engine.zeros(2, *input_spec(cfg).shape)
    path = Path(out) if out else run.path / "export" / f"model-{ckpt['path'].name}{suffix}"
    return ex.export(model, example, path, format, preprocessing_of(cfg), classes_of(cfg))
