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


def render(report: dict[str, Any]) -> None:
    """Print an eval report as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"{report['split']} split of {report['run']}, checkpoint {report['checkpoint']}"
                  f" (step {report['step']})", markup=False, highlight=False)
    head = Table()
    for col in ("samples", "loss", "accuracy"):
        head.add_column(col, justify="right")
    head.add_row(str(report["count"]), f"{report['loss']:.4f}", f"{report['acc']:.4f}")
    console.print(head)
    per = Table(title="per-class accuracy")
    per.add_column("class")
    per.add_column("accuracy", justify="right")
    for name, acc in report["per_class_acc"].items():
        per.add_row(name, "-" if acc is None else f"{acc:.4f}")
    console.print(per)
    conf = Table(title="confusion matrix (rows: true, columns: predicted)")
    conf.add_column("")
    for i in range(len(report["classes"])):
        conf.add_column(str(i), justify="right")
    for i, (name, row) in enumerate(zip(report["classes"], report["confusion"], strict=True)):
        label = name if name == str(i) else f"{i} {name}"
        conf.add_row(label, *[str(v) for v in row])
    console.print(conf)
