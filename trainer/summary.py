"""The model summary of a config: printed by `trainer summary` and at the start of a run.

The input is one image of the run's data: in a run, its first image; for `trainer summary`,
trainer.data_spec.input_spec (1 x 28 x 28 for the MNIST family and the synthetic set, the IDX
header's shape for dataset: idx).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FILE = "summary.txt"


def model_summary(cfg: Any, model: Any = None, shape: tuple[int, ...] | None = None) -> Any:
    """engine.nn.summary of the config's model (built from cfg unless given) on one image.

    shape (C, H, W) defaults to the config's data (trainer.data_spec.input_spec).
    """
    from engine.nn import summary
    from trainer.data_spec import input_spec

    if model is None:
        from trainer.build import build_model

        model = build_model(cfg)
    from engine.errors import DataError

    shape = input_spec(cfg).shape if shape is None else shape
    try:
        return summary(model, shape, batch_size=1, device=cfg.device)
    except Exception as exc:  # noqa: BLE001 - the model's own code failed: one line, as train says
        size = "x".join(map(str, shape))
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise DataError(f"the model ({cfg.model.name}) fails on one {size} input: "
                        f"{type(exc).__name__}: {reason}") from None


def summarize(config_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> str:
    """The summary table of a config file's model (with KEY=VALUE overrides), as text."""
    from trainer import config as config_mod
    from trainer.build import check_buildable, check_device
    from trainer.data_spec import resolve_data

    cfg = config_mod.load(config_path, list(overrides))
    check_device(cfg.device)
    resolve_data(cfg)  # dataset: idx: the model's input shape comes from its files
    check_buildable(cfg)
    return str(model_summary(cfg))


def report(cfg: Any, model: Any, data: Any, run_path: Path, mode: str, write: bool) -> None:
    """At a run's start: print the summary unless progress is none; write summary.txt if asked.

    The input is the shape of the run's first image as the model gets it (trainer.data.Data).
    """
    image, _ = data.sources[0][0]
    text = str(model_summary(cfg, model, tuple(image.shape)))
    if write:
        from trainer.runs import write_atomic

        write_atomic(Path(run_path) / FILE, text + "\n")
    if mode != "none":
        print(text, flush=True)
