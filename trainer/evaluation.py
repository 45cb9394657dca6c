"""`trainer eval` as a library function: rebuild a run's model, score a split, write eval.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.errors import DataError
from trainer import checkpoint as ckpt_io
from trainer import resume_check
from trainer.runs import write_atomic


def evaluate_run(target: str | Path, which: str = "last", split: str = "test",
                 overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Evaluate a run directory's checkpoint (or a checkpoint folder) on the test or val split."""
    from trainer.build import build_model, check_device
    from trainer.data import build_data, check_model_input
    from trainer.loop import evaluate

    run, ckpt, cfg = ckpt_io.load_run(target, which, overrides)
    check_device(cfg.device)
    data = build_data(cfg, run.path)
    loader = data.test if split == "test" else data.val
    if loader is None:
        raise DataError(f"{run.path} has no validation split (data.val_fraction is 0); "
                        "use --split test")
    model = build_model(cfg)
    resume_check.load_model_state(model, ckpt)  # one line naming file and key
    check_model_input(model, data, cfg.device, cfg.model.name)
    result = evaluate(model, loader, num_classes=len(data.classes))
    confusion = result.pop("confusion")
    totals = confusion.sum(axis=1)
    per_class = {name: (float(confusion[i, i] / totals[i]) if totals[i] else None)
                 for i, name in enumerate(data.classes)}
    report = {"run": str(run.path), "checkpoint": str(ckpt["path"]), "split": split,
              "step": ckpt["state"].get("step"), "epoch": ckpt["state"].get("epoch"),
              **result, "per_class_acc": per_class, "classes": data.classes,
              "confusion": confusion.tolist()}
    write_atomic(run.path / "eval.json", json.dumps(report, indent=2) + "\n")
    return report
